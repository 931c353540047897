"""`siamjax compile` on the quickstart for a TPU slice and 8-GPU nodes, with no device.

Needs JAX's accelerator extras (the README's test command installs them): without libtpu
or the CUDA plugin these tests fail, since a target that stops compiling must fail here.
Each compile runs the command in its own process, as a user would. The quickstart's train
step takes libtpu about two minutes on 2 cores: the default run compiles the train step for
the GPU nodes and the tracker network for the TPU slice, and the TPU train step is slow."""

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from siamjax.cli import main
from tests.conftest import REPO_ROOT, config_path

QUICKSTART = config_path("quickstart")


def _compile(tmp_path_factory, target: str, *flags: str) -> dict:
    out = tmp_path_factory.mktemp("compile") / f"{target}.json"
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}  # one CPU device
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "siamjax",
            "compile",
            "--config",
            QUICKSTART,
            "--target",
            target,
            "--out",
            str(out),
            *flags,
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(out.read_text())
    report["stdout"] = result.stdout
    return report


@pytest.fixture(scope="module")
def tpu_tracker_report(tmp_path_factory):
    return _compile(tmp_path_factory, "v5e-4", "--programs", "tracker", "--search-batches", "1")


@pytest.fixture(scope="module")
def gpu_reports(tmp_path_factory):
    return (
        _compile(tmp_path_factory, "h100x8"),
        _compile(tmp_path_factory, "h100x4", "--programs", "train"),
    )


def _train(report):
    (entry,) = [e for e in report["programs"] if e["kind"] == "train"]
    return entry


def _sound(entry, chips):
    """Compiled, fits the chip, reduces its gradients over all chips, stays on the device."""
    assert "error" not in entry, entry.get("error")
    memory = entry["memory"]
    assert 0 < memory["peak_bytes"] <= memory["capacity_bytes"]
    assert memory["alias_bytes"] > 0  # the donated state
    all_reduce = {c["kind"]: c for c in entry["collectives"]}["all-reduce"]
    assert chips in all_reduce["group_sizes"]
    assert entry["checks"]["host_callbacks"] == 0
    assert entry["checks"]["host_transfers"] == 0
    assert entry["checks"]["float64_values"] == 0
    assert entry["counts"]["flops"] > 0 and entry["counts"]["bytes_accessed"] > 0
    assert entry["bound"]["seconds"] > 0


def test_the_quickstart_tracker_network_compiles_for_a_tpu_chip(tpu_tracker_report):
    report = tpu_tracker_report
    assert report["target"]["chips"] == 4 and report["target"]["chip"] == "TPU v5e"
    programs = {e["program"]: e for e in report["programs"]}
    assert set(programs) == {"template b1", "search b1"}
    for entry in programs.values():
        assert "error" not in entry, entry.get("error")
        assert 0 < entry["memory"]["peak_bytes"] <= entry["memory"]["capacity_bytes"]
        assert entry["counts"]["source"].startswith("libtpu")
        assert entry["counts"]["flops"] > 0 and entry["collectives"] == []
        assert entry["checks"]["host_callbacks"] == entry["checks"]["host_transfers"] == 0
        assert entry["checks"]["float64_values"] == 0
        assert entry["policy"]["conv"] == "xla"
    assert "optimal_seconds" not in json.dumps(report)


def test_gpu_flops_counted_from_the_hlo_equal_the_programs_own_count(
    tpu_tracker_report, gpu_reports, cpu_devices
):
    """The search call's FLOPs from the GPU module (generic count plus cuDNN convolutions
    counted from their shapes, hlo.py) against XLA's count of the same program before any
    backend touched it; libtpu counts more (its layouts pad channels to its tiles)."""
    from siamjax.aot.programs import tracker_programs
    from siamjax.config_loader import load_config

    def search_flops(report):
        (entry,) = [e for e in report["programs"] if e["program"] == "search b1"]
        return entry["counts"]["flops"]

    programs = tracker_programs(load_config(QUICKSTART), cpu_devices[0], "cuda", (1,))
    (search,) = [p for p in programs if p.name == "search b1"]
    logical = search.lower().cost_analysis()["flops"]
    assert search_flops(gpu_reports[0]) == pytest.approx(logical, rel=0.01)
    assert search_flops(tpu_tracker_report) >= logical


