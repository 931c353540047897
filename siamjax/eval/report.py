"""Scores result folders side by side: JSON, a Markdown table and the OPE plots.

    summary = score_trackers(videos, "OTB100", {"ours": "results/ours", "pysot": "raw/pysot"})
    write_report(summary, "reports/otb")

Each tracker is scored on the same videos; a missing or malformed result file is an error
naming the video; NaN / non-positive result boxes count as failures and are reported in
``invalid_frames`` (with a warning).
"""

from __future__ import annotations

import io
import warnings

import cv2
import numpy as np

from siamjax import fs
from siamjax.datasets import Protocol, dataset_spec
from siamjax.datasets.benchmark_layout import BenchmarkError
from siamjax.eval import metrics, results, vot_metrics
from siamjax.eval.boxes import region_to_rect
from siamjax.image_io import read_image


def frame_size(video) -> tuple[int, int]:
    """(W, H) of a video's first frame (the bounds pysot uses for VOT overlaps)."""
    frame = read_image(video.frame_paths[0], cv2.IMREAD_UNCHANGED)
    if frame is None:
        raise BenchmarkError(f"{video.frame_paths[0]}: cannot read image")
    return frame.shape[1], frame.shape[0]


def gt_regions(video) -> list:
    """Ground truth as pysot's VOT datasets hold it: NaN rows (absent) become ``[0]``."""
    return [[0] if np.isnan(row[0]) else row.tolist() for row in video.gt]


def score_vot(videos, dataset: str, result_dirs: dict) -> dict:
    """{tracker: accuracy, robustness, lost_number, eao, eao_curve} (VOT reset protocol)."""
    sizes = {video.name: frame_size(video) for video in videos}
    summary = {}
    for tracker, root in result_dirs.items():
        per_video = {}
        for video in videos:
            trajectory = results.read_trajectory(root, dataset, video.name, len(video))
            per_video[video.name] = ([trajectory], gt_regions(video), sizes[video.name])
        scores = vot_metrics.accuracy_robustness(per_video)
        expected = vot_metrics.eao(per_video, dataset)
        scores["eao"] = expected["eao"]
        scores["eao_curve"] = expected["curve"]
        summary[tracker] = scores
    return summary


def score_longterm(videos, dataset: str, result_dirs: dict) -> dict:
    """{tracker: precision, recall, f_score} (VOT-LT)."""
    sizes = {video.name: frame_size(video) for video in videos}
    summary = {}
    for tracker, root in result_dirs.items():
        per_video = {}
        for video in videos:
            trajectory = results.read_trajectory(root, dataset, video.name, len(video))
            confidences = results.read_confidences(root, dataset, video.name, len(video))
            per_video[video.name] = (trajectory, confidences, gt_regions(video), sizes[video.name])
        summary[tracker] = vot_metrics.longterm_f_score(per_video)
    return summary


def score_any(videos, dataset: str, result_dirs: dict) -> tuple[str, dict]:
    """(protocol, summary) with the metrics pysot reports for ``dataset``."""
    mode = dataset_spec(dataset).protocol
    if mode is Protocol.RESET:
        return mode, score_vot(videos, dataset, result_dirs)
    if mode is Protocol.LONG_TERM:
        return mode, score_longterm(videos, dataset, result_dirs)
    return mode, score_trackers(videos, dataset, result_dirs)


def score_trackers(videos, dataset: str, result_dirs: dict) -> dict:
    """{tracker: one-pass scores (see ``metrics.ope_scores``) + ``invalid_frames``}."""
    summary = {}
    for tracker, root in result_dirs.items():
        per_video, invalid = {}, 0
        for video in videos:
            boxes = results.read_boxes(root, dataset, video.name, len(video))
            gt = video.gt
            if gt.shape[1] == 8:
                gt = np.stack([region_to_rect(region) for region in gt])
            evaluate = video.evaluate
            if dataset_spec(dataset).protocol is Protocol.LONG_TERM or np.isnan(boxes[0]).all():
                boxes = boxes.copy()
                boxes[0] = gt[0]  # the LT marker line '1' stands for the init frame
            bad = metrics.invalid_result_frames(boxes)
            if bad.any():
                invalid += int(bad.sum())
                warnings.warn(
                    f"{tracker}: {video.name}: {int(bad.sum())} result boxes are NaN or "
                    "have non-positive size; counted as failures",
                    stacklevel=2,
                )
            per_video[video.name] = (gt, boxes, evaluate)
        scores = metrics.ope_scores(per_video)
        scores["invalid_frames"] = invalid
        summary[tracker] = scores
    return summary


