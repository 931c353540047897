"""``benchmarks/layer_bound.py`` rebuilds every convolution of the ONNX Runtime search
session from the profiler's record, to time it in other libraries: each rebuilt layer must
be the session's layer (its output shape), and together they must hold the model's own
multiply-adds, or the bound would time other work."""

import importlib.util
import os
import tempfile

import jax
import numpy as np
import pytest

from siamjax.config_loader import load_config
from siamjax.loading import build_configured_model, load_network
from siamjax.models import init_variables
from tests.conftest import REPO_ROOT

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")


def _benchmark_module(monkeypatch, name):
    monkeypatch.syspath_prepend(os.path.join(REPO_ROOT, "benchmarks"))
    spec = importlib.util.spec_from_file_location(
        name, os.path.join(REPO_ROOT, "benchmarks", f"{name}.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def alex():
    config = load_config(os.path.join(REPO_ROOT, "configs", "siamrpn_alex_dwxcorr.py"))
    instance = config.track.instance_size
    model = build_configured_model(config)
    variables = jax.device_get(init_variables(model, jax.random.key(0), 127, instance))
    network = load_network(config, variables, backend="onnxruntime")
    rng = np.random.default_rng(0)
    features = network.template(rng.uniform(0, 255, (1, 127, 127, 3)).astype(np.float32))
    crop = rng.uniform(0, 255, (1, instance, instance, 3)).astype(np.float32)
    return config, network, features, crop


def test_every_convolution_is_rebuilt_as_the_session_runs_it(monkeypatch, alex):
    config, network, features, crop = alex
    bound = _benchmark_module(monkeypatch, "layer_bound")
    nodes = bound.layer_times(network, features, crop, repeats=1, calls_between=1)
    convolutions = [node for node in nodes if "times" in node]
    # AlexNet's five backbone layers; in each of the two heads a 3x3 layer on the template
    # and on the search branch, the correlation and two 1x1 layers.
    kinds = [node["kind"] for node in convolutions]
    assert (kinds.count("k x k dense"), kinds.count("1x1"), kinds.count("depthwise")) == (9, 4, 2)
    gemms = {"gemm_torch", "gemm_numpy"}  # a depthwise layer is no GEMM
    for node in convolutions:
        expected = {"onnxruntime", *bound.LIBRARIES} - (
            gemms if node["kind"] == "depthwise" else set()
        )
        assert set(node["times"]) == expected, node["name"]
        assert all(ms > 0 for ms in node["times"].values()), node
    # The model's own count, plus the zero channels the session pads the heads' last
    # layers with (10 and 20 output channels to 16 and 32: 0.03 %).
    model_gflop = _benchmark_module(monkeypatch, "float32_bound").search_gflop(config)
    session_gflop = sum(node["gflop"] for node in convolutions)
    assert model_gflop < session_gflop < model_gflop * 1.001


def test_a_misread_attribute_is_caught(monkeypatch, alex):
    _, network, features, crop = alex
    bound = _benchmark_module(monkeypatch, "layer_bound")
    with tempfile.TemporaryDirectory() as directory:
        session = bound.ProfiledSearch(network, features, crop, directory, "test")
        session.call()
        nodes = session.nodes()
    strided = next(node for node in nodes if node["attributes"].get("strides") == [2, 2])
    del strided["attributes"]["strides"]  # read as ONNX's default stride 1
    with pytest.raises(RuntimeError, match="where the session's is"):
        bound.alone_ms(strided, repeats=1)
