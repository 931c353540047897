"""Parity with pysot in every test run, against golden outputs recorded from pysot.

``python -m siamjax.pysot_reference.golden`` wrote ``tests/golden/*.npz`` from pysot
models with synthetic weights (rebuilt here bit for bit from the stored names, shapes,
seed and calibrated BatchNorm statistics). These tests need neither torch nor pysot; the
tests beside them that run pysot live (``-m parity``) cover more cases.
"""

from __future__ import annotations

import json
import os

import jax
import numpy as np
import pytest

from siamjax.config_loader import apply_overrides, load_config
from siamjax.models import build_model
from siamjax.models.convert import flax_to_pysot, pysot_to_flax
from siamjax.models.layout import to_pysot_layout
from siamjax.models.siamrpn import SiamRPN
from siamjax.pysot_reference import golden, trajectory
from siamjax.pysot_reference.synthetic_weights import (
    flat_sample_indices,
    scale_loc_head,
    summarize,
    synthetic_state_dict,
)
from siamjax.tracking import TrackerNetwork, build_tracker
from siamjax.train import step as train_step
from siamjax.train.targets import TargetConfig, batch_targets, sample_targets
from tests.conftest import config_path

GOLDEN_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "golden")


def _load(name: str) -> dict[str, np.ndarray]:
    with np.load(os.path.join(GOLDEN_DIR, f"{name}.npz"), allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def _variables(record, model, exemplar: int, instance: int):
    """siamjax variables of the golden record's pysot weights."""
    names = [str(name) for name in record["weights/names"]]
    shapes = json.loads(str(record["weights/shapes"]))
    statistics = {
        key[len("statistics/") :]: value
        for key, value in record.items()
        if key.startswith("statistics/")
    }
    state_dict = synthetic_state_dict(zip(names, shapes), int(record["weights/seed"]), statistics)
    scale_loc_head(state_dict, float(record["weights/loc_head_scale"]))
    reference_shapes = jax.eval_shape(
        model.init,
        jax.random.key(0),
        np.zeros((1, exemplar, exemplar, 3), np.float32),
        np.zeros((1, instance, instance, 3), np.float32),
    )
    return pysot_to_flax(state_dict, reference_shapes)


def _assert_summary_matches(record, key: str, ours_nchw, tolerance: float = 1e-4):
    ours = summarize(ours_nchw)
    np.testing.assert_array_equal(ours["shape"], record[f"{key}/shape"], err_msg=key)
    scale = float(record[f"{key}/scale"])
    for field in ("channel_mean", "sample"):
        error = float(np.abs(ours[field] - record[f"{key}/{field}"]).max()) / max(scale, 1e-12)
        assert error <= tolerance, f"{key} {field}: relative difference {error:.3g}"


@pytest.mark.parametrize("architecture", sorted(golden.NETWORKS))
def test_network_stages_and_outputs_equal_pysot(architecture):
    record = _load(f"network_{architecture}")
    config = load_config(config_path(str(record["experiment"])))
    model = build_model(config.model)
    template = record["input/template"].astype(np.float32)
    search = record["input/search"].astype(np.float32)
    variables = _variables(record, model, template.shape[1], search.shape[1])

    def branch(images):
        backbone, state = model.apply(
            variables, images, method=SiamRPN.backbone_features, mutable=["intermediates"]
        )
        stages = {name: value[0] for name, value in state["intermediates"]["backbone"].items()}
        neck = model.apply(variables, backbone, method=lambda m, f: m._neck(f, False))
        return stages, neck

    @jax.jit
    def forward(template, search):
        return branch(template), branch(search), model.apply(variables, template, search)

    *branches, outputs = jax.device_get(forward(template, search))
    stage_names = golden.NETWORKS[architecture][1].values()
    for name, (stages, neck) in zip(("template", "search"), branches):
        for stage in stage_names:
            _assert_summary_matches(
                record, f"{name}/backbone/{stage}", stages[stage].transpose(0, 3, 1, 2)
            )
        if any(key.startswith(f"{name}/neck/") for key in record):
            for level, key in enumerate(sorted(neck, key=lambda k: int(k[5:]))):
                _assert_summary_matches(
                    record, f"{name}/neck/level{level}", neck[key].transpose(0, 3, 1, 2)
                )
    cls, loc = to_pysot_layout(outputs["scores"], outputs["deltas"])
    for name, ours in (("cls", cls), ("loc", loc)):
        reference = record[f"output/{name}"]
        assert ours.shape == reference.shape, name
        error = float(np.abs(ours - reference).max()) / max(1.0, float(np.abs(reference).max()))
        assert error <= 1e-4, f"{name}: difference {error:.3g}"


def test_long_term_tracker_trace_equals_pysot():
    record = _load("long_term_trace")
    track = json.loads(str(record["track"]))
    config = apply_overrides(
        load_config(config_path(str(record["experiment"]))),
        [
            "track.type=siamrpn_lt",
            f"track.lost_instance_size={track['LOST_INSTANCE_SIZE']}",
            f"track.confidence_low={track['CONFIDENCE_LOW']}",
            f"track.confidence_high={track['CONFIDENCE_HIGH']}",
        ],
    )
    model = build_model(config.model)
    variables = _variables(record, model, 127, int(config.track.instance_size))
    tracker = build_tracker(config, TrackerNetwork(model, variables))
    frames = record["frames"]
    tracker.init(frames[0], tuple(record["init_box_xywh"]))
    for index, frame in enumerate(frames[1:]):
        box, score = tracker.track(frame)
        reference_box = record["boxes_xywh"][index]
        error = float(np.abs(np.asarray(box) - reference_box).max())
        where = f"frame {index + 1}: ours {np.round(box, 4)} vs pysot {np.round(reference_box, 4)}"
        assert error <= 1e-3, f"{where}: boxes differ by {error:.3g} px"
        assert abs(score - record["best_scores"][index]) <= 1e-5, where
        assert tracker.state.lost == bool(record["lost"][index]), f"{where}: lost flag"
    assert record["lost"].any() and not record["lost"].all()


def _training_targets(record, index, target_config):
    shape = (target_config.score_size, target_config.score_size, len(target_config.ratios))
    keys = golden.target_keys(f"targets/{index}", shape)
    box = record[f"targets/{index}/box_xyxy"]
    negative = record[f"targets/{index}/negative"]
    return jax.jit(lambda *a: sample_targets(target_config, *a))(box, negative, *keys)


def _assert_targets_equal(ours, label, delta, delta_weight, where: str):
    """Targets in siamjax layout against pysot's (A, S, S) / (4, A, S, S) arrays."""
    np.testing.assert_array_equal(np.moveaxis(np.asarray(ours.label), -1, -3), label, where)
    weight = np.moveaxis(np.asarray(ours.delta_weight), -1, -3)
    np.testing.assert_array_equal(weight, delta_weight, where)
    ours_delta = np.moveaxis(np.asarray(ours.delta), [-1, -2], [-4, -3])  # (..., 4, A, S, S)
    # x / y bit-equal; w / h go through log (numpy correctly rounded, XLA within a few ulp).
    np.testing.assert_array_equal(ours_delta[..., :2, :, :, :], delta[..., :2, :, :, :], where)
    np.testing.assert_array_max_ulp(ours_delta[..., 2:, :, :, :], delta[..., 2:, :, :, :], 4)


def test_anchor_targets_equal_pysot():
    record = _load("training")
    config = load_config(config_path(str(record["experiment"])))
    target_config = TargetConfig.from_config(config)._replace(score_size=golden.TARGET_SCORE_SIZE)
    for index in range(len(golden.TARGET_CASES)):
        ours = _training_targets(record, index, target_config)
        fields = ("label", "delta", "delta_weight")
        _assert_targets_equal(
            ours, *(record[f"targets/{index}/{f}"] for f in fields), where=f"case {index}"
        )


def _float64(tree):
    return jax.tree_util.tree_map(
        lambda x: np.asarray(x, np.float64) if np.asarray(x).dtype == np.float32 else x, tree
    )


@pytest.mark.parametrize("phase", [0, 1])
def test_loss_gradients_and_running_statistics_equal_pysot(phase, monkeypatch):
    """Float64 on both sides, so the comparison sees the arithmetic, not float32 noise."""
    record = _load("training")
    config = load_config(config_path(str(record["experiment"])))
    config.train.bn_group_size = len(record["loss/boxes_xyxy"])
    config.train.single_anchor_is_empty = True  # pysot's quirk, for bit parity
    config.train.compute_dtype = "float64"
    assert tuple(config.train.backbone.train_layers) == tuple(record["loss/train_layers"])
    model = build_model(config.model)
    variables = _variables(record, model, 127, 255)

    def injected_targets(target_config, boxes, negative, rng):
        del rng  # the draws pysot was given instead
        shape = (len(boxes), target_config.score_size, target_config.score_size, 5)
        keys = golden.target_keys("loss", shape)
        return jax.vmap(lambda *a: sample_targets(target_config, *a))(boxes, negative, *keys)

    monkeypatch.setattr(train_step, "batch_targets", injected_targets)
    batch = {
        "template": record["loss/template"].astype(np.float64),
        "search": record["loss/search"].astype(np.float64),
        "search_box": record["loss/boxes_xyxy"],
        "negative": record["loss/negative"],
    }
    with jax.enable_x64(True):
        loss_fn = train_step.make_loss_fn(model, config, phase)
        (_, (metrics, new_stats)), grads = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))(
            _float64(variables["params"]), _float64(variables["batch_stats"]), batch,
            jax.random.key(0),
        )  # fmt: skip
        metrics, grads, new_stats = jax.device_get((metrics, grads, new_stats))
    targets = jax.jit(injected_targets, static_argnums=(0, 3))(
        TargetConfig.from_config(config), batch["search_box"], batch["negative"], None
    )  # jitted, as inside the loss: eager XLA ops may round a division differently
    fields = ("label", "delta", "delta_weight")
    _assert_targets_equal(targets, *(record[f"loss/{f}"] for f in fields), where="loss batch")

    prefix = f"phase{phase}"
    for name in ("cls_loss", "loc_loss", "total_loss"):
        reference = float(record[f"{prefix}/{name}"])
        error = abs(float(metrics[name]) - reference) / abs(reference)
        assert error <= 1e-8, (name, float(metrics[name]), reference)

    ours = flax_to_pysot({"params": grads, "batch_stats": new_stats})
    # A conv bias followed by train-mode BatchNorm has a zero gradient in exact arithmetic;
    # both sides give ~1e-16 there, so per-parameter scales are floored at 1e-6 of the total.
    total_norm = np.sqrt(
        sum(float(record[k]) ** 2 for k in record if k.startswith(f"{prefix}/grad_norm/"))
    )
    for key in record:
        if key.startswith(f"{prefix}/grad_norm/"):
            name = key[len(f"{prefix}/grad_norm/") :]
            reference_norm = float(record[key])
            norm = float(np.sqrt(np.sum(ours[name] ** 2)))
            scale = max(reference_norm, 1e-6 * total_norm)
            assert abs(norm - reference_norm) <= 1e-6 * scale, (name, norm, reference_norm)
            if reference_norm == 0.0:
                continue
            sample = ours[name].reshape(-1)[flat_sample_indices(ours[name].size, 64)]
            difference = float(np.abs(sample - record[f"{prefix}/grad_sample/{name}"]).max())
            assert difference <= 1e-6 * scale, (name, difference)
        elif key.startswith(f"{prefix}/statistics/"):
            name = key[len(f"{prefix}/statistics/") :]
            reference = record[key]
            difference = float(np.abs(ours[name] - reference).max())
            # The train step averages new statistics over BatchNorm groups in float32.
            assert difference <= 1e-6 * max(float(np.abs(reference).max()), 1.0), (
                f"{name}: differs by {difference:.3g}"
            )


