"""``siamjax train --dry-run``: what a launch would do, printed by every process, then exit.

Run the real launch command with ``--dry-run`` (or ``SIAMJAX_TRAIN_FLAGS=--dry-run`` for the
launchers) to check a pod or cluster job before paying for it: each process initialises
``jax.distributed`` as the real run would (so a wrong coordinator fails here), then prints
its cluster settings, the backend policy, the mesh, the batch per host, the shard files it
reads, and where the run resumes and first checkpoints. Nothing is written.
"""

from __future__ import annotations

import jax

from siamjax import fs
from siamjax.backend import resolve_policy
from siamjax.cluster import Cluster
from siamjax.data.sources import host_shards, list_shards
from siamjax.platforms import describe_devices
from siamjax.train.loop import bn_group_warning, mesh_devices, total_steps
from siamjax.train.optim import iterations_per_epoch
from siamjax.train.step import bn_groups_span_devices


def checkpoint_steps(directory_names) -> list[int]:
    """The step folders among ``WORKDIR/checkpoints`` entries, ascending."""
    return sorted(int(name) for name in directory_names if name.isdigit())


def first_save_step(resume_step: int, last_step: int, checkpoint_every: int,
                    steps_per_epoch: int) -> int:  # fmt: skip
    """The first step after ``resume_step`` the loop checkpoints at (every
    ``checkpoint_every`` steps, every epoch end and the last step)."""
    if last_step <= resume_step:
        return resume_step  # nothing left to train
    candidates = [last_step]
    for period in (checkpoint_every, steps_per_epoch):
        if period > 0:
            candidates.append((resume_step // period + 1) * period)
    return min(candidates)


def describe_launch(config, workdir: str, cluster: Cluster, max_steps: int | None = None,
                    devices=None) -> list[str]:  # fmt: skip
    """The lines ``--dry-run`` prints for this process (reads, never writes)."""
    index, count = jax.process_index(), jax.process_count()
    policy = resolve_policy(config)
    global_batch = int(config.train.batch_size)
    used = mesh_devices(devices, global_batch)
    local = [d for d in used if d.process_index == index]
    lines = [
        f"cluster: {cluster.describe()}",
        f"jax: process {index} of {count}, {jax.local_device_count()} local devices; "
        f"{describe_devices()}",
        f"backend policy: {policy.describe()}",
        f"mesh: ('data',) over {len(used)} devices "
        f"({len(local)} on this process: {[d.id for d in local]})",
        f"batch: global {global_batch}, per host {global_batch // count}, per device "
        f"{global_batch // len(used)}, BatchNorm groups of "
        f"{config.train.bn_group_size}",
    ]
    group_size = int(config.train.bn_group_size)
    if bn_groups_span_devices(global_batch, len(used), group_size):
        lines.append(f"WARNING: {bn_group_warning(global_batch, len(used), config.train)}")
    for entry in config.input.datasets:
        try:
            shards = host_shards(list_shards(entry.path), index, count)
        except ValueError as error:
            lines.append(f"data {entry.name}: ERROR {error}")
            continue
        names = ", ".join(shard.rsplit("/", 1)[-1] for shard in shards) or "NONE"
        lines.append(f"data {entry.name}: {len(shards)} shard(s) on this host: {names}")
    steps_per_epoch = iterations_per_epoch(config)
    last_step = total_steps(config) if max_steps is None else int(max_steps)
    checkpoints = fs.join(workdir, "checkpoints")
    saved = checkpoint_steps(fs.listdir(checkpoints)) if fs.isdir(checkpoints) else []
    resume = saved[-1] if saved else 0
    first = first_save_step(resume, last_step, int(config.train.checkpoint_every), steps_per_epoch)
    start = f"resumes at step {resume}" if saved else "starts at step 0"
    lines.append(
        f"run: {start} of {last_step} ({steps_per_epoch} per epoch); first checkpoint "
        f"{fs.join(checkpoints, str(first))}"
    )
    return [f"[process {index}] {line}" for line in lines]
