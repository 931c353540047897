"""Images travel as uint8 and are finished on the device: the same values as pysot's
host-side colour offset and blur (OpenCV ``filter2D``), for every kernel size pysot draws."""

import cv2
import jax
import numpy as np
import pytest

from siamjax.data.augment import augment_image_opencv, crop_geometry, finish_crop_opencv
from siamjax.data.batch_format import batch_layout, random_batch
from siamjax.data.pair_source import PairSource
from siamjax.data.photometric import finish_images, model_images
from siamjax.data.sampling import BLUR_SIZES
from tests.data.workers_test import _busy_config, prepared  # noqa: F401 (fixture)


def _crops(count, size, seed):
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (count, size, size, 3), np.uint8)
    crops = np.stack([cv2.GaussianBlur(image, (0, 0), 1.5) for image in noise])
    crops[:, size // 3 : size // 2, size // 4 : size // 2] = (255, 0, 30)  # hard edges
    return crops


@pytest.mark.parametrize("size", [127, 255])
def test_device_finish_is_opencvs_for_every_blur_size(size):
    count = len(BLUR_SIZES) + 2
    crops = _crops(count, size, size)
    rng = np.random.default_rng(1)
    colour = rng.normal(0, 6, (count, 3)).astype(np.float32)
    blur_size = np.int32([*BLUR_SIZES, 0, 0])
    blur_weight = rng.random(count).astype(np.float32)
    blur_weight[-3] = 1.0  # only the vertical bar
    finished = np.asarray(jax.jit(finish_images)(crops, colour, blur_size, blur_weight))
    assert finished.dtype == np.float32 and finished.shape == crops.shape
    for i in range(count):
        expected = finish_crop_opencv(crops[i], colour[i], int(blur_size[i]), blur_weight[i])
        if blur_size[i] == 0:
            np.testing.assert_array_equal(finished[i], expected)  # exactly crop - offset
        else:
            difference = np.abs(finished[i] - expected).max()
            assert difference < 1e-3, (int(blur_size[i]), difference)


def test_flip_before_the_blur_is_pysots_flip_after_it():
    crops = _crops(3, 255, 7)
    colour = np.float32([[1, -2, 3]] * 3)
    blur_size, blur_weight = np.int32([7, 21, 45]), np.float32([0.2, 0.9, 0.5])
    flipped_first = finish_images(crops[:, :, ::-1], colour, blur_size, blur_weight)
    flipped_after = np.asarray(finish_images(crops, colour, blur_size, blur_weight))[:, :, ::-1]
    np.testing.assert_allclose(flipped_first, flipped_after, atol=1e-4)


def test_loader_samples_finished_on_device_are_pysots_whole_augmentation(prepared):  # noqa: F811
    config = _busy_config(prepared / "data")
    source = PairSource(config, 3, 0, 1)
    blurred = 0
    for position in range(24):
        sample = source.sample(position)
        spec = source.sampler.spec(position)
        for role in ("template", "search"):
            crop = spec[role]
            assert sample[role].dtype == np.uint8
            size = sample[role].shape[0]
            geometry = crop_geometry(crop, crop["box"], size)
            expected = augment_image_opencv(
                source.decode(crop["ref"]), geometry["crop_box"], size,
                crop["colour_offset_bgr"], int(crop["blur_size"]), float(crop["blur_weight"]),
                bool(crop["flip"]), bool(spec["gray"]),
            )  # fmt: skip
            batch = {key[len(role) + 1 :] if key.startswith(role + "_") else key: value[None]
                     for key, value in sample.items() if key.startswith(role)}  # fmt: skip
            ours = finish_images(batch[role], batch["colour_bgr"], batch["blur_size"],
                                 batch["blur_weight"])[0]  # fmt: skip
            np.testing.assert_allclose(ours, expected, atol=1e-3, err_msg=f"{position} {role}")
            blurred += int(crop["blur_size"]) > 0
    assert blurred >= 3  # the blur branch was exercised


def test_batch_format_carries_a_quarter_of_the_image_bytes():
    layout = batch_layout(16, 127, 255)
    batch = random_batch(16)
    assert {key: (value.shape, value.dtype) for key, value in batch.items()} == {
        key: (shape, np.dtype(dtype)) for key, (shape, dtype) in layout.items()
    }
    sent = sum(value.nbytes for value in batch.values())
    as_float = sum(batch[role].size * 4 for role in ("template", "search"))
    assert sent < 0.26 * as_float
    # model_images finishes 8-bit crops and passes finished float images through
    finished = np.asarray(model_images(batch, "search"))
    np.testing.assert_array_equal(np.asarray(model_images({"search": finished}, "search")),
                                  finished)  # fmt: skip
    assert finished.dtype == np.float32 and np.any(batch["search_blur_size"] > 0)


def test_accelerator_and_cpu_formulations_agree():
    """Accelerators blur the whole batch and select; CPUs blur crop by crop, only the
    blurred ones. Same values (the box sums are exact integers)."""
    from siamjax.data.photometric import _blur_crop_by_crop, _blur_every_crop

    batch = random_batch(10, seed=4)
    pixels = batch["search"].astype(np.int32)
    half = batch["search_blur_size"] // 2
    weight = batch["search_blur_weight"]
    assert 0 < np.count_nonzero(half) < len(half)
    every = jax.jit(_blur_every_crop)(pixels, half, weight)
    by_crop = jax.jit(_blur_crop_by_crop)(pixels, half, weight)
    np.testing.assert_allclose(every, by_crop, rtol=0, atol=1e-4)
    np.testing.assert_array_equal(np.asarray(every)[half == 0], pixels[half == 0])
