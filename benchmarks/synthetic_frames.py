"""Synthetic OTB-layout sequences for the speed benchmarks: a moving patch on 640x480 frames
(numpy and OpenCV only, so pysot's benchmark process can use it too)."""

from __future__ import annotations

import os

import cv2
import numpy as np


def write_sequences(root, count, frames, size=(480, 640)):
    """``count`` sequences ``Seq{i}/img/NNNN.jpg`` + ``groundtruth_rect.txt`` under ``root``."""
    height, width = size
    for index in range(count):
        rng = np.random.default_rng(index)
        folder = os.path.join(root, f"Seq{index}", "img")
        os.makedirs(folder)
        background = cv2.GaussianBlur(rng.integers(0, 255, (height, width, 3), np.uint8), (0, 0), 3)
        patch = rng.integers(0, 255, (60, 50, 3), np.uint8)
        boxes = []
        for t in range(frames):
            # Wraps around inside the frame (long or many sequences); unchanged before.
            x = 20 + (180 + 4 * t + 10 * index) % (width - 50 - 40)
            y = 20 + (130 + 2 * t) % (height - 60 - 40)
            frame = background.copy()
            frame[y : y + 60, x : x + 50] = patch
            cv2.imwrite(os.path.join(folder, f"{t + 1:04d}.jpg"), frame)
            boxes.append(f"{x},{y},50,60")
        with open(os.path.join(root, f"Seq{index}", "groundtruth_rect.txt"), "w") as stream:
            stream.write("\n".join(boxes) + "\n")


def median_track_ms(tracker, frame_paths, init_box, passes: int = 2) -> float:
    """Median ms of ``tracker.track(frame)`` (crop + network + post-processing) over the
    frames after the first, ``passes`` times from a fresh init (the first pass warms up)."""
    import time

    frames = [cv2.imread(path) for path in frame_paths]
    times = []
    for repeat in range(passes + 1):
        tracker.init(frames[0], list(init_box))
        for frame in frames[1:]:
            started = time.perf_counter()
            tracker.track(frame)
            if repeat:
                times.append(time.perf_counter() - started)
    return 1000 * float(np.median(times))
