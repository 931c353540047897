"""``siamjax train``: train (or resume) from prepared TFRecords, on one host or many."""

from __future__ import annotations

from siamjax.cli.common import EXIT_PREEMPTED, CommandError, add_config_argument, add_subcommand


def add_parser(subcommands) -> None:
    parser = add_subcommand(
        subcommands,
        "train",
        help="train (or resume) a tracker from prepared TFRecords",
        description=(
            "Train with the config's recipe on all devices of all processes (data parallel "
            "over a device mesh). Re-running the same command resumes from the newest "
            "checkpoint in --workdir; SIGTERM saves before exiting. The final weights go to "
            "WORKDIR/model, loadable by `siamjax track/eval --checkpoint`."
        ),
    )
    add_config_argument(parser)
    parser.add_argument("--workdir", required=True, help="checkpoints and logs (may be gs://)")
    parser.add_argument("--max-steps", type=int, help="stop at this step (default: all epochs)")
    parser.add_argument(
        "--distributed",
        choices=("off", "auto", "explicit"),
        default="off",
        help="multi-process: 'auto' (SLURM tasks, TPU pods: detected from the "
        "environment, siamjax/cluster.py) or 'explicit' (--coordinator, --num-processes, "
        "--process-id)",
    )
    parser.add_argument("--coordinator", help="host:port of process 0 (explicit mode)")
    parser.add_argument("--num-processes", type=int, help="processes in the run (explicit mode)")
    parser.add_argument("--process-id", type=int, help="this process's index (explicit mode)")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="every process prints its resolved cluster, backend policy, mesh, per-host "
        "batch, shard files and first checkpoint path, then exits without training",
    )
    parser.set_defaults(handler=run)


def initialise_distributed(mode, coordinator=None, num_processes=None, process_id=None):
    """Resolves the launch (``siamjax/cluster.py``) and initialises ``jax.distributed``
    with it (before any other jax use); returns the resolved ``Cluster``."""
    from siamjax.cluster import ClusterError, initialize, resolve_cluster

    try:
        cluster = resolve_cluster(mode, coordinator, num_processes, process_id)
    except ClusterError as error:
        raise CommandError(str(error)) from error
    initialize(cluster)
    return cluster


def run(args, overrides) -> int:
    cluster = initialise_distributed(args.distributed, args.coordinator, args.num_processes,
                                     args.process_id)  # fmt: skip
    from siamjax.data.sources import DataError
    from siamjax.loading import resolve_config
    from siamjax.train.loop import train

    config = resolve_config(args.config, overrides)
    for part in ("input", "train"):
        if part not in config:
            raise CommandError(
                f"{args.config} has no '{part}' section; use a training config such as "
                "configs/siamrpn_r50_l234_dwxcorr_8gpu.py or configs/quickstart.py"
            )
    if args.dry_run:
        from siamjax.train.dry_run import describe_launch

        try:
            lines = describe_launch(config, args.workdir, cluster, args.max_steps)
        except ValueError as error:
            raise CommandError(str(error)) from error
        print("\n".join(lines), flush=True)
        return 0
    try:
        summary = train(config, args.workdir, max_steps=args.max_steps)
    except (DataError, ValueError, FileNotFoundError) as error:
        raise CommandError(str(error)) from error
    print(f"{summary['status']} at step {summary['step']} ({summary['skipped']} updates skipped)")
    if summary["status"] == "preempted":
        return EXIT_PREEMPTED  # saved; the launchers requeue on this code
    return 0
