"""The ``siamjax`` console command. Subcommands: ``info``, ``convert``, ``track``, ``eval``,
``score``, ``hp-search``, ``prep``, ``check-data``, ``train``, ``quickstart``.

Every subcommand takes ``--config path.py[:arg]`` plus any ``--config.a.b=value``
overrides of that config.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys

from siamjax.config_loader import ConfigError, apply_overrides, load_config, split_config_args

# `siamjax train` stopped by SIGTERM after saving a checkpoint: BSD's EX_TEMPFAIL, "try
# again later". The launchers requeue / rerun on it; 0 means the schedule finished.
EXIT_PREEMPTED = 75


class CommandError(Exception):
    """A user error: printed without a traceback, exit status 2."""


def _add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        required=True,
        help="config file, e.g. configs/siamrpn_r50_l234_dwxcorr.py; "
        "override fields with --config.a.b=value",
    )


class _HelpFormatter(argparse.HelpFormatter):
    """Each option's default where it has a real one."""

    def _get_help_string(self, action):
        help_text = action.help or ""
        default = action.default
        if (
            "%(default)" in help_text
            or default is None
            or default is False
            or (default == argparse.SUPPRESS)
        ):
            return help_text
        if action.option_strings:
            return f"{help_text} (default: %(default)s)"
        return help_text


