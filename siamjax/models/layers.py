"""Shared building blocks: PyTorch-equivalent conv, BatchNorm and max-pool in NHWC.

Every convolution takes an explicit symmetric integer padding (pysot never uses
"SAME"), kernels are HWIO, and BatchNorm uses PyTorch's defaults (eps 1e-5,
momentum 0.1, i.e. Flax momentum 0.9). Submodule names follow pysot's
``nn.Sequential`` indices ('0', '1', ...) so that checkpoint conversion is a
mechanical path mapping (see ``siamjax/models/convert.py``).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

# PyTorch's BatchNorm2d defaults: running <- 0.9 * running + 0.1 * batch.
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5


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
    """A square conv with symmetric integer padding, like ``torch.nn.Conv2d``."""
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


def batch_norm(train: bool, name: str | None = None) -> nn.BatchNorm:
    """BatchNorm over the channel (last) axis; ``train`` selects batch statistics."""
    return nn.BatchNorm(
        use_running_average=not train,
        momentum=BN_MOMENTUM,
        epsilon=BN_EPSILON,
        name=name,
    )


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
