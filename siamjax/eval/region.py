"""VOT region overlap in numpy: the VOT toolkit's polygon rasterisation, bit for bit.

pysot scores VOT results with the VOT "region" C library (non-legacy mode). Its overlap
of two regions is not a geometric IoU: both polygons are rounded to integer vertices,
rasterised row by row on the integer pixel grid of their joint bounding box (clipped to
the image bounds) and the pixel counts compared. Coordinates are C floats (float32).
This module reproduces that arithmetic so scores match pysot without a compiled extension.
"""

from __future__ import annotations

import math

import numpy as np

F32 = np.float32


def as_polygon(region) -> np.ndarray | None:
    """4 values [x, y, w, h] or 8 polygon values -> (K, 2) float32 vertices; codes -> None."""
    values = np.asarray(region, np.float64).ravel()
    if values.size <= 1:
        return None
    if values.size == 4:
        x, y, w, h = values
        values = np.array([x, y, x + w, y, x + w, y + h, x, y + h])
    if values.size % 2 or values.size < 6:
        raise ValueError(f"a region has 4 or an even number (>= 6) of values: {values.tolist()}")
    return values.astype(F32).reshape(-1, 2)


def _bounds(polygon):
    """(left, top, right, bottom), float32, rounded outwards."""
    return (
        F32(math.floor(polygon[:, 0].min())),
        F32(math.floor(polygon[:, 1].min())),
        F32(math.ceil(polygon[:, 0].max())),
        F32(math.ceil(polygon[:, 1].max())),
    )


def _intersect(a, b):
    return (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))


def _bounds_overlap(a, b) -> float:
    inter = _intersect(a, b)
    intersection = F32(F32(inter[2] - inter[0]) * F32(inter[3] - inter[1]))
    area_a = F32(F32(a[2] - a[0]) * F32(a[3] - a[1]))
    area_b = F32(F32(b[2] - b[0]) * F32(b[3] - b[1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        value = F32(intersection / F32(F32(area_a + area_b) - intersection))
    # C's MAX(0, x) keeps a NaN (0 > NaN is false), and NaN == 0 is false for the caller.
    return float(value) if np.isnan(value) or value > 0 else 0.0


def _round_half_away(value: float) -> float:
    """C's round(): halves go away from zero (Python's round() goes to even)."""
    return math.copysign(math.floor(abs(value) + 0.5), value)


def rasterize(polygon: np.ndarray, width: int, height: int) -> np.ndarray:
    """(height, width) bool mask of a (K, 2) float32 polygon, VOT's non-legacy scanline rule."""
    mask = np.zeros((height, width), bool)
    xs = [_round_half_away(v) for v in polygon[:, 0].tolist()]
    ys = [_round_half_away(v) for v in polygon[:, 1].tolist()]
    count = len(xs)
    int_ys = [int(y) for y in ys]
    for row in range(height):
        nodes = []
        j = count - 1
        for i in range(count):
            yi, yj = int_ys[i], int_ys[j]
            if (
                (yi <= row < yj)
                or (yj <= row < yi)
                or (yi < row <= yj)
                or (yj < row <= yi)
                or (yi == yj == row)
            ):
                r = ys[j] - ys[i]
                if r != 0:
                    nodes.append(int(xs[i] + (row - ys[i]) / r * (xs[j] - xs[i])))
            j = i
        nodes.sort()
        i = 0
        while i < len(nodes) - 1:
            if nodes[i] == nodes[i + 1]:
                i += 1
                continue
            if nodes[i] >= width:
                break
            if nodes[i + 1] >= 0:
                start = max(nodes[i], 0)
                stop = min(nodes[i + 1], width - 1)
                mask[row, start : stop + 1] = True
            i += 2
    return mask


def vot_overlap(region_a, region_b, bounds_wh=None) -> float:
    """Overlap of two regions as the VOT toolkit computes it; NaN if either is a code.

    ``bounds_wh`` = (W, H) clips both regions to [0, W] x [0, H] (pysot passes the image
    size for accuracy and (W − 1, H − 1) for EAO).
    """
    polygon_a, polygon_b = as_polygon(region_a), as_polygon(region_b)
    if polygon_a is None or polygon_b is None:
        return float("nan")
    if bounds_wh is None:
        limit = (F32(-np.inf), F32(-np.inf), F32(np.inf), F32(np.inf))
    else:
        limit = (F32(0), F32(0), F32(bounds_wh[0]), F32(bounds_wh[1]))
    box_a = _intersect(_bounds(polygon_a), limit)
    box_b = _intersect(_bounds(polygon_b), limit)
    x = min(box_a[0], box_b[0])
    y = min(box_a[1], box_b[1])
    width = int(F32(max(box_a[2], box_b[2]) - x)) + 1
    height = int(F32(max(box_a[3], box_b[3]) - y)) + 1
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # float products, compared as doubles (the C code's types)
        area_a = np.float64(F32(F32(box_a[2] - box_a[0]) * F32(box_a[3] - box_a[1])))
        area_b = np.float64(F32(F32(box_b[2] - box_b[0]) * F32(box_b[3] - box_b[1])))
        tiny = area_a / area_b < 1e-10 or area_b / area_a < 1e-10
    if tiny or width < 1 or height < 1:
        return 0.0
    if _bounds_overlap(box_a, box_b) == 0:
        return 0.0
    offset = np.array([x, y], F32)
    mask_a = rasterize((polygon_a - offset).astype(F32), width, height)
    mask_b = rasterize((polygon_b - offset).astype(F32), width, height)
    intersection = int(np.count_nonzero(mask_a & mask_b))
    union = int(np.count_nonzero(mask_a | mask_b))
    # Regions entirely outside the bounds leave both masks empty: C's 0.0f / 0.0f is NaN.
    return float(F32(intersection) / F32(union)) if union else float("nan")
