"""A single training run is a seed ensemble of one: its checkpoints carry a member axis
of length 1 and record the seed; loading and resuming read either layout."""

import jax
import numpy as np
import pytest

from siamjax.checkpoints import load_variables, tree_equal
from siamjax.models import build_model
from siamjax.train import checkpointing
from siamjax.train.loop import ensemble_state, member_state, train
from siamjax.train.optim import iterations_per_epoch, make_optimizer
from siamjax.train.step import TrainState, data_mesh
from tests.train.helpers import batch_source, tiny_config

ONE_DEVICE = jax.devices()[:1]


def _config():
    # Everything trained from the first step: one compile per run.
    config = tiny_config(steps_per_epoch=2, epochs=2, train_epoch=0)
    config.seed = 7
    return config


def _train(config, workdir, **kwargs):
    return train(config, str(workdir), batch_source=batch_source(0), devices=ONE_DEVICE, **kwargs)


def _manager(workdir):
    config = _config()
    return checkpointing.checkpoint_manager(str(workdir), 2, iterations_per_epoch(config))


def test_a_single_runs_checkpoint_has_one_member_and_loads_like_its_model(tmp_path):
    summary = _train(_config(), tmp_path / "run", max_steps=2)
    assert summary["status"] == "finished" and isinstance(summary["skipped"], int)
    assert all(isinstance(loss, float) for _, loss in summary["losses"])
    manager = _manager(tmp_path / "run")
    assert checkpointing.saved_members(manager, 2) == 1
    assert checkpointing.saved_input(manager, 2)["seeds"] == [7]
    from_checkpoint = load_variables(str(tmp_path / "run"))
    assert tree_equal(from_checkpoint, load_variables(summary["model_dir"]))

    # Another seed in the same workdir is refused, naming both.
    with pytest.raises(ValueError, match=r"seeds \[7\], this run \[8\]"):
        _train(_config(), tmp_path / "run", max_steps=3, seeds=[8])


def test_an_ensembles_checkpoint_loads_one_member_by_seed(tmp_path):
    """A checkpoint of seeds 3 and 5 (an initial ensemble state, nothing trained)."""
    config = _config()
    model = build_model(config.model)
    optimizer, _ = make_optimizer(config)
    mesh = data_mesh(ONE_DEVICE)
    state = ensemble_state(model, config, optimizer, mesh, 0, seeds=[3, 5])
    manager = _manager(tmp_path / "run")
    checkpointing.save(manager, state, {"position": 0, "per_host_batch": 8, "seeds": [3, 5]})
    manager.wait_until_finished()
    with pytest.raises(ValueError, match=r"seed ensemble \(seeds \[3, 5\]\)"):
        load_variables(str(tmp_path / "run"))
    member = load_variables(str(tmp_path / "run"), seed=5)
    expected = jax.device_get(member_state(state, 1))
    assert tree_equal(member, {"params": expected.params, "batch_stats": expected.batch_stats})
    with pytest.raises(ValueError, match="not 4"):
        load_variables(str(tmp_path / "run"), seed=4)


@pytest.mark.slow  # four short trainings; the layout's own checks run by default above
def test_a_checkpoint_without_member_axis_resumes(tmp_path):
    """Checkpoints written before single runs had a member axis (a single model's state,
    no seeds in ``input``) resume as a one-member run would."""
    config = _config()
    _train(config, tmp_path / "new", max_steps=2)
    manager = _manager(tmp_path / "new")
    template = jax.tree_util.tree_map(
        lambda leaf: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype),
        manager.item_metadata(2)["state"],
    )
    saved, input_state = checkpointing.restore_latest(manager, TrainState(**template))
    legacy = member_state(saved, 0)
    del input_state["seeds"]
    legacy_manager = _manager(tmp_path / "legacy")
    checkpointing.save(legacy_manager, legacy, input_state)
    legacy_manager.wait_until_finished()
    assert checkpointing.saved_members(legacy_manager, 2) is None

    resumed_new = _train(config, tmp_path / "new", max_steps=4)
    resumed_legacy = _train(config, tmp_path / "legacy", max_steps=4)
    assert resumed_legacy["step"] == resumed_new["step"] == 4
    assert tree_equal(load_variables(resumed_new["model_dir"]),
                      load_variables(resumed_legacy["model_dir"]))  # fmt: skip
    np.testing.assert_array_equal(
        [loss for _, loss in resumed_legacy["losses"]], [loss for _, loss in resumed_new["losses"]]
    )
