"""ONNX export and the onnxruntime tracker backend.

* every released architecture exports; ONNX Runtime's outputs (channel counts padded
  as the tracker pads them) equal pysot's golden outputs (converted-weights case, the
  same tolerance as siamjax's own) and the JAX model's (random weights), sizes included;
* a tracker on the onnxruntime backend follows the JAX backend's boxes within 1e-3 px
  over the golden long-term sequence, lost / found switches included;
* ``siamjax export --format onnx`` writes files that onnxruntime alone runs, and
  ``track --backend onnxruntime|auto`` works from the command line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from siamjax.config_loader import apply_overrides, load_config
from siamjax.export.channel_padding import pad_channels
from siamjax.export.onnx import OnnxExportError, function_to_onnx, tracker_onnx_models
from siamjax.loading import build_configured_model, load_network
from siamjax.models import init_variables, make_search_fn, make_template_fn
from siamjax.models.layout import to_pysot_layout
from siamjax.pysot_reference import golden
from siamjax.tracking import build_tracker
from siamjax.tracking.onnx_network import nchwc_block
from tests.conftest import config_path
from tests.parity.golden_test import _load, _variables

ort = pytest.importorskip("onnxruntime")


def _run(model_proto, feeds):
    """``model_proto`` run as the tracker's sessions run it: channel counts padded to this
    CPU's blocked layout first (``siamjax/tracking/onnx_network.py``)."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    padded = pad_channels(model_proto, nchwc_block())
    session = ort.InferenceSession(padded.SerializeToString(), options)
    return session.run(None, feeds)


def _onnx_outputs(template_model, search_model, names, template, search):
    features = _run(template_model, {"template": template})
    feeds = {"search": search, **{f"template_{k}": v for k, v in zip(names, features)}}
    return _run(search_model, feeds)


@pytest.mark.parametrize(
    "architecture",
    # r50 (28 s) runs with the slow tests; its network against pysot's goldens runs in the
    # default run (tests/parity/golden_test.py), and the exporter's primitives are the
    # ones alex and mbv2 use here.
    [
        pytest.param(name, marks=pytest.mark.slow) if name == "r50" else name
        for name in sorted(golden.NETWORKS)
    ],
)
def test_onnx_outputs_equal_pysots_for_converted_weights(architecture):
    record = _load(f"network_{architecture}")
    config = load_config(config_path(str(record["experiment"])))
    model = build_configured_model(config)
    template = record["input/template"].astype(np.float32)
    search = record["input/search"].astype(np.float32)
    variables = _variables(record, model, template.shape[1], search.shape[1])
    template_model, search_model, names = tracker_onnx_models(
        model, variables, 1, template.shape[1], search.shape[1]
    )
    scores, deltas = _onnx_outputs(template_model, search_model, names, template, search)
    cls, loc = to_pysot_layout(scores, deltas)
    for name, ours in (("cls", cls), ("loc", loc)):
        reference = record[f"output/{name}"]
        assert ours.shape == reference.shape, name
        error = float(np.abs(ours - reference).max()) / max(1.0, float(np.abs(reference).max()))
        # Two float32 implementations (ONNX Runtime's MLAS convolutions and PyTorch's), each
        # about 1e-4 from exact: within 2e-4 of each other. Against JAX: 1e-4 (below).
        assert error <= 2e-4, f"{architecture} {name}: difference {error:.3g}"


@pytest.mark.parametrize(
    "name,instance",
    [
        ("siamrpn_alex_dwxcorr", 287),
        # r50 at batch 2 (45 s), with the slow tests.
        pytest.param("siamrpn_r50_l234_dwxcorr_lt", 255, marks=pytest.mark.slow),
    ],
)
def test_onnx_outputs_equal_jax(name, instance):
    config = load_config(config_path(name))
    model = build_configured_model(config)
    variables = jax.device_get(init_variables(model, jax.random.key(1), 127, instance))
    rng = np.random.default_rng(0)
    template = rng.uniform(0, 255, (2, 127, 127, 3)).astype(np.float32)
    search = rng.uniform(0, 255, (2, instance, instance, 3)).astype(np.float32)
    template_model, search_model, names = tracker_onnx_models(model, variables, 2, 127, instance)
    scores, deltas = _onnx_outputs(template_model, search_model, names, template, search)
    features = jax.jit(make_template_fn(model))(variables, template)
    expected = jax.device_get(jax.jit(make_search_fn(model))(variables, features, search))
    for key, ours in (("scores", scores), ("deltas", deltas)):
        assert ours.shape == expected[key].shape, key
        scale = float(np.abs(expected[key]).max())
        assert float(np.abs(ours - expected[key]).max()) <= 1e-4 * scale, key


