"""Training input from a bucket: can one host feed its chips when every read waits?

    python benchmarks/bucket_input.py [--latency-ms 20 50] [--videos 40] [--seconds 15] \
        [--out bucket_input.json]

Synthetic sequences are prepared into a local folder, then read as ``fakebucket://<ms>/``
URLs (``siamjax/fake_bucket.py``: a fixed latency per request, as a bucket client pays):

* **read stage alone**: the two records of each sample (template and search) read (in
  file order, as the loader does) and checked by ``RecordReader.images``: with 1 thread,
  with ``URL_SAMPLES_IN_FLIGHT`` threads in one process, and with that many samples in
  flight spread over the loader's worker processes, as the loader runs them; samples/s;
* **whole default pipeline**: the ``workers`` loader (default workers, reader threads
  and batches ahead; batch 64) on the local folder and on the slow bucket, pairs/s, and
  the loss against local: reading every record from the bucket (``input.stage_dir=''``)
  and as it runs by default, copying the shards to local disk meanwhile
  (``siamjax/data/staging.py``; the seconds until every shard was copied are reported).
  The fake bucket has latency but no bandwidth limit: on a real bucket, copying takes
  about the host's share of shard bytes over its download bandwidth.

What the chips consume comes from the H200 run of ``benchmarks/accelerator.py``
(benchmarks/README.md): r50 pairs/s per chip, float32, frozen backbone and layer2-4; a
host of 8 such chips needs 8 times that. Results print as markdown and go to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

# benchmarks/README.md, "NVIDIA H200": r50 train pairs/s per chip (batch 28, float32).
CHIP_PAIRS_PER_S = {"r50 frozen backbone": 242.0, "r50 layer2-4": 80.0}
CHIPS_PER_HOST = 8


def prepare_data(root: str, videos: int) -> str:
    from siamjax.prep.prepare import prepare
    from siamjax.prep.synthetic import generate

    raw, prepared = os.path.join(root, "raw"), os.path.join(root, "prepared")
    generate(raw, videos=videos, seed=0, progress=False)
    prepare("custom", os.path.join(raw, "train"), prepared, workers=os.cpu_count() or 1,
            progress=False)  # fmt: skip
    return prepared


def input_config(path: str):
    from siamjax.config_defaults import input_config as make

    return make([{"name": "synthetic", "path": path, "frame_range": 10, "num_use": -1}])


def read_stage(path: str, threads: int, seconds: float, first: int = 0) -> float:
    """Samples/s of reading (and checking) both records of consecutive samples from
    ``first`` on, with ``threads`` threads in this process."""
    from siamjax.data.pair_source import PairSource

    source = PairSource(input_config(path), 0, 0, 1)
    next_position = [first]
    lock = threading.Lock()
    done = [0]
    deadline = time.perf_counter() + seconds

    def run():
        while time.perf_counter() < deadline:
            with lock:
                position = next_position[0]
                next_position[0] += 1
            spec = source.sampler.spec(position)
            source.reader.images([spec[role]["ref"] for role in ("template", "search")])
            with lock:
                done[0] += 1

    started = time.perf_counter()
    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return done[0] / (time.perf_counter() - started)


def _read_stage_in_worker(arguments) -> float:
    return read_stage(*arguments)


def loader_read_stage(path: str, in_flight: int, seconds: float, processes: int) -> float:
    """Samples/s of the read stage spread as the ``workers`` loader spreads it:
    ``processes`` processes, ``in_flight`` samples in flight in all (each process reads
    its own samples)."""
    import multiprocessing

    threads = -(-in_flight // processes)
    jobs = [(path, threads, seconds, index * 10**7) for index in range(processes)]
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        return sum(pool.map(_read_stage_in_worker, jobs))


def pipeline(path: str, batch: int, seconds: float, threads: int = 0,
             stage_dir: str = "") -> tuple[float, str, float | None]:  # fmt: skip
    """(pairs/s of the ``workers`` loader after one warm-up batch, its description,
    seconds from its start until every shard was staged or None); ``threads``:
    ``input.read_threads`` (0: the default); ``stage_dir``: ``input.stage_dir``."""
    from siamjax.data.workers import WorkerPairIterator

    config = input_config(path)
    config.read_threads = threads
    config.stage_dir = stage_dir
    opened = time.perf_counter()
    staged_after = [None]
    with WorkerPairIterator(config, 0, batch, 0, 0, 1) as iterator:
        stager = iterator._stager
        if stager is not None:  # when did the last copy land (measured, not waited for)

            def note_staged():
                stager.wait()
                staged_after[0] = time.perf_counter() - opened

            threading.Thread(target=note_staged, daemon=True).start()
        next(iterator)
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            next(iterator)
            count += batch
        return count / (time.perf_counter() - started), iterator.describe(), staged_after[0]


def main() -> None:
    from siamjax import fake_bucket
    from siamjax.data.workers import URL_SAMPLES_IN_FLIGHT, default_workers

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[20.0, 50.0])
    parser.add_argument("--videos", type=int, default=40, help="synthetic sequences")
    parser.add_argument("--seconds", type=float, default=15.0, help="per pipeline case")
    parser.add_argument("--batch", type=int, default=64, help="pairs per batch (per host)")
    parser.add_argument(
        "--read-threads", type=int, nargs="+", default=[0],
        help="input.read_threads of the slow-bucket pipeline cases (0: the default)",
    )  # fmt: skip
    parser.add_argument("--out", default="bucket_input.json")
    args = parser.parse_args()
    results = {"host_cores": os.cpu_count(), "workers": default_workers(),
               "samples_in_flight": URL_SAMPLES_IN_FLIGHT, "read_stage": {},
               "pipeline": {}}  # fmt: skip
    with tempfile.TemporaryDirectory() as root:
        local = prepare_data(root, args.videos)
        paths = {"local": local}
        paths.update({f"{ms:g} ms": fake_bucket.url(local, ms) for ms in args.latency_ms})
        workers = default_workers()
        for name, path in paths.items():
            cases = [("1 thread", lambda p: read_stage(p, 1, min(5.0, args.seconds))),
                     (f"{URL_SAMPLES_IN_FLIGHT} threads, 1 process",
                      lambda p: read_stage(p, URL_SAMPLES_IN_FLIGHT, min(5.0, args.seconds))),
                     (f"{URL_SAMPLES_IN_FLIGHT} in flight over {workers} worker processes",
                      lambda p: loader_read_stage(p, URL_SAMPLES_IN_FLIGHT,
                                                  min(5.0, args.seconds), workers))]  # fmt: skip
            for label, measure in cases:
                rate = measure(path)
                results["read_stage"][f"{name}, {label}"] = rate
                print(f"read stage, {name}, {label}: {rate:,.0f} samples/s", flush=True)
        slow = f"{max(args.latency_ms):g} ms"
        cases = [("local", "local", 0, "")] + [
            (f"{slow}, from the bucket, read_threads {t or 'default'}", slow, t, "")
            for t in args.read_threads
        ]
        cases.append((f"{slow}, staged to local disk meanwhile (default)", slow, 0,
                      os.path.join(root, "staged")))  # fmt: skip
        for label, name, threads, stage_dir in cases:
            rate, described, staged = pipeline(paths[name], args.batch, args.seconds, threads,
                                               stage_dir)  # fmt: skip
            results["pipeline"][label] = {"pairs_per_s": rate, "loader": described,
                                          "staged_after_s": staged}  # fmt: skip
            after = "" if staged is None else f", every shard staged after {staged:.1f} s"
            print(f"pipeline, {label}: {rate:,.0f} pairs/s ({described}{after})", flush=True)
    with open(args.out, "w") as stream:
        json.dump(results, stream, indent=1)
    print("\n| read stage | samples/s |\n| --- | --- |")
    for name, rate in results["read_stage"].items():
        print(f"| {name} | {rate:,.0f} |")
    local_rate = results["pipeline"]["local"]["pairs_per_s"]
    print("\n| default pipeline | pairs/s | against local |\n| --- | --- | --- |")
    for name, entry in results["pipeline"].items():
        print(f"| {name} | {entry['pairs_per_s']:,.0f} | {entry['pairs_per_s'] / local_rate:.2f} |")
    for case, per_chip in CHIP_PAIRS_PER_S.items():
        need = per_chip * CHIPS_PER_HOST
        print(f"{case}: {CHIPS_PER_HOST} H200 chips consume {need:,.0f} pairs/s per host")


if __name__ == "__main__":
    main()
