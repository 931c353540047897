"""The correlation zoo's variants (models/fusion.py) on hand-computed cases."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from siamjax.models.correlation import depthwise, get_correlation
from siamjax.models.fusion import DepthwiseSE, depthwise_cosine, is_module_variant, pixelwise
from siamjax.models.heads import DepthwiseRPN


def test_pixelwise_correlates_every_template_position_on_the_centre_cropped_grid():
    search = np.arange(18, dtype=np.float32).reshape(1, 3, 3, 2)  # search[y, x] = (2k, 2k+1)
    kernel = np.array([[[[1.0, 0.0], [0.0, 2.0]]]], np.float32)  # (1, 1, 2, 2): two positions
    out = np.asarray(pixelwise(jnp.asarray(search), jnp.asarray(kernel)))
    # Output grid 3 x 2 = search columns 1..2 (centre crop by Wk // 2 = 1); channel p is
    # the dot product with kernel position p: p=0 -> first channel, p=1 -> 2 x second.
    expected = np.stack([search[0, :, 1:, 0], 2 * search[0, :, 1:, 1]], axis=-1)[None]
    np.testing.assert_allclose(out, expected)
    assert out.shape == (1, 3, 2, 2)


def test_depthwise_cosine_normalises_each_position_first():
    search = np.array([[[[3.0, 4.0]]]], np.float32)  # unit vector (0.6, 0.8)
    kernel = np.array([[[[2.0, 0.0]]]], np.float32)  # unit vector (1, 0)
    out = np.asarray(depthwise_cosine(jnp.asarray(search), jnp.asarray(kernel)))
    np.testing.assert_allclose(out, [[[[0.6, 0.0]]]], atol=1e-6)
    scaled = np.asarray(depthwise_cosine(jnp.asarray(10 * search), jnp.asarray(kernel)))
    np.testing.assert_allclose(scaled, out, atol=1e-6)  # scale-free


def test_depthwise_se_gates_the_depthwise_response():
    rng = np.random.default_rng(0)
    search = jnp.asarray(rng.normal(size=(2, 9, 9, 8)), jnp.float32)
    kernel = jnp.asarray(rng.normal(size=(2, 3, 3, 8)), jnp.float32)
    module = DepthwiseSE(reduction=4)
    params = module.init(jax.random.key(0), search, kernel)["params"]
    assert params["squeeze"]["kernel"].shape == (8, 2)
    # Zero weights and biases: every gate is sigmoid(0) = 0.5.
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    out = module.apply({"params": zeros}, search, kernel)
    np.testing.assert_allclose(out, 0.5 * np.asarray(depthwise(search, kernel)), rtol=1e-6)


# Builds and differentiates whole models per variant (13 s): with the slow tests; the
# default run builds every module variant inside a model and runs it (onnx_test.py).
@pytest.mark.slow
def test_a_module_variant_is_a_submodule_of_the_head():
    assert is_module_variant(get_correlation("depthwise_se"))
    assert not is_module_variant(get_correlation("pixelwise"))
    rng = np.random.default_rng(1)
    template = jnp.asarray(rng.normal(size=(1, 7, 7, 16)), jnp.float32)
    search = jnp.asarray(rng.normal(size=(1, 31, 31, 16)), jnp.float32)
    for correlation in ("depthwise_se", "cross_attention", "pixelwise", "depthwise_cosine",
                        "naive"):  # fmt: skip
        head = DepthwiseRPN(anchor_num=5, hidden=16, correlation=correlation)
        variables = head.init(jax.random.key(0), template, search)
        cls, loc = head.apply(variables, template, search)
        assert cls.shape == (1, 25, 25, 10) and loc.shape == (1, 25, 25, 20), correlation
        has_fusion = "fusion" in variables["params"]["cls"]
        assert has_fusion == (correlation in ("depthwise_se", "cross_attention"))


def test_sine_positional_encoding_by_hand():
    from siamjax.models.fusion import sine_positional_encoding

    encoding = np.asarray(sine_positional_encoding(3, 4, 4))  # half = 2: frequency 1
    assert encoding.shape == (3, 4, 4)
    np.testing.assert_allclose(
        encoding[1, 2], [np.sin(2.0), np.cos(2.0), np.sin(3.0), np.cos(3.0)], rtol=1e-6
    )


def test_cross_attention_sees_the_template_only_through_its_values():
    from siamjax.models.fusion import CrossAttention

    rng = np.random.default_rng(3)
    search = jnp.asarray(rng.normal(size=(1, 9, 9, 8)), jnp.float32)
    kernels = [jnp.asarray(rng.normal(size=(1, 3, 3, 8)), jnp.float32) for _ in range(2)]
    module = CrossAttention(num_heads=2)
    params = module.init(jax.random.key(0), search, kernels[0])["params"]
    outputs = [module.apply({"params": params}, search, k) for k in kernels]
    assert outputs[0].shape == (1, 7, 7, 8)  # the valid-correlation grid
    assert not np.allclose(outputs[0], outputs[1])
    # With the cross-attention's value projection zeroed, the template cannot matter.
    cross = dict(params["cross"])
    cross["value"] = jax.tree_util.tree_map(jnp.zeros_like, cross["value"])
    blind = {**params, "cross": cross}
    first, second = (module.apply({"params": blind}, search, k) for k in kernels)
    np.testing.assert_allclose(first, second, atol=1e-6)
