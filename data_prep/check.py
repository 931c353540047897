"""``python -m data_prep.check DIR``: decode every record and check every box
(``siamjax check-data``)."""

import sys

from data_prep import run

if __name__ == "__main__":
    sys.exit(run(["check-data"]))
