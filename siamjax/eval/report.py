"""Scores result folders side by side: JSON, a Markdown table and the OPE plots.

    summary = score_trackers(videos, "OTB100", {"ours": "results/ours", "pysot": "raw/pysot"})
    write_report(summary, "reports/otb")

Each tracker is scored on the same videos; a missing or malformed result file is an error
naming the video; NaN / non-positive result boxes count as failures and are reported in
``invalid_frames`` (with a warning).
"""

from __future__ import annotations

import json
import os
import warnings

import numpy as np

from siamjax.eval import metrics, results
from siamjax.eval.boxes import region_to_rect


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
            if dataset == "VOT2018-LT" or np.isnan(boxes[0]).all():
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


def markdown_table(summary: dict) -> str:
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
        path = os.path.join(out_dir, f"{kind}.png")
        figure.tight_layout()
        figure.savefig(path, dpi=100)
        plt.close(figure)
        paths.append(path)
    return paths


def write_report(summary: dict, out_dir: str, title: str = "") -> dict:
    """Writes scores.json, scores.md and the plots; returns their paths."""
    os.makedirs(out_dir, exist_ok=True)
    json_path = os.path.join(out_dir, "scores.json")
    with open(json_path, "w") as stream:
        json.dump(summary, stream, indent=2)
    md_path = os.path.join(out_dir, "scores.md")
    with open(md_path, "w") as stream:
        stream.write(markdown_table(summary))
    plots = plot_curves(summary, out_dir, title)
    return {"json": json_path, "markdown": md_path, "plots": plots}
