"""`python -m engine.manifest A.json B.json`: the drift report (engine.manifest.compare)."""

from engine.manifest.compare import main

raise SystemExit(main())
