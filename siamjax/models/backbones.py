"""Backbones exactly as pysot builds them (docs/parity.md §1), in Flax Linen, NHWC.

* ``resnet50`` / ``resnet34`` / ``resnet18``: pysot's dilated ("atrous") ResNet with
  conv1 padding 0, stride-2 3x3 convs with padding 0, 3x3 downsample convs and half
  dilation in the first block of a dilated stage.
* ``alexnet`` / ``alexnetlegacy``: the SiamRPN AlexNet (BN -> max-pool -> ReLU order),
  stored as ``layer1..5`` or as one ``features`` sequence.
* ``mobilenetv2``: inverted residuals with dilated later stages, no final 1280 conv.

Every backbone maps ``(N, H, W, 3)`` BGR 0-255 float32 images to a dict
``{'stage{i}': (N, h, w, c)}`` of the stages listed in ``used_layers``. Stages that
are computed but not returned are still recorded with ``self.sow('intermediates', ...)``
so parity tests can compare every stage. Module and layer names mirror pysot's
state_dict keys (``layer2.0.downsample.0``), which is what makes conversion mechanical.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import flax.linen as nn
import jax

from siamjax import registry
from siamjax.backend import CpuTraits
from siamjax.models.layers import (
    ConvBN,
    DepthwiseConv,
    activate,
    batch_norm,
    conv,
    layer_mode,
    max_pool,
)
from siamjax.models.recompute import POLICIES, call_recomputed

Features = dict[str, jax.Array]


# --------------------------------------------------------------------------- ResNet


def _block_conv_geometry(stride: int, dilation: int, has_downsample: bool) -> tuple[int, int]:
    """(padding, dilation) of a block's strided 3x3 conv, pysot's rule (docs/parity.md §1.1).

    Stride-2 convs get padding 0; the first block of a dilated stage (the one with a
    downsample branch) uses half the stage dilation.
    """
    padding = 2 - stride
    if has_downsample and dilation > 1:
        dilation = dilation // 2
        padding = dilation
    if dilation > 1:
        padding = dilation
    return padding, dilation


class Bottleneck(nn.Module):
    """ResNet-50 bottleneck (expansion 4); stride on the 3x3 conv."""

    planes: int
    stride: int = 1
    dilation: int = 1
    downsample: dict | None = None  # kwargs of the downsample ConvBN, or None

    expansion = 4

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        padding, dilation = _block_conv_geometry(
            self.stride, self.dilation, self.downsample is not None
        )
        out = conv(self.planes, 1, name="conv1")(x)
        out = nn.relu(batch_norm(train, "bn1")(out))
        out = conv(
            self.planes, 3, stride=self.stride, padding=padding, dilation=dilation, name="conv2"
        )(out)
        out = nn.relu(batch_norm(train, "bn2")(out))
        out = conv(self.planes * 4, 1, name="conv3")(out)
        out = batch_norm(train, "bn3")(out)
        residual = x
        if self.downsample is not None:
            residual = ConvBN(**self.downsample, name="downsample")(x, train)
        return nn.relu(out + residual)


class BasicBlock(nn.Module):
    """ResNet-18/34 basic block (expansion 1), pysot's padding rule (docs/parity.md §1.2)."""

    planes: int
    stride: int = 1
    dilation: int = 1
    downsample: dict | None = None

    expansion = 1

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        padding = 2 - self.stride
        if self.dilation > 1:
            padding = self.dilation
        first_dilation = self.dilation
        if self.downsample is not None and self.dilation > 1:
            first_dilation = self.dilation // 2
            padding = first_dilation
        out = conv(
            self.planes,
            3,
            stride=self.stride,
            padding=padding,
            dilation=first_dilation,
            name="conv1",
        )(x)
        out = nn.relu(batch_norm(train, "bn1")(out))
        out = conv(self.planes, 3, padding=self.dilation, dilation=self.dilation, name="conv2")(out)
        out = batch_norm(train, "bn2")(out)
        residual = x
        if self.downsample is not None:
            residual = ConvBN(**self.downsample, name="downsample")(x, train)
        return nn.relu(out + residual)


