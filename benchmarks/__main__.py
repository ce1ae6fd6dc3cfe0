import sys

from brainedge.benchmarks.cli import main

sys.exit(main())
