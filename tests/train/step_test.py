"""The sharded train step and the loop: device-count invariance, skipped updates,
learning on synthetic data, exact resume."""

import json
import os

import jax
import numpy as np
import pytest

from siamjax.checkpoints import load_variables, tree_equal
from siamjax.models import build_model, init_variables
from siamjax.train.loop import train
from siamjax.train.optim import make_optimizer
from siamjax.train.step import (
    data_mesh,
    enter_phase,
    init_train_state,
    make_train_step,
    replicated,
)
from tests.train.helpers import batch_source, random_batch, tiny_config


def _params(workdir):
    return load_variables(os.path.join(workdir, "model"))


@pytest.mark.slow  # device_count_test.py (also slow) runs 1, 2, 8 and 2x4 devices for 20 steps
def test_one_device_and_eight_devices_give_the_same_parameters(tmp_path):
    config = tiny_config(batch_size=8, group_size=2, steps_per_epoch=2, epochs=3, train_epoch=1)
    one = train(config, str(tmp_path / "one"), max_steps=4, batch_source=batch_source(),
                devices=jax.devices()[:1])  # fmt: skip
    eight = train(config, str(tmp_path / "eight"), max_steps=4, batch_source=batch_source(),
                  devices=jax.devices()[:8])  # fmt: skip
    assert one["status"] == eight["status"] == "finished"
    assert one["step_compiles"] == eight["step_compiles"] == 2  # no shape mismatch
    np.testing.assert_allclose([x for _, x in one["losses"]], [x for _, x in eight["losses"]],
                               rtol=1e-5)  # fmt: skip
    a, b = _params(tmp_path / "one"), _params(tmp_path / "eight")
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        np.testing.assert_allclose(x, y, atol=1e-5, rtol=1e-5)
    # the unfrozen phase (step 2 on) moved the backbone's trained layers, not the others
    initial = init_variables(build_model(config.model), jax.random.key(config.seed))["params"]
    backbone = a["params"]["backbone"]
    assert not np.allclose(backbone["layer5"]["0"]["kernel"],
                           initial["backbone"]["layer5"]["0"]["kernel"])  # fmt: skip
    np.testing.assert_array_equal(backbone["layer1"]["0"]["kernel"],
                                  initial["backbone"]["layer1"]["0"]["kernel"])  # fmt: skip


def test_a_non_finite_loss_skips_the_update_and_is_counted():
    config = tiny_config()
    model = build_model(config.model)
    variables = init_variables(model, jax.random.key(0))
    optimizer, _ = make_optimizer(config)
    mesh = data_mesh(jax.devices()[:2])
    state = jax.device_put(init_train_state(variables, optimizer, 0), replicated(mesh))
    state = enter_phase(state, optimizer, config, 0, mesh)
    before = jax.device_get(state.params)
    batch = random_batch(8, 0)
    batch["search_colour_bgr"][3, 0] = np.nan  # a NaN search image after the finish
    step_fn = make_train_step(model, config, optimizer, mesh, 0)
    state, metrics = step_fn(state, batch)
    assert not np.isfinite(float(metrics["loss"]))
    assert int(state.skipped) == 1 and int(state.step) == 1
    assert tree_equal(jax.device_get(state.params), before)
    state, metrics = step_fn(state, random_batch(8, 1))
    assert int(state.skipped) == 1 and np.isfinite(float(metrics["loss"]))
    assert not tree_equal(jax.device_get(state.params), before)


# Training end to end runs in the default run through quickstart_test.py and the
# experiment test; the logged files through tensorboard_test.py and resume_test.py.
@pytest.mark.slow
def test_loss_falls_when_training_on_synthetic_data(tmp_path):
    config = tiny_config(batch_size=8, group_size=8, steps_per_epoch=10, epochs=4, train_epoch=0)
    config.train.backbone.train_layers = ("layer1", "layer2", "layer3", "layer4", "layer5")
    config.train.schedule.warmup_start_lr = 0.01
    config.train.schedule.warmup_end_lr = 0.02
    config.train.schedule.base_lr = 0.02
    config.train.tensorboard = True
    config.train.log_every = 12
    summary = train(config, str(tmp_path), max_steps=36, batch_source=batch_source(),
                    devices=jax.devices()[:2])  # fmt: skip
    losses = np.asarray([loss for _, loss in summary["losses"]])
    assert losses[-6:].mean() < 0.7 * losses[:6].mean(), losses
    logged = [json.loads(line) for line in open(tmp_path / "metrics.jsonl")]
    assert [entry["step"] for entry in logged] == [12, 24, 36]
    assert {"cls_loss", "loc_loss", "lr/head", "lr/backbone", "grad_norm", "skipped",
            "pairs_per_s"} <= set(logged[0])  # fmt: skip
    assert any(name.startswith("events.out") for name in os.listdir(tmp_path / "tensorboard"))


