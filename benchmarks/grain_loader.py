"""grain against the ``workers`` loader: pairs/s, exact resume and per-host sharding.

    pip install grain
    python benchmarks/grain_loader.py [--videos 40] [--batch 32] [--seconds 30] [--workers 2]

Both run the same ``PairSource.sample(position)`` (OpenCV augmentation, a pure function
of seed, host and position) over the synthetic dataset, so the comparison is of the
loaders alone: ``workers`` (``siamjax/data/workers.py``: processes writing into shared
memory) and a grain pipeline (``MapDataset.range -> map(sample) -> batch ->
mp_prefetch``). It also checks that each resumes exactly (a batch after a restored state
equals the uninterrupted run's) and prints what per-host sharding each needs.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

FIELDS = ("template", "search", "search_box", "negative")


class _Sample:
    """grain map transform: position -> the PairSource sample (built once per worker)."""

    def __init__(self, input_config, seed):
        self.input_config, self.seed, self.source = input_config, seed, None

    def __call__(self, position):
        if self.source is None:
            import cv2

            from siamjax.data.pair_source import PairSource

            cv2.setNumThreads(1)  # one process per core already
            self.source = PairSource(self.input_config, self.seed, 0, 1)
        sample = self.source.sample(position)
        return {name: sample[name] for name in FIELDS}


def grain_iterator(input_config, seed: int, batch_size: int, workers: int, position: int = 0):
    import grain

    dataset = (
        grain.MapDataset.range(position, 10**9)
        .map(_Sample(input_config, seed))
        .batch(batch_size, drop_remainder=True)
        # One read thread per worker process: more only contend for its GIL.
        .to_iter_dataset(grain.ReadOptions(num_threads=1, prefetch_buffer_size=2))
    )
    if workers:
        dataset = dataset.mp_prefetch(grain.MultiprocessingOptions(num_workers=workers))
    return iter(dataset)


def pairs_per_second(iterator, seconds: float) -> float:
    next(iterator)  # warm-up: process start, first reads
    pairs, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        pairs += next(iterator)["search"].shape[0]
    return pairs / (time.perf_counter() - started)


def same_batch(first, second) -> bool:
    return all(np.array_equal(first[name], second[name]) for name in FIELDS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=40, help="synthetic videos to prepare")
    parser.add_argument("--batch", type=int, default=32, help="pairs per batch")
    parser.add_argument("--seconds", type=float, default=30.0, help="measuring time per loader")
    parser.add_argument("--workers", type=int, default=2, help="loader processes")
    args = parser.parse_args()

    from absl import flags

    # grain's multiprocessing reads absl flags: they must be parsed in the main process
    # (an absl app does it; a plain script or library caller has to).
    flags.FLAGS(["grain_loader"])

    from siamjax.config_defaults import input_config
    from siamjax.data.workers import WorkerPairIterator
    from siamjax.prep.prepare import prepare
    from siamjax.prep.synthetic import generate

    with tempfile.TemporaryDirectory() as root:
        raw = os.path.join(root, "raw")
        generate(raw, videos=args.videos, seed=0, progress=False)
        prepare("custom", os.path.join(raw, "train"), os.path.join(root, "data"), workers=2,
                progress=False)  # fmt: skip
        config = input_config([{"name": "synthetic", "path": os.path.join(root, "data"),
                                "frame_range": 10, "num_use": -1}])  # fmt: skip
        config.videos_per_epoch = 100000
        config.workers = args.workers

        def workers(position=0):
            return WorkerPairIterator(config, 0, args.batch, position, 0, 1)

        iterator = workers()
        rate = pairs_per_second(iterator, args.seconds)
        iterator.close()
        print(f"workers loader: {rate:.0f} pairs/s ({args.workers} processes, batch {args.batch})")
        iterator = grain_iterator(config, 0, args.batch, args.workers)
        rate = pairs_per_second(iterator, args.seconds)
        del iterator
        print(f"grain mp_prefetch: {rate:.0f} pairs/s ({args.workers} processes, "
              f"batch {args.batch})")  # fmt: skip

        # Exact resume: three batches straight, against two, a saved state, a fresh
        # iterator restored from it, and its next batch.
        straight = workers()
        expected = [next(straight) for _ in range(3)][-1]
        straight.close()
        first = workers()
        next(first), next(first)
        state = first.state()
        first.close()
        resumed = workers(state["position"])
        print(f"workers resume exact: {same_batch(next(resumed), expected)} "
              f"(state = {{'position': {state['position']}}})")  # fmt: skip
        resumed.close()
        straight = grain_iterator(config, 0, args.batch, 0)
        expected = [next(straight) for _ in range(3)][-1]
        first = grain_iterator(config, 0, args.batch, 0)
        next(first), next(first)
        state = first.get_state()
        resumed = grain_iterator(config, 0, args.batch, 0)
        resumed.set_state(state)
        print(f"grain resume exact: {same_batch(next(resumed), expected)} (state = {state})")
        print(
            "per-host sharding: both run PairSource, which reads only this host's shard "
            "files and draws from (seed, host, position); grain's ShardByJaxProcess would "
            "split positions instead, which PairSource does not need"
        )


if __name__ == "__main__":
    main()
