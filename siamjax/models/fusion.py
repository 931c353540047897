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
from siamjax.models.correlation import formulated_depthwise

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

    return formulated_depthwise(normalised(search), normalised(kernel))


@registry.register("correlation", "depthwise_se")
class DepthwiseSE(nn.Module):
    """Depthwise correlation followed by squeeze-and-excitation channel attention (the
    channel reweighting of SiamAttn, Yu et al. CVPR 2020): the response's spatial mean
    goes through Dense(C / reduction) -> ReLU -> Dense(C) -> sigmoid and scales each
    channel. (B, Ho, Wo, C)."""

    reduction: int = 4

    @nn.compact
    def __call__(self, search: jax.Array, kernel: jax.Array) -> jax.Array:
        response = formulated_depthwise(search, kernel)
        channels = response.shape[-1]
        squeezed = response.mean(axis=(1, 2))
        hidden = nn.relu(nn.Dense(max(1, channels // self.reduction), name="squeeze")(squeezed))
        gates = nn.sigmoid(nn.Dense(channels, name="excite")(hidden))
        return response * gates[:, None, None, :]


def is_module_variant(variant) -> bool:
    """Whether a registered correlation is a Flax module class (it has weights)."""
    return isinstance(variant, type) and issubclass(variant, nn.Module)


def sine_positional_encoding(height: int, width: int, channels: int) -> jax.Array:
    """DETR's 2-D sine encoding (as TransT uses): (height, width, channels); the first
    half of the channels encode y, the second x, each as interleaved sin / cos of
    ``(position + 1) / 10000^(2i / half)``."""
    half = channels // 2
    frequencies = 10000.0 ** (2 * (jnp.arange(half) // 2) / half)

    def encode(positions):  # (n,) -> (n, half): sin on even channels, cos on odd
        angles = (positions[:, None] + 1.0) / frequencies[None, :]
        return jnp.where(jnp.arange(half) % 2 == 0, jnp.sin(angles), jnp.cos(angles))

    y = jnp.broadcast_to(encode(jnp.arange(height, dtype=jnp.float32))[:, None, :],
                         (height, width, half))  # fmt: skip
    x = jnp.broadcast_to(encode(jnp.arange(width, dtype=jnp.float32))[None, :, :],
                         (height, width, half))  # fmt: skip
    encoding = jnp.concatenate([y, x], axis=-1)
    return jnp.pad(encoding, ((0, 0), (0, 0), (0, channels - 2 * half)))


@registry.register("correlation", "cross_attention")
class CrossAttention(nn.Module):
    """A TransT-style fusion (Chen et al., CVPR 2021), one layer: self-attention on each
    branch, then the search tokens attend to the template's (queries from the search,
    keys and values from the template), with learned projections, sine positional
    encodings added to queries and keys, residuals and LayerNorms. The fused map is on
    the search grid, centre-cropped to the valid-correlation grid so the RPN head and
    the anchors are unchanged: (B, Ho, Wo, C)."""

    num_heads: int = 4

    @nn.compact
    def __call__(self, search: jax.Array, kernel: jax.Array) -> jax.Array:
        batch, s_height, s_width, channels = search.shape
        k_height, k_width = kernel.shape[1:3]
        heads = self.num_heads if channels % self.num_heads == 0 else 1
        search_position = sine_positional_encoding(s_height, s_width, channels).reshape(
            -1, channels
        )
        kernel_position = sine_positional_encoding(k_height, k_width, channels).reshape(
            -1, channels
        )
        search_tokens = search.reshape(batch, s_height * s_width, channels)
        kernel_tokens = kernel.reshape(batch, k_height * k_width, channels)

        def attend(name, queries, query_position, keys, key_position):
            attention = nn.MultiHeadDotProductAttention(num_heads=heads, name=name)
            return attention(queries + query_position, keys + key_position, keys)

        search_tokens = nn.LayerNorm(name="search_norm")(
            search_tokens
            + attend(
                "search_self", search_tokens, search_position, search_tokens, search_position
            )  # fmt: skip
        )
        kernel_tokens = nn.LayerNorm(name="template_norm")(
            kernel_tokens
            + attend(
                "template_self", kernel_tokens, kernel_position, kernel_tokens, kernel_position
            )  # fmt: skip
        )
        fused = nn.LayerNorm(name="cross_norm")(
            search_tokens
            + attend(
                "cross", search_tokens, search_position, kernel_tokens, kernel_position
            )  # fmt: skip
        )
        return _centre_crop(fused.reshape(batch, s_height, s_width, channels), kernel)
