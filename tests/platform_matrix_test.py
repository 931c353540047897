"""Every entry point on every real platform, as far as it goes without the hardware.

Each case fakes what JAX reports on that machine: ``jax.default_backend()`` and
``Device.platform`` ('gpu' on NVIDIA *and* AMD, never 'cuda' or 'rocm'), the lowering
platform ``jax.export.default_export_platform()`` resolves 'gpu' to, device kinds and
process counts. The entry points then resolve their policy from those reports (never
from a literal given by the test) and lower what they would run for that platform.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from siamjax.backend import resolve_policy
from siamjax.cli import main
from siamjax.models import build_model, init_variables
from siamjax.platforms import UnknownPlatformError, lowering_platform, runtime_platform
from siamjax.train.optim import make_optimizer
from siamjax.train.step import abstract_batch, abstract_train_state, data_mesh, make_train_step
from tests.train.helpers import tiny_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclasses.dataclass(frozen=True)
class Platform:
    """What JAX reports on one kind of machine."""

    name: str
    backend: str  # jax.default_backend() and Device.platform
    lowering: str  # jax.export.default_export_platform()
    device_kind: str
    local_devices: int
    processes: int


# As JAX reports them: NVIDIA and AMD GPUs are both 'gpu' (ROCm builds register as 'gpu').
PLATFORMS = (
    Platform("cuda-h200", "gpu", "cuda", "NVIDIA H200", 8, 1),
    Platform("cuda-2x8", "gpu", "cuda", "NVIDIA H100 80GB HBM3", 8, 2),
    Platform("rocm-mi300x", "gpu", "rocm", "AMD Instinct MI300X", 8, 1),
    Platform("tpu-v5p-16", "tpu", "tpu", "TPU v5", 4, 4),
    Platform("cpu", "cpu", "cpu", "cpu", 8, 1),
)


@dataclasses.dataclass(frozen=True)
class FakeDevice:
    id: int
    process_index: int
    platform: str
    device_kind: str


def _fake_reports(monkeypatch, platform: Platform, devices: bool = False, process: int = 0):
    """JAX's reports of ``platform``. ``devices``: also its device list and process
    counts (only for code that plans and never builds arrays)."""
    monkeypatch.setattr(jax, "default_backend", lambda: platform.backend)
    monkeypatch.setattr(jax.export, "default_export_platform", lambda: platform.lowering)
    if not devices:
        return
    fake = [
        FakeDevice(p * platform.local_devices + i, p, platform.backend, platform.device_kind)
        for p in range(platform.processes)
        for i in range(platform.local_devices)
    ]
    monkeypatch.setattr(jax, "devices", lambda *a: list(fake))
    monkeypatch.setattr(jax, "local_devices", lambda *a, **k: fake[: platform.local_devices])
    monkeypatch.setattr(jax, "device_count", lambda *a: len(fake))
    monkeypatch.setattr(jax, "local_device_count", lambda *a: platform.local_devices)
    monkeypatch.setattr(jax, "process_count", lambda *a: platform.processes)
    monkeypatch.setattr(jax, "process_index", lambda *a: process)


def _ids(platforms):
    return [p.name for p in platforms]


def test_run_time_and_lowering_names_map_both_ways(monkeypatch):
    for platform in PLATFORMS:
        _fake_reports(monkeypatch, platform)
        assert lowering_platform() == lowering_platform(platform.backend) == platform.lowering
        assert runtime_platform(platform.lowering) == platform.backend
    with pytest.raises(UnknownPlatformError, match="'metal'"):
        lowering_platform("metal")
    monkeypatch.setattr(jax.export, "default_export_platform", lambda: "cpu")
    with pytest.raises(UnknownPlatformError, match="no GPU plugin"):
        lowering_platform("gpu")


@pytest.mark.parametrize("platform", PLATFORMS, ids=_ids(PLATFORMS))
def test_train_dry_run_starts(monkeypatch, tmp_path, capsys, platform):
    """``siamjax train --dry-run`` of the 8-GPU recipe on each platform, every process."""
    config = os.path.join(REPO, "configs/siamrpn_r50_l234_dwxcorr_8gpu.py")
    for process in range(platform.processes):
        _fake_reports(monkeypatch, platform, devices=True, process=process)
        code = main(["train", "--config", config, "--workdir", str(tmp_path / "run"),
                     "--dry-run"])  # fmt: skip
        output = capsys.readouterr()
        assert code == 0, output.err
        assert f"[process {process}] backend policy: {platform.lowering}: " in output.out
        devices = platform.local_devices * platform.processes
        assert (
            f"{devices} x {platform.device_kind} ({platform.backend}, lowers for "
            f"{platform.lowering}) over {platform.processes} process(es)" in output.out
        )
        expected_precision = "default" if platform.lowering == "cpu" else "highest"
        assert f"matmul_precision={expected_precision}" in output.out
        # pysot's 28 samples per BatchNorm group: split between 16 TPU chips (14 each).
        assert ("BatchNorm groups span devices" in output.out) == ((224 // devices) % 28 != 0)


ACCELERATORS = tuple(p for p in PLATFORMS if p.lowering != "cpu" and p.processes == 1)
ACCELERATORS += (PLATFORMS[3],)  # the TPU pod


@pytest.mark.parametrize("platform", ACCELERATORS, ids=_ids(ACCELERATORS))
def test_sharded_train_step_of_both_phases_lowers(monkeypatch, platform):
    """The train step built from the policy JAX's reports give, lowered for that platform
    over a 4-device mesh: plain XLA convolutions at float32 precision."""
    _fake_reports(monkeypatch, platform)
    config = tiny_config(batch_size=8, group_size=2)
    config.train.compute_dtype = "bfloat16"
    policy = resolve_policy(config)
    assert policy.platform == platform.lowering
    model = build_model(config.model, policy.formulation)
    optimizer, _ = make_optimizer(config)
    mesh = data_mesh(jax.devices("cpu")[:4])
    for phase in (0, 1):
        step = make_train_step(model, config, optimizer, mesh, phase, policy)
        state = abstract_train_state(model, config, optimizer, phase, mesh)
        exported = jax.export.export(step, platforms=[policy.platform])(
            state, abstract_batch(config, mesh)
        )
        assert exported.platforms == (platform.lowering,)
        text = exported.mlir_module()
        assert "xla_cpu" not in text and "stablehlo.convolution" in text
        assert '["data"=4]' in text
        # bfloat16 compute: the convolutions take bfloat16 operands; BatchNorm's
        # statistics come back float32.
        assert "xbf16>" in text
        new_state, _ = jax.tree_util.tree_unflatten(exported.out_tree, exported.out_avals)
        for part in (new_state.params, new_state.batch_stats, new_state.opt_state):
            assert {leaf.dtype for leaf in jax.tree_util.tree_leaves(part)} == {np.dtype("float32")}


def _search_inputs(network, batch: int, size: int = 255):
    template = np.zeros((batch, 127, 127, 3), np.float32)
    features = jax.eval_shape(network._template_fn, network.variables, template)
    return features, jax.ShapeDtypeStruct((batch, size, size, 3), jnp.float32)


@pytest.mark.parametrize("platform", ACCELERATORS, ids=_ids(ACCELERATORS))
def test_tracker_network_and_batched_tracker_lower(monkeypatch, platform):
    """``load_network(backend='auto')`` (what ``siamjax track`` does) picks JAX on the
    accelerator without timing the CPU backends; its search call lowers for the platform
    at batch 1 and at a ``BatchedTracker``'s batch, vectorized, at float32 precision."""
    from siamjax.loading import load_network
    from siamjax.tracking import BatchedTracker, build_tracker

    _fake_reports(monkeypatch, platform)
    config = tiny_config()
    variables = init_variables(build_model(config.model), jax.random.key(0))
    network = load_network(config, variables, backend="auto")
    assert network.batch_mode == "vectorized"
    batched = BatchedTracker(build_tracker(config, network), 4)
    for batch in (1, batched.batch_size):
        features, crops = _search_inputs(network, batch)
        lowered = network._search_fn.trace(network.variables, features, crops).lower(
            lowering_platforms=(platform.lowering,)
        )
        text = lowered.as_text()
        assert "stablehlo.convolution" in text and "HIGHEST" in text


