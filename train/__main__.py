import sys

from brainedge.train.cli import main

sys.exit(main())
