"""Training trajectories: pysot's own training loop and siamjax's train step, side by side.

Both sides start from the same synthetic weights (``synthetic_weights``, BatchNorm
statistics calibrated by pysot) and take the same batches for a whole training recipe
shrunk to a few steps per epoch, so the run crosses the warm-up, the exponential decay
and the backbone unfreeze:

* pysot: ``tools/train.py``'s own ``build_opt_lr`` and ``train`` loop (its epoch
  bookkeeping, the optimiser rebuilt at ``BACKBONE.TRAIN_EPOCH``, ``clip_grad_norm_``,
  the LR scheduler), ``DistModule`` around ``ModelBuilder`` in train mode, labels from its
  ``AnchorTarget`` with the candidate draws injected (``runner.pysot_anchor_targets``).
  Its per-step losses are what ``train`` itself logs to its TensorBoard writer.
* siamjax: ``make_train_step`` per freezing phase with ``make_optimizer``, the
  momentum fitted to the phase at the unfreeze as ``siamjax.train.loop`` does; the step
  draws its own targets (``batch_targets``) from the same key.

Both run in float64 by default: pysot's L1 localisation loss, ReLU and max-pool have
kinks, and float32 rounding flips the gradient of elements sitting on one, so float32
noise, not the algorithm, would dominate a 40-step comparison (docs/parity.md,
training trajectory, has the measurements). ``golden.py`` records pysot's side; the tests
compare siamjax's against it (``tests/parity/golden_test.py``) or against pysot live
(``tests/parity/train_parity_test.py``, ``-m parity``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import tempfile
import types
from typing import NamedTuple

import numpy as np

from siamjax.pysot_reference import runner
from siamjax.pysot_reference.synthetic_weights import (
    SYNTHETIC_SEED,
    synthetic_state_dict,
    uniform,
)


class Recipe(NamedTuple):
    """A pysot training recipe shrunk to ``steps_per_epoch`` iterations per epoch."""

    experiment: str  # pysot experiment = siamjax config name
    batch: int  # pairs per step = one BatchNorm group (one pysot GPU)
    steps_per_epoch: int
    epochs: int  # the recipe's TRAIN.EPOCH (checked against both configs)


RECIPES = {
    # 50 epochs x 1 step: warm-up epochs 0-4, decay 5-49, layer4/5 unfrozen at epoch 10.
    "alex": Recipe("siamrpn_alex_dwxcorr_16gpu", batch=4, steps_per_epoch=1, epochs=50),
    # 20 epochs x 2 steps: warm-up 0-4, decay 5-19, layer2-4 unfrozen at epoch 10 (step 20).
    # Batches of 2: float64 ResNet-50 steps are slow on XLA:CPU (docs/parity.md, cost).
    "r50": Recipe("siamrpn_r50_l234_dwxcorr_8gpu", batch=2, steps_per_epoch=2, epochs=20),
}
# Steps the default test runs (float64, against the golden): AlexNet's warm-up and the
# first decay epochs, up to its unfreeze at step 10 (the slow test runs the rest).
PREFIX_STEPS = 10
SEED = 2019  # boxes, negatives and the train state's PRNG key (the targets' draws)
# The weights are the golden files' synthetic ones (seed SYNTHETIC_SEED).
POOL = 4  # template and search crops the batches are drawn from
NEGATIVE_FRACTION = 0.2
FINGERPRINT_SAMPLE = 64  # values kept per tensor in a golden file
PERTURBATION = 1e-10  # relative nudge of every weight: how far the recipe itself amplifies


def batch_inputs(steps: int, batch: int, seed: int = SEED) -> tuple[np.ndarray, ...]:
    """Per step: which pool crops, the search boxes and the negative flags.

    Returns (template_index (steps, batch) int, search_index (steps, batch) int,
    boxes (steps, batch, 4) float32 x1y1x2y2 in the 255 search crop, negative
    (steps, batch) bool), a pure function of the arguments (PCG64 raw stream).
    """
    step = np.arange(steps)[:, None]
    sample = np.arange(batch)[None, :]
    template_index = (step + sample) % POOL
    search_index = (step + 3 * sample) % POOL
    boxes = np.zeros((steps, batch, 4), np.float32)
    negative = np.zeros((steps, batch), bool)
    for index in range(steps):
        draws = uniform(f"trajectory/{index}/box", seed, (batch, 4), 0.0, 1.0)
        # As pysot's crops place targets: ~64 px (the anchors' size) near the centre,
        # shifted up to 32 px, sides 45-90 px, aspect ratios 1/2-2.
        centre = 127.0 + 64.0 * (draws[:, :2] - 0.5)
        side = 64.0 * 2.0 ** (draws[:, 2] - 0.5)
        aspect = 2.0 ** (2.0 * draws[:, 3] - 1.0)
        size = np.stack([side * np.sqrt(aspect), side / np.sqrt(aspect)], axis=1)
        corners = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
        # Quarter pixels: exact in float32, so both sides read the same box.
        boxes[index] = np.clip(np.round(corners * 4) / 4, 0.0, 254.0)
        flags = uniform(f"trajectory/{index}/negative", seed, (batch,), 0.0, 1.0)
        negative[index] = flags < NEGATIVE_FRACTION
    return template_index, search_index, boxes, negative


def siamjax_batches(templates, searches, inputs, dtype: str = "float64") -> list[dict]:
    """The batches of ``batch_inputs`` in the train step's format (float images)."""
    template_index, search_index, boxes, negative = inputs
    return [
        {
            "template": templates[template_index[step]].astype(dtype),
            "search": searches[search_index[step]].astype(dtype),
            "search_box": boxes[step],
            "negative": negative[step],
        }
        for step in range(len(boxes))
    ]


