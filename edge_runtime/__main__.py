import sys

from brainedge.edge_runtime.cli import main

sys.exit(main())
