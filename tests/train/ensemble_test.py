"""Seed ensembles: K seeds trained together equal K separate runs on the same pairs."""

import jax
import numpy as np
import pytest

from siamjax.checkpoints import load_variables
from siamjax.train.loop import train
from tests.train.helpers import batch_source, tiny_config

SEEDS = (3, 11)
# One device: the members' equality does not depend on sharding (the step tests check the
# device count separately), and 8 simulated devices on 2 cores would only add time.
ONE_DEVICE = jax.devices()[:1]


def _config(seed_ensemble: str):
    # Four steps, everything trained from the first (as the experiments train): one
    # compile per run. The members' momentum at a phase switch: step_test.py.
    config = tiny_config(steps_per_epoch=2, epochs=2, train_epoch=0)
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


def _separate_run(tmp_path_factory):
    """The reference: the ensemble's second seed trained alone (same data: input.seed
    fixed), so a member mix-up or an off-by-one in the member axis shows."""
    config = _config("unrolled")
    config.seed = SEEDS[1]
    config.input.seed = 0
    workdir = tmp_path_factory.mktemp("separate")
    summary = train(config, str(workdir), batch_source=batch_source(0), devices=ONE_DEVICE)
    return load_variables(summary["model_dir"]), [loss for _, loss in summary["losses"]]


@pytest.mark.parametrize(
    "seed_ensemble, tolerance",
    # One step per member in one program (the CPU default): the members' arithmetic is
    # unchanged. vmap (GPU / TPU; on CPU only by override, so with the slow tests): XLA
    # batches the members' convolutions into grouped ones, whose float32 summation order
    # differs, so a few ulps per step, amplified by training.
    # Both run with the slow tests (43 s and more on 2 cores); the default run keeps the
    # experiment runner's planning tests.
    [
        pytest.param("unrolled", 1e-6, marks=pytest.mark.slow),
        pytest.param("vectorized", 1e-4, marks=pytest.mark.slow),
    ],  # fmt: skip
)
def test_ensemble_members_equal_separate_runs(tmp_path_factory, seed_ensemble, tolerance):
    separate = _separate_run(tmp_path_factory)
    _check_members(tmp_path_factory.mktemp(seed_ensemble), separate, seed_ensemble, tolerance)


def _check_members(tmp_path, separate_run, seed_ensemble, tolerance):
    separate_model, separate_losses = separate_run
    config = _config(seed_ensemble)
    config.input.seed = 0
    summary = train(config, str(tmp_path), batch_source=batch_source(0), seeds=list(SEEDS),
                    devices=ONE_DEVICE)  # fmt: skip
    assert summary["status"] == "finished" and summary["model_dir"] is None
    assert summary["step_compiles"] == 1
    member = load_variables(summary["model_dirs"][SEEDS[1]])
    assert _max_relative_difference(member, separate_model) <= tolerance, seed_ensemble
    member_losses = [loss[1] for _, loss in summary["losses"]]
    np.testing.assert_allclose(member_losses, separate_losses, rtol=tolerance * 10)
    # The members really differ (seeds, not copies of one model).
    other = load_variables(summary["model_dirs"][SEEDS[0]])
    assert _max_relative_difference(other, member) > 1e-2
