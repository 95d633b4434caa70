import sys

from rllab.cli import main

sys.exit(main())
