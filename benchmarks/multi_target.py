"""Multi-target tracking speed: N targets of one video in one network call per frame
(``MultiTargetTracker``) against N separate single-target trackers, in targets·frames/s.

    python benchmarks/multi_target.py [--config configs/siamrpn_alex_dwxcorr.py]
        [--targets 1 4 16] [--frames 10] [--backend jax|onnxruntime]

Random weights (speed does not depend on them); 640x480 frames of noise with moving
patches. Each timing starts after a warm-up frame (the compilation of each batch size).
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import numpy as np

from siamjax.config_loader import load_config
from siamjax.loading import load_network
from siamjax.models import build_model, init_variables
from siamjax.tracking import MultiTargetTracker, build_tracker


def synthetic_video(frames: int, targets: int, seed: int = 0):
    """(frames of (480, 640, 3) uint8, N init boxes x, y, w, h): patches drifting right."""
    rng = np.random.default_rng(seed)
    background = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    columns = int(np.ceil(np.sqrt(targets)))
    boxes = [(40 + 560 * (k % columns) / columns, 40 + 400 * (k // columns) / columns, 40, 30)
             for k in range(targets)]  # fmt: skip
    patches = [rng.integers(0, 256, (30, 40, 3), dtype=np.uint8) for _ in range(targets)]
    video = []
    for index in range(frames):
        frame = background.copy()
        for (x, y, _, _), patch in zip(boxes, patches, strict=True):
            x, y = int(x) + 2 * index, int(y) + index
            frame[y : y + 30, x : x + 40] = patch[: frame.shape[0] - y, : frame.shape[1] - x]
        video.append(frame)
    return video, boxes


def together(tracker, video, boxes) -> float:
    multi = MultiTargetTracker(tracker)
    multi.init(video[0], boxes)
    multi.track(video[0])  # compiles this batch size
    start = time.perf_counter()
    for frame in video[1:]:
        multi.track(frame)
    return len(boxes) * (len(video) - 1) / (time.perf_counter() - start)


def separately(config, network, video, boxes) -> float:
    trackers = []
    for box in boxes:
        tracker = build_tracker(config, network)
        tracker.init(video[0], box)
        trackers.append(tracker)
    trackers[0].track(video[0])  # compiles batch size 1
    start = time.perf_counter()
    for frame in video[1:]:
        for tracker in trackers:
            tracker.track(frame)
    return len(boxes) * (len(video) - 1) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/siamrpn_alex_dwxcorr.py")
    parser.add_argument("--targets", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--frames", type=int, default=10, help="tracked frames per run")
    parser.add_argument("--backend", default="jax", choices=["jax", "onnxruntime"])
    args = parser.parse_args()
    config = load_config(os.path.abspath(args.config))
    model = build_model(config.model)
    variables = init_variables(model, jax.random.key(0), 127, config.track.instance_size)
    network = load_network(config, variables, backend=args.backend)
    print(f"{os.path.basename(args.config)}, {args.backend} on {jax.devices()[0].device_kind}, "
          f"{args.frames} frames of 640x480")  # fmt: skip
    print("| targets | together (targets·frames/s) | separate trackers | ratio |")
    print("| --- | --- | --- | --- |")
    for targets in args.targets:
        video, boxes = synthetic_video(args.frames + 1, targets)
        joint = together(build_tracker(config, network), video, boxes)
        alone = separately(config, network, video, boxes)
        print(f"| {targets} | {joint:.1f} | {alone:.1f} | {joint / alone:.2f}× |", flush=True)


if __name__ == "__main__":
    main()
