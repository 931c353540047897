"""The ONNX Runtime tracker with template features as constants (``onnx_template``).

* ``inputs_as_constants`` gives the graph's outputs for the values it bakes, and names
  the input when a value does not fit;
* the policy: MobileNetV2 declares constants, the other backbones inputs, and
  ``config.backend.onnx_template`` overrides both; the reduced-precision subclasses
  never bake;
* the network: from the second call with the same features on, the search runs in the
  session of those features, with the outputs of the shared session (batch 1 and 2); a
  new template gets its own session, never the old constants;
* a tracker on it keeps the boxes of the same tracker with the features as inputs.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from siamjax.backend import resolve_policy
from siamjax.config_loader import apply_overrides, load_config
from siamjax.eval.precision_budget import generated_sequences, track_sequence
from siamjax.export.constant_inputs import inputs_as_constants
from siamjax.models import build_model
from siamjax.tracking import build_tracker
from siamjax.tracking.onnx_network import OnnxTrackerNetwork
from siamjax.tracking.reduced_precision import Int8TrackerNetwork
from tests.conftest import config_path
from tests.tracking.precision_test import tiny  # noqa: F401  (the module's fixture)

ort = pytest.importorskip("onnxruntime")


def _affine_graph():
    """y = x * scale + shift, with ``scale`` (2, 3) and ``shift`` (3,) graph inputs."""
    inputs = [
        helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]),
        helper.make_tensor_value_info("scale", TensorProto.FLOAT, [2, 3]),
        helper.make_tensor_value_info("shift", TensorProto.FLOAT, [3]),
    ]
    nodes = [
        helper.make_node("Mul", ["x", "scale"], ["scaled"]),
        helper.make_node("Add", ["scaled", "shift"], ["y"]),
    ]
    output = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])
    graph = helper.make_graph(nodes, "affine", inputs, [output])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_inputs_as_constants_bakes_the_values_and_names_a_misfit():
    rng = np.random.default_rng(0)
    x, scale, shift = (rng.standard_normal(shape).astype(np.float32)
                       for shape in ((2, 3), (2, 3), (3,)))  # fmt: skip
    baked = inputs_as_constants(_affine_graph(), {"scale": scale, "shift": shift})
    assert [value.name for value in baked.graph.input] == ["x"]
    session = ort.InferenceSession(baked.SerializeToString())
    np.testing.assert_allclose(session.run(None, {"x": x})[0], x * scale + shift, rtol=1e-6)
    with pytest.raises(ValueError, match="'offset' is not an input of graph 'affine'"):
        inputs_as_constants(_affine_graph(), {"offset": shift})
    with pytest.raises(ValueError, match=r"input 'shift': expected float32 \(3,\), got"):
        inputs_as_constants(_affine_graph(), {"shift": np.zeros(4, np.float32)})
    with pytest.raises(ValueError, match="input 'shift'.*got float64"):
        inputs_as_constants(_affine_graph(), {"shift": np.zeros(3)})


@pytest.mark.parametrize(
    "name, declared",
    [
        ("siamrpn_mobilev2_l234_dwxcorr", True),
        ("siamrpn_r50_l234_dwxcorr", False),
        ("siamrpn_alex_dwxcorr", False),
    ],
)
def test_policy_follows_the_backbone_and_the_config(name, declared):
    config = load_config(config_path(name))
    model = build_model(config.model)
    # ONNX Runtime runs on the host CPU on any machine: the choice must not depend on the
    # platform the rest of the policy is resolved for (lowering names, as jax.export's).
    for platform in ("cpu", "cuda", "tpu"):
        assert resolve_policy(config, platform).onnx_template_constants(model) is declared
    for choice, expected in (("input", False), ("constants", True)):
        overridden = apply_overrides(config, [f"backend.onnx_template={choice}"])
        assert resolve_policy(overridden, "cpu").onnx_template_constants(model) is expected
    with pytest.raises(ValueError, match="config.backend.onnx_template is 'baked'"):
        resolve_policy(apply_overrides(config, ["backend.onnx_template=baked"]), "cpu")


def test_from_config_resolves_the_mode_and_subclasses_never_bake(tiny):  # noqa: F811
    config, variables = tiny
    assert not OnnxTrackerNetwork.from_config(config, variables).template_constants
    constants = apply_overrides(config, ["backend.onnx_template=constants"])
    assert OnnxTrackerNetwork.from_config(constants, variables).template_constants
    assert not Int8TrackerNetwork.from_config(constants, variables).template_constants


@pytest.mark.parametrize("batch", [1, 2])
def test_searches_with_constants_equal_the_shared_session(tiny, batch):  # noqa: F811
    config, variables = tiny
    model = build_model(config.model)
    plain = OnnxTrackerNetwork(model, variables, threads=2)
    baked = OnnxTrackerNetwork(model, variables, threads=2, template_constants=True)
    rng = np.random.default_rng(batch)
    crops = rng.uniform(0, 255, (2, batch, 255, 255, 3)).astype(np.float32)
    outputs = {}
    for template_seed in (1, 2):  # a second template must not reuse the first's session
        template = np.random.default_rng(template_seed).uniform(0, 255, (batch, 127, 127, 3))
        template = template.astype(np.float32)
        plain_features, baked_features = plain.template(template), baked.template(template)
        for call, search in enumerate(crops):
            expected = plain.search(plain_features, search)
            got = baked.search(baked_features, search)
            # The first call with new features runs the shared session, the next ones the
            # session of these features.
            assert bool(baked._baked_sessions) is (call > 0)
            assert (baked._baked_features is baked_features) is (call > 0)
            for want, have in zip(expected, got):
                assert have.shape == want.shape
                np.testing.assert_allclose(have, want, rtol=1e-4, atol=1e-4)
            outputs[template_seed, call] = got
    # The two templates' scores differ by far more than the tolerance above.
    assert np.abs(outputs[1, 1][0] - outputs[2, 1][0]).max() > 1e-2


def test_tracker_with_constants_keeps_the_boxes_of_inputs(tiny):  # noqa: F811
    config, variables = tiny
    sequence = generated_sequences(1, seed=7)[0]
    frames = sequence.frames[:12]
    boxes = {}
    for choice in ("input", "constants"):
        chosen = apply_overrides(config, [f"backend.onnx_template={choice}"])
        network = OnnxTrackerNetwork.from_config(chosen, variables, threads=2)
        assert network.template_constants is (choice == "constants")
        boxes[choice] = track_sequence(build_tracker(chosen, network), frames, sequence.gt[0])
    assert len(boxes["input"]) == len(frames)
    np.testing.assert_allclose(boxes["constants"], boxes["input"], atol=1e-3)
