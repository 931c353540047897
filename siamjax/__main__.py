"""``python -m siamjax`` runs the console command."""

import sys

from siamjax.cli import main

sys.exit(main())
