"""Seed ensembles: K seeds trained together equal K separate runs on the same pairs."""

import jax
import numpy as np
import pytest

from siamjax.checkpoints import load_variables
from siamjax.train.loop import train
from tests.train.helpers import batch_source, tiny_config

SEEDS = (3, 11)


def _config(seed_ensemble: str):
    # Two epochs, the backbone unfrozen after the first: the ensemble crosses a phase
    # switch (momentum refitted per member, a second compile).
    config = tiny_config(steps_per_epoch=2, epochs=2, train_epoch=1)
    config.backend.seed_ensemble = seed_ensemble
    return config


def _max_relative_difference(left, right) -> float:
    """Largest leaf-wise max |left - right| / max |right| (leaves of all-but-zero values,
    e.g. a bias that gets no gradient, are measured against 1e-2 instead)."""
    worst = 0.0
    for a, b in zip(jax.tree_util.tree_leaves(left), jax.tree_util.tree_leaves(right), strict=True):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        worst = max(worst, float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-2)))
    return worst


@pytest.fixture(scope="module")
def separate_runs(tmp_path_factory):
    """The reference: each seed trained alone (same data: input.seed fixed)."""
    models, losses = {}, {}
    for seed in SEEDS:
        config = _config("unrolled")
        config.seed = seed
        config.input.seed = 0
        workdir = tmp_path_factory.mktemp(f"seed{seed}")
        summary = train(config, str(workdir), batch_source=batch_source(0))
        models[seed] = load_variables(summary["model_dir"])
        losses[seed] = [loss for _, loss in summary["losses"]]
    return models, losses


@pytest.mark.parametrize(
    "seed_ensemble, tolerance",
    # One step per member in one program: the members' arithmetic is unchanged.
    # vmap: XLA batches the members' convolutions into grouped ones, whose float32
    # summation order differs, so a few ulps per step, amplified by training.
    [("unrolled", 1e-6), ("vectorized", 1e-4)],
)
def test_ensemble_members_equal_separate_runs(tmp_path, separate_runs, seed_ensemble, tolerance):
    models, separate_losses = separate_runs
    config = _config(seed_ensemble)
    config.input.seed = 0
    summary = train(config, str(tmp_path), batch_source=batch_source(0), seeds=list(SEEDS))
    assert summary["status"] == "finished" and summary["model_dir"] is None
    assert summary["step_compiles"] == 2  # one per phase
    for index, seed in enumerate(SEEDS):
        member = load_variables(summary["model_dirs"][seed])
        assert _max_relative_difference(member, models[seed]) <= tolerance, seed
        member_losses = [loss[index] for _, loss in summary["losses"]]
        np.testing.assert_allclose(member_losses, separate_losses[seed], rtol=tolerance * 10)
    # The seeds really differ (a test that members equal each other would pass too).
    assert _max_relative_difference(models[SEEDS[0]], models[SEEDS[1]]) > 1e-2