def target_draws(config, steps: int, batch: int, seed: int = SEED):
    """The (positive, negative) candidate draws, each (steps, batch, S, S, A), that the
    siamjax train step of ``config`` makes at each step from ``seed``."""
    import jax

    from siamjax.train.step import step_key
    from siamjax.train.targets import TargetConfig
    from siamjax.train.targets import target_draws as draws_of

    target_config = TargetConfig.from_config(config)
    rng_data = jax.random.key_data(jax.random.key(seed))
    pairs = [
        jax.device_get(draws_of(target_config, batch, step_key(rng_data, step)))
        for step in range(steps)
    ]
    return tuple(np.stack(part) for part in zip(*pairs))


def trajectory_config(config, recipe: Recipe, dtype: str = "float64"):
    """``config`` shrunk to ``recipe``: one BatchNorm group per step, pysot's quirks on."""
    if int(config.train.schedule.epochs) != recipe.epochs:
        raise ValueError(f"{config.name}: {config.train.schedule.epochs} epochs, "
                         f"the recipe has {recipe.epochs}")  # fmt: skip
    config = config.copy_and_resolve_references()
    config.train.batch_size = recipe.batch
    config.train.bn_group_size = recipe.batch
    config.input.videos_per_epoch = recipe.batch * recipe.steps_per_epoch
    config.train.single_anchor_is_empty = True  # pysot's quirk (docs/parity.md §5.3)
    config.train.compute_dtype = dtype
    return config


class Trajectory(NamedTuple):
    """One side's run: per-step losses and rates, the final parameters and statistics."""

    losses: np.ndarray  # (steps, 3): cls_loss, loc_loss, total_loss
    rates: np.ndarray  # (steps, 3): backbone, neck, head learning rate used at the step
    params: dict  # siamjax layout
    batch_stats: dict


def siamjax_trajectory(config, variables, batches, seed: int = SEED) -> Trajectory:
    """siamjax's train step on ``batches`` from ``variables`` on one device.

    ``config``: from ``trajectory_config``; with ``compute_dtype`` float64 the parameters,
    momentum and statistics are float64 too (``jax.enable_x64`` for the run).
    """
    import jax

    with jax.enable_x64(str(config.train.compute_dtype) == "float64"):
        return _siamjax_trajectory(config, variables, batches, seed)


def _siamjax_trajectory(config, variables, batches, seed):
    import jax

    from siamjax.backend import resolve_policy
    from siamjax.models import build_model
    from siamjax.train.optim import make_optimizer, unfreeze_step
    from siamjax.train.step import (
        data_mesh,
        enter_phase,
        init_train_state,
        make_train_step,
        replicated,
        state_float_dtype,
    )

    policy = resolve_policy(config)
    model = build_model(config.model, policy.formulation)
    mesh = data_mesh(jax.devices()[:1])
    optimizer, group_rates = make_optimizer(config)
    state = init_train_state(variables, optimizer, seed, state_float_dtype(config))
    state = jax.device_put(state, replicated(mesh))
    first_backbone_step = unfreeze_step(config)
    losses, rates = [], []
    step_fn, step_phase = None, None
    for step, batch in enumerate(batches):
        phase = int(step >= first_backbone_step)
        if phase != step_phase:  # as siamjax.train.loop.train does at the unfreeze
            state = enter_phase(state, optimizer, config, phase, mesh)
            step_fn = make_train_step(model, config, optimizer, mesh, phase, policy)
            step_phase = phase
        state, metrics = step_fn(state, batch)
        metrics = jax.device_get(metrics)
        losses.append([float(metrics[k]) for k in ("cls_loss", "loc_loss", "total_loss")])
        rates.append([float(group_rates[g](step)) for g in ("backbone", "neck", "head")])
    params, batch_stats = jax.device_get((state.params, state.batch_stats))
    return Trajectory(np.asarray(losses), np.asarray(rates), params, batch_stats)


