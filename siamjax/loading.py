"""Config + checkpoint -> model, network or tracker: the one way every entry point loads.

The CLI (``track``, ``eval``, ``hp-search``, ``info``, ``export``), the Python API
(``siamjax.api``), the toolkit integrations and the quickstart all go through here, so a
missing checkpoint or one of another architecture gives the same one-line
``CheckpointError`` everywhere (the CLI prints it and exits 2).

    from siamjax.loading import load_tracker
    tracker = load_tracker("configs/siamrpn_r50_l234_dwxcorr.py", "checkpoints/r50")
    tracker.init(frame_bgr, (x, y, w, h))
    box_xywh, score = tracker.track(next_frame_bgr)
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

import ml_collections

from siamjax import machine
from siamjax.backend import resolve_policy
from siamjax.checkpoints import load_variables
from siamjax.config_loader import apply_overrides, load_config
from siamjax.eval.precision_budget import calibration_pairs
from siamjax.models import VariablesMismatch, build_model, check_variables
from siamjax.tracking import MultiTargetTracker, TrackerNetwork, build_tracker
from siamjax.tracking import precision as precision_modes
from siamjax.tracking.backend_choice import fastest_network
from siamjax.tracking.onnx_network import OnnxTrackerNetwork
from siamjax.tracking.reduced_precision import Int8TrackerNetwork, OpenVinoTrackerNetwork


class CheckpointError(ValueError):
    """A checkpoint that cannot be read, or does not fit the config's model (one line)."""


def resolve_config(config: str | ml_collections.ConfigDict, overrides: Sequence[str] = ()):
    """A config from a spec (``path.py[:arg]``) or an existing ConfigDict, with
    ``a.b=value`` overrides applied."""
    if isinstance(config, str):
        config = load_config(config)
    return apply_overrides(config, list(overrides)) if overrides else config


def build_configured_model(config):
    """The config's model, formulated as ``config.backend`` resolves on this backend."""
    return build_model(config.model, resolve_policy(config).formulation)


def load_checkpoint(checkpoint: str, model=None) -> dict:
    """The variables of an orbax checkpoint directory (numpy arrays), checked against
    ``model`` when given. Raises ``CheckpointError`` naming the checkpoint, and for a
    mismatch the first differing parameter with both shapes."""
    try:
        variables = load_variables(checkpoint)
    except (FileNotFoundError, ValueError) as error:
        raise CheckpointError(f"{checkpoint}: cannot load checkpoint ({error})") from None
    if model is not None:
        try:
            check_variables(model, variables)
        except VariablesMismatch as error:
            raise CheckpointError(f"{checkpoint}: {error}") from None
    return variables


def load_model(config, checkpoint: str, overrides: Sequence[str] = ()):
    """``(model, variables, config)``: the config's model and the checked checkpoint."""
    config = resolve_config(config, overrides)
    model = build_configured_model(config)
    return model, load_checkpoint(checkpoint, model), config


BACKENDS = ("jax", "onnxruntime", "auto")