REMAT_MODES = ("none",) + tuple(POLICIES)


class ResLayer(nn.Module):
    """One ResNet stage: blocks named '0', '1', ... like pysot's ``nn.Sequential``."""

    block: type
    in_channels: int
    planes: int
    num_blocks: int
    stride: int = 1
    dilation: int = 1
    remat: str = "none"  # see ResNet.remat

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        if self.remat not in REMAT_MODES:
            raise ValueError(f"remat is {self.remat!r}; expected one of {REMAT_MODES}")
        out_channels = self.planes * self.block.expansion
        downsample = None
        if self.stride != 1 or self.in_channels != out_channels:
            if self.stride == 1 and self.dilation == 1:
                downsample = dict(features=out_channels, kernel=1)
            else:
                # Non-standard 3x3 downsample (docs/parity.md §1.1).
                half = self.dilation // 2 if self.dilation > 1 else 1
                downsample = dict(
                    features=out_channels,
                    kernel=3,
                    stride=self.stride,
                    padding=half if self.dilation > 1 else 0,
                    dilation=half,
                )
        block_arguments = [dict(stride=self.stride, downsample=downsample)]
        block_arguments += [{} for _ in range(1, self.num_blocks)]
        for index, arguments in enumerate(block_arguments):
            name = str(index)
            if self.remat == "none" or not train or self.is_initializing():
                block = self.block(self.planes, dilation=self.dilation, name=name, **arguments)
                x = block(x, train)
            else:
                # Recomputed in the backward pass; its statistics are written back.
                block = self.block(self.planes, dilation=self.dilation, parent=None, **arguments)
                x = call_recomputed(self, block, name, (x,), self.remat)
        return x


class ResNet(nn.Module):
    """pysot's dilated ResNet (``resnet_atrous``); see docs/parity.md §1.1.

    Attributes:
      block: ``Bottleneck`` or ``BasicBlock``.
      stage_sizes: blocks per stage, e.g. (3, 4, 6, 3).
      used_layers: indices into [stem, layer1, layer2, layer3, layer4] to return.
        layer3 / layer4 are built only when listed (as in pysot).
    """

    block: type
    stage_sizes: Sequence[int]
    used_layers: Sequence[int] = (2, 3, 4)
    # Training memory: recompute residual blocks in the backward pass (REMAT_MODES).
    remat: str = "none"

    # XLA:CPU: blocks recomputed once layers train; YNN fusions off while frozen.
    cpu_traits: ClassVar[CpuTraits] = CpuTraits(recompute_phases=(1,), ynn_fusion_phases=(1,))

    @nn.compact
    def __call__(self, x: jax.Array, train=False) -> Features:
        x = conv(64, 7, stride=2, padding=0, name="conv1")(x)  # padding 0: pysot quirk
        stem = nn.relu(batch_norm(layer_mode(train, "bn1"), "bn1")(x))
        x = max_pool(stem, 3, 2, padding=1)
        expansion = self.block.expansion
        outputs = {"stage0": stem}
        in_channels = 64
        stages = (
            (1, 64, 1, 1),
            (2, 128, 2, 1),
            (3, 256, 1, 2),
            (4, 512, 1, 4),
        )
        for index, planes, stride, dilation in stages:
            if index >= 3 and index not in self.used_layers:
                outputs[f"stage{index}"] = x  # pysot replaces it by an identity
                continue
            x = ResLayer(
                self.block,
                in_channels,
                planes,
                self.stage_sizes[index - 1],
                stride,
                dilation,
                self.remat,
                name=f"layer{index}",
            )(x, layer_mode(train, f"layer{index}"))
            in_channels = planes * expansion
            outputs[f"stage{index}"] = x
        return _select(self, outputs, self.used_layers)


def _select(module: nn.Module, outputs: Features, used_layers: Sequence[int]) -> Features:
    """Records every stage as an intermediate and returns the used ones."""
    for name, value in outputs.items():
        module.sow("intermediates", name, value)
    return {f"stage{index}": outputs[f"stage{index}"] for index in used_layers}


