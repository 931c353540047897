"""VOT accuracy, robustness and EAO as the Python VOT toolkit computes them
(``vot-toolkit`` 0.9 on PyPI: ``vot/region/raster.py``, ``vot/analysis/supervised.py``).

``siamjax score --protocol vot-toolkit`` uses these; docs/parity.md ("Toolkit
conventions") tables where they differ from pysot's (``vot_metrics``). The rules:

* **Overlap** is a pixel count, but not pysot's: a rectangle [x, y, w, h] has each value
  rounded half-to-even and covers columns x .. x + w − 1; a polygon's vertices are rounded
  half-to-even and filled by a scanline whose node positions are truncated towards zero.
  Both are rasterised over the union of the two regions' bounds clipped to
  [0, W − 1] x [0, H − 1]. A union one pixel thin or less gives 1 ("two empty regions are
  identical"); a union outside the image gives 0.
* **Accuracy** per run: mean overlap over frames that are not a code (init, failure,
  unknown) and not within 10 frames of an initialisation (0 if none); per video the mean
  over runs; the dataset value is the mean weighted by video length.
* **Robustness**: failures per video (mean over runs), averaged weighted by video length,
  so a failure *count*, not pysot's failures per 100 frames.
* **EAO**: one fragment per initialisation, from the init frame up to (not including)
  its failure, every fragment weight 1 (pysot weighs by 1/runs and restarts 5 frames after
  the failure, not at the re-initialisation). A fragment that ended in a failure counts
  as zeros to the end; one that reached the end of its video only over its length.
  Φ(i) = weighted mean of mean(fragment[1..i]); EAO = mean of Φ[low .. high] (0-based,
  inclusive: one frame later than pysot's window).
"""

from __future__ import annotations

import warnings

import numpy as np

from siamjax.eval.vot_metrics import EAO_RANGES

BURNIN = 10
SENSITIVITY = 30  # the AR plot's robustness exp(−failures / length × 30); not a score
UNKNOWN, INITIALISATION, FAILURE = 0, 1, 2


def _code(entry) -> int | None:
    values = np.asarray(entry, np.float64).ravel()
    if values.size == 1:
        return int(values[0])
    if np.isnan(values).any():  # the toolkit parses any NaN region as unknown
        return UNKNOWN
    return None


def _shape(region):
    """('rect', (x, y, w, h) rounded) | ('poly', (K, 2) rounded) | ('empty', None)."""
    values = np.asarray(region, np.float64).ravel()
    if _code(values) is not None:
        return "empty", None
    if values.size == 4:
        return "rect", np.round(values)
    return "poly", np.round(values.reshape(-1, 2))


def _bounds(kind, data) -> tuple[int, int, int, int]:
    if kind == "rect":
        x, y, w, h = data
        return int(x), int(y), int(x + w - 1), int(y + h - 1)
    if kind == "poly":
        return (int(data[:, 0].min()), int(data[:, 1].min()),
                int(data[:, 0].max()), int(data[:, 1].max()))  # fmt: skip
    return 0, 0, 0, 0


def _rasterize_rect(data, bounds) -> np.ndarray:
    width, height = bounds[2] - bounds[0] + 1, bounds[3] - bounds[1] + 1
    mask = np.zeros((height, width), bool)
    x, y, w, h = data
    if x > bounds[2] or x + w - 1 < bounds[0] or y > bounds[3] or y + h - 1 < bounds[1]:
        return mask
    left, top = int(max(0, x - bounds[0])), int(max(0, y - bounds[1]))
    # The toolkit clamps against the absolute right/bottom bound; slicing clips the rest.
    right = int(min(bounds[2], x + w - 1 - bounds[0]))
    bottom = int(min(bounds[3], y + h - 1 - bounds[1]))
    mask[top : bottom + 1, left : right + 1] = True
    return mask


