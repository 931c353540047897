"""``python -m data_prep.prepare --dataset NAME --src RAW --out DIR``: ``siamjax prep``."""

import sys

from data_prep import run

if __name__ == "__main__":
    sys.exit(run(["prep"]))
