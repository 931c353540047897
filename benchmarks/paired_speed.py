"""siamjax's tracker against pysot's, frame by frame in one process: a speed ratio that
holds on a host whose speed drifts.

    SIAMJAX_PYSOT_DIR=/path/to/pysot python benchmarks/paired_speed.py \
        [--architectures r50 alex mbv2] [--backends onnxruntime jax ...] [--frames 40]

``backend_speed.py`` times pysot and each backend minutes apart, in separate processes;
where the machine's speed changes by tens of percent within minutes (a shared virtual
machine), a ratio of two such medians moves with it. Here both trackers follow the same
synthetic 640x480 sequence (``synthetic_frames.py``) and every frame is tracked by pysot,
then by each siamjax backend, with a short pause between calls so that neither runtime's
worker threads are still spinning when the other starts. Each frame gives a ratio (pysot
ms / siamjax ms); the script prints the median ms of each, the median ratio and its
interquartile range. Random weights (BatchNorm calibrated so the boxes stay sane; speed
does not depend on them); 2 threads for PyTorch, all usable cores for siamjax.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import cv2
import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from backend_speed import CONFIGS, REDUCED_PRECISION, network_for  # noqa: E402
from pysot_speed import TRACKER  # noqa: E402
from synthetic_frames import write_sequences  # noqa: E402

from siamjax.config_loader import load_config  # noqa: E402
from siamjax.loading import build_configured_model  # noqa: E402
from siamjax.models import init_variables  # noqa: E402
from siamjax.tracking import build_tracker  # noqa: E402

INIT_BOX = (200, 150, 50, 60)  # x, y, w, h of the synthetic sequence's target
PAUSE_S = 0.02  # lets spinning worker threads of the last runtime go idle


def pysot_tracker(architecture: str):
    from siamjax.pysot_reference.runner import (
        build_pysot_model,
        calibrate_batch_norm,
        require_pysot,
    )

    require_pysot()
    model, cfg = build_pysot_model(TRACKER[f"tracker_{architecture}"])
    calibrate_batch_norm(model, cfg.TRACK.EXEMPLAR_SIZE, cfg.TRACK.INSTANCE_SIZE)
    from pysot.tracker.tracker_builder import build_tracker as build_pysot_tracker

    return build_pysot_tracker(model)


def timed_ms(call) -> float:
    time.sleep(PAUSE_S)
    started = time.perf_counter()
    call()
    return 1000 * (time.perf_counter() - started)


def paired(architecture: str, backends: list[str], frames: list) -> dict:
    """{name: per-frame ms} for pysot and each backend, the frames interleaved."""
    import torch

    trackers = {"pysot": pysot_tracker(architecture)}
    config = load_config(CONFIGS[architecture])
    model = build_configured_model(config)
    variables = jax.device_get(
        init_variables(model, jax.random.key(0), 127, config.track.instance_size)
    )
    for backend in backends:
        trackers[backend] = build_tracker(config, network_for(config, variables, backend))
    times = {name: [] for name in trackers}
    with torch.no_grad():
        for warm_up in (True, False):  # the first pass compiles / allocates
            for tracker in trackers.values():
                tracker.init(frames[0], list(INIT_BOX))
            for frame in frames[1:]:
                for name, tracker in trackers.items():
                    ms = timed_ms(lambda tracker=tracker, frame=frame: tracker.track(frame))
                    if not warm_up:
                        times[name].append(ms)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--architectures", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--backends", nargs="+", default=["onnxruntime"],
                        choices=["jax", "onnxruntime", *REDUCED_PRECISION])  # fmt: skip
    parser.add_argument("--frames", type=int, default=40)
    args = parser.parse_args()
    print(f"jax {jax.__version__}, {os.cpu_count()} cpus, frames interleaved with pysot")
    print("| model | backend | ms / frame | pysot ms / frame | vs pysot: median of per-frame "
          "ratios (interquartile range) |")  # fmt: skip
    print("| --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as root:
        write_sequences(root, 1, args.frames)
        folder = os.path.join(root, "Seq0", "img")
        frames = [cv2.imread(os.path.join(folder, name)) for name in sorted(os.listdir(folder))]
        for architecture in args.architectures:
            times = paired(architecture, args.backends, frames)
            reference = np.asarray(times["pysot"])
            for backend in args.backends:
                ours = np.asarray(times[backend])
                ratios = reference / ours
                low, high = np.percentile(ratios, [25, 75])
                print(f"| {architecture} | {backend} | {np.median(ours):.1f} | "
                      f"{np.median(reference):.1f} | {np.median(ratios):.2f}× "
                      f"({low:.2f}–{high:.2f}) |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
