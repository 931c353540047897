"""Scores as the got10k toolkit computes them (``got10k`` 0.1.3 on PyPI), numpy only.

``siamjax score --protocol got10k`` uses these; docs/parity.md ("Toolkit conventions")
tables where they differ from pysot's. The rules, from ``got10k/utils/metrics.py`` and
``got10k/experiments/{otb,got10k,vot}.py``:

* IoU of [x, y, w, h] boxes (``rect_iou``): no +1; optionally both boxes are first clipped
  to the image (x in [0, W], w in [0, W − x]); union + float eps; clipped to [0, 1].
  A NaN box gives NaN, which passes no threshold.
* One-pass (``ExperimentOTB``): frame 0's result is replaced by the ground truth;
  success(t) = fraction of frames with IoU > t for t in linspace(0, 1, 21), AUC = its
  mean; precision = fraction with centre error <= 20 px, centres x + (w − 1)/2 as pysot,
  but *every* frame's error is real (pysot counts a gt centre <= 0 as a hit). The dataset
  curve is the mean of the per-video curves. Zero-area ground truth is not special.
* GOT-10k (``ExperimentGOT10k``, val split): frames 1.. only, IoU clipped to the image,
  frames whose ``cover`` label is 0 dropped, then *pooled over all videos* (a long video
  weighs more): AO = mean IoU, SR@0.5 / SR@0.75 = fraction with IoU > 0.5 / 0.75.
* VOT (``ExperimentVOT.report``, no attribute tags): overlaps are shapely polygon IoUs
  clipped to the image, burn-in 10 after every initialisation; accuracy = mean over all
  frames of the per-frame mean over runs; robustness = the total number of failures
  (mean over runs), not a rate.
"""

from __future__ import annotations

import warnings

import numpy as np

from siamjax.eval.boxes import centres

SUCCESS_THRESHOLDS = np.linspace(0, 1, 21)
PRECISION_THRESHOLDS = np.arange(0, 51)
PRECISION_INDEX = 20
BURNIN = 10
_EPS = np.finfo(float).eps


def clip_to_image(boxes: np.ndarray, bound_wh) -> np.ndarray:
    """(N, 4) [x, y, w, h] clipped as got10k's ``rect_iou(bound=...)`` does."""
    boxes = np.array(boxes, np.float64).reshape(-1, 4)
    width, height = bound_wh
    boxes[:, 0] = np.clip(boxes[:, 0], 0, width)
    boxes[:, 1] = np.clip(boxes[:, 1], 0, height)
    boxes[:, 2] = np.clip(boxes[:, 2], 0, width - boxes[:, 0])
    boxes[:, 3] = np.clip(boxes[:, 3], 0, height - boxes[:, 1])
    return boxes


def rect_iou(boxes_a, boxes_b, bound_wh=None) -> np.ndarray:
    """(N, 4) x (N, 4) [x, y, w, h] -> (N,) IoU; NaN where a box is NaN."""
    a = np.asarray(boxes_a, np.float64).reshape(-1, 4)
    b = np.asarray(boxes_b, np.float64).reshape(-1, 4)
    if bound_wh is not None:
        a, b = clip_to_image(a, bound_wh), clip_to_image(b, bound_wh)
    with np.errstate(invalid="ignore"):
        width = np.maximum(
            np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0
        )
        height = np.maximum(
            np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0
        )
        intersection = width * height
        union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - intersection
        return np.clip(intersection / (union + _EPS), 0.0, 1.0)


def ope_curves(gt, boxes) -> tuple[np.ndarray, np.ndarray]:
    """One video -> (success (21,), precision (51,)); frame 0 counts as the ground truth."""
    gt = np.asarray(gt, np.float64).reshape(-1, 4)
    boxes = np.array(boxes, np.float64).reshape(-1, 4)
    if gt.shape != boxes.shape:
        raise ValueError(f"{len(boxes)} result boxes for {len(gt)} ground-truth boxes")
    boxes[0] = gt[0]
    iou = rect_iou(boxes, gt)
    with np.errstate(invalid="ignore"):
        error = np.sqrt(np.sum((centres(boxes) - centres(gt)) ** 2, axis=1))
        success = np.mean(iou[:, None] > SUCCESS_THRESHOLDS[None], axis=0)
        precision = np.mean(error[:, None] <= PRECISION_THRESHOLDS[None], axis=0)
    return success, precision


