"""Head layout <-> pysot channel layout (docs/parity.md §3.5), and the neck's template crop."""

import jax.numpy as jnp
import numpy as np

from siamjax.models.layout import from_pysot_layout, split_channels, to_pysot_layout
from siamjax.models.neck import center_crop


def test_pysot_channel_index_is_kind_major():
    anchors, side = 5, 3
    cls = np.arange(2 * anchors * side * side, dtype=np.float32).reshape(1, 2 * anchors, side, side)
    loc = np.random.default_rng(0).normal(size=(1, 4 * anchors, side, side)).astype(np.float32)
    scores, deltas = from_pysot_layout(cls, loc)
    assert scores.shape == (1, side, side, anchors, 2)
    # channel k*A + a at row y, column x
    for k in range(2):
        for a in range(anchors):
            np.testing.assert_array_equal(scores[0, :, :, a, k], cls[0, k * anchors + a])
    for j in range(4):
        for a in range(anchors):
            np.testing.assert_array_equal(deltas[0, :, :, a, j], loc[0, j * anchors + a])
    back_cls, back_loc = to_pysot_layout(scores, deltas)
    np.testing.assert_array_equal(back_cls, cls)
    np.testing.assert_array_equal(back_loc, loc)


def test_split_channels_rejects_wrong_channel_count():
    try:
        split_channels(jnp.zeros((1, 2, 2, 9)), 5, 2)
    except ValueError as error:
        assert "expected 10 channels" in str(error)
    else:
        raise AssertionError("no error")


def test_center_crop_takes_indices_4_to_10_of_15():
    x = jnp.arange(15.0)[None, :, None, None] * 100 + jnp.arange(15.0)[None, None, :, None]
    cropped = center_crop(x, 7)
    assert cropped.shape == (1, 7, 7, 1)
    assert float(cropped[0, 0, 0, 0]) == 404.0
    assert float(cropped[0, -1, -1, 0]) == 1010.0
    wide = jnp.zeros((1, 31, 31, 2))
    assert center_crop(wide, 7).shape == wide.shape
