"""Feature-map sizes (docs/parity.md §1-§4) and parameter counts (§9.2, pysot's models)."""

import jax
import jax.numpy as jnp
import pytest

from siamjax.config_loader import load_config
from siamjax.models import backbones, build_model
from siamjax.models.siamrpn import SiamRPN
from tests.conftest import RELEASED_CONFIGS, config_path

# Counted on pysot's ModelBuilder (sum of parameter numel; backbone part separately).
PARAMETER_COUNTS = {
    "siamrpn_r50_l234_dwxcorr": (53_950_624, 45_528_128),
    "siamrpn_r50_l234_dwxcorr_otb": (53_950_618, 45_528_128),
    "siamrpn_r50_l234_dwxcorr_lt": (60_018_336, 45_528_128),
    "siamrpn_alex_dwxcorr": (6_251_102, 3_749_952),
    "siamrpn_alex_dwxcorr_otb": (6_251_102, 3_749_952),
    "siamrpn_mobilev2_l234_dwxcorr": (11_150_446, 3_485_204),
}


def _shapes(model, *inputs, method=None, mutable=False):
    variables = jax.eval_shape(model.init, jax.random.key(0), *inputs, method=method)
    return variables, jax.eval_shape(
        lambda v, *x: model.apply(v, *x, method=method, mutable=mutable), variables, *inputs
    )


def _images(size, batch=1):
    return jnp.zeros((batch, size, size, 3), jnp.float32)


def _count(tree):
    return sum(int(leaf.size) for leaf in jax.tree_util.tree_leaves(tree))


@pytest.mark.parametrize("name", RELEASED_CONFIGS)
def test_parameter_counts_equal_pysot(name):
    config = load_config(config_path(name))
    model = build_model(config.model)
    instance = config.track.instance_size
    variables, _ = _shapes(model, _images(127), _images(instance))
    total, backbone = PARAMETER_COUNTS[name]
    assert _count(variables["params"]) == total
    assert _count(variables["params"]["backbone"]) == backbone


@pytest.mark.parametrize(
    "size, stem, layer1, layer234",
    [(127, 61, 31, 15), (255, 125, 63, 31), (831, 413, 207, 103)],
)
def test_resnet50_stage_sizes(size, stem, layer1, layer234):
    model = backbones.resnet50()
    _, (outputs, state) = _shapes(model, _images(size), mutable=["intermediates"])
    stages = {k: v[0].shape for k, v in state["intermediates"].items()}
    assert stages["stage0"] == (1, stem, stem, 64)
    assert stages["stage1"] == (1, layer1, layer1, 256)
    assert {k: v.shape for k, v in outputs.items()} == {
        "stage2": (1, layer234, layer234, 512),
        "stage3": (1, layer234, layer234, 1024),
        "stage4": (1, layer234, layer234, 2048),
    }


@pytest.mark.parametrize("factory, channels", [(backbones.resnet18, (128, 256, 512)),
                                               (backbones.resnet34, (128, 256, 512))])  # fmt: skip
def test_basic_block_resnets_match_resnet50_sizes(factory, channels):
    _, outputs = _shapes(factory(), _images(255))
    assert [outputs[k].shape for k in ("stage2", "stage3", "stage4")] == [
        (1, 31, 31, c) for c in channels
    ]


@pytest.mark.parametrize("legacy", [True, False])
@pytest.mark.parametrize("size, out", [(127, 6), (255, 22), (287, 26)])
def test_alexnet_sizes(legacy, size, out):
    model = backbones.AlexNet(legacy=legacy)
    _, outputs = _shapes(model, _images(size))
    assert outputs["stage5"].shape == (1, out, out, 256)


def test_alexnet_width_multiplier():
    variables, outputs = _shapes(backbones.AlexNet(width_mult=0.5, legacy=True), _images(127))
    assert outputs["stage5"].shape == (1, 6, 6, 128)
    assert variables["params"]["features"]["0"]["kernel"].shape == (11, 11, 3, 48)


@pytest.mark.parametrize("size, out", [(127, 15), (255, 31)])
def test_mobilenetv2_sizes(size, out):
    _, (outputs, state) = _shapes(
        backbones.mobilenetv2(width_mult=1.4), _images(size), mutable=["intermediates"]
    )
    assert {k: v.shape[1:] for k, v in outputs.items()} == {
        "stage3": (out, out, 44),
        "stage5": (out, out, 134),
        "stage7": (out, out, 448),
    }
    stem = state["intermediates"]["stage0"][0].shape
    assert stem == (1, (size - 3) // 2 + 1, (size - 3) // 2 + 1, 44)


@pytest.mark.parametrize(
    "name, search, template_side, score",
    [
        ("siamrpn_r50_l234_dwxcorr", 255, 7, 25),
        ("siamrpn_r50_l234_dwxcorr_lt", 831, 7, 97),
        ("siamrpn_mobilev2_l234_dwxcorr", 255, 7, 25),
        ("siamrpn_alex_dwxcorr", 287, 6, 21),
        ("siamrpn_alex_dwxcorr", 255, 6, 17),
    ],
)
def test_model_output_sizes(name, search, template_side, score):
    model = build_model(load_config(config_path(name)).model)
    variables = jax.eval_shape(model.init, jax.random.key(0), _images(127), _images(search))
    features = jax.eval_shape(
        lambda v, z: model.apply(v, z, method=SiamRPN.embed_template), variables, _images(127)
    )
    assert {v.shape[1:3] for v in features.values()} == {(template_side, template_side)}
    outputs = jax.eval_shape(model.apply, variables, _images(127, 2), _images(search, 2))
    assert outputs["scores"].shape == (2, score, score, 5, 2)
    assert outputs["deltas"].shape == (2, score, score, 5, 4)


def test_unknown_backbone_argument_is_rejected():
    with pytest.raises(TypeError, match="unknown arguments"):
        backbones.resnet50(used_layer=(2,))


def test_padded_tinynet_gives_its_last_three_stages_one_size():
    import jax.numpy as jnp

    from siamjax.models.backbones import tinynet

    plain, padded = tinynet(), tinynet(used_layers=(3, 4, 5), padded=True)
    variables = plain.init(jax.random.key(0), jnp.zeros((1, 127, 127, 3)))
    # The same weights: padding changes no parameter, only where stages 4-5 look.
    assert jax.tree.map(jnp.shape, variables) == jax.tree.map(
        jnp.shape, padded.init(jax.random.key(0), jnp.zeros((1, 127, 127, 3)))
    )
    assert plain.apply(variables, jnp.zeros((1, 255, 255, 3)))["stage5"].shape == (1, 27, 27, 64)
    stages = padded.apply(variables, jnp.zeros((1, 255, 255, 3)))
    assert {name: value.shape[1:3] for name, value in stages.items()} == {
        "stage3": (31, 31), "stage4": (31, 31), "stage5": (31, 31)
    }  # fmt: skip
    with pytest.raises(TypeError, match="used_layers"):
        tinynet(used_layers=(6,))