# The SIGKILL resume test (resume_test.py) covers resumption in the default run.
@pytest.mark.slow
def test_resume_after_an_interruption_is_bit_identical(tmp_path):
    config = tiny_config(batch_size=8, group_size=4, steps_per_epoch=3, epochs=3, train_epoch=1)
    config.train.checkpoint_every = 2
    full = train(config, str(tmp_path / "full"), batch_source=batch_source(),
                 devices=jax.devices()[:2])  # fmt: skip
    # interrupted after 5 steps: the last checkpoint is step 4, so step 5 is redone
    part = train(config, str(tmp_path / "part"), batch_source=batch_source(),
                 devices=jax.devices()[:2], stop_after=5)  # fmt: skip
    assert part["status"] == "stopped" and part["step"] == 5
    resumed = train(config, str(tmp_path / "part"), batch_source=batch_source(),
                    devices=jax.devices()[:2])  # fmt: skip
    assert resumed["status"] == "finished" and resumed["step"] == full["step"] == 9
    # The first phase's step is compiled from shapes before any array exists and used
    # as is (a mismatch would recompile): once per phase run, the resumed run in phase 1.
    assert full["step_compiles"] == part["step_compiles"] == 2
    assert resumed["step_compiles"] == 1
    assert tree_equal(_params(tmp_path / "full"), _params(tmp_path / "part"))
    # the tracker can load a workdir (newest checkpoint) or a step folder directly
    assert tree_equal(load_variables(str(tmp_path / "part")), _params(tmp_path / "part"))
    kept = sorted(int(n) for n in os.listdir(tmp_path / "part" / "checkpoints") if n.isdigit())
    assert kept == [3, 6, 8, 9]  # the last 3 plus one per epoch (3 steps each)
    step_three = load_variables(str(tmp_path / "part" / "checkpoints" / "3"))
    assert not tree_equal(step_three, _params(tmp_path / "part"))


def test_batch_size_must_fit_devices_and_groups(tmp_path):
    config = tiny_config(batch_size=8, group_size=4)
    config.train.bn_group_size = 3
    with pytest.raises(ValueError, match="bn_group_size"):
        train(config, str(tmp_path), max_steps=1, batch_source=batch_source())


@pytest.mark.slow  # 21 s; the default run checks the dtypes (platform_matrix_test)
def test_bfloat16_compute_keeps_float32_parameters():
    config = tiny_config()
    config.train.compute_dtype = "bfloat16"
    model = build_model(config.model)
    variables = init_variables(model, jax.random.key(0))
    optimizer, _ = make_optimizer(config)
    mesh = data_mesh(jax.devices()[:2])
    state = jax.device_put(init_train_state(variables, optimizer, 0), replicated(mesh))
    state = enter_phase(state, optimizer, config, 1, mesh)
    state, metrics = make_train_step(model, config, optimizer, mesh, 1)(state, random_batch(8, 0))
    assert np.isfinite(float(metrics["loss"])) and int(state.skipped) == 0
    dtypes = {leaf.dtype for leaf in jax.tree_util.tree_leaves((state.params, state.opt_state))}
    assert dtypes == {np.dtype("float32")}
    assert {x.dtype for x in jax.tree_util.tree_leaves(state.batch_stats)} == {np.dtype("float32")}


@pytest.mark.slow  # 20 s; the default run checks the dtypes (platform_matrix_test)
def test_bfloat16_compute_keeps_batchnorm_statistics_in_float32():
    """Running statistics are never rounded to bfloat16: frozen layers keep theirs bit for
    bit (phase 0, and the layers not trained in phase 1), and a difference below
    bfloat16's resolution in a trained layer's statistics survives the updates scaled by
    the momentum (rounded, both states would give the same statistics)."""
    from siamjax.models.layers import BN_MOMENTUM

    config = tiny_config()
    config.train.compute_dtype = "bfloat16"
    model = build_model(config.model)
    variables = jax.device_get(init_variables(model, jax.random.key(0)))  # steps donate
    rng = np.random.default_rng(0)
    # Statistics bfloat16 cannot represent (8 significant bits).
    stats = jax.tree_util.tree_map(
        lambda x: np.asarray(x) + rng.uniform(0.01, 0.02, x.shape).astype(np.float32) / 3,
        variables["batch_stats"],
    )
    optimizer, _ = make_optimizer(config)
    mesh = data_mesh(jax.devices()[:2])

    steps = {phase: make_train_step(model, config, optimizer, mesh, phase) for phase in (0, 1)}

    def step(phase, batch_stats):
        state = init_train_state({**variables, "batch_stats": batch_stats}, optimizer, 0)
        state = jax.device_put(state, replicated(mesh))
        state = enter_phase(state, optimizer, config, phase, mesh)
        state, _ = steps[phase](state, random_batch(8, 0))
        return jax.device_get(state.batch_stats)

    frozen = step(0, stats)["backbone"]
    for path, leaf in jax.tree_util.tree_leaves_with_path(frozen):
        expected = stats["backbone"]
        for key in path:
            expected = expected[key.key]
        np.testing.assert_array_equal(leaf, expected, err_msg=jax.tree_util.keystr(path))
    trained = config.train.backbone.train_layers
    delta = 1e-4  # below bfloat16's resolution at these values (~1/128 of 1)
    shifted = jax.tree_util.tree_map(lambda x: x, stats)
    for layer in trained:
        shifted["backbone"][layer] = jax.tree_util.tree_map(
            lambda x: x + np.float32(delta), stats["backbone"][layer]
        )
    base, moved = step(1, stats), step(1, shifted)
    for layer in ("layer1", "layer2", "layer3"):  # running statistics in phase 1
        assert tree_equal(base["backbone"][layer], stats["backbone"][layer])
    for layer in trained:
        for a, b in zip(jax.tree_util.tree_leaves(base["backbone"][layer]),
                        jax.tree_util.tree_leaves(moved["backbone"][layer])):  # fmt: skip
            # Two updates per step: the template's and the search's pass (as pysot).
            np.testing.assert_allclose(b - a, BN_MOMENTUM**2 * delta, rtol=2e-2)


