"""RPN heads (docs/parity.md §3): DepthwiseXCorr, DepthwiseRPN, MultiRPN and UPChannelRPN.

Every head maps template features and search features (dicts of levels, see
``neck.sorted_levels``) to raw outputs in pysot's *channel* order, NHWC:

* ``cls``: (B, S, S, 2A), channel ``k·A + a`` (k = 0 background, 1 foreground).
* ``loc``: (B, S, S, 4A), channel ``j·A + a`` (j = dx, dy, dw, dh).

Keeping pysot's channel order in the last conv means converted weights are plain
transposes; ``siamjax.models.layout`` reshapes the outputs to siamjax's
(B, S, S, A, 2) / (B, S, S, A, 4) layout at the model boundary.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from siamjax import registry
from siamjax.backend import CpuTraits
from siamjax.models.correlation import get_correlation
from siamjax.models.fusion import is_module_variant
from siamjax.models.layers import ConvBN, batch_norm, conv
from siamjax.models.neck import sorted_levels
from siamjax.models.recompute import call_recomputed_chain


class XCorrHead(nn.Module):
    """pysot's ``DepthwiseXCorr.head``: 1x1 conv -> BN -> ReLU -> 1x1 conv with bias."""

    hidden: int
    out_channels: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        x = conv(self.hidden, 1, name="0")(x)
        x = nn.relu(batch_norm(train, "1")(x))
        return conv(self.out_channels, 1, bias=True, name="3")(x)


class DepthwiseXCorr(nn.Module):
    """Unpadded 3x3 conv+BN+ReLU on each branch, correlation, then ``XCorrHead``.

    Shapes (r50): template (B, 7, 7, C) -> 5x5; search (B, 31, 31, C) -> 29x29;
    correlation -> 25x25; output (B, 25, 25, out_channels).
    """

    hidden: int
    out_channels: int
    kernel_size: int = 3
    correlation: str = "depthwise"

    @nn.compact
    def __call__(self, template: jax.Array, search: jax.Array, train: bool = False):
        branch = dict(features=self.hidden, kernel=self.kernel_size, activation="relu")
        kernel = ConvBN(**branch, name="conv_kernel")(template, train)
        search = ConvBN(**branch, name="conv_search")(search, train)
        variant = get_correlation(self.correlation)
        if is_module_variant(variant):  # a variant with weights (models/fusion.py)
            features = variant(name="fusion")(search, kernel)
        else:
            features = variant(search, kernel)
        return XCorrHead(self.hidden, self.out_channels, name="head")(features, train)


class DepthwiseRPN(nn.Module):
    """One level: ``cls`` (2A channels) and ``loc`` (4A channels) DepthwiseXCorr branches.

    ``remat`` (a ``recompute.POLICIES`` key or 'none'): in training, each branch is
    recomputed in the backward pass, one after the other, instead of keeping its
    BatchNorm / ReLU / correlation activations ('blocks_keep_convs' keeps conv outputs).
    """

    anchor_num: int = 5
    hidden: int = 256
    correlation: str = "depthwise"
    remat: str = "none"
    cpu_traits: ClassVar[CpuTraits] = CpuTraits(recompute_phases=(0,))  # as the neck's

    @nn.compact
    def __call__(self, template_features, search_features, train: bool = False):
        template = _single_level(template_features)
        search = _single_level(search_features)
        if self.remat != "none" and train and not self.is_initializing():
            units = self.recomputed_units((), template, search)
            return tuple(call_recomputed_chain(self, units, self.remat))
        return tuple(
            DepthwiseXCorr(self.hidden, channels, correlation=self.correlation, name=name)(
                template, search, train
            )
            for name, channels in self._branches()
        )

    def _branches(self):
        return (("cls", 2 * self.anchor_num), ("loc", 4 * self.anchor_num))

    def recomputed_units(self, path: tuple, template: jax.Array, search: jax.Array):
        """``(branch, path + (name,), (template, search))`` units for
        ``recompute.call_recomputed_chain``; ``path`` leads from the caller to this level."""
        return [
            (
                DepthwiseXCorr(self.hidden, channels, correlation=self.correlation, parent=None),
                path + (name,),
                (template, search),
            )
            for name, channels in self._branches()
        ]


def _single_level(features):
    """The one array of a single-level feature dict (or the array itself)."""
    if isinstance(features, dict):
        if len(features) != 1:
            raise ValueError(f"this head takes one feature level, got {sorted(features)}")
        return next(iter(features.values()))
    return features


