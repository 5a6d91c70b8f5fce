"""`python -m engine.core.manifest A.json B.json`: the drift report (engine.core.manifest.compare)."""

from engine.core.manifest.compare import main

raise SystemExit(main())
