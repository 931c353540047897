"""The helpers of the real-video agreement report (siamjax/pysot_reference/video_agreement.py),
without pysot: box overlap, the first divergent frame, pysot's output layout and the
classification of a divergence."""

import numpy as np

from siamjax.anchors import flat_pysot_order
from siamjax.pysot_reference.video_agreement import (
    classify_divergence,
    first_divergent_frame,
    iou_xywh,
    pysot_outputs_as_siamjax,
)


def test_iou_of_boxes_in_xywh():
    first = np.array([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0], [0, 0, 4, 4]])
    second = np.array([[0.0, 0.0, 10.0, 10.0], [5.0, 0.0, 10.0, 10.0], [10, 10, 4, 4]])
    np.testing.assert_allclose(iou_xywh(first, second), [1.0, 50 / 150, 0.0])


def test_first_divergent_frame_counts_from_the_init_frame():
    reference = np.tile([[10.0, 10.0, 50.0, 50.0]], (5, 1))
    boxes = reference.copy()
    assert first_divergent_frame(boxes, reference) is None
    boxes[3, 0] += 0.01  # IoU 0.9996: still the same box
    assert first_divergent_frame(boxes, reference) is None
    boxes[2, 0] += 1.0  # frame 3 (boxes[0] is frame 1)
    assert first_divergent_frame(boxes, reference) == 3


def test_pysot_head_outputs_map_to_siamjax_layout_in_pysot_flat_order():
    """pysot flattens cls (1, 2A, S, S) as view(2, -1): component k of anchor a at (y, x)
    is channel k·A + a, flat index a·S² + y·S + x."""
    anchors, size = 5, 3
    rng = np.random.default_rng(0)
    cls = rng.normal(size=(1, 2 * anchors, size, size))
    loc = rng.normal(size=(1, 4 * anchors, size, size))
    scores, deltas = pysot_outputs_as_siamjax(cls, loc, anchors)
    assert scores.shape == (size, size, anchors, 2) and deltas.shape == (size, size, anchors, 4)
    pysot_scores = cls[0].reshape(2, -1).T  # pysot's _convert_score before the softmax
    pysot_deltas = loc[0].reshape(4, -1).T  # pysot's _convert_bbox before decoding
    np.testing.assert_array_equal(flat_pysot_order(scores), pysot_scores)
    np.testing.assert_array_equal(flat_pysot_order(deltas), pysot_deltas)


def test_a_divergence_is_classified_by_the_teacher_forced_frame():
    row = {"chosen": 7, "pysot_chosen": 7, "difference": 1e-6, "pysot_margin": 0.0}
    assert classify_divergence(None, [row]) == "same boxes"
    assert classify_divergence(1, [row]) == "state drift"
    tie = dict(row, chosen=8, pysot_margin=1e-6)
    assert classify_divergence(1, [tie]) == "near-tie"
    wide = dict(row, chosen=8, pysot_margin=0.05)
    assert classify_divergence(1, [wide]) == "formulation difference"


def test_the_backends_own_crop_decides_between_state_drift_and_a_near_tie():
    same = {"chosen": 7, "pysot_chosen": 7, "difference": 1e-6, "pysot_margin": 0.0}
    assert classify_divergence(4, [same] * 4, own=same) == "state drift"
    own_tie = dict(same, chosen=9, pysot_margin=1e-6)
    assert classify_divergence(4, [same] * 4, own=own_tie) == "near-tie"
    own_wide = dict(same, chosen=9, pysot_margin=0.2)
    assert classify_divergence(4, [same] * 4, own=own_wide) == "formulation difference"


def test_a_search_window_moved_by_a_pixel_is_crop_rounding():
    same = {"chosen": 7, "pysot_chosen": 7, "difference": 1e-6, "pysot_margin": 0.0}
    moved = dict(same, crop_window=[120, 40, 301], pysot_crop_window=[120, 40, 302])
    assert classify_divergence(4, [same] * 4, own=moved) == "crop rounding"
    kept = dict(same, crop_window=[120, 40, 301], pysot_crop_window=[120, 40, 301])
    assert classify_divergence(4, [same] * 4, own=kept) == "state drift"
