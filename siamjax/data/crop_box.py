"""Where the target sits in a prepared 511 crop (docs/parity.md §6.3).

Shared by prep and the loaders."""

from __future__ import annotations

import math

import numpy as np

CROP_SIZE = 511


def box_in_crop(box_xyxy, exemplar_size: int = 127, crop_size: int = CROP_SIZE) -> np.ndarray:
    """(x1, y1, x2, y2) in the original image -> the target's box in the 511 crop.

    Centred at (crop_size // 2, crop_size // 2) = (255, 255), size (w, h)·127/s_z with
    s_z = sqrt((w + p)(h + p)), p = (w + h)/2 (pysot ignores the 510/511 factor).
    """
    x1, y1, x2, y2 = (float(v) for v in box_xyxy)
    width, height = x2 - x1, y2 - y1
    context = 0.5 * (width + height)
    scale = exemplar_size / math.sqrt((width + context) * (height + context))
    width, height = width * scale, height * scale
    centre = crop_size // 2
    return np.array(
        [centre - width / 2, centre - height / 2, centre + width / 2, centre + height / 2]
    )