# ------------------------------------------------- training trajectory (pysot's loop)


def _trajectory_run(architecture: str, dtype: str, steps: int | None = None):
    """siamjax's train step over a golden trajectory's batches; returns (record, ours,
    steps run). Checks first that the step's target draws give pysot's labels."""
    record = _load(f"trajectory_{architecture}")
    recipe = trajectory.Recipe(**json.loads(str(record["recipe"])))
    config = load_config(config_path(recipe.experiment))
    config = trajectory.trajectory_config(config, recipe, dtype)
    variables = _variables(record, build_model(config.model), 127, 255)
    inputs = tuple(record[k] for k in ("template_index", "search_index", "boxes_xyxy", "negative"))
    batches = trajectory.siamjax_batches(record["templates"], record["searches"], inputs, dtype)
    steps = len(batches) if steps is None else steps
    # The step draws its targets from the train state's key; a JAX release that changed
    # its random bits would show here, before any comparison of losses.
    target_config = TargetConfig.from_config(config)
    rng_data = jax.random.key_data(jax.random.key(int(record["seed"])))
    labels = jax.jit(
        lambda boxes, negative, step: (
            batch_targets(target_config, boxes, negative, train_step.step_key(rng_data, step)).label
        )
    )
    for step in range(steps):
        ours = np.asarray(labels(batches[step]["search_box"], batches[step]["negative"], step))
        np.testing.assert_array_equal(
            ours.transpose(0, 3, 1, 2), record["label"][step], err_msg=f"labels of step {step}"
        )
    result = trajectory.siamjax_trajectory(config, variables, batches[:steps], int(record["seed"]))
    return record, result, steps


