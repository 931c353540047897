"""One-pass (OPE) metrics exactly as pysot's toolkit computes them (docs/parity.md §10.1).

Numpy only.

Per video, for ground truth ``gt`` (N, 4) and results ``boxes`` (N, 4), both [x, y, w, h]:

* success(t) for t = 0, 0.05, ..., 1.0: fraction of the video's frames with IoU **> t**
  (strict, so success at 1.0 is 0 even for perfect results: pysot's quirk); frames whose
  gt has w <= 0 or h <= 0 (or NaN) count as failures. AUC = mean of the 21 values.
* precision(t), t = 0..50 px: fraction of frames whose centre distance is <= t; centres are
  x + (w − 1)/2, y + (h − 1)/2; frames whose gt centre has a coordinate <= 0 count as
  within every threshold (pysot's quirk). Reported at 20 px.
* normalised precision: centres divided by the gt (w, h); thresholds 0, 0.01, ..., 0.5;
  reported at 0.20.

Dataset values are means over videos. LaSOT-style masks keep only the evaluated frames
while the denominator stays the full video length, as in pysot.

Result boxes that are NaN, infinite or of non-positive size are failures (IoU 0, distance
infinite): pysot would produce undefined values there. ``invalid_result_frames`` counts them
so callers can warn.
"""

from __future__ import annotations

import numpy as np

from siamjax.eval.boxes import centres, overlap_ratio

SUCCESS_THRESHOLDS = np.arange(0, 1.05, 0.05)
PRECISION_THRESHOLDS = np.arange(0, 51, 1)
NORM_PRECISION_THRESHOLDS = np.arange(0, 51, 1) / 100
PRECISION_INDEX = 20


def invalid_result_frames(boxes: np.ndarray) -> np.ndarray:
    """(N,) bool: result boxes that are non-finite or have w <= 0 or h <= 0."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    return ~np.all(np.isfinite(boxes), axis=1) | (boxes[:, 2] <= 0) | (boxes[:, 3] <= 0)


def _masked(gt, boxes, evaluate):
    gt = np.asarray(gt, np.float64).reshape(-1, 4)
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    if gt.shape != boxes.shape:
        raise ValueError(f"{len(boxes)} result boxes for {len(gt)} ground-truth boxes")
    n_frame = len(gt)
    if evaluate is not None:
        evaluate = np.asarray(evaluate, bool)
        gt, boxes = gt[evaluate], boxes[evaluate]
    return gt, boxes, n_frame


def success_curve(gt, boxes, evaluate=None) -> np.ndarray:
    """(21,) success rates of one video."""
    gt, boxes, n_frame = _masked(gt, boxes, evaluate)
    iou = np.full(len(gt), -1.0)
    with np.errstate(invalid="ignore"):
        labelled = np.sum(gt[:, 2:] > 0, axis=1) == 2
    usable = labelled & ~invalid_result_frames(boxes)
    iou[labelled] = 0.0
    iou[usable] = overlap_ratio(gt[usable], boxes[usable])
    return np.array([np.sum(iou > t) / float(n_frame) for t in SUCCESS_THRESHOLDS])


def _distance_curve(gt_centres, result_centres, invalid, thresholds, n_frame):
    distance = np.full(len(gt_centres), -1.0)
    with np.errstate(invalid="ignore"):
        positive = np.sum(gt_centres > 0, axis=1) == 2
    distance[positive] = np.sqrt(np.sum((gt_centres[positive] - result_centres[positive]) ** 2, 1))
    distance[positive & invalid] = np.inf
    return np.array([np.sum(distance <= t) / float(n_frame) for t in thresholds])


def precision_curve(gt, boxes, evaluate=None) -> np.ndarray:
    """(51,) precision at 0..50 px of one video."""
    gt, boxes, n_frame = _masked(gt, boxes, evaluate)
    invalid = invalid_result_frames(boxes)
    return _distance_curve(centres(gt), centres(boxes), invalid, PRECISION_THRESHOLDS, n_frame)


def norm_precision_curve(gt, boxes, evaluate=None) -> np.ndarray:
    """(51,) normalised precision at 0, 0.01, ..., 0.5 of one video."""
    gt, boxes, n_frame = _masked(gt, boxes, evaluate)
    invalid = invalid_result_frames(boxes)
    size = gt[:, 2:4] + 1e-16
    with np.errstate(invalid="ignore", divide="ignore"):
        gt_norm, result_norm = centres(gt) / size, centres(boxes) / size
    return _distance_curve(gt_norm, result_norm, invalid, NORM_PRECISION_THRESHOLDS, n_frame)


def ope_scores(per_video: dict) -> dict:
    """Dataset summary from {video: (gt, boxes, evaluate)}.

    Returns success_auc, precision (20 px), norm_precision (0.20), the mean curves and
    per-video AUC / precision.
    """
    success = {name: success_curve(*args) for name, args in per_video.items()}
    precision = {name: precision_curve(*args) for name, args in per_video.items()}
    norm = {name: norm_precision_curve(*args) for name, args in per_video.items()}
    names = list(per_video)
    mean_success = np.mean([success[n] for n in names], axis=0)
    mean_precision = np.mean([precision[n] for n in names], axis=0)
    mean_norm = np.mean([norm[n] for n in names], axis=0)
    return {
        "success_auc": float(np.mean([np.mean(success[n]) for n in names])),
        "precision": float(mean_precision[PRECISION_INDEX]),
        "norm_precision": float(mean_norm[PRECISION_INDEX]),
        "success_curve": mean_success.tolist(),
        "precision_curve": mean_precision.tolist(),
        "norm_precision_curve": mean_norm.tolist(),
        "videos": {
            n: {
                "success_auc": float(np.mean(success[n])),
                "precision": float(precision[n][PRECISION_INDEX]),
            }
            for n in names
        },
    }
