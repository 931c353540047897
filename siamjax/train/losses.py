"""SiamRPN++ training losses (docs/parity.md §5.2–5.4).

For one BatchNorm group (pysot's per-GPU batch).

pysot averages the classification terms over the whole per-GPU batch and divides the
box loss by the per-GPU batch size; gradients are then summed over GPUs. The train step
reproduces that by computing these losses per group and summing them (``step.py``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from siamjax.train.targets import Targets


def _at_least_float32(x: jax.Array) -> jax.Array:
    """bfloat16 network outputs are upcast for the loss; float64 (parity checks) is kept."""
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def _masked_mean(values: jax.Array, mask: jax.Array, single_is_empty: bool) -> jax.Array:
    count = mask.sum()
    empty = count <= 1 if single_is_empty else count == 0
    total = jnp.where(mask, values, 0.0).sum()
    return jnp.where(empty, 0.0, total / jnp.maximum(count, 1))


def classification_loss(
    scores: jax.Array, label: jax.Array, single_is_empty: bool = False
) -> jax.Array:
    """Balanced cross-entropy: 0.5·mean(−log p1 | label 1) + 0.5·mean(−log p0 | label 0).

    Args:
      scores: (N, S, S, A, 2) logits (background, foreground).
      label: (N, S, S, A) int in {-1, 0, 1}; -1 is ignored.
      single_is_empty: pysot's quirk that a set of exactly one anchor contributes 0
        (its index list is squeezed to a scalar); only for bit-parity runs.
    """
    log_probs = jax.nn.log_softmax(_at_least_float32(scores), axis=-1)
    loss_pos = _masked_mean(-log_probs[..., 1], label == 1, single_is_empty)
    loss_neg = _masked_mean(-log_probs[..., 0], label == 0, single_is_empty)
    return 0.5 * loss_pos + 0.5 * loss_neg


def localisation_loss(deltas: jax.Array, delta: jax.Array, delta_weight: jax.Array) -> jax.Array:
    """Weighted L1: Σ(|pred − target| summed over 4 coordinates · weight) / N.

    Args:
      deltas: (N, S, S, A, 4) predictions; delta: the same shape, targets;
      delta_weight: (N, S, S, A), 1 / kept positives of the sample at its positives.
    """
    difference = jnp.abs(_at_least_float32(deltas) - delta).sum(axis=-1)
    return (difference * delta_weight).sum() / deltas.shape[0]


def total_loss(
    outputs: dict,
    targets: Targets,
    cls_weight: float = 1.0,
    loc_weight: float = 1.2,
    single_is_empty: bool = False,
) -> tuple[jax.Array, dict]:
    """``cls_weight·cls + loc_weight·loc`` and the terms, for one BatchNorm group."""
    cls = classification_loss(outputs["scores"], targets.label, single_is_empty)
    loc = localisation_loss(outputs["deltas"], targets.delta, targets.delta_weight)
    total = cls_weight * cls + loc_weight * loc
    return total, {"cls_loss": cls, "loc_loss": loc, "total_loss": total}
