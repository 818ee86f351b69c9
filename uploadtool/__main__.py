import sys

from uploadtool.cli import main

sys.exit(main())