@registry.register("backbone", "resnet50")
def resnet50(used_layers: Sequence[int] = (2, 3, 4), **unused) -> ResNet:
    _reject_unknown("resnet50", unused)
    return ResNet(Bottleneck, (3, 4, 6, 3), tuple(used_layers))


@registry.register("backbone", "resnet34")
def resnet34(used_layers: Sequence[int] = (2, 3, 4), **unused) -> ResNet:
    _reject_unknown("resnet34", unused)
    return ResNet(BasicBlock, (3, 4, 6, 3), tuple(used_layers))


@registry.register("backbone", "resnet18")
def resnet18(used_layers: Sequence[int] = (2, 3, 4), **unused) -> ResNet:
    _reject_unknown("resnet18", unused)
    return ResNet(BasicBlock, (2, 2, 2, 2), tuple(used_layers))


def _reject_unknown(name: str, unused: dict) -> None:
    if unused:
        raise TypeError(f"backbone {name!r} got unknown arguments: {sorted(unused)}")


# --------------------------------------------------------------------------- AlexNet

ALEXNET_CHANNELS = (3, 96, 256, 384, 384, 256)
# (kernel, stride, max-pool after BN, ReLU at the end) per conv, docs/parity.md §1.3.
_ALEXNET_LAYERS = ((11, 2, True, True), (5, 1, True, True), (3, 1, False, True),
                   (3, 1, False, True), (3, 1, False, False))  # fmt: skip


def alexnet_legacy_conv_indices() -> tuple[int, ...]:
    """Index of each layer's conv in the legacy ``features`` Sequential (BN follows at
    index + 1): (0, 4, 8, 11, 14)."""
    indices, index = [], 0
    for _, _, pool, relu in _ALEXNET_LAYERS:
        indices.append(index)
        index += 2 + int(pool) + int(relu)
    return tuple(indices)


def _alexnet_channels(width_mult: float) -> list[int]:
    return [3] + [int(c * width_mult) for c in ALEXNET_CHANNELS[1:]]


def _alexnet_forward(x, make_conv_bn, width_mult: float) -> dict[str, jax.Array]:
    """Runs the five AlexNet layers; ``make_conv_bn(layer, sequence_index)`` builds conv+BN."""
    channels = _alexnet_channels(width_mult)
    outputs = {}
    # position of each conv in the legacy ``features`` Sequential
    sequence_indices = alexnet_legacy_conv_indices()
    for layer, (kernel, stride, pool, relu) in enumerate(_ALEXNET_LAYERS, start=1):
        x = make_conv_bn(layer, sequence_indices[layer - 1], channels[layer], kernel, stride)(x)
        if pool:  # BN -> max-pool -> ReLU, pysot's order
            x = max_pool(x, 3, 2)
        if relu:
            x = nn.relu(x)
        outputs[f"stage{layer}"] = x
    return outputs


class AlexNetFeatures(nn.Module):
    """pysot's ``AlexNetLegacy.features``: one Sequential, conv at 0/4/8/11/14, BN after."""

    # XLA:CPU: YNN fusions off in both phases (slower for AlexNet).
    cpu_traits: ClassVar[CpuTraits] = CpuTraits(ynn_fusion_phases=())

    width_mult: float = 1.0

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> dict[str, jax.Array]:
        def make_conv_bn(layer, index, features, kernel, stride):
            conv_layer = conv(features, kernel, stride=stride, bias=True, name=str(index))
            bn_layer = batch_norm(train, str(index + 1))
            return lambda y: bn_layer(conv_layer(y))

        return _alexnet_forward(x, make_conv_bn, self.width_mult)


