"""SiamRPN++ trackers with pysot's exact host logic (docs/parity.md §8.2-8.5).

    network = TrackerNetwork.from_config(config, variables)
    tracker = build_tracker(config, network)
    tracker.init(frame_bgr, (x, y, w, h))
    box_xywh, score = tracker.track(next_frame_bgr)

Frames are uint8 as OpenCV gives them: (H, W, 3) BGR, and also (H, W) or (H, W, 1)
grayscale and (H, W, 4) BGRA, converted to BGR (``as_bgr_frame``). Boxes are
[x, y, w, h] in frame pixels, x/y 0-based, at least one pixel wide and high.
The tracker holds host state only (centre, size, padding colour, template features);
cropping and post-processing run in numpy, the network in two jitted calls.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from siamjax.anchors import anchor_grid, hanning_window, score_size
from siamjax.tracking import postprocess
from siamjax.tracking.crop import as_bgr_frame, channel_average, context_size, get_subwindow


class BoxError(ValueError):
    """An initial box that cannot be tracked (below one pixel, NaN, outside the frame)."""


def validate_init_box(box_xywh, frame_hw, where: str = "init box") -> np.ndarray:
    """Returns ``box_xywh`` as float64 (4,) or raises ``BoxError`` naming the value.

    A box wider or higher than the frame is reduced to its part inside the frame: the
    tracker bounds the target to the frame on every later frame anyway (pysot's clip),
    and the crop around a box far larger than the frame would cost time and memory
    growing with its area for nothing but padding. Boxes within the frame's size are
    used as given (partly outside the frame included).
    """
    try:
        box = np.asarray(box_xywh, np.float64).reshape(4)
    except (TypeError, ValueError) as error:
        raise BoxError(f"{where} must be 4 numbers x,y,w,h, got {box_xywh!r}") from error
    if not np.all(np.isfinite(box)):
        raise BoxError(f"{where} {box.tolist()} contains NaN or infinity")
    if box[2] <= 0 or box[3] <= 0:
        raise BoxError(f"{where} {box.tolist()} has zero or negative size")
    if box[2] < 1 or box[3] < 1:
        raise BoxError(f"{where} {box.tolist()} is smaller than one pixel")
    height, width = frame_hw
    if box[0] >= width or box[1] >= height or box[0] + box[2] <= 0 or box[1] + box[3] <= 0:
        raise BoxError(f"{where} {box.tolist()} lies outside the {width}x{height} frame")
    if box[2] > width or box[3] > height:
        x1, y1 = max(box[0], 0.0), max(box[1], 0.0)
        x2, y2 = min(box[0] + box[2], float(width)), min(box[1] + box[3], float(height))
        box = np.array([x1, y1, x2 - x1, y2 - y1])
        if box[2] < 1 or box[3] < 1:
            raise BoxError(f"{where} {box.tolist()} is smaller than one pixel inside the frame")
    return box


@dataclasses.dataclass(frozen=True)
class TrackParams:
    """Tracker hyper-parameters (``config.track`` plus the anchor layout)."""

    exemplar_size: int
    instance_size: int
    base_size: int
    context_amount: float
    penalty_k: float
    window_influence: float
    lr: float
    stride: int
    ratios: tuple
    scales: tuple
    lost_instance_size: int = 831
    confidence_low: float = 0.85
    confidence_high: float = 0.998

    @classmethod
    def from_config(cls, config) -> TrackParams:
        track = config.track
        return cls(
            exemplar_size=int(track.exemplar_size),
            instance_size=int(track.instance_size),
            base_size=int(track.base_size),
            context_amount=float(track.context_amount),
            penalty_k=float(track.penalty_k),
            window_influence=float(track.window_influence),
            lr=float(track.lr),
            stride=int(config.anchor.stride),
            ratios=tuple(config.anchor.ratios),
            scales=tuple(config.anchor.scales),
            lost_instance_size=int(track.get("lost_instance_size", 831)),
            confidence_low=float(track.get("confidence_low", 0.85)),
            confidence_high=float(track.get("confidence_high", 0.998)),
        )

    @property
    def anchor_num(self) -> int:
        return len(self.ratios) * len(self.scales)


class _Geometry:
    """Anchors and window for one search size, cached per size."""

    def __init__(self, params: TrackParams):
        self._params = params
        self._cache = {}

    def __call__(self, instance_size: int):
        if instance_size not in self._cache:
            p = self._params
            size = score_size(instance_size, p.exemplar_size, p.stride, p.base_size)
            anchors = anchor_grid(size, p.stride, p.ratios, p.scales)
            window = hanning_window(size, p.anchor_num)
            self._cache[instance_size] = (anchors, window)
        return self._cache[instance_size]


@dataclasses.dataclass
class TargetState:
    """Host state of one tracked target."""

    centre: np.ndarray  # (cx, cy) float64
    size: np.ndarray  # (w, h) float64
    average: np.ndarray  # (3,) padding colour
    lost: bool = False


class SiamRPNTracker:
    """pysot's SiamRPNTracker: ``init(frame, box)``, ``track(frame) -> (box_xywh, score)``."""

    long_term = False

    def __init__(self, network, params: TrackParams):
        self.network = network
        self.params = params
        self.geometry = _Geometry(params)
        self.state: TargetState | None = None
        self.template_features = None

    # -- the pieces, shared with BatchedTracker ------------------------------------------
    def init_state(self, frame_bgr: np.ndarray, box_xywh) -> tuple[TargetState, np.ndarray]:
        """Validates the box; returns the state and the (127, 127, 3) template crop."""
        frame_bgr = as_bgr_frame(frame_bgr)
        box = validate_init_box(box_xywh, frame_bgr.shape[:2])
        state = TargetState(
            centre=np.array([box[0] + (box[2] - 1) / 2, box[1] + (box[3] - 1) / 2]),
            size=np.array([box[2], box[3]]),
            average=channel_average(frame_bgr),
        )
        # Python round: half to even, as the reference.
        side = round(context_size(state.size, self.params.context_amount))
        crop = get_subwindow(
            frame_bgr, state.centre, self.params.exemplar_size, side, state.average
        )
        return state, crop

    def instance_size(self, state: TargetState) -> int:
        return self.params.lost_instance_size if state.lost else self.params.instance_size

    def search_crop(self, frame_bgr: np.ndarray, state: TargetState):
        """Returns (crop (X, X, 3), scale_z) for the state's search region."""
        frame_bgr = as_bgr_frame(frame_bgr)
        s_z = context_size(state.size, self.params.context_amount)
        scale_z = self.params.exemplar_size / s_z
        instance = self.instance_size(state)
        s_x = s_z * instance / self.params.exemplar_size
        crop = get_subwindow(frame_bgr, state.centre, instance, round(s_x), state.average)
        return crop, scale_z

    def window_influence(self, state: TargetState) -> float:
        return self.params.window_influence

    def candidate(self, state: TargetState, scores, deltas, scale_z) -> postprocess.Candidate:
        """Best anchor for one frame's (S, S, A, 2) scores and (S, S, A, 4) deltas."""
        anchors, window = self.geometry(self.instance_size(state))
        return postprocess.select_candidate(
            scores,
            deltas,
            anchors,
            window,
            state.size,
            scale_z,
            self.params.penalty_k,
            self.window_influence(state),
            self.params.lr,
        )

    def update_state(self, state, frame_hw, scores, deltas, scale_z):
        """One frame's post-processing; returns (new state, box_xywh, score)."""
        candidate = self.candidate(state, scores, deltas, scale_z)
        centre, size = postprocess.smooth_state(state.centre, state.size, candidate)
        centre, size = postprocess.clip_state(centre, size, frame_hw)
        new_state = dataclasses.replace(state, centre=centre, size=size)
        return new_state, postprocess.state_to_xywh(centre, size), candidate.score

    # -- public API ----------------------------------------------------------------------
    def init(self, frame_bgr: np.ndarray, box_xywh) -> None:
        self.state, crop = self.init_state(frame_bgr, box_xywh)
        self.template_features = self.network.template(crop[None])

    def track(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, float]:
        if self.state is None:
            raise RuntimeError("call init(frame, box) before track(frame)")
        crop, scale_z = self.search_crop(frame_bgr, self.state)
        scores, deltas = self.network.search(self.template_features, crop[None])
        self.state, box, score = self.update_state(
            self.state, frame_bgr.shape[:2], scores[0], deltas[0], scale_z
        )
        return box, score


class SiamRPNLTTracker(SiamRPNTracker):
    """pysot's long-term tracker: 831 search and hysteresis when lost (docs/parity.md §8.5)."""

    long_term = True
    lost_window_influence = 0.001

    def window_influence(self, state: TargetState) -> float:
        return self.lost_window_influence if state.lost else self.params.window_influence

    def update_state(self, state, frame_hw, scores, deltas, scale_z):
        candidate = self.candidate(state, scores, deltas, scale_z)
        if candidate.score >= self.params.confidence_low:
            centre, size = postprocess.smooth_state(state.centre, state.size, candidate)
        else:
            centre, size = state.centre.copy(), state.size.copy()
        # The state keeps the unclipped values; only the returned box is clipped.
        clipped_centre, clipped_size = postprocess.clip_state(centre, size, frame_hw)
        lost = state.lost
        if candidate.score < self.params.confidence_low:
            lost = True
        elif candidate.score > self.params.confidence_high:
            lost = False
        new_state = dataclasses.replace(state, centre=centre, size=size, lost=lost)
        return new_state, postprocess.state_to_xywh(clipped_centre, clipped_size), candidate.score


TRACKERS = {"siamrpn": SiamRPNTracker, "siamrpn_lt": SiamRPNLTTracker}


def build_tracker(config, network):
    """The tracker class ``config.track.type`` names, with the config's parameters."""
    try:
        tracker_class = TRACKERS[config.track.type]
    except KeyError:
        raise ValueError(
            f"config.track.type {config.track.type!r} is not one of {sorted(TRACKERS)}"
        ) from None
    return tracker_class(network, TrackParams.from_config(config))
