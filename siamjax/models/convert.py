"""pysot (PyTorch) state_dict <-> siamjax variables. The only module that knows NCHW.

Flax module names mirror pysot's state_dict keys, so a Flax leaf at
``params/backbone/layer2/0/downsample/0/kernel`` is pysot's
``backbone.layer2.0.downsample.0.weight``. Leaf renames (docs/parity.md §9.1):

======================  ==============================  =========================
Flax collection / leaf  pysot suffix                    layout
======================  ==============================  =========================
params ``kernel``       ``weight`` (conv)               OIHW -> HWIO (2, 3, 1, 0)
params ``scale``        ``weight`` (BatchNorm)          as is
params ``bias``         ``bias``                        as is
batch_stats ``mean``    ``running_mean``                as is
batch_stats ``var``     ``running_var``                 as is
params other            same name (``cls_weight``)      as is
======================  ==============================  =========================

Keys ending in ``num_batches_tracked`` are ignored; a leading ``module.`` is stripped.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from siamjax.models.backbones import alexnet_legacy_conv_indices

_LEAF_TO_TORCH = {
    ("params", "kernel"): "weight",
    ("params", "scale"): "weight",
    ("params", "bias"): "bias",
    ("batch_stats", "mean"): "running_mean",
    ("batch_stats", "var"): "running_var",
}


class ConversionError(ValueError):
    """A checkpoint that does not fit the architecture the config describes."""


def normalize_state_dict(checkpoint: Any) -> collections.OrderedDict[str, np.ndarray]:
    """Unwraps ``{'state_dict': ...}``, strips ``module.``, drops ``num_batches_tracked``."""
    if isinstance(checkpoint, Mapping) and "state_dict" in checkpoint:
        checkpoint = checkpoint["state_dict"]
    if not isinstance(checkpoint, Mapping):
        raise ConversionError(
            f"expected a state_dict (a mapping of names to tensors), got {type(checkpoint)}"
        )
    state = collections.OrderedDict()
    for key, value in checkpoint.items():
        if not isinstance(key, str):
            raise ConversionError(f"state_dict key {key!r} is not a string")
        if key.startswith("module."):
            key = key[len("module.") :]
        if key.endswith("num_batches_tracked"):
            continue
        if not isinstance(value, np.ndarray):
            raise ConversionError(f"state_dict entry {key!r} is not a tensor ({type(value)})")
        state[key] = value
    return state


def torch_key(collection: str, path: tuple[str, ...]) -> str:
    """pysot state_dict key of the Flax leaf ``variables[collection][path...]``."""
    leaf = _LEAF_TO_TORCH.get((collection, path[-1]), path[-1])
    return ".".join(path[:-1] + (leaf,))


def _to_torch_layout(collection: str, path: tuple[str, ...], array: np.ndarray) -> np.ndarray:
    if collection == "params" and path[-1] == "kernel":
        return np.transpose(array, (3, 2, 0, 1))  # HWIO -> OIHW
    return array


def _torch_shape(collection: str, path: tuple[str, ...], shape: tuple[int, ...]):
    if collection == "params" and path[-1] == "kernel":
        return (shape[3], shape[2], shape[0], shape[1])
    return tuple(shape)


def _from_torch_layout(collection: str, path: tuple[str, ...], array: np.ndarray) -> np.ndarray:
    if collection == "params" and path[-1] == "kernel":
        return np.ascontiguousarray(np.transpose(array, (2, 3, 1, 0)))  # OIHW -> HWIO
    return array


def _flatten(variables) -> list[tuple[str, tuple[str, ...], Any]]:
    leaves = []
    for collection in ("params", "batch_stats"):
        tree = variables.get(collection, {})
        for key_path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
            leaves.append((collection, tuple(str(k.key) for k in key_path), leaf))
    return leaves


def _set(tree: dict, path: tuple[str, ...], value) -> None:
    for part in path[:-1]:
        tree = tree.setdefault(part, {})
    tree[path[-1]] = value


def flax_to_pysot(variables) -> collections.OrderedDict[str, np.ndarray]:
    """siamjax ``{'params', 'batch_stats'}`` -> a pysot state_dict (numpy, NCHW)."""
    state = collections.OrderedDict()
    for collection, path, leaf in _flatten(variables):
        state[torch_key(collection, path)] = _to_torch_layout(collection, path, np.asarray(leaf))
    return state


def alexnet_layout_renames(prefix: str = "backbone") -> dict[str, str]:
    """Key prefixes of pysot's legacy AlexNet (one ``features`` Sequential) -> the
    per-layer AlexNet (``layer1..layer5``, conv ``.0`` and BatchNorm ``.1``). The two hold
    the same weights: the released ``siamrpn_alex_dwxcorr`` model uses the first, the
    training recipe (which unfreezes layer4/5) the second."""
    renames = {}
    for layer, index in enumerate(alexnet_legacy_conv_indices(), start=1):
        renames[f"{prefix}.features.{index}."] = f"{prefix}.layer{layer}.0."
        renames[f"{prefix}.features.{index + 1}."] = f"{prefix}.layer{layer}.1."
    return renames


def align_alexnet_layout(state: Mapping[str, Any], expected_keys) -> collections.OrderedDict:
    """Renames an AlexNet backbone stored in the other layout to the one ``expected_keys``
    use (legacy <-> per-layer); any other state_dict is returned unchanged."""
    expected_keys = set(expected_keys)
    renames = alexnet_layout_renames()
    if not any(key.startswith(tuple(renames)) for key in state):
        renames = {new: old for old, new in renames.items()}  # per-layer -> legacy
    wanted = any(key.startswith(tuple(renames.values())) for key in expected_keys)
    present = any(key.startswith(tuple(renames)) for key in state)
    if not (wanted and present):
        return collections.OrderedDict(state)
    aligned = collections.OrderedDict()
    for key, value in state.items():
        for old, new in renames.items():
            if key.startswith(old):
                key = new + key[len(old) :]
                break
        aligned[key] = value
    return aligned


def pysot_to_flax(checkpoint: Any, reference_variables) -> dict:
    """Converts a pysot checkpoint to siamjax variables shaped like ``reference_variables``.

    Args:
      checkpoint: a state_dict or ``{'state_dict': ...}`` of numpy arrays (``load_pth``).
        An AlexNet backbone in the other of pysot's two layouts (legacy ``features`` vs
        ``layer1..5``) is renamed to the config's (``align_alexnet_layout``).
      reference_variables: variables (or ``jax.eval_shape`` structs) of the model the
        config builds; they fix which keys and shapes are expected.

    Returns:
      ``{'params': ..., 'batch_stats': ...}`` of float32 numpy arrays.

    Raises:
      ConversionError: naming the first key whose shape differs (both shapes), and
        listing missing and unexpected keys.
    """
    state = normalize_state_dict(checkpoint)
    expected = {}
    for collection, path, leaf in _flatten(reference_variables):
        expected[torch_key(collection, path)] = (collection, path, tuple(leaf.shape))
    state = align_alexnet_layout(state, expected)
    problems = []
    for key, value in state.items():
        if key in expected:
            collection, path, shape = expected[key]
            torch_shape = _torch_shape(collection, path, shape)
            if tuple(value.shape) != torch_shape:
                problems.append(
                    f"first mismatching key {key!r}: checkpoint shape {tuple(value.shape)}, "
                    f"the config's model expects {torch_shape}"
                )
                break
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    if missing:
        problems.append(f"{len(missing)} keys missing from the checkpoint: {_listing(missing)}")
    if unexpected:
        problems.append(
            f"{len(unexpected)} unexpected keys in the checkpoint: {_listing(unexpected)}"
        )
    if problems:
        raise ConversionError(
            "checkpoint does not match the config's architecture:\n  " + "\n  ".join(problems)
        )
    variables: dict = {"params": {}, "batch_stats": {}}
    for key, (collection, path, _shape) in expected.items():
        value = np.asarray(state[key])
        if value.dtype != np.float32:
            value = value.astype(np.float32)
        _set(variables[collection], path, _from_torch_layout(collection, path, value))
    return variables


def _listing(keys: list[str], limit: int = 20) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")


def merge_pretrained_backbone(checkpoint: Any, variables, prefix: str = "backbone"):
    """Loads an ImageNet backbone checkpoint into ``variables['...'][prefix]``
    (docs/parity.md §9.3).

    Keys are matched without the ``backbone.`` prefix; entries whose shape differs or
    that the model lacks are not loaded. Returns ``(new_variables, report)`` where the
    report lists ``loaded``, ``shape_mismatch``, ``unused_in_checkpoint`` and
    ``not_in_checkpoint`` (model keys left at their initial values).
    """
    state = normalize_state_dict(checkpoint)
    new_variables = jax.tree_util.tree_map(np.asarray, _as_dict(variables))
    report = {"loaded": [], "shape_mismatch": [], "unused_in_checkpoint": [],
              "not_in_checkpoint": []}  # fmt: skip
    seen = set()
    for collection, path, leaf in _flatten(variables):
        if path[0] != prefix:
            continue
        key = torch_key(collection, path[1:])
        if key not in state:
            report["not_in_checkpoint"].append(key)
            continue
        seen.add(key)
        value = state[key]
        torch_shape = _torch_shape(collection, path, tuple(leaf.shape))
        if tuple(value.shape) != torch_shape:
            report["shape_mismatch"].append(
                f"{key}: checkpoint {tuple(value.shape)} vs model {torch_shape}"
            )
            continue
        converted = _from_torch_layout(collection, path, value.astype(np.float32))
        _set(new_variables[collection], path, converted)
        report["loaded"].append(key)
    report["unused_in_checkpoint"] = [key for key in state if key not in seen]
    return new_variables, report


def _as_dict(tree):
    if hasattr(tree, "unfreeze"):
        return tree.unfreeze()
    if isinstance(tree, Mapping):
        return {k: _as_dict(v) for k, v in tree.items()}
    return tree
