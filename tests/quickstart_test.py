"""The quickstart end to end: a tiny fast run (default suite) and the real one (slow)."""

import json
import os

import pytest

from siamjax import cli
from siamjax.config_loader import apply_overrides, load_config
from siamjax.quickstart import DEFAULT_CONFIG, run_quickstart


def test_quickstart_stages_report_and_resume(tmp_path, capsys, recwarn):
    config = apply_overrides(load_config(DEFAULT_CONFIG), [
        "model.backbone.channels=(4, 8, 8, 8, 8)", "model.rpn.out_channels=8",
        "train.batch_size=8", "train.bn_group_size=4", "input.videos_per_epoch=16",
        "train.tensorboard=False",
    ])  # fmt: skip
    report = run_quickstart(str(tmp_path), config, videos=10, max_steps=3, workers=1)
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved == json.loads(json.dumps(report))
    for name in ("trained", "untrained", "static"):
        assert 0.0 <= saved[name]["success_auc"] <= 1.0
        assert 0.0 <= saved[name]["precision"] <= 1.0
    assert saved["train_steps"] == 3 and saved["test_videos"] == 1
    assert isinstance(saved["training_worked"], bool)
    assert all(os.path.isfile(path) for path in saved["plots"])
    # the static baseline repeats the first box
    static = (tmp_path / "results" / "static").glob("*.txt")
    lines = next(iter(static)).read_text().splitlines()
    assert len(set(lines)) == 1
    out = capsys.readouterr().out
    assert "training worked:" in out and "| static |" in out
    assert not [w for w in recwarn if "does not divide over" in str(w.message)]
    # the suggested next command tracks a held-out sequence from its first box
    command = out.split("next: track a held-out sequence with the model you trained:\n")[1]
    assert command.split()[:2] == ["siamjax", "track"] and "--init" in command
    # a second run reuses data, checkpoints and results
    again = run_quickstart(str(tmp_path), config, videos=10, max_steps=3, workers=1)
    assert again["trained"] == report["trained"]
    assert "generating" not in capsys.readouterr().out
    # report.json's seconds count both runs; this run's alone are kept apart
    assert again["seconds"] >= report["seconds"] + again["seconds_this_run"] - 0.2


def test_quickstart_exits_non_zero_when_training_did_not_work(tmp_path, monkeypatch):
    import siamjax.quickstart as quickstart

    for worked, code in ((False, 1), (True, 0)):
        monkeypatch.setattr(quickstart, "run_quickstart",
                            lambda *args, w=worked: {"training_worked": w})  # fmt: skip
        assert cli.main(["quickstart", "--workdir", str(tmp_path)]) == code


@pytest.mark.slow
def test_full_quickstart_trains_a_working_tracker(tmp_path):
    assert cli.main(["quickstart", "--workdir", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["trained"]["success_auc"] >= 0.55
    assert report["trained"]["success_auc"] - report["static"]["success_auc"] >= 0.2
    assert report["training_worked"] is True
