"""2 processes x 2 CPU devices (jax.distributed on 127.0.0.1) vs 1 process x 4 devices."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO_ROOT, free_port


def _run(count, devices, tmp_path, tag):
    env = dict(os.environ)
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = REPO_ROOT
    port = free_port()
    out = tmp_path / f"{tag}.json"
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.train.multiprocess_worker",
                str(port),
                str(count),
                str(index),
                str(tmp_path / tag),
                str(out),
            ],  # fmt: skip
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for index in range(count)
    ]
    logs = [process.communicate(timeout=600)[0].decode() for process in processes]
    for process, log in zip(processes, logs, strict=True):
        assert process.returncode == 0, log[-3000:]
    return json.loads(out.read_text())


@pytest.mark.slow
def test_two_processes_match_one_process_with_the_same_devices(tmp_path):
    single = _run(1, 4, tmp_path, "single")
    multi = _run(2, 2, tmp_path, "multi")
    assert single["devices"] == multi["devices"] == 4
    np.testing.assert_allclose([x for _, x in multi["losses"]],
                               [x for _, x in single["losses"]], rtol=1e-5)  # fmt: skip
    assert len(single["losses"]) == 4
