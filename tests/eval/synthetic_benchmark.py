"""Writes a tiny benchmark in the OTB layout: a textured box moving over a noise background."""

from __future__ import annotations

import os

import cv2
import numpy as np


def write_otb_benchmark(root, videos=3, frames=8, size=(200, 260), separators=(",", "\t", " ")):
    """Creates ``root/<Name>/img/0001.jpg ...`` and ``groundtruth_rect.txt``; returns gt dict."""
    height, width = size
    truth = {}
    for index in range(videos):
        rng = np.random.default_rng(index)
        name = f"Seq{index}"
        image_dir = os.path.join(root, name, "img")
        os.makedirs(image_dir, exist_ok=True)
        background = rng.integers(0, 110, (height, width, 3), dtype=np.uint8)
        patch = rng.integers(140, 256, (36, 28, 3), dtype=np.uint8)
        boxes = []
        for frame_index in range(frames):
            x = 50 + 6 * frame_index + 10 * index
            y = 40 + 3 * frame_index
            frame = background.copy()
            frame[y : y + 36, x : x + 28] = patch
            cv2.imwrite(os.path.join(image_dir, f"{frame_index + 1:04d}.jpg"), frame)
            boxes.append((x, y, 28, 36))
        separator = separators[index % len(separators)]
        with open(os.path.join(root, name, "groundtruth_rect.txt"), "w") as stream:
            for box in boxes:
                stream.write(separator.join(str(v) for v in box) + "\n")
        truth[name] = np.asarray(boxes, np.float64)
    return truth


def write_vot_benchmark(root, videos=2, frames=12, size=(200, 260)):
    """The same moving boxes in the VOT layout (list.txt, <name>/color/, polygon gt)."""
    truth = write_otb_benchmark(os.path.join(root, "_otb"), videos, frames, size)
    names = []
    for name, boxes in truth.items():
        colour = os.path.join(root, name, "color")
        os.makedirs(colour, exist_ok=True)
        for index in range(frames):
            source = os.path.join(root, "_otb", name, "img", f"{index + 1:04d}.jpg")
            os.replace(source, os.path.join(colour, f"{index + 1:08d}.jpg"))
        with open(os.path.join(root, name, "groundtruth.txt"), "w") as stream:
            for x, y, w, h in boxes:
                polygon = (x, y, x + w, y, x + w, y + h, x, y + h)
                stream.write(",".join(f"{v:.2f}" for v in polygon) + "\n")
        names.append(name)
    with open(os.path.join(root, "list.txt"), "w") as stream:
        stream.write("\n".join(names) + "\n")
    return truth
