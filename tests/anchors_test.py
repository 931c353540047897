import numpy as np
import pytest

from siamjax.anchors import (
    anchor_grid,
    base_anchor_sizes,
    centre_to_corner,
    flat_pysot_order,
    hanning_window,
    score_size,
)

RATIOS = (0.33, 0.5, 1.0, 2.0, 3.0)


def test_base_anchor_sizes_are_truncated_as_in_the_spec():
    sizes = base_anchor_sizes(8, RATIOS, (8,))
    expected = [(104, 32), (88, 40), (64, 64), (40, 80), (32, 96)]
    np.testing.assert_array_equal(sizes, np.asarray(expected, np.float32))


@pytest.mark.parametrize(
    "instance,base,expected", [(255, 8, 25), (831, 8, 97), (287, 0, 21), (255, 0, 17)]
)
def test_score_size(instance, base, expected):
    assert score_size(instance, 127, 8, base) == expected


def test_tracker_grid_is_centred_on_zero():
    grid = anchor_grid(25, 8, RATIOS, (8,))
    assert grid.shape == (25, 25, 5, 4)
    assert grid[0, 0, 0, 0] == -96 and grid[0, 24, 0, 0] == 96
    assert grid[3, 7, 2, 1] == -96 + 8 * 3 and grid[3, 7, 2, 0] == -96 + 8 * 7
    np.testing.assert_array_equal(grid[5, 5, :, 2:], base_anchor_sizes(8, RATIOS, (8,)))


def test_training_grid_origin_is_31():
    grid = anchor_grid(25, 8, RATIOS, (8,), centre=127)
    assert grid[0, 0, 0, 0] == 31 and grid[24, 24, 0, 1] == 223
    corners = centre_to_corner(grid)
    np.testing.assert_array_equal(corners[0, 0, 0], [31 - 52, 31 - 16, 31 + 52, 31 + 16])


def test_flat_pysot_order_is_anchor_row_column():
    size, anchors = 3, 2
    values = np.zeros((size, size, anchors, 1))
    for y in range(size):
        for x in range(size):
            for a in range(anchors):
                values[y, x, a, 0] = a * size * size + y * size + x
    np.testing.assert_array_equal(flat_pysot_order(values)[:, 0], np.arange(18))


def test_hanning_window_has_zero_ends_and_is_tiled():
    window = hanning_window(5, 2)
    assert window.shape == (50,)
    np.testing.assert_array_equal(window[:25], window[25:])
    assert window[0] == 0 and window[12] == 1.0
