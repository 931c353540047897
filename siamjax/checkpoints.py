"""Saving and loading model variables (``{'params', 'batch_stats'}``) with orbax."""

from __future__ import annotations

import jax
import numpy as np
import orbax.checkpoint as ocp

from siamjax import fs


def save_variables(directory: str, variables, overwrite: bool = False) -> str:
    """Writes ``variables`` as an orbax checkpoint at ``directory``; returns its path
    (absolute, or the URL as given)."""
    path = fs.absolute(directory)
    shown = str(directory) if fs.is_url(directory) else path
    if fs.exists(path) and not overwrite:
        raise FileExistsError(f"{shown} exists; pass overwrite=True (--force) to replace it")
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(path, variables, force=overwrite)
    checkpointer.wait_until_finished()
    return shown


def load_variables(directory: str, seed: int | None = None) -> dict:
    """Reads ``{'params', 'batch_stats'}`` (numpy leaves) from any of:

    * a checkpoint written by ``save_variables`` (``convert``, ``WORKDIR/model``);
    * a training workdir, its ``checkpoints`` folder (newest step) or one step folder
      (``WORKDIR/checkpoints/<step>``): the model part of the training state. Its leaves
      carry a member axis (``siamjax/train/checkpointing.py``): a single run's is dropped;
      of a seed ensemble's, ``seed`` picks the member.
    """
    path = _resolve_training_checkpoint(fs.absolute(directory))
    if not fs.isdir(path):
        raise FileNotFoundError(f"no checkpoint directory at {path}")
    checkpointer = ocp.StandardCheckpointer()
    metadata = checkpointer.metadata(path)
    # Restored into host numpy arrays of the saved shapes: a checkpoint written by a
    # multi-host run records its devices, which need not exist where it is read.
    target = jax.tree_util.tree_map(
        lambda leaf: np.empty(leaf.shape, leaf.dtype), getattr(metadata, "item_metadata", metadata)
    )
    restored = checkpointer.restore(path, target)
    variables = {
        "params": restored.get("params", {}),
        "batch_stats": restored.get("batch_stats", {}),
    }
    seeds = _member_seeds(path)
    if seeds is None:
        return variables
    if seed is None and len(seeds) > 1:
        raise ValueError(
            f"{path} holds a seed ensemble (seeds {seeds}); pick one with seed=, or load "
            "the workdir's model_seed<seed> folder"
        )
    if seed is not None and seed not in seeds:
        raise ValueError(f"{path} holds seeds {seeds}, not {seed}")
    index = 0 if seed is None else seeds.index(seed)
    return jax.tree_util.tree_map(lambda leaf: leaf[index], variables)


def _member_seeds(state_path: str) -> list | None:
    """The members' seeds of a training checkpoint's ``state`` item (from the ``input``
    item beside it), or None for a model checkpoint or a training checkpoint written
    before states had a member axis."""
    if fs.basename(state_path) != "state":
        return None
    input_path = fs.join(fs.dirname(state_path), "input")
    if not fs.isdir(input_path):
        return None
    seeds = ocp.Checkpointer(ocp.JsonCheckpointHandler()).restore(input_path).get("seeds")
    return None if seeds is None else [int(seed) for seed in seeds]


def _resolve_training_checkpoint(path: str) -> str:
    """Maps a workdir / manager root / step folder (local or a URL) to the step's
    ``state`` item."""
    if not fs.isdir(path):
        return path
    if fs.isdir(fs.join(path, "checkpoints")):
        path = fs.join(path, "checkpoints")
    steps = [name for name in fs.listdir(path) if name.isdigit()]
    if steps and not fs.exists(fs.join(path, "_CHECKPOINT_METADATA")):
        path = fs.join(path, max(steps, key=int))
    if fs.isdir(fs.join(path, "state")):
        return fs.join(path, "state")
    return path


def tree_equal(a, b) -> bool:
    """True if two nested dicts of arrays have identical keys, shapes, dtypes and bits."""
    if isinstance(a, dict) != isinstance(b, dict):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(tree_equal(a[k], b[k]) for k in a)
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()
