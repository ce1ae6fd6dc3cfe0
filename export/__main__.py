import sys

from brainedge.export.cli import main

sys.exit(main())