@pytest.mark.slow
def test_frozen_backbone_by_sample_equals_batched():
    """Phase 0 runs the frozen backbone sample by sample on CPU; same loss, gradients and
    statistics as one batched call."""
    from siamjax.backend import resolve_policy
    from siamjax.train.step import make_loss_fn

    config = tiny_config(batch_size=8, group_size=4)
    model = build_model(config.model)
    variables = init_variables(model, jax.random.key(0))
    batch = random_batch(8, 5)
    results = {}
    for mode in ("by_sample", "batched"):
        config.backend.frozen_backbone = mode
        loss_fn = make_loss_fn(model, config, 0, resolve_policy(config))
        results[mode] = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))(
            variables["params"], variables["batch_stats"], batch, jax.random.key(1)
        )
    (loss_a, (_, stats_a)), grads_a = results["by_sample"]
    (loss_b, (_, stats_b)), grads_b = results["batched"]
    np.testing.assert_allclose(loss_a, loss_b, rtol=1e-5)
    for a, b in zip(jax.tree_util.tree_leaves((grads_a, stats_a)),
                    jax.tree_util.tree_leaves((grads_b, stats_b))):  # fmt: skip
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    # Frozen parameters get no gradient either way.
    assert all(not np.any(g) for g in jax.tree_util.tree_leaves(grads_a["backbone"]))
    config.backend.frozen_backbone = "sometimes"
    with pytest.raises(ValueError, match="config.backend.frozen_backbone is 'sometimes'"):
        make_loss_fn(model, config, phase=0)


