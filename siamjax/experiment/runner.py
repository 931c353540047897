"""``siamjax experiment``: train every variant × seed on the same data and budget, evaluate,
compare.

    WORKDIR/experiment.json            the shared config (a changed one is refused)
    WORKDIR/data/                      synthetic sequences and the prepared train split
    WORKDIR/train/<variant>/seeds_*/   checkpoints and logs of one training unit
    WORKDIR/runs/<variant>/seed<s>/    run.json (scores per split) and tracking results
    WORKDIR/runs/<variant>/costs.json  parameters and search-call milliseconds
    WORKDIR/results.json, results.md, plots/

Every stage resumes: a finished run (``run.json``) is never trained again, an interrupted
training unit continues from its checkpoint and tracking from its finished sequences.
Several processes (``process_count``) split the units between them; process 0 then waits
for the others' runs and writes the report.
"""

from __future__ import annotations

import time

import jax
import numpy as np

from siamjax import fs
from siamjax.datasets import Protocol, dataset_spec, load_benchmark
from siamjax.eval.report import score_trackers
from siamjax.experiment import centre_bias, plan
from siamjax.experiment.costs import parameter_counts, search_milliseconds
from siamjax.experiment.plan import ExperimentError, Unit, run_dir
from siamjax.experiment.report import markdown, write_results
from siamjax.loading import load_checkpoint
from siamjax.prep.prepare import prepare
from siamjax.prep.synthetic import generate
from siamjax.quickstart import add_elapsed, evaluate_variables
from siamjax.train.loop import train

HELD_OUT = "held_out"


def _stage(text: str) -> None:
    print(f"\n== {text}", flush=True)


def finished_runs(workdir: str, experiment) -> set[tuple[str, int]]:
    """(variant, seed) pairs of ``experiment`` whose ``run.json`` exists."""
    return {
        (variant, int(seed))
        for variant in experiment.variants
        for seed in experiment.seeds
        if fs.exists(fs.join(run_dir(workdir, variant, int(seed)), "run.json"))
    }


def prepare_data(workdir: str, config, process_index: int) -> tuple[str, str]:
    """The prepared train split and the held-out sequences folder: the config's, or
    synthetic ones generated under ``WORKDIR/data`` (by process 0; the others wait)."""
    data = config.experiment.data
    if data.prepared:
        if not data.held_out:
            raise ExperimentError(
                "config.experiment.data.prepared is set but data.held_out is empty: "
                "give the held-out sequences (siamjax's custom layout) too"
            )
        return str(data.prepared), str(data.held_out)
    if int(data.synthetic_videos) < 1:
        raise ExperimentError(
            "config.experiment.data.prepared is empty and data.synthetic_videos is 0: give "
            "the prepared train split and the held-out sequences (--config.experiment.data."
            "prepared=... --config.experiment.data.held_out=...)"
        )
    raw = fs.join(workdir, "data", "raw")
    prepared = fs.join(workdir, "data", "train")
    ready = fs.join(workdir, "data", "ready")
    if process_index == 0:
        if not fs.exists(ready):
            if not fs.isdir(fs.join(raw, "test")):
                _stage(f"generating {data.synthetic_videos} synthetic sequences -> {raw}")
                generate(raw, videos=int(data.synthetic_videos), seed=int(data.seed))
            _stage(f"preparing the train split -> {prepared}")
            prepare("custom", fs.join(raw, "train"), prepared, workers=2)
            fs.write_json(ready, {"videos": int(data.synthetic_videos)})
    else:
        _wait_for([ready], "the data process 0 prepares", float(config.experiment.wait_minutes))
    return prepared, fs.join(raw, "test")


def _wait_for(paths: list[str], what: str, minutes: float) -> None:
    deadline = time.time() + minutes * 60
    announced = False
    while not all(fs.exists(path) for path in paths):
        if time.time() > deadline:
            missing = [path for path in paths if not fs.exists(path)]
            raise ExperimentError(
                f"waited {minutes:g} minutes for {what}; still missing: {', '.join(missing[:3])}"
                " (re-run the command to resume)"
            )
        if not announced:
            print(f"waiting for {what}", flush=True)
            announced = True
        time.sleep(5)


