"""``python -m siamjax`` runs the console command."""

import sys

from siamjax.cli import main

if __name__ == "__main__":  # not when a spawned input worker imports it
    sys.exit(main())
