"""Model checkpoints written on a device mesh load anywhere (e.g. after a multi-host run)."""

import os
import subprocess
import sys

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from siamjax.checkpoints import save_variables
from tests.conftest import REPO_ROOT


def test_variables_saved_over_eight_devices_load_in_a_one_device_process(tmp_path):
    mesh = Mesh(np.asarray(jax.devices()[:8]), ("data",))
    values = {"params": {"w": np.arange(16.0, dtype=np.float32).reshape(8, 2)},
              "batch_stats": {"mean": np.ones(3, np.float32)}}  # fmt: skip
    split, replicated = (
        NamedSharding(mesh, PartitionSpec("data")),
        NamedSharding(mesh, PartitionSpec()),
    )
    placed = {
        "params": {"w": jax.device_put(values["params"]["w"], split)},
        "batch_stats": {"mean": jax.device_put(values["batch_stats"]["mean"], replicated)},
    }
    path = save_variables(str(tmp_path / "model"), placed)
    script = (
        "import sys, numpy as np\nfrom siamjax.checkpoints import load_variables\n"
        "v = load_variables(sys.argv[1])\n"
        "assert isinstance(v['params']['w'], np.ndarray)\n"
        "np.testing.assert_array_equal(v['params']['w'], np.arange(16.0).reshape(8, 2))\n"
        "np.testing.assert_array_equal(v['batch_stats']['mean'], np.ones(3))\n"
    )
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=1",
               PYTHONPATH=REPO_ROOT)  # fmt: skip
    subprocess.run([sys.executable, "-c", script, path], check=True, env=env, cwd=REPO_ROOT)
