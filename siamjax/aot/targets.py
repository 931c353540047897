"""Target names -> the devices XLA compiles for, with no such device here.

TPU slices are named as Cloud TPU names them: ``v4-N`` and ``v5p-N`` count TensorCores
(two per chip, one JAX device per chip: "megacore"), so ``v5p-8`` is 4 chips on one
host; ``v5e-N`` (or ``v5litepod-N``) and ``v6e-N`` count chips. NVIDIA nodes are
``h100x8``, ``h200x8``, ``a100x8`` (GPUs per node), with ``xN`` for N nodes
(``h100x8x2``: 16 GPUs over 2 hosts).

``compile_devices(target)`` asks the installed plugin for compile-only devices of that
shape (``jax.experimental.topologies``): libtpu for TPUs (the ``[tpu]`` extra), JAX's CUDA
plugin with a shipped device description for GPUs (``[cuda]``, ``gpu_specs/``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.resources
import importlib.util
import os
import re
import tempfile

import jax
from jax.experimental import topologies

from siamjax.aot.chips import CHIPS, Chip


class TargetError(ValueError):
    """A target name this module cannot resolve, or a missing plugin (one line)."""


# Chips per JAX device name: v4 and v5p names count TensorCores, two per chip.
CORES_PER_CHIP = {"v4": 2, "v5p": 2, "v5e": 1, "v6e": 1}
TPU_PREFIX = {"v4": "v4", "v5p": "v5p", "v5e": "v5e", "v6e": "v6e"}
# 2D slices (v5e, v6e): Cloud TPU's shapes by chip count.
TWO_D_SHAPES = {
    1: (1, 1),
    4: (2, 2),
    8: (2, 4),
    16: (4, 4),
    32: (4, 8),
    64: (8, 8),
    128: (8, 16),
    256: (16, 16),
}
GPU_KINDS = ("a100", "h100", "h200")
EXTRA_OF = {"tpu": "tpu", "cuda": "cuda"}
CUDA_PLUGINS = ("xla_cuda13", "xla_cuda12")  # jax[cuda13] / jax[cuda12]


@dataclasses.dataclass(frozen=True)
class Target:
    """A resolved target.

    Attributes:
      name: as given (``v5e-8``).
      chip: its ``chips.Chip``.
      chips: JAX devices (= chips) in all.
      hosts: processes a run of it has (one per host, as ``siamjax train --distributed``).
      topology: the shape as the plugin takes it (``v5e:2x4``; ``1x2x8`` for GPU nodes).
      options: further keyword arguments of ``get_topology_desc``.
    """

    name: str
    chip: Chip
    chips: int
    hosts: int
    topology: str
    options: tuple = ()

    @property
    def platform(self) -> str:
        return self.chip.platform

    @property
    def chips_per_host(self) -> int:
        return self.chips // self.hosts

    def describe(self) -> str:
        return (
            f"{self.name}: {self.chips} x {self.chip.name} over {self.hosts} host(s) "
            f"({self.topology})"
        )


def _three_d_shape(chips: int) -> tuple[int, int, int]:
    """Cloud TPU's v4 / v5p slice shape for a power-of-two chip count: from 2x2x1, double
    the smallest dimension (the last of equals) until the count is reached."""
    shape = [2, 2, 1]
    while shape[0] * shape[1] * shape[2] < chips:
        smallest = min(shape)
        index = max(i for i, size in enumerate(shape) if size == smallest)
        shape[index] *= 2
    return tuple(shape)


def _tpu_target(name: str, generation: str, count: int) -> Target:
    chips, remainder = divmod(count, CORES_PER_CHIP[generation])
    unit = "TensorCores (two per chip)" if CORES_PER_CHIP[generation] == 2 else "chips"
    if generation in ("v4", "v5p"):
        if remainder or chips < 4 or chips & (chips - 1):
            raise TargetError(
                f"target {name!r}: {generation} slices here have a power-of-two "
                f"number of {unit}, at least 8 (e.g. {generation}-8, "
                f"{generation}-128)"
            )
        shape = _three_d_shape(chips)
        wrap = (shape[2] >= 4,) * 3  # full cubes (4x4x4 and up) are tori
        options = (
            ("chip_config_name", "megacore"),
            ("chips_per_host_bounds", (2, 2, 1)),
            ("num_slices", 1),
            ("wrap", wrap),
        )
        hosts = max(chips // 4, 1)
    else:
        if chips not in TWO_D_SHAPES:
            sizes = ", ".join(f"{generation}-{n}" for n in TWO_D_SHAPES)
            raise TargetError(f"target {name!r}: {generation} slices are {sizes}")
        shape = TWO_D_SHAPES[chips]
        single_host = chips <= 8
        per_host = (shape[0], shape[1], 1) if single_host else (2, 2, 1)
        wrap = (shape[0] == 16, shape[1] == 16, False)  # a full pod's rings close
        options = (
            ("chip_config_name", "default"),
            ("chips_per_host_bounds", per_host),
            ("num_slices", 1),
            ("wrap", wrap),
        )
        hosts = 1 if single_host else chips // 4
    topology = f"{TPU_PREFIX[generation]}:" + "x".join(str(size) for size in shape)
    return Target(name, CHIPS[generation], chips, hosts, topology, options)


def parse_target(name: str) -> Target:
    """The ``Target`` a name means (module docstring). Raises ``TargetError``."""
    text = str(name).strip().lower()
    match = re.fullmatch(r"(v4|v5p|v5e|v5litepod|v6e)-(\d+)", text)
    if match:
        generation = "v5e" if match.group(1) == "v5litepod" else match.group(1)
        return _tpu_target(name, generation, int(match.group(2)))
    match = re.fullmatch(r"(a100|h100|h200)x(\d+)(?:x(\d+))?", text)
    if match:
        per_node, nodes = int(match.group(2)), int(match.group(3) or 1)
        if not 1 <= per_node <= 8 or nodes < 1:
            raise TargetError(f"target {name!r}: 1 to 8 GPUs per node, at least one node")
        chip = CHIPS[match.group(1)]
        return Target(name, chip, per_node * nodes, nodes, f"1x{nodes}x{per_node}")
    raise TargetError(
        f"unknown target {name!r}; expected a TPU slice (v4-8, v5p-8, v5e-8, v5e-256, "
        "v6e-8, ...) or NVIDIA nodes (h100x8, h200x8, a100x8, h100x8x2 for two nodes)"
    )


def gpu_target_config(kind: str) -> str:
    """The ``GpuTargetConfig`` text of GPU ``kind`` ('h100', ...) shipped in ``gpu_specs/``."""
    return importlib.resources.files("siamjax.aot").joinpath(f"gpu_specs/{kind}.txtpb").read_text()


def _gpu_kind(target: Target) -> str:
    return next(kind for kind in GPU_KINDS if CHIPS[kind] is target.chip)


def prepare_environment() -> None:
    """Environment for compiling without the devices: libtpu must not look for a TPU's
    metadata server (``TPU_SKIP_MDS_QUERY``), and JAX's own platform stays the CPU. Call
    before the first JAX backend is made."""
    os.environ.setdefault("TPU_SKIP_MDS_QUERY", "1")
    jax.config.update("jax_platforms", "cpu")


@contextlib.contextmanager
def _quiet_stderr():
    """libtpu prints warnings about the absent TPU host (its accelerator type, worker
    names) to the process's stderr when it loads: kept out of the report, shown if the
    call fails."""
    with tempfile.TemporaryFile(mode="w+b") as captured:
        saved = os.dup(2)
        os.dup2(captured.fileno(), 2)
        try:
            yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # its parent package is not installed either
        return False


def compile_devices(target: Target) -> list:
    """Compile-only devices of ``target`` (``jax.experimental.topologies``).

    Raises ``TargetError`` naming the extra to install when the plugin is missing."""
    extra = EXTRA_OF[target.platform]
    if target.platform == "tpu":
        try:
            import libtpu  # noqa: F401
        except ImportError as error:
            raise TargetError(
                f"compiling for {target.name} needs libtpu: pip install -e "
                f'".[{extra}]" (JAX\'s TPU extra)'
            ) from error
        kwargs = {"topology_name": target.topology, "platform": "tpu", **dict(target.options)}
    else:
        if not any(_installed(f"jax_plugins.{name}") for name in CUDA_PLUGINS):
            raise TargetError(
                f'compiling for {target.name} needs JAX\'s CUDA plugin: pip install -e ".[{extra}]"'
            )
        kwargs = {
            "platform": "cuda",
            "target_config": gpu_target_config(_gpu_kind(target)),
            "topology": target.topology,
        }
    with _quiet_stderr() as captured:
        try:
            devices = list(topologies.get_topology_desc(**kwargs).devices)
        except Exception as error:
            captured.seek(0)
            detail = captured.read().decode(errors="replace").strip().splitlines()[-3:]
            logged = f" ({' / '.join(detail)})" if detail else ""
            raise TargetError(
                f"{target.name}: the {target.platform} plugin made no devices: {error}{logged}"
            ) from error
    if len(devices) != target.chips:
        raise TargetError(
            f"{target.name}: the plugin made {len(devices)} devices for "
            f"{target.topology}, expected {target.chips}"
        )
    return devices