def _train_unit(workdir: str, config, unit: Unit) -> dict:
    """Trains ``unit`` (or resumes it); returns {seed: model directory}."""
    run_config = plan.variant_config(config, unit.variant)
    train_dir = fs.join(workdir, "train", unit.name)
    devices = jax.local_devices()
    if int(config.experiment.devices):
        devices = devices[: int(config.experiment.devices)]
    # A unit's seeds train as one seed ensemble (one seed when experiment.ensemble is off).
    summary = train(run_config, train_dir, seeds=list(unit.seeds), devices=devices)
    if summary["status"] != "finished":
        raise RuntimeError(f"training {unit.name} stopped early ({summary['status']})")
    return dict(summary["model_dirs"])


def evaluation_splits(config, held_out_dir: str, benchmarks) -> dict:
    """{split name: (dataset, videos)}: the held-out split, then each extra benchmark."""
    count = int(config.experiment.max_eval_videos)
    splits = {HELD_OUT: ("custom", load_benchmark("custom", held_out_dir))}
    for dataset, data_dir in benchmarks:
        if dataset_spec(dataset, "eval").protocol is not Protocol.ONE_PASS:
            raise ExperimentError(
                f"--dataset {dataset}: experiments compare one-pass success AUC; "
                f"{dataset} is scored by another protocol"
            )
        splits[dataset] = (dataset, load_benchmark(dataset, data_dir))
    if count:
        splits = {name: (dataset, videos[:count]) for name, (dataset, videos) in splits.items()}
    for name, (_, videos) in splits.items():
        if not videos:
            raise ExperimentError(f"the {name} split has no sequences")
    return splits


def _evaluate_run(workdir: str, config, variant: str, seed: int, variables, splits) -> dict:
    """Tracks every split with one run's weights; returns its scores per split."""
    run_config = plan.variant_config(config, variant)
    scores = {}
    for split, (dataset, videos) in splits.items():
        results = fs.join(run_dir(workdir, variant, seed), split)
        evaluate_variables(
            run_config, variables, videos, results, dataset, int(config.experiment.eval_batch)
        )
        summary = score_trackers(videos, dataset, {"run": results})["run"]
        scores[split] = {
            key: summary[key]
            for key in (
                "success_auc",
                "precision",
                "norm_precision",
                "success_curve",
                "precision_curve",
                "videos",
            )  # fmt: skip
        }
    return scores


def _probe_centre_bias(config, variant: str, variables, splits) -> dict:
    """``centre_bias.probe`` on the held-out split, as lists for run.json."""
    settings = config.experiment.centre_bias
    _, videos = splits[HELD_OUT]
    probes = centre_bias.probe(plan.variant_config(config, variant), variables, videos,
                               float(settings.shift), int(settings.per_video))  # fmt: skip
    return {key: np.asarray(value).tolist() for key, value in probes.items()}


def _measure_costs(workdir: str, config, variant: str, variables) -> None:
    """``runs/<variant>/costs.json`` once per variant (parameters, search ms)."""
    path = fs.join(workdir, "runs", variant, "costs.json")
    if fs.exists(path):
        return
    run_config = plan.variant_config(config, variant)
    costs = parameter_counts(variables)
    costs["search_ms"] = search_milliseconds(
        run_config, variables, int(config.experiment.timing_calls)
    )
    fs.write_json(path, costs)


