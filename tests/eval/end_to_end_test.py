"""``siamjax eval`` then ``siamjax score`` on a synthetic OTB-layout benchmark."""

import json
import os

import jax
import numpy as np
import pytest

from siamjax import cli
from siamjax.checkpoints import save_variables
from siamjax.config_loader import load_config
from siamjax.datasets.benchmark_layout import read_otb
from siamjax.eval import results
from siamjax.eval.hp_search import setting_name
from siamjax.models import build_model, init_variables
from tests.conftest import config_path
from tests.eval.synthetic_benchmark import write_otb_benchmark, write_vot_benchmark

CONFIG = config_path("siamrpn_alex_dwxcorr_otb")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    data_dir = str(root / "OTB")
    truth = write_otb_benchmark(data_dir, videos=3, frames=7)
    config = load_config(CONFIG)
    model = build_model(config.model)
    variables = init_variables(model, jax.random.key(0), 127, config.track.instance_size)
    checkpoint = save_variables(str(root / "ckpt"), variables)
    return {"root": root, "data": data_dir, "truth": truth, "checkpoint": checkpoint}


def _eval(workspace, out, *extra):
    argv = ["eval", "--config", CONFIG, "--checkpoint", workspace["checkpoint"]]
    argv += ["--dataset", "OTB100", "--data-dir", workspace["data"], "--out", out, *extra]
    assert cli.main(argv) == 0


def test_eval_writes_one_result_file_per_video_and_resumes(workspace, capsys):
    out = str(workspace["root"] / "results" / "sequential")
    _eval(workspace, out)
    for name, gt in workspace["truth"].items():
        boxes = results.read_boxes(out, "OTB100", name, len(gt))
        # The first line is pysot's init box: the gt box moved by +0.5 px.
        np.testing.assert_allclose(boxes[0], gt[0] + [0.5, 0.5, 0, 0])
    capsys.readouterr()
    _eval(workspace, out)
    assert "tracked 0 videos, 3 already done" in capsys.readouterr().out


def test_batched_runner_gives_the_same_results(workspace):
    sequential = str(workspace["root"] / "results" / "sequential")
    if not os.path.isdir(sequential):
        _eval(workspace, sequential)
    batched = str(workspace["root"] / "results" / "batched")
    _eval(workspace, batched, "--batch", "2")  # 3 videos on 2 slots: a slot takes a new video
    for name, gt in workspace["truth"].items():
        a = results.read_boxes(sequential, "OTB100", name, len(gt))
        b = results.read_boxes(batched, "OTB100", name, len(gt))
        np.testing.assert_allclose(a, b, atol=1e-3)


def test_score_compares_trackers_and_writes_report(workspace, capsys):
    out = str(workspace["root"] / "results" / "sequential")
    if not os.path.isdir(out):
        _eval(workspace, out)
    # A "perfect" tracker: the ground truth itself, in pysot's format.
    perfect = str(workspace["root"] / "results" / "perfect")
    for name, gt in workspace["truth"].items():
        results.write_results(perfect, "OTB100", name, gt)
    report = str(workspace["root"] / "report")
    argv = ["score", "--dataset", "OTB100", "--data-dir", workspace["data"]]
    argv += ["--results", out, f"gt={perfect}", "--report", report]
    assert cli.main(argv) == 0
    table = capsys.readouterr().out
    assert "| gt | 0.952 | 1.000 |" in table  # 20/21: success at threshold 1.0 is 0
    with open(os.path.join(report, "scores.json")) as stream:
        summary = json.load(stream)
    assert set(summary) == {"sequential", "gt"}
    assert 0.0 <= summary["sequential"]["success_auc"] <= 1.0
    for name in ("scores.md", "success.png", "precision.png"):
        assert os.path.getsize(os.path.join(report, name)) > 0


def test_score_names_a_short_result_file(workspace, capsys):
    broken = str(workspace["root"] / "results" / "broken")
    for name, gt in workspace["truth"].items():
        results.write_results(broken, "OTB100", name, gt[:-1])
    argv = ["score", "--dataset", "OTB100", "--data-dir", workspace["data"], "--results", broken]
    assert cli.main(argv) == 2
    assert "video Seq0 has 7 frames but 6 result lines" in capsys.readouterr().err


def test_nan_results_are_failures_with_a_warning(workspace, capsys):
    nan_dir = str(workspace["root"] / "results" / "nan")
    for name, gt in workspace["truth"].items():
        boxes = gt.copy()
        boxes[3] = np.nan
        boxes[4, 2] = -5
        results.write_results(nan_dir, "OTB100", name, boxes)
    argv = ["score", "--dataset", "OTB100", "--data-dir", workspace["data"], "--results", nan_dir]
    with pytest.warns(UserWarning, match="2 result boxes are NaN or have non-positive size"):
        assert cli.main(argv) == 0
    # 5 of 7 frames perfect in every video: AUC = 5/7 * 20/21
    assert f"| nan | {5 / 7 * 20 / 21:.3f} |" in capsys.readouterr().out


