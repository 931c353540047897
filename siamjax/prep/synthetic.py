"""A synthetic tracking dataset in the custom layout (``siamjax prep --dataset synthetic``).

Each sequence is a scene of ``synthetic_scenes.py``: a textured object — a patch
of a real photograph shipped with scikit-image, or a procedural texture — moving over a
textured background with distractors, an occluder and motion blur. Videos are split
train / val / test (80 / 10 / 10 % by index) and written as
``OUT/<split>/<name>/NNNNNN.jpg`` + ``groundtruth.txt``. Deterministic for a seed.
"""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from siamjax import fs
from siamjax.image_io import write_image
from siamjax.synthetic_scenes import PHOTOS, load_photo, render_sequence

SPLITS = (("train", 0.8), ("val", 0.1), ("test", 0.1))


def split_of(index: int, count: int) -> str:
    position = (index + 0.5) / count
    edge = 0.0
    for name, fraction in SPLITS:
        edge += fraction
        if position < edge:
            return name
    return SPLITS[-1][0]


def generate(out: str, videos: int = 100, seed: int = 0, frames=(40, 64), frame_size=(240, 320),
             progress: bool = True) -> dict:  # fmt: skip
    """Writes ``videos`` sequences under ``out/<split>/``; returns {split: [names]}."""
    photos = [load_photo(name) for name in PHOTOS]
    written = {name: [] for name, _ in SPLITS}
    for index in tqdm(range(videos), desc="synthetic", unit="video", disable=not progress):
        rng = np.random.default_rng([seed, index])
        length = int(rng.integers(frames[0], frames[1] + 1))
        images, boxes = render_sequence(rng, photos, length, frame_size)
        split = split_of(index, videos)
        name = f"synthetic-{seed}-{index:05d}"
        folder = fs.join(out, split, name)
        fs.makedirs(folder)
        for t, image in enumerate(images):
            write_image(fs.join(folder, f"{t + 1:06d}.jpg"), image)
        lines = "".join(f"{x:.0f},{y:.0f},{w:.0f},{h:.0f}\n" for x, y, w, h in boxes)
        fs.write_text(fs.join(folder, "groundtruth.txt"), lines)
        written[split].append(name)
    return written