def test_relu6_exports_as_one_clip_that_onnxruntime_fuses():
    """``jnp.clip`` (MobileNetV2's ReLU6) becomes one ``Clip``, whichever side of Min / Max
    its bounds are on; a Max that something else reads too stays as it is."""
    import jax.numpy as jnp

    def relu6_twice(x):
        clipped = jnp.clip(x, 0.0, 6.0)
        shared = jnp.maximum(x, -1.0)  # also read by the output below: not folded
        return [jnp.minimum(6.0, jnp.maximum(0.0, clipped * 3.0)), jnp.minimum(shared, 2.0),
                shared]  # fmt: skip

    x = np.linspace(-10, 10, 24, dtype=np.float32).reshape(2, 3, 4)
    proto = function_to_onnx(relu6_twice, {"x": x}, ["a", "b", "c"], "relu6")
    op_types = [node.op_type for node in proto.graph.node]
    assert op_types.count("Clip") == 2 and op_types.count("Max") == 1, op_types
    assert op_types.count("Min") == 1, op_types
    for ours, expected in zip(_run(proto, {"x": x}), relu6_twice(x)):
        np.testing.assert_array_equal(ours, np.asarray(expected))


def test_unsupported_primitives_are_named():
    with pytest.raises(OnnxExportError, match="'cumsum'"):
        function_to_onnx(lambda x: jax.numpy.cumsum(x), {"x": np.ones(3, np.float32)}, ["y"], "g")


@pytest.mark.slow
def test_onnxruntime_tracker_follows_the_jax_tracker_over_a_long_term_sequence():
    record = _load("long_term_trace")
    track = json.loads(str(record["track"]))
    config = apply_overrides(
        load_config(config_path(str(record["experiment"]))),
        ["track.type=siamrpn_lt", f"track.lost_instance_size={track['LOST_INSTANCE_SIZE']}",
         f"track.confidence_low={track['CONFIDENCE_LOW']}",
         f"track.confidence_high={track['CONFIDENCE_HIGH']}"],
    )  # fmt: skip
    model = build_configured_model(config)
    variables = _variables(record, model, 127, int(config.track.instance_size))
    trackers = {
        backend: build_tracker(config, load_network(config, variables, backend=backend))
        for backend in ("jax", "onnxruntime")
    }
    frames = record["frames"]
    for tracker in trackers.values():
        tracker.init(frames[0], tuple(record["init_box_xywh"]))
    worst = 0.0
    for index, frame in enumerate(frames[1:], start=1):
        (jax_box, jax_score), (onnx_box, onnx_score) = (t.track(frame) for t in trackers.values())
        worst = max(worst, float(np.abs(np.asarray(onnx_box) - jax_box).max()))
        assert worst <= 1e-3, f"frame {index}: boxes differ by {worst:.3g} px"
        assert abs(onnx_score - jax_score) <= 1e-5, index
        assert trackers["onnxruntime"].state.lost == trackers["jax"].state.lost, index
    assert record["lost"].any()  # the sequence exercised the lost-target search


def test_export_format_onnx_runs_with_onnxruntime_alone(tmp_path):
    from siamjax.checkpoints import save_variables
    from siamjax.cli import main

    config = load_config(config_path("siamrpn_alex_dwxcorr"))
    model = build_configured_model(config)
    variables = jax.device_get(init_variables(model, jax.random.key(2), 127, 287))
    checkpoint = save_variables(str(tmp_path / "model"), variables)
    out = tmp_path / "onnx"
    assert main(["export", "--format", "onnx", "--config", config_path("siamrpn_alex_dwxcorr"),
                 "--checkpoint", checkpoint, "--out", str(out)]) == 0  # fmt: skip
    manifest = json.loads((out / "manifest.json").read_text())
    assert [a["file"] for a in manifest["artifacts"]] == ["template_b1.onnx", "search_b1_x287.onnx"]
    script = (
        "import sys, numpy as np, onnxruntime as ort\n"
        "folder = sys.argv[1]\n"
        "template = ort.InferenceSession(folder + '/template_b1.onnx')\n"
        "search = ort.InferenceSession(folder + '/search_b1_x287.onnx')\n"
        "rng = np.random.default_rng(0)\n"
        "crop = rng.uniform(0, 255, (1, 127, 127, 3)).astype(np.float32)\n"
        "features = template.run(None, {'template': crop})\n"
        "names = [i.name for i in template.get_outputs()]\n"
        "x = rng.uniform(0, 255, (1, 287, 287, 3)).astype(np.float32)\n"
        "scores, deltas = search.run(None, {'search': x, **dict(zip(names, features))})\n"
        "assert 'siamjax' not in sys.modules and 'jax' not in sys.modules\n"
        "np.savez(sys.argv[2], scores=scores, deltas=deltas, crop=crop, x=x)\n"
    )
    result = tmp_path / "out.npz"
    subprocess.run([sys.executable, "-c", script, str(out), str(result)], check=True,
                   cwd=str(tmp_path))  # fmt: skip
    saved = np.load(result)
    features = jax.jit(make_template_fn(model))(variables, saved["crop"])
    expected = jax.device_get(jax.jit(make_search_fn(model))(variables, features, saved["x"]))
    scale = float(np.abs(expected["scores"]).max())
    assert float(np.abs(saved["scores"] - expected["scores"]).max()) <= 1e-4 * scale


