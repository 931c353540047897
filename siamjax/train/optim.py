"""pysot's optimiser as an optax chain over each phase's trained parameters.

See docs/parity.md §7.1–7.3.

pysot rebuilds its optimiser at the unfreeze epoch. Here one optax chain lives for the
whole run, and each training phase applies it to its own trained parameters
(``trainable_mask``, ``trained_part``): every parameter belongs to a group (``frozen`` —
never trained —, ``backbone`` — trained from ``train_epoch`` on at ``layers_lr`` × the
rate —, ``neck``, ``head``); parameters outside the phase get no gradient, update, weight
decay or momentum buffer. Entering the phase that trains the backbone adds its buffers
as zeros, and with ``reset_momentum`` zeroes every buffer (pysot's rebuild does that).

Per step: clip the global norm of the trained parameters' gradients at ``grad_clip`` →
add ``weight_decay``·param → momentum trace → scale by −lr(step)·group multiplier, i.e.
torch's ``clip_grad_norm_`` followed by its SGD.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

GROUPS = ("frozen", "backbone", "neck", "head")


def iterations_per_epoch(config) -> int:
    """pysot: videos_per_epoch // global batch (600000 // 224 = 2678)."""
    steps = int(config.input.videos_per_epoch) // int(config.train.batch_size)
    if steps < 1:
        raise ValueError(
            f"input.videos_per_epoch {config.input.videos_per_epoch} is smaller than "
            f"train.batch_size {config.train.batch_size}"
        )
    return steps


def unfreeze_step(config) -> int:
    """The first step of phase 1 (``train.backbone.train_epoch`` epochs in)."""
    return int(config.train.backbone.train_epoch) * iterations_per_epoch(config)


def learning_rate_table(schedule_config) -> np.ndarray:
    """Per-epoch learning rates (float64) of pysot's warm-up 'step' + main 'log' schedule."""
    warmup_epochs = int(schedule_config.warmup_epochs)
    epochs = int(schedule_config.epochs)
    rates = np.zeros(0, np.float64)
    if warmup_epochs:
        multiplier = (schedule_config.warmup_end_lr / schedule_config.warmup_start_lr) ** (
            1.0 / warmup_epochs
        )
        # numpy's power over an epoch array, as pysot's StepScheduler (bit-equal table).
        rates = schedule_config.warmup_start_lr * multiplier ** np.arange(warmup_epochs)
    main = np.logspace(
        np.log10(schedule_config.base_lr),
        np.log10(schedule_config.end_lr),
        epochs - warmup_epochs,
    )
    return np.concatenate([rates, main])


def learning_rate_schedule(schedule_config, steps_per_epoch: int) -> optax.Schedule:
    """Step -> head/neck learning rate: warm-up then exponential decay, both from optax.

    ``per_step=False`` (pysot) keeps the rate constant within an epoch (staircase);
    ``per_step=True`` decays smoothly along the same curve. Every rate is the table's
    times ``lr_multiplier``: pysot scales each group's rate by TRAIN.BASE_LR / LR.start_lr,
    which is 1 in its r50 recipes and 0.5 in the AlexNet 16-GPU one.
    """
    schedule = _unscaled_schedule(schedule_config, steps_per_epoch)
    multiplier = float(schedule_config.get("lr_multiplier", 1.0))
    if multiplier == 1.0:
        return schedule
    return lambda step: multiplier * schedule(step)


def _unscaled_schedule(schedule_config, steps_per_epoch: int) -> optax.Schedule:
    warmup_epochs = int(schedule_config.warmup_epochs)
    main_epochs = int(schedule_config.epochs) - warmup_epochs
    staircase = not bool(schedule_config.per_step)
    main = optax.exponential_decay(
        init_value=schedule_config.base_lr,
        transition_steps=steps_per_epoch,
        decay_rate=(schedule_config.end_lr / schedule_config.base_lr)
        ** (1.0 / max(main_epochs - 1, 1)),
        staircase=staircase,
        end_value=schedule_config.end_lr,
    )
    if not warmup_epochs:
        return main
    warmup = optax.exponential_decay(
        init_value=schedule_config.warmup_start_lr,
        transition_steps=steps_per_epoch,
        decay_rate=(schedule_config.warmup_end_lr / schedule_config.warmup_start_lr)
        ** (1.0 / warmup_epochs),
        staircase=staircase,
    )
    return optax.join_schedules([warmup, main], [warmup_epochs * steps_per_epoch])


def parameter_groups(params, train_layers) -> dict:
    """A tree like ``params`` of group names (see ``GROUPS``)."""

    def group(path, _):
        top = path[0].key
        if top == "backbone":
            return "backbone" if path[1].key in tuple(train_layers) else "frozen"
        if top == "neck":
            return "neck"
        return "head"

    return jax.tree_util.tree_map_with_path(group, params)


