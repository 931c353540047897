"""pysot's augmentation (docs/parity.md §6.4): crop geometry in numpy, the 8-bit pixel work
(gray, warp, flip) in TensorFlow (``warp_crop_tf``, the ``tf`` loader) or in OpenCV
(``warp_crop_opencv``, the ``workers`` loader: pysot's own calls); the colour offset and
blur are finished on the device (``siamjax/data/photometric.py``), with
``finish_crop_opencv`` as their host-side reference.

``crop_geometry`` turns one crop's random draws into the crop box, the target box in the
output crop and the source position of every output row and column of OpenCV's
``warpAffine`` (the map is a pure scale + shift, so the warp is separable). OpenCV 5
samples uint8 images at float32 positions and rounds half to even (a few pixels in ten
thousand differ by one grey level from this emulation, none by more, as
``tests/data/pipeline_test.py`` checks; OpenCV 4 quantised positions to 1/32 px, up to
4 levels apart on hard edges). ``warp_crop_tf`` (TF ops, inside tf.data) applies gray
(OpenCV's fixed-point BGR2GRAY), the warp (outside the 511 image = 0) and the flip.
"""

from __future__ import annotations

import numpy as np


def _sample_positions(scale: float, offset: float, size: int):
    """Source positions (float32) of the 1-D map u -> scale·u + offset, as warpAffine
    inverts it: x = u·(1/scale) + (−offset/scale)."""
    inverse = np.float32(1.0 / scale)
    start = np.float32(-offset / scale)
    return np.arange(size, dtype=np.float32) * inverse + start


def crop_geometry(draws: dict, box_xyxy, out_size: int, image_size: int = 511) -> dict:
    """Crop box, output target box and warp grid for one crop (docs/parity.md §6.4 steps 2-6, 9)."""
    centre = image_size // 2
    side = out_size - 1
    x1, y1 = centre - side / 2, centre - side / 2
    width = height = float(side)
    scale_x, scale_y = draws["scale_x"], draws["scale_y"]
    scale_x = min(scale_x, float(image_size) / width)
    scale_y = min(scale_y, float(image_size) / height)
    cx, cy = x1 + width / 2, y1 + height / 2
    width, height = width * scale_x, height * scale_y
    x1, y1, x2, y2 = cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2
    shift_x = max(-x1, min(image_size - 1 - x2, draws["shift_x"]))
    shift_y = max(-y1, min(image_size - 1 - y2, draws["shift_y"]))
    x1, y1, x2, y2 = x1 + shift_x, y1 + shift_y, x2 + shift_x, y2 + shift_y
    bx1, by1, bx2, by2 = (float(v) for v in box_xyxy)
    box = np.array([(bx1 - x1) / scale_x, (by1 - y1) / scale_y,
                    (bx2 - x1) / scale_x, (by2 - y1) / scale_y])  # fmt: skip
    a, b = (out_size - 1) / (x2 - x1), (out_size - 1) / (y2 - y1)
    xs = _sample_positions(a, -a * x1, out_size)
    ys = _sample_positions(b, -b * y1, out_size)
    if draws.get("flip"):
        box = np.array([out_size - 1 - box[2], box[1], out_size - 1 - box[0], box[3]])
    return {
        "crop_box": np.array([x1, y1, x2, y2]),
        "box": box.astype(np.float32),
        "xs": xs,
        "ys": ys,
    }


def _gather_linear(tf, values, positions, axis, limit, convert=None):
    """Linear interpolation along ``axis`` at float positions, zero outside [0, limit).

    ``convert`` maps the gathered values to float32 after gathering, so only the rows the
    warp reads are converted, not the whole image."""
    base = tf.floor(positions)
    index = tf.cast(base, tf.int32)
    weight = tf.reshape(positions - base, [-1] + [1] * (2 - axis))
    result = 0.0
    for step, w in ((0, 1.0 - weight), (1, weight)):
        position = index + step
        valid = tf.cast((position >= 0) & (position < limit), tf.float32)
        taken = tf.gather(values, tf.clip_by_value(position, 0, limit - 1), axis=axis)
        if convert is not None:
            taken = convert(taken)
        result += taken * tf.reshape(valid, [-1] + [1] * (2 - axis)) * w
    return result


