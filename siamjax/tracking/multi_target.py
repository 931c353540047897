"""Several targets of one video, one network call per frame.

    tracker = MultiTargetTracker(build_tracker(config, network))
    tracker.init(first_frame, [(x, y, w, h), (x, y, w, h)])
    for frame in frames:
        results = tracker.track(frame)     # [(box_xywh, score), ...], one per target

Each target keeps its own state (position, size, the long-term tracker's lost / found),
exactly the single tracker's; the crops of all targets go through the network together
(``BatchedTracker``, one call per search size), so each target's boxes are those of a
single-target run of it up to the float rounding of a batched convolution. pysot tracks
one target per tracker.
"""

from __future__ import annotations

import numpy as np

from siamjax.tracking.batched import BatchedTracker
from siamjax.tracking.tracker import BoxError, validate_init_box


class MultiTargetTracker:
    """``init(frame, boxes_xywh)`` / ``track(frame) -> [(box_xywh, score), ...]`` over a
    single-target ``tracker``'s network, parameters and host logic."""

    def __init__(self, tracker):
        self.tracker = tracker
        self.network = tracker.network
        self.params = tracker.params
        self._batched = None

    @property
    def targets(self) -> int:
        return 0 if self._batched is None else self._batched.batch_size

    def init(self, frame_bgr: np.ndarray, boxes_xywh) -> None:
        """Starts tracking every box of ``boxes_xywh`` ((N, 4) x, y, w, h in pixels of
        ``frame_bgr``); a bad box is rejected with its index and value."""
        boxes = [tuple(box) for box in boxes_xywh]
        if not boxes:
            raise BoxError("no init boxes: give at least one x,y,w,h")
        batched = BatchedTracker(self.tracker, batch_size=len(boxes))
        frame_hw = np.shape(frame_bgr)[:2]
        for index, box in enumerate(boxes):
            validate_init_box(box, frame_hw, where=f"init box of target {index}")
        batched.init({index: (frame_bgr, box) for index, box in enumerate(boxes)})
        self._batched = batched

    @property
    def state(self) -> list:
        """Every target's host state (a copy of the list; assign it back to rewind)."""
        return list(self._batched.states)

    @state.setter
    def state(self, states) -> None:
        self._batched.states = list(states)

    def track(self, frame_bgr: np.ndarray) -> list:
        """``[(box_xywh, score), ...]`` in the order of the init boxes."""
        if self._batched is None:
            raise RuntimeError("call init(frame, boxes) before track(frame)")
        results = self._batched.track(dict.fromkeys(range(self.targets), frame_bgr))
        return [results[index] for index in range(self.targets)]
