"""Where a trained network's response peaks when the target is off the search centre: the
SiamRPN++ paper's centre-bias analysis (its Fig. 1 and shift table).

For held-out sequences, the template is cropped from the first frame as the tracker does;
each probe crops a later frame's search region around the ground-truth centre moved by a
uniform offset of up to ``shift`` crop pixels in x and y, so the target sits at minus that
offset. The network's foreground peak (max over anchors of the softmax score) is read
off the score map; its box is decoded at the peak anchor. A network that learnt where
targets *usually* are (the centre, when trained without shifts, through its padding)
puts its peaks near the centre whatever the target's offset.

    probes = probe(config, variables, videos, shift=64, per_video=8)
    summary = summarise(probes, shift=64)  # spread, slope, far-target AUC

Offsets are (x, y) in search-crop pixels (255 crop), relative to the crop centre.
"""

from __future__ import annotations

import numpy as np

from siamjax.anchors import anchor_grid, flat_pysot_order, score_size
from siamjax.image_io import read_image
from siamjax.tracking import postprocess
from siamjax.tracking.crop import channel_average, context_size, get_subwindow
from siamjax.tracking.network import TrackerNetwork
from siamjax.tracking.tracker import TrackParams

SUCCESS_THRESHOLDS = np.arange(0, 1.05, 0.05)


def _iou_cxcywh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 4) x (N, 4) centre-form boxes -> (N,) IoU."""
    a_min, a_max = a[:, :2] - a[:, 2:] / 2, a[:, :2] + a[:, 2:] / 2
    b_min, b_max = b[:, :2] - b[:, 2:] / 2, b[:, :2] + b[:, 2:] / 2
    overlap = np.clip(np.minimum(a_max, b_max) - np.maximum(a_min, b_min), 0, None)
    intersection = overlap[:, 0] * overlap[:, 1]
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - intersection
    return np.where(union > 0, intersection / np.maximum(union, 1e-12), 0.0)


def probe(config, variables, videos, shift: float = 64.0, per_video: int = 8,
          seed: int = 0) -> dict:  # fmt: skip
    """{'targets': (P, 2) target offsets, 'peaks': (P, 2) peak offsets, 'iou': (P,) IoU of
    the box decoded at the peak with the target's box}, crop pixels, for ``per_video``
    probes of each labelled video (frames 1.. with a ground-truth box)."""
    params = TrackParams.from_config(config)
    network = TrackerNetwork.from_config(config, variables)
    size = score_size(params.instance_size, params.exemplar_size, params.stride, params.base_size)
    anchors = anchor_grid(size, params.stride, params.ratios, params.scales)
    flat_anchors = flat_pysot_order(anchors)
    rng = np.random.default_rng(seed)
    targets, peaks, ious = [], [], []
    for video in videos:
        gt = np.asarray(video.gt, np.float64)[:, :4]
        usable = [
            i for i in range(1, len(gt)) if np.all(np.isfinite(gt[i])) and np.all(gt[i, 2:] > 0)
        ]
        if not usable or not np.all(np.isfinite(gt[0])):
            continue
        first = read_image(video.frame_paths[0])
        average = channel_average(first)
        side_z = round(context_size(gt[0, 2:], params.context_amount))
        centre0 = gt[0, :2] + gt[0, 2:] / 2
        template = get_subwindow(first, centre0, params.exemplar_size, side_z, average)
        features = network.template(template[None])
        chosen = rng.choice(usable, size=min(per_video, len(usable)), replace=False)
        offsets = rng.uniform(-shift, shift, (len(chosen), 2))
        crops, truth = [], []
        for frame_index, offset in zip(chosen, offsets):
            frame = read_image(video.frame_paths[frame_index])
            box = gt[frame_index]
            side = context_size(box[2:], params.context_amount)
            scale = params.exemplar_size / side
            side_x = round(side * params.instance_size / params.exemplar_size)
            centre = box[:2] + box[2:] / 2 + offset / scale
            crops.append(
                get_subwindow(frame, centre, params.instance_size, side_x, channel_average(frame))
            )
            truth.append([-offset[0], -offset[1], box[2] * scale, box[3] * scale])
        for crop, target in zip(crops, truth):
            scores, deltas = network.search(features, crop[None])
            foreground = postprocess.foreground_scores(scores[0])
            best = int(np.argmax(foreground))
            box = postprocess.decode_boxes(deltas[0], anchors)[best]
            peaks.append(flat_anchors[best, :2])
            targets.append(target[:2])
            ious.append(_iou_cxcywh(box[None], np.asarray([target]))[0])
    return {
        "targets": np.asarray(targets).reshape(-1, 2),
        "peaks": np.asarray(peaks).reshape(-1, 2),
        "iou": np.asarray(ious),
    }


def summarise(probes: dict, shift: float = 64.0) -> dict:
    """spread: RMS distance of the peaks from the crop centre (px); slope: least-squares
    slope of peak offset on target offset over x and y (1: peaks follow the target, 0:
    always the centre); far_auc: success AUC (IoU > t, t = 0 … 1 by 0.05) of the probes
    whose target is more than ``shift`` / 2 from the centre in x or y; near_auc: the rest."""
    targets, peaks, iou = (
        np.asarray(probes[key], np.float64) for key in ("targets", "peaks", "iou")
    )
    far = np.max(np.abs(targets), axis=1) > shift / 2

    def auc(values):
        return (
            float(np.mean([np.mean(values > t) for t in SUCCESS_THRESHOLDS]))
            if len(values)
            else float("nan")
        )

    t, p = targets.ravel(), peaks.ravel()
    slope = float(np.dot(t, p) / np.dot(t, t)) if np.dot(t, t) > 0 else float("nan")
    return {
        "probes": int(len(iou)),
        "spread": float(np.sqrt(np.mean(np.sum(peaks**2, axis=1)))) if len(iou) else float("nan"),
        "slope": slope,
        "far_auc": auc(iou[far]),
        "near_auc": auc(iou[~far]),
    }
