import jax
import jax.numpy as jnp
import numpy as np
import optax

from siamjax.config_loader import load_config
from siamjax.train.optim import (
    iterations_per_epoch,
    learning_rate_schedule,
    learning_rate_table,
    make_optimizer,
    merge_trained,
    parameter_groups,
    trainable_mask,
    trained_part,
)
from tests.conftest import config_path
from tests.train.helpers import tiny_config

# Head learning rate per epoch of the r50 8/16-GPU configs, 5 significant digits
# (docs/parity.md §7.2).
R50_TABLE = [0.001, 0.0013797, 0.0019037, 0.0026265, 0.0036239, 0.005, 0.0042417, 0.0035984,
             0.0030527, 0.0025897, 0.0021970, 0.0018638, 0.0015811, 0.0013413, 0.0011379,
             0.0009653, 0.0008189, 0.0006947, 0.0005894, 0.0005]  # fmt: skip


def test_r50_recipe_table_and_iterations():
    config = load_config(config_path("siamrpn_r50_l234_dwxcorr_8gpu"))
    table = learning_rate_table(config.train.schedule)
    np.testing.assert_allclose(table, R50_TABLE, rtol=0, atol=6e-8)  # table is rounded
    assert table[4] < 0.005  # the warm-up never reaches the base rate
    assert iterations_per_epoch(config) == 2678
    assert iterations_per_epoch(load_config(config_path("siamrpn_r50_l234_dwxcorr_16gpu"))) == 1562
    assert (
        iterations_per_epoch(load_config(config_path("siamrpn_r50_l234_dwxcorr_otb_8gpu"))) == 4687
    )


def test_staircase_schedule_is_the_table_within_every_epoch():
    for name in ("siamrpn_r50_l234_dwxcorr_8gpu", "siamrpn_alex_dwxcorr_16gpu",
                 "siamrpn_r50_l234_dwxcorr_otb_8gpu"):  # fmt: skip
        schedule_config = load_config(config_path(name)).train.schedule
        table = learning_rate_table(schedule_config)
        schedule = learning_rate_schedule(schedule_config, steps_per_epoch=7)
        steps = np.arange(len(table) * 7)
        rates = np.asarray(jax.vmap(schedule)(steps))
        expected = np.repeat(table, 7) * schedule_config.lr_multiplier
        np.testing.assert_allclose(rates, expected, rtol=2e-6)
    assert len(table) == 20 and abs(table[-1] - 0.0025) < 1e-9  # OTB decays to 0.0025


def test_per_step_schedule_follows_the_same_curve():
    schedule_config = tiny_config(epochs=6).train.schedule
    schedule_config.per_step = True
    table = learning_rate_table(schedule_config)
    schedule = learning_rate_schedule(schedule_config, steps_per_epoch=10)
    rates = np.asarray(jax.vmap(schedule)(np.arange(60)))
    np.testing.assert_allclose(rates[::10], table, rtol=2e-6)
    assert np.all(np.diff(rates[10:51]) < 0)  # smooth decay after the warm-up
    np.testing.assert_allclose(rates[50:], table[-1], rtol=2e-6)  # then the end rate


def _tree(rng):
    return {
        "backbone": {"layer1": {"kernel": rng.normal(size=(3,))},
                     "layer4": {"kernel": rng.normal(size=(2, 2))}},
        "neck": {"kernel": rng.normal(size=(4,))},
        "rpn_head": {"bias": rng.normal(size=(2,))},
    }  # fmt: skip


def _torch_sgd(params, grads, buffers, lr, active, lr_scale, clip=10.0, wd=1e-4, m=0.9):
    """torch: clip_grad_norm_ over the parameters with gradients, then SGD(momentum, wd)."""
    flat = [g for name, g in grads.items() if active[name]]
    norm = np.sqrt(sum(np.sum(g**2) for g in flat))
    factor = min(1.0, clip / (norm + 1e-6))
    new_params, new_buffers = {}, {}
    for name, p in params.items():
        if not active[name]:
            new_params[name], new_buffers[name] = p, buffers[name]
            continue
        d = grads[name] * factor + wd * p
        buf = d if buffers[name] is None else m * buffers[name] + d
        new_params[name] = p - lr * lr_scale[name] * buf
        new_buffers[name] = buf
    return new_params, new_buffers


def test_one_sgd_step_clip_decay_momentum_freezing_and_reset():
    config = tiny_config(steps_per_epoch=2, epochs=4, train_epoch=1)
    rng = np.random.default_rng(0)
    params = jax.tree_util.tree_map(jnp.asarray, _tree(rng))
    optimizer, rates = make_optimizer(config)
    groups = parameter_groups(params, config.train.backbone.train_layers)
    assert groups["backbone"]["layer1"]["kernel"] == "frozen"
    assert groups["backbone"]["layer4"]["kernel"] == "backbone"
    table = learning_rate_table(config.train.schedule)
    names = ["backbone/layer1/kernel", "backbone/layer4/kernel", "neck/kernel", "rpn_head/bias"]

    def flat(tree):
        leaves = jax.tree_util.tree_leaves_with_path(tree)
        return {"/".join(k.key for k in path): np.asarray(v, np.float64) for path, v in leaves}

    reference = flat(params)
    buffers = dict.fromkeys(names)
    lr_scale = {n: (0.1 if n.startswith("backbone") else 1.0) for n in names}
    for step in range(4):  # unfreeze at step 2 (epoch 1), epochs of 2 steps
        grads = jax.tree_util.tree_map(lambda p: jnp.asarray(rng.normal(size=p.shape)) * 5, params)
        mask = trainable_mask(params, config, int(step >= 2))
        trained = trained_part(params, mask)
        if step in (0, 2):  # entering a phase; reset_momentum zeroes every buffer at 2
            state = optimizer.init(trained)
        updates, state = optimizer.update(trained_part(grads, mask), state, trained, step=step)
        params = merge_trained(params, optax.apply_updates(trained, updates))
        active = {n: not n.startswith("backbone/layer1") and (step >= 2 or "backbone" not in n)
                  for n in names}  # fmt: skip
        if step == 2:  # pysot rebuilds the optimiser: every momentum buffer restarts
            buffers = dict.fromkeys(names)
        reference, buffers = _torch_sgd(reference, flat(grads), buffers, table[step // 2],
                                        active, lr_scale)  # fmt: skip
        for name, value in flat(params).items():
            np.testing.assert_allclose(value, reference[name], rtol=1e-6, atol=1e-7)
        expected_backbone = 0.1 * table[step // 2] if step >= 2 else 0.0
        np.testing.assert_allclose(float(rates["backbone"](step)), expected_backbone, rtol=1e-6)
    initial = np.float32(flat(_tree(np.random.default_rng(0)))["backbone/layer1/kernel"])
    np.testing.assert_array_equal(flat(params)["backbone/layer1/kernel"], initial)