@pytest.mark.parametrize("platform", ACCELERATORS, ids=_ids(ACCELERATORS))
def test_export_for_the_platform_jax_reports(monkeypatch, tmp_path, capsys, platform):
    """``siamjax export --platforms <what JAX reports>`` ('gpu' on a GPU) writes that
    platform's lowering artifacts."""
    from siamjax.checkpoints import save_variables

    config = tiny_config()
    variables = init_variables(build_model(config.model), jax.random.key(1))
    checkpoint = save_variables(str(tmp_path / "model"), variables)
    config_file = tmp_path / "tiny.py"
    config_file.write_text("from tests.train.helpers import tiny_config\n\n\n"
                           "def get_config():\n    return tiny_config()\n")  # fmt: skip
    _fake_reports(monkeypatch, platform)
    out = tmp_path / "exported"
    code = main(["export", "--config", str(config_file), "--checkpoint", checkpoint,
                 "--out", str(out), "--platforms", platform.backend])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    names = sorted(os.listdir(out))
    assert f"template_b1.{platform.lowering}.jaxexport" in names
    assert f"search_b1_x255.{platform.lowering}.jaxexport" in names


@pytest.mark.parametrize("platform", ACCELERATORS[:1] + ACCELERATORS[-1:],
                         ids=_ids(ACCELERATORS[:1] + ACCELERATORS[-1:]))  # fmt: skip