def run_unit(workdir: str, config, unit: Unit, splits) -> None:
    """Trains one unit, then evaluates and records each of its runs."""
    started = time.time()
    _stage(f"training {unit.variant}, seeds {list(unit.seeds)}")
    models = _train_unit(workdir, config, unit)
    train_seconds = time.time() - started
    for seed in unit.seeds:
        variables = load_checkpoint(models[seed])
        _stage(f"evaluating {unit.variant} seed {seed}")
        scores = _evaluate_run(workdir, config, unit.variant, seed, variables, splits)
        _measure_costs(workdir, config, unit.variant, variables)
        run = {
            "variant": unit.variant,
            "seed": int(seed),
            "trained_with": list(unit.seeds),
            "train_seconds": round(train_seconds, 1),
            "model_dir": models[seed],
            "scores": scores,
        }
        if config.experiment.get("centre_bias"):
            run["centre_bias"] = _probe_centre_bias(config, unit.variant, variables, splits)
        fs.write_json(fs.join(run_dir(workdir, unit.variant, seed), "run.json"), run)
        line = ", ".join(f"{name} AUC {value['success_auc']:.3f}" for name, value in scores.items())
        print(f"{unit.variant} seed {seed}: {line}", flush=True)


def complete_splits(workdir: str, config, splits) -> None:
    """Evaluates finished runs on the splits they lack (a ``--dataset`` added after they
    were trained), from their saved weights, and records the scores in their run.json."""
    experiment = config.experiment
    for variant in experiment.variants:
        for seed in experiment.seeds:
            path = fs.join(run_dir(workdir, variant, int(seed)), "run.json")
            run = fs.read_json(path)
            missing = {name: split for name, split in splits.items() if name not in run["scores"]}
            if not missing:
                continue
            _stage(f"evaluating {variant} seed {seed} on {', '.join(missing)}")
            variables = load_checkpoint(run["model_dir"])
            run["scores"].update(
                _evaluate_run(workdir, config, variant, int(seed), variables, missing)
            )
            fs.write_json(path, run)


def run_experiment(config, workdir: str, benchmarks=(), process_index: int = 0,
                   process_count: int = 1) -> dict | None:  # fmt: skip
    """Runs this process's share of the experiment and, on process 0, the report.

    Args:
      config: an experiment config (``configs/experiments/*.py``): a training recipe plus
        ``config.experiment``.
      workdir: everything goes here; re-running resumes.
      benchmarks: ``[(dataset, data_dir)]`` one-pass benchmarks to evaluate on as well.
      process_index, process_count: this process among several sharing ``workdir``.

    Returns:
      The results dict (process 0), or None (other processes).
    """
    started = time.time()
    experiment = config.experiment
    plan.check_variants(experiment, config)
    if process_index == 0:
        plan.check_workdir_config(workdir, config)
    prepared, held_out = prepare_data(workdir, config, process_index)
    with config.unlocked():
        config.input.datasets[0].path = prepared
        config.input.seed = int(experiment.data.seed)
    splits = evaluation_splits(config, held_out, benchmarks)

    units = plan.plan_units(experiment, finished_runs(workdir, experiment))
    mine = plan.assign(units, process_index, process_count)
    done = len(experiment.variants) * len(experiment.seeds) - sum(len(u.seeds) for u in units)
    print(
        f"experiment {config.name}: {len(experiment.variants)} variants x "
        f"{len(experiment.seeds)} seeds, {done} runs finished earlier, {len(units)} training "
        f"units left; this process ({process_index} of {process_count}) runs "
        f"{[unit.name for unit in mine]}",
        flush=True,
    )
    try:
        for unit in mine:
            run_unit(workdir, config, unit, splits)
    finally:
        elapsed = add_elapsed(workdir, time.time() - started, f"elapsed_seconds.{process_index}")
    if process_index != 0:
        print("this process's runs are done; process 0 writes the report", flush=True)
        return None
    expected = [
        fs.join(run_dir(workdir, variant, int(seed)), "run.json")
        for variant in experiment.variants
        for seed in experiment.seeds
    ]
    _wait_for(expected, "the other processes' runs", float(experiment.wait_minutes))
    complete_splits(workdir, config, splits)
    _stage("comparing")
    results = write_results(workdir, config, list(splits), seconds=elapsed)
    print(markdown(results), flush=True)  # what results.md holds, without re-reading it
    return results
