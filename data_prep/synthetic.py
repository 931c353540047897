"""``python -m data_prep.synthetic --out DIR [--videos N]``: the synthetic dataset
(``siamjax prep --dataset synthetic``)."""

import sys

from data_prep import run

if __name__ == "__main__":
    sys.exit(run(["prep", "--dataset", "synthetic"]))
