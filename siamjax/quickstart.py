"""``siamjax quickstart``: synthetic data -> TFRecords -> training -> held-out evaluation.

Everything goes under one workdir and every stage resumes (generated data, finished
shards, checkpoints and finished result files are kept), so re-running the command after
an interruption continues where it stopped:

    WORKDIR/data/raw/{train,val,test}   synthetic sequences (custom layout)
    WORKDIR/data/train                  TFRecord shards of the train split
    WORKDIR/train                       checkpoints, metrics.jsonl, tensorboard/, model/
    WORKDIR/results/{trained,untrained,static}   one-pass results on the test split
    WORKDIR/report/                     scores.json, scores.md, success/precision plots
    WORKDIR/report.json                 success_auc / precision / norm_precision per tracker
"""

from __future__ import annotations

import os
import time

import jax
import numpy as np

from siamjax import fs
from siamjax.config_loader import load_config
from siamjax.datasets.benchmark_layout import read_custom
from siamjax.eval import results
from siamjax.eval.boxes import init_box
from siamjax.eval.report import markdown_table, score_trackers, write_report
from siamjax.eval.runner import run_batched
from siamjax.loading import build_configured_model, load_checkpoint, load_tracker
from siamjax.prep.prepare import prepare
from siamjax.prep.synthetic import generate
from siamjax.tracking import BatchedTracker
from siamjax.train.loop import initial_variables, train

DEFAULT_CONFIG = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "quickstart.py"
)
# What "training worked" means (the acceptance rule).
MIN_SUCCESS_AUC = 0.55
MIN_MARGIN_OVER_STATIC = 0.2


def _stage(text: str) -> None:
    print(f"\n== {text}", flush=True)


def write_static_results(videos, out_dir: str, dataset: str = "custom") -> None:
    """The static baseline: the initial box repeated on every frame."""
    for video in videos:
        box = np.asarray(init_box(video.gt[0], vot_protocol=False), np.float64)
        results.write_results(out_dir, dataset, video.name, np.tile(box, (len(video), 1)))


def evaluate_variables(config, variables, videos, out_dir: str, dataset: str = "custom",
                       batch: int = 4) -> None:  # fmt: skip
    """One-pass tracking of ``videos`` with in-memory ``variables`` (``batch`` sequences in
    lockstep); results under ``out_dir`` in ``dataset``'s layout (finished ones kept)."""
    tracker = load_tracker(config, variables)
    run_batched(BatchedTracker(tracker, batch), videos, out_dir, dataset)


def run_quickstart(workdir: str, config=None, videos: int = 300, seed: int = 0,
                   max_steps: int | None = None, workers: int = 2) -> dict:  # fmt: skip
    """Runs every stage (skipping finished work) and returns the report dict."""
    started = time.time()
    try:
        return _run(workdir, config, videos, seed, max_steps, workers, started)
    except BaseException:
        add_elapsed(workdir, time.time() - started)  # an interrupted run's time counts
        raise


def add_elapsed(workdir: str, seconds: float, name: str = "elapsed_seconds") -> float:
    """Adds ``seconds`` to ``WORKDIR/<name>`` (created when missing); returns the new
    total (the wall time of every invocation that worked on ``workdir``)."""
    path = fs.join(workdir, name)
    total = seconds
    if fs.exists(path):
        try:
            total += float(fs.read_text(path).strip() or 0)
        except ValueError:  # a torn write of an interrupted run
            pass
    fs.makedirs(workdir)
    fs.write_text(path, f"{total:.1f}\n")
    return total


def _run(workdir, config, videos, seed, max_steps, workers, started) -> dict:
    config = load_config(DEFAULT_CONFIG) if config is None else config
    raw = fs.join(workdir, "data", "raw")
    if not fs.isdir(fs.join(raw, "test")):
        _stage(f"generating {videos} synthetic sequences -> {raw}")
        generate(raw, videos=videos, seed=seed)
    prepared = fs.join(workdir, "data", "train")
    _stage(f"preparing the train split -> {prepared}")
    prepare("custom", fs.join(raw, "train"), prepared, workers=workers)

    with config.unlocked():
        config.input.datasets[0].path = prepared
    _stage(f"training {config.name} on {jax.device_count()} device(s)")
    summary = train(config, fs.join(workdir, "train"), max_steps=max_steps)
    if summary["status"] != "finished":
        raise RuntimeError(f"training stopped early ({summary['status']}); re-run to resume")

    test_videos = read_custom(fs.join(raw, "test"))
    _stage(f"one-pass evaluation on {len(test_videos)} held-out sequences")
    result_dirs = {name: fs.join(workdir, "results", name)
                   for name in ("trained", "untrained", "static")}  # fmt: skip
    trained = load_checkpoint(summary["model_dir"])
    evaluate_variables(config, trained, test_videos, result_dirs["trained"])
    model = build_configured_model(config)
    untrained = jax.device_get(initial_variables(model, config))
    evaluate_variables(config, untrained, test_videos, result_dirs["untrained"])
    write_static_results(test_videos, result_dirs["static"])

    scores = score_trackers(test_videos, "custom", result_dirs)
    written = write_report(scores, fs.join(workdir, "report"), title="synthetic test")
    keys = ("success_auc", "precision", "norm_precision")
    report = {name: {key: scores[name][key] for key in keys} for name in result_dirs}
    margin = report["trained"]["success_auc"] - report["static"]["success_auc"]
    report["training_worked"] = bool(
        report["trained"]["success_auc"] >= MIN_SUCCESS_AUC and margin >= MIN_MARGIN_OVER_STATIC
    )
    report["criteria"] = {"min_success_auc": MIN_SUCCESS_AUC,
                          "min_margin_over_static": MIN_MARGIN_OVER_STATIC}  # fmt: skip
    report["config"] = config.name
    report["train_steps"] = summary["step"]
    report["test_videos"] = len(test_videos)
    report["plots"] = written["plots"]
    # Wall time of every invocation that worked on this workdir (a resumed run adds its
    # own to what the interrupted ones spent), and of this one.
    report["seconds_this_run"] = round(time.time() - started, 1)
    report["seconds"] = round(add_elapsed(workdir, time.time() - started), 1)
    fs.write_json(fs.join(workdir, "report.json"), report)

    print()
    print(markdown_table({name: scores[name] for name in result_dirs}), end="")
    verdict = "yes" if report["training_worked"] else "NO"
    print(
        f"training worked: {verdict} (trained AUC {report['trained']['success_auc']:.3f}, "
        f"{margin:+.3f} over the static baseline; needs >= {MIN_SUCCESS_AUC} and "
        f">= +{MIN_MARGIN_OVER_STATIC})"
    )
    print(f"report: {fs.join(workdir, 'report.json')}; plots: {', '.join(written['plots'])}")
    print(next_step(workdir, summary["model_dir"], test_videos[0]))
    return report


def next_step(workdir: str, model_dir: str, video) -> str:
    """The command that tracks a held-out sequence with the trained model into an mp4."""
    box = ",".join(f"{value:g}" for value in video.gt[0][:4])
    sequence = fs.join(workdir, "data", "raw", "test", video.name)
    # The annotated video is written by OpenCV, to a local path only.
    out = os.path.join("." if fs.is_url(workdir) else workdir, f"tracked_{video.name}.mp4")
    return (
        "next: track a held-out sequence with the model you trained:\n"
        f"  siamjax track --config {os.path.relpath(DEFAULT_CONFIG)} --checkpoint {model_dir} "
        f"--video {sequence} --init {box} --out {out}"
    )
