import numpy as np
import pytest

from siamjax.tracking.crop import channel_average, context_size, get_subwindow


def _ramp_frame(height=40, width=60):
    ys, xs = np.mgrid[0:height, 0:width]
    return np.stack([xs, ys, (xs + ys) % 256], axis=-1).astype(np.uint8)


def test_inside_crop_is_a_plain_slice_centred_at_pos_minus_one():
    frame = _ramp_frame()
    crop = get_subwindow(frame, (30.0, 20.0), 5, 5, channel_average(frame))
    # c = 3, x_min = floor(30 - 3 + 0.5) = 27 -> columns 27..31, centre column 29 = pos - 1.
    np.testing.assert_array_equal(crop[..., 0], np.tile(np.arange(27, 32), (5, 1)))
    np.testing.assert_array_equal(crop[..., 1], np.tile(np.arange(17, 22)[:, None], (1, 5)))
    assert crop.dtype == np.float32


def test_padding_uses_the_truncated_channel_mean():
    frame = np.full((10, 10, 3), 100, np.uint8)
    average = np.array([117.83, 3.9, 250.99])
    crop = get_subwindow(frame, (0.0, 0.0), 6, 6, average)
    # x_min = floor(0 - 3.5 + 0.5) = -3: rows/columns 0..2 are padding.
    np.testing.assert_array_equal(crop[0, 0], [117, 3, 250])
    np.testing.assert_array_equal(crop[:3, :, :].reshape(-1, 3)[0], [117, 3, 250])
    np.testing.assert_array_equal(crop[3:, 3:], 100)
    np.testing.assert_array_equal(crop[3:, :3], np.broadcast_to([117, 3, 250], (3, 3, 3)))


@pytest.mark.parametrize(
    "centre, side",
    [((2.0, 3.0), 15), ((57.0, 38.0), 15), ((30.0, 20.0), 71), ((59.0, 0.0), 9), ((0.0, 39.0), 8)],
)
def test_padded_window_equals_a_crop_of_the_frame_on_a_colour_canvas(centre, side):
    # pysot's construction: the frame pasted into a canvas of the truncated mean colour.
    frame = _ramp_frame()
    average = np.array([17.9, 200.2, 99.5])
    margin = 100
    canvas = np.empty((40 + 2 * margin, 60 + 2 * margin, 3), np.uint8)
    canvas[...] = average.astype(np.uint8)
    canvas[margin : margin + 40, margin : margin + 60] = frame
    x_min = int(np.floor(centre[0] - (side + 1) / 2 + 0.5)) + margin
    y_min = int(np.floor(centre[1] - (side + 1) / 2 + 0.5)) + margin
    expected = canvas[y_min : y_min + side, x_min : x_min + side]
    crop = get_subwindow(frame, centre, side, side, average)
    np.testing.assert_array_equal(crop, expected)


def test_window_entirely_outside_is_all_padding():
    frame = _ramp_frame()
    crop = get_subwindow(frame, (500.0, 500.0), 8, 16, np.array([1.0, 2.0, 3.0]))
    assert crop.shape == (8, 8, 3)
    np.testing.assert_array_equal(crop, np.broadcast_to([1, 2, 3], (8, 8, 3)))


def test_resize_to_model_size():
    frame = _ramp_frame()
    crop = get_subwindow(frame, (30.0, 20.0), 127, 31, channel_average(frame))
    assert crop.shape == (127, 127, 3)


def test_context_size():
    assert context_size((100, 50), 0.5) == pytest.approx(np.sqrt(175 * 125))


def test_zero_side_is_rejected():
    with pytest.raises(ValueError, match="crop side"):
        get_subwindow(_ramp_frame(), (1.0, 1.0), 127, 0, np.zeros(3))
