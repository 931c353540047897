"""Train-step speed and peak memory on this machine: pairs/s for r50 and mbv2 (backbone
frozen, and layer2-4 trained) and alex at batch 8, each case in a fresh process.

    python benchmarks/train_step.py [--cases r50_frozen r50_unfrozen alex mbv2_frozen
        mbv2_unfrozen] [--steps 3] [--remat auto] [--pysot-json pysot.json]

Random weights and random crops (speed does not depend on them); one BatchNorm group of
8; float32; set up as the training loop sets itself up (phase-fitted momentum, the step
compiled ahead of time from shapes before any array exists, freed memory returned;
``--remat`` is ``backend.remat``, ``--backend`` sets other ``config.backend`` fields). Peak
memory is the process's maximum resident set size, model initialisation, compilation
and the Python / JAX baseline (0.16 GB) included. The reference (pysot, 2 threads, batch 8,
the reference measurements): r50 frozen 8.8 s/step (0.91 pairs/s, 1.2 GB), everything
trainable 26.8 s/step (0.30 pairs/s, 4.0 GB), measured on another CPU: with ``--pysot-json``
(written by ``benchmarks/pysot_speed.py`` on this machine) the ratios use pysot's numbers
from this machine instead.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

REFERENCE = {
    "r50_frozen": (0.91, 1.2),
    "r50_unfrozen": (0.30, 4.0),
    "alex": (None, None),
    "mbv2_frozen": (None, None),
    "mbv2_unfrozen": (None, None),
}
CASES = {
    # config, phase (0 frozen backbone, 1 train_layers trained)
    "r50_frozen": ("siamrpn_r50_l234_dwxcorr_8gpu.py", 0),
    "r50_unfrozen": ("siamrpn_r50_l234_dwxcorr_8gpu.py", 1),
    "alex": ("siamrpn_alex_dwxcorr_16gpu.py", 1),
    "mbv2_frozen": ("siamrpn_mobilev2_l234_dwxcorr_8gpu.py", 0),
    "mbv2_unfrozen": ("siamrpn_mobilev2_l234_dwxcorr_8gpu.py", 1),
}


def run_case(name: str, steps: int, batch: int, remat: str, backend: dict) -> dict:
    config_file, phase = CASES[name]
    return {"case": name, **measure_step(config_file, phase, batch, steps, remat,
                                         backend=backend)}  # fmt: skip


def measure_step(config_file: str, phase: int, batch: int, steps: int, remat: str = "auto",
                 compute_dtype: str = "float32", backend: dict | None = None) -> dict:  # fmt: skip
    """Median seconds per train step of ``configs/<config_file>`` in ``phase`` on one
    device (one BatchNorm group of ``batch``), with pairs/s, peak memory and the loss."""
    import resource
    import time

    import jax
    import numpy as np

    from siamjax.backend import resolve_policy
    from siamjax.config_loader import load_config
    from siamjax.data.batch_format import random_batch
    from siamjax.models import build_model
    from siamjax.train.host_memory import release_after_compile, release_freed_memory
    from siamjax.train.loop import ensemble_state
    from siamjax.train.optim import make_optimizer
    from siamjax.train.step import (
        batch_sharding,
        compile_train_step,
        data_mesh,
        enter_phase,
    )

    config = load_config(os.path.join(os.path.dirname(__file__), "..", "configs", config_file))
    config.train.batch_size = batch
    config.train.bn_group_size = batch
    config.input.videos_per_epoch = batch * 100
    config.train.compute_dtype = compute_dtype
    config.backend.remat = remat
    for field, value in (backend or {}).items():
        config.backend[field] = value
    policy = resolve_policy(config)
    model = build_model(config.model, policy.formulation)
    optimizer, _ = make_optimizer(config)
    mesh = data_mesh(jax.devices()[:1])
    # As the training loop does (siamjax/train/loop.py): a one-member ensemble's step
    # compiled from shapes before any array exists, momentum only for what the phase
    # trains, freed memory returned after compiling and after initialisation.
    step_fn = compile_train_step(model, config, optimizer, mesh, phase, policy=policy, members=1)
    release_after_compile(policy.trim_host_memory)
    state = enter_phase(ensemble_state(model, config, optimizer, mesh, phase, [0], policy),
                        optimizer, config, phase, mesh)  # fmt: skip
    if policy.trim_host_memory:
        release_freed_memory()
    batch_arrays = random_batch(batch, int(config.input.exemplar_size),
                                int(config.input.search_size))  # fmt: skip
    batch_arrays = jax.device_put(batch_arrays, batch_sharding(mesh))
    state, metrics = step_fn(state, batch_arrays)  # first step
    jax.block_until_ready(metrics)
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        state, metrics = step_fn(state, batch_arrays)
        jax.block_until_ready(metrics)
        times.append(time.perf_counter() - started)
    seconds = float(np.median(times))
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return {"seconds_per_step": seconds, "pairs_per_s": batch / seconds,
            "peak_gb": peak_gb, "loss": float(metrics["loss"][0])}  # fmt: skip


def _number(value) -> str:
    return "–" if value is None else f"{value:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--steps", type=int, default=3, help="timed steps after the first")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--remat", default="auto", help="config.backend.remat (siamjax/backend.py)")
    parser.add_argument(
        "--backend", nargs="+", default=[], metavar="FIELD=VALUE",
        help="other config.backend fields, e.g. depthwise_conv=grouped (siamjax/backend.py)",
    )  # fmt: skip
    parser.add_argument("--pysot-json", help="pysot timings of this machine (pysot_speed.py)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # child process: run one case
    args = parser.parse_args()
    backend = {}
    for setting in args.backend:
        field, separator, value = setting.partition("=")
        if not separator:
            parser.error(f"--backend {setting!r}: expected FIELD=VALUE")
        backend[field] = value
    if args.one:
        print(json.dumps(run_case(args.one, args.steps, args.batch, args.remat, backend)))
        return
    reference, source = dict(REFERENCE), "reference machine"
    if args.pysot_json:
        with open(args.pysot_json) as stream:
            measured = json.load(stream)
        for name in REFERENCE:
            case = f"train_{name}"
            if case in measured:
                reference[name] = (measured[case]["pairs_per_s"], measured[case]["peak_gb"])
        source = f"this machine: {measured.get('cpu', '?')}"
    print(f"pysot columns: {source}")
    print("| case | s/step | pairs/s | pysot pairs/s | ratio | peak GB | pysot GB |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in args.cases:
        output = (
            subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--one",
                    name,
                    "--steps",
                    str(args.steps),
                    "--batch",
                    str(args.batch),
                    "--remat",
                    args.remat,
                    *(["--backend", *args.backend] if args.backend else []),
                ],  # fmt: skip
                capture_output=True,
                text=True,
                check=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        result = json.loads(output)
        reference_rate, reference_gb = reference[name]
        ratio = f"{result['pairs_per_s'] / reference_rate:.2f}" if reference_rate else "–"
        print(f"| {name} | {result['seconds_per_step']:.2f} | {result['pairs_per_s']:.2f} | "
              f"{_number(reference_rate)} | {ratio} | {result['peak_gb']:.2f} | "
              f"{_number(reference_gb)} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
