"""``siamjax export``: jax.export artifacts per platform, loadable with plain JAX, equal to
the tracker network; the train step of both phases lowers for GPU and TPU."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import export

from siamjax.backend import resolve_policy
from siamjax.checkpoints import save_variables
from siamjax.cli import main
from siamjax.models import build_model, init_variables, make_search_fn, make_template_fn
from siamjax.train.optim import make_optimizer
from siamjax.train.step import (
    abstract_batch,
    abstract_train_state,
    data_mesh,
    make_train_step,
)
from tests.train.helpers import tiny_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    config = tiny_config()
    variables = init_variables(build_model(config.model), jax.random.key(3))
    folder = tmp_path_factory.mktemp("export")
    return save_variables(str(folder / "model"), variables), variables


def _config_file(tmp_path):
    """A config file of the tests' tiny model (export reads configs from files)."""
    path = tmp_path / "tiny.py"
    path.write_text(
        "from tests.train.helpers import tiny_config\n\n\ndef get_config():\n"
        "    return tiny_config()\n"
    )
    return str(path)


def test_export_writes_artifacts_that_plain_jax_calls_and_that_match(tmp_path, tiny_checkpoint):
    checkpoint, variables = tiny_checkpoint
    out = tmp_path / "artifacts"
    code = main(["export", "--config", _config_file(tmp_path), "--checkpoint", checkpoint,
                 "--out", str(out), "--batch-sizes", "1,2"])  # fmt: skip
    assert code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    files = sorted(entry["file"] for entry in manifest["artifacts"])
    assert files == sorted(
        f"{kind}.{platform}.jaxexport"
        for platform in ("cpu", "cuda", "tpu")
        for kind in ("template_b1", "template_b2", "search_b1_x255", "search_b2_x255")
    )
    for entry in manifest["artifacts"]:
        exported = export.deserialize(bytearray((out / entry["file"]).read_bytes()))
        assert exported.platforms == (entry["platform"],)
        # The accelerator artifacts use plain convolutions, no XLA:CPU formulation.
        if entry["platform"] != "cpu" and entry["function"] == "search":
            assert "stablehlo.convolution" in exported.mlir_module()

    # Plain JAX (no siamjax import) loads and runs the CPU pair in a fresh process.
    script = (
        "import sys, numpy as np\nfrom jax import export\n"
        "load = lambda n: export.deserialize(bytearray(open(sys.argv[1] + '/' + n, 'rb').read()))\n"
        "crops = np.random.default_rng(0).uniform(0, 255, (2, 127, 127, 3)).astype(np.float32)\n"
        "search = np.random.default_rng(1).uniform(0, 255, (2, 255, 255, 3)).astype(np.float32)\n"
        "features = load('template_b2.cpu.jaxexport').call(crops)\n"
        "out = load('search_b2_x255.cpu.jaxexport').call(features, search)\n"
        "assert 'siamjax' not in sys.modules\n"
        "np.savez(sys.argv[2], scores=out['scores'], deltas=out['deltas'])\n"
    )
    result_file = tmp_path / "outputs.npz"
    subprocess.run([sys.executable, "-c", script, str(out), str(result_file)], check=True,
                   cwd=str(tmp_path))  # fmt: skip
    exported_outputs = np.load(result_file)
    model = build_model(tiny_config().model)
    crops = np.random.default_rng(0).uniform(0, 255, (2, 127, 127, 3)).astype(np.float32)
    search = np.random.default_rng(1).uniform(0, 255, (2, 255, 255, 3)).astype(np.float32)
    features = make_template_fn(model)(variables, crops)
    expected = make_search_fn(model)(variables, features, search)
    for key in ("scores", "deltas"):
        scale = float(np.abs(expected[key]).max())
        np.testing.assert_allclose(exported_outputs[key], expected[key], atol=1e-5 * scale)


def test_export_rejects_bad_arguments(tmp_path, tiny_checkpoint, capsys):
    checkpoint, _ = tiny_checkpoint
    base = ["export", "--config", _config_file(tmp_path), "--checkpoint", checkpoint,
            "--out", str(tmp_path / "x")]  # fmt: skip
    assert main(base + ["--platforms", "cpu,metal"]) == 2
    assert "--platforms 'cpu,metal'" in capsys.readouterr().err
    assert main(base + ["--batch-sizes", "0"]) == 2
    assert "--batch-sizes '0'" in capsys.readouterr().err


@pytest.mark.parametrize("platform", ["cuda", "tpu"])
def test_train_step_of_both_phases_lowers_for_accelerators_over_a_data_mesh(platform):
    """The sharded train step, built with the accelerator's policy, lowers for it from
    this CPU machine: no CPU-only construct on the accelerator path."""
    config = tiny_config(batch_size=8, group_size=4)
    policy = resolve_policy(config, platform)
    model = build_model(config.model, policy.formulation)
    optimizer, _ = make_optimizer(config)
    mesh = data_mesh(jax.devices()[:4])
    for phase in (0, 1):
        step = make_train_step(model, config, optimizer, mesh, phase, policy)
        state = abstract_train_state(model, config, optimizer, phase, mesh)
        exported = export.export(step, platforms=[platform])(state, abstract_batch(config, mesh))
        assert exported.platforms == (platform,)
        assert exported.nr_devices == 4
        text = exported.mlir_module()
        assert "xla_cpu" not in text and "stablehlo.convolution" in text
        # A 4-device 'data' mesh; the batch's leading axis is split over it.
        assert '["data"=4]' in text
        assert 'sdy.sharding<@mesh, [{"data"}, {}, {}, {}]>' in text


def test_export_of_a_released_architecture_lowers_for_every_platform():
    """r50 (shapes only, no weights needed): the search function lowers for cpu, cuda
    and tpu; accelerator artifacts use grouped convolutions, CPU's the tuned form."""
    from siamjax.config_loader import load_config

    config = load_config(os.path.join(REPO, "configs/siamrpn_r50_l234_dwxcorr.py"))
    convolutions = {}
    for platform in ("cpu", "cuda", "tpu"):
        model = build_model(config.model, resolve_policy(config, platform).formulation)
        variables = jax.eval_shape(lambda m=model: init_variables(m, jax.random.key(0)))
        template = jax.ShapeDtypeStruct((1, 127, 127, 3), jnp.float32)
        features = jax.eval_shape(make_template_fn(model), variables, template)
        search = jax.ShapeDtypeStruct((1, 255, 255, 3), jnp.float32)
        exported = export.export(jax.jit(make_search_fn(model)), platforms=[platform])(
            variables, features, search
        )
        convolutions[platform] = exported.mlir_module().count("stablehlo.convolution")
    assert convolutions["cuda"] == convolutions["tpu"] > convolutions["cpu"]