def test_experiment_plan_builds_every_variant_for_the_platform(monkeypatch, platform):
    """The correlation zoo's plan (every variant of its default budget): each variant's
    policy and model for the platform JAX reports, its search call lowered for it."""
    from siamjax.config_loader import load_config
    from siamjax.experiment.plan import check_variants, plan_units, variant_config
    from siamjax.models import make_search_fn, make_template_fn

    _fake_reports(monkeypatch, platform)
    zoo = load_config(os.path.join(REPO, "configs/experiments/correlation_zoo.py"))
    check_variants(zoo.experiment)
    units = plan_units(zoo.experiment, finished=set())
    assert len(units) == len(zoo.experiment.variants)
    for variant in dict.fromkeys(unit.variant for unit in units):
        config = variant_config(zoo, variant)
        policy = resolve_policy(config)
        assert policy.platform == platform.lowering
        model = build_model(config.model, policy.formulation)
        variables = jax.eval_shape(lambda m=model: init_variables(m, jax.random.key(0)))
        template = jax.ShapeDtypeStruct((1, 127, 127, 3), jnp.float32)
        features = jax.eval_shape(make_template_fn(model), variables, template)
        search = jax.ShapeDtypeStruct((1, 255, 255, 3), jnp.float32)
        export_search = jax.export.export(
            jax.jit(make_search_fn(model)), platforms=[policy.platform]
        )
        exported = export_search(variables, features, search)
        assert exported.platforms == (platform.lowering,), variant


@pytest.mark.parametrize("platform", PLATFORMS, ids=_ids(PLATFORMS))
def test_accelerator_benchmark_set_up(monkeypatch, platform):
    """``benchmarks/accelerator.py``'s header: what JAX reports and the policy it runs."""
    spec = importlib.util.spec_from_file_location(
        "accelerator_benchmark", os.path.join(REPO, "benchmarks/accelerator.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    _fake_reports(monkeypatch, platform, devices=True)
    header = module.run_header()
    assert header["backend"] == platform.backend
    assert header["lowering_platform"] == platform.lowering
    assert header["policy"].startswith(f"{platform.lowering}: ")
    assert header["devices"] == [platform.device_kind] * platform.local_devices