def pysot_labels(inputs, draws, score_size: int) -> tuple[np.ndarray, ...]:
    """pysot's ``AnchorTarget`` for every step and sample, given siamjax's draws.

    Returns (label (steps, batch, A, S, S), delta (steps, batch, 4, A, S, S),
    delta_weight (steps, batch, A, S, S)) in pysot's layout.
    """
    _, _, boxes, negative = inputs
    positive_draws, negative_draws = draws
    per_step = []
    for step in range(len(boxes)):
        targets = [
            runner.pysot_anchor_targets(box, bool(neg), pos_keys, neg_keys, score_size)
            for box, neg, pos_keys, neg_keys in zip(
                boxes[step], negative[step], positive_draws[step], negative_draws[step]
            )
        ]
        per_step.append([np.stack(parts) for parts in zip(*targets)])
    return tuple(np.stack(parts) for parts in zip(*per_step))


class _Scalars:
    """Stands in for pysot's TensorBoard writer: keeps every scalar ``train`` logs."""

    def __init__(self):
        self.values: dict[str, dict[int, float]] = {}

    def add_scalar(self, name, value, index):
        self.values.setdefault(name, {})[int(index)] = float(value)


class _Loader(list):
    """A list of batches with the ``.dataset`` length pysot's ``train`` divides."""

    def __init__(self, batches, dataset_length: int):
        super().__init__(batches)
        self.dataset = range(dataset_length)


def _pysot_train_module():
    """pysot's ``tools/train.py`` as a module (its argparse sees no arguments; tensorboardX,
    which the loop only needs for the writer handed in, may be missing)."""
    path = os.path.join(runner.pysot_dir(), "tools", "train.py")
    if "tensorboardX" not in sys.modules:
        try:
            import tensorboardX  # noqa: F401
        except ImportError:
            sys.modules["tensorboardX"] = types.SimpleNamespace(SummaryWriter=None)
    spec = importlib.util.spec_from_file_location("pysot_tools_train", path)
    module = importlib.util.module_from_spec(spec)
    argv = sys.argv
    sys.argv = [path]
    try:
        spec.loader.exec_module(module)
    except ImportError as error:
        raise runner.ReferenceUnavailable(f"pysot's tools/train.py needs {error.name}") from None
    finally:
        sys.argv = argv
    return module


@contextlib.contextmanager
def _single_process(torch):
    """pysot's distributed helpers as after ``dist_init`` on one GPU; no snapshots
    written (``train`` saves the whole model every epoch)."""
    from pysot.utils import distributed

    saved = (distributed.inited, getattr(distributed, "rank", None),
             getattr(distributed, "world_size", None), torch.save)  # fmt: skip
    distributed.inited, distributed.rank, distributed.world_size = True, 0, 1
    torch.save = lambda *args, **kwargs: None
    try:
        yield
    finally:
        distributed.inited, distributed.rank, distributed.world_size, torch.save = saved