class AlexNet(nn.Module):
    """SiamRPN AlexNet (docs/parity.md §1.3); returns ``{'stage5': (N, h, w, 256·width_mult)}``.

    Attributes:
      width_mult: multiplies every channel count but the input's.
      legacy: store layers as one ``features`` sequence (pysot's ``alexnetlegacy``)
        instead of ``layer1..layer5``.
    """

    # XLA:CPU: YNN fusions off in both phases (slower for AlexNet).
    cpu_traits: ClassVar[CpuTraits] = CpuTraits(ynn_fusion_phases=())

    width_mult: float = 1.0
    legacy: bool = False

    @nn.compact
    def __call__(self, x: jax.Array, train=False) -> Features:
        if self.legacy:
            outputs = AlexNetFeatures(self.width_mult, name="features")(
                x, layer_mode(train, "features")
            )
        else:

            def make_conv_bn(layer, index, features, kernel, stride):
                block = ConvBN(features, kernel, stride=stride, bias=True, name=f"layer{layer}")
                return lambda y: block(y, layer_mode(train, f"layer{layer}"))

            outputs = _alexnet_forward(x, make_conv_bn, self.width_mult)
        return _select(self, outputs, (5,))


@registry.register("backbone", "alexnet")
def alexnet(width_mult: float = 1.0, **unused) -> AlexNet:
    _reject_unknown("alexnet", unused)
    return AlexNet(width_mult=width_mult, legacy=False)


@registry.register("backbone", "alexnetlegacy")
def alexnetlegacy(width_mult: float = 1.0, **unused) -> AlexNet:
    _reject_unknown("alexnetlegacy", unused)
    return AlexNet(width_mult=width_mult, legacy=True)


# --------------------------------------------------------------------------- TinyNet


class TinyNet(nn.Module):
    """A small stride-8 conv stack for CPU training (the quickstart and tests); not in pysot.

    Five 3×3 conv+BN layers (strides 2, 2, 2, 1, 1; ReLU after all but the last, like
    AlexNet), valid by default: 127 -> 11×11 and 255 -> 27×27 features, so with a
    DepthwiseRPN and ``base_size`` 0 the score map is 17×17. About 1/40 of AlexNet's
    multiply-adds. ``padded``: layers 4 and 5 pad by 1, so stages 3-5 share one size
    (127 -> 15×15, 255 -> 31×31) as pysot's dilated ResNet's layers 2-4 do, padding
    included (the SiamRPN++ paper's centre-bias argument), and can be aggregated.
    Returns ``{'stage<i>': (N, h, w, channels[i - 1])}`` for ``used_layers``.
    """

    channels: Sequence[int] = (16, 32, 64, 64, 64)
    used_layers: Sequence[int] = (5,)
    padded: bool = False

    @nn.compact
    def __call__(self, x: jax.Array, train=False) -> Features:
        outputs = {}
        strides = (2, 2, 2, 1, 1)
        for index, (features, stride) in enumerate(zip(self.channels, strides), start=1):
            last = index == len(strides)
            padding = 1 if self.padded and stride == 1 else 0
            x = ConvBN(features, 3, stride=stride, padding=padding,
                       activation=None if last else "relu",
                       name=f"layer{index}")(x, layer_mode(train, f"layer{index}"))  # fmt: skip
            outputs[f"stage{index}"] = x
        return _select(self, outputs, self.used_layers)


@registry.register("backbone", "tinynet")
def tinynet(
    channels: Sequence[int] = (16, 32, 64, 64, 64),
    used_layers: Sequence[int] = (5,),
    padded: bool = False,
    **unused,
) -> TinyNet:
    _reject_unknown("tinynet", unused)
    if len(channels) != 5:
        raise TypeError(f"tinynet needs 5 channel counts, got {tuple(channels)}")
    if not used_layers or not set(used_layers) <= {1, 2, 3, 4, 5}:
        raise TypeError(f"tinynet: used_layers {tuple(used_layers)} must be among 1-5")
    return TinyNet(tuple(int(c) for c in channels), tuple(int(i) for i in used_layers),
                   bool(padded))  # fmt: skip


# --------------------------------------------------------------------------- MobileNetV2

