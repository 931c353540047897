"""Turning one frame's head outputs into a box: docs/parity.md §8.3 steps 2-9, pure numpy.

All arrays here are in pysot's flat anchor order (index a·S² + y·S + x, see
``siamjax.anchors.flat_pysot_order``) so that ``argmax`` breaks ties as the reference does.
Computation is float64 on values the network produced in float32.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from siamjax.anchors import flat_pysot_order


@dataclasses.dataclass(frozen=True)
class Candidate:
    """The chosen anchor of one frame.

    ``offset_size`` is (dx, dy, w, h) in frame pixels: the centre offset from the previous
    centre and the predicted size; ``score`` is the unpenalised foreground probability;
    ``lr`` the size-smoothing rate penalty·score·track.lr; ``index`` the flat anchor index.
    """

    offset_size: np.ndarray
    score: float
    lr: float
    index: int


def foreground_scores(score_logits: np.ndarray) -> np.ndarray:
    """(S, S, A, 2) logits (background, foreground) -> (A·S·S,) softmax foreground."""
    logits = flat_pysot_order(np.asarray(score_logits, np.float32))
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return (exp[:, 1] / exp.sum(axis=-1)).astype(np.float32)


def decode_boxes(deltas: np.ndarray, anchors_cxcywh: np.ndarray) -> np.ndarray:
    """(S, S, A, 4) deltas and anchors -> (A·S·S, 4) boxes (cx, cy, w, h), crop pixels.

    cx = dx·w_a + cx_a, cy = dy·h_a + cy_a, w = exp(dw)·w_a, h = exp(dh)·h_a, float32
    like the reference, relative to the crop centre.
    """
    delta = flat_pysot_order(np.asarray(deltas, np.float32))
    anchor = flat_pysot_order(np.asarray(anchors_cxcywh, np.float32))
    return np.stack(
        [
            delta[:, 0] * anchor[:, 2] + anchor[:, 0],
            delta[:, 1] * anchor[:, 3] + anchor[:, 1],
            np.exp(delta[:, 2]) * anchor[:, 2],
            np.exp(delta[:, 3]) * anchor[:, 3],
        ],
        axis=-1,
    )


def _change(ratio):
    return np.maximum(ratio, 1.0 / ratio)


def _padded_side(width, height):
    pad = (width + height) * 0.5
    return np.sqrt((width + pad) * (height + pad))


def size_penalty(boxes_cxcywh: np.ndarray, size_wh, scale_z: float, penalty_k: float):
    """(N,) exp(−(r_c·s_c − 1)·k): scale change s_c and aspect change r_c vs the current size."""
    width, height = boxes_cxcywh[:, 2].astype(np.float64), boxes_cxcywh[:, 3].astype(np.float64)
    scale_change = _change(
        _padded_side(width, height) / _padded_side(size_wh[0] * scale_z, size_wh[1] * scale_z)
    )
    ratio_change = _change((size_wh[0] / size_wh[1]) / (width / height))
    return np.exp(-(ratio_change * scale_change - 1.0) * penalty_k)


def select_candidate(
    score_logits: np.ndarray,
    deltas: np.ndarray,
    anchors_cxcywh: np.ndarray,
    window: np.ndarray,
    size_wh,
    scale_z: float,
    penalty_k: float,
    window_influence: float,
    lr: float,
) -> Candidate:
    """Scores, penalises and windows every anchor and returns the best (docs/parity.md §8.3 2-6)."""
    score = foreground_scores(score_logits).astype(np.float64)
    # An untrained network can predict exp(dw) = inf; such anchors are never chosen
    # (pysot would pick a NaN and crash on the next crop).
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        boxes = decode_boxes(deltas, anchors_cxcywh)
        penalty = size_penalty(boxes, size_wh, scale_z, penalty_k)
        penalised = penalty * score
        penalised = penalised * (1.0 - window_influence) + window * window_influence
    finite = np.isfinite(penalised) & np.all(np.isfinite(boxes), axis=-1)
    if not finite.any():  # nothing usable: keep the target where it is, with score 0
        keep = np.array([0.0, 0.0, size_wh[0], size_wh[1]], np.float64)
        return Candidate(offset_size=keep, score=0.0, lr=0.0, index=-1)
    best = int(np.argmax(np.where(finite, penalised, -np.inf)))
    return Candidate(
        offset_size=boxes[best].astype(np.float64) / scale_z,
        score=float(score[best]),
        lr=float(penalty[best] * score[best] * lr),
        index=best,
    )


def smooth_state(centre_xy, size_wh, candidate: Candidate):
    """New (centre, size): centre moves by the offset, size is blended with rate ``lr``."""
    offset = candidate.offset_size
    centre = np.array([centre_xy[0] + offset[0], centre_xy[1] + offset[1]], np.float64)
    size = np.array(
        [
            size_wh[0] * (1.0 - candidate.lr) + offset[2] * candidate.lr,
            size_wh[1] * (1.0 - candidate.lr) + offset[3] * candidate.lr,
        ],
        np.float64,
    )
    return centre, size


def clip_state(centre_xy, size_wh, frame_hw):
    """Clips the centre to [0, W]×[0, H] and the size to [10, W]×[10, H]
    (docs/parity.md §8.3)."""
    height, width = frame_hw
    centre = np.array(
        [max(0.0, min(centre_xy[0], width)), max(0.0, min(centre_xy[1], height))], np.float64
    )
    size = np.array(
        [max(10.0, min(size_wh[0], width)), max(10.0, min(size_wh[1], height))], np.float64
    )
    return centre, size


def state_to_xywh(centre_xy, size_wh) -> np.ndarray:
    """(cx, cy), (w, h) -> [cx − w/2, cy − h/2, w, h] (the reference's output convention)."""
    return np.array(
        [
            centre_xy[0] - size_wh[0] / 2,
            centre_xy[1] - size_wh[1] / 2,
            size_wh[0],
            size_wh[1],
        ],
        np.float64,
    )
