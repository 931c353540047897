"""An experiment's comparison: results.json, results.md and plots from the finished runs.

    results = collect(workdir, config, splits)   # from runs/*/seed*/run.json and costs.json
    write_results(workdir, config, splits)       # + results.json, results.md, plots/

Per variant and split: success AUC, precision and normalised precision as mean ± standard
deviation over seeds, and against the baseline an interval of the AUC difference from a
two-level bootstrap over sequences (paired) and seeds, with verdicts at Holm-adjusted
p-values over the variants compared (``statistics.py``).
"""

from __future__ import annotations

import numpy as np

from siamjax import fs, machine
from siamjax.eval.report import plot_curves, save_figure
from siamjax.experiment import statistics
from siamjax.experiment.centre_bias import summarise
from siamjax.experiment.plan import run_dir
from siamjax.train.loop import total_steps

SCORES = ("success_auc", "precision", "norm_precision")


def _per_seed_sequence_auc(runs: list[dict], split: str, names: list[str]) -> np.ndarray:
    """(seeds, sequences) AUC, sequences in the order of ``names``."""
    return np.array(
        [[run["scores"][split]["videos"][name]["success_auc"] for name in names] for run in runs]
    )


def _per_sequence_auc(runs: list[dict], split: str) -> dict:
    """{sequence: AUC averaged over the runs (seeds)}."""
    names = list(runs[0]["scores"][split]["videos"])
    return {
        name: float(np.mean([run["scores"][split]["videos"][name]["success_auc"] for run in runs]))
        for name in names
    }


def collect(workdir: str, config, splits: list[str]) -> dict:
    """The results dict of every (variant, seed) of ``config.experiment``."""
    experiment = config.experiment
    baseline = experiment.baseline
    runs = {
        variant: [
            fs.read_json(fs.join(run_dir(workdir, variant, int(seed)), "run.json"))
            for seed in experiment.seeds
        ]  # fmt: skip
        for variant in experiment.variants
    }
    sequences = {
        split: {variant: _per_sequence_auc(runs[variant], split) for variant in runs}
        for split in splits
    }
    variants = {}
    for variant, variant_runs in runs.items():
        costs = fs.read_json(fs.join(workdir, "runs", variant, "costs.json"))
        summary = {}
        for split in splits:
            entry = {
                key: statistics.mean_std([run["scores"][split][key] for run in variant_runs])
                for key in SCORES
            }
            entry["success_curve"] = np.mean(
                [run["scores"][split]["success_curve"] for run in variant_runs], axis=0
            ).tolist()
            entry["precision_curve"] = np.mean(
                [run["scores"][split]["precision_curve"] for run in variant_runs], axis=0
            ).tolist()
            if variant != baseline:
                names = list(sequences[split][baseline])
                interval = statistics.hierarchical_bootstrap(
                    _per_seed_sequence_auc(variant_runs, split, names),
                    _per_seed_sequence_auc(runs[baseline], split, names),
                    int(experiment.bootstrap_samples),
                    float(experiment.confidence),
                    seed=0,
                )
                entry["vs_baseline"] = interval
            summary[split] = entry
        probed = [run["centre_bias"] for run in variant_runs if "centre_bias" in run]
        if probed:
            costs = {**costs, "centre_bias": _pooled_probes(probed)}
        variants[variant] = {
            **costs,
            "train_seconds": float(np.mean([run["train_seconds"] for run in variant_runs])),
            "seeds": {
                str(run["seed"]): {
                    split: {key: run["scores"][split][key] for key in SCORES} for split in splits
                }
                for run in variant_runs
            },  # fmt: skip
            "splits": summary,
        }
    # Every variant against the baseline is one test of a family: Holm per split.
    for split in splits:
        compared = [v for v in variants if "vs_baseline" in variants[v]["splits"][split]]
        intervals = [variants[v]["splits"][split]["vs_baseline"] for v in compared]
        adjusted = statistics.holm([interval["p_value"] for interval in intervals])
        for interval, p_holm in zip(intervals, adjusted, strict=True):
            interval["p_holm"] = p_holm
            interval["verdict"] = statistics.corrected_verdict(interval, p_holm)
    return {
        "experiment": config.name,
        "baseline": baseline,
        "seeds": [int(seed) for seed in experiment.seeds],
        "splits": list(splits),
        "train_steps": _train_steps(config),
        "machine": machine.describe(),
        "variants": variants,
        "per_sequence_auc": sequences,
    }


def _pooled_probes(probed: list[dict]) -> dict:
    """Every seed's centre-bias probes together, and their summary."""
    pooled = {key: np.concatenate([np.asarray(p[key]) for p in probed]).tolist()
              for key in ("targets", "peaks", "iou")}  # fmt: skip
    return {**pooled, "summary": summarise(pooled)}


