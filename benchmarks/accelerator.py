"""Accelerator benchmark and first-use verdict, one script (<= 6 minutes on one GPU):

* ``--smoke`` first: the commands a user runs first (quickstart training, ``track`` of
  the r50 tracker, ``export`` and its reload, ``train --dry-run`` of the 8-GPU recipe;
  ``first_use.py``), each recorded as ok or with its error;

* tracker frames/s for r50 / alex / mbv2: the network's search call at batch 1, 8, 32,
  and whole trackers (crop + network + post-processing) at batch 1 and in lockstep
  over 8 and 32 sequences (640x480 JPEG frames), with the lockstep / sequential ratio;
* r50 train step pairs/s per chip, backbone frozen and layer2-4 trained, float32 and
  bfloat16 (pysot's per-GPU batch of 28, one chip);
* input pairs/s per host: the default loader with the full augmentation.

    python benchmarks/accelerator.py [--smoke] [--out accelerator.json] [--budget 330] \
        [--quick]

Random weights (speed does not depend on them). Each measurement is the median of timed
repeats after a warm-up call that compiles. Cases still pending when ``--budget``
seconds have passed are reported as skipped (r50 first: the tracker, then its train
step; then alex and mbv2). ``--quick`` shrinks everything (a CPU check of the script).
Results go to the console as markdown tables and to ``--out`` as one JSON, rewritten
after every case (a run cut short keeps what it measured).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import tempfile
import time

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from synthetic_frames import write_sequences  # noqa: E402
from train_step import measure_step  # noqa: E402

from siamjax.backend import resolve_policy  # noqa: E402
from siamjax.config_loader import load_config  # noqa: E402
from siamjax.models import build_model, init_variables  # noqa: E402
from siamjax.platforms import describe_devices, lowering_platform  # noqa: E402

CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs")
TRACKER_MODELS = {
    "r50": "siamrpn_r50_l234_dwxcorr.py",
    "alex": "siamrpn_alex_dwxcorr.py",
    "mbv2": "siamrpn_mobilev2_l234_dwxcorr.py",
}


class Budget:
    def __init__(self, seconds: float):
        self.deadline = time.time() + seconds

    def left(self) -> float:
        return self.deadline - time.time()


def run_header() -> dict:
    """What this machine is (as JAX reports it) and the policy it runs, with empty result
    sections."""
    return {
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "lowering_platform": lowering_platform(),
        "devices": [str(d.device_kind) for d in jax.local_devices()],
        "device_summary": describe_devices(),
        "host_cores": os.cpu_count(),
        "policy": resolve_policy().describe(),
        "network_frames_per_s": {},
        "tracker_frames_per_s": {},
        "train_pairs_per_s": {},
        "skipped": [],
    }


def _median_seconds(fn, repeats: int) -> float:
    jax.block_until_ready(fn())  # compile + warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def network_speed(config, batch_sizes, repeats) -> dict:
    """Search-call frames/s of the tracker network per batch size."""
    from siamjax.tracking import TrackerNetwork

    size = int(config.track.instance_size)
    policy = resolve_policy(config)
    model = build_model(config.model, policy.formulation)
    network = TrackerNetwork(model, init_variables(model, jax.random.key(0), 127, size))
    rng = np.random.default_rng(0)
    results = {}
    for batch in batch_sizes:
        template = rng.uniform(0, 255, (batch, 127, 127, 3)).astype(np.float32)
        search = rng.uniform(0, 255, (batch, size, size, 3)).astype(np.float32)
        features = network.template(template)
        call = functools.partial(network.search_async, features, search)
        seconds = _median_seconds(call, repeats)
        results[batch] = batch / seconds
    return results, network


def tracker_speed(config, network, videos, lockstep_sizes, root) -> dict:
    """Whole-tracker frames/s: sequential (batch 1) and lockstep over N sequences."""
    from siamjax.eval.runner import run_batched, run_sequential
    from siamjax.tracking import BatchedTracker, build_tracker

    def sequential(tag, chosen):
        started = time.perf_counter()
        run_sequential(build_tracker(config, network), chosen, os.path.join(root, tag),
                       "OTB100", progress=False)  # fmt: skip
        return sum(len(v) for v in chosen) / (time.perf_counter() - started)

    sequential("warm1", videos[:1])
    results = {"batch1": sequential("seq", videos[: max(1, min(4, len(videos)))])}
    for count in lockstep_sizes:
        chosen = videos[:count]
        batched = BatchedTracker(build_tracker(config, network), count)
        run_batched(batched, chosen[:1], os.path.join(root, f"warm{count}"), "OTB100",
                    progress=False)  # fmt: skip
        started = time.perf_counter()
        batched = BatchedTracker(build_tracker(config, network), count)
        run_batched(batched, chosen, os.path.join(root, f"lock{count}"), "OTB100", progress=False)
        results[f"lockstep{count}"] = sum(len(v) for v in chosen) / (time.perf_counter() - started)
    return results


def input_speed(root, videos, batch, seconds) -> float:
    """Pairs/s of the default loader on this host (synthetic 320x240 frames)."""
    from siamjax.config_defaults import input_config
    from siamjax.data.pipeline import pair_iterator
    from siamjax.prep.prepare import prepare
    from siamjax.prep.synthetic import generate

    raw, prepared = os.path.join(root, "raw"), os.path.join(root, "prepared")
    generate(raw, videos=videos, seed=0, progress=False)
    prepare("custom", os.path.join(raw, "train"), prepared, workers=os.cpu_count() or 1,
            progress=False)  # fmt: skip
    config = input_config([{"name": "synthetic", "path": prepared, "frame_range": 10,
                            "num_use": -1}])  # fmt: skip
    iterator = pair_iterator(config, 0, batch, 0, 0, 1)
    try:
        next(iterator)  # warm-up
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            next(iterator)
            count += batch
        return count / (time.perf_counter() - started)
    finally:
        iterator.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="accelerator.json", help="JSON results file")
    parser.add_argument(
        "--budget", type=float, default=330.0, help="seconds for the cases after --smoke"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="first the first-use checks (first_use.py)"
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a CPU check")
    args = parser.parse_args()
    quick = args.quick
    results = run_header()

    def save():
        with open(args.out, "w") as stream:
            json.dump(results, stream, indent=1)

    print(f"jax {jax.__version__} on {results['devices']}; {results['policy']}", flush=True)
    with tempfile.TemporaryDirectory() as root:
        if args.smoke:
            from first_use import run_checks

            results["smoke"] = {}
            run_checks(os.path.join(root, "smoke"), results["smoke"], quick, save)
        benchmark(results, root, Budget(args.budget), quick, save)
    save()
    print_tables(results)


def benchmark(results: dict, root: str, budget: Budget, quick: bool, save) -> None:
    """Every speed case into ``results`` (r50 first), as long as ``budget`` lasts."""
    from siamjax.datasets.benchmark_layout import read_otb

    models = {"alex": TRACKER_MODELS["alex"]} if quick else TRACKER_MODELS
    batch_sizes = (1, 2) if quick else (1, 8, 32)
    lockstep = (2,) if quick else (8, 32)
    frames = 3 if quick else 30
    write_sequences(os.path.join(root, "seqs"), max(lockstep), frames)
    videos = read_otb(os.path.join(root, "seqs"))

    def tracker_case(name):
        if budget.left() < 30:
            results["skipped"].append(f"tracker {name}")
            return
        config = load_config(os.path.join(CONFIGS, models[name]))
        speeds, network = network_speed(config, batch_sizes, 3 if quick else 20)
        results["network_frames_per_s"][name] = speeds
        results["tracker_frames_per_s"][name] = tracker_speed(
            config, network, videos, lockstep, os.path.join(root, name)
        )
        print(f"{name}: network {speeds}, tracker {results['tracker_frames_per_s'][name]}",
              flush=True)  # fmt: skip
        save()

    order = list(models)
    tracker_case(order[0])
    train_config = "siamrpn_alex_dwxcorr_16gpu.py" if quick else "siamrpn_r50_l234_dwxcorr_8gpu.py"
    for phase in (0, 1):
        for dtype in ("float32", "bfloat16"):
            key = f"{'frozen' if phase == 0 else 'layer2-4'} {dtype}"
            if budget.left() < 60:
                results["skipped"].append(f"train {key}")
                continue
            results["train_pairs_per_s"][key] = measure_step(
                train_config, phase, 2 if quick else 28, 2 if quick else 10,
                compute_dtype=dtype,
            )  # fmt: skip
            print(f"train {key}: {results['train_pairs_per_s'][key]}", flush=True)
            save()
    for name in order[1:]:
        tracker_case(name)
    if not quick and budget.left() > 40 and lowering_platform() != "cpu":
        # The speed given up for float32 parity: r50 at the backend's default precision.
        config = load_config(os.path.join(CONFIGS, models["r50"]))
        config.backend.matmul_precision = "default"
        speeds, _ = network_speed(config, (1, 32), 20)
        results["network_frames_per_s"]["r50 matmul_precision=default"] = speeds
        print(f"r50 at matmul_precision=default: {speeds}", flush=True)
        save()
    if budget.left() > 20:
        results["input_pairs_per_s"] = input_speed(
            os.path.join(root, "input"), 8 if quick else 40, 8 if quick else 64,
            3.0 if quick else 15.0,
        )  # fmt: skip
    else:
        results["skipped"].append("input")


def print_tables(results: dict) -> None:
    for name, check in results.get("smoke", {}).items():
        verdict = "ok" if check["ok"] else f"FAILED: {check['error']}"
        print(f"smoke {name}: {verdict} ({check['seconds']} s)")
    print("\n| model | search call frames/s by batch | tracker batch 1 | lockstep | ratio |")
    print("| --- | --- | --- | --- | --- |")
    for name, speeds in results["network_frames_per_s"].items():
        tracker = results["tracker_frames_per_s"].get(name, {"batch1": float("nan")})
        lock = {k: v for k, v in tracker.items() if k.startswith("lockstep")}
        by_batch = ", ".join(f"{b}: {v:.0f}" for b, v in speeds.items())
        locks = ", ".join(f"{k[8:]}: {v:.0f}" for k, v in lock.items())
        ratios = ", ".join(f"{k[8:]}: {v / tracker['batch1']:.1f}x" for k, v in lock.items())
        print(f"| {name} | {by_batch} | {tracker['batch1']:.0f} | {locks} | {ratios} |")
    print("\n| train case | pairs/s per chip | s/step |")
    print("| --- | --- | --- |")
    for key, value in results["train_pairs_per_s"].items():
        print(f"| {key} | {value['pairs_per_s']:.1f} | {value['seconds_per_step']:.3f} |")
    if "input_pairs_per_s" in results:
        print(f"\ninput: {results['input_pairs_per_s']:.0f} pairs/s on this host "
              f"({results['host_cores']} cores)")  # fmt: skip
    if results["skipped"]:
        print(f"skipped (time budget): {', '.join(results['skipped'])}")


if __name__ == "__main__":
    main()
