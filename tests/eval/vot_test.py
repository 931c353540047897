import numpy as np
import pytest

from siamjax.datasets.benchmark_layout import Video
from siamjax.eval import results, vot_metrics
from siamjax.eval.region import vot_overlap
from siamjax.eval.runner import run_sequential


def test_region_overlap_hand_values():
    assert vot_overlap([0, 0, 10, 10], [0, 0, 10, 10]) == 1.0
    # Rasterised on the integer grid: [0, 10] covers 11 columns, [5, 15] overlaps on 6.
    assert vot_overlap([0, 0, 10, 10], [5, 0, 10, 10]) == pytest.approx(66 / 176)
    assert vot_overlap([0, 0, 10, 10], [50, 50, 10, 10]) == 0.0
    assert np.isnan(vot_overlap([2], [0, 0, 10, 10]))
    # Regions below and above the bounds with overlapping clipped boxes: both masks are
    # empty and the C library returns 0/0 (values checked against pysot's extension).
    assert np.isnan(vot_overlap([48, 340, 135, 186], [144, -25, 185, 13], (319, 239)))
    assert vot_overlap([400, 400, 10, 10], [405, 400, 10, 10], (320, 240)) == 0.0
    square = [0, 0, 10, 0, 10, 10, 0, 10]
    assert vot_overlap(square, [0, 0, 10, 10]) == 1.0


def test_robustness_and_accuracy_on_crafted_failures():
    gt = [[0, 0, 10, 10]] * 100
    first = [[1]] + [[0, 0, 10, 10]] * 20 + [[2]] + [[0]] * 4 + [[1]] + [[0, 0, 10, 10]] * 73
    second = [[1]] + [[2]] + [[0]] * 4 + [[1]] + [[2]] + [[0]] * 4 + [[1]] + [[0, 0, 10, 10]] * 37
    scores = vot_metrics.accuracy_robustness(
        {"a": ([first], gt, (320, 240)), "b": ([second], gt[:50], (320, 240))}
    )
    assert scores["lost_number"] == 3
    assert scores["robustness"] == pytest.approx(3 / 150 * 100)
    assert scores["accuracy"] == 1.0  # every evaluated (post burn-in) frame is exact


def test_eao_on_crafted_fragments():
    gt = [[0, 0, 10, 10]] * 12
    half = [0, 0, 5, 10]  # rasterised overlap 66 / 121
    value = 66 / 121
    # Without failures: Φ(i) = value for every i >= 1 up to the length.
    trajectory = [[1]] + [half] * 11
    result = vot_metrics.eao({"v": ([trajectory], gt, (321, 241))}, low_high=(2, 11))
    assert result["eao"] == pytest.approx(value, rel=1e-6)
    # A failure at frame 2: fragment 1 = overlaps[0..7] then zeros; fragment 2 from 7 on.
    failing = [[1], half, [2], [0], [0], [0], [0], [1]] + [half] * 4
    result = vot_metrics.eao({"v": ([failing], gt, (321, 241))}, low_high=(2, 3))
    # Φ(1) = mean of fragments' column 1: (value + value) / 2; Φ(2) = ((value+0)/2 + value)/2
    curve = result["curve"]
    assert curve[1] == pytest.approx(value, rel=1e-6)
    assert curve[2] == pytest.approx((value / 2 + value) / 2, rel=1e-6)
    assert result["eao"] == pytest.approx((curve[1] + curve[2]) / 2, rel=1e-6)


class ScriptedTracker:
    """Returns the ground truth, except far away on the frames listed in ``fail_on``.

    Each test frame is filled with its index, so the tracker knows where it is even though
    the runner does not call it on the frames skipped after a failure.
    """

    def __init__(self, gt, fail_on):
        self.gt, self.fail_on = gt, set(fail_on)
        self.inits = []

    def init(self, frame, box):
        self.inits.append(int(frame[0, 0, 0]))

    def track(self, frame):
        index = int(frame[0, 0, 0])
        box = np.array(self.gt[index], float)
        if index in self.fail_on:
            box[:2] += 500
        return box, 0.9


def test_vot_reset_protocol_codes(tmp_path):
    import cv2

    paths = []
    for index in range(16):
        path = str(tmp_path / f"{index + 1:08d}.png")
        cv2.imwrite(path, np.full((240, 320, 3), index, np.uint8))
        paths.append(path)
    gt = np.tile([50.0, 50.0, 40.0, 30.0], (16, 1))
    tracker = ScriptedTracker(gt, fail_on={3, 10})
    run_sequential(tracker, [Video("clip", paths, gt)], str(tmp_path / "out"), "VOT2018", False)
    entries = results.read_trajectory(str(tmp_path / "out"), "VOT2018", "clip", 16)
    codes = [entry[0] if len(entry) == 1 else "box" for entry in entries]
    assert codes == [1, "box", "box", 2, 0, 0, 0, 0, 1, "box", 2, 0, 0, 0, 0, 1]
    assert tracker.inits == [0, 8, 15]
    np.testing.assert_allclose(entries[1], [50, 50, 40, 30])
