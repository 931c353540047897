"""Same result on any device count: a fixed global batch (16 pairs) and BatchNorm group
size (2) trained for 20 steps across the unfreeze on 1, 2 and 8 devices of one process
and on 2 processes x 4 devices (jax.distributed on 127.0.0.1).

What differs is only the order of float32 sums (gradients and BatchNorm statistics
reduced over devices), amplified by training. Measured (2-core AMD EPYC, 2026-12-04),
worst over tensors of (max |difference|) / (max |value|), tensors with values >= 0.1,
and the worst absolute difference in the smaller tensors (BatchNorm biases of 1e-3 whose
gradients are sums that cancel):

| run vs 1 device | tensors >= 0.1, relative | smaller tensors, absolute |
| --- | --- | --- |
| 1 process x 2 devices | 4.7e-07 | 1.1e-08 |
| 1 process x 8 devices | 1.8e-05 | 1.6e-06 |
| 2 processes x 4 devices | 1.8e-05 | 1.6e-06 |

Two devices meet 1e-6; eight (one BatchNorm group per device) do not, in one process or
two, and the test holds them to what was measured (with headroom) so a regression shows.
"""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from siamjax.checkpoints import load_variables
from tests.conftest import REPO_ROOT, free_port

pytestmark = pytest.mark.slow


def _run(processes, devices_per_process, tmp_path):
    tag = f"{processes}x{devices_per_process}"
    env = dict(os.environ)
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices_per_process}"
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = REPO_ROOT
    port = free_port()
    out = tmp_path / f"{tag}.json"
    command = [sys.executable, "-m", "tests.train.multiprocess_worker", str(port),
               str(processes)]  # fmt: skip
    running = [
        subprocess.Popen(
            command + [str(index), str(tmp_path / tag), str(out)],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        for index in range(processes)
    ]
    logs = [process.communicate(timeout=900)[0].decode() for process in running]
    for process, log in zip(running, logs, strict=True):
        assert process.returncode == 0, log[-3000:]
    result = json.loads(out.read_text())
    assert result["devices"] == processes * devices_per_process
    result["variables"] = load_variables(str(tmp_path / tag / "model"))
    return result


def _differences(ours, reference) -> tuple[float, float]:
    """(worst relative difference over tensors whose values reach 0.1, worst absolute
    difference over the other tensors)."""
    relative, absolute = 0.0, 0.0
    for a, b in zip(jax.tree_util.tree_leaves(ours), jax.tree_util.tree_leaves(reference),
                    strict=True):  # fmt: skip
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        scale, difference = float(np.abs(b).max()), float(np.abs(a - b).max())
        if scale >= 0.1:
            relative = max(relative, difference / scale)
        else:
            absolute = max(absolute, difference)
    return relative, absolute


# (relative, absolute) bounds per (processes, devices per process): measured x ~2.
BOUNDS = {(1, 2): (1e-6, 1e-7), (1, 8): (5e-5, 5e-6), (2, 4): (5e-5, 5e-6)}


def test_one_two_eight_devices_and_two_processes_train_the_same_parameters(tmp_path):
    reference = _run(1, 1, tmp_path)
    assert len(reference["losses"]) == 20
    for processes, devices in ((1, 2), (1, 8), (2, 4)):
        other = _run(processes, devices, tmp_path)
        np.testing.assert_allclose([x for _, x in other["losses"]],
                                   [x for _, x in reference["losses"]], rtol=5e-6)  # fmt: skip
        relative, absolute = _differences(other["variables"], reference["variables"])
        print(f"{processes} x {devices}: relative {relative:.2e}, absolute {absolute:.2e}")
        bound_relative, bound_absolute = BOUNDS[(processes, devices)]
        assert relative <= bound_relative and absolute <= bound_absolute, (relative, absolute)
