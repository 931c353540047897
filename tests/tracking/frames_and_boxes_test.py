"""Frames as OpenCV users feed them (gray, (H, W, 1), BGRA), sub-pixel boxes and boxes
far larger than the frame: clear errors or bounded work, never a broadcast error."""

import time

import cv2
import numpy as np
import pytest

from siamjax.tracking import BatchedTracker, BoxError, FrameError, SiamRPNTracker, as_bgr_frame
from tests.tracking.tracker_test import PeakNetwork, _frame, _params


def _layouts(frame_bgr):
    gray = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
    return {
        "gray": (gray, cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)),
        "gray_hw1": (gray[:, :, None], cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)),
        "bgra": (cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2BGRA), frame_bgr),
    }


@pytest.mark.parametrize("layout", ["gray", "gray_hw1", "bgra"])
@pytest.mark.parametrize("box", [(100, 50, 40, 30), (0, 0, 30, 30), (300, 220, 40, 40)])
def test_frame_layouts_track_like_their_bgr_conversion(layout, box):
    """Inside the frame and across its borders (padding uses the channel mean)."""
    frames = [_layouts(_frame(seed=seed))[layout] for seed in range(3)]
    results = {}
    for name, index in ((layout, 0), ("bgr", 1)):  # the raw layout, its BGR conversion
        tracker = SiamRPNTracker(PeakNetwork((12, 13, 2)), _params())
        tracker.init(frames[0][index], box)
        results[name] = [tracker.track(frame[index]) for frame in frames[1:]]
    for (box_a, score_a), (box_b, score_b) in zip(results[layout], results["bgr"]):
        np.testing.assert_array_equal(box_a, box_b)
        assert score_a == score_b


def test_batched_tracker_takes_gray_frames():
    batched = BatchedTracker(SiamRPNTracker(PeakNetwork((12, 12, 2)), _params()), 2)
    gray = cv2.cvtColor(_frame(), cv2.COLOR_BGR2GRAY)
    batched.init({0: (gray, (100, 50, 40, 30)), 1: (_frame(), (10, 10, 40, 30))})
    results = batched.track({0: gray, 1: _frame(seed=3)})
    assert set(results) == {0, 1}


@pytest.mark.parametrize(
    "frame,message",
    [
        (np.zeros((20, 20, 3), np.float32), "dtype float32"),
        (np.zeros((20, 20, 2), np.uint8), "2 channels"),
        (np.zeros((4, 20, 20, 3), np.uint8), "shape \\(4, 20, 20, 3\\)"),
        (np.zeros((0, 20, 3), np.uint8), "shape \\(0, 20, 3\\)"),
    ],
)
def test_unreadable_frames_are_a_frame_error(frame, message):
    with pytest.raises(FrameError, match=message):
        as_bgr_frame(frame)
    tracker = SiamRPNTracker(PeakNetwork((12, 12, 2)), _params())
    with pytest.raises(FrameError):
        tracker.init(frame, (1, 1, 5, 5))


@pytest.mark.parametrize("box", [(10, 10, 0.2, 0.2), (10, 10, 0.5, 40), (10, 10, 40, 0.99)])
def test_boxes_below_one_pixel_are_a_box_error(box):
    tracker = SiamRPNTracker(PeakNetwork((12, 12, 2)), _params())
    with pytest.raises(BoxError, match="smaller than one pixel"):
        tracker.init(_frame(), box)


@pytest.mark.parametrize("side", [10_000, 30_000, 1e9])
def test_a_box_far_larger_than_the_frame_is_bounded_to_it(side):
    frame = _frame(100, 100)
    tracker = SiamRPNTracker(PeakNetwork((12, 12, 2)), _params())
    started = time.perf_counter()
    tracker.init(frame, (0, 0, side, side))
    tracker.track(frame)
    assert time.perf_counter() - started < 2.0
    np.testing.assert_allclose(tracker.state.size, [100, 100], atol=50)
    # A box within the frame's size is used as given, even partly outside it (pysot).
    tracker.init(frame, (-20, -20, 60, 60))
    np.testing.assert_allclose(tracker.state.size, [60, 60])
