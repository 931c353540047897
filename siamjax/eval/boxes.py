"""Box helpers for evaluation, pure numpy. Boxes are [x, y, w, h] unless named otherwise."""

from __future__ import annotations

import numpy as np


def overlap_ratio(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """(N, 4) x (N, 4) [x, y, w, h] -> (N,) IoU in [0, 1], pysot's OPE rule (no +1)."""
    a = np.asarray(boxes_a, np.float64).reshape(-1, 4)
    b = np.asarray(boxes_b, np.float64).reshape(-1, 4)
    left = np.maximum(a[:, 0], b[:, 0])
    right = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2])
    top = np.maximum(a[:, 1], b[:, 1])
    bottom = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3])
    intersection = np.maximum(0.0, right - left) * np.maximum(0.0, bottom - top)
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - intersection
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = intersection / union
    return np.clip(np.nan_to_num(iou, nan=0.0), 0.0, 1.0)


def centres(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) [x, y, w, h] -> (N, 2) centres x + (w − 1)/2, y + (h − 1)/2 (pysot)."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.stack([boxes[:, 0] + (boxes[:, 2] - 1) / 2, boxes[:, 1] + (boxes[:, 3] - 1) / 2], 1)


def init_box(region, vot_protocol: bool = False) -> np.ndarray:
    """A ground-truth region -> the tracker's init box, exactly as pysot's test script.

    8 values (a VOT polygon): centre = mean point; w, h of the axis-aligned box rescaled to
    the rotated rectangle's area, + 1 (docs/parity.md §8.6). 4 values [x, y, w, h]: centre
    x + w/2, y + h/2 (so the box moves by +0.5 px), except under the VOT protocol, where
    pysot first turns the rectangle into a polygon (which keeps it unchanged). The result
    is [cx − (w − 1)/2, cy − (h − 1)/2, w, h].
    """
    values = np.asarray(region, np.float64).ravel()
    if values.size == 4 and vot_protocol:
        x, y, w, h = values
        values = np.array([x, y, x, y + h - 1, x + w - 1, y + h - 1, x + w - 1, y])
    if values.size == 4:
        x, y, width, height = values
        centre_x, centre_y = x + width / 2, y + height / 2
    elif values.size == 8:
        xs, ys = values[0::2], values[1::2]
        centre_x, centre_y = xs.mean(), ys.mean()
        x_min, x_max, y_min, y_max = xs.min(), xs.max(), ys.min(), ys.max()
        area_rotated = np.linalg.norm(values[0:2] - values[2:4]) * np.linalg.norm(
            values[2:4] - values[4:6]
        )
        area_axis = (x_max - x_min) * (y_max - y_min)
        scale = np.sqrt(area_rotated / area_axis) if area_axis > 0 else 1.0
        width = scale * (x_max - x_min) + 1
        height = scale * (y_max - y_min) + 1
    else:
        raise ValueError(f"a region has 4 or 8 values, got {values.size}: {values.tolist()}")
    return np.array([centre_x - (width - 1) / 2, centre_y - (height - 1) / 2, width, height])


def region_to_rect(region) -> np.ndarray:
    """4 or 8 values -> [x, y, w, h]: the polygon's axis-aligned bounding rectangle."""
    values = np.asarray(region, np.float64).ravel()
    if values.size == 4:
        return values.copy()
    xs, ys = values[0::2], values[1::2]
    return np.array([xs.min(), ys.min(), xs.max() - xs.min(), ys.max() - ys.min()])
