"""``siamjax precision-check``: measure a reduced-precision mode against float32 for one
checkpoint and write the verdict that ``siamjax track --precision`` requires."""

from __future__ import annotations

import itertools
import sys

from siamjax.cli.common import CommandError, add_config_argument, add_subcommand


def add_parser(subcommands) -> None:
    parser = add_subcommand(
        subcommands,
        "precision-check",
        help="measure bfloat16 / int8 tracking against float32 for a checkpoint",
        description=(
            "Track --sequences generated sequences (moving patches of real photographs) "
            "and --video from --init with the checkpoint in float32 and in --precision, "
            "on the same runtime. The mode passes when its success AUC is within 0.005 "
            "of float32's over at least 20 sequences and, given float32's state before "
            "each frame of the video, its boxes have a mean IoU of at least 0.9 with "
            "float32's (free runs over the video are reported too). Writes the verdict "
            "(JSON) to --out; `siamjax track --precision` then uses the mode for exactly "
            "these weights. "
            "Exit status 0 if it passed, 1 if it missed the budget."
        ),
    )
    add_config_argument(parser)
    parser.add_argument("--checkpoint", required=True, help="orbax checkpoint directory")
    parser.add_argument(
        "--precision", required=True, choices=("bfloat16", "int8"), help="the mode to measure"
    )
    parser.add_argument("--video", required=True, help="real video file or frame folder")
    parser.add_argument("--init", required=True, help="initial box x,y,w,h in the first frame")
    parser.add_argument(
        "--video-frames", type=int, default=300, help="frames of --video used at most"
    )
    parser.add_argument(
        "--sequences", type=int, default=20, help="generated sequences (the budget needs 20)"
    )
    parser.add_argument(
        "--out", help="verdict file (default: precision_<mode>.json in the checkpoint folder)"
    )
    parser.set_defaults(handler=run)


def run(args, overrides) -> int:
    from siamjax import machine
    from siamjax.eval.precision_budget import measure
    from siamjax.loading import load_checkpoint, precision_networks, resolve_config
    from siamjax.models import build_model
    from siamjax.tracking import BoxError, build_tracker
    from siamjax.tracking import precision as modes
    from siamjax.tracking.tracker import validate_init_box
    from siamjax.tracking.video import SourceError, frame_source, parse_box

    if args.sequences < 1 or args.video_frames < 2:
        raise CommandError("--sequences must be at least 1 and --video-frames at least 2")
    try:
        instructions = modes.cpu_instructions(args.precision, machine.cpu_flags())
        init = parse_box(args.init)
        frames_iterator, _, _ = frame_source(args.video)
        frames = list(itertools.islice(frames_iterator, args.video_frames))
        if len(frames) < 2:
            raise SourceError(f"{args.video}: fewer than 2 frames")
        validate_init_box(init, frames[0].shape[:2], "--init")
    except (modes.PrecisionUnavailable, SourceError, BoxError) as error:
        raise CommandError(str(error)) from error
    config = resolve_config(args.config, overrides)
    variables = load_checkpoint(args.checkpoint, build_model(config.model))
    try:
        networks = precision_networks(config, variables, args.precision)
    except modes.PrecisionUnavailable as error:
        raise CommandError(str(error)) from error
    reference_network, candidate_network = networks
    reference = build_tracker(config, reference_network)
    candidate = build_tracker(config, candidate_network)
    figures = measure(reference, candidate, args.precision, frames, init, args.video,
                      sequences=args.sequences)  # fmt: skip
    verdict = {
        **figures,
        "config": config.name,
        "checkpoint": args.checkpoint,
        "weights_sha256": modes.weights_fingerprint(variables),
        "runtime": _runtime_version(args.precision),
        "instructions": instructions,
        "machine": machine.describe(),
        "budget": modes.BUDGET,
    }
    failures = modes.budget_failures(verdict)
    verdict.update(passed=not failures, failures=failures)
    out = args.out or modes.default_verdict_path(args.checkpoint, args.precision)
    modes.write_verdict(out, verdict)
    _print_summary(verdict, out)
    return 0 if verdict["passed"] else 1


def _runtime_version(precision: str) -> str:
    if precision == "bfloat16":
        import openvino

        return f"openvino {openvino.__version__.split('-')[0]}"
    import onnxruntime

    return f"onnxruntime {onnxruntime.__version__}"


def _print_summary(verdict: dict, out: str) -> None:
    precision = verdict["precision"]
    auc, ms, video = verdict["success_auc"], verdict["ms_per_frame"], verdict["video"]
    print(f"| {verdict['config']} ({verdict['runtime']}) | float32 | {precision} |")
    print("| --- | --- | --- |")
    print(
        f"| success AUC, {verdict['sequences']} generated sequences | "
        f"{auc['float32']:.4f} | {auc[precision]:.4f} ({auc[precision] - auc['float32']:+.4f}"
        f" ± {verdict['auc_change_stderr'] or 0:.4f}) |"
    )
    print(
        f"| ms per frame there | {ms['float32']:.1f} | {ms[precision]:.1f} "
        f"({ms['float32'] / ms[precision]:.2f}x) |"
    )
    for label, key in (("frame by frame", "frame_by_frame"), ("free runs", "free_run")):
        iou = video[key]
        print(f"| IoU with float32's boxes, {video['frames']} frames of the video, {label} | 1 | "
              f"mean {iou['iou_mean']:.3f}, 10th percentile {iou['iou_p10']:.3f}, "
              f"lowest {iou['iou_min']:.3f} |")  # fmt: skip
    if verdict["passed"]:
        print(f"{precision}: within the budget; verdict {out}")
    else:
        print(f"{precision}: not offered for these weights ({'; '.join(verdict['failures'])}); "
              f"verdict {out}", file=sys.stderr)  # fmt: skip
