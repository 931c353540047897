"""Static anchor grids and the cosine window (numpy; docs/parity.md §4).

Two indexings coexist and this module names both:

* siamjax's head layout ``(S, S, A)`` (row y, column x, anchor a), used by the targets,
  the losses and every array this module returns with a leading grid shape;
* pysot's flat tracker index ``a·S² + y·S + x`` (``flat_pysot_order``), used where the
  first-maximum rule of ``argmax`` must pick the same anchor as the reference.
"""

from __future__ import annotations

import math

import numpy as np


def base_anchor_sizes(stride: int, ratios, scales) -> np.ndarray:
    """(A, 2) anchor (w, h) in crop pixels; ratio = h / w, sizes truncated as pysot does.

    For stride 8, ratios (0.33, 0.5, 1, 2, 3), scales (8,): 104×32, 88×40, 64×64, 40×80, 32×96.
    """
    sizes = []
    area = stride * stride
    for ratio in ratios:
        base_w = int(math.sqrt(area * 1.0 / ratio))
        base_h = int(base_w * ratio)
        for scale in scales:
            sizes.append((base_w * scale, base_h * scale))
    return np.asarray(sizes, np.float32)


def score_size(instance_size: int, exemplar_size: int, stride: int, base_size: int) -> int:
    """Side of the score map: (instance − exemplar) // stride + 1 + base_size
    (docs/parity.md §4.2)."""
    return (instance_size - exemplar_size) // stride + 1 + base_size


def anchor_grid(size: int, stride: int, ratios, scales, centre: float = 0.0) -> np.ndarray:
    """(S, S, A, 4) anchors in centre form (cx, cy, w, h), float32.

    The grid is centred on ``centre``: cx = centre − (S // 2)·stride + stride·x. With
    ``centre=0`` these are the tracker's crop-relative anchors (docs/parity.md §4.3); with
    ``centre=search_size // 2`` (127) the training anchors in absolute crop pixels (§4.4).
    """
    sizes = base_anchor_sizes(stride, ratios, scales)
    offsets = centre - (size // 2) * stride + stride * np.arange(size, dtype=np.float32)
    grid = np.zeros((size, size, len(sizes), 4), np.float32)
    grid[..., 0] = offsets[None, :, None]
    grid[..., 1] = offsets[:, None, None]
    grid[..., 2] = sizes[:, 0]
    grid[..., 3] = sizes[:, 1]
    return grid


def centre_to_corner(boxes_cxcywh: np.ndarray) -> np.ndarray:
    """(..., 4) (cx, cy, w, h) -> (x1, y1, x2, y2) = centre ∓ size / 2."""
    cx, cy, w, h = np.moveaxis(np.asarray(boxes_cxcywh), -1, 0)
    return np.stack([cx - w * 0.5, cy - h * 0.5, cx + w * 0.5, cy + h * 0.5], axis=-1)


def flat_pysot_order(values: np.ndarray) -> np.ndarray:
    """(..., S, S, A, k) -> (..., A·S·S, k) with pysot's flat index a·S² + y·S + x."""
    values = np.asarray(values)
    moved = np.moveaxis(values, -2, -4)  # (..., A, S, S, k)
    return moved.reshape(*values.shape[:-4], -1, values.shape[-1])


def hanning_window(size: int, anchor_num: int) -> np.ndarray:
    """(A·S·S,) outer product of ``np.hanning(S)`` (zero end points), tiled per anchor."""
    hanning = np.hanning(size)
    return np.tile(np.outer(hanning, hanning).ravel(), anchor_num)
