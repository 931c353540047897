"""The PyTorch-equivalent building blocks: 1x1 convs as matmuls, BatchNorm statistics,
rematerialised ResNet blocks."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from siamjax.backend import CPU_TUNED, Formulation, formulated
from siamjax.models.backbones import Bottleneck, ResNet
from siamjax.models.layers import BatchNorm, PointwiseConv, conv


@pytest.mark.parametrize("stride", [1, 2])
def test_pointwise_conv_equals_a_1x1_convolution(stride):
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 9, 7, 6)), jnp.float32)
    with formulated(Formulation(conv="matmul")):
        layer = conv(5, 1, stride=stride, bias=True)
    assert isinstance(layer, PointwiseConv)
    variables = layer.init(jax.random.key(0), x)
    assert variables["params"]["kernel"].shape == (1, 1, 6, 5)
    variables = jax.tree_util.tree_map(lambda v: v + 0.1, variables)  # non-zero bias
    reference = nn.Conv(5, (1, 1), strides=(stride, stride), padding="VALID")
    expected = reference.apply(variables, x)
    np.testing.assert_allclose(layer.apply(variables, x), expected, rtol=1e-5, atol=1e-5)


def test_batch_norm_uses_the_biased_variance_and_stores_the_unbiased_one():
    x = np.random.default_rng(1).normal(2.0, 3.0, size=(3, 4, 5, 2)).astype(np.float32)
    layer = BatchNorm(use_running_average=False)
    variables = layer.init(jax.random.key(0), x)
    out, updates = layer.apply(variables, x, mutable=["batch_stats"])
    values = x.reshape(-1, 2).astype(np.float64)
    mean, biased, count = values.mean(0), values.var(0), values.shape[0]
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(biased + 1e-5), atol=1e-5)
    stats = updates["batch_stats"]
    np.testing.assert_allclose(stats["mean"], 0.1 * mean, rtol=1e-5)
    # PyTorch: running_var <- 0.9 running_var + 0.1 * unbiased batch variance
    np.testing.assert_allclose(stats["var"], 0.9 + 0.1 * biased * count / (count - 1), rtol=1e-5)
    # Eval mode normalises with the running statistics.
    evaluated = BatchNorm(use_running_average=True).apply({**variables, **updates}, x)
    np.testing.assert_allclose(
        evaluated, (x - stats["mean"]) / np.sqrt(stats["var"] + 1e-5), rtol=1e-5, atol=1e-5
    )


# Each compiles for 30-40 s: with the slow tests. The default run checks recomputation
# of the neck and head against the plain modules (recompute_test.py), the same wrapper.
@pytest.mark.parametrize(
    "remat",
    [
        pytest.param("blocks", marks=pytest.mark.slow),
        pytest.param("blocks_keep_convs", marks=pytest.mark.slow),
    ],
)
def test_rematerialised_blocks_give_the_same_values_statistics_and_gradients(remat):
    """Called twice (template then search, as SiamRPN does), in training mode: outputs,
    updated BatchNorm statistics and gradients equal the plain network's."""
    rng = np.random.default_rng(2)
    template = jnp.asarray(rng.uniform(0, 255, (2, 47, 47, 3)), jnp.float32)
    search = jnp.asarray(rng.uniform(0, 255, (2, 63, 63, 3)), jnp.float32)
    plain = ResNet(Bottleneck, (1, 2, 1, 1))
    recomputed = ResNet(Bottleneck, (1, 2, 1, 1), remat=remat)
    variables = plain.init(jax.random.key(0), search[:1])
    assert jax.tree_util.tree_structure(variables) == jax.tree_util.tree_structure(
        recomputed.init(jax.random.key(0), search[:1])
    )

    def loss(model, params):
        def run(images, stats):
            features, updates = model.apply(
                {"params": params, "batch_stats": stats},
                images,
                ("layer2", "layer3", "layer4"),
                mutable=["batch_stats"],
            )
            return features, updates["batch_stats"]

        template_features, stats = run(template, variables["batch_stats"])
        search_features, stats = run(search, stats)
        value = sum(jnp.mean(f**2) for f in template_features.values())
        value += sum(jnp.mean(jnp.sin(f)) for f in search_features.values())
        return value, stats

    (value, stats), grads = jax.jit(jax.value_and_grad(lambda p: loss(plain, p), has_aux=True))(
        variables["params"]
    )
    (value_remat, stats_remat), grads_remat = jax.jit(
        jax.value_and_grad(lambda p: loss(recomputed, p), has_aux=True)
    )(variables["params"])
    np.testing.assert_allclose(value_remat, value, rtol=1e-6)
    for a, b in zip(jax.tree_util.tree_leaves(stats_remat), jax.tree_util.tree_leaves(stats)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    changed = jax.tree_util.tree_map(
        lambda new, old: bool(np.any(np.asarray(new) != np.asarray(old))),
        stats_remat["layer2"],
        variables["batch_stats"]["layer2"],
    )
    assert all(jax.tree_util.tree_leaves(changed))  # statistics really were updated
    for a, b in zip(jax.tree_util.tree_leaves(grads_remat), jax.tree_util.tree_leaves(grads)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="remat"):
        ResNet(Bottleneck, (1, 1, 1, 1), remat="everything").init(jax.random.key(0), search[:1])


@pytest.mark.parametrize("formulation", [Formulation(), CPU_TUNED], ids=["default", "cpu"])
def test_initial_weights_are_float32_and_the_same_under_jax_enable_x64(formulation):
    """Float64 runs (the parity and device-count checks) start from the float32 run's
    weights: every parameter names its dtype, else x64 draws float64 values."""
    from siamjax.models import build_model, init_variables
    from tests.train.helpers import tiny_config

    model = build_model(tiny_config().model, formulation)

    def initial(x64):
        with jax.enable_x64(x64):
            return jax.device_get(init_variables(model, jax.random.key(3), 127, 255))

    plain, x64 = initial(False), initial(True)
    for a, b in zip(jax.tree_util.tree_leaves(plain), jax.tree_util.tree_leaves(x64),
                    strict=True):  # fmt: skip
        assert b.dtype == np.float32
        np.testing.assert_array_equal(a, b)
