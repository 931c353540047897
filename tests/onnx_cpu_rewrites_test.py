"""The tracker's rewrites of its ONNX models for ONNX Runtime on the CPU keep the outputs.

Zero-padding channel counts to the blocked layout's width:

* a small graph with every case the pass handles: ordinary, depthwise and a final
  convolution with odd channel counts, ReLU6, a residual sum, a reshape that must see the
  real channels and a padded tensor that is a graph output;
* the MobileNetV2 search network as the tracker runs it: every constant-weight
  convolution ends with channel counts that are multiples of the block, outputs unchanged;
* the block width follows the CPU's flags (real /proc/cpuinfo files).

Final Transposes run in numpy: outputs unchanged, a Transpose whose result something else
reads too stays in the graph.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from siamjax.config_loader import load_config
from siamjax.export.channel_padding import pad_channels
from siamjax.export.onnx import function_to_onnx, search_onnx_model, template_onnx_model
from siamjax.export.output_transposes import HostTransposedSession, host_output_transposes
from siamjax.machine import cpu_flags
from siamjax.models import build_model, init_variables
from siamjax.tracking.onnx_network import nchwc_block
from tests.conftest import config_path

ort = pytest.importorskip("onnxruntime")
CPUINFO = os.path.join(os.path.dirname(__file__), "tracking", "cpuinfo")


def _session(proto):
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(proto.SerializeToString(), options)


def _conv(x, kernel, groups=1):
    return lax.conv_general_dilated(x, kernel, (1, 1), "VALID", feature_group_count=groups,
                                    dimension_numbers=("NHWC", "HWIO", "NHWC"))  # fmt: skip


def _channel_counts(proto):
    """(input channels, output channels, group) of every constant-weight Conv."""
    from onnx import numpy_helper

    constants = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    counts = []
    for node in proto.graph.node:
        if node.op_type == "Conv" and node.input[1] in constants:
            group = next((a.i for a in node.attribute if a.name == "group"), 1)
            weight = constants[node.input[1]]
            counts.append((weight.shape[1] * group, weight.shape[0], group))
    return counts


def test_padding_keeps_every_output_of_a_graph_with_each_case():
    rng = np.random.default_rng(0)
    first = rng.normal(size=(3, 3, 3, 6)).astype(np.float32)
    depthwise = rng.normal(size=(3, 3, 1, 6)).astype(np.float32)
    pointwise = rng.normal(size=(1, 1, 6, 6)).astype(np.float32)
    last = rng.normal(size=(1, 1, 6, 5)).astype(np.float32)

    def network(x):
        features = jnp.clip(_conv(x, first), 0.0, 6.0)  # 6 channels: padded to 8
        mixed = jax.nn.relu(_conv(features, depthwise, groups=6))
        residual = _conv(mixed, pointwise) + mixed  # both padded alike
        centre = features[:, 1:-1, 1:-1, :]  # a spatial slice must see the real channels
        total = (residual + centre).reshape(1, -1).sum(axis=1)
        return [residual, total, _conv(residual, last)]

    x = rng.uniform(0, 1, (1, 11, 11, 3)).astype(np.float32)
    proto = function_to_onnx(network, {"x": x}, ["residual", "total", "scores"], "padding")
    padded = pad_channels(proto, 4)
    assert [out for _, out, _ in _channel_counts(proto)] == [6, 6, 6, 5]
    assert _channel_counts(padded) == [(3, 8, 1), (8, 8, 8), (8, 8, 1), (8, 8, 1)]
    assert [value.name for value in padded.graph.output] == ["residual", "total", "scores"]
    expected = network(x)
    outputs = _session(padded).run(None, {"x": x})
    for name, ours, reference in zip(("residual", "total", "scores"), outputs, expected):
        assert ours.shape == reference.shape, name
        np.testing.assert_allclose(ours, np.asarray(reference), rtol=1e-5, atol=1e-4)
    assert pad_channels(proto, 1) is proto  # no blocked layout: nothing to do


# 25 s: with the slow tests. The default run checks the padded MobileNetV2 against pysot's
# goldens (tests/onnx_test.py runs every ONNX model padded, as the tracker does).
@pytest.mark.slow
def test_mobilenet_search_network_runs_padded_with_the_same_outputs():
    config = load_config(config_path("siamrpn_mobilev2_l234_dwxcorr"))
    model = build_model(config.model)
    variables = jax.device_get(init_variables(model, jax.random.key(2)))
    template_proto, names = template_onnx_model(model, variables, 1, 127)
    search_proto = search_onnx_model(model, variables, 1, 127, 255)
    padded = pad_channels(search_proto, 16)
    counts = _channel_counts(padded)
    assert any(out % 16 for _, out, _ in _channel_counts(search_proto))  # 44, 22, 134, ...
    # Every convolution in the blocked layout; the image's 3 channels stay as they are.
    assert all(out % 16 == 0 and (inputs % 16 == 0 or inputs == 3) for inputs, out, _ in counts)
    rng = np.random.default_rng(0)
    template = rng.uniform(0, 255, (1, 127, 127, 3)).astype(np.float32)
    features = _session(template_proto).run(None, {"template": template})
    feeds = {"search": rng.uniform(0, 255, (1, 255, 255, 3)).astype(np.float32),
             **{f"template_{k}": v for k, v in zip(names, features)}}  # fmt: skip
    plain_outputs = _session(search_proto).run(None, feeds)
    padded_outputs = _session(padded).run(None, feeds)
    for name, plain, ours in zip(("scores", "deltas"), plain_outputs, padded_outputs):
        assert ours.shape == plain.shape, name
        scale = float(np.abs(plain).max())
        # The same sums plus exact zeros, in another order: float32 rounding only.
        assert float(np.abs(ours - plain).max()) <= 1e-5 * scale, name


@pytest.mark.parametrize("cpuinfo, block", [("xeon_amx.txt", 16), ("ryzen_zen3.txt", 8)])
def test_block_width_follows_the_cpus_instructions(cpuinfo, block):
    with open(os.path.join(CPUINFO, cpuinfo)) as stream:
        assert nchwc_block(cpu_flags(stream.read())) == block
    assert nchwc_block(frozenset()) == 1  # not x86: no blocked layout, no padding


def test_final_transposes_run_on_the_host_with_the_same_outputs():
    def heads(x):
        shared = jnp.transpose(x * 2.0, (0, 2, 1))  # an output and read again below
        return [jnp.transpose(x.reshape(2, 3, 2, 2), (0, 1, 3, 2)), shared, shared + 1.0]

    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    proto = function_to_onnx(heads, {"x": x}, ["scores", "shared", "plus"], "heads")
    moved, perms = host_output_transposes(proto)
    assert perms == {"scores": (0, 1, 3, 2), "shared": None, "plus": None}
    op_types = [node.op_type for node in moved.graph.node]
    assert op_types.count("Transpose") == [n.op_type for n in proto.graph.node].count(
        "Transpose") - 1  # fmt: skip
    session = HostTransposedSession(_session(moved), perms)
    for names in (None, ["plus", "scores"]):
        expected = dict(zip(["scores", "shared", "plus"], heads(x)))
        outputs = session.run(names, {"x": x})
        for name, ours in zip(names or ["scores", "shared", "plus"], outputs):
            np.testing.assert_array_equal(ours, np.asarray(expected[name]))
