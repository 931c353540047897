"""Correlation variants as pure functions, chosen by name (``config.model.rpn.correlation``).

Every variant has the signature ``fn(search, kernel) -> features``:

* ``search``: (B, Hx, Wx, C) search-branch features.
* ``kernel``: (B, Hk, Wk, Ck) template-branch features of the same sample.
* returns (B, Hx - Hk + 1, Wx - Wk + 1, C_out): valid cross-correlation (no kernel flip,
  no padding, no normalisation), as pysot's ``core/xcorr.py``.

Add a variant with ``@registry.register('correlation', 'my_name')`` on a function with
that signature, or on a Flax module class with that ``__call__`` when it has weights
(``models/fusion.py`` holds the published variants beyond pysot's); see docs/models.md.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from siamjax import registry
from siamjax.backend import active_formulation

_DIMENSIONS = ("NHWC", "HWIO", "NHWC")


@registry.register("correlation", "depthwise")
def depthwise(search: jax.Array, kernel: jax.Array) -> jax.Array:
    """Depthwise xcorr (SiamRPN++): channel c of sample b with channel c of its kernel.

    Folds the batch into the channels and runs one grouped conv with B·C groups, like
    pysot. On XLA:CPU the backend policy swaps in the equal ``depthwise_taps``
    (benchmarks/README.md). Returns (B, Ho, Wo, C).
    """
    batch, height, width, channels = search.shape
    folded_search = search.transpose(1, 2, 0, 3).reshape(1, height, width, batch * channels)
    k_height, k_width = kernel.shape[1:3]
    folded_kernel = kernel.transpose(1, 2, 0, 3).reshape(k_height, k_width, 1, batch * channels)
    out = lax.conv_general_dilated(
        folded_search,
        folded_kernel,
        window_strides=(1, 1),
        padding="VALID",
        dimension_numbers=_DIMENSIONS,
        feature_group_count=batch * channels,
    )
    out_height, out_width = out.shape[1:3]
    return out.reshape(out_height, out_width, batch, channels).transpose(2, 0, 1, 3)


@registry.register("correlation", "depthwise_vmap")
def depthwise_vmap(search: jax.Array, kernel: jax.Array) -> jax.Array:
    """Same result as ``depthwise``, written as a vmap over samples of a C-group conv."""

    def single(search_one, kernel_one):
        channels = search_one.shape[-1]
        return lax.conv_general_dilated(
            search_one[None],
            kernel_one[:, :, None, :],
            window_strides=(1, 1),
            padding="VALID",
            dimension_numbers=_DIMENSIONS,
            feature_group_count=channels,
        )[0]

    return jax.vmap(single)(search, kernel)


def _sum_of_taps(search: jax.Array, kernel: jax.Array) -> jax.Array:
    k_height, k_width = kernel.shape[1:3]
    out_height = search.shape[1] - k_height + 1
    out_width = search.shape[2] - k_width + 1
    out = None
    for i in range(k_height):
        for j in range(k_width):
            window = search[:, i : i + out_height, j : j + out_width, :]
            term = window * kernel[:, i : i + 1, j : j + 1, :]
            out = term if out is None else out + term
    return out


@registry.register("correlation", "depthwise_taps")
@jax.custom_vjp
def depthwise_taps(search: jax.Array, kernel: jax.Array) -> jax.Array:
    """Same result as ``depthwise`` as a sum of Hk·Wk shifted products (no conv op).

    XLA fuses it into one elementwise loop, which on CPU is much faster than the grouped
    conv for SiamRPN++ shapes (benchmarks/README.md). Returns (B, Ho, Wo, C).

    Its gradient is written out (``custom_vjp``): the search gradient is the same sum of
    taps over the zero-padded output gradient with the flipped kernel, the kernel
    gradient one reduction per tap, one tap at a time. Autodiff of the forward kept every
    window product alive, several times the memory and time (benchmarks/README.md).
    """
    return _sum_of_taps(search, kernel)


def _taps_forward(search, kernel):
    return _sum_of_taps(search, kernel), (search, kernel)


def _taps_backward(residuals, out_grad):
    search, kernel = residuals
    k_height, k_width = kernel.shape[1:3]
    padded = jnp.pad(out_grad, ((0, 0), (k_height - 1,) * 2, (k_width - 1,) * 2, (0, 0)))
    search_grad = _sum_of_taps(padded, kernel[:, ::-1, ::-1, :])

    # One tap at a time (lax.map): as 25 unrolled reductions XLA materialised every
    # window product at once; this keeps one alive.
    def tap_grad(index):
        window = lax.dynamic_slice(
            search, (0, index // k_width, index % k_width, 0), out_grad.shape
        )
        return jnp.sum(window * out_grad, axis=(1, 2))

    per_tap = lax.map(tap_grad, jnp.arange(k_height * k_width))  # (Hk·Wk, B, C)
    kernel_grad = jnp.moveaxis(per_tap.reshape((k_height, k_width) + per_tap.shape[1:]), 2, 0)
    return search_grad.astype(search.dtype), kernel_grad.astype(kernel.dtype)


depthwise_taps.defvjp(_taps_forward, _taps_backward)


@registry.register("correlation", "up_channel")
def up_channel(search: jax.Array, kernel: jax.Array) -> jax.Array:
    """SiamRPN up-channel xcorr (pysot ``xcorr_fast``).

    ``kernel`` has k·C channels, channel index ``j·C + c`` (k kernels of C channels);
    each kernel is fully correlated with the C-channel search map. Returns (B, Ho, Wo, k).
    """
    channels = search.shape[-1]
    num_kernels = kernel.shape[-1] // channels
    if num_kernels * channels != kernel.shape[-1]:
        raise ValueError(
            f"up_channel: kernel channels {kernel.shape[-1]} are not a multiple of the "
            f"search channels {channels}"
        )

    def single(search_one, kernel_one):
        k_height, k_width = kernel_one.shape[:2]
        weights = kernel_one.reshape(k_height, k_width, num_kernels, channels)
        return lax.conv_general_dilated(
            search_one[None],
            weights.transpose(0, 1, 3, 2),  # HWIO: (Hk, Wk, C, k)
            window_strides=(1, 1),
            padding="VALID",
            dimension_numbers=_DIMENSIONS,
        )[0]

    return jax.vmap(single)(search, kernel)


@registry.register("correlation", "naive")
def naive(search: jax.Array, kernel: jax.Array) -> jax.Array:
    """SiamFC single-channel xcorr: full correlation summed over channels. (B, Ho, Wo, 1).

    Under the 'taps' formulation (XLA:CPU) it is the depthwise taps summed over channels,
    the same sums in another order: the per-sample grouped convolution is several times
    slower there (benchmarks/README.md, ``seed_ensemble.py``)."""
    if kernel.shape[-1] != search.shape[-1]:
        raise ValueError(
            f"naive: kernel has {kernel.shape[-1]} channels, search {search.shape[-1]}"
        )
    if active_formulation().correlation == "taps":
        return depthwise_taps(search, kernel).sum(axis=-1, keepdims=True)
    return up_channel(search, kernel)


def get_correlation(name: str):
    """Returns the correlation function registered as ``name``.

    'depthwise' follows the active formulation (``siamjax/backend.py``): the grouped
    convolution, or under 'taps' the equal ``depthwise_taps``.
    """
    if name == "depthwise" and active_formulation().correlation == "taps":
        return depthwise_taps
    return registry.lookup("correlation", name)


def formulated_depthwise(search: jax.Array, kernel: jax.Array) -> jax.Array:
    """``depthwise`` as the active formulation computes it (``get_correlation``): what a
    variant built on depthwise correlation should call, so that it gets the backend's
    fast form (on XLA:CPU the shifted-product taps, not the slow grouped convolution)."""
    return get_correlation("depthwise")(search, kernel)