def _rasterize_poly(data, bounds) -> np.ndarray:
    width, height = bounds[2] - bounds[0] + 1, bounds[3] - bounds[1] + 1
    mask = np.zeros((height, width), bool)
    polygon = data - np.array([bounds[0], bounds[1]], np.float64)
    rows = np.arange(height, dtype=np.float64)[:, None]
    previous = np.arange(len(polygon)) - 1  # edge j -> i with j = i − 1 (wrapping)
    ys, xs = polygon[:, 1][None], polygon[:, 0][None]
    ys_prev, xs_prev = ys[:, previous], xs[:, previous]
    crosses = (
        ((ys <= rows) & (ys_prev > rows))
        | ((ys_prev <= rows) & (ys > rows))
        | ((ys < rows) & (ys_prev >= rows))
        | ((ys_prev < rows) & (ys >= rows))
        | ((ys == ys_prev) & (ys == rows))
    )
    rise = ys_prev - ys
    with np.errstate(divide="ignore", invalid="ignore"):
        # an int64 store in the toolkit's numba code: truncation towards zero
        node = np.where(rise != 0, xs + (rows - ys) / rise * (xs_prev - xs), xs)
    node = np.trunc(np.where(crosses, node, np.inf))
    node.sort(axis=1)
    counts = crosses.sum(axis=1)
    pairs = counts == 2  # the usual row: one span, no duplicate rule to apply
    start, stop = node[:, 0], node[:, 1]
    span = pairs & (start < width) & (stop >= 0)
    columns = np.arange(width)[None]
    mask[span] = (columns >= np.maximum(start[span], 0)[:, None]) & (
        columns <= np.minimum(stop[span], width - 1)[:, None]
    )
    for row in np.flatnonzero(counts > 2):
        nodes = node[row, : counts[row]].astype(np.int64).tolist()
        i = 0
        while i < len(nodes) - 1:
            if nodes[i] >= width:
                break
            if nodes[i] == nodes[i + 1] and i < len(nodes) - 2:
                i += 1
                continue
            if nodes[i + 1] >= 0:
                mask[row, max(nodes[i], 0) : min(nodes[i + 1], width - 1) + 1] = True
            i += 2
    return mask


def _rect_span(start, extent, low, high) -> tuple[int, int]:
    """The pixel range [first, last] a rounded rectangle side fills inside [low, high]."""
    if start > high or start + extent - 1 < low:
        return 0, -1
    # the toolkit clamps the far side to the absolute bound, then the slice to the raster
    return int(max(0, start - low)), int(min(high - low, high, start + extent - 1 - low))


def _rasterize(kind, data, bounds) -> np.ndarray:
    if kind == "rect":
        return _rasterize_rect(data, bounds)
    if kind == "poly":
        return _rasterize_poly(data, bounds)
    return np.zeros((bounds[3] - bounds[1] + 1, bounds[2] - bounds[0] + 1), bool)


def overlap(region_a, region_b, bounds_wh=None) -> float:
    """The toolkit's ``calculate_overlap`` of two regions (4 or 8 values, or a code)."""
    shape_a, shape_b = _shape(region_a), _shape(region_b)
    return _shape_overlap(shape_a, _bounds(*shape_a), shape_b, _bounds(*shape_b), bounds_wh)


def _shape_overlap(shape_a, bounds_a, shape_b, bounds_b, bounds_wh) -> float:
    union = (min(bounds_a[0], bounds_b[0]), min(bounds_a[1], bounds_b[1]),
             max(bounds_a[2], bounds_b[2]), max(bounds_a[3], bounds_b[3]))  # fmt: skip
    if union[0] >= union[2] or union[1] >= union[3]:
        return 1.0
    if bounds_wh is not None:
        union = (max(0, union[0]), max(0, union[1]),
                 min(bounds_wh[0] - 1, union[2]), min(bounds_wh[1] - 1, union[3]))  # fmt: skip
        if union[0] >= union[2] or union[1] >= union[3]:
            return 0.0
    if shape_a[0] != "poly" and shape_b[0] != "poly":  # rectangles: count, do not draw
        return _rect_overlap(shape_a, shape_b, union)
    mask_a, mask_b = _rasterize(*shape_a, union), _rasterize(*shape_b, union)
    total = int(np.count_nonzero(mask_a | mask_b))
    return int(np.count_nonzero(mask_a & mask_b)) / total if total else 0.0


def _rect_overlap(shape_a, shape_b, bounds) -> float:
    """``overlap`` of two rectangles (or a rectangle and a code) without rasterising."""
    spans = []
    for kind, data in (shape_a, shape_b):
        if kind == "empty":
            spans.append(((0, -1), (0, -1)))
        else:
            spans.append((_rect_span(data[0], data[2], bounds[0], bounds[2]),
                          _rect_span(data[1], data[3], bounds[1], bounds[3])))  # fmt: skip
    (cols_a, rows_a), (cols_b, rows_b) = spans

    def size(span):
        return max(0, span[1] - span[0] + 1)

    area_a, area_b = size(cols_a) * size(rows_a), size(cols_b) * size(rows_b)
    if area_a == 0 or area_b == 0:  # nothing in common; the union may still be non-empty
        return 0.0
    cols = (max(cols_a[0], cols_b[0]), min(cols_a[1], cols_b[1]))
    rows = (max(rows_a[0], rows_b[0]), min(rows_a[1], rows_b[1]))
    intersection = size(cols) * size(rows)
    return intersection / (area_a + area_b - intersection)