def warp_crop_tf(image, geometry, flip, gray):
    """(511, 511, 3) uint8 BGR tensor -> (out, out, 3) uint8 BGR crop (TF ops): gray, the
    warp of ``geometry`` (``crop_geometry``'s ``xs``/``ys``) and the flip; the colour
    offset and blur are finished on the device (``siamjax/data/photometric.py``)."""
    import tensorflow as tf

    size = tf.shape(image)[0]

    def to_gray(img):
        img = tf.cast(img, tf.int32)
        blue, green, red = img[..., 0], img[..., 1], img[..., 2]
        # OpenCV's fixed-point BGR2GRAY for uint8
        luma = (blue * 1868 + green * 9617 + red * 4899 + 8192) // 16384
        return tf.stack([luma, luma, luma], axis=-1)

    def to_float(pixels):
        # Gray is per pixel, so it commutes with gathering the source rows. Converting
        # only the gathered rows (not the 511² image) is the cheaper order.
        pixels = tf.cond(gray, lambda: to_gray(pixels), lambda: tf.cast(pixels, tf.int32))
        return tf.cast(pixels, tf.float32)

    rows = _gather_linear(tf, image, geometry["ys"], 0, size, convert=to_float)
    crop = _gather_linear(tf, rows, geometry["xs"], 1, size)
    # OpenCV's uint8 result: nearest, ties to even (interpolated 8-bit values stay in 0-255)
    crop = tf.cast(tf.round(crop), tf.uint8)
    return tf.cond(flip, lambda: crop[:, ::-1], lambda: crop)


def warp_crop_opencv(image, crop_box, out_size, flip, gray):
    """(511, 511, 3) uint8 BGR array -> (out_size, out_size, 3) uint8 BGR crop: pysot's
    gray (BGR2GRAY and back) on the 511 image, ``warpAffine`` of ``crop_box`` (x1, y1,
    x2, y2, from ``crop_geometry``) to the output with a zero border, and the horizontal
    flip (pysot flips after the blur; the blur kernel is symmetric, so the order does
    not matter)."""
    import cv2

    if gray:
        image = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    x1, y1, x2, y2 = (float(v) for v in crop_box)
    a, b = (out_size - 1) / (x2 - x1), (out_size - 1) / (y2 - y1)
    mapping = np.array([[a, 0, -a * x1], [0, b, -b * y1]], np.float64)
    crop = cv2.warpAffine(image, mapping, (out_size, out_size),
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))  # fmt: skip
    return cv2.flip(crop, 1) if flip else crop


def finish_crop_opencv(crop, colour_offset_bgr, blur_size, blur_weight):
    """(S, S, 3) uint8 crop -> float32, as pysot's ``color_aug`` and ``blur_aug``: the
    colour offset subtracted (not clipped), then the cross-shaped ``filter2D`` blur
    (reflect-101 border; ``blur_weight`` on the vertical bar). The host-side reference of
    ``photometric.finish_images``; pysot's offset is float64, ours float32 (under 1e-5
    grey levels)."""
    import cv2

    crop = crop.astype(np.float32) - np.asarray(colour_offset_bgr, np.float32)
    if blur_size > 0:
        kernel = np.zeros((blur_size, blur_size), np.float32)
        centre = blur_size // 2
        kernel[:, centre] += blur_weight / blur_size
        kernel[centre, :] += (1.0 - blur_weight) / blur_size
        crop = cv2.filter2D(crop, -1, kernel)
    return crop


def augment_image_opencv(image, crop_box, out_size, colour_offset_bgr, blur_size, blur_weight,
                         flip, gray):  # fmt: skip
    """(511, 511, 3) uint8 BGR array -> (out_size, out_size, 3) float32 BGR, unnormalised:
    pysot's whole ``Augmentation`` call on the host (``warp_crop_opencv`` then
    ``finish_crop_opencv``); the reference the loaders' split is tested against."""
    crop = warp_crop_opencv(image, crop_box, out_size, flip, gray)
    return finish_crop_opencv(crop, colour_offset_bgr, blur_size, blur_weight)
