"""The training loop: input -> sharded step -> logs and checkpoints; resumes from its workdir.

    from siamjax.train.loop import train
    summary = train(config, workdir="runs/r50")

A run always continues from the newest checkpoint in ``WORKDIR/checkpoints`` (state and
input position), so re-running the same command after a crash, a SIGKILL or a
preemption (SIGTERM saves first; with several processes all of them stop and save at
one agreed step, ``Preemption``) ends with the same parameters as an uninterrupted run.

    summary = train(config, workdir="runs/zoo/depthwise", seeds=[0, 1, 2])

trains three seeds at once as one step (a seed ensemble, ``siamjax/train/step.py``):
member k equals ``train`` of ``config.seed = seeds[k]`` alone, because every member takes
the same pair stream (``data_seed``) and differs only in its initialisation and step RNG.
A run of one seed is an ensemble of one: its state, checkpoints and metrics carry a member
axis of length 1 (the checkpoint's ``input`` item records the seeds), and only the
summary and the model folder's name (``model`` rather than ``model_seed<seed>``) differ.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import time
import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax._src import distributed
from jax.experimental import multihost_utils

from siamjax import fs
from siamjax.backend import resolve_policy
from siamjax.checkpoints import load_variables, save_variables
from siamjax.data.batch_format import batch_layout
from siamjax.data.pipeline import pair_iterator
from siamjax.models import build_model, init_variables
from siamjax.train import checkpointing
from siamjax.train.host_memory import release_after_compile, release_freed_memory
from siamjax.train.optim import (
    iterations_per_epoch,
    make_optimizer,
    trainable_mask,
    unfreeze_step,
)
from siamjax.train.phase import Phase, phase_index, saved_phase
from siamjax.train.runtime_tools import ProfileWindow, enable_compilation_cache
from siamjax.train.step import (
    TrainState,
    abstract_train_state,
    batch_sharding,
    bn_groups_span_devices,
    data_mesh,
    init_train_state,
    replicated,
    state_float_dtype,
    state_step,
)
from siamjax.train.tensorboard import ScalarWriter


def initial_variables(model, config, compiler_options: dict | None = None,
                      seed: int | None = None):  # fmt: skip
    """Random init from ``seed`` (default ``config.seed``), then
    ``config.train.init_checkpoint`` (e.g. an ImageNet backbone converted with
    ``siamjax convert --imagenet``) if set. ``compiler_options``: the initialisation's
    (backend policy ``init_compiler_options()``)."""
    if config.train.init_checkpoint:
        loaded = load_variables(config.train.init_checkpoint)
        return jax.tree_util.tree_map(jnp.asarray, loaded)
    exemplar, search = int(config.input.exemplar_size), int(config.input.search_size)
    seed = int(config.seed) if seed is None else int(seed)
    return init_variables(model, jax.random.key(seed), exemplar, search, compiler_options)


def data_seed(config) -> int:
    """The seed of the pair stream: ``config.input.seed`` when set, else ``config.seed``
    (experiments fix it, so runs of different seeds see the same pairs)."""
    seed = config.input.get("seed")
    return int(config.seed) if seed is None else int(seed)


def single_state(model, config, optimizer, mesh, phase: int, seed: int | None = None,
                 policy=None) -> TrainState:  # fmt: skip
    """A fresh train state from ``seed`` (default ``config.seed``), replicated over
    ``mesh``, with momentum buffers for the parameters trained in ``phase``."""
    return jax.device_put(_initial_state(model, config, optimizer, phase, seed, policy),
                          replicated(mesh))  # fmt: skip


def _initial_state(model, config, optimizer, phase: int, seed, policy) -> TrainState:
    """``single_state`` before it is placed on the mesh (this process's arrays)."""
    policy = policy or resolve_policy(config)
    seed = int(config.seed) if seed is None else int(seed)
    variables = initial_variables(model, config, policy.init_compiler_options(), seed)
    mask = trainable_mask(variables["params"], config, phase)
    return init_train_state(variables, optimizer, seed, state_float_dtype(config), mask)


def ensemble_state(model, config, optimizer, mesh, phase: int, seeds, policy=None) -> TrainState:
    """The states of ``seeds`` (``single_state`` each) stacked on a leading member axis,
    replicated over ``mesh``. Stacked leaf by leaf, each member's leaf released as soon as
    it is copied: a single run's state is never held twice."""
    members = [
        jax.tree_util.tree_flatten(_initial_state(model, config, optimizer, phase, seed, policy))
        for seed in seeds
    ]
    treedef = members[0][1]
    columns = [leaves for leaves, _ in members]
    del members
    sharding, stacked = replicated(mesh), []
    for index in range(len(columns[0])):
        parts = [np.asarray(leaves[index]) for leaves in columns]
        for leaves in columns:
            leaves[index] = None
        stacked.append(jax.device_put(np.stack(parts), sharding))
        del parts
    return jax.tree_util.tree_unflatten(treedef, stacked)


def stack_members(states: list, mesh) -> TrainState:
    """Single-model states (on the mesh) -> one state with a leading member axis,
    replicated over ``mesh``."""
    stack = jax.jit(
        lambda *members: jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *members),
        out_shardings=replicated(mesh),
    )
    return stack(*states)