def centre_bias_table(results: dict) -> str:
    """Per variant: the spread of the response peaks, how they follow the target, and the
    success AUC of the probes far from / near the search centre."""
    lines = [
        "| variant | probes | peak spread (px) | peak / target slope | far AUC | near AUC |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for variant, entry in results["variants"].items():
        if "centre_bias" in entry:
            s = entry["centre_bias"]["summary"]
            lines.append(f"| {variant} | {s['probes']} | {s['spread']:.1f} | {s['slope']:.2f} | "
                         f"{s['far_auc']:.3f} | {s['near_auc']:.3f} |")  # fmt: skip
    return "\n".join(lines)


def plot_centre_bias(results: dict, out_dir: str) -> list[str]:
    """centre_bias.png: per variant, a heatmap of where the response peaks fell (search
    crop pixels around the centre; the paper's Fig. 1), seeds pooled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    probed = {v: e["centre_bias"] for v, e in results["variants"].items() if "centre_bias" in e}
    if not probed:
        return []
    figure, axes = plt.subplots(1, len(probed), figsize=(3.2 * len(probed), 3.4), squeeze=False)
    edges = np.arange(-100, 101, 8) - 4.0  # one bin per score-map cell (stride 8)
    for axis, (variant, probes) in zip(axes[0], probed.items()):
        peaks = np.asarray(probes["peaks"]).reshape(-1, 2)
        histogram, _, _ = np.histogram2d(peaks[:, 1], peaks[:, 0], bins=(edges, edges))
        axis.imshow(histogram, extent=(edges[0], edges[-1], edges[-1], edges[0]), cmap="hot")
        axis.set_title(f"{variant}\nspread {probes['summary']['spread']:.0f} px", fontsize=9)
        axis.set_xlabel("peak x (px from centre)", fontsize=8)
    axes[0][0].set_ylabel("peak y (px)", fontsize=8)
    path = fs.join(out_dir, "centre_bias.png")
    save_figure(figure, path)
    return [path]


def _train_steps(config) -> int:
    return total_steps(config)


def _plus_minus(stats: dict) -> str:
    return f"{stats['mean']:.3f} ± {stats['std']:.3f}"


def markdown(results: dict) -> str:
    """One table per split, best mean AUC first."""
    lines = [
        f"# {results['experiment']}",
        "",
        f"{len(results['seeds'])} seeds ({', '.join(map(str, results['seeds']))}), "
        f"{results['train_steps']} train steps each, same data and schedule; mean ± std over "
        f"seeds; Δ AUC against `{results['baseline']}`: two-level bootstrap over sequences "
        "(paired) and seeds, verdicts at Holm-adjusted p over the variants compared. "
        f"Search ms: one batch-1 search call on {results['machine']}.",
    ]
    for split in results["splits"]:
        count = len(results["per_sequence_auc"][split][results["baseline"]])
        lines += ["", f"## {split} ({count} sequences)", "", split_table(results, split)]
    if any("centre_bias" in entry for entry in results["variants"].values()):
        lines += ["", "## Centre bias (held-out probes, targets moved off the search centre)",
                  "", centre_bias_table(results)]  # fmt: skip
    return "\n".join(lines) + "\n"


def split_table(results: dict, split: str) -> str:
    """The markdown table of one split: a row per variant, best mean AUC first."""
    lines = [
        "| variant | AUC | precision | norm. precision | Δ AUC vs baseline [95% CI] | "
        "search ms | params | template / search branch |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    ranked = sorted(
        results["variants"].items(),
        key=lambda item: -item[1]["splits"][split]["success_auc"]["mean"],
    )
    for variant, entry in ranked:
        scores = entry["splits"][split]
        interval = scores.get("vs_baseline")
        if interval is None:
            delta = "baseline"
        else:
            percent = round(interval["confidence"] * 100)
            delta = (
                f"{interval['mean']:+.3f} [{interval['low']:+.3f}, {interval['high']:+.3f}] "
                f"{interval['verdict']} (p {interval['p_holm']:.3f} Holm)"
            )
            if percent != 95:
                delta += f" ({percent}% CI)"
        lines.append(
            f"| {variant} | {_plus_minus(scores['success_auc'])} | "
            f"{_plus_minus(scores['precision'])} | {_plus_minus(scores['norm_precision'])} | "
            f"{delta} | {entry['search_ms']:.1f} | {entry['params']:,} | "
            f"{entry.get('template_branch_params', 0):,} / "
            f"{entry.get('search_branch_params', 0):,} |"
        )
    return "\n".join(lines)


def plot(results: dict, out_dir: str) -> list[str]:
    """Per split: success / precision curves (seed-averaged); for the first split: AUC
    against search milliseconds and against parameters (error bars: std over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for split in results["splits"]:
        folder = fs.join(out_dir, split)
        curves = {
            variant: {
                "success_auc": entry["splits"][split]["success_auc"]["mean"],
                "precision": entry["splits"][split]["precision"]["mean"],
                "success_curve": entry["splits"][split]["success_curve"],
                "precision_curve": entry["splits"][split]["precision_curve"],
            }
            for variant, entry in results["variants"].items()
        }
        paths += plot_curves(curves, folder, title=f"({split}, mean of seeds)")
    split = results["splits"][0]
    for cost, label, name in (
        ("search_ms", "search call (ms, batch 1)", "auc_vs_search_ms.png"),
        ("params", "parameters", "auc_vs_params.png"),
    ):
        figure, axis = plt.subplots(figsize=(5, 4))
        for variant, entry in results["variants"].items():
            stats = entry["splits"][split]["success_auc"]
            axis.errorbar(entry[cost], stats["mean"], yerr=stats["std"], fmt="o", capsize=3,
                          label=variant)  # fmt: skip
        axis.set_xlabel(label)
        axis.set_ylabel(f"success AUC ({split})")
        if cost == "params":
            axis.set_xscale("log")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
        axis.set_title(f"AUC vs {label.split(' (')[0]}")
        path = fs.join(out_dir, name)
        save_figure(figure, path)
        paths.append(path)
    return paths


def write_results(workdir: str, config, splits: list[str], seconds: float | None = None) -> dict:
    """Writes ``results.json``, ``results.md`` and ``plots/``; returns the results."""
    results = collect(workdir, config, splits)
    if seconds is not None:
        results["seconds"] = round(float(seconds), 1)
    results["plots"] = plot(results, fs.join(workdir, "plots"))
    results["plots"] += plot_centre_bias(results, fs.join(workdir, "plots"))
    fs.write_json(fs.join(workdir, "results.json"), results)
    fs.write_text(fs.join(workdir, "results.md"), markdown(results))
    return results
