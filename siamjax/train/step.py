"""The train step: one pure function, jitted once per phase over a device ``Mesh``.

    state = enter_phase(init_train_state(variables, optimizer, seed), optimizer, config,
                        phase, mesh)
    step_fn = make_train_step(model, config, optimizer, mesh, phase)
    state, metrics = step_fn(state, batch)      # batch sharded over the 'data' axis

BatchNorm groups. pysot trains on G GPUs with per-GPU batches of B: BatchNorm statistics
are those of B samples, each GPU's loss is a mean over its B samples, and gradients are
**summed** over GPUs. Here the global batch (G·B) is split into groups of
``config.train.bn_group_size`` = B samples; the network runs on each group (``vmap``),
each group's loss is computed as pysot does and the losses are summed. That reproduces a
G-GPU recipe on any number of devices, and the result does not depend on the device count.
Running statistics are the mean of the groups' updated statistics.

Seed ensembles: with ``members=K`` every state leaf has a leading axis of K independently
initialised models (seeds) and the step is the single-model step ``vmap``-ed over it (or
unrolled, backend policy ``seed_ensemble``); all members take the same batch, so member k
equals a separate run with seed k on the same pair stream (``siamjax/train/loop.py``,
``seeds=``). The training loop runs a single seed as an ensemble of one.

Phases: 0 = backbone frozen (backbone BatchNorm on running statistics, no backbone
gradient is computed), 1 = ``train_layers`` trained with batch statistics (docs/parity.md §7.3).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

from siamjax.backend import BackendPolicy, resolve_policy
from siamjax.data.batch_format import batch_layout
from siamjax.data.photometric import model_images
from siamjax.models import init_variables
from siamjax.models.siamrpn import SiamRPN
from siamjax.train.losses import total_loss
from siamjax.train.optim import merge_trained, trainable_mask, trained_part, unfreeze_step
from siamjax.train.targets import TargetConfig, batch_targets


class TrainState(NamedTuple):
    """Everything a resumed run needs besides the input position."""

    step: jax.Array  # () int32, iterations done (skipped ones included)
    params: Any
    batch_stats: Any
    opt_state: Any
    rng: jax.Array  # PRNG key data; step keys are fold_in(rng, step)
    skipped: jax.Array  # () int32, updates skipped for a non-finite or huge loss


def step_key(rng_data: jax.Array, step) -> jax.Array:
    """The PRNG key of iteration ``step`` (the targets' draws) from ``TrainState.rng``."""
    return jax.random.fold_in(jax.random.wrap_key_data(rng_data), step)


def state_step(state: TrainState) -> int:
    """Iterations done (a seed ensemble's members step together: member 0's count)."""
    return int(np.asarray(jax.device_get(state.step)).reshape(-1)[0])


def state_float_dtype(config):
    """The dtype of the state's float variables: float64 when the step computes in float64
    (the parity and invariance checks, under ``jax_enable_x64``), else None (as made)."""
    return jnp.float64 if str(config.train.compute_dtype) == "float64" else None


def init_train_state(variables, optimizer, seed: int, float_dtype=None,
                     trainable=None) -> TrainState:  # fmt: skip
    """A fresh state from model ``variables`` (``{'params', 'batch_stats'}``).

    ``float_dtype``: every float variable, and so the momentum, in that dtype
    (``state_float_dtype``); float32 momentum would be promoted to float64 by the first
    float64 step, a state the compiled step was not made for. ``trainable``: the phase's
    ``trainable_mask``; the optimiser state covers those parameters (default: all; the
    step of a phase takes the state ``enter_phase`` fits to it)."""
    if float_dtype is not None:
        variables = jax.tree_util.tree_map(
            lambda x: x.astype(float_dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x,
            dict(variables),
        )
    params = variables["params"]
    trained = params if trainable is None else trained_part(params, trainable)
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        batch_stats=variables.get("batch_stats", {}),
        opt_state=optimizer.init(trained),
        rng=jax.random.key_data(jax.random.key(seed)),
        skipped=jnp.zeros((), jnp.int32),
    )


def data_mesh(devices=None) -> Mesh:
    """A one-axis ('data') mesh over ``devices`` (default: all devices of all processes).

    ``jax.make_mesh`` orders the devices for the interconnect (a ring on TPU); the axis is
    'Auto' (shardings propagated by XLA), as the train step is written for.
    """
    devices = list(jax.devices() if devices is None else devices)
    return jax.make_mesh((len(devices),), ("data",), axis_types=(AxisType.Auto,), devices=devices)


def bn_groups_span_devices(global_batch: int, device_count: int, group_size: int) -> bool:
    """Whether a BatchNorm group of ``group_size`` samples of a ``global_batch`` sharded
    in equal contiguous blocks over ``device_count`` devices is split between devices.

    The values stay right either way (a group's statistics are one reduction of the whole
    program), but each split group's statistics then cross the interconnect in every
    BatchNorm layer of the forward and backward pass."""
    per_device = global_batch // device_count
    return per_device % group_size != 0


def batch_sharding(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec("data"))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def backbone_mode_of(config, phase: int):
    """Backbone BatchNorm mode of the model call: running statistics while frozen, then
    batch statistics in the trained layers (docs/parity.md §7.3)."""
    return False if phase == 0 else tuple(config.train.backbone.train_layers)


def _cast_floats(tree, dtype):
    return jax.tree_util.tree_map(
        lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x, tree
    )


def _frozen_backbone(model, variables, images: jax.Array):
    """Backbone features of (N, H, W, 3) images, one sample at a time, no gradient.

    With the backbone frozen (running statistics, no gradient) samples are independent,
    so ``lax.map`` gives the batched result while keeping only one sample's activations
    alive; on XLA:CPU it is also no slower per sample (backend policy 'by_sample').
    """

    def one(image):
        features = model.apply(variables, image[None], method=SiamRPN.backbone_features)
        return jax.tree_util.tree_map(lambda f: f[0], features)

    return jax.lax.stop_gradient(jax.lax.map(one, images))


def _group_loss_fn(model, variables, train, separate_backbone: bool, backbone_mode):
    """``group_loss(template, search, targets) -> (loss, (terms, batch_stats))`` of one
    BatchNorm group, the network run as its phase and backend policy say."""

    def group_loss(template, search, group_targets):
        if separate_backbone:
            # Inside the group vmap, each lax.map step runs one sample of every group:
            # with groups spread over devices, one sample per device per step.
            outputs, updates = model.apply(
                variables,
                _frozen_backbone(model, variables, template),
                _frozen_backbone(model, variables, search),
                train=True,
                method=SiamRPN.head_outputs,
                mutable=["batch_stats"],
            )
        else:
            outputs, updates = model.apply(
                variables,
                template,
                search,
                train=True,
                backbone_train=backbone_mode,
                mutable=["batch_stats"],
            )
        loss, terms = total_loss(
            outputs,
            group_targets,
            float(train.cls_weight),
            float(train.loc_weight),
            bool(train.single_anchor_is_empty),
        )
        return loss, (terms, updates["batch_stats"])

    return group_loss


def make_loss_fn(model, config, phase: int, policy: BackendPolicy | None = None):
    """``loss_fn(params, batch_stats, batch, rng) -> (loss, (metrics, new_batch_stats))``.

    ``policy``: the backend policy (default: ``resolve_policy(config)``); it picks how the
    frozen backbone runs and which parts recompute activations, never the values.
    """
    policy = policy or resolve_policy(config)
    target_config = TargetConfig.from_config(config)
    train = config.train
    group_size = int(train.bn_group_size)
    compute_dtype = jnp.dtype(str(train.compute_dtype))  # float32, bfloat16 (float64: checks)
    backbone_mode = backbone_mode_of(config, phase)
    separate_backbone = phase == 0 and policy.frozen_backbone == "by_sample"
    model = policy.with_remat(model, phase)

    def loss_fn(params, batch_stats, batch, rng):
        batch_size = batch["search"].shape[0]
        if batch_size % group_size:
            raise ValueError(
                f"batch of {batch_size} is not a multiple of bn_group_size {group_size}"
            )
        # Parameters not trained in this phase: no gradient flows, so XLA does not compute
        # their backward pass (the train step also leaves them out of differentiation).
        params = jax.tree_util.tree_map(
            lambda trained, p: p if trained else jax.lax.stop_gradient(p),
            trainable_mask(params, config, phase),
            params,
        )
        targets = batch_targets(target_config, batch["search_box"], batch["negative"], rng)
        # Only the parameters are cast to the compute dtype (and their gradients flow back
        # to float32). BatchNorm's running statistics stay float32: rounded to bfloat16
        # they would lose the frozen layers' values and every small momentum update.
        variables = {"params": _cast_floats(params, compute_dtype), "batch_stats": batch_stats}
        # 8-bit crops are finished (colour offset, blur) here, in float32.
        template = model_images(batch, "template").astype(compute_dtype)
        search = model_images(batch, "search").astype(compute_dtype)

        group_loss = _group_loss_fn(model, variables, train, separate_backbone, backbone_mode)

        def grouped(x):
            return x.reshape((batch_size // group_size, group_size) + x.shape[1:])

        losses, (terms, new_stats) = jax.vmap(group_loss)(
            *jax.tree_util.tree_map(grouped, (template, search, targets))
        )
        new_stats = jax.tree_util.tree_map(
            # Averaged in float32 at least (bfloat16 statistics), float64 in float64 checks.
            lambda new, old: (
                new.astype(jnp.promote_types(new.dtype, jnp.float32)).mean(axis=0).astype(old.dtype)
            ),
            new_stats,
            batch_stats,
        )
        metrics = jax.tree_util.tree_map(jnp.mean, terms)
        metrics["positives"] = (targets.label == 1).sum() / batch_size
        return losses.sum(), (metrics, new_stats)

    return loss_fn


def enter_phase(state: TrainState, optimizer, config, phase: int, mesh: Mesh) -> TrainState:
    """``state`` with momentum buffers for exactly the parameters trained in ``phase``.

    The optimiser state covers the trained part of the parameters only (``optim``), so the
    frozen backbone's momentum never takes memory. Buffers of parameters trained before and
    now are kept; new ones start at zero (a parameter never trained has none), and with
    ``train.backbone.reset_momentum`` entering phase 1 at the unfreeze step zeroes all of
    them, as pysot's optimiser rebuild does. New buffers are made replicated over ``mesh``.
    A seed ensemble's state (leading member axis on every leaf) works alike.
    """
    trained = trained_part(state.params, trainable_mask(state.params, config, phase))
    target = jax.eval_shape(optimizer.init, trained)
    reset = (
        phase == 1
        and bool(config.train.backbone.reset_momentum)
        and state_step(state) == unfreeze_step(config)
    )
    current = jax.tree_util.tree_structure(state.opt_state)
    if current == jax.tree_util.tree_structure(target) and not reset:
        return state
    kept = {} if reset else dict(_leaves_by_path(state.opt_state))
    paths = [path for path, _ in _leaves_by_path(target)]
    missing = [leaf for path, leaf in _leaves_by_path(target) if path not in kept]
    # One jitted call makes every new buffer, already replicated over the mesh.
    zeros = iter(
        jax.jit(
            lambda: tuple(jnp.zeros(x.shape, x.dtype) for x in missing),
            out_shardings=replicated(mesh),
        )()
    )
    leaves = [kept[path] if path in kept else next(zeros) for path in paths]
    treedef = jax.tree_util.tree_structure(target)
    return state._replace(opt_state=jax.tree_util.tree_unflatten(treedef, leaves))


def _leaves_by_path(tree) -> list:
    return [(jax.tree_util.keystr(path), leaf)
            for path, leaf in jax.tree_util.tree_leaves_with_path(tree)]  # fmt: skip


def abstract_batch(config, mesh: Mesh) -> dict:
    """ShapeDtypeStructs of a global batch (``config.train.batch_size`` pairs, sharded) in
    the loaders' format (``siamjax/data/batch_format.py``)."""
    layout = batch_layout(int(config.train.batch_size), int(config.input.exemplar_size),
                          int(config.input.search_size))  # fmt: skip
    sharding = batch_sharding(mesh)
    return {
        key: jax.ShapeDtypeStruct(shape, dtype, sharding=sharding)
        for key, (shape, dtype) in layout.items()
    }


def abstract_train_state(
    model, config, optimizer, phase: int, mesh: Mesh, members: int | None = None
) -> TrainState:
    """ShapeDtypeStructs of the state the step of ``phase`` takes (replicated; momentum
    for the phase's trained parameters, as ``enter_phase`` makes it), without computing
    anything: the step can be compiled before any array exists, so compilation's memory
    does not add to the state's (benchmarks/README.md, ``train_step.py``). ``members``: a
    seed ensemble's state (every leaf with a leading axis of that size)."""
    exemplar, search = int(config.input.exemplar_size), int(config.input.search_size)

    def fresh():
        variables = init_variables(model, jax.random.key(0), exemplar, search)
        mask = trainable_mask(variables["params"], config, phase)
        return init_train_state(variables, optimizer, 0, state_float_dtype(config), mask)

    sharding = replicated(mesh)
    lead = () if members is None else (int(members),)

    def struct(x):
        return jax.ShapeDtypeStruct(lead + tuple(x.shape), x.dtype, sharding=sharding)

    return jax.tree_util.tree_map(struct, jax.eval_shape(fresh))


def train_step_function(model, config, optimizer, phase: int, policy=None):
    """The pure step ``(state, batch) -> (state, metrics)`` of one freezing phase (not
    jitted; ``make_train_step`` compiles it). Arguments as ``make_train_step``."""
    policy = policy or resolve_policy(config)
    loss_fn = make_loss_fn(model, config, phase, policy)
    max_loss = float(config.train.max_loss)

    def train_step(state: TrainState, batch):
        rng = step_key(state.rng, state.step)
        # Only the parameters trained in this phase are differentiated and updated: the
        # others (and their momentum buffers) pass through untouched, so no gradient,
        # update or buffer copy is ever materialised for them.
        trained = trained_part(state.params, trainable_mask(state.params, config, phase))

        def trained_loss(trained_params):
            params = merge_trained(state.params, trained_params)
            return loss_fn(params, state.batch_stats, batch, rng)

        grad_fn = jax.value_and_grad(trained_loss, has_aux=True)
        (loss, (metrics, new_stats)), grads = grad_fn(trained)
        # pysot skips the update for a NaN / inf loss or one above 1e4 (docs/parity.md §5.4): the
        # optimiser then leaves its momentum as it is and returns zero updates.
        ok = jnp.isfinite(loss) & (loss <= max_loss)
        updates, opt_state = optimizer.update(
            grads, state.opt_state, trained, step=state.step, apply=ok
        )
        new_state = TrainState(
            step=state.step + 1,
            params=merge_trained(state.params, optax.apply_updates(trained, updates)),
            batch_stats=jax.tree_util.tree_map(
                lambda new, old: jnp.where(ok, new, old), new_stats, state.batch_stats
            ),
            opt_state=opt_state,
            rng=state.rng,
            skipped=state.skipped + (~ok).astype(jnp.int32),
        )
        metrics = dict(metrics)
        metrics["loss"] = loss
        metrics["grad_norm"] = optax.tree.norm(grads)
        metrics["skipped"] = new_state.skipped
        return new_state, metrics

    return train_step


def _ensemble_step(train_step, how: str):
    """``train_step`` over a leading member axis of the state, every member on the same
    batch: ``vmap`` ('vectorized'), or one step per member unrolled in the same program
    ('unrolled'). XLA:CPU runs vmapped convolutions, whose kernels differ per member, as
    grouped convolutions, slower than the members one by one; ``lax.map`` is slower still
    there (a loop body) (benchmarks/README.md, ``seed_ensemble.py``)."""
    if how == "vectorized":
        return jax.vmap(train_step, in_axes=(0, None))

    @functools.wraps(train_step)  # named as the step (compilation cache, profiles)
    def unrolled(state, batch):
        members = jax.tree_util.tree_leaves(state)[0].shape[0]
        outputs = [
            train_step(jax.tree_util.tree_map(lambda leaf, k=k: leaf[k], state), batch)
            for k in range(members)
        ]
        return jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *outputs)

    return unrolled


def make_train_step(
    model, config, optimizer, mesh: Mesh, phase: int, policy=None, members: int | None = None
):
    """The jitted step ``(state, batch) -> (state, metrics)`` for one freezing phase.

    ``state`` is replicated and donated; ``batch`` (global arrays: template (N,127,127,3),
    search (N,255,255,3) float32 BGR 0-255, search_box (N,4) x1y1x2y2, negative (N,))
    is sharded over the mesh's 'data' axis. ``policy``: the backend policy (default:
    ``resolve_policy(config)``; ``model`` should be built with its formulation).
    ``members``: the state is a seed ensemble of that many members; every member takes
    the same batch and every metric gains a leading (members,) axis.
    """
    policy = policy or resolve_policy(config)
    train_step = train_step_function(model, config, optimizer, phase, policy)
    if members is not None:
        # One member (a training run of one seed) is never vmapped: unrolled, it is the
        # model's own step on the member's slice (benchmarks/README.md: same speed).
        how = "unrolled" if int(members) == 1 else policy.seed_ensemble
        train_step = _ensemble_step(train_step, how)
    state_sharding = replicated(mesh)
    return jax.jit(
        train_step,
        in_shardings=(state_sharding, batch_sharding(mesh)),
        out_shardings=(state_sharding, state_sharding),
        donate_argnums=0,
        compiler_options=policy.train_compiler_options(
            model, phase, str(config.train.compute_dtype)
        ),
    )


def lower_train_step(
    model, config, optimizer, mesh: Mesh, phase: int, state=None, batch=None, policy=None,
    members: int | None = None,
):  # fmt: skip
    """``make_train_step`` lowered for ``state`` and ``batch``, or, when they are None,
    for their shapes alone (``abstract_train_state`` / ``abstract_batch``)."""
    if state is None:
        state = abstract_train_state(model, config, optimizer, phase, mesh, members)
    if batch is None:
        batch = abstract_batch(config, mesh)
    step = make_train_step(model, config, optimizer, mesh, phase, policy, members)
    return step.lower(state, batch)


def compile_train_step(
    model, config, optimizer, mesh: Mesh, phase: int, state=None, batch=None, policy=None,
    members: int | None = None,
):  # fmt: skip
    """``lower_train_step(...)`` compiled ahead of time."""
    lowered = lower_train_step(model, config, optimizer, mesh, phase, state, batch, policy, members)
    return lowered.compile()
