import sys

from workbench.runner.child import main

raise SystemExit(main(sys.argv[1]))
