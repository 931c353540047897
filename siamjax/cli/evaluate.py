"""``siamjax eval``: a tracker over a benchmark, pysot-format result files."""

from __future__ import annotations

from siamjax.cli.common import (
    CommandError,
    add_backend_argument,
    add_config_argument,
    add_dataset_arguments,
    add_precision_arguments,
    add_subcommand,
    add_video_names_argument,
    load_videos,
    tracker_from_args,
)


def add_parser(subcommands) -> None:
    parser = add_subcommand(
        subcommands,
        "eval",
        help="run a tracker over a benchmark and write pysot-format results",
        description=(
            "One-pass evaluation (OTB, LaSOT, GOT-10k, TrackingNet, VOT2018-LT, custom) or "
            "the VOT reset protocol (VOT2016/2018/2019). "
            "Videos with a finished result file in --out are skipped, so an interrupted run "
            "resumes. --batch N steps N videos in lockstep through one network call."
        ),
    )
    add_config_argument(parser)
    parser.add_argument("--checkpoint", required=True, help="orbax checkpoint directory")
    add_dataset_arguments(parser)
    parser.add_argument("--out", required=True, help="result folder of this tracker")
    parser.add_argument("--batch", type=int, default=1, help="videos tracked in lockstep")
    add_backend_argument(parser)
    add_precision_arguments(parser)
    add_video_names_argument(parser)
    parser.set_defaults(handler=run)


def run(args, overrides) -> int:
    from siamjax.datasets import dataset_spec
    from siamjax.datasets.benchmark_layout import BenchmarkError
    from siamjax.eval.runner import run_batched, run_sequential
    from siamjax.tracking import BatchedTracker

    videos = load_videos(args)
    _, tracker = tracker_from_args(args, overrides)
    try:
        if args.batch > 1:
            done = run_batched(BatchedTracker(tracker, args.batch), videos, args.out, args.dataset)
        else:
            done = run_sequential(tracker, videos, args.out, args.dataset)
    except BenchmarkError as error:
        raise CommandError(str(error)) from error
    skipped = len(videos) - len(done)
    print(f"{args.dataset}: tracked {len(done)} videos, {skipped} already done -> {args.out}")
    if dataset_spec(args.dataset).submission and not all(v.labelled for v in videos):
        from siamjax.eval.results import submission_archive

        archive = submission_archive(args.out, args.dataset, [v.name for v in videos])
        print(f"submission archive for the {args.dataset} server: {archive}")
    return 0
