"""``python -m slidemap`` runs the command line (also how ``torchrun`` starts it)."""

import sys

from slidemap.entry import main

sys.exit(main())
