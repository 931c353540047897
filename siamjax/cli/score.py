"""``siamjax score``: result folders -> the benchmark's metrics, tables and plots."""

from __future__ import annotations

import os

from siamjax.cli.common import CommandError, add_dataset_arguments, add_subcommand, load_videos


def add_parser(subcommands) -> None:
    parser = add_subcommand(
        subcommands,
        "score",
        help="score result folders: AUC / precision, VOT A-R-EAO or LT F-score, plots",
        description=(
            "Score one or more trackers' result folders on the same benchmark as pysot's "
            "toolkit does (one-pass: success AUC, precision at 20 px, normalised precision; "
            "VOT: accuracy, robustness, EAO; VOT2018-LT: precision, recall, F) and write "
            "scores.json, scores.md and the success/precision or EAO plots to --report. "
            "--protocol got10k or vot-toolkit scores under those toolkits' conventions "
            "instead (docs/parity.md, 'Toolkit conventions'; no plots)."
        ),
    )
    add_dataset_arguments(parser)
    parser.add_argument("--results", nargs="+", required=True, help="result folders (name=path ok)")
    parser.add_argument("--report", help="folder for scores.json / scores.md / plots")
    parser.add_argument(
        "--protocol",
        choices=("pysot", "got10k", "vot-toolkit"),
        default="pysot",
        help="whose conventions: pysot's toolkit, the got10k toolkit (OPE, GOT-10k AO/SR, "
        "VOT A/R) or the Python VOT toolkit (VOT A/R/EAO)",
    )
    parser.set_defaults(handler=run)


def run(args, overrides) -> int:
    from siamjax.datasets.benchmark_layout import BenchmarkError
    from siamjax.eval.report import markdown_table, score_any, write_report

    videos = load_videos(args)
    unlabelled = [video.name for video in videos if not video.labelled]
    if unlabelled:
        raise CommandError(
            f"{args.dataset} at {args.data_dir} has no public labels for {len(unlabelled)} "
            f"videos (e.g. {unlabelled[0]}); submit the archive `siamjax eval` wrote instead"
        )
    result_dirs = {}
    for entry in args.results:
        name, _, path = entry.rpartition("=") if "=" in entry else ("", "", entry)
        name = name or os.path.basename(os.path.normpath(path))
        if name in result_dirs:
            raise CommandError(f"two result folders are named {name!r}; use name=path")
        result_dirs[name] = path
    if args.protocol != "pysot":
        return _run_convention(args, videos, result_dirs)
    try:
        mode, summary = score_any(videos, args.dataset, result_dirs)
    except BenchmarkError as error:
        raise CommandError(str(error)) from error
    print(markdown_table(summary, mode), end="")
    if args.report:
        written = write_report(summary, args.report, title=args.dataset, mode=mode)
        print(f"report: {written['json']}, {written['markdown']}, {', '.join(written['plots'])}")
    return 0


def _run_convention(args, videos, result_dirs) -> int:
    import json

    from siamjax import fs
    from siamjax.datasets.benchmark_layout import BenchmarkError
    from siamjax.eval.conventions import score_with

    try:
        summary, table = score_with(args.protocol, videos, args.dataset, result_dirs)
    except BenchmarkError as error:
        raise CommandError(str(error)) from error
    print(table, end="")
    if args.report:
        fs.makedirs(args.report)
        json_path, md_path = fs.join(args.report, "scores.json"), fs.join(args.report, "scores.md")
        fs.write_text(
            json_path, json.dumps({"protocol": args.protocol, "scores": summary}, indent=2)
        )
        fs.write_text(md_path, table)
        print(f"report: {json_path}, {md_path}")
    return 0