class MultiRPN(nn.Module):
    """One DepthwiseRPN per level (``rpn2``, ``rpn3``, ...), fused across levels.

    If ``weighted``, learnable ``cls_weight`` / ``loc_weight`` (ones at init) pass through
    a softmax over levels at every forward and weight the raw logits / deltas; otherwise
    the levels are averaged.
    """

    anchor_num: int = 5
    in_channels: Sequence[int] = (256, 256, 256)
    weighted: bool = False
    correlation: str = "depthwise"
    remat: str = "none"  # see DepthwiseRPN
    cpu_traits: ClassVar[CpuTraits] = CpuTraits(recompute_phases=(0,))  # as the neck's

    @nn.compact
    def __call__(self, template_features, search_features, train: bool = False):
        keys = sorted_levels(template_features)
        if len(keys) != len(self.in_channels):
            raise ValueError(
                f"MultiRPN has {len(self.in_channels)} levels, features have {len(keys)}"
            )
        names = [f"rpn{position + 2}" for position in range(len(keys))]

        def level(position, **where):
            return DepthwiseRPN(self.anchor_num, self.in_channels[position], self.correlation,
                                self.remat, **where)  # fmt: skip

        if self.remat != "none" and train and not self.is_initializing():
            # All six branches form one chain: recomputed one at a time in backward.
            units = []
            for position, key in enumerate(keys):
                units += level(position, parent=None).recomputed_units(
                    (names[position],), template_features[key], search_features[key]
                )
            outputs = call_recomputed_chain(self, units, self.remat)
            cls_levels, loc_levels = outputs[0::2], outputs[1::2]
        else:
            cls_levels, loc_levels = [], []
            for position, key in enumerate(keys):
                rpn = level(position, name=names[position])
                cls, loc = rpn(template_features[key], search_features[key], train)
                cls_levels.append(cls)
                loc_levels.append(loc)
        cls_levels, loc_levels = jnp.stack(cls_levels), jnp.stack(loc_levels)
        if self.weighted:
            count = len(keys)
            cls_weight = self.param("cls_weight", nn.initializers.ones, (count,), jnp.float32)
            loc_weight = self.param("loc_weight", nn.initializers.ones, (count,), jnp.float32)
            cls_weight = jax.nn.softmax(cls_weight)
            loc_weight = jax.nn.softmax(loc_weight)
            return (
                jnp.tensordot(cls_weight, cls_levels, axes=1),
                jnp.tensordot(loc_weight, loc_levels, axes=1),
            )
        return cls_levels.mean(axis=0), loc_levels.mean(axis=0)


class UPChannelRPN(nn.Module):
    """SiamRPN's up-channel head (docs/parity.md §3.4): convs with bias, no BN,
    ``up_channel`` xcorr."""

    anchor_num: int = 5
    feature_in: int = 256
    correlation: str = "up_channel"

    @nn.compact
    def __call__(self, template_features, search_features, train: bool = False):
        del train  # no BatchNorm in this head
        template = _single_level(template_features)
        search = _single_level(search_features)
        cls_out, loc_out = 2 * self.anchor_num, 4 * self.anchor_num
        features = self.feature_in
        cls_kernel = conv(features * cls_out, 3, bias=True, name="template_cls_conv")(template)
        loc_kernel = conv(features * loc_out, 3, bias=True, name="template_loc_conv")(template)
        cls_search = conv(features, 3, bias=True, name="search_cls_conv")(search)
        loc_search = conv(features, 3, bias=True, name="search_loc_conv")(search)
        correlate = get_correlation(self.correlation)
        cls = correlate(cls_search, cls_kernel)
        loc = conv(loc_out, 1, bias=True, name="loc_adjust")(correlate(loc_search, loc_kernel))
        return cls, loc


@registry.register("rpn", "multi_rpn")
def multi_rpn(anchor_num=5, in_channels=(256, 256, 256), weighted=False, correlation="depthwise"):
    return MultiRPN(anchor_num, tuple(in_channels), weighted, correlation)


@registry.register("rpn", "depthwise_rpn")
def depthwise_rpn(anchor_num=5, in_channels=256, out_channels=256, correlation="depthwise"):
    del in_channels  # inferred from the features; kept for pysot's argument names
    return DepthwiseRPN(anchor_num, out_channels, correlation)


@registry.register("rpn", "up_channel_rpn")
def up_channel_rpn(anchor_num=5, feature_in=256, correlation="up_channel"):
    return UPChannelRPN(anchor_num, feature_in, correlation)
