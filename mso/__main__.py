import sys

from mso.cli import main

sys.exit(main())
