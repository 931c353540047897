"""``siamjax experiment`` end to end on a tiny synthetic experiment: train, evaluate,
compare; re-run resumes; a new variant is one file plus one command."""

import contextlib
import io
import json
import os

import numpy as np
import pytest

from siamjax.cli import main
from siamjax.experiment.statistics import paired_bootstrap
from tests.conftest import REPO_ROOT
from tests.readme import variant_example

CONFIG = os.path.join(REPO_ROOT, "configs", "experiments", "correlation_zoo.py") + ":small"
# A tiny TinyNet, 2 epochs of 3 steps, 10 synthetic sequences (1 held out): seconds.
TINY = [
    "--config.model.backbone.channels=(4,8,8,8,8)",
    "--config.model.rpn.out_channels=8",
    "--config.input.videos_per_epoch=24",
    "--config.train.schedule.epochs=2",
    "--config.experiment.variants=('depthwise',)",
    "--config.experiment.data.synthetic_videos=10",
    "--config.experiment.eval_batch=1",
    # One seed: two-seed ensembles are tested in tests/train/ensemble_test.py and by the
    # slow :small run; the seed statistics in statistics_test.py.
    "--config.experiment.seeds=(0,)",
    "--config.experiment.bootstrap_samples=2000",
    "--config.experiment.timing_calls=2",
    "--config.experiment.devices=1",  # not the 8 simulated ones: faster on 2 cores
]
# The README's example variant, exactly as printed there.
VARIANT_FILE, VARIANT = variant_example()


def _run_twice(tmp_path_factory):
    """The baseline alone, then the same command with ``--add`` one variant file."""
    workdir = tmp_path_factory.mktemp("zoo")
    command = ["experiment", "--config", CONFIG, "--workdir", str(workdir)] + TINY
    assert main(command) == 0
    first = json.load(open(workdir / "results.json"))
    baseline_runs = _runs(workdir, "depthwise")
    path = tmp_path_factory.mktemp("variant") / "my_xcorr.py"
    path.write_text(VARIANT_FILE)
    output = io.StringIO()
    # The held-out sequences again as a named benchmark: the finished baseline runs are
    # evaluated on it from their saved weights, the new variant's runs after training.
    held_out = str(workdir / "data" / "raw" / "test")
    with contextlib.redirect_stdout(output):
        assert (
            main(command + ["--add", str(path), "--dataset", "custom", "--data-dir", held_out]) == 0
        )
    return {"workdir": workdir, "first": first, "baseline_runs": baseline_runs,
            "added_output": output.getvalue()}  # fmt: skip


def _runs(workdir, variant):
    folder = os.path.join(workdir, "runs", variant)
    return [json.load(open(os.path.join(folder, f"seed{seed}", "run.json"))) for seed in (0,)]


# 42 s: with the slow tests (tests/experiment/slow_test.py runs the :small experiment end
# to end as well); plan_test and statistics_test cover the planning and the report here.
@pytest.mark.slow
def test_experiment_end_to_end(tmp_path_factory, capsys):
    """One test, so that xdist does not run the two experiments once per worker."""
    experiment = _run_twice(tmp_path_factory)
    _check_results_hold_seed_statistics_and_the_paired_interval(experiment)
    _check_a_new_variant_is_one_file_and_one_command(experiment)
    _check_a_changed_recipe_is_refused_in_the_same_workdir(experiment, capsys)


