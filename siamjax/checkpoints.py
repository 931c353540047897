"""Saving and loading model variables (``{'params', 'batch_stats'}``) with orbax."""

from __future__ import annotations

import os

import numpy as np
import orbax.checkpoint as ocp


def save_variables(directory: str, variables, overwrite: bool = False) -> str:
    """Writes ``variables`` as an orbax checkpoint at ``directory``; returns its path."""
    path = _absolute(directory)
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True (--force) to replace it")
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(path, variables, force=overwrite)
    checkpointer.wait_until_finished()
    return path


def load_variables(directory: str) -> dict:
    """Reads ``{'params', 'batch_stats'}`` (numpy leaves) from any of:

    * a checkpoint written by ``save_variables`` (``convert``, ``WORKDIR/model``);
    * a training workdir, its ``checkpoints`` folder (newest step) or one step folder
      (``WORKDIR/checkpoints/<step>``): the model part of the training state.
    """
    path = _resolve_training_checkpoint(_absolute(directory))
    if not os.path.isdir(path):
        raise FileNotFoundError(f"no checkpoint directory at {path}")
    restored = ocp.StandardCheckpointer().restore(path)
    return {
        "params": restored.get("params", {}),
        "batch_stats": restored.get("batch_stats", {}),
    }


def _resolve_training_checkpoint(path: str) -> str:
    """Maps a workdir / manager root / step folder to the step's ``state`` item."""
    if "://" in path or not os.path.isdir(path):
        return path
    if os.path.isdir(os.path.join(path, "checkpoints")):
        path = os.path.join(path, "checkpoints")
    steps = [name for name in os.listdir(path) if name.isdigit()]
    if steps and not os.path.exists(os.path.join(path, "_CHECKPOINT_METADATA")):
        path = os.path.join(path, max(steps, key=int))
    if os.path.isdir(os.path.join(path, "state")):
        return os.path.join(path, "state")
    return path


def _absolute(directory: str) -> str:
    # orbax needs absolute paths; URLs such as gs://bucket/x pass through unchanged.
    if "://" in directory:
        return directory
    return os.path.abspath(directory)


def tree_equal(a, b) -> bool:
    """True if two nested dicts of arrays have identical keys, shapes, dtypes and bits."""
    if isinstance(a, dict) != isinstance(b, dict):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(tree_equal(a[k], b[k]) for k in a)
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()