def trainable_mask(params, config, phase: int):
    """A tree like ``params`` of bools: trained in ``phase`` (neck and head; from phase 1
    on also the backbone's ``train_layers``)."""
    trained_groups = ("neck", "head") + (("backbone",) if phase == 1 else ())
    groups = parameter_groups(params, config.train.backbone.train_layers)
    return jax.tree_util.tree_map(lambda group: group in trained_groups, groups)


def trained_part(tree, mask) -> dict:
    """The nested dicts of ``tree`` reduced to the leaves where ``mask`` is True (emptied
    dicts dropped): the subtree a phase differentiates and optimises."""
    return _kept(tree, mask) or {}


def _kept(tree, mask):
    if isinstance(tree, Mapping):
        kept = {key: _kept(value, mask[key]) for key, value in tree.items()}
        return {key: value for key, value in kept.items() if value is not None} or None
    return tree if mask else None


def merge_trained(tree, part):
    """``tree`` with the leaves of ``part`` (a ``trained_part`` of it) put in."""
    if isinstance(tree, Mapping):
        part = part or {}
        return {key: merge_trained(value, part.get(key)) for key, value in tree.items()}
    return tree if part is None else part


def clip_by_global_norm_as_torch(max_norm: float) -> optax.GradientTransformation:
    """torch's ``clip_grad_norm_``: every gradient times ``min(1, max_norm / (norm + 1e-6))``
    (optax's ``clip_by_global_norm`` divides by the norm itself)."""

    def update(updates, state, params=None):
        factor = jnp.minimum(1.0, max_norm / (optax.tree.norm(updates) + 1e-6))
        return jax.tree_util.tree_map(lambda grad: grad * factor, updates), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


class MomentumState(NamedTuple):
    trace: optax.Params


def skippable_momentum(momentum: float) -> optax.GradientTransformationExtraArgs:
    """torch's SGD momentum buffer (``trace = momentum * trace + update``, no dampening)
    that stays as it is when ``apply`` (a traced bool) is False: pysot's skipped step."""

    def init(params):
        return MomentumState(trace=jax.tree_util.tree_map(jnp.zeros_like, params))

    def update(updates, state, params=None, *, apply=True, **unused):
        # The skip selects inside the new trace, and the update is that trace: selecting
        # between old and new parameters afterwards would read both old buffers in both
        # outputs and make XLA copy every donated one for the whole step (more peak
        # memory: benchmarks/train_step.py).
        trace = jax.tree_util.tree_map(
            lambda update, trace: jnp.where(apply, momentum * trace + update, trace),
            updates,
            state.trace,
        )
        return trace, MomentumState(trace=trace)

    return optax.GradientTransformationExtraArgs(init, update)


def scale_by_group_rate(
    schedule: optax.Schedule, train_layers, backbone_lr_scale: float
) -> optax.GradientTransformationExtraArgs:
    """Update × −lr(``step``), × ``backbone_lr_scale`` (pysot's LAYERS_LR) in the backbone;
    zero when ``apply`` is False. Groups come from the tree's paths."""

    def update(updates, state, params=None, *, step, apply=True, **unused):
        rate = schedule(step)
        groups = parameter_groups(updates, train_layers)

        def scale(update, group):
            group_scale = backbone_lr_scale if group == "backbone" else 1.0
            return jnp.where(apply, -rate * group_scale, 0.0) * update

        scaled = jax.tree_util.tree_map(scale, updates, groups)
        return scaled, state

    return optax.GradientTransformationExtraArgs(lambda params: optax.EmptyState(), update)


def make_optimizer(config) -> tuple[optax.GradientTransformationExtraArgs, dict]:
    """pysot's optimiser from ``config.train``; returns (optimiser, schedules for logging).

    The optimiser is one optax chain for the whole run, applied in each phase to that
    phase's trained parameters only (``trained_part``): clip the global norm as torch
    does → add ``weight_decay``·param → momentum → scale by −lr(step) (× LAYERS_LR in the
    backbone). ``optimizer.update(grads, state, params, step=step, apply=ok)``; entering a
    phase refits the momentum buffers (``siamjax/train/step.py``, ``enter_phase``).
    The schedules give each group's rate per step (0 for the backbone while it is frozen).
    """
    train = config.train
    steps_per_epoch = iterations_per_epoch(config)
    schedule = learning_rate_schedule(train.schedule, steps_per_epoch)
    first_backbone_step = unfreeze_step(config)
    backbone_lr_scale = float(train.backbone.layers_lr)
    optimizer = optax.chain(
        clip_by_global_norm_as_torch(float(train.grad_clip)),
        optax.add_decayed_weights(float(train.weight_decay)),
        skippable_momentum(float(train.momentum)),
        scale_by_group_rate(schedule, tuple(train.backbone.train_layers), backbone_lr_scale),
    )

    def group_rate(group):
        if group != "backbone":
            return schedule
        return lambda step: schedule(step) * backbone_lr_scale * (step >= first_backbone_step)

    return optimizer, {group: group_rate(group) for group in ("backbone", "neck", "head")}
