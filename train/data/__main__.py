import sys

from train.data.cli import main

sys.exit(main())
