"""Input speed: prep frames/s (raw frames -> 511 crops in TFRecords) and training pairs/s
from TFRecords with the full augmentation, per CPU core.

    python benchmarks/input_pipeline.py [--videos 40] [--workers 2] [--batch 32] [--seconds 30]
        [--loaders workers tf]

Uses the synthetic dataset (320x240 frames). Pairs/s counts samples delivered by each
loader (``config.input.loader``: ``workers`` = OpenCV in one process per core, ``tf`` =
the tf.data graph) after a warm-up batch; per core divides by the cores the process may use.
"""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=40, help="synthetic videos to prepare")
    parser.add_argument("--workers", type=int, default=2, help="prep worker processes")
    parser.add_argument("--batch", type=int, default=32, help="pairs per batch")
    parser.add_argument("--seconds", type=float, default=30.0, help="pipeline measuring time")
    parser.add_argument(
        "--loaders", nargs="+", default=["workers", "tf"], choices=["workers", "tf"],
        help="config.input.loader values to time",
    )  # fmt: skip
    args = parser.parse_args()

    from siamjax.config_defaults import input_config
    from siamjax.data.pipeline import pair_iterator
    from siamjax.prep.prepare import prepare
    from siamjax.prep.synthetic import generate

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    with tempfile.TemporaryDirectory() as root:
        raw = os.path.join(root, "raw")
        generate(raw, videos=args.videos, seed=0, progress=False)
        started = time.perf_counter()
        manifest = prepare("custom", os.path.join(raw, "train"), os.path.join(root, "data"),
                           workers=args.workers, progress=False)  # fmt: skip
        prep_seconds = time.perf_counter() - started
        frames = manifest["counts"]["frames"]
        print(f"prep: {frames} frames in {prep_seconds:.1f} s with {args.workers} workers = "
              f"{frames / prep_seconds:.0f} frames/s ({frames / prep_seconds / cores:.0f} "
              f"per core, {cores} cores)")  # fmt: skip

        config = input_config([{"name": "synthetic", "path": os.path.join(root, "data"),
                                "frame_range": 10, "num_use": -1}])  # fmt: skip
        config.videos_per_epoch = 100000
        for loader in args.loaders:
            config.loader = loader
            iterator = pair_iterator(config, seed=0, batch_size=args.batch, process_index=0,
                                     process_count=1)  # fmt: skip
            next(iterator)  # warm-up: TF / worker start, first reads
            pairs = 0
            started = time.perf_counter()
            while time.perf_counter() - started < args.seconds:
                batch = next(iterator)
                pairs += batch["search"].shape[0]
            rate = pairs / (time.perf_counter() - started)
            iterator.close()  # stop workers / prefetching before the data folder is removed
            del iterator
            gc.collect()
            print(
                f"pipeline ({loader} loader): {rate:.0f} pairs/s ({rate / cores:.0f} per core, "
                f"{cores} cores), batch {args.batch}, full augmentation, 127 template + 255 "
                "search",
                flush=True,
            )


if __name__ == "__main__":
    main()
