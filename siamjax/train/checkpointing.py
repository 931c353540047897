"""Training checkpoints with orbax: train state + input position, resumable from a workdir.

Layout: ``WORKDIR/checkpoints/<step>/{state,input}``. ``state`` holds params,
batch_stats, optimiser state, step, rng and the skipped-update count, each leaf with a
leading member axis (a seed ensemble; a single run is one member); ``input`` (JSON) the
per-host pair position, batch and the members' seeds. Saves are asynchronous; the last
``keep`` checkpoints are kept plus one at every epoch boundary. ``WORKDIR`` may be a ``gs://`` URL.
"""

from __future__ import annotations

import jax
import orbax.checkpoint as ocp
from orbax.checkpoint.checkpoint_managers import preservation_policy

from siamjax import fs
from siamjax.train.step import TrainState, state_step


def checkpoint_manager(workdir: str, keep: int, steps_per_epoch: int) -> ocp.CheckpointManager:
    policy = preservation_policy.AnyPreservationPolicy(
        [preservation_policy.LatestN(keep), preservation_policy.EveryNSteps(steps_per_epoch)]
    )
    options = ocp.CheckpointManagerOptions(
        preservation_policy=policy, enable_async_checkpointing=True, create=True
    )
    return ocp.CheckpointManager(
        fs.join(fs.absolute(workdir), "checkpoints"),
        options=options,
        # Handlers named up front so a fresh process can read a checkpoint's metadata.
        item_handlers={
            "state": ocp.StandardCheckpointHandler(),
            "input": ocp.JsonCheckpointHandler(),
        },
    )


def save(manager: ocp.CheckpointManager, state: TrainState, input_state: dict) -> None:
    """Starts an asynchronous save at ``state.step`` (no-op if that step exists)."""
    step = state_step(state)
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


def saved_input(manager: ocp.CheckpointManager, step: int) -> dict:
    """The ``input`` item of the checkpoint at ``step``: ``position``, ``per_host_batch``
    and (checkpoints since single runs carry a member axis) the members' ``seeds``."""
    restored = manager.restore(step, args=ocp.args.Composite(input=ocp.args.JsonRestore()))
    return dict(restored["input"])


def saved_members(manager: ocp.CheckpointManager, step: int) -> int | None:
    """The member count of the checkpoint at ``step`` (its state's leading axis), or None
    for a checkpoint written before single runs had a member axis."""
    shape = manager.item_metadata(step)["state"]["step"].shape
    return int(shape[0]) if shape else None


def restore_latest(manager: ocp.CheckpointManager, template: TrainState):
    """(state, input_state) of the newest checkpoint, or None.

    ``template``: a TrainState of arrays (or ShapeDtypeStructs) with the target shardings,
    its optimiser state laid out for the phase of the checkpoint's last step
    (``saved_phase``): a phase's momentum covers that phase's trained parameters only.
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
