import jax
import numpy as np
import pytest

from siamjax.config_loader import apply_overrides, load_config
from siamjax.models import build_model, init_variables
from siamjax.tracking import (
    BatchedTracker,
    BoxError,
    SiamRPNLTTracker,
    SiamRPNTracker,
    TrackerNetwork,
    build_tracker,
)
from siamjax.tracking.crop import context_size
from siamjax.tracking.tracker import TrackParams
from tests.conftest import config_path


class PeakNetwork:
    """A fake network whose foreground score peaks at one (y, x, anchor) cell, zero deltas."""

    def __init__(self, cell, peak_logit=10.0):
        self.cell = cell
        self.peak_logit = peak_logit
        self.search_sizes = []

    def template(self, crops):
        return np.zeros((len(crops), 1), np.float32)

    def search(self, features, crops):
        batch, instance = crops.shape[0], crops.shape[1]
        self.search_sizes.append(instance)
        size = (instance - 127) // 8 + 1 + 8
        scores = np.zeros((batch, size, size, 5, 2), np.float32)
        scores[..., 1] = -10.0
        y, x, anchor = self.cell
        scores[:, y + (size - 25) // 2, x + (size - 25) // 2, anchor, 1] = self.peak_logit
        return scores, np.zeros((batch, size, size, 5, 4), np.float32)


def _params(**changes):
    values = dict(
        exemplar_size=127,
        instance_size=255,
        base_size=8,
        context_amount=0.5,
        penalty_k=0.0,
        window_influence=0.0,
        lr=0.5,
        stride=8,
        ratios=(0.33, 0.5, 1.0, 2.0, 3.0),
        scales=(8.0,),
        confidence_low=0.8,
        confidence_high=0.998,
    )
    values.update(changes)
    return TrackParams(**values)


def _frame(height=240, width=320, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_init_uses_pysot_centre_convention():
    tracker = SiamRPNTracker(PeakNetwork((12, 12, 2)), _params())
    tracker.init(_frame(), (100, 50, 40, 30))
    np.testing.assert_allclose(tracker.state.centre, [119.5, 64.5])
    np.testing.assert_allclose(tracker.state.size, [40, 30])


def test_track_moves_to_the_peak_anchor_and_smooths_the_size():
    # Peak two cells right of centre on the 64x64 anchor: offset 16 crop px, size 64x64.
    tracker = SiamRPNTracker(PeakNetwork((12, 14, 2)), _params())
    tracker.init(_frame(), (100, 50, 40, 30))
    scale_z = 127 / context_size((40, 30), 0.5)
    box, score = tracker.track(_frame(seed=1))
    score_expected = np.exp(10.0) / (1 + np.exp(10.0))
    assert score == pytest.approx(score_expected, rel=1e-6)
    lr = score_expected * 0.5
    width = 40 * (1 - lr) + 64 / scale_z * lr
    height = 30 * (1 - lr) + 64 / scale_z * lr
    centre_x = 119.5 + 16 / scale_z
    np.testing.assert_allclose(
        box, [centre_x - width / 2, 64.5 - height / 2, width, height], rtol=1e-6
    )


def test_track_clips_centre_and_minimum_size():
    tracker = SiamRPNTracker(PeakNetwork((0, 0, 0)), _params(lr=1.0))
    tracker.init(_frame(), (0, 0, 12, 12))
    box, _ = tracker.track(_frame())
    centre_x, centre_y = box[0] + box[2] / 2, box[1] + box[3] / 2
    assert centre_x == 0 and centre_y == 0
    assert box[2] >= 10 and box[3] >= 10


@pytest.mark.parametrize(
    "box,message",
    [
        ((10, 10, 0, 5), "zero or negative size"),
        ((10, 10, float("nan"), 5), "NaN"),
        ((400, 10, 20, 20), "outside"),
        ((1, 2, 3), "4 numbers"),
    ],
)
def test_bad_init_boxes_are_rejected_with_their_value(box, message):
    tracker = SiamRPNTracker(PeakNetwork((12, 12, 2)), _params())
    with pytest.raises(BoxError, match=message):
        tracker.init(_frame(), box)


def test_long_term_tracker_hysteresis_and_lost_search_size():
    # The foreground probability at the peak is sigmoid(peak_logit).
    network = PeakNetwork((12, 12, 2))
    tracker = SiamRPNLTTracker(network, _params())
    tracker.init(_frame(), (100, 50, 40, 30))
    network.peak_logit = 1.0  # 0.73 < 0.8: lost, state kept
    centre = tracker.state.centre.copy()
    tracker.track(_frame())
    assert tracker.state.lost and network.search_sizes[-1] == 255
    np.testing.assert_array_equal(tracker.state.centre, centre)
    network.peak_logit = 2.5  # 0.92: between the thresholds, stays lost, searches 831
    tracker.track(_frame())
    assert tracker.state.lost and network.search_sizes[-1] == 831
    network.peak_logit = 10.0  # 0.99995 > 0.998: found again
    tracker.track(_frame())
    assert not tracker.state.lost and network.search_sizes[-1] == 831
    tracker.track(_frame())
    assert network.search_sizes[-1] == 255


def test_long_term_state_is_not_clipped():
    network = PeakNetwork((0, 0, 0))
    tracker = SiamRPNLTTracker(network, _params(lr=1.0))
    tracker.init(_frame(), (0, 0, 12, 12))
    box, score = tracker.track(_frame())
    assert score >= 0.8
    assert tracker.state.centre[0] < 0  # the state left the frame, the box did not
    assert box[0] + box[2] / 2 == 0


def _synthetic_sequence(length=5, height=200, width=260, seed=0):
    rng = np.random.default_rng(seed)
    background = rng.integers(0, 120, (height, width, 3), dtype=np.uint8)
    patch = rng.integers(130, 256, (40, 30, 3), dtype=np.uint8)
    frames, boxes = [], []
    for index in range(length):
        frame = background.copy()
        x, y = 60 + 7 * index, 50 + 4 * index
        frame[y : y + 40, x : x + 30] = patch
        frames.append(frame)
        boxes.append((x, y, 30, 40))
    return frames, boxes


@pytest.fixture(scope="module")
def alex_network():
    config = load_config(config_path("siamrpn_alex_dwxcorr"))
    model = build_model(config.model)
    variables = init_variables(model, jax.random.key(0), 127, config.track.instance_size)
    return config, TrackerNetwork(model, variables)


def test_batched_tracker_matches_separate_trackers(alex_network):
    config, network = alex_network
    sequences = [_synthetic_sequence(length, seed=seed) for seed, length in ((0, 5), (1, 3))]
    separate = []
    for frames, boxes in sequences:
        tracker = build_tracker(config, network)
        tracker.init(frames[0], boxes[0])
        separate.append([tracker.track(frame) for frame in frames[1:]])

    batched = BatchedTracker(build_tracker(config, network), batch_size=3)
    batched.init({slot: (frames[0], boxes[0]) for slot, (frames, boxes) in enumerate(sequences)})
    together = [[], []]
    for step in range(1, 5):
        frames = {
            slot: sequences[slot][0][step] for slot in range(2) if step < len(sequences[slot][0])
        }
        for slot, result in batched.track(frames).items():
            together[slot].append(result)
    for slot in range(2):
        assert len(together[slot]) == len(separate[slot])
        for (box_a, score_a), (box_b, score_b) in zip(separate[slot], together[slot]):
            np.testing.assert_allclose(box_a, box_b, atol=1e-3)
            assert score_a == pytest.approx(score_b, abs=1e-5)


def test_batched_tracker_rejects_unknown_slots(alex_network):
    config, network = alex_network
    batched = BatchedTracker(build_tracker(config, network), batch_size=2)
    with pytest.raises(IndexError, match="slot 2"):
        batched.init({2: (_frame(), (1, 1, 20, 20))})
    with pytest.raises(RuntimeError, match="slot 1 was not initialised"):
        batched.track({1: _frame()})


def test_build_tracker_reads_the_config_type():
    config = load_config(config_path("siamrpn_r50_l234_dwxcorr_lt"))
    tracker = build_tracker(config, PeakNetwork((12, 12, 2)))
    assert isinstance(tracker, SiamRPNLTTracker)
    assert tracker.params.window_influence == config.track.window_influence
    bad = apply_overrides(config, ["track.type=kcf"])
    with pytest.raises(ValueError, match="kcf"):
        build_tracker(bad, PeakNetwork((12, 12, 2)))


@pytest.mark.parametrize("kind", ["siamrpn", "siamrpn_lt"])
def test_multi_target_tracker_gives_each_target_its_single_run(alex_network, kind):
    """Three targets of one video in one network call per frame: each target's boxes and
    scores are those of a single tracker on it (short-term and long-term, whose lost /
    found state is per target)."""
    from siamjax.tracking import MultiTargetTracker

    config, network = alex_network
    config = apply_overrides(config, [f"track.type={kind}"])
    # The long-term tracker's lost targets search at 831: fewer frames keep it short.
    frames, boxes = _synthetic_sequence(6 if kind == "siamrpn" else 3, seed=3)
    inits = [boxes[0], (150, 120, 40, 30), (20, 150, 24, 36)]
    separate = []
    for box in inits:
        tracker = build_tracker(config, network)
        tracker.init(frames[0], box)
        separate.append([tracker.track(frame) for frame in frames[1:]])
    multi = MultiTargetTracker(build_tracker(config, network))
    multi.init(frames[0], inits)
    assert multi.targets == 3
    together = [multi.track(frame) for frame in frames[1:]]
    if kind == "siamrpn_lt":  # random weights: some targets are lost, and found again or not
        assert any(state.lost for state in multi.state)
    for target in range(3):
        for step, (box, score) in enumerate(separate[target]):
            np.testing.assert_allclose(together[step][target][0], box, atol=1e-3)
            assert together[step][target][1] == pytest.approx(score, abs=1e-5)
    with pytest.raises(BoxError, match="init box of target 1"):
        multi.init(frames[0], [inits[0], (0, 0, 0, 5)])
    with pytest.raises(RuntimeError, match="call init"):
        MultiTargetTracker(build_tracker(config, network)).track(frames[0])