@pytest.mark.slow
def test_the_quickstart_train_step_compiles_for_a_tpu_slice(tmp_path_factory):
    tpu_report = _compile(tmp_path_factory, "v5e-4", "--programs", "train")
    assert tpu_report["target"]["chips"] == 4 and tpu_report["target"]["chip"] == "TPU v5e"
    entry = _train(tpu_report)
    _sound(entry, chips=4)
    assert entry["policy"]["matmul_precision"] == "highest"
    assert entry["policy"]["conv"] == "xla"  # the accelerator formulation, not the CPU's
    assert entry["bound"]["rate_label"] == "bf16 peak / 6 passes"
    assert entry["trained"]["parameters"] == entry["trained"]["total"]  # from scratch
    assert "optimal_seconds" not in json.dumps(tpu_report)
    assert tpu_report["recipe_at_bound"]["steps"] == 12 * 200


def test_the_quickstart_compiles_for_gpu_nodes_and_flops_halve_with_twice_the_chips(
    gpu_reports,
):
    eight, four = gpu_reports
    _sound(_train(eight), chips=8)
    _sound(_train(four), chips=4)
    # Same global batch (8 pairs): 1 per chip on 8 GPUs, 2 on 4.
    assert _train(eight)["per_chip_batch"] == 1 and _train(four)["per_chip_batch"] == 2
    ratio = _train(four)["counts"]["flops"] / _train(eight)["counts"]["flops"]
    assert ratio == pytest.approx(2.0, rel=0.05)
    # cuDNN's convolutions carry nearly all of them, counted from the HLO.
    library = _train(eight)["counts"]["library_calls"]
    assert library["convolutions"] > 20
    assert library["flops"] > 0.8 * _train(eight)["counts"]["flops"]


def test_the_tracker_network_compiles_for_one_gpu_at_each_batch(gpu_reports):
    eight, _ = gpu_reports
    tracker = {e["program"]: e for e in eight["programs"] if e["kind"] != "train"}
    assert set(tracker) == {"template b1", "search b1", "search b8", "search b32"}
    for entry in tracker.values():
        assert entry["chips"] == 1 and entry["collectives"] == []
        assert entry["memory"]["fits"]
    flops = [tracker[f"search b{n}"]["counts"]["flops"] for n in (1, 8, 32)]
    assert flops[1] == pytest.approx(8 * flops[0], rel=0.1)
    assert flops[2] == pytest.approx(32 * flops[0], rel=0.1)
    assert "search b32" in eight["stdout"] and "bound (model)" in eight["stdout"]


def test_a_program_that_does_not_fit_is_one_line_naming_it(monkeypatch, capsys):
    from siamjax.aot import chips

    tiny = dataclasses.replace(chips.CHIPS["h100"], memory_bytes=50 * 10**6)
    monkeypatch.setitem(chips.CHIPS, "h100", tiny)
    status = main(
        [
            "compile",
            "--config",
            QUICKSTART,
            "--target",
            "h100x1",
            "--programs",
            "tracker",
            "--search-batches",
            "32",
        ]
    )
    captured = capsys.readouterr()
    assert status == 2
    (line,) = captured.err.strip().splitlines()
    assert "search b32 needs" in line and "h100x1 has 50.00 MB" in line
    assert "a smaller search batch" in line
    assert "DOES NOT FIT" in captured.out  # the report comes first


def test_a_batch_that_does_not_divide_names_the_sizes_that_do(capsys):
    status = main(["compile", "--config", QUICKSTART, "--target", "v5e-16"])
    err = capsys.readouterr().err
    assert status == 2
    assert "train.batch_size 8 does not divide over the 16 chips of v5e-16" in err
    assert "--per-chip-batch 8 gives 128" in err


def test_a_missing_extra_is_one_line_naming_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "libtpu", None)  # import libtpu raises ImportError
    status = main(["compile", "--config", QUICKSTART, "--target", "v5e-4"])
    err = capsys.readouterr().err
    assert status == 2
    assert 'pip install -e ".[tpu]"' in err and len(err.strip().splitlines()) == 1


def test_a_missing_cuda_plugin_is_one_line_naming_the_extra(monkeypatch, capsys):
    from siamjax.aot import targets

    monkeypatch.setattr(targets, "CUDA_PLUGINS", ("xla_cuda_none",))
    status = main(["compile", "--config", QUICKSTART, "--target", "h100x8"])
    err = capsys.readouterr().err
    assert status == 2
    assert 'pip install -e ".[cuda]"' in err and len(err.strip().splitlines()) == 1
