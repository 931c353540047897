"""Adjust layers (pysot's neck, docs/parity.md §2): 1x1 conv + BN per level, then a centre crop.

The crop is pysot's: if a feature map is narrower than 20 columns (the 15x15 template
features), keep rows and columns ``[l, l + center_size)`` with ``l = (W - center_size) // 2``
(indices 4..10 for 15x15). Search features (31, 103) are never cropped. The test is on
width only and happens after the conv/BN, in training and tracking alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import flax.linen as nn
import jax

from siamjax import registry
from siamjax.backend import CpuTraits
from siamjax.models.layers import ConvBN
from siamjax.models.recompute import call_recomputed_chain

# pysot crops feature maps narrower than this (template features) to ``center_size``.
CROP_WIDTH_THRESHOLD = 20


def center_crop(x: jax.Array, center_size: int) -> jax.Array:
    """pysot's template crop on (N, H, W, C); identity when W >= 20."""
    width = x.shape[2]
    if width >= CROP_WIDTH_THRESHOLD:
        return x
    left = (width - center_size) // 2
    return x[:, left : left + center_size, left : left + center_size, :]


class AdjustLayer(nn.Module):
    """1x1 conv (no bias) -> BN -> centre crop. Params under ``downsample/{0,1}``."""

    out_channels: int
    center_size: int = 7

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        x = ConvBN(self.out_channels, 1, name="downsample")(x, train)
        return center_crop(x, self.center_size)


class AdjustAllLayer(nn.Module):
    """One AdjustLayer per level, named ``downsample2..`` (or ``downsample`` if one level).

    Maps ``{'stage{i}': (N, H, W, C_i)}`` to the same keys with ``out_channels[k]`` channels.
    """

    out_channels: Sequence[int]
    center_size: int = 7
    # In training, recompute each level's BatchNorm in the backward pass, one level at a
    # time (a ``recompute.POLICIES`` key; 'blocks_keep_convs' keeps the conv output).
    remat: str = "none"

    # XLA:CPU: recomputed while the backbone is frozen (then the neck and head are the
    # whole backward pass); not once backbone layers train, where it measured worse.
    cpu_traits: ClassVar[CpuTraits] = CpuTraits(recompute_phases=(0,))

    @nn.compact
    def __call__(self, features: dict[str, jax.Array], train: bool = False):
        keys = sorted_levels(features)
        if len(keys) != len(self.out_channels):
            raise ValueError(
                f"neck has {len(self.out_channels)} levels but the backbone returned "
                f"{len(keys)} ({keys})"
            )
        names = ["downsample" if len(keys) == 1 else f"downsample{p + 2}" for p in range(len(keys))]
        if self.remat != "none" and train and not self.is_initializing():
            # The levels form one chain, recomputed one at a time in the backward pass.
            units = [
                (
                    AdjustLayer(self.out_channels[position], self.center_size, parent=None),
                    (names[position],),
                    (features[key],),
                )
                for position, key in enumerate(keys)
            ]
            return dict(zip(keys, call_recomputed_chain(self, units, self.remat)))
        outputs = {}
        for position, key in enumerate(keys):
            layer = AdjustLayer(self.out_channels[position], self.center_size, name=names[position])
            outputs[key] = layer(features[key], train)
        return outputs


def sorted_levels(features: dict[str, jax.Array]) -> list[str]:
    """Level keys ('stage2', 'stage10', ...) in numeric order (pytrees sort them as strings)."""
    return sorted(features, key=lambda key: int(key.removeprefix("stage")))


@registry.register("neck", "adjust_all")
def adjust_all(out_channels: Sequence[int], center_size: int = 7) -> AdjustAllLayer:
    return AdjustAllLayer(tuple(out_channels), center_size)