def pysot_trajectory(
    recipe: Recipe, state_dict: dict, templates, searches, inputs, labels, dtype="float64",
    steps: int | None = None,
):  # fmt: skip
    """pysot's ``train`` over the batches from ``state_dict`` (pysot names, numpy).

    ``labels``: ``pysot_labels``'s output. ``steps``: stop after this many (the schedule
    stays the full recipe's). Returns (losses (steps, 3) as ``train`` logged them, rates
    (steps, 3) per group as its optimiser held them, final ``state_dict`` in float64).
    """
    torch = runner.require_pysot()
    torch_model, cfg = runner.build_pysot_model(recipe.experiment)
    if cfg.TRAIN.EPOCH != recipe.epochs:
        raise ValueError(f"{recipe.experiment}: pysot trains {cfg.TRAIN.EPOCH} epochs")
    torch_dtype = {"float32": torch.float32, "float64": torch.float64}[dtype]
    torch_model = torch_model.to(torch_dtype).train()
    torch_model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state_dict.items()})
    cfg.TRAIN.BATCH_SIZE = recipe.batch
    cfg.TRAIN.START_EPOCH = 0
    cfg.TRAIN.LOG_GRADS = False
    cfg.TRAIN.PRINT_FREQ = 10**9
    template_index, search_index, boxes, _ = inputs
    label, delta, delta_weight = labels
    batches = [
        {
            "template": runner.nchw(templates[template_index[step]]).to(torch_dtype),
            "search": runner.nchw(searches[search_index[step]]).to(torch_dtype),
            "label_cls": torch.from_numpy(label[step].astype(np.int64)),
            "label_loc": torch.from_numpy(delta[step]).to(torch_dtype),
            "label_loc_weight": torch.from_numpy(delta_weight[step]).to(torch_dtype),
        }
        for step in range(len(boxes) if steps is None else steps)
    ]
    train_module = _pysot_train_module()
    writer = _Scalars()
    rates = []
    with _single_process(torch), tempfile.TemporaryDirectory() as snapshots:
        cfg.TRAIN.SNAPSHOT_DIR = snapshots
        from pysot.utils.distributed import DistModule

        model = DistModule(torch_model)
        optimizer, scheduler = train_module.build_opt_lr(model.module, cfg.TRAIN.START_EPOCH)

        # The rates of every step, read when the step's optimiser steps.
        def record_rates(optimizer, *args, **kwargs):
            groups = optimizer.param_groups
            backbone = groups[0]["lr"] if groups[0]["params"] else 0.0  # frozen: no params
            # Without a neck (AlexNet) group 1 is the head, at the neck's rate.
            rates.append([backbone, groups[1]["lr"], groups[-1]["lr"]])

        from torch.optim.optimizer import register_optimizer_step_pre_hook

        hook = register_optimizer_step_pre_hook(record_rates)
        try:
            train_module.train(
                _Loader(batches, recipe.epochs * recipe.steps_per_epoch * recipe.batch),
                model,
                optimizer,
                scheduler,
                writer,
            )
        finally:
            hook.remove()
    steps = len(batches)
    names = ("cls_loss", "loc_loss", "total_loss")
    losses = np.array([[writer.values[name][i] for name in names] for i in range(steps)])
    final = {k: v.detach().to(torch.float64).numpy() for k, v in torch_model.state_dict().items()}
    return losses, np.asarray(rates), final


def perturbed(state_dict: dict, relative: float = PERTURBATION, seed: int = 0) -> dict:
    """``state_dict`` with every float weight times (1 + ``relative`` · N(0, 1)), in
    float64; BatchNorm running statistics unchanged. pysot's loop from these weights
    against its loop from the originals measures the recipe's own sensitivity."""
    rng = np.random.default_rng(seed)
    nudged = {}
    for name, value in state_dict.items():
        value = np.asarray(value)
        if value.dtype.kind == "f" and not name.endswith(("running_mean", "running_var")):
            value = value.astype(np.float64) * (1 + relative * rng.standard_normal(value.shape))
        nudged[name] = value
    return nudged


