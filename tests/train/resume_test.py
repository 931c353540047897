"""Exact resume: a run killed with SIGKILL and restarted ends bit-identical."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from siamjax.checkpoints import load_variables, tree_equal
from tests.conftest import REPO_ROOT


def _command(workdir, pause):
    return [sys.executable, "-m", "tests.train.resume_worker", str(workdir), str(pause)]


def _env():
    env = dict(os.environ)
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = REPO_ROOT
    return env


def _steps(workdir):
    folder = os.path.join(workdir, "checkpoints")
    if not os.path.isdir(folder):
        return []
    return sorted(int(name) for name in os.listdir(folder) if name.isdigit())


def _logged_steps(workdir):
    path = os.path.join(workdir, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    lines = open(path).read().splitlines()
    return [json.loads(line)["step"] for line in lines if line.endswith("}")]


# Three training processes (90 s): with the slow tests. The default run keeps the
# in-process resume (tests/train/step_test.py) and the quickstart's stage resume.
@pytest.mark.slow
def test_sigkill_then_restart_is_bit_identical_to_an_uninterrupted_run(tmp_path):
    """... and its metrics.jsonl holds each step once: the steps logged after the last
    checkpoint by the killed run are dropped when the resumed run logs them again."""
    full = tmp_path / "full"
    subprocess.run(_command(full, 0), cwd=REPO_ROOT, env=_env(), check=True,
                   capture_output=True)  # fmt: skip
    killed = tmp_path / "killed"
    process = subprocess.Popen(_command(killed, 0.5), cwd=REPO_ROOT, env=_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    deadline = time.time() + 300

    def logged_past_checkpoint():
        saved = [s for s in _steps(killed) if s >= 6]
        return saved and max(_logged_steps(killed), default=0) > max(saved)

    while not logged_past_checkpoint() and time.time() < deadline:
        assert process.poll() is None, process.stdout.read().decode()[-2000:]
        time.sleep(0.1)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert max(_steps(killed)) < 12, "the run finished before it was killed"
    assert not (killed / "model").exists()
    result = subprocess.run(_command(killed, 0), cwd=REPO_ROOT, env=_env(), check=True,
                            capture_output=True, text=True)  # fmt: skip
    assert "resumed" in result.stdout and "done finished 12" in result.stdout
    assert tree_equal(load_variables(str(full / "model")), load_variables(str(killed / "model")))
    assert _logged_steps(killed) == _logged_steps(full) == list(range(1, 13))
