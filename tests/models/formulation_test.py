"""Each pair of formulations the backend policy chooses between gives the same outputs
and gradients, so the choice is a speed choice only (siamjax/backend.py)."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from siamjax.backend import CPU_TUNED, PLAIN, Formulation, formulated
from siamjax.config_defaults import alex_model, base_config, mobilev2_model, r50_l234_model
from siamjax.models import build_model, init_variables
from siamjax.models.correlation import depthwise_taps, get_correlation
from siamjax.models.layers import DepthwiseConv, PointwiseConv, RowSplitConv, conv


def _values_and_gradients(module, formulation, variables, x):
    """Output and d(sum(sin(out)))/d(params, x) of ``module`` traced under ``formulation``."""

    def loss(params, x):
        with formulated(formulation):
            out = module.apply({**variables, "params": params}, x)
        return jnp.sum(jnp.sin(out)), out

    # A fresh jit per call: the formulation is read while tracing.
    (_, out), grads = jax.jit(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True))(
        variables["params"], x
    )
    return out, grads


def _assert_trees_close(a, b, rtol=2e-5, atol=2e-5):
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


class _Conv(nn.Module):
    features: int
    kernel: int
    stride: int = 1
    padding: int = 0
    bias: bool = True

    @nn.compact
    def __call__(self, x):
        return conv(self.features, self.kernel, stride=self.stride, padding=self.padding,
                    bias=self.bias, name="conv")(x)  # fmt: skip


@pytest.mark.parametrize(
    "kernel,stride,padding,swapped_in",
    [
        (1, 1, 0, PointwiseConv),
        (1, 2, 0, PointwiseConv),
        (5, 1, 0, RowSplitConv),
        (7, 1, 3, RowSplitConv),
        (3, 1, 1, nn.Conv),
    ],  # fmt: skip
)
def test_matmul_convs_equal_xla_convs(kernel, stride, padding, swapped_in):
    x = jnp.asarray(np.random.default_rng(1).normal(size=(2, 13, 11, 6)), jnp.float32)
    module = _Conv(5, kernel, stride, padding)
    variables = module.init(jax.random.key(0), x)
    variables = jax.tree_util.tree_map(lambda v: v + 0.1, variables)  # non-zero bias
    with formulated(Formulation(conv="matmul")):
        layer = conv(5, kernel, stride=stride, padding=padding, bias=True)
    assert type(layer) is swapped_in
    assert type(conv(5, kernel, stride=stride, padding=padding)) is nn.Conv  # plain
    out_matmul, grads_matmul = _values_and_gradients(
        module, Formulation(conv="matmul"), variables, x
    )
    out_xla, grads_xla = _values_and_gradients(module, PLAIN, variables, x)
    np.testing.assert_allclose(out_matmul, out_xla, rtol=1e-5, atol=1e-5)
    _assert_trees_close(grads_matmul, grads_xla)


@pytest.mark.parametrize("stride,padding,dilation", [(1, 1, 1), (2, 0, 1), (1, 2, 2), (2, 2, 2)])
def test_shifted_product_depthwise_conv_equals_the_grouped_conv(stride, padding, dilation):
    x = jnp.asarray(np.random.default_rng(2).normal(size=(2, 15, 12, 8)), jnp.float32)
    module = DepthwiseConv(3, stride, padding, dilation)
    variables = module.init(jax.random.key(1), x)
    shifted = Formulation(depthwise_conv="shifted_products")
    out_shifted, grads_shifted = _values_and_gradients(module, shifted, variables, x)
    out_grouped, grads_grouped = _values_and_gradients(module, PLAIN, variables, x)
    reference = nn.Conv(
        8, (3, 3), (stride, stride), ((padding, padding),) * 2, kernel_dilation=dilation,
        feature_group_count=8, use_bias=False,
    )  # fmt: skip
    np.testing.assert_allclose(out_grouped, reference.apply(variables, x), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out_shifted, out_grouped, rtol=1e-5, atol=1e-5)
    _assert_trees_close(grads_shifted, grads_grouped)


def test_shifted_depthwise_custom_gradient_equals_autodiff_in_each_dtype():
    """The one-pass kernel gradient (a variadic reduction) against autodiff of the plain sum
    of shifted products; in bfloat16 it accumulates in float32 and returns bfloat16."""
    from siamjax.models.layers import _shifted_forward, shifted_depthwise

    rng = np.random.default_rng(5)
    x = jnp.asarray(rng.normal(size=(2, 13, 11, 6)), jnp.float32)
    kernel = jnp.asarray(rng.normal(size=(3, 3, 1, 6)), jnp.float32)
    weights = jnp.asarray(rng.normal(size=(2, 5, 4, 6)), jnp.float32)  # stride 2, dilation 2

    def gradients(function, dtype):
        def loss(x, kernel):
            out = function(x.astype(dtype), kernel.astype(dtype), 2, 2).astype(jnp.float32)
            return jnp.sum(out * weights)

        return jax.jit(jax.grad(loss, argnums=(0, 1)))(x, kernel)

    expected = gradients(_shifted_forward, jnp.float32)
    for dtype, tolerance in ((jnp.float32, 1e-5), (jnp.bfloat16, 3e-2)):
        ours = gradients(shifted_depthwise, dtype)
        for name, value, reference in zip(("input", "kernel"), ours, expected):
            assert value.dtype == jnp.float32, name  # the cast back to the float32 input
            scale = float(jnp.abs(reference).max())
            error = float(jnp.abs(value - reference).max()) / scale
            assert error <= tolerance, f"{dtype.__name__} {name}: {error:.2g}"


def test_taps_correlation_equals_the_grouped_conv_and_follows_the_formulation():
    # Each test draws its own inputs: under pytest-xdist the order of tests varies.
    rng = np.random.default_rng(3)
    search = jnp.asarray(rng.normal(size=(3, 12, 12, 4)), jnp.float32)
    kernel = jnp.asarray(rng.normal(size=(3, 5, 5, 4)), jnp.float32)
    with formulated(Formulation(correlation="taps")):
        assert get_correlation("depthwise") is depthwise_taps
    grouped = get_correlation("depthwise")
    assert grouped is not depthwise_taps

    def loss(fn):
        return jax.value_and_grad(lambda s, k: jnp.sum(jnp.cos(fn(s, k))), (0, 1))

    value_taps, grads_taps = loss(depthwise_taps)(search, kernel)
    value_grouped, grads_grouped = loss(grouped)(search, kernel)
    # A sum of 768 cosines in float32: compare at the scale of its terms (atol), as the
    # total may cancel to near zero.
    np.testing.assert_allclose(value_taps, value_grouped, rtol=1e-5, atol=1e-4)
    _assert_trees_close(grads_taps, grads_grouped, rtol=1e-4, atol=1e-4)


def _small_configs():
    """The released architectures' structure at reduced width (fast on CPU)."""
    r18 = base_config()
    r50_l234_model(r18, neck_channels=(16, 16, 16))  # the r50 model's neck and head ...
    r18.model.backbone.name = "resnet18"  # ... on a smaller ResNet
    alex = base_config()
    alex_model(alex)
    alex.model.backbone.width_mult = 0.25
    alex.model.rpn.out_channels = 16
    mobile = base_config()
    mobilev2_model(mobile)
    mobile.model.backbone.width_mult = 0.35
    return {"resnet": r18, "alexnet": alex, "mobilenetv2": mobile}


