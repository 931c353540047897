"""pysot's optimiser as optax transformations, with freezing as a schedule.

See docs/parity.md §7.1–7.3.

pysot rebuilds its optimiser at the unfreeze epoch. Here one optimiser lives for the
whole run: every parameter belongs to a group (``frozen`` — never trained —, ``backbone``
— trained from ``train_epoch`` on at ``layers_lr`` × the rate —, ``neck``, ``head``), and
whether a group is active is a function of the step. Inactive groups get no update, no
weight decay and no momentum; the momentum buffers can be zeroed at the unfreeze step
(pysot's rebuild does that) with ``reset_momentum``.

Per step: clip the global gradient norm of the active groups at ``grad_clip`` → add
``weight_decay``·param → momentum trace → scale by −lr(step)·group multiplier, i.e.
torch's ``clip_grad_norm_`` followed by its SGD.
"""

from __future__ import annotations

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


class FreezeSchedule(NamedTuple):
    """When each group trains and at what multiple of the schedule's rate."""

    unfreeze_step: int  # first step at which the 'backbone' group trains
    backbone_lr_scale: float  # pysot's LAYERS_LR
    reset_momentum: bool  # zero all momentum buffers at unfreeze_step (pysot's rebuild)

    def active(self, group: str, step) -> jax.Array:
        if group == "frozen":
            return jnp.asarray(False)
        if group == "backbone":
            return jnp.asarray(step) >= self.unfreeze_step
        return jnp.asarray(True)

    def lr_scale(self, group: str) -> float:
        return self.backbone_lr_scale if group == "backbone" else 1.0


class SGDState(NamedTuple):
    trace: optax.Params


def scheduled_sgd(
    schedule: optax.Schedule,
    train_layers,
    freeze: FreezeSchedule,
    momentum: float = 0.9,
    weight_decay: float = 1e-4,
    grad_clip: float = 10.0,
) -> optax.GradientTransformationExtraArgs:
    """torch's ``clip_grad_norm_`` + SGD (momentum, L2 decay) with per-group activity and
    rates; ``update`` needs ``step=`` and takes ``apply=`` (a traced bool: False leaves
    traces unchanged and returns zero updates).

    The clipping norm covers the active groups only (pysot clips the parameters that
    have gradients), with torch's factor ``min(1, clip / (norm + 1e-6))``. Groups come
    from the tree's paths (``parameter_groups(tree, train_layers)``), so ``update`` also
    takes a sub-tree with ``None`` for parameters left out (the train step passes only
    the ones trainable in its phase; the others' traces stay as they are).
    """

    def init(params):
        return SGDState(trace=jax.tree_util.tree_map(jnp.zeros_like, params))

    def update(grads, state, params=None, *, step, apply=True, **unused):
        groups = parameter_groups(grads, train_layers)
        reset = jnp.logical_and(freeze.reset_momentum, step == freeze.unfreeze_step)
        rate = schedule(step)
        squares = jax.tree_util.tree_map(
            lambda grad, group: jnp.where(freeze.active(group, step), jnp.sum(grad**2), 0.0),
            grads,
            groups,
        )
        norm = jnp.sqrt(sum(jax.tree_util.tree_leaves(squares)))
        clip_factor = jnp.minimum(1.0, grad_clip / (norm + 1e-6))

        def leaf(grad, trace, param, group):
            # A skipped step (``apply`` false: pysot's bad-loss rule) keeps the trace and
            # gives a zero update. Written so that the new parameter reads the new trace
            # rather than selecting old values afterwards, which would read both old
            # buffers in both outputs and make XLA copy every donated one for the whole
            # step (more peak memory: benchmarks/train_step.py).
            active = jnp.logical_and(freeze.active(group, step), apply)
            direction = jnp.where(active, grad * clip_factor + weight_decay * param, 0.0)
            new_trace = momentum * jnp.where(reset, 0.0, trace) + direction
            new_trace = jnp.where(apply, new_trace, trace)
            scale = jnp.where(active, -rate * freeze.lr_scale(group), 0.0)
            return (scale * new_trace).astype(param.dtype), new_trace

        pairs = jax.tree_util.tree_map(leaf, grads, state.trace, params, groups)
        is_pair = lambda x: isinstance(x, tuple)  # noqa: E731
        updates = jax.tree_util.tree_map(lambda p: p[0], pairs, is_leaf=is_pair)
        trace = jax.tree_util.tree_map(lambda p: p[1], pairs, is_leaf=is_pair)
        return updates, SGDState(trace=trace)

    return optax.GradientTransformationExtraArgs(init, update)


def make_optimizer(config) -> tuple[optax.GradientTransformationExtraArgs, dict]:
    """pysot's optimiser from ``config.train``; returns (optimiser, schedules for logging).

    ``optimizer.update(grads, state, params, step=step)``.
    """
    train = config.train
    steps_per_epoch = iterations_per_epoch(config)
    schedule = learning_rate_schedule(train.schedule, steps_per_epoch)
    freeze = FreezeSchedule(
        unfreeze_step=int(train.backbone.train_epoch) * steps_per_epoch,
        backbone_lr_scale=float(train.backbone.layers_lr),
        reset_momentum=bool(train.backbone.reset_momentum),
    )
    optimizer = scheduled_sgd(
        schedule,
        tuple(train.backbone.train_layers),
        freeze,
        float(train.momentum),
        float(train.weight_decay),
        float(train.grad_clip),
    )

    def group_rate(group):
        return lambda step: schedule(step) * freeze.lr_scale(group) * freeze.active(group, step)

    return optimizer, {group: group_rate(group) for group in ("backbone", "neck", "head")}
