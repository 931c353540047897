"""The profiler window and the persistent compilation cache of a training run."""

import glob
import os
import subprocess
import sys

import pytest

from siamjax.train.runtime_tools import ConfigError, parse_profile_steps
from tests.conftest import REPO_ROOT


def test_profile_steps_parsing():
    assert parse_profile_steps("") is None and parse_profile_steps(None) is None
    assert parse_profile_steps("3,5") == (3, 5) and parse_profile_steps((4, 4)) == (4, 4)
    for bad in ("3", "a,b", "5,3", "0,2", "1,2,3"):
        with pytest.raises(ConfigError, match="train.profile_steps"):
            parse_profile_steps(bad)


_RUN = """
import sys
from siamjax.train.loop import train
from tests.train.helpers import batch_source, tiny_config
config = tiny_config()
config.train.profile_steps = sys.argv[3]
summary = train(config, sys.argv[1], max_steps=int(sys.argv[2]), batch_source=batch_source())
print("compiles", summary["step_compiles"])
"""


@pytest.mark.slow  # two training processes, 30 s
def test_compilation_cache_serves_a_restarted_run_and_profile_steps_trace(tmp_path):
    """'auto' puts the cache in WORKDIR/compilation_cache; the restarted process (resume)
    finds its train step there and adds no new entry for it. The first run also records
    a profile of steps 1-2 that TensorBoard's profile plugin reads (an .xplane.pb)."""
    env = {key: value for key, value in os.environ.items()
           if key != "JAX_COMPILATION_CACHE_DIR"}  # fmt: skip
    env.update(PYTHONPATH=REPO_ROOT, JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
               XLA_FLAGS="--xla_force_host_platform_device_count=1")  # fmt: skip
    workdir = tmp_path / "run"
    cache = workdir / "compilation_cache"

    def run(steps, profile=""):
        result = subprocess.run([sys.executable, "-c", _RUN, str(workdir), str(steps), profile],
                                env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
        assert f"compilation cache: {cache}" in result.stdout
        return result.stdout, sorted(os.listdir(cache))

    printed, first = run(2, profile="1,2")
    steps = [name for name in first if name.startswith("jit_train_step-")]
    assert steps, f"no train step cached: {first}"
    traces = glob.glob(str(workdir / "profile" / "plugins" / "profile" / "*" / "*.xplane.pb"))
    assert len(traces) == 1 and os.path.getsize(traces[0]) > 0
    assert "profile of steps 1-2 written to" in printed
    _, second = run(3)  # resumes at step 2: the same phase-0 train step, from the cache
    assert [name for name in second if name.startswith("jit_train_step-")] == steps
