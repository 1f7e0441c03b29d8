"""``python -m slidemap`` runs the command line (also how ``torchrun`` starts it)."""

import sys

from slidemap.cli import main

sys.exit(main())
