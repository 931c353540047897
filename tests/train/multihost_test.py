"""Multi-host rehearsal with the real input: 4 processes x 2 CPU devices on 127.0.0.1
train from prepared TFRecords with the default (workers) loader. Hosts read disjoint
shards; the run equals one process fed the same global batch; after one host is
SIGKILLed and all are restarted, the run resumes to the same parameters."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from siamjax.checkpoints import load_variables
from siamjax.prep.prepare import prepare
from tests.conftest import REPO_ROOT, free_port
from tests.data_prep.raw_layouts import write_custom

HOSTS, DEVICES_PER_HOST = 4, 2


def _env(devices):
    env = dict(os.environ)
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = REPO_ROOT
    return env


def _start_hosts(data, workdir, tmp_path, tag):
    port = free_port()
    return [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.train.multihost_worker",
                str(port),
                str(HOSTS),
                str(index),
                str(data),
                str(workdir),
                str(tmp_path / f"{tag}{index}.json"),
            ],
            cwd=REPO_ROOT,
            env=_env(DEVICES_PER_HOST),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        for index in range(HOSTS)
    ]


def _finish(processes):
    logs = [process.communicate(timeout=900)[0].decode() for process in processes]
    for process, log in zip(processes, logs, strict=True):
        assert process.returncode == 0, log[-3000:]


def _params(workdir):
    import jax

    return jax.tree_util.tree_leaves(load_variables(os.path.join(workdir, "model")))


@pytest.mark.slow
def test_four_hosts_train_from_tfrecords_like_one_process_and_resume_after_sigkill(tmp_path):
    started = time.time()
    write_custom(str(tmp_path / "raw"), videos=8, frames=8)
    data = tmp_path / "data"
    prepare("custom", str(tmp_path / "raw"), str(data), videos_per_shard=1, progress=False)

    reference = subprocess.run(
        [sys.executable, "-m", "tests.train.multihost_worker", "reference", str(HOSTS),
         str(data), str(tmp_path / "reference"), str(tmp_path / "reference.json")],
        cwd=REPO_ROOT, env=_env(HOSTS * DEVICES_PER_HOST), capture_output=True, text=True,
        timeout=900,
    )  # fmt: skip
    assert reference.returncode == 0, reference.stdout[-3000:] + reference.stderr[-3000:]
    expected = json.loads((tmp_path / "reference.json").read_text())

    _finish(_start_hosts(data, tmp_path / "multi", tmp_path, "multi"))
    results = [json.loads((tmp_path / f"multi{i}.json").read_text()) for i in range(HOSTS)]
    shard_sets = [set(result["shards"]) for result in results]
    assert all(len(shards) == 2 for shards in shard_sets)
    assert set.union(*shard_sets) == {str(data / n) for n in os.listdir(data)
                                      if n.endswith(".tfrecord")}  # fmt: skip
    assert sum(len(shards) for shards in shard_sets) == 8  # disjoint
    assert results[0]["devices"] == expected["devices"] == HOSTS * DEVICES_PER_HOST
    np.testing.assert_allclose([x for _, x in results[0]["losses"]],
                               [x for _, x in expected["losses"]], rtol=1e-5)  # fmt: skip
    for a, b in zip(_params(tmp_path / "multi"), _params(tmp_path / "reference"), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)

    # Kill one host once a checkpoint exists, then the rest (as a scheduler would), and
    # restart all four: the run resumes and ends with the uninterrupted run's parameters.
    workdir = tmp_path / "killed"
    processes = _start_hosts(data, workdir, tmp_path, "killed")
    checkpoints = workdir / "checkpoints"
    deadline = time.time() + 600
    steps = []
    while time.time() < deadline and all(p.poll() is None for p in processes):
        steps = [n for n in os.listdir(checkpoints) if n.isdigit()] if checkpoints.is_dir() else []
        if steps:
            break
        time.sleep(0.2)
    assert steps, "no checkpoint was written"
    processes[1].send_signal(signal.SIGKILL)
    time.sleep(1.0)
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.communicate()
    assert processes[1].returncode == -signal.SIGKILL
    assert not (workdir / "model").exists(), "the run finished before the kill"
    _finish(_start_hosts(data, workdir, tmp_path, "resumed"))
    resumed = json.loads((tmp_path / "resumed0.json").read_text())
    assert resumed["status"] == "finished" and resumed["step"] == 12
    for a, b in zip(_params(workdir), _params(tmp_path / "multi"), strict=True):
        np.testing.assert_array_equal(a, b)
    print(f"multi-host rehearsal: {time.time() - started:.0f} s")