def _subcommand(subcommands, name: str, **kwargs):
    return subcommands.add_parser(name, formatter_class=_HelpFormatter, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="siamjax",
        description="SiamRPN++ in JAX/Flax: convert, track, evaluate and train.",
    )
    subcommands = parser.add_subparsers(dest="command", required=True)

    info = _subcommand(
        subcommands,
        "info",
        help="build a config's model, print its parts and run one forward",
        description=(
            "Build the model a config describes, print parameter counts per part and the "
            "feature-map sizes, and run one template + search forward on random BGR crops "
            "(or on the weights of --checkpoint)."
        ),
    )
    _add_config_argument(info)
    info.add_argument("--checkpoint", help="orbax checkpoint directory (default: random init)")
    info.add_argument("--batch", type=int, default=1, help="batch size of the forward")
    info.set_defaults(handler=run_info)

    convert = _subcommand(
        subcommands,
        "convert",
        help="convert a pysot .pth checkpoint into an orbax checkpoint",
        description=(
            "Convert pysot weights without PyTorch. --pysot takes a released tracker model "
            "(state_dict or {'state_dict': ...}) and requires every key to match the config's "
            "architecture; --imagenet takes an ImageNet backbone for training initialisation, "
            "loads the keys that match and lists everything it did not map."
        ),
    )
    source = convert.add_mutually_exclusive_group(required=True)
    source.add_argument("--pysot", metavar="MODEL.pth", help="pysot tracker checkpoint")
    source.add_argument("--imagenet", metavar="BACKBONE.pth", help="ImageNet backbone checkpoint")
    _add_config_argument(convert)
    convert.add_argument("--out", required=True, help="output orbax checkpoint directory")
    convert.add_argument("--force", action="store_true", help="replace --out if it exists")
    convert.add_argument(
        "--seed", type=int, default=0, help="init seed for what --imagenet does not load"
    )
    convert.add_argument("--report", help="write the --imagenet mapping report to this JSON file")
    convert.set_defaults(handler=run_convert)

    track = _subcommand(
        subcommands,
        "track",
        help="track one target through a video, a frame folder or a camera",
        description=(
            "Run the config's tracker from --init (x,y,w,h in pixels of the first frame; "
            "without it and with a display, draw the box). Prints fps; --out writes an "
            "annotated mp4, --boxes one x,y,w,h line per frame (the first is the init box)."
        ),
    )
    _add_config_argument(track)
    track.add_argument("--checkpoint", required=True, help="orbax checkpoint directory")
    track.add_argument("--video", required=True, help="video file, frame folder or camera index")
    track.add_argument("--init", help="initial box x,y,w,h")
    track.add_argument(
        "--init-convention",
        choices=("raw", "toolkit"),
        default="raw",
        help="'raw': track from --init as given (pysot's demo); 'toolkit': shift it as "
        "`siamjax eval` and pysot's test scripts do with ground truth (centre x + w/2, "
        "y + h/2), to reproduce an eval run's boxes",
    )
    track.add_argument("--out", help="annotated video to write (.mp4)")
    track.add_argument("--boxes", help="text file for the per-frame boxes")
    track.add_argument("--show", action="store_true", help="show frames in a window")
    track.set_defaults(handler=run_track)

    evaluate = _subcommand(
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
    _add_config_argument(evaluate)
    evaluate.add_argument("--checkpoint", required=True, help="orbax checkpoint directory")
    _add_dataset_arguments(evaluate)
    evaluate.add_argument("--out", required=True, help="result folder of this tracker")
    evaluate.add_argument("--batch", type=int, default=1, help="videos tracked in lockstep")
    evaluate.add_argument("--videos", help="comma-separated subset of video names")
    evaluate.set_defaults(handler=run_eval)

    score = _subcommand(
        subcommands,
        "score",
        help="score result folders: AUC / precision, VOT A-R-EAO or LT F-score, plots",
        description=(
            "Score one or more trackers' result folders on the same benchmark as pysot's "
            "toolkit does (one-pass: success AUC, precision at 20 px, normalised precision; "
            "VOT: accuracy, robustness, EAO; VOT2018-LT: precision, recall, F) and write "
            "scores.json, scores.md and the success/precision or EAO plots to --report."
        ),
    )
    _add_dataset_arguments(score)
    score.add_argument("--results", nargs="+", required=True, help="result folders (name=path ok)")
    score.add_argument("--report", help="folder for scores.json / scores.md / plots")
    score.set_defaults(handler=run_score)

    search = _subcommand(
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
    _add_config_argument(search)
    search.add_argument("--checkpoint", required=True, help="orbax checkpoint directory")
    _add_dataset_arguments(search)
    search.add_argument("--out", required=True, help="folder for the per-setting results")
    search.add_argument("--penalty-k", help="comma-separated values")
    search.add_argument("--window-influence", help="comma-separated values")
    search.add_argument("--lr", help="comma-separated values")
    search.add_argument("--batch", type=int, default=8, help="settings tracked side by side")
    search.add_argument("--videos", help="comma-separated subset of video names")
    search.set_defaults(handler=run_hp_search)

    prep = _subcommand(
        subcommands,
        "prep",
        help="raw dataset -> 511 context crops in TFRecord shards (or: generate synthetic data)",
        description=(
            "Convert a dataset in its official layout into 511x511 context crops stored as "
            "TFRecord shards with per-shard indices and a manifest (counts, skipped items "
            "with reasons). Resumable: finished shards are not redone. Paths may be any "
            "tf.io.gfile URL. --dataset synthetic generates the synthetic dataset (custom "
            "layout, train/val/test) into --out instead."
        ),
    )
    prep.add_argument(
        "--dataset",
        required=True,
        help="vid, ytbb, coco, det, got10k, lasot, trackingnet, custom, or synthetic",
    )
    prep.add_argument("--src", help="raw dataset root (not for synthetic)")
    prep.add_argument("--out", required=True, help="output folder")
    prep.add_argument("--workers", type=int, default=1, help="worker processes")
    prep.add_argument("--videos-per-shard", type=int, help="videos per TFRecord shard")
    prep.add_argument("--limit", type=int, help="only the first N videos (sorted by name)")
    prep.add_argument("--videos", type=int, default=100, help="synthetic: number of videos")
    prep.add_argument("--seed", type=int, default=0, help="synthetic: random seed")
    prep.set_defaults(handler=run_prep)

    check = _subcommand(
        subcommands,
        "check-data",
        help="decode every record of a prepared folder and check every box",
        description="Exit status 1 if any record, shard or box has a problem.",
    )
    check.add_argument("path", help="a folder written by `siamjax prep`")
    check.set_defaults(handler=run_check_data)

    train = _subcommand(
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
    _add_config_argument(train)
    train.add_argument("--workdir", required=True, help="checkpoints and logs (may be gs://)")
    train.add_argument("--max-steps", type=int, help="stop at this step (default: all epochs)")
    train.add_argument(
        "--distributed",
        choices=("off", "auto", "explicit"),
        default="off",
        help="multi-process: 'auto' (SLURM tasks, TPU pods: detected from the "
        "environment, siamjax/cluster.py) or 'explicit' (--coordinator, --num-processes, "
        "--process-id)",
    )
    train.add_argument("--coordinator", help="host:port of process 0 (explicit mode)")
    train.add_argument("--num-processes", type=int, help="processes in the run (explicit mode)")
    train.add_argument("--process-id", type=int, help="this process's index (explicit mode)")
    train.add_argument(
        "--dry-run",
        action="store_true",
        help="every process prints its resolved cluster, backend policy, mesh, per-host "
        "batch, shard files and first checkpoint path, then exits without training",
    )
    train.set_defaults(handler=run_train)

    export = _subcommand(
        subcommands,
        "export",
        help="write the tracker network as jax.export artifacts for CPU, GPU and TPU",
        description=(
            "Lower the template and search functions, weights inside, for each platform "
            "with that platform's backend policy, and serialize them (jax.export) with a "
            "manifest.json. Works on a CPU-only machine; plain JAX loads and calls the "
            "artifacts (README, 'GPU and TPU')."
        ),
    )
    _add_config_argument(export)
    export.add_argument("--checkpoint", required=True, help="orbax checkpoint directory")
    export.add_argument("--out", required=True, help="output folder (may be gs://)")
    export.add_argument(
        "--platforms",
        default="cpu,cuda,tpu",
        help="comma-separated platforms to lower for (cpu, cuda, rocm, tpu); default: %(default)s",
    )
    export.add_argument(
        "--batch-sizes",
        default="1",
        help="comma-separated batch sizes, one artifact each; default: %(default)s",
    )
    export.set_defaults(handler=run_export)

    quickstart = _subcommand(
        subcommands,
        "quickstart",
        help="synthetic data -> TFRecords -> train a small model -> evaluate (no data needed)",
        description=(
            "Generate the synthetic dataset, prepare its train split, train "
            "configs/quickstart.py on the CPU, track the held-out test split with the trained "
            "model, the untrained model and a static baseline, and write DIR/report.json and "
            "plots. About 10 minutes on 2 CPU cores. Re-running resumes."
        ),
    )
    quickstart.add_argument("--workdir", required=True, help="everything goes here")
    quickstart.add_argument("--config", help="training config (default: configs/quickstart.py)")
    quickstart.add_argument("--videos", type=int, default=300, help="synthetic sequences")
    quickstart.add_argument("--seed", type=int, default=0, help="synthetic data seed")
    quickstart.add_argument("--max-steps", type=int, help="stop training at this step")
    quickstart.add_argument("--workers", type=int, default=2, help="prep worker processes")
    quickstart.set_defaults(handler=run_quickstart)
    return parser


def run_export(args, overrides) -> int:
    from siamjax.backend import resolve_policy
    from siamjax.export import export_tracker, parse_platforms
    from siamjax.models import build_model

    try:
        platforms = parse_platforms(args.platforms)
    except ValueError as error:
        raise CommandError(str(error)) from error
    sizes = [size.strip() for size in args.batch_sizes.split(",")]
    if not all(size.isdigit() and int(size) > 0 for size in sizes):
        raise CommandError(f"--batch-sizes {args.batch_sizes!r}: expected positive integers")
    batch_sizes = tuple(int(size) for size in sizes)
    config = apply_overrides(load_config(args.config), overrides)
    model = build_model(config.model, resolve_policy(config).formulation)
    variables = _checked_variables(args.checkpoint, model)
    manifest = export_tracker(config, variables, args.out, platforms, batch_sizes)
    print(f"{len(manifest['artifacts'])} artifacts and manifest.json written to {args.out}")
    return 0


def run_quickstart(args, overrides) -> int:
    from siamjax.quickstart import DEFAULT_CONFIG, run_quickstart

    config = apply_overrides(load_config(args.config or DEFAULT_CONFIG), overrides)
    report = run_quickstart(args.workdir, config, args.videos, args.seed, args.max_steps,
                            args.workers)  # fmt: skip
    # Non-zero when the trained tracker missed the bar: scripts and CI see a failed run.
    return 0 if report["training_worked"] else 1


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


def run_train(args, overrides) -> int:
    cluster = initialise_distributed(args.distributed, args.coordinator, args.num_processes,
                                     args.process_id)  # fmt: skip
    from siamjax.data.sources import DataError
    from siamjax.train.loop import train

    config = apply_overrides(load_config(args.config), overrides)
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


def _add_dataset_arguments(parser) -> None:
    parser.add_argument("--dataset", required=True, help="OTB100, LaSOT, GOT-10k, custom, ...")
    parser.add_argument("--data-dir", required=True, help="the benchmark's root folder")


def _load_checkpoint(checkpoint: str) -> dict:
    """``load_variables`` with a one-line error naming the checkpoint."""
    from siamjax.checkpoints import load_variables

    try:
        return load_variables(checkpoint)
    except (FileNotFoundError, ValueError) as error:
        raise CommandError(f"{checkpoint}: cannot load checkpoint ({error})") from error


def _checked_variables(checkpoint: str, model) -> dict:
    """The variables of ``checkpoint`` after checking they fit ``model``; CommandError
    naming the checkpoint and the first mismatching parameter otherwise."""
    from siamjax.models import VariablesMismatch, check_variables

    variables = _load_checkpoint(checkpoint)
    try:
        check_variables(model, variables)
    except VariablesMismatch as error:
        raise CommandError(f"{checkpoint}: {error}") from None
    return variables


def _tracker_from_args(args, overrides):
    from siamjax.models import VariablesMismatch
    from siamjax.tracking import TrackerNetwork, build_tracker

    config = apply_overrides(load_config(args.config), overrides)
    variables = _load_checkpoint(args.checkpoint)
    try:
        # TrackerNetwork checks the variables against the config's model.
        return config, build_tracker(config, TrackerNetwork.from_config(config, variables))
    except VariablesMismatch as error:
        raise CommandError(f"{args.checkpoint}: {error}") from None
    except ValueError as error:
        raise CommandError(str(error)) from error


def _load_videos(args):
    from siamjax.eval.benchmarks import BenchmarkError, load_benchmark

    try:
        videos = load_benchmark(args.dataset, args.data_dir)
    except BenchmarkError as error:
        raise CommandError(str(error)) from error
    if getattr(args, "videos", None):
        wanted = [name.strip() for name in args.videos.split(",") if name.strip()]
        known = {video.name for video in videos}
        unknown = [name for name in wanted if name not in known]
        if unknown:
            raise CommandError(f"videos not in {args.dataset}: {', '.join(unknown)}")
        videos = [video for video in videos if video.name in wanted]
    return videos


def run_track(args, overrides) -> int:
    from siamjax.demo import SourceError, parse_box, run_demo
    from siamjax.tracking import BoxError

    try:
        init_box = parse_box(args.init) if args.init else None
        if init_box is not None and args.init_convention == "toolkit":
            from siamjax.eval.boxes import init_box as toolkit_init_box

            init_box = [float(v) for v in toolkit_init_box(init_box)]
        _, tracker = _tracker_from_args(args, overrides)
        boxes, fps = run_demo(tracker, args.video, init_box, args.out, args.boxes, args.show)
    except (SourceError, BoxError) as error:
        raise CommandError(str(error)) from error
    print(f"tracked {len(boxes)} frames at {fps:.1f} fps (network + host work)")
    if args.out:
        from siamjax.demo import video_codec

        print(f"  annotated video: {args.out} ({video_codec()[1]})")
    if args.boxes:
        print(f"  boxes: {args.boxes}")
    return 0


def run_eval(args, overrides) -> int:
    from siamjax.eval.benchmarks import BenchmarkError
    from siamjax.eval.runner import run_batched, run_sequential
    from siamjax.tracking import BatchedTracker

    videos = _load_videos(args)
    _, tracker = _tracker_from_args(args, overrides)
    try:
        if args.batch > 1:
            done = run_batched(BatchedTracker(tracker, args.batch), videos, args.out, args.dataset)
        else:
            done = run_sequential(tracker, videos, args.out, args.dataset)
    except BenchmarkError as error:
        raise CommandError(str(error)) from error
    skipped = len(videos) - len(done)
    print(f"{args.dataset}: tracked {len(done)} videos, {skipped} already done -> {args.out}")
    if args.dataset in ("GOT-10k", "TrackingNet") and not all(v.labelled for v in videos):
        from siamjax.eval.results import submission_archive

        archive = submission_archive(args.out, args.dataset, [v.name for v in videos])
        print(f"submission archive for the {args.dataset} server: {archive}")
    return 0


def _float_list(text, default, flag):
    if not text:
        return [default]
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise CommandError(f"{flag} must be comma-separated numbers, got {text!r}") from None


def run_hp_search(args, overrides) -> int:
    import json

    from siamjax.eval.benchmarks import BenchmarkError
    from siamjax.eval.hp_search import grid, run_search
    from siamjax.eval.report import markdown_table, score_any

    videos = _load_videos(args)
    config, tracker = _tracker_from_args(args, overrides)
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
    with open(f"{args.out}/search.json", "w") as stream:
        json.dump({"settings": settings, "scores": summary}, stream, indent=2)
    return 0


def run_prep(args, overrides) -> int:
    if args.dataset == "synthetic" and not args.src:
        from siamjax.prep.synthetic import generate

        written = generate(args.out, videos=args.videos, seed=args.seed)
        counts = ", ".join(f"{split} {len(names)}" for split, names in written.items())
        print(f"synthetic: {args.videos} videos ({counts}) in the custom layout -> {args.out}")
        print(f"  next: siamjax prep --dataset custom --src {args.out}/train --out DIR")
        return 0
    if not args.src:
        raise CommandError(f"--src is required for --dataset {args.dataset}")
    from siamjax.prep.prepare import PrepError, prepare

    try:
        manifest = prepare(
            args.dataset, args.src, args.out, args.workers, args.videos_per_shard, args.limit
        )
    except PrepError as error:
        raise CommandError(str(error)) from error
    counts = manifest["counts"]
    print(
        f"{args.dataset}: {counts['videos']} videos, {counts['tracks']} tracks, "
        f"{counts['frames']} frames, {counts['records']} crops in {len(manifest['shards'])} "
        f"shards ({manifest['resumed_shards']} already done) -> {args.out}"
    )
    if counts["skipped"]:
        print(f"  skipped {counts['skipped']} items (details in manifest.json):")
        for reason, number in manifest["skipped_by_reason"].items():
            print(f"    {number:6d}  {reason}")
        for entry in manifest["skipped"][:10]:
            print(f"    {entry['item']}: {entry['reason']}")
    if counts["converted"]:
        print(f"  converted {counts['converted']} images to 8-bit BGR (gray / RGBA / 16-bit)")
    return 0


def run_check_data(args, overrides) -> int:
    from siamjax.prep.check import check_folder

    report = check_folder(args.path)
    print(f"{args.path}: {report['shards']} shards, {report['records']} records")
    for name, count in sorted(report["per_dataset"].items()):
        print(f"  {name}: {count} records")
    if report["problems"]:
        count = len(report["problems"])
        print(f"{count} problem{'s' if count != 1 else ''}:")
        for item, reason in report["problems"][:50]:
            print(f"  {item}: {reason}")
        return 1
    print("ok: every record decodes and every box is valid")
    return 0


def run_score(args, overrides) -> int:
    import os

    from siamjax.eval.benchmarks import BenchmarkError
    from siamjax.eval.report import markdown_table, score_any, write_report

    videos = _load_videos(args)
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
    try:
        mode, summary = score_any(videos, args.dataset, result_dirs)
    except BenchmarkError as error:
        raise CommandError(str(error)) from error
    print(markdown_table(summary, mode), end="")
    if args.report:
        written = write_report(summary, args.report, title=args.dataset, mode=mode)
        print(f"report: {written['json']}, {written['markdown']}, {', '.join(written['plots'])}")
    return 0


def run_convert(args, overrides) -> int:
    import jax
    import jax.numpy as jnp

    from siamjax.backend import resolve_policy
    from siamjax.checkpoints import save_variables
    from siamjax.models import build_model, init_variables
    from siamjax.models.convert import ConversionError, merge_pretrained_backbone, pysot_to_flax
    from siamjax.models.pth import PthError, load_pth

    config = apply_overrides(load_config(args.config), overrides)
    model = build_model(config.model, resolve_policy(config).formulation)
    exemplar, instance = config.track.exemplar_size, config.track.instance_size
    source = args.pysot or args.imagenet
    try:
        checkpoint = load_pth(source)
        if args.pysot:
            shapes = jax.eval_shape(
                model.init,
                jax.random.key(0),
                jnp.zeros((1, exemplar, exemplar, 3)),
                jnp.zeros((1, instance, instance, 3)),
            )
            variables = pysot_to_flax(checkpoint, shapes)
            report = None
        else:
            initial = init_variables(model, jax.random.key(args.seed), exemplar, instance)
            variables, report = merge_pretrained_backbone(checkpoint, initial)
    except (PthError, ConversionError) as error:
        raise CommandError(f"{source}: {error}") from error
    try:
        path = save_variables(args.out, variables, overwrite=args.force)
    except FileExistsError as error:
        raise CommandError(str(error)) from error
    count = sum(int(x.size) for x in jax.tree_util.tree_leaves(variables["params"]))
    print(f"converted {source} (sha256 {_sha256(source)[:16]}) for config {config.name}")
    print(f"  {count:,} parameters -> {path}")
    if report is not None:
        for key in ("loaded", "shape_mismatch", "unused_in_checkpoint", "not_in_checkpoint"):
            print(f"  {key}: {len(report[key])}")
            for entry in report[key] if key != "loaded" else []:
                print(f"    {entry}")
        if args.report:
            with open(args.report, "w") as stream:
                json.dump(report, stream, indent=2)
        if not report["loaded"]:
            raise CommandError(f"{source}: no backbone key matched the model; nothing loaded")
    return 0


def run_info(args, overrides) -> int:
    import time

    import jax
    import numpy as np

    from siamjax.backend import resolve_policy
    from siamjax.models import build_model, init_variables, make_search_fn, make_template_fn

    config = apply_overrides(load_config(args.config), overrides)
    model = build_model(config.model, resolve_policy(config).formulation)
    exemplar, instance = config.track.exemplar_size, config.track.instance_size
    if args.checkpoint:
        variables = _checked_variables(args.checkpoint, model)
    else:
        variables = init_variables(model, jax.random.key(config.seed), exemplar, instance)
    params = variables["params"]
    print(f"config {config.name}: {args.config}")
    total = 0
    for part in params:
        count = sum(int(x.size) for x in jax.tree_util.tree_leaves(params[part]))
        total += count
        print(f"  {part:<10} {count:>12,} parameters")
    print(f"  {'total':<10} {total:>12,} parameters")
    rng = np.random.default_rng(0)
    template = rng.uniform(0, 255, (args.batch, exemplar, exemplar, 3)).astype(np.float32)
    search = rng.uniform(0, 255, (args.batch, instance, instance, 3)).astype(np.float32)
    template_fn = jax.jit(make_template_fn(model))
    search_fn = jax.jit(make_search_fn(model))
    features = jax.block_until_ready(template_fn(variables, template))
    outputs = jax.block_until_ready(search_fn(variables, features, search))
    start = time.perf_counter()
    outputs = jax.block_until_ready(search_fn(variables, features, search))
    elapsed = time.perf_counter() - start
    for key in sorted(features):
        print(f"  template features {key}: {tuple(features[key].shape)}")
    for key in ("scores", "deltas"):
        print(f"  {key}: {tuple(outputs[key].shape)}")
    finite = all(bool(np.isfinite(np.asarray(v)).all()) for v in outputs.values())
    print(f"  search call: {elapsed * 1000:.0f} ms (batch {args.batch}, after warm-up)")
    if not finite:
        raise CommandError("the forward produced non-finite values")
    return 0


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def quiet_tensorflow() -> None:
    """Hides TensorFlow's C++ start-up lines (CPU feature banners, absl's pre-init
    warning) unless the user set the variables; worker processes inherit them.
    TensorFlow prints its oneDNN notice whatever the log level while oneDNN's custom ops
    are on; siamjax uses TensorFlow only for file systems, TFRecords and JPEG / image
    ops of the tf loader, so they are switched off."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


def main(argv=None) -> int:
    quiet_tensorflow()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        argv, overrides = split_config_args(argv)
    except ConfigError as error:
        print(f"siamjax: error: {error}", file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args, overrides)
    except (CommandError, ConfigError) as error:
        print(f"siamjax {args.command}: error: {error}", file=sys.stderr)
        return 2
    except (OSError, UnicodeDecodeError) as error:
        # Environment problems (permissions, a file where a folder belongs, a full disk,
        # undecodable text): one line naming the path. SIAMJAX_DEBUG=1 shows the traceback.
        if os.environ.get("SIAMJAX_DEBUG"):
            raise
        print(f"siamjax {args.command}: error: {_environment_error(error)}", file=sys.stderr)
        return 2


def _environment_error(error: BaseException) -> str:
    if isinstance(error, OSError) and error.filename is not None:
        return f"{error.filename}: {error.strerror or error}"
    if isinstance(error, UnicodeDecodeError):
        return f"undecodable text (byte {error.start} is not {error.encoding})"
    return str(error) or type(error).__name__


if __name__ == "__main__":
    sys.exit(main())
