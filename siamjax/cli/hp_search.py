"""``siamjax hp-search``: grid search of the tracker's penalty / window / lr on a benchmark."""

from __future__ import annotations

from siamjax import fs
from siamjax.cli.common import (
    CommandError,
    add_backend_argument,
    add_config_argument,
    add_dataset_arguments,
    add_subcommand,
    add_video_names_argument,
    load_videos,
    tracker_from_args,
)


def add_parser(subcommands) -> None:
    parser = add_subcommand(
        subcommands,
        "hp-search",
        help="grid-search penalty_k / window_influence / lr on a benchmark",
        description=(
            "Track the benchmark under every combination of the given values (the config's "
            "value where a list is not given), the settings of a chunk side by side in one "
            "batched network call per frame; score each and print them best first. Results "
            "go to --out/<setting>/, finished (setting, video) pairs are skipped on a rerun."
        ),
    )
    add_config_argument(parser)
    parser.add_argument("--checkpoint", required=True, help="orbax checkpoint directory")
    add_dataset_arguments(parser)
    parser.add_argument("--out", required=True, help="folder for the per-setting results")
    parser.add_argument("--penalty-k", help="comma-separated values")
    parser.add_argument("--window-influence", help="comma-separated values")
    parser.add_argument("--lr", help="comma-separated values")
    parser.add_argument("--batch", type=int, default=8, help="settings tracked side by side")
    add_backend_argument(parser)
    add_video_names_argument(parser)
    parser.set_defaults(handler=run)


def _float_list(text, default, flag):
    if not text:
        return [default]
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise CommandError(f"{flag} must be comma-separated numbers, got {text!r}") from None


def run(args, overrides) -> int:
    from siamjax.datasets.benchmark_layout import BenchmarkError
    from siamjax.eval.hp_search import grid, run_search
    from siamjax.eval.report import markdown_table, score_any

    videos = load_videos(args)
    config, tracker = tracker_from_args(args, overrides)
    settings = grid(
        _float_list(args.penalty_k, config.track.penalty_k, "--penalty-k"),
        _float_list(args.window_influence, config.track.window_influence, "--window-influence"),
        _float_list(args.lr, config.track.lr, "--lr"),
    )
    print(f"{len(settings)} settings x {len(videos)} videos, {args.batch} settings per call")
    try:
        folders = run_search(tracker, videos, args.dataset, args.out, settings, args.batch)
        mode, summary = score_any(videos, args.dataset, folders)
    except BenchmarkError as error:
        raise CommandError(str(error)) from error
    print(markdown_table(summary, mode), end="")
    fs.write_json(fs.join(args.out, "search.json"), {"settings": settings, "scores": summary})
    return 0