def ope_scores(per_video: dict) -> dict:
    """{video: (gt (N, 4), boxes (N, 4))} -> success_auc, precision (20 px), success_rate
    (IoU > 0.5), the mean curves and per-video values."""
    curves = {name: ope_curves(gt, boxes) for name, (gt, boxes) in per_video.items()}
    success = np.mean([curve[0] for curve in curves.values()], axis=0)
    precision = np.mean([curve[1] for curve in curves.values()], axis=0)
    return {
        "success_auc": float(np.mean(success)),
        "precision": float(precision[PRECISION_INDEX]),
        "success_rate": float(success[len(SUCCESS_THRESHOLDS) // 2]),
        "success_curve": success.tolist(),
        "precision_curve": precision.tolist(),
        "videos": {
            name: {"success_auc": float(np.mean(s)), "precision": float(p[PRECISION_INDEX])}
            for name, (s, p) in curves.items()
        },
    }


def got10k_frame_ious(gt, boxes, bound_wh, cover=None) -> np.ndarray:
    """The IoUs one video contributes to AO / SR: frames 1.., clipped to the image, frames
    with ``cover`` 0 dropped (``cover`` (N,) or None = all visible)."""
    iou = rect_iou(np.asarray(boxes)[1:], np.asarray(gt)[1:], bound_wh)
    if cover is not None:
        iou = iou[np.asarray(cover)[1:] > 0]
    return iou


def ao_sr(per_video: dict) -> dict:
    """{video: (gt (N, 4), boxes (N, 4), (W, H), cover (N,) or None)} -> ao, sr50, sr75
    over the pooled frames, and per-video ao / sr50."""
    ious = {name: got10k_frame_ious(*args) for name, args in per_video.items()}
    pooled = np.concatenate(list(ious.values()))

    def summary(values):
        with warnings.catch_warnings(), np.errstate(invalid="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)  # a video with no visible frame
            return (
                float(np.mean(values)),
                float(np.mean(values > 0.5)),
                float(np.mean(values > 0.75)),
            )

    ao, sr50, sr75 = summary(pooled)
    videos = {name: dict(zip(("ao", "sr50"), summary(values)[:2])) for name, values in ious.items()}
    return {"ao": ao, "sr50": sr50, "sr75": sr75, "videos": videos}


def polygon_iou(region_a, region_b, bound_wh) -> float:
    """IoU of two regions (4 or 8 values), each clipped to [0, W] x [0, H]; NaN for a code."""
    a, b = np.asarray(region_a, np.float64).ravel(), np.asarray(region_b, np.float64).ravel()
    if a.size <= 1 or b.size <= 1:
        return float("nan")
    from shapely.geometry import Polygon, box

    def shape(values):
        if values.size == 4:
            return box(values[0], values[1], values[0] + values[2], values[1] + values[3])
        return Polygon(values.reshape(-1, 2))

    frame = box(0, 0, bound_wh[0], bound_wh[1])
    a, b = shape(a).intersection(frame), shape(b).intersection(frame)
    value = a.intersection(b).area / (a.union(b).area + _EPS)
    return float(np.clip(value, 0.0, 1.0))


def _burnin_overlaps(trajectory, gt, bound_wh) -> np.ndarray:
    entries = list(trajectory)
    for index, entry in enumerate(list(entries)):
        if len(entry) == 1 and entry[0] == 1:
            for offset in range(min(BURNIN, len(entries) - index)):
                entries[index + offset] = [0]
    return np.array([polygon_iou(entry, region, bound_wh) for entry, region in zip(entries, gt)])


def vot_accuracy_robustness(per_video: dict) -> dict:
    """{video: (trajectories (runs), gt regions, (W, H))} -> accuracy, robustness (total
    failures, mean over runs) as got10k's VOT report without attribute tags."""
    overlaps, failures = [], 0.0
    for trajectories, gt, bound_wh in per_video.values():
        runs = np.array([_burnin_overlaps(t, gt, bound_wh) for t in trajectories])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            overlaps.append(np.nanmean(runs, axis=0))
        counts = [[len(entry) == 1 and entry[0] == 2 for entry in t] for t in trajectories]
        failures += float(np.sum(np.mean(np.array(counts, np.float64), axis=0)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        accuracy = np.nanmean(np.concatenate(overlaps))
    return {"accuracy": 0.0 if np.isnan(accuracy) else float(accuracy), "robustness": failures}
