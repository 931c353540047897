"""Deterministic pysot-layout weights, rebuilt bit for bit from a seed without torch.

The golden outputs (``golden.py``) come from pysot models whose weights are these; the
tests rebuild the same weights from the parameter names and shapes stored with the
golden file, so the multi-megabyte weights themselves never need committing. Only the
BatchNorm running statistics, which pysot computed by calibration, are stored.

Values come from PCG64's raw 64-bit stream (seeded by ``SeedSequence([seed, crc32(name)])``),
which NumPy keeps identical across versions and platforms, mapped to uniform floats here
rather than through ``Generator`` methods, whose streams NumPy may change.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping

import numpy as np

RUNNING_STATISTICS = ("running_mean", "running_var", "num_batches_tracked")
SYNTHETIC_SEED = 2019  # the seed of the golden files' weights


def uniform(name: str, seed: int, shape: tuple[int, ...], low: float, high: float) -> np.ndarray:
    """float32 values uniform in [low, high), a pure function of (name, seed, shape)."""
    count = int(np.prod(shape, dtype=np.int64))
    bits = np.random.PCG64(np.random.SeedSequence([seed, zlib.crc32(name.encode())]))
    unit = (bits.random_raw(count) >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return (low + (high - low) * unit).astype(np.float32).reshape(shape)


def is_running_statistic(name: str) -> bool:
    return name.rsplit(".", 1)[-1] in RUNNING_STATISTICS


def synthetic_state_dict(
    entries: Iterable[tuple[str, tuple[int, ...]]],
    seed: int,
    running_statistics: Mapping[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """pysot ``state_dict`` of synthetic weights, in ``entries`` order.

    Args:
      entries: (parameter name, shape) pairs as pysot's ``state_dict()`` lists them.
      seed: selects the weights.
      running_statistics: BatchNorm buffers (``*.running_mean`` / ``running_var`` /
        ``num_batches_tracked``) to include; those missing are left out.

    Convolution and linear weights are uniform in ±1/sqrt(fan_in) (PyTorch's default
    scale), their biases likewise; BatchNorm scales are uniform in [0.75, 1.25) and
    offsets in ±0.1, so the affine parameters are exercised too.
    """
    entries = [(name, tuple(shape)) for name, shape in entries]
    names = {name for name, _ in entries}
    shapes = dict(entries)
    running_statistics = running_statistics or {}
    state_dict = {}
    for name, shape in entries:
        if is_running_statistic(name):
            if name in running_statistics:
                state_dict[name] = np.asarray(running_statistics[name])
            continue
        prefix, kind = name.rsplit(".", 1)
        if f"{prefix}.running_mean" in names:  # a BatchNorm's affine parameters
            low, high = (0.75, 1.25) if kind == "weight" else (-0.1, 0.1)
        else:
            weight_shape = shapes.get(f"{prefix}.weight", shape)
            fan_in = int(np.prod(weight_shape[1:], dtype=np.int64)) if len(weight_shape) > 1 else 1
            bound = 1.0 / np.sqrt(max(fan_in, 1))
            low, high = -bound, bound
        state_dict[name] = uniform(name, seed, shape, low, high)
    return state_dict


def flat_sample_indices(size: int, count: int = 1024) -> np.ndarray:
    """``count`` evenly spread indices into a flattened array of ``size`` elements."""
    return np.unique(np.linspace(0, size - 1, min(count, size)).round().astype(np.int64))


def summarize(array_nchw: np.ndarray) -> dict[str, np.ndarray]:
    """What the golden file keeps of a feature map (N, C, H, W): per-channel means, an
    evenly spread sample of values, and the largest magnitude (the comparison's scale)."""
    array_nchw = np.asarray(array_nchw, np.float32)
    return {
        "channel_mean": array_nchw.mean(axis=(0, 2, 3)),
        "sample": array_nchw.reshape(-1)[flat_sample_indices(array_nchw.size)],
        "scale": np.float32(np.abs(array_nchw).max()),
        "shape": np.asarray(array_nchw.shape, np.int64),
    }


def scale_loc_head(weights: dict[str, np.ndarray], factor: float) -> None:
    """Scales the localisation head's last layer in place (trained-model delta sizes)."""
    for name in list(weights):
        if ".loc.head.3." in f".{name}":
            weights[name] = (weights[name] * np.float32(factor)).astype(np.float32)
