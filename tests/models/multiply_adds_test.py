"""``benchmarks/float32_bound.py``'s arithmetic count, on ops whose multiply-adds are
known by hand: the GFLOP its float32 ceiling rests on."""

import importlib.util
import os

import jax
import jax.numpy as jnp
import numpy as np

from tests.conftest import REPO_ROOT


def _bound_module(monkeypatch):
    monkeypatch.syspath_prepend(os.path.join(REPO_ROOT, "benchmarks"))
    path = os.path.join(REPO_ROOT, "benchmarks", "float32_bound.py")
    spec = importlib.util.spec_from_file_location("float32_bound", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _conv(x, kernel, groups=1, padding="VALID"):
    return jax.lax.conv_general_dilated(
        x, kernel, (1, 1), padding, dimension_numbers=("NHWC", "HWIO", "NHWC"),
        feature_group_count=groups,
    )  # fmt: skip


def test_convolutions_and_matmuls_count_their_multiply_adds(monkeypatch):
    bound = _bound_module(monkeypatch)
    x = np.zeros((2, 8, 8, 6), np.float32)
    dense = np.zeros((3, 3, 6, 4), np.float32)  # 6x6 outputs x 4 channels x 54 products
    grouped = np.zeros((3, 3, 2, 6), np.float32)  # 3 groups: 18 products per output
    padded = np.zeros((5, 5, 6, 1), np.float32)  # SAME: 8x8 outputs x 150 products
    a, b = np.zeros((7, 3, 5), np.float32), np.zeros((7, 5, 11), np.float32)

    def network(x, a, b):
        inner = jax.jit(lambda y: _conv(y, grouped, groups=3))(x)  # a sub-jaxpr
        return _conv(x, dense), inner, _conv(x, padded, padding="SAME"), jnp.matmul(a, b)

    jaxpr = jax.make_jaxpr(network)(x, a, b).jaxpr
    expected = (2 * 36 * 4 * 54) + (2 * 36 * 6 * 18) + (2 * 64 * 1 * 150) + (7 * 3 * 11 * 5)
    assert bound.multiply_adds(jaxpr) == expected
