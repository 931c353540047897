"""Reduced-precision tracker modes: which CPUs may run them and whether given weights may.

A mode is offered for a checkpoint only after ``siamjax precision-check`` measured it
within the accuracy budget (``BUDGET``) for exactly those weights, and only on a CPU with
the instructions that make it fast (``REQUIRED_INSTRUCTIONS``, named as /proc/cpuinfo
names them). The check writes a verdict file, by default ``precision_<mode>.json`` in
the checkpoint folder; ``verify_verdict`` is what ``siamjax track --precision`` and
``load_tracker(..., precision=...)`` call before building the network.

    bfloat16  OpenVINO runs the exported network in bfloat16 (AMX or AVX512-BF16)
    int8      ONNX Runtime runs a statically quantised search network (VNNI or AMX-INT8)
"""

from __future__ import annotations

import hashlib
import json

import jax
import numpy as np

from siamjax import fs

PRECISIONS = ("float32", "bfloat16", "int8")
# Any one of these makes the mode fast (flags as in /proc/cpuinfo).
REQUIRED_INSTRUCTIONS = {
    "bfloat16": ("amx_bf16", "avx512_bf16"),
    "int8": ("amx_int8", "avx512_vnni", "avx_vnni"),
}
BUDGET = {
    # Success AUC of the one-pass benchmark within this of float32's ...
    "max_auc_change": 0.005,
    # ... over at least this many generated sequences ...
    "min_sequences": 20,
    # ... and on the real video, given float32's state before each frame, boxes this
    # close to float32's (mean IoU over the frames).
    "min_mean_frame_iou": 0.9,
}


class PrecisionUnavailable(ValueError):
    """A precision mode this CPU or these weights may not run (one line)."""


def check_precision_name(precision: str) -> None:
    if precision not in PRECISIONS:
        raise PrecisionUnavailable(
            f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}"
        )


def cpu_instructions(precision: str, flags) -> list[str]:
    """The instructions for ``precision`` among ``flags`` (``machine.cpu_flags()``).

    Raises ``PrecisionUnavailable`` when the CPU has none of them."""
    check_precision_name(precision)
    if precision == "float32":
        return []
    wanted = REQUIRED_INSTRUCTIONS[precision]
    present = [name for name in wanted if name in flags]
    if not present:
        raise PrecisionUnavailable(
            f"precision {precision}: this CPU has none of {', '.join(wanted)} (the "
            "instructions that make it faster than float32); use --precision float32"
        )
    return present


def weights_fingerprint(variables) -> str:
    """sha256 over every array of ``variables`` (its path, dtype, shape and bytes)."""
    digest = hashlib.sha256()
    leaves, _ = jax.tree_util.tree_flatten_with_path(variables)
    for path, leaf in sorted(leaves, key=lambda item: jax.tree_util.keystr(item[0])):
        array = np.ascontiguousarray(np.asarray(leaf))
        digest.update(jax.tree_util.keystr(path).encode())
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def default_verdict_path(checkpoint: str, precision: str) -> str:
    return fs.join(checkpoint, f"precision_{precision}.json")


def budget_failures(verdict: dict) -> list[str]:
    """Why the measurements in ``verdict`` miss ``BUDGET`` (empty when they meet it)."""
    failures = []
    if verdict["sequences"] < BUDGET["min_sequences"]:
        failures.append(
            f"{verdict['sequences']} sequences, the budget needs {BUDGET['min_sequences']}"
        )
    change = verdict["success_auc"][verdict["precision"]] - verdict["success_auc"]["float32"]
    if abs(change) > BUDGET["max_auc_change"]:
        failures.append(
            f"success AUC changed by {change:+.4f}, more than {BUDGET['max_auc_change']}"
        )
    mean_iou = verdict["video"]["frame_by_frame"]["iou_mean"]
    if mean_iou < BUDGET["min_mean_frame_iou"]:
        failures.append(
            f"frame by frame on {verdict['video']['source']}, the mean IoU with float32's "
            f"boxes is {mean_iou:.3f}, below {BUDGET['min_mean_frame_iou']}"
        )
    return failures


def write_verdict(path: str, verdict: dict) -> None:
    fs.write_text(path, json.dumps(verdict, indent=2) + "\n")


def verify_verdict(path: str, precision: str, fingerprint: str) -> dict:
    """The verdict at ``path`` if it passed ``precision`` for weights with ``fingerprint``;
    else ``PrecisionUnavailable`` naming the file and the reason."""
    hint = "run `siamjax precision-check` on these weights first"
    try:
        verdict = json.loads(fs.read_text(path))
    except FileNotFoundError:
        raise PrecisionUnavailable(
            f"precision {precision}: no accuracy verdict at {path}; {hint}"
        ) from None
    except (OSError, ValueError) as error:
        raise PrecisionUnavailable(f"{path}: cannot read the verdict ({error})") from None
    if not isinstance(verdict, dict) or verdict.get("precision") != precision:
        raise PrecisionUnavailable(f"{path}: not a verdict for precision {precision}; {hint}")
    if verdict.get("weights_sha256") != fingerprint:
        raise PrecisionUnavailable(
            f"{path}: the verdict was measured on other weights (sha256 "
            f"{str(verdict.get('weights_sha256'))[:12]}…, these are {fingerprint[:12]}…); {hint}"
        )
    if not verdict.get("passed"):
        reasons = "; ".join(verdict.get("failures", [])) or "failed"
        raise PrecisionUnavailable(
            f"precision {precision} is not offered for these weights: it missed the "
            f"accuracy budget ({reasons}; {path})"
        )
    return verdict
