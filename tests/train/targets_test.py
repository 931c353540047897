import jax
import jax.numpy as jnp
import numpy as np

from siamjax.train.targets import TargetConfig, batch_targets, sample_targets, training_anchors

CONFIG = TargetConfig()  # pysot: 255 search, 25x25 scores, 5 ratios


def _targets(box, negative=False, seed=0):
    rng = np.random.default_rng(seed)
    keys = rng.uniform(size=(2, 25, 25, 5)).astype(np.float32)
    return sample_targets(CONFIG, jnp.asarray(box, jnp.float32), jnp.asarray(negative),
                          keys[0], keys[1]), keys  # fmt: skip


def test_training_anchors_are_centred_on_the_crop_centre():
    corner, centre = training_anchors(CONFIG)
    assert centre.shape == (25, 25, 5, 4)
    np.testing.assert_array_equal(centre[0, 0, :, :2], [[31, 31]] * 5)
    np.testing.assert_array_equal(centre[24, 24, :, :2], [[223, 223]] * 5)
    np.testing.assert_array_equal(centre[3, 7, 2, :2], [31 + 8 * 7, 31 + 8 * 3])
    # ratio 1 anchor: 64x64 (stride 8 * scale 8)
    np.testing.assert_array_equal(centre[0, 0, 2, 2:], [64, 64])
    np.testing.assert_array_equal(corner[12, 12, 2], [127 - 32, 127 - 32, 127 + 32, 127 + 32])


def test_a_box_equal_to_an_anchor_is_positive_with_zero_delta():
    targets, _ = _targets([95.0, 95.0, 159.0, 159.0])  # the centre 64x64 anchor
    label = np.asarray(targets.label)
    assert label[12, 12, 2] == 1
    np.testing.assert_allclose(np.asarray(targets.delta)[12, 12, 2], 0.0, atol=1e-6)
    positives = label == 1
    assert 1 <= positives.sum() <= 16
    assert (label == 0).sum() == 48  # plenty of anchors below 0.3: capped at 64 - 16
    weights = np.asarray(targets.delta_weight)
    np.testing.assert_allclose(weights[positives], 1 / (positives.sum() + 1e-6), rtol=1e-6)
    assert weights[~positives].sum() == 0
    # delta encoding for a neighbouring anchor: (tcx - cx) / w, log(tw / w)
    np.testing.assert_allclose(
        np.asarray(targets.delta)[12, 13, 2], [(127 - 135) / 64, 0.0, 0.0, 0.0], atol=1e-6
    )


def test_positives_are_a_random_subset_chosen_by_the_smallest_keys():
    # 9 anchors exceed 0.6 IoU for a centred 64x64 box; keep 4 to exercise the subset
    small = CONFIG._replace(pos_num=4)
    box = jnp.asarray([95.0, 95.0, 159.0, 159.0])
    corner, _ = training_anchors(CONFIG)
    x1 = np.maximum(corner[..., 0], 95.0)
    x2 = np.minimum(corner[..., 2], 159.0)
    y1 = np.maximum(corner[..., 1], 95.0)
    y2 = np.minimum(corner[..., 3], 159.0)
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (corner[..., 2] - corner[..., 0]) * (corner[..., 3] - corner[..., 1])
    eligible = inter / (area + 64 * 64 - inter) > 0.6
    assert eligible.sum() == 9
    counts = np.zeros(eligible.shape)
    for seed in range(300):
        keys = np.random.default_rng(seed).uniform(size=(2, 25, 25, 5)).astype(np.float32)
        label = np.asarray(sample_targets(small, box, jnp.asarray(False), keys[0], keys[1]).label)
        chosen = label == 1
        expected = np.zeros_like(eligible)
        expected.flat[np.argsort(np.where(eligible, keys[0], np.inf), axis=None)[:4]] = True
        np.testing.assert_array_equal(chosen, expected)
        assert (label == 0).sum() == 60  # negatives capped at total_num - pos_num
        counts += chosen
    # uniform: every eligible anchor is kept with probability 4/9
    rate = counts[eligible] / 300
    assert np.all(np.abs(rate - 4 / 9) < 0.1), rate


def test_negative_pair_labels_sixteen_zeros_in_the_seven_by_seven_block():
    targets, _ = _targets([107.0, 107.0, 147.0, 147.0], negative=True)
    label = np.asarray(targets.label)
    assert (label == 1).sum() == 0 and (label == 0).sum() == 16
    rows, cols, _ = np.nonzero(label == 0)
    # centre 127: column 12 + ceil(0 + 0.5) = 13 -> block [10, 17) (pysot's quirk)
    assert rows.min() >= 10 and rows.max() < 17 and cols.min() >= 10 and cols.max() < 17
    assert np.asarray(targets.delta_weight).sum() == 0
    assert np.asarray(targets.delta).sum() == 0


def test_negative_block_is_clipped_at_the_border():
    targets, _ = _targets([0.0, 0.0, 10.0, 10.0], negative=True)
    rows, cols, _ = np.nonzero(np.asarray(targets.label) == 0)
    # centre 5: 12 + ceil(-122/8 + 0.5) = 12 - 14 = -2 -> block [0, 2)
    assert rows.max() < 2 and cols.max() < 2 and len(rows) <= 16
    assert len(rows) == min(16, 2 * 2 * 5)


def test_batch_targets_are_jittable_with_fixed_shapes():
    boxes = jnp.asarray([[95, 95, 159, 159], [60, 80, 120, 200]], jnp.float32)
    negative = jnp.asarray([False, True])
    targets = jax.jit(lambda b, n, k: batch_targets(CONFIG, b, n, k))(
        boxes, negative, jax.random.key(0)
    )
    assert targets.label.shape == (2, 25, 25, 5) and targets.delta.shape == (2, 25, 25, 5, 4)
    assert int((targets.label[1] == 1).sum()) == 0