def test_track_with_the_onnxruntime_and_auto_backends(tmp_path, capfd):
    import cv2

    from siamjax.checkpoints import save_variables
    from siamjax.cli import main
    from tests.train.helpers import tiny_config

    config = tiny_config()
    variables = jax.device_get(init_variables(build_configured_model(config), jax.random.key(4)))
    checkpoint = save_variables(str(tmp_path / "model"), variables)
    config_file = tmp_path / "tiny.py"
    config_file.write_text("from tests.train.helpers import tiny_config\n\n\n"
                           "def get_config():\n    return tiny_config()\n")  # fmt: skip
    frames = tmp_path / "frames"
    frames.mkdir()
    rng = np.random.default_rng(0)
    for index in range(4):
        image = rng.integers(0, 255, (120, 160, 3), np.uint8)
        cv2.imwrite(str(frames / f"{index:04d}.jpg"), image)
    boxes = {}
    for backend in ("jax", "onnxruntime", "auto"):
        out = tmp_path / f"{backend}.txt"
        argv = ["track", "--config", str(config_file), "--checkpoint", checkpoint,
                "--video", str(frames), "--init", "50,40,30,20", "--boxes", str(out),
                "--backend", backend]  # fmt: skip
        assert main(argv) == 0
        boxes[backend] = np.loadtxt(out, delimiter=",")
    np.testing.assert_allclose(boxes["onnxruntime"], boxes["jax"], atol=1e-3)
    assert "backend auto: " in capfd.readouterr().err
    assert os.path.isfile(out)


CORRELATION_KERNEL_CHANNELS = {  # search has 8 channels
    "depthwise": 8, "depthwise_vmap": 8, "depthwise_taps": 8, "naive": 8, "up_channel": 8 * 3,
    "pixelwise": 8, "depthwise_cosine": 8,
}  # fmt: skip
MODULE_CORRELATIONS = ("depthwise_se", "cross_attention")  # with weights: inside a model


@pytest.mark.parametrize("name", sorted(CORRELATION_KERNEL_CHANNELS))
def test_every_correlation_variant_exports(name):
    from siamjax import registry

    correlation = registry.lookup("correlation", name)
    rng = np.random.default_rng(2)
    inputs = {
        "search": rng.normal(size=(2, 15, 15, 8)).astype(np.float32),
        "kernel": rng.normal(size=(2, 5, 5, CORRELATION_KERNEL_CHANNELS[name])).astype(np.float32),
    }
    (ours,) = _run(function_to_onnx(correlation, inputs, ["out"], name), inputs)
    expected = np.asarray(correlation(**inputs))
    assert ours.shape == expected.shape
    assert float(np.abs(ours - expected).max()) <= 1e-5 * float(np.abs(expected).max())


def test_registered_correlations_are_all_covered():
    from siamjax import registry

    # siamjax's own variants (other tests register toy ones in the same process).
    built_in = {
        name
        for name in registry.names("correlation")
        if registry.lookup("correlation", name).__module__.startswith("siamjax.")
    }
    assert built_in == {*CORRELATION_KERNEL_CHANNELS, *MODULE_CORRELATIONS}


@pytest.mark.parametrize(
    "correlation",
    # cross_attention (14 s) joins the slow run; depthwise_se keeps the path in the default
    [
        pytest.param(name, marks=pytest.mark.slow) if name == "cross_attention" else name
        for name in MODULE_CORRELATIONS
    ],  # fmt: skip
)
def test_correlation_modules_export_inside_a_model(correlation):
    from tests.train.helpers import tiny_config

    config = apply_overrides(tiny_config(), [f"model.rpn.correlation={correlation}"])
    model = build_configured_model(config)
    variables = jax.device_get(init_variables(model, jax.random.key(6), 127, 255))
    rng = np.random.default_rng(3)
    template = rng.uniform(0, 255, (1, 127, 127, 3)).astype(np.float32)
    search = rng.uniform(0, 255, (1, 255, 255, 3)).astype(np.float32)
    template_model, search_model, names = tracker_onnx_models(model, variables, 1, 127, 255)
    scores, _ = _onnx_outputs(template_model, search_model, names, template, search)
    features = jax.jit(make_template_fn(model))(variables, template)
    expected = jax.device_get(jax.jit(make_search_fn(model))(variables, features, search))
    scale = float(np.abs(expected["scores"]).max())
    assert float(np.abs(scores - expected["scores"]).max()) <= 1e-4 * scale
