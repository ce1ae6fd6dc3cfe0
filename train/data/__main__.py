import sys

from brainedge.train.data.cli import main

sys.exit(main())
