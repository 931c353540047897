"""Published correlation / fusion variants beyond pysot's (the correlation zoo).

Each is registered under ``('correlation', name)``, so ``config.model.rpn.correlation``
selects it like pysot's own. A variant is either a pure function
``fn(search, kernel) -> features`` or, when it has weights, a Flax module class whose
``__call__(search, kernel)`` has the same contract; ``DepthwiseXCorr`` instantiates module
variants as its ``fusion`` submodule. Shapes as ``correlation.py``: search (B, Hx, Wx, C),
kernel (B, Hk, Wk, C) -> (B, Hx - Hk + 1, Wx - Wk + 1, C_out), so the RPN head and the
anchors are unchanged. Models using a variant with weights cannot load pysot checkpoints
(pysot has no such weights); they train from scratch or an ImageNet backbone.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from siamjax import registry
from siamjax.models.correlation import depthwise

_EPSILON = 1e-6


def _centre_crop(features: jax.Array, kernel: jax.Array) -> jax.Array:
    """The search-grid map cropped to the valid-correlation grid (Hx - Hk + 1, ...)."""
    k_height, k_width = kernel.shape[1:3]
    out_height = features.shape[1] - k_height + 1
    out_width = features.shape[2] - k_width + 1
    top, left = k_height // 2, k_width // 2
    return features[:, top : top + out_height, left : left + out_width, :]


@registry.register("correlation", "pixelwise")
def pixelwise(search: jax.Array, kernel: jax.Array) -> jax.Array:
    """Pixel-wise correlation (Alpha-Refine, Yan et al. 2021; SiamGAT-style matching):
    every template position is a 1x1 kernel over the channels, so output channel
    ``ky * Wk + kx`` is ``<search[y, x], kernel[ky, kx]>``. Computed on the search grid
    and centre-cropped to the valid-correlation grid: (B, Ho, Wo, Hk * Wk)."""
    batch, k_height, k_width, channels = kernel.shape
    positions = kernel.reshape(batch, k_height * k_width, channels)
    similarity = jnp.einsum("bhwc,bpc->bhwp", search, positions)
    return _centre_crop(similarity, kernel)


@registry.register("correlation", "depthwise_cosine")
def depthwise_cosine(search: jax.Array, kernel: jax.Array) -> jax.Array:
    """Depthwise correlation of L2-normalised features (each position's feature vector
    scaled to unit length), so the response does not grow with feature magnitude
    (cosine-similarity matching as in SiamFC++-style normalised heads). (B, Ho, Wo, C)."""

    def normalised(x):
        return x / jnp.sqrt(jnp.sum(x * x, axis=-1, keepdims=True) + _EPSILON)

    return depthwise(normalised(search), normalised(kernel))


@registry.register("correlation", "depthwise_se")
class DepthwiseSE(nn.Module):
    """Depthwise correlation followed by squeeze-and-excitation channel attention (the
    channel reweighting of SiamAttn, Yu et al. CVPR 2020): the response's spatial mean
    goes through Dense(C / reduction) -> ReLU -> Dense(C) -> sigmoid and scales each
    channel. (B, Ho, Wo, C)."""

    reduction: int = 4

    @nn.compact
    def __call__(self, search: jax.Array, kernel: jax.Array) -> jax.Array:
        response = depthwise(search, kernel)
        channels = response.shape[-1]
        squeezed = response.mean(axis=(1, 2))
        hidden = nn.relu(nn.Dense(max(1, channels // self.reduction), name="squeeze")(squeezed))
        gates = nn.sigmoid(nn.Dense(channels, name="excite")(hidden))
        return response * gates[:, None, None, :]


def is_module_variant(variant) -> bool:
    """Whether a registered correlation is a Flax module class (it has weights)."""
    return isinstance(variant, type) and issubclass(variant, nn.Module)