def _check_results_hold_seed_statistics_and_the_paired_interval(experiment):
    workdir = experiment["workdir"]
    results = json.load(open(workdir / "results.json"))
    assert results["baseline"] == "depthwise" and results["seeds"] == [0]
    assert results["train_steps"] == 6 and results["splits"] == ["held_out", "custom"]
    assert set(results["variants"]) == {"depthwise", VARIANT}
    assert set(experiment["first"]["variants"]) == {"depthwise"}
    for variant, entry in results["variants"].items():
        runs = _runs(workdir, variant)
        assert [run["trained_with"] for run in runs] == [[0]]
        aucs = [run["scores"]["held_out"]["success_auc"] for run in runs]
        stats = entry["splits"]["held_out"]["success_auc"]
        assert stats["mean"] == pytest.approx(np.mean(aucs))
        assert stats["std"] == 0.0
        assert entry["params"] > 0 and entry["search_ms"] > 0 and entry["fusion_params"] == 0
        # The same sequences under another name: the same deterministic tracking.
        for run in runs:
            assert run["scores"]["custom"]["videos"] == run["scores"]["held_out"]["videos"]
    # The interval is the bootstrap of the per-sequence differences of seed means.
    ours, theirs = _runs(workdir, VARIANT), _runs(workdir, "depthwise")
    names = list(theirs[0]["scores"]["held_out"]["videos"])
    assert len(names) == 1

    def seed_mean(runs, name):
        return np.mean([run["scores"]["held_out"]["videos"][name]["success_auc"] for run in runs])

    differences = [seed_mean(ours, name) - seed_mean(theirs, name) for name in names]
    expected = paired_bootstrap(differences, samples=2000, seed=0)
    interval = results["variants"][VARIANT]["splits"]["held_out"]["vs_baseline"]
    assert interval["low"] == pytest.approx(expected["low"])
    assert interval["high"] == pytest.approx(expected["high"])
    assert "vs_baseline" not in results["variants"]["depthwise"]["splits"]["held_out"]
    table = open(workdir / "results.md").read()
    assert "| depthwise | " in table and f"| {VARIANT} | " in table
    assert "baseline" in table
    for name in ("held_out/success.png", "held_out/precision.png", "custom/success.png",
                 "auc_vs_search_ms.png", "auc_vs_params.png"):  # fmt: skip
        assert os.path.getsize(workdir / "plots" / name) > 1000, name


def _check_a_new_variant_is_one_file_and_one_command(experiment):
    """Re-running with ``--add my_variant.py`` trains only the new variant (finished runs
    are kept) and compares it with the others."""
    output = experiment["added_output"]
    assert f"training {VARIANT}, seeds [0]" in output
    assert "training depthwise, " not in output
    assert "1 runs finished earlier, 1 training units left" in output
    assert "evaluating depthwise seed 0 on custom" in output
    # The baseline's runs were not retrained: the held-out scores are the first run's.
    again = _runs(experiment["workdir"], "depthwise")
    for run, before in zip(again, experiment["baseline_runs"], strict=True):
        assert run["scores"]["held_out"] == before["scores"]["held_out"]
        assert run["model_dir"] == before["model_dir"]


def _check_a_changed_recipe_is_refused_in_the_same_workdir(experiment, capsys):
    capsys.readouterr()
    command = ["experiment", "--config", CONFIG, "--workdir", str(experiment["workdir"])]
    assert main(command + TINY + ["--config.train.schedule.base_lr=0.05"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.endswith("use a new --workdir, or the original config (variants and seeds may "
                          "change)")  # fmt: skip
    assert "config.train.schedule.base_lr differs" in error and len(error.splitlines()) == 1


def test_user_errors_are_one_line(tmp_path, capsys):
    base = ["experiment", "--config", CONFIG, "--workdir", str(tmp_path)]
    assert main(base + ["--config.experiment.variants=('depthwise','nope')"]) == 2
    assert "'nope' is not a registered correlation" in capsys.readouterr().err
    assert main(base + ["--dataset", "OTB100"]) == 2
    assert "one --data-dir per --dataset" in capsys.readouterr().err
    assert main(base + ["--distributed", "explicit", "--num-processes", "2"]) == 2
    assert "needs --num-processes and --process-id" in capsys.readouterr().err
    empty = tmp_path / "empty_variant.py"
    empty.write_text("X = 1\n")
    assert main(base + ["--add", str(empty)]) == 2
    assert "registers no new correlation" in capsys.readouterr().err