def member_state(state: TrainState, index: int) -> TrainState:
    """Member ``index`` of an ensemble state (every leaf's leading axis), in one call
    (indexed leaf by leaf, every leaf shape would compile its own slice)."""
    return jax.jit(lambda tree: jax.tree_util.tree_map(lambda leaf: leaf[index], tree))(state)


def total_steps(config) -> int:
    return int(config.train.schedule.epochs) * iterations_per_epoch(config)


class Preemption:
    """When to stop for a preemption, agreed on by every process.

    One process: SIGTERM sets a flag and the loop stops after the step in flight. Several
    processes must stop *at the same step*, or the ones that saw the signal wait in the
    checkpoint's barrier while the others wait in the next step's all-reduce. There JAX's
    preemption service decides (``multihost_utils.reached_preemption_sync_point``): its
    SIGTERM handler, installed by ``jax.distributed.initialize``, tells the coordinator,
    every process learns the safe step (the largest step any has reached, plus one) and
    ``should_stop`` is true on all of them at that step. Without the service (disabled
    with ``jax_enable_preemption_service``), the processes all-gather their local flags
    after each step instead.
    """

    def __init__(self):
        self.requested = False
        self._previous = None
        self.mode = "local"
        if jax.process_count() > 1:
            service = distributed.global_state.preemption_sync_manager is not None
            self.mode = "service" if service else "all_gather"

    def __enter__(self):
        if self.mode == "service":
            return self  # JAX's handler is installed; a Python one would replace it
        try:
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        except ValueError:  # not the main thread: no handler, nothing to restore
            self._previous = None
        return self

    def _handle(self, signum, frame):
        self.requested = True

    def should_stop(self, step: int) -> bool:
        """Whether every process stops (and saves) after ``step``; call it after each
        step on every process with the same ``step``."""
        if self.mode == "service":
            self.requested = multihost_utils.reached_preemption_sync_point(step)
        elif self.mode == "all_gather":
            flags = multihost_utils.process_allgather(np.asarray(self.requested, np.int32))
            self.requested = bool(np.any(flags))
        return self.requested

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)


class _Logger:
    """Console lines with ETA, TensorBoard scalars and ``metrics.jsonl`` on process 0."""

    def __init__(self, workdir: str, enabled: bool, tensorboard: bool, start_step: int = 0):
        """``start_step``: the step the run (re)starts from. A resumed run drops what an
        interrupted one logged after its checkpoint, so each step is logged once."""
        self.enabled = enabled
        self.writer = None
        self.jsonl = None
        if not enabled:
            return
        if tensorboard:
            self.writer = ScalarWriter(fs.join(workdir, "tensorboard"))
            if start_step:
                self.writer.restart(start_step)
        fs.makedirs(workdir)
        path = fs.join(workdir, "metrics.jsonl")
        if start_step and fs.exists(path):
            kept = [line for line in fs.read_text(path).splitlines(keepends=True)
                    if _logged_step(line) <= start_step]  # fmt: skip
            fs.write_text(path, "".join(kept))
        self.jsonl = fs.open_file(path, "a")

    def log(self, step: int, scalars: dict, line: str):
        if not self.enabled:
            return
        print(line, flush=True)
        self.jsonl.write(json.dumps({"step": step, **scalars}) + "\n")
        self.jsonl.flush()
        if self.writer is not None:
            self.writer.scalars(step, scalars)
            self.writer.flush()

    def close(self):
        if self.jsonl is not None:
            self.jsonl.close()
        if self.writer is not None:
            self.writer.close()