def load_network(
    config,
    weights: str | Mapping[str, Any],
    overrides: Sequence[str] = (),
    batch_mode=None,
    backend: str = "jax",
    precision: str = "float32",
    precision_report: str | None = None,
):
    """The tracker network of the config's model with ``weights``: a checkpoint directory
    or variables already in memory (e.g. just trained).

    ``backend``: 'jax' (``TrackerNetwork``; ``batch_mode`` as there), 'onnxruntime'
    (``OnnxTrackerNetwork``: the plain model exported to ONNX in memory) or 'auto' (the
    faster of the two for this model on this machine: ``tracking/backend_choice.py``).

    ``precision`` other than 'float32' runs on that mode's runtime whatever ``backend``
    says, and only on a CPU with its instructions and with a passing accuracy verdict for
    these weights (``precision_report``; default ``precision_<mode>.json`` in the
    checkpoint folder): ``tracking/precision.py``. Else ``PrecisionUnavailable``.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    precision_modes.check_precision_name(precision)
    config = resolve_config(config, overrides)
    if isinstance(weights, str):
        source, variables = weights, load_checkpoint(weights)
    else:
        source, variables = "variables in memory", weights
    try:
        if precision != "float32":
            return _reduced_precision_network(config, variables, weights, precision,
                                              precision_report)  # fmt: skip
        if backend == "onnxruntime":
            return OnnxTrackerNetwork.from_config(config, variables)
        if backend == "auto":
            return fastest_network(config, variables, batch_mode)
        return TrackerNetwork.from_config(config, variables, batch_mode)  # checks the fit
    except VariablesMismatch as error:
        raise CheckpointError(f"{source}: {error}") from None


def _reduced_precision_network(config, variables, weights, precision, precision_report):
    instructions = precision_modes.cpu_instructions(precision, machine.cpu_flags())
    if precision_report is None:
        if not isinstance(weights, str):
            raise precision_modes.PrecisionUnavailable(
                f"precision {precision} with variables in memory needs precision_report "
                "(the verdict file of `siamjax precision-check`)"
            )
        precision_report = precision_modes.default_verdict_path(weights, precision)
    fingerprint = precision_modes.weights_fingerprint(variables)
    verdict = precision_modes.verify_verdict(precision_report, precision, fingerprint)
    network = _runtime_network(config, variables, precision)
    auc = verdict["success_auc"]
    print(
        f"siamjax: precision {precision} on {network.backend} ({', '.join(instructions)} on "
        f"this CPU); accuracy verdict {precision_report}: success AUC {auc['float32']:.4f} "
        f"(float32) -> {auc[precision]:.4f} on {verdict['sequences']} sequences, mean IoU "
        f"{verdict['video']['frame_by_frame']['iou_mean']:.3f} with float32's boxes frame by "
        "frame on real video",
        file=sys.stderr,
    )
    return network


def precision_networks(config, variables, precision: str):
    """``(float32 network, network in precision)`` on the runtime of ``precision`` (the
    pair ``siamjax precision-check`` compares); checks nothing about the CPU or weights."""
    reference = _runtime_network(config, variables, precision, float32=True)
    if precision == "float32":
        return reference, reference
    return reference, _runtime_network(config, variables, precision)


def _runtime_network(config, variables, precision: str, float32: bool = False):
    """The network of ``precision`` on its runtime, or (``float32``) that runtime's float32
    network; a missing runtime is ``PrecisionUnavailable`` naming the extra."""
    precision_modes.check_precision_name(precision)
    try:
        if precision == "bfloat16":
            return OpenVinoTrackerNetwork.from_config(
                config, variables, inference_precision="f32" if float32 else "bf16"
            )
        if precision == "int8" and not float32:
            calibration = calibration_pairs(config)
            return Int8TrackerNetwork.from_config(config, variables, calibration=calibration)
        return OnnxTrackerNetwork.from_config(config, variables)
    except ImportError as error:
        extra = "openvino" if precision == "bfloat16" else "onnx"
        raise precision_modes.PrecisionUnavailable(
            f"precision {precision} needs {error.name or 'its runtime'}: "
            f'pip install -e ".[{extra}]"'
        ) from None


def load_tracker(
    config,
    weights: str | Mapping[str, Any],
    overrides: Sequence[str] = (),
    backend="jax",
    multi_target: bool = False,
    precision: str = "float32",
    precision_report: str | None = None,
):
    """The tracker ``config.track.type`` names (``init(frame, box_xywh)`` /
    ``track(frame) -> (box_xywh, score)``) over ``load_network(config, weights, ...)``
    (``backend``, ``precision`` and ``precision_report`` as there).

    ``multi_target``: a ``MultiTargetTracker`` of it instead (``init(frame, boxes_xywh)``
    / ``track(frame) -> [(box_xywh, score), ...]``, all targets in one network call)."""
    config = resolve_config(config, overrides)
    network = load_network(config, weights, backend=backend, precision=precision,
                           precision_report=precision_report)  # fmt: skip
    tracker = build_tracker(config, network)
    return MultiTargetTracker(tracker) if multi_target else tracker