def test_got10k_toolkit_agrees_within_documented_differences(workspace):
    metrics_module = pytest.importorskip("got10k.utils.metrics")
    from siamjax.eval.report import score_trackers

    out = str(workspace["root"] / "results" / "sequential")
    if not os.path.isdir(out):
        _eval(workspace, out)
    videos = read_otb(workspace["data"])
    ours = score_trackers(videos, "OTB100", {"ours": out})["ours"]
    success_curves, precision_curves, shortest = [], [], min(len(v) for v in videos)
    for video in videos:
        boxes = results.read_boxes(out, "OTB100", video.name, len(video))
        boxes[0] = video.gt[0]  # got10k forces frame 0 to the ground truth
        ious = metrics_module.rect_iou(boxes.copy(), video.gt.copy())
        errors = metrics_module.center_error(boxes, video.gt)
        success_curves.append([np.mean(ious > t) for t in np.linspace(0, 1, 21)])
        precision_curves.append([np.mean(errors <= t) for t in range(51)])
    got10k_auc = float(np.mean(success_curves))
    got10k_precision = float(np.mean(precision_curves, axis=0)[20])
    # Only frame 0 differs (pysot's +0.5 px init box vs got10k's gt); every gt box is valid.
    assert abs(ours["success_auc"] - got10k_auc) <= 1 / shortest + 1e-9
    assert abs(ours["precision"] - got10k_precision) <= 1 / shortest + 1e-9


def test_vot_protocol_end_to_end_batched_equals_sequential(workspace, capsys):
    data_dir = str(workspace["root"] / "VOT2018")
    truth = write_vot_benchmark(data_dir, videos=2, frames=12)
    outs = {}
    for batch in ("1", "2"):
        out = str(workspace["root"] / "results_vot" / f"batch{batch}")
        argv = ["eval", "--config", CONFIG, "--checkpoint", workspace["checkpoint"]]
        argv += ["--dataset", "VOT2018", "--data-dir", data_dir, "--out", out, "--batch", batch]
        assert cli.main(argv) == 0
        outs[batch] = out
    for name in truth:
        a = results.read_trajectory(outs["1"], "VOT2018", name, 12)
        b = results.read_trajectory(outs["2"], "VOT2018", name, 12)
        assert [len(x) for x in a] == [len(x) for x in b]
        assert a[0] == [1]
        for entry_a, entry_b in zip(a, b):
            np.testing.assert_allclose(entry_a, entry_b, atol=2e-3)
    report = str(workspace["root"] / "report_vot")
    argv = ["score", "--dataset", "VOT2018", "--data-dir", data_dir, "--results", outs["1"]]
    assert cli.main(argv + ["--report", report]) == 0
    assert "| batch1 |" in capsys.readouterr().out
    with open(os.path.join(report, "scores.json")) as stream:
        scores = json.load(stream)["batch1"]
    assert {"accuracy", "robustness", "eao", "lost_number"} <= set(scores)
    assert os.path.getsize(os.path.join(report, "eao.png")) > 0


@pytest.mark.slow
def test_hp_search_runs_settings_side_by_side_and_equals_separate_runs(workspace, capsys):
    out = str(workspace["root"] / "search")
    argv = ["hp-search", "--config", CONFIG, "--checkpoint", workspace["checkpoint"]]
    argv += ["--dataset", "OTB100", "--data-dir", workspace["data"], "--out", out]
    argv += ["--penalty-k", "0.1,0.3", "--lr", "0.2,0.5", "--batch", "3"]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "4 settings x 3 videos" in printed
    with open(os.path.join(out, "search.json")) as stream:
        summary = json.load(stream)
    assert len(summary["settings"]) == 4 and len(summary["scores"]) == 4
    # One setting re-run alone through `siamjax eval` gives the same boxes.
    single = str(workspace["root"] / "search_single")
    eval_argv = ["eval", "--config", CONFIG, "--checkpoint", workspace["checkpoint"]]
    eval_argv += ["--dataset", "OTB100", "--data-dir", workspace["data"], "--out", single]
    eval_argv += ["--config.track.penalty_k=0.3", "--config.track.lr=0.2"]
    assert cli.main(eval_argv) == 0
    window = load_config(CONFIG).track.window_influence
    name = setting_name({"penalty_k": 0.3, "window_influence": window, "lr": 0.2})
    for video, gt in workspace["truth"].items():
        a = results.read_boxes(os.path.join(out, name), "OTB100", video, len(gt))
        b = results.read_boxes(single, "OTB100", video, len(gt))
        np.testing.assert_allclose(a, b, atol=1e-3)


