"""``siamjax track``: one target through a video, a frame folder or a camera."""

from __future__ import annotations

from siamjax.cli.common import (
    CommandError,
    add_backend_argument,
    add_config_argument,
    add_subcommand,
    tracker_from_args,
)


def add_parser(subcommands) -> None:
    parser = add_subcommand(
        subcommands,
        "track",
        help="track one target through a video, a frame folder or a camera",
        description=(
            "Run the config's tracker from --init (x,y,w,h in pixels of the first frame; "
            "without it and with a display, draw the box). Prints fps; --out writes an "
            "annotated mp4, --boxes one x,y,w,h line per frame (the first is the init box)."
        ),
    )
    add_config_argument(parser)
    parser.add_argument("--checkpoint", required=True, help="orbax checkpoint directory")
    parser.add_argument("--video", required=True, help="video file, frame folder or camera index")
    parser.add_argument("--init", help="initial box x,y,w,h")
    parser.add_argument(
        "--init-convention",
        choices=("raw", "toolkit"),
        default="raw",
        help="'raw': track from --init as given (pysot's demo); 'toolkit': shift it as "
        "`siamjax eval` and pysot's test scripts do with ground truth (centre x + w/2, "
        "y + h/2), to reproduce an eval run's boxes",
    )
    parser.add_argument("--out", help="annotated video to write (.mp4)")
    add_backend_argument(parser)
    parser.add_argument("--boxes", help="text file for the per-frame boxes")
    parser.add_argument("--show", action="store_true", help="show frames in a window")
    parser.set_defaults(handler=run)


def run(args, overrides) -> int:
    from siamjax.tracking import BoxError
    from siamjax.tracking.video import SourceError, parse_box, track_video, video_codec

    try:
        init_box = parse_box(args.init) if args.init else None
        if init_box is not None and args.init_convention == "toolkit":
            from siamjax.eval.boxes import init_box as toolkit_init_box

            init_box = [float(v) for v in toolkit_init_box(init_box)]
        _, tracker = tracker_from_args(args, overrides)
        boxes, fps = track_video(tracker, args.video, init_box, args.out, args.boxes, args.show)
    except (SourceError, BoxError) as error:
        raise CommandError(str(error)) from error
    print(f"tracked {len(boxes)} frames at {fps:.1f} fps (network + host work)")
    if args.out:
        print(f"  annotated video: {args.out} ({video_codec()[1]})")
    if args.boxes:
        print(f"  boxes: {args.boxes}")
    return 0