def _trajectory_differences(record, result, steps: int, prefix: str):
    """((steps,) per-step loss departures, {tensor: departure}) from the golden."""
    np.testing.assert_allclose(result.rates, record["rates"][:steps], rtol=1e-6)
    ours = flax_to_pysot({"params": result.params, "batch_stats": result.batch_stats})
    per_step = trajectory.loss_departures(result.losses, record["losses"][:steps])
    return per_step, trajectory.fingerprint_differences(ours, record, prefix)


def _assert_trajectory_within(architecture, record, result, steps, prefix, bound):
    """Every step's loss and every fingerprinted tensor within ``bound`` (relative)."""
    per_step, parameter_errors = _trajectory_differences(record, result, steps, prefix)
    worst = max(parameter_errors, key=parameter_errors.get)
    print(f"{architecture}: {steps} steps, worst loss {per_step.max():.3g}, "
          f"worst tensor {worst} {parameter_errors[worst]:.3g}")  # fmt: skip
    assert per_step.max() <= bound, per_step.max()
    assert parameter_errors[worst] <= bound, (worst, parameter_errors[worst])


def test_training_trajectory_prefix_equals_pysot():
    """AlexNet's first steps (warm-up and the decay's start, up to the unfreeze) in float64
    against pysot's float64 loop; the slow test below runs the whole recipe."""
    record, result, steps = _trajectory_run("alex", "float64", trajectory.PREFIX_STEPS)
    assert int(record["prefix_steps"]) == steps
    _assert_trajectory_within("alex", record, result, steps, "prefix/", 1e-6)


