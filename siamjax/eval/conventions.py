"""``siamjax score --protocol``: score result folders under another toolkit's conventions.

``pysot`` (the default) is ``report.score_any``. ``got10k`` follows the got10k toolkit
(``got10k_metrics``): one-pass success / precision / success rate, GOT-10k's AO and SR,
and its VOT accuracy / failure count. ``vot-toolkit`` follows the Python VOT toolkit
(``vot_toolkit_metrics``): VOT accuracy, robustness and EAO. docs/parity.md
("Toolkit conventions") tables how far apart they are and why.
"""

from __future__ import annotations

import warnings

import numpy as np

from siamjax.datasets import Protocol, dataset_spec
from siamjax.datasets.benchmark_layout import BenchmarkError
from siamjax.eval import got10k_metrics, results, vot_toolkit_metrics
from siamjax.eval.boxes import region_to_rect
from siamjax.eval.report import frame_size, gt_regions

CONVENTIONS = ("pysot", "got10k", "vot-toolkit")


def _one_pass_gt(video) -> np.ndarray:
    gt = video.gt
    return np.stack([region_to_rect(region) for region in gt]) if gt.shape[1] == 8 else gt


def _vot_per_video(videos, dataset, root) -> dict:
    return {
        video.name: (
            [results.read_trajectory(root, dataset, video.name, len(video))],
            gt_regions(video),
            frame_size(video),
        )
        for video in videos
    }


def score_got10k(videos, dataset: str, result_dirs: dict) -> tuple[dict, str]:
    """({tracker: scores}, Markdown table) as the got10k toolkit reports ``dataset``."""
    spec = dataset_spec(dataset)
    summary = {}
    if spec.protocol is Protocol.RESET:
        try:
            import shapely  # noqa: F401  (got10k's VOT overlap is a shapely polygon IoU)
        except ImportError as error:
            raise BenchmarkError(
                "--protocol got10k on VOT needs shapely: pip install 'siamjax[toolkits]'"
            ) from error
        for tracker, root in result_dirs.items():
            summary[tracker] = got10k_metrics.vot_accuracy_robustness(
                _vot_per_video(videos, dataset, root)
            )
        return summary, _table(summary, ("accuracy", "robustness"), ("accuracy", "failures"))
    if spec.protocol is not Protocol.ONE_PASS:
        raise BenchmarkError(
            f"the got10k toolkit has no analysis for {spec.name}; use --protocol pysot"
        )
    for tracker, root in result_dirs.items():
        per_video = {}
        for video in videos:
            boxes = results.read_boxes(root, dataset, video.name, len(video))
            per_video[video.name] = (_one_pass_gt(video), boxes)
        if spec.name == "GOT-10k":
            missing = [video.name for video in videos if "cover" not in video.attributes]
            if missing:
                warnings.warn(
                    f"{len(missing)} GOT-10k videos have no cover.label (e.g. {missing[0]}): "
                    "every frame counts as visible",
                    stacklevel=2,
                )
            covers = {video.name: video.attributes.get("cover") for video in videos}
            sizes = {video.name: frame_size(video) for video in videos}
            scores = got10k_metrics.ao_sr(
                {name: (*per_video[name], sizes[name], covers[name]) for name in per_video}
            )
            if np.isnan(scores["ao"]):
                warnings.warn(
                    f"{tracker}: a result box is NaN, so AO is NaN as in the got10k toolkit",
                    stacklevel=2,
                )
            summary[tracker] = scores
        else:
            summary[tracker] = got10k_metrics.ope_scores(per_video)
    if spec.name == "GOT-10k":
        return summary, _table(summary, ("ao", "sr50", "sr75"), ("AO", "SR 0.5", "SR 0.75"))
    return summary, _table(summary, ("success_auc", "precision", "success_rate"),
                           ("success AUC", "precision (20 px)", "success rate (0.5)"))  # fmt: skip


def score_vot_toolkit(videos, dataset: str, result_dirs: dict) -> tuple[dict, str]:
    """({tracker: scores}, Markdown table) as the Python VOT toolkit reports ``dataset``."""
    spec = dataset_spec(dataset)
    if spec.protocol is not Protocol.RESET:
        raise BenchmarkError(
            f"--protocol vot-toolkit scores the VOT reset benchmarks, not {spec.name}; "
            "use --protocol pysot or got10k"
        )
    summary = {
        tracker: vot_toolkit_metrics.scores(_vot_per_video(videos, dataset, root), spec.name)
        for tracker, root in result_dirs.items()
    }
    return summary, _table(
        summary, ("accuracy", "robustness", "eao"), ("accuracy", "robustness (failures)", "EAO")
    )


def _table(summary: dict, keys, titles) -> str:
    lines = ["| tracker | " + " | ".join(titles) + " |", "| --- |" + " --- |" * len(keys)]
    for tracker, scores in summary.items():
        lines.append(f"| {tracker} | " + " | ".join(f"{scores[key]:.3f}" for key in keys) + " |")
    return "\n".join(lines) + "\n"


def score_with(convention: str, videos, dataset: str, result_dirs: dict) -> tuple[dict, str]:
    """``score_got10k`` or ``score_vot_toolkit`` by name (not ``pysot``)."""
    if convention == "got10k":
        return score_got10k(videos, dataset, result_dirs)
    if convention == "vot-toolkit":
        return score_vot_toolkit(videos, dataset, result_dirs)
    raise ValueError(f"unknown convention {convention!r}; one of {', '.join(CONVENTIONS)}")