@pytest.mark.parametrize(
    "name",
    # Every formulation pair is checked op by op above. Whole models compile for 20-60 s
    # in float64, so they run with the slow tests; the default run still compares the CPU
    # formulation (golden_test.py) and the plain one (the ONNX export, onnx_test.py)
    # with pysot's outputs for AlexNet and MobileNetV2.
    [
        pytest.param("resnet", marks=pytest.mark.slow),
        pytest.param("alexnet", marks=pytest.mark.slow),
        pytest.param("mobilenetv2", marks=pytest.mark.slow),
    ],  # fmt: skip
)
def test_whole_model_outputs_and_gradients_do_not_depend_on_the_formulation(name):
    """The CPU-tuned and the plain XLA model: same variables, outputs and gradients.

    In float64: through a deep network whose BatchNorm uses batch statistics of two
    samples, float32 rounding differences grow to ~1 % of some gradients, which would
    hide a real difference; in float64 both agree to 1e-9 of the largest gradient.
    """
    config = _small_configs()[name]
    tuned, plain = build_model(config.model, CPU_TUNED), build_model(config.model, PLAIN)
    variables = init_variables(tuned, jax.random.key(0), 127, 255)
    assert jax.tree_util.tree_structure(variables) == jax.tree_util.tree_structure(
        init_variables(plain, jax.random.key(0), 127, 255)
    )
    with jax.enable_x64(True):
        variables = jax.tree_util.tree_map(lambda v: jnp.asarray(v, jnp.float64), variables)
        rng = np.random.default_rng(4)
        template = jnp.asarray(rng.uniform(0, 255, (2, 127, 127, 3)), jnp.float64)
        search = jnp.asarray(rng.uniform(0, 255, (2, 159, 159, 3)), jnp.float64)

        def loss(model):
            def fn(params):
                outputs, _ = model.apply({**variables, "params": params}, template, search,
                                         train=True, mutable=["batch_stats"])  # fmt: skip
                value = jnp.mean(jnp.tanh(outputs["scores"])) + jnp.mean(outputs["deltas"] ** 2)
                return value, outputs

            return jax.jit(jax.value_and_grad(fn, has_aux=True))(variables["params"])

        (value_tuned, outputs_tuned), grads_tuned = loss(tuned)
        (value_plain, outputs_plain), grads_plain = loss(plain)
    assert outputs_plain["scores"].dtype == np.float64
    for key in ("scores", "deltas"):
        scale = float(np.abs(outputs_plain[key]).max())
        np.testing.assert_allclose(outputs_tuned[key], outputs_plain[key], atol=1e-9 * scale)
    np.testing.assert_allclose(value_tuned, value_plain, rtol=1e-9)
    leaves_plain = jax.tree_util.tree_leaves(grads_plain)
    overall = max(float(np.abs(b).max()) for b in leaves_plain)
    for a, b in zip(jax.tree_util.tree_leaves(grads_tuned), leaves_plain, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-9 * overall)
