"""The training batch as both loaders produce it and the train step takes it.

Images travel as 8-bit crops: pysot's augmentation (``pysot/datasets/augmentation.py``,
``Augmentation.__call__``) is gray, warp, colour offset, blur, flip, and everything but
the colour offset and the blur gives an 8-bit image (the flip commutes with both: the
blur kernel is symmetric left to right). So a host sends each crop as uint8 — a quarter
of float32's bytes over PCIe or the TPU host link — with the three numbers that finish
it, and the train step finishes it on the device (``siamjax/data/photometric.py``).

Per-host batch of B pairs::

    template               (B, 127, 127, 3) uint8  BGR after gray, warp and flip
    search                 (B, 255, 255, 3) uint8
    {role}_colour_bgr      (B, 3) float32   subtracted from the crop (pysot's colour offset)
    {role}_blur_size       (B,) int32       0 = no blur, else the odd kernel size k
    {role}_blur_weight     (B,) float32     w: w/k on the kernel's centre column,
                                             (1 - w)/k on its centre row
    search_box             (B, 4) float32   x1, y1, x2, y2 in search-crop pixels
    negative               (B,) bool

``{role}`` is ``template`` and ``search``. The train step also takes finished float
images (no ``{role}_*`` fields), as the parity tests feed it.
"""

from __future__ import annotations

import numpy as np

ROLES = ("template", "search")
PHOTOMETRIC_FIELDS = {"colour_bgr": ((3,), np.float32), "blur_size": ((), np.int32),
                      "blur_weight": ((), np.float32)}  # fmt: skip


def photometric_names(role: str) -> dict:
    """field -> batch key of one crop role's photometric numbers."""
    return {field: f"{role}_{field}" for field in PHOTOMETRIC_FIELDS}


def batch_layout(batch_size: int, exemplar_size: int, search_size: int) -> dict:
    """batch key -> (shape, dtype) of one batch of ``batch_size`` pairs."""
    layout = {}
    for role, size in zip(ROLES, (exemplar_size, search_size), strict=True):
        layout[role] = ((batch_size, size, size, 3), np.uint8)
        for field, key in photometric_names(role).items():
            shape, dtype = PHOTOMETRIC_FIELDS[field]
            layout[key] = ((batch_size, *shape), dtype)
    layout["search_box"] = ((batch_size, 4), np.float32)
    layout["negative"] = ((batch_size,), np.bool_)
    return layout


def sample_photometrics(role: str, crop_draws: dict) -> dict:
    """One crop's photometric numbers (batch keys, scalars/arrays) from its draws
    (``PairSampler.spec(...)[role]``)."""
    names = photometric_names(role)
    return {
        names["colour_bgr"]: np.asarray(crop_draws["colour_offset_bgr"], np.float32),
        names["blur_size"]: np.int32(crop_draws["blur_size"]),
        names["blur_weight"]: np.float32(crop_draws["blur_weight"]),
    }


def random_batch(batch_size: int, exemplar_size: int = 127, search_size: int = 255,
                 seed: int = 0) -> dict:  # fmt: skip
    """A batch of random crops in this format (benchmarks and dry runs): noise images, a
    fixed box, every fifth pair negative, colour offsets on every crop and the blur on a
    fifth of the search crops (pysot's search-crop probability)."""
    rng = np.random.default_rng(seed)
    batch = {}
    for key, (shape, dtype) in batch_layout(batch_size, exemplar_size, search_size).items():
        if dtype == np.uint8:
            batch[key] = rng.integers(0, 256, shape, dtype=np.uint8)
    blurred = np.arange(batch_size) % 5 == 2
    for role in ROLES:
        names = photometric_names(role)
        batch[names["colour_bgr"]] = rng.normal(0, 5, (batch_size, 3)).astype(np.float32)
        on = blurred & (role == "search")
        batch[names["blur_size"]] = np.where(on, 2 * rng.integers(2, 23, batch_size) + 1, 0)
        batch[names["blur_size"]] = batch[names["blur_size"]].astype(np.int32)
        batch[names["blur_weight"]] = np.where(on, rng.random(batch_size), 0).astype(np.float32)
    batch["search_box"] = np.tile(np.float32([[100, 90, 160, 170]]), (batch_size, 1))
    batch["negative"] = np.arange(batch_size) % 5 == 4
    return batch