def overlaps(trajectory, gt, bounds_wh) -> list[float]:
    """Per-frame overlaps of a trajectory with its ground truth (codes give 0 or 1)."""
    return overlaps_with(trajectory, _shapes_and_bounds(gt), bounds_wh)


def _shapes_and_bounds(regions) -> list:
    return [(shape, _bounds(*shape)) for shape in map(_shape, regions)]


def overlaps_with(trajectory, gt_shapes, bounds_wh) -> list[float]:
    """``overlaps`` with the ground truth already through ``_shapes_and_bounds``."""
    return [
        _shape_overlap(shape, bounds, *truth, bounds_wh)
        for (shape, bounds), truth in zip(_shapes_and_bounds(trajectory), gt_shapes)
    ]


def run_accuracy(trajectory, frame_overlaps) -> float:
    """Mean overlap of one run over its frames outside codes and burn-in; 0 if none."""
    keep = np.ones(len(frame_overlaps), bool)
    for index, entry in enumerate(trajectory):
        code = _code(entry)
        if code == INITIALISATION:
            keep[index : index + BURNIN] = False
        elif code is not None:
            keep[index] = False
    return float(np.mean(np.asarray(frame_overlaps)[keep])) if keep.any() else 0.0


def fragments(trajectory, frame_overlaps) -> list[tuple[list[float], bool]]:
    """(overlaps from an initialisation to its failure, reached the end) per fragment."""
    failures = [i for i, entry in enumerate(trajectory) if _code(entry) == FAILURE]
    inits = [i for i, entry in enumerate(trajectory) if _code(entry) == INITIALISATION]
    if not failures:
        return [(list(frame_overlaps), True)]
    pieces = [(list(frame_overlaps[inits[i] : failures[i]]), False) for i in range(len(failures))]
    if len(inits) > len(failures):
        pieces.append((list(frame_overlaps[inits[-1] :]), True))
    return pieces


def expected_overlap_curve(pieces) -> np.ndarray:
    """Φ over fragment length (float32, as the toolkit); every fragment weight 1."""
    length = max(len(values) for values, _ in pieces)
    values = np.zeros((len(pieces), length), np.float64)
    counted = np.zeros((len(pieces), length), np.float64)
    for row, (fragment, reached_end) in enumerate(pieces):
        values[row, : len(fragment)] = fragment
        counted[row, :] = 1 if not reached_end else 0
        counted[row, : len(fragment)] = 1
    running = values.copy()
    # mean of columns 1..j for every j >= 1 (column 0 is the init frame)
    running[:, 1:] = np.cumsum(values[:, 1:], axis=1) / np.arange(1, length)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (np.sum(running * counted, axis=0) / np.sum(counted, axis=0)).astype(np.float32)


def scores(per_video: dict, dataset: str = "VOT2018", low_high=None) -> dict:
    """{video: (trajectories (runs), gt regions, (W, H))} -> accuracy, robustness, eao,
    the AR point's robustness and the expected-overlap curve."""
    low, high = low_high or EAO_RANGES[dataset]
    weighted_accuracy = weighted_failures = total_length = 0.0
    pieces = []
    for trajectories, gt, bounds_wh in per_video.values():
        accuracy = failures = 0.0
        gt_shapes = _shapes_and_bounds(gt)
        for trajectory in trajectories:
            frame_overlaps = overlaps_with(trajectory, gt_shapes, bounds_wh)
            accuracy += run_accuracy(trajectory, frame_overlaps)
            failures += sum(1 for entry in trajectory if _code(entry) == FAILURE)
            pieces.extend(fragments(trajectory, frame_overlaps))
        weighted_accuracy += accuracy / len(trajectories) * len(gt)
        weighted_failures += failures / len(trajectories) * len(gt)
        total_length += len(gt)
    curve = expected_overlap_curve(pieces)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # videos shorter than the window: NaN
        eao = float(np.mean(curve[low : high + 1]))
    failures = weighted_failures / total_length
    mean_length = total_length / len(per_video)
    return {
        "accuracy": weighted_accuracy / total_length,
        "robustness": failures,
        "ar_robustness": float(np.exp(-(failures / mean_length) * SENSITIVITY)),
        "eao": eao,
        "curve": curve.astype(np.float64).tolist(),
        "range": [low, high],
    }
