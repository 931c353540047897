"""Recomputed (rematerialised) neck and RPN head: same values, statistics and gradients
as the plain modules (what they save is measured by benchmarks/remat_memory.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from siamjax.models.heads import MultiRPN
from siamjax.models.neck import AdjustAllLayer

LEVELS = ("stage2", "stage3", "stage4")


def _features(rng, batch, size, channels):
    return {
        level: jnp.asarray(rng.normal(size=(batch, size, size, width)), jnp.float32)
        for level, width in zip(LEVELS, channels)
    }


def _neck_and_head(remat, hidden=8):
    return (
        AdjustAllLayer((hidden,) * 3, remat=remat),
        MultiRPN(
            anchor_num=5, in_channels=(hidden,) * 3, correlation="depthwise_taps", remat=remat
        ),  # fmt: skip
    )


def _loss_fn(neck, head, variables, template, search):
    """Neck on the template then the search features (statistics updated in turn, as
    SiamRPN does), then the head; returns (loss, updated statistics)."""

    def loss(params):
        stats = variables["batch_stats"]
        outputs = []
        for features in (template, search):
            adjusted, updates = neck.apply(
                {"params": params["neck"], "batch_stats": stats["neck"]},
                features,
                True,
                mutable=["batch_stats"],
            )
            stats = {**stats, "neck": updates["batch_stats"]}
            outputs.append(adjusted)
        (cls, loc), updates = head.apply(
            {"params": params["head"], "batch_stats": stats["head"]},
            *outputs,
            True,
            mutable=["batch_stats"],
        )
        stats = {**stats, "head": updates["batch_stats"]}
        return jnp.mean(jnp.sin(cls)) + jnp.mean(loc**2), stats

    return loss


def _variables(neck, head, template, search):
    neck_variables = neck.init(jax.random.key(0), template)
    adjusted = neck.apply(neck_variables, template), neck.apply(neck_variables, search)
    head_variables = head.init(jax.random.key(1), *adjusted)
    return {
        collection: {"neck": neck_variables[collection], "head": head_variables[collection]}
        for collection in ("params", "batch_stats")
    }


# 'blocks' is not a default anywhere: with the slow tests.
@pytest.mark.parametrize(
    "remat", [pytest.param("blocks", marks=pytest.mark.slow), "blocks_keep_convs"]
)
def test_recomputed_neck_and_head_match_the_plain_modules(remat):
    rng = np.random.default_rng(0)
    template = _features(rng, 2, 15, (6, 10, 12))  # cropped to 7x7 by the neck
    search = _features(rng, 2, 23, (6, 10, 12))
    plain_neck, plain_head = _neck_and_head("none")
    neck, head = _neck_and_head(remat)
    variables = _variables(plain_neck, plain_head, template, search)
    assert jax.tree_util.tree_structure(variables) == jax.tree_util.tree_structure(
        _variables(neck, head, template, search)
    )

    plain = _loss_fn(plain_neck, plain_head, variables, template, search)
    (value, stats), grads = jax.jit(jax.value_and_grad(plain, has_aux=True))(variables["params"])
    recomputed = _loss_fn(neck, head, variables, template, search)
    (value_remat, stats_remat), grads_remat = jax.jit(jax.value_and_grad(recomputed, has_aux=True))(
        variables["params"]
    )

    np.testing.assert_allclose(value_remat, value, rtol=1e-6)
    for a, b in zip(jax.tree_util.tree_leaves(stats_remat), jax.tree_util.tree_leaves(stats)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    changed = jax.tree_util.tree_map(
        lambda new, old: bool(np.any(np.asarray(new) != np.asarray(old))),
        stats_remat,
        variables["batch_stats"],
    )
    assert all(jax.tree_util.tree_leaves(changed))  # every statistic was updated
    assert jax.tree_util.tree_structure(grads_remat) == jax.tree_util.tree_structure(grads)
    for a, b in zip(jax.tree_util.tree_leaves(grads_remat), jax.tree_util.tree_leaves(grads)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
