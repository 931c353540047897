import numpy as np
import pytest

from siamjax.eval import metrics
from siamjax.eval.boxes import centres, init_box, overlap_ratio, region_to_rect


def test_overlap_ratio_on_crafted_boxes():
    gt = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]])
    boxes = np.array([[0, 0, 10, 10], [5, 0, 10, 10], [20, 20, 5, 5], [0, 0, 5, 5]])
    np.testing.assert_allclose(overlap_ratio(gt, boxes), [1.0, 50 / 150, 0.0, 0.25])


def test_centres_use_w_minus_one():
    np.testing.assert_allclose(centres([[10, 20, 5, 7]]), [[12.0, 23.0]])


def test_success_of_ground_truth_scored_as_results():
    gt = np.array([[0, 0, 10, 10]] * 4, np.float64)
    curve = metrics.success_curve(gt, gt)
    # IoU 1 > t for every threshold below 1; strict '>' makes success(1.0) = 0 (pysot quirk).
    np.testing.assert_allclose(curve[:-1], 1.0)
    assert curve[-1] == 0.0
    assert np.mean(curve) == pytest.approx(20 / 21)


def test_success_counts_iou_and_unlabelled_frames():
    gt = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 0, 0]], np.float64)
    boxes = np.array([[0, 0, 10, 10], [5, 0, 10, 10], [0, 0, 10, 10]], np.float64)
    curve = metrics.success_curve(gt, boxes)
    # IoUs 1, 1/3 and -1 (gt without size): thresholds 0 .. 0.30 -> 2/3, 0.35 .. 0.95 -> 1/3.
    thresholds = metrics.SUCCESS_THRESHOLDS
    expected = [(2 if t < 1 / 3 else 1 if t < 1 else 0) / 3 for t in thresholds]
    np.testing.assert_allclose(curve, expected)


def test_precision_on_crafted_offsets():
    gt = np.array([[100, 100, 20, 20]] * 3, np.float64)
    boxes = gt + np.array([[0, 0, 0, 0], [3, 4, 0, 0], [30, 40, 0, 0]])
    curve = metrics.precision_curve(gt, boxes)
    # distances 0, 5, 50
    assert curve[0] == pytest.approx(1 / 3)
    assert curve[4] == pytest.approx(1 / 3) and curve[5] == pytest.approx(2 / 3)
    assert curve[20] == pytest.approx(2 / 3) and curve[50] == pytest.approx(1.0)


def test_precision_quirk_non_positive_gt_centre_counts_as_hit():
    gt = np.array([[-30, 10, 20, 20]], np.float64)  # centre x = -20.5
    boxes = np.array([[200, 200, 20, 20]], np.float64)
    assert metrics.precision_curve(gt, boxes)[0] == 1.0


def test_norm_precision_divides_by_gt_size():
    gt = np.array([[100, 100, 50, 10]] * 2, np.float64)
    boxes = gt + np.array([[5, 0, 0, 0], [0, 3, 0, 0]])
    curve = metrics.norm_precision_curve(gt, boxes)
    # normalised distances 5/50 = 0.1 and 3/10 = 0.3 (up to float rounding at the threshold)
    assert curve[9] == 0 and curve[11] == pytest.approx(0.5)
    assert curve[20] == pytest.approx(0.5) and curve[29] == pytest.approx(0.5)
    assert curve[31] == pytest.approx(1.0)


def test_evaluate_mask_keeps_full_length_denominator():
    gt = np.array([[0, 0, 10, 10]] * 4, np.float64)
    boxes = gt.copy()
    mask = np.array([True, True, False, False])
    assert metrics.success_curve(gt, boxes, mask)[0] == pytest.approx(0.5)


def test_invalid_results_are_failures_not_crashes():
    gt = np.array([[0, 0, 10, 10]] * 4, np.float64)
    boxes = np.array([[0, 0, 10, 10], [np.nan] * 4, [0, 0, -5, 10], [0, 0, 10, 10]])
    assert metrics.invalid_result_frames(boxes).tolist() == [False, True, True, False]
    assert metrics.success_curve(gt, boxes)[0] == pytest.approx(0.5)
    assert metrics.precision_curve(gt, boxes)[50] == pytest.approx(0.5)


def test_ope_scores_average_over_videos():
    gt = np.array([[0, 0, 10, 10]] * 2, np.float64)
    far = gt + 100
    scores = metrics.ope_scores({"a": (gt, gt, None), "b": (gt, far, None)})
    assert scores["success_auc"] == pytest.approx((20 / 21) / 2)
    assert scores["precision"] == pytest.approx(0.5)
    assert scores["videos"]["b"]["success_auc"] == 0


def test_init_box_conventions():
    # OPE rectangle: centre x + w/2 -> shifted by +0.5 px.
    np.testing.assert_allclose(init_box([10, 20, 30, 40]), [10.5, 20.5, 30, 40])
    # VOT rectangle goes through the polygon path and stays unchanged.
    np.testing.assert_allclose(init_box([10, 20, 30, 40], vot_protocol=True), [10, 20, 30, 40])
    # A rotated square of side 10*sqrt(2): area 200, axis box 20x20 -> s = sqrt(0.5).
    diamond = [10, 0, 20, 10, 10, 20, 0, 10]
    side = np.sqrt(0.5) * 20 + 1
    np.testing.assert_allclose(init_box(diamond), [10 - (side - 1) / 2] * 2 + [side, side])
    np.testing.assert_allclose(region_to_rect(diamond), [0, 0, 20, 20])
