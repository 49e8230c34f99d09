import sys

from kfn.cli import main

sys.exit(main())