def test_got10k_test_split_writes_a_submission_archive(workspace, capsys):
    import shutil
    import zipfile

    data_dir = workspace["root"] / "GOT-10k" / "test"
    for name, gt in workspace["truth"].items():
        target = data_dir / f"GOT-10k_Test_{name}"
        shutil.copytree(os.path.join(workspace["data"], name, "img"), target)
        (target / "groundtruth.txt").write_text(",".join(str(v) for v in gt[0]) + "\n")
    out = str(workspace["root"] / "results_got" / "ours")
    argv = ["eval", "--config", CONFIG, "--checkpoint", workspace["checkpoint"]]
    argv += ["--dataset", "GOT-10k", "--data-dir", str(data_dir), "--out", out, "--batch", "2"]
    assert cli.main(argv) == 0
    assert "submission archive" in capsys.readouterr().out
    with zipfile.ZipFile(out + ".zip") as bundle:
        names = sorted(bundle.namelist())
    assert "GOT-10k_Test_Seq0/GOT-10k_Test_Seq0_001.txt" in names
    assert "GOT-10k_Test_Seq0/GOT-10k_Test_Seq0_time.txt" in names
    assert len(names) == 6
    score = ["score", "--dataset", "GOT-10k", "--data-dir", str(data_dir), "--results", out]
    assert cli.main(score) == 2
    assert "no public labels" in capsys.readouterr().err


def test_score_protocol_got10k_on_a_one_pass_benchmark(workspace, capsys):
    perfect = str(workspace["root"] / "results" / "perfect_got10k")
    for name, gt in workspace["truth"].items():
        results.write_results(perfect, "OTB100", name, gt)
    report = str(workspace["root"] / "report_got10k")
    argv = ["score", "--dataset", "OTB100", "--data-dir", workspace["data"], "--results", perfect]
    assert cli.main(argv + ["--protocol", "got10k", "--report", report]) == 0
    table = capsys.readouterr().out
    assert "success rate (0.5)" in table
    assert f"| perfect_got10k | {20 / 21:.3f} | 1.000 | 1.000 |" in table
    with open(os.path.join(report, "scores.json")) as stream:
        written = json.load(stream)
    assert written["protocol"] == "got10k"
    assert written["scores"]["perfect_got10k"]["success_auc"] == pytest.approx(20 / 21)


def test_score_protocol_vot_toolkit_and_got10k_on_vot(workspace, capsys):
    data_dir = str(workspace["root"] / "VOT2018_conventions")
    truth = write_vot_benchmark(data_dir, videos=2, frames=12)
    perfect = str(workspace["root"] / "results_vot_conventions" / "perfect")
    for name, boxes in truth.items():
        polygons = [[x, y, x + w, y, x + w, y + h, x, y + h] for x, y, w, h in boxes[1:]]
        results.write_trajectory(perfect, "VOT2018", name, [[1]] + polygons)
    argv = ["score", "--dataset", "VOT2018", "--data-dir", data_dir, "--results", perfect]
    assert cli.main(argv + ["--protocol", "vot-toolkit"]) == 0
    # The ground truth's own polygons: every overlap 1, no failure; EAO over a
    # 12-frame video is undefined in the 100-356 window (NaN).
    assert "| perfect | 1.000 | 0.000 | nan |" in capsys.readouterr().out
    assert cli.main(argv + ["--protocol", "got10k"]) == 0
    assert "| perfect | 1.000 | 0.000 |" in capsys.readouterr().out


def test_score_protocol_vot_toolkit_refuses_a_one_pass_benchmark(workspace, capsys):
    argv = ["score", "--dataset", "OTB100", "--data-dir", workspace["data"]]
    argv += ["--results", str(workspace["root"]), "--protocol", "vot-toolkit"]
    assert cli.main(argv) == 2
    assert (
        "--protocol vot-toolkit scores the VOT reset benchmarks, not OTB100"
        in capsys.readouterr().err
    )


def test_score_protocol_got10k_on_got10k_val_drops_covered_frames(workspace, capsys):
    import shutil

    data_dir = workspace["root"] / "GOT-10k" / "val"
    perfect = str(workspace["root"] / "results_got_val" / "perfect")
    for name, gt in workspace["truth"].items():
        target = data_dir / f"GOT-10k_Val_{name}"
        shutil.copytree(os.path.join(workspace["data"], name, "img"), target)
        (target / "groundtruth.txt").write_text(
            "".join(",".join(map(str, box)) + "\n" for box in gt)
        )
        (target / "cover.label").write_text(
            "".join("0\n" if i == 1 else "8\n" for i in range(len(gt)))
        )
        boxes = gt.copy()
        boxes[1] += [100, 100, 0, 0]  # a miss, but on the fully covered frame
        results.write_results(perfect, "GOT-10k", target.name, boxes)
    argv = ["score", "--dataset", "GOT-10k", "--data-dir", str(data_dir), "--results", perfect]
    assert cli.main(argv + ["--protocol", "got10k"]) == 0
    assert "| perfect | 1.000 | 1.000 | 1.000 |" in capsys.readouterr().out
    (data_dir / "GOT-10k_Val_Seq0" / "cover.label").write_text("8\n")
    assert cli.main(argv + ["--protocol", "got10k"]) == 2
    assert "cover.label: 1 labels for 7 frames" in capsys.readouterr().err