def markdown_table(summary: dict, mode: Protocol = Protocol.ONE_PASS) -> str:
    if mode is Protocol.RESET:
        lines = [
            "| tracker | accuracy | robustness | lost number | EAO |",
            "| --- | --- | --- | --- | --- |",
        ]
        for tracker, s in sorted(summary.items(), key=lambda item: -item[1]["eao"]):
            lines.append(
                f"| {tracker} | {s['accuracy']:.3f} | {s['robustness']:.3f} | "
                f"{s['lost_number']:.1f} | {s['eao']:.3f} |"
            )
        return "\n".join(lines) + "\n"
    if mode is Protocol.LONG_TERM:
        lines = ["| tracker | precision | recall | F-score |", "| --- | --- | --- | --- |"]
        for tracker, s in sorted(summary.items(), key=lambda item: -item[1]["f_score"]):
            lines.append(
                f"| {tracker} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f_score']:.3f} |"
            )
        return "\n".join(lines) + "\n"
    lines = [
        "| tracker | success AUC | precision (20 px) | norm. precision | invalid frames |",
        "| --- | --- | --- | --- | --- |",
    ]
    ranked = sorted(summary.items(), key=lambda item: -item[1]["success_auc"])
    for tracker, scores in ranked:
        lines.append(
            f"| {tracker} | {scores['success_auc']:.3f} | {scores['precision']:.3f} | "
            f"{scores['norm_precision']:.3f} | {scores['invalid_frames']} |"
        )
    return "\n".join(lines) + "\n"


def plot_curves(summary: dict, out_dir: str, title: str = "") -> list[str]:
    """success.png and precision.png (AUC / precision at 20 px in the legend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ranked = sorted(summary.items(), key=lambda item: -item[1]["success_auc"])
    paths = []
    for kind, thresholds, key, label, value_key in (
        (
            "success",
            metrics.SUCCESS_THRESHOLDS,
            "success_curve",
            "overlap threshold",
            "success_auc",
        ),
        (
            "precision",
            metrics.PRECISION_THRESHOLDS,
            "precision_curve",
            "location error (px)",
            "precision",
        ),
    ):
        figure, axis = plt.subplots(figsize=(5, 4))
        for tracker, scores in ranked:
            axis.plot(thresholds, scores[key], label=f"{tracker} [{scores[value_key]:.3f}]")
        axis.set_xlabel(label)
        axis.set_ylabel(f"{kind} rate")
        axis.set_ylim(0, 1.02)
        axis.set_title(f"{kind} plot {title}".strip())
        axis.grid(alpha=0.3)
        axis.legend(loc="lower left" if kind == "success" else "lower right", fontsize=8)
        path = fs.join(out_dir, f"{kind}.png")
        save_figure(figure, path)
        paths.append(path)
    return paths


def plot_eao_curve(summary: dict, out_dir: str, title: str = "") -> list[str]:
    """eao.png: the expected-overlap curve, EAO range shaded, EAO in the legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5, 4))
    for tracker, scores in sorted(summary.items(), key=lambda item: -item[1]["eao"]):
        curve = scores["eao_curve"]
        axis.plot(np.arange(len(curve)), curve, label=f"{tracker} [{scores['eao']:.3f}]")
    low, high = vot_metrics.EAO_RANGES.get(title, (None, None))
    if low is not None:
        axis.axvspan(low, high, color="grey", alpha=0.15)
    axis.set_xlabel("sequence length")
    axis.set_ylabel("expected overlap")
    axis.set_title(f"expected average overlap {title}".strip())
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    path = fs.join(out_dir, "eao.png")
    save_figure(figure, path)
    return [path]


def save_figure(figure, path: str) -> None:
    """Writes a matplotlib figure as PNG to ``path`` (local or a URL) and closes it."""
    import matplotlib.pyplot as plt

    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    fs.makedirs(fs.dirname(path))
    fs.write_bytes(path, buffer.getvalue())


def write_report(
    summary: dict, out_dir: str, title: str = "", mode: Protocol = Protocol.ONE_PASS
) -> dict:
    """Writes scores.json, scores.md and the plots; returns their paths."""
    fs.makedirs(out_dir)
    json_path = fs.join(out_dir, "scores.json")
    fs.write_json(json_path, summary)
    md_path = fs.join(out_dir, "scores.md")
    fs.write_text(md_path, markdown_table(summary, mode))
    if mode is Protocol.RESET:
        plots = plot_eao_curve(summary, out_dir, title)
    elif mode is Protocol.ONE_PASS:
        plots = plot_curves(summary, out_dir, title)
    else:
        plots = []
    return {"json": json_path, "markdown": md_path, "plots": plots}
