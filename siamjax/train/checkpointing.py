"""Training checkpoints with orbax: train state + input position, resumable from a workdir.

Layout: ``WORKDIR/checkpoints/<step>/{state,input}``. ``state`` holds params,
batch_stats, optimiser state, step, rng and the skipped-update count; ``input`` the
per-host pair positions (JSON). Saves are asynchronous; the last ``keep`` checkpoints
are kept plus one at every epoch boundary. ``WORKDIR`` may be a ``gs://`` URL.
"""

from __future__ import annotations

import os

import jax
import orbax.checkpoint as ocp
from orbax.checkpoint.checkpoint_managers import preservation_policy

from siamjax.train.step import TrainState


def _absolute(path: str) -> str:
    return path if "://" in path else os.path.abspath(path)


def checkpoint_manager(workdir: str, keep: int, steps_per_epoch: int) -> ocp.CheckpointManager:
    policy = preservation_policy.AnyPreservationPolicy(
        [preservation_policy.LatestN(keep), preservation_policy.EveryNSteps(steps_per_epoch)]
    )
    options = ocp.CheckpointManagerOptions(
        preservation_policy=policy, enable_async_checkpointing=True, create=True
    )
    return ocp.CheckpointManager(
        os.path.join(_absolute(workdir), "checkpoints"),
        options=options,
        item_names=("state", "input"),
    )


def save(manager: ocp.CheckpointManager, state: TrainState, input_state: dict) -> None:
    """Starts an asynchronous save at ``state.step`` (no-op if that step exists)."""
    step = int(jax.device_get(state.step))
    if step in manager.all_steps():
        return
    manager.save(
        step,
        args=ocp.args.Composite(
            state=ocp.args.StandardSave(state._asdict()),
            input=ocp.args.JsonSave(input_state),
        ),
        force=True,
    )


def restore_latest(manager: ocp.CheckpointManager, template: TrainState):
    """(state, input_state) of the newest checkpoint, or None.

    ``template``: a TrainState of arrays (or ShapeDtypeStructs) with the target shardings.
    """
    step = manager.latest_step()
    if step is None:
        return None
    abstract = jax.tree_util.tree_map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding),
        template._asdict(),
    )
    restored = manager.restore(
        step,
        args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract), input=ocp.args.JsonRestore()
        ),
    )
    return TrainState(**restored["state"]), dict(restored["input"])
