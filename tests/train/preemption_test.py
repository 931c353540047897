"""Preemption agreed across hosts: 4 processes on 127.0.0.1 (jax.distributed), SIGTERM to
one of them, or to all of them a step apart. Every process stops at the same step,
saves it and exits 75 within a bound (no process left in a barrier), and the restarted
run ends bit-identical to an uninterrupted one."""

import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from siamjax.checkpoints import load_variables
from tests.conftest import REPO_ROOT, free_port

HOSTS = 4
STEPS = 12
BOUND_S = 240  # every process gone this long after the signal (a deadlock never is)


def _start(workdir, tmp_path, tag, pause):
    env = dict(os.environ)
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=1"
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = REPO_ROOT
    port = free_port()
    return [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.train.preemption_worker",
                str(port),
                str(HOSTS),
                str(index),
                str(workdir),
                str(tmp_path / f"{tag}{index}.json"),
                str(pause),
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        for index in range(HOSTS)
    ]


def _wait(processes, timeout):
    logs = [process.communicate(timeout=timeout)[0].decode() for process in processes]
    return [process.returncode for process in processes], logs


def _summaries(tmp_path, tag):
    return [json.loads((tmp_path / f"{tag}{i}.json").read_text()) for i in range(HOSTS)]


def _progress(tmp_path, tag, index):
    path = tmp_path / f"{tag}{index}.json.progress"
    return int(path.read_text() or -1) if path.exists() else -1


def _saved_steps(workdir):
    folder = workdir / "checkpoints"
    return sorted(int(n) for n in os.listdir(folder) if n.isdigit()) if folder.is_dir() else []


def _params(workdir):
    return jax.tree_util.tree_leaves(load_variables(str(workdir / "model")))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("uninterrupted")
    codes, logs = _wait(_start(tmp_path / "run", tmp_path, "full", 0), 600)
    assert codes == [0] * HOSTS, logs[0][-3000:]
    assert all(s == {"status": "finished", "step": STEPS} for s in _summaries(tmp_path, "full"))
    return _params(tmp_path / "run")


def _preempt_and_resume(tmp_path, uninterrupted, signal_plan):
    """Starts 4 slow processes, sends SIGTERM per ``signal_plan`` ([(process, delay s)])
    once step 5 is under way, checks the agreed stop and save, then resumes to the end."""
    workdir = tmp_path / "run"
    processes = _start(workdir, tmp_path, "preempted", pause=1.0)
    deadline = time.time() + 300
    while min(_progress(tmp_path, "preempted", i) for i in range(HOSTS)) < 5:
        assert time.time() < deadline and all(p.poll() is None for p in processes)
        time.sleep(0.05)
    signalled = time.time()
    for index, delay in signal_plan:
        time.sleep(delay)
        processes[index].send_signal(signal.SIGTERM)
    codes, logs = _wait(processes, BOUND_S)
    stopped_in = time.time() - signalled
    assert codes == [75] * HOSTS, "\n---\n".join(log[-1500:] for log in logs)
    summaries = _summaries(tmp_path, "preempted")
    steps = {summary["step"] for summary in summaries}
    assert len(steps) == 1 and {s["status"] for s in summaries} == {"preempted"}
    (stopped,) = steps
    assert 5 <= stopped < STEPS
    assert _saved_steps(workdir)[-1] == stopped  # the step every process stopped at
    codes, logs = _wait(_start(workdir, tmp_path, "resumed", 0), 600)
    assert codes == [0] * HOSTS, logs[0][-3000:]
    assert all(s == {"status": "finished", "step": STEPS} for s in _summaries(tmp_path, "resumed"))
    for a, b in zip(_params(workdir), uninterrupted, strict=True):
        np.testing.assert_array_equal(a, b)
    return stopped, stopped_in


@pytest.mark.slow
def test_sigterm_to_one_process_stops_all_at_one_step(tmp_path, uninterrupted):
    stopped, seconds = _preempt_and_resume(tmp_path, uninterrupted, [(2, 0.0)])
    print(f"SIGTERM to process 2: all stopped at step {stopped}, {seconds:.1f} s after it")


@pytest.mark.slow
def test_sigterm_to_every_process_a_step_apart(tmp_path, uninterrupted):
    plan = [(3, 0.0), (0, 1.0), (1, 1.0), (2, 1.0)]  # a step (1 s) apart
    stopped, seconds = _preempt_and_resume(tmp_path, uninterrupted, plan)
    print(f"SIGTERM to all a step apart: all stopped at step {stopped}, {seconds:.1f} s")