# (expansion t, channels c, blocks n, stride s, dilation d) per stage, pysot's dilated
# setting (docs/parity.md §1.4).
MOBILENETV2_STAGES = (
    (1, 16, 1, 1, 1),
    (6, 24, 2, 2, 1),
    (6, 32, 3, 2, 1),
    (6, 64, 4, 1, 2),
    (6, 96, 3, 1, 2),
    (6, 160, 3, 1, 4),
    (6, 320, 1, 1, 4),
)


class InvertedResidualConv(nn.Module):
    """pysot's ``InvertedResidual.conv`` Sequential: pw(0,1) -> dw(3,4) -> pw-linear(6,7)."""

    hidden: int
    out_channels: int
    stride: int
    dilation: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        padding = 2 - self.stride  # stride-2 depthwise convs get padding 0
        if self.dilation > 1:
            padding = self.dilation
        x = conv(self.hidden, 1, name="0")(x)
        x = activate(batch_norm(train, "1")(x), "relu6")
        x = DepthwiseConv(3, self.stride, padding, self.dilation, name="3")(x)
        x = activate(batch_norm(train, "4")(x), "relu6")
        x = conv(self.out_channels, 1, name="6")(x)
        return batch_norm(train, "7")(x)


class InvertedResidual(nn.Module):
    """MobileNetV2 block; every block has the expansion conv, even for t = 1."""

    in_channels: int
    out_channels: int
    stride: int
    expansion: int
    dilation: int = 1

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        out = InvertedResidualConv(
            self.in_channels * self.expansion,
            self.out_channels,
            self.stride,
            self.dilation,
            name="conv",
        )(x, train)
        if self.stride == 1 and self.in_channels == self.out_channels:
            return x + out
        return out


class MobileNetStage(nn.Module):
    """One MobileNetV2 stage ``layer{k}`` with blocks '0', '1', ..."""

    in_channels: int
    out_channels: int
    num_blocks: int
    stride: int
    expansion: int
    first_dilation: int
    dilation: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        channels = self.in_channels
        for index in range(self.num_blocks):
            first = index == 0
            x = InvertedResidual(
                channels,
                self.out_channels,
                self.stride if first else 1,
                self.expansion,
                self.first_dilation if first else self.dilation,
                name=str(index),
            )(x, train)
            channels = self.out_channels
        return x


class MobileNetV2(nn.Module):
    """pysot's dilated MobileNetV2 (docs/parity.md §1.4); all 8 layers always run.

    Attributes:
      width_mult: channel multiplier (1.4 in the released model).
      used_layers: indices into [layer0 .. layer7] to return.
    """

    width_mult: float = 1.0
    used_layers: Sequence[int] = (3, 5, 7)

    # ONNX Runtime tracker: template features baked into a search session per template
    # (the depthwise correlations are a larger share of this network's time).
    cpu_traits: ClassVar[CpuTraits] = CpuTraits(onnx_template_constants=True)

    @nn.compact
    def __call__(self, x: jax.Array, train=False) -> Features:
        channels = int(32 * self.width_mult)
        x = ConvBN(channels, 3, stride=2, padding=0, activation="relu6", name="layer0")(
            x, layer_mode(train, "layer0")
        )
        outputs = {"stage0": x}
        last_dilation = 1
        for index, (t, c, n, s, d) in enumerate(MOBILENETV2_STAGES, start=1):
            out_channels = int(c * self.width_mult)
            # Block 0 keeps the dilation only if it equals the previous stage's.
            first_dilation = d if d == last_dilation else max(d // 2, 1)
            x = MobileNetStage(
                channels, out_channels, n, s, t, first_dilation, d, name=f"layer{index}"
            )(x, layer_mode(train, f"layer{index}"))
            outputs[f"stage{index}"] = x
            channels = out_channels
            last_dilation = d
        return _select(self, outputs, self.used_layers)


@registry.register("backbone", "mobilenetv2")
def mobilenetv2(width_mult: float = 1.0, used_layers: Sequence[int] = (3, 5, 7), **unused):
    _reject_unknown("mobilenetv2", unused)
    return MobileNetV2(width_mult=width_mult, used_layers=tuple(used_layers))
