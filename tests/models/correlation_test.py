"""Correlation variants against plain numpy loops, and adding a variant from config."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from siamjax import registry
from siamjax.config_loader import apply_overrides, load_config
from siamjax.models import build_model, correlation
from tests.conftest import config_path


def _loop_depthwise(search, kernel):
    batch, height, width, channels = search.shape
    kh, kw = kernel.shape[1:3]
    out = np.zeros((batch, height - kh + 1, width - kw + 1, channels))
    for b in range(batch):
        for y in range(out.shape[1]):
            for x in range(out.shape[2]):
                window = search[b, y : y + kh, x : x + kw, :].astype(np.float64)
                out[b, y, x] = (window * kernel[b]).sum(axis=(0, 1))
    return out


def _loop_up_channel(search, kernel):
    channels = search.shape[-1]
    count = kernel.shape[-1] // channels
    outputs = []
    for j in range(count):
        part = kernel[..., j * channels : (j + 1) * channels]
        outputs.append(_loop_depthwise(search, part).sum(axis=-1))
    return np.stack(outputs, axis=-1)


@pytest.fixture
def features():
    rng = np.random.default_rng(0)
    search = rng.normal(size=(3, 11, 9, 4)).astype(np.float32)
    kernel = rng.normal(size=(3, 5, 3, 4)).astype(np.float32)
    return search, kernel


@pytest.mark.parametrize("name", ["depthwise", "depthwise_vmap", "depthwise_taps"])
def test_depthwise_matches_numpy_loop(features, name):
    search, kernel = features
    out = np.asarray(jax.jit(correlation.get_correlation(name))(search, kernel))
    assert out.shape == (3, 7, 7, 4)
    np.testing.assert_allclose(out, _loop_depthwise(search, kernel), rtol=1e-5, atol=1e-5)


def test_up_channel_matches_numpy_loop(features):
    search, _ = features
    kernel = np.random.default_rng(1).normal(size=(3, 4, 4, 3 * 4)).astype(np.float32)
    out = np.asarray(correlation.up_channel(search, kernel))
    assert out.shape == (3, 8, 6, 3)
    np.testing.assert_allclose(out, _loop_up_channel(search, kernel), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("formulation", ["grouped", "taps"])
def test_naive_is_channel_summed_depthwise(features, formulation):
    from siamjax.backend import Formulation, formulated

    search, kernel = features
    with formulated(Formulation(correlation=formulation)):
        out = np.asarray(correlation.naive(search, kernel))
    assert out.shape == (3, 7, 7, 1)
    expected = _loop_depthwise(search, kernel).sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-4)


def test_unknown_correlation_lists_known_names():
    with pytest.raises(KeyError, match="depthwise.*naive"):
        correlation.get_correlation("nope")


# The default run trains a variant registered from a file through the experiment test
# (tests/experiment/experiment_test.py); this older path (config.model.imports) is slow.
@pytest.mark.slow
def test_toy_variant_selected_by_config_override():
    """What the README shows: register a variant, select it with --config overrides."""

    @registry.register("correlation", "toy_scaled_depthwise")
    def toy_scaled_depthwise(search, kernel):
        return correlation.depthwise(search, kernel) * 3.0

    calls = []

    @registry.register("correlation", "toy_spy")
    def toy_spy(search, kernel):
        calls.append(search.shape)
        return correlation.depthwise(search, kernel)

    base = load_config(config_path("siamrpn_alex_dwxcorr"))
    toy = apply_overrides(
        load_config(config_path("siamrpn_alex_dwxcorr")),
        ["model.rpn.correlation=toy_scaled_depthwise"],
    )
    spy = apply_overrides(
        load_config(config_path("siamrpn_alex_dwxcorr")), ["model.rpn.correlation=toy_spy"]
    )
    rng = np.random.default_rng(0)
    template = jnp.asarray(rng.uniform(0, 255, (1, 127, 127, 3)), jnp.float32)
    search = jnp.asarray(rng.uniform(0, 255, (1, 255, 255, 3)), jnp.float32)
    base_model, toy_model, spy_model = (build_model(c.model) for c in (base, toy, spy))
    variables = jax.jit(base_model.init)(jax.random.key(0), template, search)
    base_out = jax.jit(base_model.apply)(variables, template, search)
    spy_out = jax.jit(spy_model.apply)(variables, template, search)
    assert len(calls) == 2  # cls and loc branches
    # The spy calls the grouped conv, the base model the CPU policy's equal sum of taps.
    scale = float(np.abs(base_out["scores"]).max())
    np.testing.assert_allclose(spy_out["scores"], base_out["scores"], atol=1e-6 * scale)
    toy_out = jax.jit(toy_model.apply)(variables, template, search)
    assert not np.allclose(toy_out["scores"], base_out["scores"], atol=1e-3)

    # and it trains: gradients flow through the variant
    def loss(params):
        out = toy_model.apply({**variables, "params": params}, template, search)
        return jnp.mean(out["scores"] ** 2)

    grads = jax.jit(jax.grad(loss))(variables["params"])
    kernel_grad = grads["rpn_head"]["cls"]["conv_kernel"]["0"]["kernel"]
    assert float(jnp.abs(kernel_grad).max()) > 0


def test_imports_field_registers_variant(tmp_path, monkeypatch):
    module = tmp_path / "my_xcorr_module.py"
    module.write_text(
        "from siamjax import registry\n"
        "from siamjax.models.correlation import depthwise\n"
        "@registry.register('correlation', 'from_import')\n"
        "def from_import(search, kernel):\n"
        "    return depthwise(search, kernel)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    config = apply_overrides(
        load_config(config_path("siamrpn_alex_dwxcorr")),
        ["model.imports=('my_xcorr_module',)", "model.rpn.correlation=from_import"],
    )
    model = build_model(config.model)
    assert model.rpn_head.correlation == "from_import"
    shapes = jax.eval_shape(
        model.init, jax.random.key(0), jnp.zeros((1, 127, 127, 3)), jnp.zeros((1, 287, 287, 3))
    )
    assert "cls" in shapes["params"]["rpn_head"]


def test_up_channel_rpn_head_shapes_and_parameters():
    from siamjax.models.heads import UPChannelRPN

    head = UPChannelRPN(anchor_num=5, feature_in=256)
    template = jnp.zeros((2, 6, 6, 256))
    search = jnp.ones((2, 22, 22, 256))
    variables = jax.eval_shape(head.init, jax.random.key(0), template, search)
    cls, loc = jax.eval_shape(head.apply, variables, template, search)
    assert cls.shape == (2, 17, 17, 10) and loc.shape == (2, 17, 17, 20)
    params = variables["params"]
    # pysot: template convs F -> F·2A and F -> F·4A (3x3, bias), loc_adjust 4A -> 4A
    assert params["template_cls_conv"]["kernel"].shape == (3, 3, 256, 2560)
    assert params["template_loc_conv"]["kernel"].shape == (3, 3, 256, 5120)
    assert params["loc_adjust"]["kernel"].shape == (1, 1, 20, 20)
    assert "bias" in params["search_cls_conv"]


def test_depthwise_taps_gradient_equals_autodiff_of_the_sum(features):
    """The hand-written VJP (flipped-kernel taps, one reduction per tap) is exact."""
    search, kernel = features
    weights = np.random.default_rng(3).normal(size=(3, 7, 7, 4)).astype(np.float32)

    def loss(function):
        return lambda s, k: jnp.sum(function(s, k) * weights)

    ours = jax.grad(loss(correlation.depthwise_taps), (0, 1))(search, kernel)
    autodiff = jax.grad(loss(correlation._sum_of_taps), (0, 1))(search, kernel)
    for a, b in zip(ours, autodiff):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    batched = jax.vmap(jax.grad(loss(correlation.depthwise_taps)))(search[None], kernel[None])
    np.testing.assert_allclose(batched[0], ours[0], rtol=1e-6, atol=1e-6)