def test_uint8_batch_finished_on_device_gives_the_loss_of_host_finished_images():
    """Images travel as uint8 with their colour offsets and blurs; the loss and BatchNorm
    statistics equal those of the same pairs finished on the host with OpenCV (pysot's
    calls)."""
    from siamjax.data.augment import finish_crop_opencv
    from siamjax.train.step import make_loss_fn

    config = tiny_config(batch_size=8, group_size=4)
    model = build_model(config.model)
    variables = init_variables(model, jax.random.key(0))
    wire = random_batch(8, 7)
    assert wire["search"].dtype == np.uint8 and wire["search_blur_size"].max() > 0
    finished = {"search_box": wire["search_box"], "negative": wire["negative"]}
    for role in ("template", "search"):
        finished[role] = np.stack(
            [
                finish_crop_opencv(
                    crop,
                    wire[f"{role}_colour_bgr"][i],
                    int(wire[f"{role}_blur_size"][i]),
                    float(wire[f"{role}_blur_weight"][i]),
                )  # fmt: skip
                for i, crop in enumerate(wire[role])
            ]
        )
    loss_fn = jax.jit(make_loss_fn(model, config, 1))
    (loss_a, (_, stats_a)), (loss_b, (_, stats_b)) = [
        loss_fn(variables["params"], variables["batch_stats"], batch, jax.random.key(1))
        for batch in (wire, finished)
    ]
    np.testing.assert_allclose(loss_a, loss_b, rtol=1e-6)
    for a, b in zip(jax.tree_util.tree_leaves(stats_a), jax.tree_util.tree_leaves(stats_b)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def _trace(state):
    """The momentum buffers of a state (the optax chain's one non-empty state)."""
    (trace,) = [part.trace for part in state.opt_state if hasattr(part, "trace")]
    return trace


def test_momentum_buffers_follow_the_phase_and_the_unfreeze_checkpoint_restores(tmp_path):
    """Phase 0 keeps buffers for the neck / head only, phase 1 adds zeros for the trained
    backbone layers (and none for the frozen ones); pysot's rebuild zeroes every buffer at
    the unfreeze step; a checkpoint at the unfreeze step restores in phase 0's layout."""
    from siamjax.train import checkpointing
    from siamjax.train.phase import saved_phase
    from siamjax.train.step import abstract_train_state

    config = tiny_config()  # unfreeze after 4 steps
    config.train.backbone.reset_momentum = False
    model = build_model(config.model)
    optimizer, _ = make_optimizer(config)
    mesh = data_mesh(jax.devices()[:2])
    full = jax.device_put(
        init_train_state(init_variables(model, jax.random.key(0)), optimizer, 0), replicated(mesh)
    )
    full = full._replace(
        opt_state=jax.tree_util.tree_map(lambda x: x + 1.0, full.opt_state)  # recognisable
    )
    frozen = enter_phase(full, optimizer, config, 0, mesh)
    assert "backbone" not in _trace(frozen)
    for kept, original in zip(jax.tree_util.tree_leaves(_trace(frozen)["rpn_head"]),
                              jax.tree_util.tree_leaves(_trace(full)["rpn_head"])):  # fmt: skip
        np.testing.assert_array_equal(kept, original)  # trained buffers are not touched
    at_unfreeze = frozen._replace(step=jax.numpy.int32(4))
    unfrozen = enter_phase(at_unfreeze, optimizer, config, 1, mesh)
    layer4 = _trace(unfrozen)["backbone"]["layer4"]["0"]["kernel"]
    assert layer4.shape == full.params["backbone"]["layer4"]["0"]["kernel"].shape
    assert not np.any(np.asarray(layer4)) and layer4.sharding == replicated(mesh)
    assert set(_trace(unfrozen)["backbone"]) == {"layer4", "layer5"}
    assert tree_equal(_trace(unfrozen)["rpn_head"], _trace(frozen)["rpn_head"])
    assert enter_phase(unfrozen, optimizer, config, 1, mesh) is unfrozen  # nothing to do

    config.train.backbone.reset_momentum = True  # pysot's rebuild at the unfreeze step
    reset = enter_phase(at_unfreeze, optimizer, config, 1, mesh)
    assert not any(np.any(np.asarray(x)) for x in jax.tree_util.tree_leaves(_trace(reset)))
    later = enter_phase(frozen._replace(step=jax.numpy.int32(6)), optimizer, config, 1, mesh)
    assert tree_equal(_trace(later)["rpn_head"], _trace(frozen)["rpn_head"])

    # The checkpoint after the last phase-0 step holds phase 0's layout.
    assert saved_phase(4, 4) == 0 and saved_phase(5, 4) == 1 and saved_phase(0, 0) == 1
    manager = checkpointing.checkpoint_manager(str(tmp_path / "run"), 2, 4)
    checkpointing.save(manager, at_unfreeze, {"position": 0})
    manager.wait_until_finished()
    template = abstract_train_state(model, config, optimizer, saved_phase(4, 4), mesh)
    restored, _ = checkpointing.restore_latest(
        checkpointing.checkpoint_manager(str(tmp_path / "run"), 2, 4), template
    )
    assert tree_equal(_trace(restored), _trace(at_unfreeze))


def test_release_freed_memory_uses_glibc_on_linux():
    import platform

    from siamjax.train.host_memory import release_freed_memory

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        pytest.skip("malloc_trim is glibc's")
    assert release_freed_memory() is True


def test_a_seed_ensembles_momentum_is_fitted_per_member():
    """An ensemble's buffers have a leading member axis; at the unfreeze the trained
    backbone layers get (members, ...) buffers, as each member alone would."""
    from siamjax.train.loop import ensemble_state

    config = tiny_config()
    model = build_model(config.model)
    optimizer, _ = make_optimizer(config)
    mesh = data_mesh(jax.devices()[:1])
    state = ensemble_state(model, config, optimizer, mesh, 0, seeds=[0, 5])
    assert "backbone" not in _trace(state)
    head_kernel = state.params["rpn_head"]["cls"]["head"]["0"]["kernel"]
    assert _trace(state)["rpn_head"]["cls"]["head"]["0"]["kernel"].shape == head_kernel.shape
    assert head_kernel.shape[0] == 2 and not np.allclose(head_kernel[0], head_kernel[1])
    unfrozen = enter_phase(state, optimizer, config, 1, mesh)
    layer5 = _trace(unfrozen)["backbone"]["layer5"]["0"]["kernel"]
    assert layer5.shape == state.params["backbone"]["layer5"]["0"]["kernel"].shape
    assert layer5.shape[0] == 2 and not np.any(np.asarray(layer5))
    assert "layer1" not in _trace(unfrozen)["backbone"]
