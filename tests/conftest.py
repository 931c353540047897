"""Test setup: 8 host CPU devices (set before jax is imported) and shared fixtures."""

import atexit
import os
import shutil
import socket
import tempfile

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# One XLA compilation cache for the test session and the processes it starts (resume,
# multi-process, launcher tests): many tests compile the same small programs.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    # Created by this process (pytest-xdist's workers inherit it): removed at exit.
    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="siamjax-xla-cache-")
    atexit.register(shutil.rmtree, os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.3")

import jax  # noqa: E402
import pytest  # noqa: E402


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (jax.distributed coordinators of the tests)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_DIR = os.path.join(REPO_ROOT, "configs")
RELEASED_CONFIGS = (
    "siamrpn_r50_l234_dwxcorr",
    "siamrpn_r50_l234_dwxcorr_otb",
    "siamrpn_r50_l234_dwxcorr_lt",
    "siamrpn_alex_dwxcorr",
    "siamrpn_alex_dwxcorr_otb",
    "siamrpn_mobilev2_l234_dwxcorr",
)


# pysot's released models that are a variant of another config file (``file.py:variant``).
CONFIG_VARIANTS = {
    "siamrpn_r50_l234_dwxcorr_otb": "siamrpn_r50_l234_dwxcorr.py:otb",
    "siamrpn_alex_dwxcorr_otb": "siamrpn_alex_dwxcorr.py:otb",
}


def config_path(name: str) -> str:
    """The config spec of a configs/ file name or a released model's name."""
    return os.path.join(CONFIG_DIR, CONFIG_VARIANTS.get(name, f"{name}.py"))


@pytest.fixture(scope="session")
def cpu_devices():
    return jax.devices("cpu")