def loss_departures(losses: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(steps,) each step's worst relative difference over its (cls, loc, total) losses;
    where the reference loss is 0 (no positive anchor) the difference itself counts."""
    error = np.abs(losses - reference) / np.where(reference == 0, 1.0, np.abs(reference))
    return error.max(axis=1)


def step_bounds(record: dict, steps: int, floor: float) -> np.ndarray:
    """(steps,) how far a step's losses may depart from pysot's: ``floor``, or the largest
    departure pysot's own loop shows by that step when its weights are nudged by
    ``PERTURBATION`` (the golden's ``perturbed_losses``), whichever is larger."""
    if "perturbed_losses" not in record:
        return np.full(steps, floor)
    nudged = loss_departures(record["perturbed_losses"][:steps], record["losses"][:steps])
    return np.maximum(floor, np.maximum.accumulate(nudged))


def recorded_gap(record: dict, prefix: str, reference_prefix: str) -> dict[str, float]:
    """``fingerprint_differences`` between two fingerprints stored in one golden file."""
    gaps = {}
    for key in record:
        if key.startswith(f"{prefix}sample/"):
            name = key[len(f"{prefix}sample/") :]
            scale = max(float(record[f"{reference_prefix}scale/{name}"]), 1e-12)
            sample = np.abs(record[key] - record[f"{reference_prefix}sample/{name}"]).max() / scale
            norm = float(record[f"{reference_prefix}norm/{name}"])
            norm_gap = abs(float(record[f"{prefix}norm/{name}"]) - norm) / max(norm, 1e-12)
            gaps[name] = max(float(sample), norm_gap)
    return gaps


def fingerprint(state_dict: dict, count: int = FINGERPRINT_SAMPLE) -> dict[str, np.ndarray]:
    """What a golden file keeps of each float tensor of a pysot ``state_dict``: an evenly
    spread sample of ``count`` values, the largest magnitude (the comparison's scale) and
    the L2 norm, all float64; keys ``<field>/<name>``."""
    from siamjax.pysot_reference.synthetic_weights import flat_sample_indices

    record = {}
    for name, value in state_dict.items():
        value = np.asarray(value, np.float64)
        if name.endswith("num_batches_tracked"):
            continue
        record[f"sample/{name}"] = value.reshape(-1)[flat_sample_indices(value.size, count)]
        record[f"scale/{name}"] = np.float64(np.abs(value).max())
        record[f"norm/{name}"] = np.float64(np.sqrt(np.sum(value**2)))
    return record


def fingerprint_differences(ours: dict, record: dict, prefix: str = "") -> dict[str, float]:
    """Per tensor, the largest difference of ``ours`` (a pysot-named state dict) from a
    ``fingerprint`` stored under ``prefix``, relative to the tensor's scale (its largest
    magnitude; floored at 1e-12). Sample values and the norm both count."""
    from siamjax.pysot_reference.synthetic_weights import flat_sample_indices

    differences = {}
    for key in record:
        if not key.startswith(f"{prefix}sample/"):
            continue
        name = key[len(f"{prefix}sample/") :]
        value = np.asarray(ours[name], np.float64)
        scale = max(float(record[f"{prefix}scale/{name}"]), 1e-12)
        sample = value.reshape(-1)[flat_sample_indices(value.size, FINGERPRINT_SAMPLE)]
        norm, reference_norm = np.sqrt(np.sum(value**2)), float(record[f"{prefix}norm/{name}"])
        differences[name] = max(
            float(np.abs(sample - record[key]).max()) / scale,
            abs(float(norm) - reference_norm) / max(reference_norm, 1e-12),
        )
    return differences


def config_file(experiment: str) -> str:
    """The siamjax config of a pysot experiment in this checkout's ``configs/``."""
    import siamjax

    root = os.path.dirname(os.path.dirname(os.path.abspath(siamjax.__file__)))
    return os.path.join(root, "configs", f"{experiment}.py")


class ReferenceSetup(NamedTuple):
    """Everything both sides of a trajectory start from."""

    recipe: Recipe
    config: object  # siamjax config (``trajectory_config``, float64)
    state_dict: dict  # pysot names: synthetic weights, statistics calibrated by pysot
    entries: list  # (name, shape) of the state dict, as golden files store them
    statistics: dict  # the calibrated BatchNorm buffers
    templates: np.ndarray  # (POOL, 127, 127, 3) float32 BGR crops of pysot's demo video
    searches: np.ndarray  # (POOL, 255, 255, 3)
    inputs: tuple  # batch_inputs(...)
    labels: tuple  # pysot_labels(...)


def reference_setup(architecture: str) -> ReferenceSetup:
    """The synthetic model, crops, batches and pysot's labels of ``RECIPES[architecture]``."""
    from siamjax.config_loader import load_config

    recipe = RECIPES[architecture]
    _, cfg, entries, statistics = runner.synthetic_model(recipe.experiment, SYNTHETIC_SEED)
    state_dict = synthetic_state_dict(entries, SYNTHETIC_SEED, statistics)
    templates = runner.real_crops(POOL, cfg.TRAIN.EXEMPLAR_SIZE, seed=501)
    searches = runner.real_crops(POOL, cfg.TRAIN.SEARCH_SIZE, seed=502)
    config = trajectory_config(load_config(config_file(recipe.experiment)), recipe)
    steps = recipe.epochs * recipe.steps_per_epoch
    inputs = batch_inputs(steps, recipe.batch)
    draws = target_draws(config, steps, recipe.batch)
    labels = pysot_labels(inputs, draws, cfg.TRAIN.OUTPUT_SIZE)
    return ReferenceSetup(recipe, config, state_dict, entries, statistics, templates,
                          searches, inputs, labels)  # fmt: skip


def run_pysot(setup: ReferenceSetup, dtype: str = "float64", steps: int | None = None):
    """``pysot_trajectory`` of a ``reference_setup``."""
    return pysot_trajectory(setup.recipe, setup.state_dict, setup.templates, setup.searches,
                            setup.inputs, setup.labels, dtype, steps)  # fmt: skip
