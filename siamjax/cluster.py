"""Which process this is in a multi-process run, resolved before ``jax.distributed``.

``siamjax train --distributed auto|explicit`` calls ``initialize(resolve_cluster(...))``.
Resolving first lets ``--dry-run`` print what a launch will use, and fixes one trap of
JAX's own SLURM detection: it picks local GPU number ``SLURM_LOCALID``, which does not
exist when the task sees a single GPU (``CUDA_VISIBLE_DEVICES`` set to one device, as
``--gpus-per-task=1`` or a launcher does); then the task's GPU is number 0.

* ``explicit``: ``--coordinator``, ``--num-processes``, ``--process-id``.
* ``auto`` under SLURM (``SLURM_JOB_ID``, ``SLURM_STEP_NODELIST``, ``SLURM_NTASKS``,
  ``SLURM_PROCID``, ``SLURM_LOCALID`` set by ``srun``): process id and count from the
  task, the coordinator on the step's first node at a port derived from the job id
  (the port JAX itself derives; ``JAX_COORDINATOR_PORT`` overrides), one GPU per task.
* ``auto`` anywhere else (Cloud TPU VMs, other clusters): left to
  ``jax.distributed.initialize()``, which reads the TPU pod's metadata.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping

SLURM_VARIABLES = ("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_NTASKS", "SLURM_PROCID",
                   "SLURM_LOCALID")  # fmt: skip


class ClusterError(ValueError):
    """A launch whose settings cannot work (missing or inconsistent values)."""


@dataclasses.dataclass(frozen=True)
class Cluster:
    """A resolved launch. ``None`` fields are left to ``jax.distributed.initialize``.

    Attributes:
      source: 'single' (one process, no jax.distributed), 'explicit', 'slurm' or
        'jax-auto' (TPU pod metadata and other environments JAX detects).
      coordinator: host:port of process 0.
      num_processes, process_id: this run's size and this process's index.
      local_device_ids: the accelerator numbers this process uses (None: all visible).
    """

    source: str
    coordinator: str | None = None
    num_processes: int | None = None
    process_id: int | None = None
    local_device_ids: tuple[int, ...] | None = None

    def describe(self) -> str:
        if self.source == "single":
            return "single process (no jax.distributed)"

        def shown(value):
            return "auto" if value is None else value

        devices = "all visible" if self.local_device_ids is None else list(self.local_device_ids)
        return (
            f"{self.source}: process {shown(self.process_id)} of {shown(self.num_processes)}, "
            f"coordinator {shown(self.coordinator)}, local devices {devices}"
        )


def first_slurm_host(nodelist: str) -> str:
    """The first host of a SLURM node list: 'gpu[003-005,9],cpu1' -> 'gpu003'."""
    match = re.match(r"([^,\[]+)(\[([^\]]+)\])?", nodelist.strip())
    if not match or not match.group(1):
        raise ClusterError(f"SLURM_STEP_NODELIST {nodelist!r} names no host")
    prefix, ranges = match.group(1), match.group(3)
    if ranges is None:
        return prefix
    return prefix + ranges.split(",")[0].split("-")[0]


def slurm_port(job_id: str, environ: Mapping[str, str]) -> int:
    """JAX_COORDINATOR_PORT, else JAX's SLURM default: job id mod 4096 + 61440."""
    if environ.get("JAX_COORDINATOR_PORT"):
        return int(environ["JAX_COORDINATOR_PORT"])
    return int(job_id) % 2**12 + (65535 - 2**12 + 1)


def task_gpu(local_id: int, environ: Mapping[str, str]) -> int:
    """The GPU number of a SLURM task: 0 when it sees one GPU, else its local id."""
    visible = environ.get("CUDA_VISIBLE_DEVICES", environ.get("ROCR_VISIBLE_DEVICES"))
    if visible is None or visible.strip() == "":
        return local_id
    count = len([entry for entry in visible.split(",") if entry.strip()])
    if count == 1:
        return 0
    if local_id >= count:
        raise ClusterError(
            f"SLURM_LOCALID {local_id} but CUDA_VISIBLE_DEVICES={visible!r} shows {count} "
            "GPUs; run one task per visible GPU"
        )
    return local_id


def resolve_cluster(
    mode: str,
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> Cluster:
    """The launch ``mode`` ('off', 'auto', 'explicit') means in ``environ`` (os.environ)."""
    environ = os.environ if environ is None else environ
    if mode == "off":
        return Cluster("single")
    if mode == "explicit":
        if not coordinator or num_processes is None or process_id is None:
            raise ClusterError(
                "--distributed explicit needs --coordinator, --num-processes and --process-id"
            )
        if not 0 <= process_id < num_processes:
            raise ClusterError(f"--process-id {process_id} is not in [0, {num_processes})")
        return Cluster("explicit", coordinator, num_processes, process_id)
    if mode != "auto":
        raise ClusterError(f"--distributed is {mode!r}; expected 'off', 'auto' or 'explicit'")
    if all(name in environ for name in SLURM_VARIABLES):
        try:
            count, index = int(environ["SLURM_NTASKS"]), int(environ["SLURM_PROCID"])
            local_id = int(environ["SLURM_LOCALID"])
        except ValueError as error:
            raise ClusterError(f"SLURM task variables are not integers: {error}") from error
        host = first_slurm_host(environ["SLURM_STEP_NODELIST"])
        port = slurm_port(environ["SLURM_JOB_ID"], environ)
        return Cluster("slurm", f"{host}:{port}", count, index, (task_gpu(local_id, environ),))
    return Cluster("jax-auto")


def initialize(cluster: Cluster) -> None:
    """``jax.distributed.initialize`` with what ``cluster`` fixes (nothing when single)."""
    if cluster.source == "single":
        return
    import jax

    local = None if cluster.local_device_ids is None else list(cluster.local_device_ids)
    jax.distributed.initialize(
        coordinator_address=cluster.coordinator,
        num_processes=cluster.num_processes,
        process_id=cluster.process_id,
        local_device_ids=local,
    )
