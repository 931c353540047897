"""Trackers on the host: crops, post-processing, single, multi-target and batched trackers."""

from siamjax.tracking.batched import BatchedTracker
from siamjax.tracking.crop import FrameError, as_bgr_frame
from siamjax.tracking.multi_target import MultiTargetTracker
from siamjax.tracking.network import TrackerNetwork
from siamjax.tracking.tracker import (
    BoxError,
    SiamRPNLTTracker,
    SiamRPNTracker,
    build_tracker,
    validate_init_box,
)

__all__ = [
    "BatchedTracker",
    "BoxError",
    "FrameError",
    "MultiTargetTracker",
    "SiamRPNLTTracker",
    "SiamRPNTracker",
    "TrackerNetwork",
    "as_bgr_frame",
    "build_tracker",
    "validate_init_box",
]
