"""``siamjax experiment``: train variants x seeds on the same data and budget, then compare."""

from __future__ import annotations

from siamjax.cli.common import CommandError, add_config_argument, add_subcommand


def add_parser(subcommands) -> None:
    parser = add_subcommand(
        subcommands,
        "experiment",
        help="train every variant x seed of an experiment config alike and compare them",
        description=(
            "Train each variant of config.experiment.variants with each seed on the same "
            "prepared data, schedule and budget (a variant's seeds as one seed-ensemble "
            "step), track the held-out split (and each --dataset given) with every run, and "
            "write WORKDIR/results.json, results.md and plots/: mean +- std over seeds and a "
            "paired bootstrap interval over sequences against the baseline. Re-running "
            "resumes: finished runs are kept, so adding a variant trains only that one."
        ),
    )
    add_config_argument(parser)
    parser.add_argument("--workdir", required=True, help="everything goes here")
    parser.add_argument(
        "--add",
        action="append",
        metavar="MODULE_OR_FILE",
        help="import a module or .py file and add every correlation variant it registers "
        "to the comparison (repeatable)",
    )
    parser.add_argument(
        "--dataset",
        action="append",
        help="also evaluate on this one-pass benchmark (OTB100, LaSOT, ...; repeatable, "
        "each with a --data-dir)",
    )
    parser.add_argument("--data-dir", action="append", help="the benchmark's folder")
    parser.add_argument(
        "--distributed",
        choices=("off", "auto", "explicit"),
        default="off",
        help="split the runs over processes: 'auto' reads SLURM's task id and count, "
        "'explicit' takes --num-processes and --process-id; each process trains its "
        "share on its own devices and process 0 writes the report",
    )
    parser.add_argument("--num-processes", type=int, help="processes sharing --workdir")
    parser.add_argument("--process-id", type=int, help="this process's index")
    parser.set_defaults(handler=run)


def process_share(mode: str, num_processes=None, process_id=None) -> tuple[int, int]:
    """(process index, process count) of this experiment process. Unlike ``train``, the
    processes do not form one JAX runtime: each trains whole runs on its own devices."""
    from siamjax.cluster import ClusterError, resolve_cluster

    if mode == "explicit":
        if num_processes is None or process_id is None:
            raise CommandError("--distributed explicit needs --num-processes and --process-id")
        if not 0 <= process_id < num_processes:
            raise CommandError(f"--process-id {process_id} is not in [0, {num_processes})")
        return process_id, num_processes
    try:
        cluster = resolve_cluster(mode)
    except ClusterError as error:
        raise CommandError(str(error)) from error
    if cluster.source == "single":
        return 0, 1
    if cluster.source != "slurm":
        raise CommandError(
            "--distributed auto found no SLURM task variables; on other clusters give each "
            "process --distributed explicit --num-processes N --process-id I"
        )
    return cluster.process_id, cluster.num_processes


def run(args, overrides) -> int:
    from siamjax.experiment.plan import ExperimentError, import_variant_module
    from siamjax.experiment.runner import run_experiment
    from siamjax.loading import resolve_config

    datasets, data_dirs, added = args.dataset or [], args.data_dir or [], args.add or []
    if len(datasets) != len(data_dirs):
        raise CommandError(
            f"give one --data-dir per --dataset ({len(datasets)} datasets, "
            f"{len(data_dirs)} folders)"
        )
    process_index, process_count = process_share(
        args.distributed, args.num_processes, args.process_id
    )
    config = resolve_config(args.config, overrides)
    if "experiment" not in config:
        raise CommandError(
            f"{args.config} has no 'experiment' section; use an experiment config such as "
            "configs/experiments/correlation_zoo.py"
        )
    try:
        with config.unlocked():
            for spec in tuple(config.experiment.imports):
                import_variant_module(spec)
            for spec in added:
                added = import_variant_module(spec)
                if not added:
                    raise ExperimentError(f"--add {spec}: it registers no new correlation")
                config.experiment.imports = tuple(config.experiment.imports) + (spec,)
                config.experiment.variants = tuple(config.experiment.variants) + tuple(
                    name for name in added if name not in config.experiment.variants
                )
        benchmarks = list(zip(datasets, data_dirs, strict=True))
        run_experiment(config, args.workdir, benchmarks, process_index, process_count)
    except ExperimentError as error:
        raise CommandError(str(error)) from error
    return 0
