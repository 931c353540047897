"""pysot's offline context crop (docs/parity.md §6.1): a 511x511 search-region crop per annotation.

For a box (x1, y1, x2, y2) in image pixels: centre c, size (w, h), context p = (w + h)/2,
s_z = sqrt((w + p)(h + p)), s_x = s_z · 511 / 127. The square of side s_x around c is
warped (OpenCV affine, bilinear, border = the image's per-channel mean) so its corners
map to pixels 0 and 510. The target then sits at (255, 255) with size (w, h)·127/s_z
(``siamjax.data.crop_box.box_in_crop``; docs/parity.md §6.3).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

CROP_SIZE = 511
EXEMPLAR_SIZE = 127
CONTEXT_AMOUNT = 0.5


def context_sides(box_xyxy) -> tuple[float, float]:
    """(s_z, s_x) in image pixels for a box (docs/parity.md §6.1)."""
    x1, y1, x2, y2 = (float(v) for v in box_xyxy)
    width, height = x2 - x1, y2 - y1
    context = CONTEXT_AMOUNT * (width + height)
    s_z = math.sqrt((width + context) * (height + context))
    scale_z = EXEMPLAR_SIZE / s_z
    s_x = s_z + 2 * ((CROP_SIZE - EXEMPLAR_SIZE) / 2) / scale_z
    return s_z, s_x


def context_crop(image_bgr: np.ndarray, box_xyxy, average_bgr=None, size: int = CROP_SIZE):
    """(size, size, 3) uint8 crop of the s_x square around the box, mean-padded."""
    x1, y1, x2, y2 = (float(v) for v in box_xyxy)
    centre_x, centre_y = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    _, s_x = context_sides(box_xyxy)
    left, top = centre_x - s_x / 2, centre_y - s_x / 2
    right, bottom = centre_x + s_x / 2, centre_y + s_x / 2
    scale_x = (size - 1) / (right - left)
    scale_y = (size - 1) / (bottom - top)
    mapping = np.array([[scale_x, 0, -scale_x * left], [0, scale_y, -scale_y * top]], np.float64)
    if average_bgr is None:
        average_bgr = np.mean(image_bgr, axis=(0, 1))
    return cv2.warpAffine(
        image_bgr,
        mapping,
        (size, size),
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=tuple(float(v) for v in average_bgr),
    )


def encode_jpeg(image_bgr: np.ndarray) -> bytes:
    """JPEG bytes at OpenCV's default quality (95), as pysot's ``cv2.imwrite``."""
    ok, data = cv2.imencode(".jpg", image_bgr)
    if not ok:
        raise ValueError("JPEG encoding failed")
    return data.tobytes()