def _logged_step(line: str) -> float:
    """The step of one ``metrics.jsonl`` line (a torn last line counts as after all)."""
    try:
        return int(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return float("inf")


def mesh_devices(devices, global_batch: int):
    """The mesh's devices: all (``devices``, default every process's), or on one process
    the most that divide the batch (with a warning)."""
    devices = list(jax.devices() if devices is None else devices)
    if global_batch % len(devices) == 0 or jax.process_count() > 1:
        return devices
    count = max(k for k in range(1, len(devices) + 1) if global_batch % k == 0)
    warnings.warn(
        f"train.batch_size {global_batch} does not divide over {len(devices)} devices; "
        f"using {count}",
        stacklevel=3,
    )
    return devices[:count]


def bn_group_warning(global_batch: int, device_count: int, train_config) -> str:
    """The warning for BatchNorm groups split between devices (see
    ``step.bn_groups_span_devices``)."""
    group = int(train_config.bn_group_size)
    return (
        f"BatchNorm groups span devices: train.bn_group_size {group} is not a divisor of the "
        f"{global_batch // device_count} samples per device (train.batch_size {global_batch} "
        f"over {device_count} devices), so group statistics cross the interconnect in every "
        "layer (same values, slower). Use a per-device batch that is a multiple of the group."
    )


def _eta(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _fetch(window) -> list:
    """[(step, device metrics)] -> [(step, {name: float64 array of (members,)})] in one
    transfer."""
    host = jax.device_get([metrics for _, metrics in window])
    return [(done, {k: np.asarray(v, np.float64) for k, v in values.items()})
            for (done, _), values in zip(window, host, strict=True)]  # fmt: skip


def _loss_entry(values: dict) -> list:
    """One step's loss per member."""
    return [float(x) for x in values["loss"]]


def _global_batch(local_batch: dict, sharding) -> dict:
    """Per-host numpy batch -> global arrays sharded over the mesh's 'data' axis (the
    batch format's keys and dtypes, ``siamjax/data/batch_format.py``)."""
    layout = batch_layout(0, 0, 0)
    return {
        key: jax.make_array_from_process_local_data(
            sharding, np.asarray(local_batch[key], dtype=dtype)
        )
        for key, (_, dtype) in layout.items()
    }


@dataclasses.dataclass(frozen=True)
class _Run:
    """What one invocation of ``train`` works with (``_set_up``)."""

    config: Any
    workdir: str
    model: Any
    policy: Any
    optimizer: Any
    group_rates: dict
    mesh: Any
    manager: Any
    global_batch: int
    local_batch: int
    steps_per_epoch: int
    unfreeze_step: int
    last_step: int
    seeds: tuple  # the members' seeds; one for a single run
    ensemble: bool  # seeds were asked for (a single run reports without the member axis)
    is_main: bool
    legacy_checkpoint: bool = False  # the newest checkpoint has no member axis

    @property
    def members(self) -> int:
        return len(self.seeds)

    def say(self, text: str) -> None:
        if self.is_main:
            print(text, flush=True)


def _set_up(config, workdir: str, devices, max_steps, seeds) -> _Run:
    """Model, mesh, optimiser and checkpoint manager of a run; checks the batch layout."""
    train_config = config.train
    policy = resolve_policy(config)
    global_batch = int(train_config.batch_size)
    mesh = data_mesh(mesh_devices(devices, global_batch))
    device_count = mesh.devices.size
    if global_batch % device_count or global_batch % int(train_config.bn_group_size):
        raise ValueError(
            f"train.batch_size {global_batch} must be a multiple of the device count "
            f"({device_count}) and of train.bn_group_size ({train_config.bn_group_size})"
        )
    if bn_groups_span_devices(global_batch, device_count, int(train_config.bn_group_size)):
        warnings.warn(bn_group_warning(global_batch, device_count, train_config), stacklevel=3)
    steps_per_epoch = iterations_per_epoch(config)
    optimizer, group_rates = make_optimizer(config)
    manager = checkpointing.checkpoint_manager(
        workdir, int(train_config.keep_checkpoints), steps_per_epoch
    )
    run = _Run(
        config=config,
        workdir=workdir,
        model=build_model(config.model, policy.formulation),
        policy=policy,
        optimizer=optimizer,
        group_rates=group_rates,
        mesh=mesh,
        manager=manager,
        global_batch=global_batch,
        local_batch=global_batch // jax.process_count(),
        steps_per_epoch=steps_per_epoch,
        unfreeze_step=unfreeze_step(config),
        last_step=total_steps(config) if max_steps is None else int(max_steps),
        seeds=(int(config.seed),) if seeds is None else tuple(int(seed) for seed in seeds),
        ensemble=seeds is not None,
        is_main=jax.process_index() == 0,
    )
    # A checkpoint that does not fit this run fails here, before anything is compiled.
    return dataclasses.replace(run, legacy_checkpoint=_check_checkpoint(run))


def _build_phase(run: _Run, index: int) -> Phase:
    """The phase ``index``, its step compiled from the state's and batch's shapes."""
    started = time.time()
    phase = Phase.build(run.model, run.config, run.optimizer, run.mesh, index, run.policy,
                        run.members)  # fmt: skip
    run.say(f"compiled in {time.time() - started:.0f} s")
    release_after_compile(run.policy.trim_host_memory)  # the compiler's garbage
    return phase


def _check_checkpoint(run: _Run) -> bool:
    """Whether the newest checkpoint (if any) lacks the member axis; first checks that it
    fits this run (seeds, samples per host), before anything is compiled."""
    saved_step = run.manager.latest_step()
    if saved_step is None:
        return False
    saved = checkpointing.saved_input(run.manager, saved_step)
    if saved.get("seeds") is not None and tuple(saved["seeds"]) != run.seeds:
        raise ValueError(
            f"{run.workdir}: the checkpoint trains seeds {list(saved['seeds'])}, this run "
            f"{list(run.seeds)}; use the same seeds (config.seed) or another workdir"
        )
    if int(saved.get("per_host_batch", run.local_batch)) != run.local_batch:
        raise ValueError(
            f"{run.workdir}: checkpoint was written with {saved['per_host_batch']} "
            f"samples per host and step, this run uses {run.local_batch}; the input stream "
            "would differ. Use the original batch size and process count."
        )
    # Checkpoints written before single runs had a member axis have none.
    no_member_axis = checkpointing.saved_members(run.manager, saved_step) is None
    if no_member_axis and run.members != 1:
        raise ValueError(f"{run.workdir}: the checkpoint holds one model, this run trains "
                         f"seeds {list(run.seeds)}; use another workdir")  # fmt: skip
    return no_member_axis


def _start_state(run: _Run):
    """(state, input position): the newest checkpoint's, or fresh."""
    saved_step = run.manager.latest_step()
    if saved_step is None:
        return _fresh_state(run), 0
    template = abstract_train_state(run.model, run.config, run.optimizer,
                                    saved_phase(saved_step, run.unfreeze_step), run.mesh,
                                    None if run.legacy_checkpoint else run.members)  # fmt: skip
    state, input_state = checkpointing.restore_latest(run.manager, template)
    if run.legacy_checkpoint:
        state = stack_members([state], run.mesh)
    position = int(input_state["position"])
    run.say(f"resumed {run.workdir} at step {state_step(state)} (input position {position})")
    return state, position


def _fresh_state(run: _Run):
    index = phase_index(0, run.unfreeze_step)
    state = ensemble_state(run.model, run.config, run.optimizer, run.mesh, index, run.seeds,
                           run.policy)  # fmt: skip
    if run.policy.trim_host_memory:
        release_freed_memory()  # initialisation's garbage
    return state


def _batch_reader(run: _Run, position: int, batch_source):
    """(``next_batch(position) -> (position, local batch)``, iterator to close or None)."""
    if batch_source is not None:
        return (lambda position: batch_source(position, run.local_batch)), None

    iterator = pair_iterator(run.config.input, data_seed(run.config), run.local_batch, position)
    run.say(f"input: {iterator.describe()}")

    def next_batch(position):
        batch = next(iterator)
        return iterator.position, batch

    return next_batch, iterator


def _log_window(run: _Run, logger, window, step: int, rate: float) -> list:
    """Logs the steps of ``window`` (one transfer); returns their (step, loss) entries."""
    fetched = _fetch(window)
    first = fetched[0][1]
    # Scalars are means over the members; several members' losses are logged one by one
    # as well.
    scalars = {k: float(np.mean([m[k] for _, m in fetched])) for k in first}
    scalars["skipped"] = float(np.sum(fetched[-1][1]["skipped"]))
    for index, seed in enumerate(run.seeds if run.members > 1 else ()):
        scalars[f"loss/seed_{seed}"] = float(np.mean([m["loss"][index] for _, m in fetched]))
    for group, rate_fn in run.group_rates.items():
        scalars[f"lr/{group}"] = float(rate_fn(step - 1))
    scalars["pairs_per_s"] = rate * run.global_batch
    logger.log(step, scalars, (
        f"step {step}/{run.last_step} epoch {(step - 1) // run.steps_per_epoch} "
        f"loss {scalars['total_loss']:.4f} (cls {scalars['cls_loss']:.4f} "
        f"loc {scalars['loc_loss']:.4f}) lr {scalars['lr/head']:.2e} "
        f"|g| {scalars['grad_norm']:.2f} {scalars['pairs_per_s']:.1f} pairs/s "
        f"ETA {_eta((run.last_step - step) / max(rate, 1e-9))}"
    ))  # fmt: skip
    return [(done, _loss_entry(values)) for done, values in fetched]


def _save_due(run: _Run, step: int, preempted: bool) -> bool:
    checkpoint_every = int(run.config.train.checkpoint_every)
    return (step % checkpoint_every == 0 or step % run.steps_per_epoch == 0
            or step == run.last_step or preempted)  # fmt: skip


def _summary(run: _Run, state, step: int, losses: list, status: str, compiles: int) -> dict:
    """Writes the final model of each member of a finished run and returns ``train``'s
    summary (a single run's without the member axis)."""
    model_dirs = {}
    if status == "finished":
        names = [f"model_seed{seed}" if run.ensemble else "model" for seed in run.seeds]
        model_dirs = {
            seed: export_model(member_state(state, index), run.workdir, names[index])
            for index, seed in enumerate(run.seeds)
        }
        run.say(f"model written to {', '.join(model_dirs.values())}")
    skipped = [int(x) for x in jax.device_get(state.skipped)]
    if not run.ensemble:
        (seed,) = run.seeds
        losses = [(done, member_losses[0]) for done, member_losses in losses]
        return {"step": step, "losses": losses, "skipped": skipped[0], "status": status,
                "model_dir": model_dirs.get(seed), "step_compiles": compiles}  # fmt: skip
    return {"step": step, "losses": losses, "skipped": skipped, "status": status,
            "model_dir": None, "model_dirs": model_dirs, "step_compiles": compiles}  # fmt: skip


def train(config, workdir: str, max_steps: int | None = None, batch_source=None,
          devices=None, stop_after: int | None = None, seeds=None) -> dict:  # fmt: skip
    """Trains (or resumes) and returns a summary.

    Args:
      config: a full siamjax config (``model``, ``anchor``, ``track``, ``input``, ``train``).
      workdir: checkpoints, logs and the final ``model`` checkpoint go here.
      max_steps: stop at this step instead of the schedule's end (tests, quick runs).
      batch_source: optional ``(position, batch_size) -> (next_position, local batch)``
        replacing the TFRecord pipeline (in-memory data for tests).
      devices: mesh devices (default: all).
      stop_after: leave after this many steps of *this* invocation, as an interruption
        would (tests of resume).
      seeds: train these seeds together as a seed ensemble (one step) instead of
        ``config.seed`` alone; every member sees the same pairs (``data_seed``).

    Returns:
      ``{'step', 'losses': [(step, loss), ...], 'skipped', 'status', 'model_dir',
      'step_compiles'}`` (compilations of the train step in this invocation). For a seed
      ensemble each loss and ``skipped`` is a list over members, and ``model_dir`` is
      ``None`` with ``model_dirs`` = {seed: directory} instead.
    """
    run = _set_up(config, workdir, devices, max_steps, seeds)
    # Before the first compile: a restarted job loads its compiled steps from here.
    cache = enable_compilation_cache(config.train.get("compilation_cache", "auto"), workdir)
    profile = ProfileWindow(config.train.get("profile_steps", ""), workdir)
    # The first phase is compiled from shapes before any array exists, so the compiler's
    # memory does not add to the state's (siamjax/train/step.py).
    index = phase_index(run.manager.latest_step() or 0, run.unfreeze_step)
    run.say(f"backend policy: {run.policy.describe()}\ncompilation cache: {cache or 'off'}\n"
            f"compiling the train step (phase {index}, {run.mesh.devices.size} devices); "
            "the first log line follows the first steps")  # fmt: skip
    phase, compiles = _build_phase(run, index), 1
    state, position = _start_state(run)
    step = first_step = state_step(state)
    next_batch, iterator = _batch_reader(run, position, batch_source)
    sharding = batch_sharding(run.mesh)
    logger = _Logger(workdir, run.is_main, bool(config.train.tensorboard), step)
    losses, window, status, started, fitted = [], [], "finished", time.time(), None
    try:
        with Preemption() as preemption:
            while step < run.last_step:
                position, local = next_batch(position)
                batch = _global_batch(local, sharding)
                index = phase_index(step, run.unfreeze_step)
                if index != phase.index:
                    phase = None  # the previous phase's executable and its buffers
                    run.say(f"compiling the train step (phase {index})")
                    phase, compiles = _build_phase(run, index), compiles + 1
                if fitted is not phase:  # entering the phase: its momentum buffers
                    state, fitted = phase.enter(state), phase
                profile.before_step(step + 1)
                state, metrics = phase.step(state, batch)
                step += 1
                profile.after_step(step, metrics)
                # Metrics stay on device until a log line: fetching every step would make
                # the host wait for each step instead of queueing the next one.
                window.append((step, metrics))
                if step % int(config.train.log_every) == 0 or step == run.last_step:
                    rate = (step - first_step) / max(time.time() - started, 1e-9)
                    losses += _log_window(run, logger, window, step, rate)
                    window = []
                preempted = preemption.should_stop(step)
                if _save_due(run, step, preempted):
                    input_state = {"position": position, "per_host_batch": run.local_batch,
                                   "seeds": list(run.seeds)}  # fmt: skip
                    checkpointing.save(run.manager, state, input_state)
                if preempted or (stop_after is not None and step - first_step >= stop_after):
                    status = "preempted" if preempted else "stopped"
                    break
    finally:
        profile.stop()  # a run that ends inside the window still writes its trace
        if iterator is not None:
            iterator.close()  # stops the input workers
    losses += [(done, _loss_entry(values)) for done, values in _fetch(window)]
    run.manager.wait_until_finished()
    logger.close()
    summary = _summary(run, state, step, losses, status, compiles)
    run.manager.close()
    return summary


def export_model(state: TrainState, workdir: str, name: str = "model") -> str:
    """Writes ``{'params', 'batch_stats'}`` to ``WORKDIR/<name>`` for
    ``siamjax track/eval``."""
    variables = {"params": state.params, "batch_stats": state.batch_stats}
    return save_variables(fs.join(workdir, name), variables, overwrite=True)
