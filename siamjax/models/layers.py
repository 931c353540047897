"""Shared building blocks: PyTorch-equivalent conv, BatchNorm and max-pool in NHWC.

Every convolution takes an explicit symmetric integer padding (pysot never uses
"SAME"), kernels are HWIO, and BatchNorm uses PyTorch's defaults (eps 1e-5,
momentum 0.1, i.e. Flax momentum 0.9). Submodule names follow pysot's
``nn.Sequential`` indices ('0', '1', ...) so that checkpoint conversion is a
mechanical path mapping (see ``siamjax/models/convert.py``).
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from siamjax.backend import active_formulation

# PyTorch's BatchNorm2d defaults: running <- 0.9 * running + 0.1 * batch.
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5


# Stride-1 convs with kernels at least this wide run as a sum of per-row matmuls.
ROW_SPLIT_MIN_KERNEL = 5


def conv(
    features: int,
    kernel: int,
    *,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    groups: int = 1,
    bias: bool = False,
    name: str | None = None,
) -> nn.Conv:
    """A square conv with symmetric integer padding, like ``torch.nn.Conv2d``.

    Under the 'matmul' formulation (``siamjax/backend.py``), 1x1 convs and wide stride-1
    convs are written as matmuls (same parameters, same values).
    """
    if active_formulation().conv == "matmul" and groups == 1:
        if kernel >= ROW_SPLIT_MIN_KERNEL and stride == 1 and dilation == 1:
            return RowSplitConv(features, kernel, padding, bias, name=name)
        if kernel == 1 and padding == 0:
            return PointwiseConv(features, stride, bias, name=name)
    return nn.Conv(
        features,
        (kernel, kernel),
        strides=(stride, stride),
        padding=((padding, padding), (padding, padding)),
        kernel_dilation=(dilation, dilation),
        feature_group_count=groups,
        use_bias=bias,
        name=name,
    )


def layer_mode(train, layer_name: str) -> bool:
    """BatchNorm mode of one top-level backbone layer.

    ``train`` is a bool (every layer alike) or a collection of layer names whose BatchNorm
    uses batch statistics, e.g. ``("layer2", "layer3", "layer4")`` after pysot's unfreeze
    epoch, while the other layers keep their running statistics (docs/parity.md §7.3).
    """
    if isinstance(train, bool):
        return train
    return layer_name in train


class BatchNorm(nn.Module):
    """``torch.nn.BatchNorm2d`` over the last (channel) axis.

    Same variables as ``flax.linen.BatchNorm`` (params ``scale``, ``bias``; batch_stats
    ``mean``, ``var``), with PyTorch's statistics: the batch variance is computed in two
    passes (mean first), normalisation uses the biased variance and the running variance
    is updated with the unbiased one (× n / (n − 1)), which Flax's module does not do.
    Statistics are computed in at least float32 whatever the input dtype.
    """

    use_running_average: bool
    momentum: float = BN_MOMENTUM
    epsilon: float = BN_EPSILON

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        features = x.shape[-1]
        scale = self.param("scale", nn.initializers.ones, (features,), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros, (features,), jnp.float32)
        running_mean = self.variable("batch_stats", "mean", jnp.zeros, (features,), jnp.float32)
        running_var = self.variable("batch_stats", "var", jnp.ones, (features,), jnp.float32)
        if self.use_running_average:
            mean, var = running_mean.value, running_var.value
        else:
            axes = tuple(range(x.ndim - 1))
            values = x.astype(jnp.promote_types(x.dtype, jnp.float32))
            mean = values.mean(axes)
            var = jnp.square(values - mean).mean(axes)
            if not self.is_initializing():
                count = x.size // features
                unbiased = var * (count / max(count - 1, 1))
                keep = self.momentum
                running_mean.value = keep * running_mean.value + (1 - keep) * mean
                running_var.value = keep * running_var.value + (1 - keep) * unbiased
        multiplier = jax.lax.rsqrt(var + self.epsilon) * scale
        return (x - mean.astype(x.dtype)) * multiplier.astype(x.dtype) + bias.astype(x.dtype)


def batch_norm(train: bool, name: str | None = None) -> BatchNorm:
    """BatchNorm over the channel (last) axis; ``train`` selects batch statistics."""
    return BatchNorm(use_running_average=not train, name=name)


def max_pool(x: jax.Array, window: int, stride: int, padding: int = 0) -> jax.Array:
    """Max pool like ``torch.nn.MaxPool2d`` (floor mode, -inf padding).

    Args:
      x: (N, H, W, C).
    """
    return nn.max_pool(
        x,
        (window, window),
        strides=(stride, stride),
        padding=((padding, padding), (padding, padding)),
    )


class PointwiseConv(nn.Module):
    """A 1x1 conv (optionally strided) computed as one matmul over the channels.

    Same parameters as ``nn.Conv`` (``kernel`` (1, 1, Cin, Cout), ``bias``). On XLA:CPU a
    matmul runs ResNet-50's 1x1 layers (about half of its FLOPs) faster than the
    convolution, forward and backward (benchmarks/README.md, "What was tried").
    """

    features: int
    stride: int = 1
    use_bias: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param(
            "kernel",
            nn.initializers.lecun_normal(),
            (1, 1, x.shape[-1], self.features),
            jnp.float32,
        ).astype(x.dtype)
        if self.stride > 1:
            x = x[:, :: self.stride, :: self.stride]
        out = x @ kernel[0, 0]
        if self.use_bias:
            out = out + self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
        return out


class RowSplitConv(nn.Module):
    """A stride-1 k x k conv computed as k matmuls, one per kernel row.

    Same parameters as ``nn.Conv`` (``kernel`` (k, k, Cin, Cout), ``bias``). XLA's CPU
    convolution is slow for AlexNet's 5x5 96->256 layer; gathering the k columns of each
    row into channels and multiplying is faster (benchmarks/README.md, "What was tried").
    """

    features: int
    kernel_size: int
    padding: int = 0
    use_bias: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        k, in_channels = self.kernel_size, x.shape[-1]
        kernel = self.param(
            "kernel",
            nn.initializers.lecun_normal(),
            (k, k, in_channels, self.features),
            jnp.float32,
        ).astype(x.dtype)
        p = self.padding
        x = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
        batch, height, width, _ = x.shape
        out_height, out_width = height - k + 1, width - k + 1
        out = None
        for i in range(k):
            rows = x[:, i : i + out_height]
            columns = jnp.concatenate([rows[:, :, j : j + out_width] for j in range(k)], -1)
            term = columns @ kernel[i].reshape(k * in_channels, self.features)
            out = term if out is None else out + term
        if self.use_bias:
            out = out + self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
        return out


class DepthwiseConv(nn.Module):
    """Depthwise conv (groups = channels), no bias: ``kernel`` (k, k, 1, C) as
    ``nn.Conv(C, (k, k), feature_group_count=C)`` has, so checkpoints convert identically.

    The 'grouped' formulation is one grouped convolution; 'shifted_products' a sum of
    k·k shifted products, which XLA:CPU fuses into one elementwise loop where its grouped
    convolution runs one small conv per group (benchmarks/README.md).
    """

    kernel_size: int = 3
    stride: int = 1
    padding: int = 0
    dilation: int = 1

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        channels = x.shape[-1]
        k = self.kernel_size
        kernel = self.param(
            "kernel", nn.initializers.lecun_normal(), (k, k, 1, channels), jnp.float32
        )
        kernel = kernel.astype(x.dtype)
        p = self.padding
        if active_formulation().depthwise_conv == "grouped":
            return jax.lax.conv_general_dilated(
                x,
                kernel,
                window_strides=(self.stride, self.stride),
                padding=((p, p), (p, p)),
                rhs_dilation=(self.dilation, self.dilation),
                dimension_numbers=("NHWC", "HWIO", "NHWC"),
                feature_group_count=channels,
            )
        x = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
        return shifted_depthwise(x, kernel, self.stride, self.dilation)


def _depthwise_taps(x: jax.Array, k: int, stride: int, dilation: int):
    """``(i, j, window)`` for each of the k·k taps of a VALID depthwise conv of the padded
    ``x`` (N, H, W, C): ``window`` is the (N, h, w, C) input that tap multiplies."""
    span = dilation * (k - 1)
    out_height = (x.shape[1] - span - 1) // stride + 1
    out_width = (x.shape[2] - span - 1) // stride + 1
    for i in range(k):
        for j in range(k):
            top, left = i * dilation, j * dilation
            window = jax.lax.slice(
                x,
                (0, top, left, 0),
                (x.shape[0], top + (out_height - 1) * stride + 1,
                 left + (out_width - 1) * stride + 1, x.shape[3]),
                (1, stride, stride, 1),
            )  # fmt: skip
            yield i, j, window


def _shifted_forward(x, kernel, stride, dilation):
    out = None
    for i, j, window in _depthwise_taps(x, kernel.shape[0], stride, dilation):
        term = window * kernel[i, j, 0]
        out = term if out is None else out + term
    return out


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def shifted_depthwise(x: jax.Array, kernel: jax.Array, stride: int, dilation: int) -> jax.Array:
    """VALID depthwise conv of the padded ``x`` (N, H, W, C) with ``kernel`` (k, k, 1, C)
    as a sum of k·k shifted products (one elementwise loop on XLA:CPU).

    Its kernel gradient is one variadic reduction over all taps, which reads the input
    and the output gradient once; left to autodiff it is k·k reductions, each a pass over
    both, 3.5-7x slower on MobileNetV2's layers (benchmarks/README.md, ``train_step.py``).
    """
    return _shifted_forward(x, kernel, stride, dilation)


def _shifted_depthwise_fwd(x, kernel, stride, dilation):
    return _shifted_forward(x, kernel, stride, dilation), (x, kernel)


def _shifted_depthwise_bwd(stride, dilation, residuals, out_grad):
    x, kernel = residuals
    # Linear in x: its gradient is the transpose, with no forward pass to recompute.
    transpose = jax.linear_transpose(lambda x: _shifted_forward(x, kernel, stride, dilation), x)
    (x_grad,) = transpose(out_grad)
    # All taps' sums over N and W in one reduction (then over H), accumulated in at least
    # float32 whatever the compute dtype.
    accumulate = jnp.promote_types(out_grad.dtype, jnp.float32)
    taps = _depthwise_taps(x, kernel.shape[0], stride, dilation)
    products = tuple((window * out_grad).astype(accumulate) for _, _, window in taps)
    sums = jax.lax.reduce(
        products,
        tuple(jnp.zeros((), accumulate) for _ in products),
        lambda left, right: tuple(a + b for a, b in zip(left, right)),
        (0, 2),
    )
    # The taps run i-major, as the kernel's (k, k) axes.
    kernel_grad = jnp.stack([row_sums.sum(axis=0) for row_sums in sums]).reshape(kernel.shape)
    return x_grad, kernel_grad.astype(kernel.dtype)


shifted_depthwise.defvjp(_shifted_depthwise_fwd, _shifted_depthwise_bwd)


class ConvBN(nn.Module):
    """conv -> BN [-> activation], stored as pysot's ``Sequential`` indices '0' and '1'.

    Attributes:
      features, kernel, stride, padding, dilation, groups, bias: as ``conv``.
      activation: 'relu', 'relu6' or None.
    """

    features: int
    kernel: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    groups: int = 1
    bias: bool = False
    activation: str | None = None

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        x = conv(
            self.features,
            self.kernel,
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
            groups=self.groups,
            bias=self.bias,
            name="0",
        )(x)
        x = batch_norm(train, name="1")(x)
        return activate(x, self.activation)


def activate(x: jax.Array, activation: str | None) -> jax.Array:
    """Applies a named activation ('relu', 'relu6' or None)."""
    if activation is None:
        return x
    if activation == "relu":
        return nn.relu(x)
    if activation == "relu6":
        return jnp.clip(x, 0.0, 6.0)
    raise ValueError(f"unknown activation {activation!r}")
