"""The photometric half of pysot's augmentation, run on the accelerator.

The loaders send 8-bit crops and three numbers per crop (``siamjax/data/batch_format.py``);
``finish_images`` turns them into the float32 images pysot's augmentation gives: the
colour offset subtracted (not clipped) and, where drawn, pysot's cross-shaped blur
(``Augmentation.blur_aug``: a k×k kernel, w/k on the centre column and (1 - w)/k on the
centre row, applied by ``cv2.filter2D`` with OpenCV's reflect-101 border).

The blur is two box sums, one down each column and one along each row, taken from
cumulative sums. On 8-bit pixels these sums are integers, computed in int32, so they are
exact on every backend; only the final weighting rounds (the result is within 1e-4 grey
levels of OpenCV's float filter, ``tests/data/photometric_test.py``). Kernel sizes vary
per crop, so the sums are padded once for the largest kernel pysot draws.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from siamjax.data.batch_format import photometric_names
from siamjax.data.sampling import BLUR_SIZES

MAX_BLUR_HALF = int(max(BLUR_SIZES)) // 2


def _box_sums(pixels, half, axis: int):
    """Sums of ``pixels`` (B, H, W, C) int32 over windows of 2·half + 1 along ``axis`` (1
    or 2), centred, reflect-101 border; ``half`` (B,) int32 ≤ MAX_BLUR_HALF."""
    size = pixels.shape[axis]
    padding = [(0, 0)] * 4
    padding[axis] = (MAX_BLUR_HALF, MAX_BLUR_HALF)
    padded = jnp.pad(pixels, padding, mode="reflect")  # numpy's reflect is reflect-101
    leading_zero = [(0, 0)] * 4
    leading_zero[axis] = (1, 0)
    cumulative = jnp.pad(jnp.cumsum(padded, axis=axis), leading_zero)

    def one(sums, half):
        # Output i is centred on padded index i + MAX_BLUR_HALF.
        upper = jax.lax.dynamic_slice_in_dim(sums, MAX_BLUR_HALF + half + 1, size, axis - 1)
        lower = jax.lax.dynamic_slice_in_dim(sums, MAX_BLUR_HALF - half, size, axis - 1)
        return upper - lower

    return jax.vmap(one)(cumulative, half)


def _blur(pixels, half, weight):
    """pysot's cross-shaped blur of (B, S, S, 3) int32 pixels, kernel size 2·half + 1 and
    centre-column weight ``weight`` per crop ((B,) each) -> float32."""
    size = (2 * half + 1).astype(jnp.float32)[:, None, None, None]
    weight = weight[:, None, None, None]
    down_columns = _box_sums(pixels, half, axis=1).astype(jnp.float32)
    along_rows = _box_sums(pixels, half, axis=2).astype(jnp.float32)
    return down_columns * (weight / size) + along_rows * ((1.0 - weight) / size)


def _blur_every_crop(pixels, half, weight):
    """Accelerators: one batched blur, kept where a crop is blurred."""
    plain = pixels.astype(jnp.float32)
    return jnp.where(half[:, None, None, None] > 0, _blur(pixels, half, weight), plain)


def _blur_crop_by_crop(pixels, half, weight):
    """CPUs: crop by crop, blurring only the crops drawn blurred (a fifth of pysot's
    search crops), which on XLA:CPU costs a fifth of blurring them all."""

    def one(crop):
        pixels, half, weight = crop
        return jax.lax.cond(
            half > 0,
            lambda: _blur(pixels[None], half[None], weight[None])[0],
            lambda: pixels.astype(jnp.float32),
        )

    return jax.lax.map(one, (pixels, half, weight))


def finish_images(images, colour_bgr, blur_size, blur_weight):
    """8-bit crops -> the model's float32 input.

    Args:
      images: (B, S, S, 3) uint8 BGR crops (gray, warp and flip applied).
      colour_bgr: (B, 3) float32 colour offsets, subtracted.
      blur_size: (B,) int32 kernel sizes, 0 where a crop is not blurred.
      blur_weight: (B,) float32 weights of the kernel's centre column.

    Returns:
      (B, S, S, 3) float32 BGR, 0-255 less the offset (pysot's training images).
    """
    pixels = images.astype(jnp.int32)
    half = blur_size.astype(jnp.int32) // 2
    weight = blur_weight.astype(jnp.float32)
    # Both formulations compute the same values (the sums are exact integers).
    finished = jax.lax.platform_dependent(
        pixels, half, weight, cpu=_blur_crop_by_crop, default=_blur_every_crop
    )
    return finished - colour_bgr.astype(jnp.float32)[:, None, None, :]


def model_images(batch: dict, role: str):
    """The float32 images of ``role`` ('template' or 'search') in a train batch: 8-bit
    crops finished here, or images the batch already holds finished (floats, no
    photometric fields)."""
    images = batch[role]
    if images.dtype != jnp.uint8:
        return images.astype(jnp.float32)
    names = photometric_names(role)
    return finish_images(images, batch[names["colour_bgr"]], batch[names["blur_size"]],
                         batch[names["blur_weight"]])  # fmt: skip
