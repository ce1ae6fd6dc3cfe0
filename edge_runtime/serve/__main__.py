import sys

from brainedge.edge_runtime.serve.cli import main

sys.exit(main())
