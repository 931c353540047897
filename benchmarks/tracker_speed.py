"""Tracker speed: per-frame time split (crop / network / post-processing) and batched
evaluation of N sequences in lockstep vs N sequential runs.

    python benchmarks/tracker_speed.py [--config configs/siamrpn_alex_dwxcorr.py]
        [--sequences 8] [--frames 20] [--batch-mode map|vectorized]

Random weights (speed does not depend on them); 640x480 JPEG frames of a moving patch.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import cv2
import jax
import numpy as np
from synthetic_frames import write_sequences

from siamjax.config_loader import load_config
from siamjax.datasets.benchmark_layout import read_otb
from siamjax.eval.runner import run_batched, run_sequential
from siamjax.models import build_model, init_variables
from siamjax.tracking import BatchedTracker, TrackerNetwork, build_tracker


def per_frame_split(tracker, video, repeats=3):
    """Median ms per frame of crop, network and post-processing (single tracker)."""
    frames = [cv2.imread(p) for p in video.frame_paths]
    tracker.init(frames[0], video.gt[0])
    crop_ms, net_ms, post_ms = [], [], []
    for _ in range(repeats):
        for frame in frames[1:]:
            state = tracker.state
            start = time.perf_counter()
            crop, scale_z = tracker.search_crop(frame, state)
            middle = time.perf_counter()
            scores, deltas = tracker.network.search(tracker.template_features, crop[None])
            after = time.perf_counter()
            tracker.state, _, _ = tracker.update_state(
                state, frame.shape[:2], scores[0], deltas[0], scale_z
            )
            end = time.perf_counter()
            crop_ms.append((middle - start) * 1e3)
            net_ms.append((after - middle) * 1e3)
            post_ms.append((end - after) * 1e3)
    return np.median(crop_ms), np.median(net_ms), np.median(post_ms)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/siamrpn_alex_dwxcorr.py")
    parser.add_argument("--sequences", type=int, default=8)
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--batch-mode", default=None, choices=("map", "vectorized"))
    args = parser.parse_args()

    config = load_config(args.config)
    model = build_model(config.model)
    variables = init_variables(model, jax.random.key(0), 127, config.track.instance_size)
    network = TrackerNetwork(model, variables, args.batch_mode)
    print(f"jax {jax.__version__} on {jax.default_backend()}, {os.cpu_count()} cores; "
          f"{config.name}, batch mode {network.batch_mode}")  # fmt: skip
    with tempfile.TemporaryDirectory() as root:
        write_sequences(os.path.join(root, "data"), args.sequences, args.frames)
        videos = read_otb(os.path.join(root, "data"))
        crop, net, post = per_frame_split(build_tracker(config, network), videos[0])
        print(f"per frame (640x480): crop {crop:.2f} ms, network {net:.1f} ms, "
              f"post-processing {post:.2f} ms, host total {crop + post:.2f} ms")  # fmt: skip
        total = sum(len(v) for v in videos)
        # warm-up compiles (batch 1 and batch N) outside the timed runs
        run_sequential(build_tracker(config, network), videos[:1], os.path.join(root, "w1"),
                       "OTB100", progress=False)  # fmt: skip
        warm = BatchedTracker(build_tracker(config, network), args.sequences)
        run_batched(warm, videos[:1], os.path.join(root, "w2"), "OTB100", progress=False)
        start = time.perf_counter()
        run_sequential(build_tracker(config, network), videos, os.path.join(root, "seq"),
                       "OTB100", progress=False)  # fmt: skip
        sequential = total / (time.perf_counter() - start)
        batched = BatchedTracker(build_tracker(config, network), args.sequences)
        start = time.perf_counter()
        run_batched(batched, videos, os.path.join(root, "bat"), "OTB100", progress=False)
        lockstep = total / (time.perf_counter() - start)
    ratio = lockstep / sequential
    print(f"{args.sequences} sequences x {args.frames} frames: sequential {sequential:.2f} "
          f"frames/s, lockstep {lockstep:.2f} frames/s, ratio {ratio:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