# The bound: 1e-5 (10x below the 1e-4 asked), or how far pysot's own loop departs from
# itself by that step when its weights are nudged by 1e-10, if that is larger. AlexNet's
# recipe keeps such a nudge below 1e-8; ResNet-50's (batches of 2) amplifies it to 2e-6 by
# step 19 and 1e-2 by step 31, so no implementation can follow it closer (docs/parity.md).
TRAJECTORY_FLOOR = 1e-5


@pytest.mark.slow
@pytest.mark.parametrize("architecture", list(trajectory.RECIPES))
def test_training_trajectory_equals_pysot(architecture):
    """The whole shrunk recipe in float64 against pysot's float64 loop (docs/parity.md):
    every step's losses, then every fingerprinted tensor of the final state."""
    record, result, steps = _trajectory_run(architecture, "float64")
    per_step, tensors = _trajectory_differences(record, result, steps, "final/")
    bounds = trajectory.step_bounds(record, steps, TRAJECTORY_FLOOR)
    nudged = {}
    if "perturbed_losses" in record:
        nudged = trajectory.recorded_gap(record, "perturbed/", "final/")
    tensor_bound = max([TRAJECTORY_FLOOR, *nudged.values()])
    worst = max(tensors, key=tensors.get)
    print(f"{architecture}: {steps} steps, worst loss {per_step.max():.3g} (step "
          f"{int(per_step.argmax())}), worst tensor {worst} {tensors[worst]:.3g}; bounds: "
          f"loss {bounds.max():.3g}, tensor {tensor_bound:.3g}")  # fmt: skip
    assert np.all(per_step <= bounds), [
        (step, float(error), float(bound))
        for step, (error, bound) in enumerate(zip(per_step, bounds))
        if error > bound
    ]
    assert tensors[worst] <= tensor_bound, (worst, tensors[worst], tensor_bound)
