"""Platform names: what JAX reports at run time, and what ``jax.export`` lowers for.

JAX names a platform two ways. At run time ``jax.default_backend()`` and
``Device.platform`` say ``'cpu'``, ``'gpu'`` (NVIDIA *and* AMD) or ``'tpu'``. Lowering
(``jax.export.export(platforms=...)``, ``Traced.lower(lowering_platforms=...)``) needs the
concrete name: ``'cpu'``, ``'cuda'``, ``'rocm'`` or ``'tpu'``; JAX itself turns ``'gpu'`` into
``'cuda'`` or ``'rocm'`` by asking which GPU plugin is loaded
(``jax.export.default_export_platform()``).

Everything in siamjax that depends on the platform (the backend policy, export, the
tracker's backend choice, the benchmarks) goes through ``lowering_platform``: it takes
either kind of name and returns the lowering one, so a name JAX reports is never
compared with a name it lowers for.
"""

from __future__ import annotations

import jax

# What jax.default_backend() / Device.platform report.
RUNTIME_PLATFORMS = ("cpu", "gpu", "tpu")
# What jax.export lowers for.
LOWERING_PLATFORMS = ("cpu", "cuda", "rocm", "tpu")
# The run-time name of each lowering name.
RUNTIME_NAME = {"cpu": "cpu", "cuda": "gpu", "rocm": "gpu", "tpu": "tpu"}


class UnknownPlatformError(ValueError):
    """A platform name that is neither a run-time nor a lowering name."""


def lowering_platform(name: str | None = None) -> str:
    """The ``jax.export`` lowering name of platform ``name``.

    ``name``: a run-time name (``jax.default_backend()``, ``Device.platform``: 'cpu',
    'gpu', 'tpu'), a lowering name ('cpu', 'cuda', 'rocm', 'tpu'), or None for this
    process's default backend. 'gpu' becomes 'cuda' or 'rocm' as JAX resolves it here
    (``jax.export.default_export_platform()``, which asks the loaded GPU plugin).

    Raises:
      UnknownPlatformError: a name JAX does not use (e.g. 'metal' or a typo).
    """
    if name is None:
        name = jax.default_backend()
    name = str(name).lower()
    if name in LOWERING_PLATFORMS:
        return name
    if name == "gpu":
        resolved = jax.export.default_export_platform()
        if resolved not in ("cuda", "rocm"):
            raise UnknownPlatformError(
                f"platform 'gpu' but JAX lowers for {resolved!r} here; no GPU plugin "
                "(jax[cuda13], jax[rocm]) is loaded"
            )
        return resolved
    expected = ", ".join(dict.fromkeys(RUNTIME_PLATFORMS + LOWERING_PLATFORMS))
    raise UnknownPlatformError(f"unknown platform {name!r}; expected one of {expected}")


def runtime_platform(name: str | None = None) -> str:
    """The run-time name ('cpu', 'gpu', 'tpu') of a lowering or run-time ``name``
    (default: this process's backend)."""
    return RUNTIME_NAME[lowering_platform(name)]


def is_cpu(name: str | None = None) -> bool:
    """Whether platform ``name`` (either kind; default: this process's) is XLA:CPU."""
    return lowering_platform(name) == "cpu"


def describe_devices(devices=None) -> str:
    """'8 x NVIDIA H200 (gpu, lowers for cuda) over 2 processes' for logs."""
    devices = list(jax.devices() if devices is None else devices)
    kinds = sorted({device.device_kind for device in devices})
    platform = devices[0].platform if devices else jax.default_backend()
    processes = len({device.process_index for device in devices}) if devices else 0
    return (
        f"{len(devices)} x {', '.join(kinds)} ({platform}, lowers for "
        f"{lowering_platform(platform)}) over {processes} process(es)"
    )
