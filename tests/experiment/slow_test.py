"""Slow end-to-end experiments: the ``:small`` budget as a user runs it, and two
processes sharing one workdir (``--distributed explicit``)."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT
from tests.experiment.experiment_test import CONFIG, TINY


def _env(devices: int = 1) -> dict:
    env = dict(os.environ)
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = REPO_ROOT
    return env


def _siamjax(*args) -> list[str]:
    return [sys.executable, "-m", "siamjax", *args]


@pytest.mark.slow
def test_small_budget_end_to_end(tmp_path):
    """``correlation_zoo.py:small`` as the README gives it; the wall time it took on
    this machine is in results.json (benchmarks/README.md holds the measured one)."""
    workdir = tmp_path / "zoo_small"
    config = os.path.join(REPO_ROOT, "configs", "experiments", "correlation_zoo.py:small")
    process = subprocess.run(
        _siamjax("experiment", "--config", config, "--workdir", str(workdir)),
        cwd=REPO_ROOT, env=_env(), capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert process.returncode == 0, process.stderr[-3000:]
    results = json.load(open(workdir / "results.json"))
    assert set(results["variants"]) == {"depthwise", "depthwise_cosine", "pixelwise"}
    assert results["seeds"] == [0, 1]
    baseline = results["variants"]["depthwise"]["splits"]["held_out"]["success_auc"]
    # Trained, not random: the quickstart's untrained model scores 0.03 and the static
    # box 0.17 on the same kind of held-out sequences.
    assert baseline["mean"] > 0.2, baseline
    print(f"small budget: {results['seconds']:.0f} s; {json.dumps(baseline)}")


@pytest.mark.slow
def test_two_processes_split_the_runs_and_process_0_reports(tmp_path):
    """``launch/experiment_local.sh 2 ...``: each process trains its round-robin share of
    the four single-seed units on its own devices; process 0 writes the report."""
    workdir = tmp_path / "zoo"
    env = _env()
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env["PATH"]
    process = subprocess.run(
        ["bash", os.path.join(REPO_ROOT, "launch", "experiment_local.sh"), "2", CONFIG,
         str(workdir), *TINY, "--config.experiment.variants=('depthwise','depthwise_cosine')",
         "--config.experiment.seeds=(0,1)",
         "--config.experiment.ensemble=False"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-3000:]
    shares = sorted(
        line.split("this process ")[1]
        for line in process.stdout.splitlines()
        if "this process (" in line
    )
    assert shares == [
        "(0 of 2) runs ['depthwise/seeds_0', 'depthwise_cosine/seeds_0']",
        "(1 of 2) runs ['depthwise/seeds_1', 'depthwise_cosine/seeds_1']",
    ]
    assert "process 0 writes the report" in process.stdout
    results = json.load(open(workdir / "results.json"))
    assert set(results["variants"]) == {"depthwise", "depthwise_cosine"}
    for variant in results["variants"]:
        for seed in (0, 1):
            run = json.load(open(workdir / "runs" / variant / f"seed{seed}" / "run.json"))
            assert run["trained_with"] == [seed]
