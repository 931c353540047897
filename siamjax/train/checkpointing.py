"""Training checkpoints with orbax: train state + input position, resumable from a workdir.

Layout: ``WORKDIR/checkpoints/<step>/{state,input}``. ``state`` holds params,
batch_stats, optimiser state, step, rng and the skipped-update count; ``input`` the
per-host pair positions (JSON). Saves are asynchronous; the last ``keep`` checkpoints
are kept plus one at every epoch boundary. ``WORKDIR`` may be a ``gs://`` URL.
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
        # Handlers named up front so a fresh process can read a checkpoint's metadata
        # (the shapes of its momentum buffers) before restoring it.
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
    abstract["opt_state"] = _saved_buffer_shapes(manager, step, abstract["opt_state"])
    restored = manager.restore(
        step,
        args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract), input=ocp.args.JsonRestore()
        ),
    )
    return TrainState(**restored["state"]), dict(restored["input"])


def _saved_buffer_shapes(manager: ocp.CheckpointManager, step: int, abstract_opt_state):
    """``abstract_opt_state`` with the shapes the checkpoint holds.

    Momentum buffers of parameters not trained in the saved step's phase are scalar
    placeholders (``step.fit_momentum_to_phase``); the caller fits the restored state
    to its phase, so either layout restores.
    """
    try:
        saved_tree = manager.item_metadata(step)["state"].tree["opt_state"]
    except (KeyError, AttributeError, TypeError):
        return abstract_opt_state
    saved = jax.tree_util.tree_leaves(saved_tree, is_leaf=lambda x: hasattr(x, "shape"))
    leaves, treedef = jax.tree_util.tree_flatten(abstract_opt_state)
    if len(saved) != len(leaves):
        return abstract_opt_state  # a different optimiser: orbax names the mismatch
    fitted = [
        jax.ShapeDtypeStruct(tuple(meta.shape), leaf.dtype, sharding=leaf.sharding)
        for meta, leaf in zip(saved, leaves, strict=True)
    ]
    return jax.tree_util.tree_unflatten(treedef, fitted)
