"""``siamjax track``: one or several targets through a video, a frame folder or a camera."""

from __future__ import annotations

from siamjax import fs
from siamjax.cli.common import (
    CommandError,
    add_backend_argument,
    add_config_argument,
    add_precision_arguments,
    add_subcommand,
    tracker_from_args,
)


def add_parser(subcommands) -> None:
    parser = add_subcommand(
        subcommands,
        "track",
        help="track one or several targets through a video, a frame folder or a camera",
        description=(
            "Run the config's tracker from --init (x,y,w,h in pixels of the first frame; "
            "repeat --init, or give --init-file, to track several targets together, one "
            "network call per frame; without either and with a display, draw the box). "
            "Prints fps; --out writes an annotated mp4 (one colour per target), --boxes one "
            "x,y,w,h line per frame (the first is the init box): with several targets one "
            "file per target, BOXES with .target<i> before its extension."
        ),
    )
    add_config_argument(parser)
    parser.add_argument("--checkpoint", required=True, help="orbax checkpoint directory")
    parser.add_argument("--video", required=True, help="video file, frame folder or camera index")
    parser.add_argument(
        "--init", action="append", help="initial box x,y,w,h (repeat for several targets)"
    )
    parser.add_argument(
        "--init-file", help="text file of initial boxes, one x,y,w,h per line (# comments)"
    )
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
    add_precision_arguments(parser)
    parser.add_argument("--boxes", help="text file for the per-frame boxes")
    parser.add_argument("--show", action="store_true", help="show frames in a window")
    parser.set_defaults(handler=run)


def run(args, overrides) -> int:
    from siamjax.tracking import BoxError
    from siamjax.tracking.video import SourceError, target_box_path, track_video, video_codec

    try:
        init_boxes = _init_boxes(args.init or [], args.init_file)
        if init_boxes is not None and args.init_convention == "toolkit":
            from siamjax.eval.boxes import init_box as toolkit_init_box

            init_boxes = [[float(v) for v in toolkit_init_box(box)] for box in init_boxes]
        _, tracker = tracker_from_args(args, overrides)
        boxes, fps = track_video(tracker, args.video, init_boxes, args.out, args.boxes,
                                 args.show)  # fmt: skip
    except (SourceError, BoxError) as error:
        raise CommandError(str(error)) from error
    targets = boxes.shape[1]
    what = f"{targets} targets through " if targets > 1 else ""
    print(f"tracked {what}{len(boxes)} frames at {fps:.1f} fps (network + host work)")
    if args.out:
        print(f"  annotated video: {args.out} ({video_codec()[1]})")
    if args.boxes:
        paths = [target_box_path(args.boxes, k, targets) for k in range(targets)]
        print(f"  boxes: {', '.join(paths)}")
    return 0


def _init_boxes(texts, init_file):
    """The boxes of the ``--init`` values then the ``--init-file`` lines, or None."""
    from siamjax.tracking.video import SourceError, parse_box

    boxes = [parse_box(text) for text in texts]
    if init_file:
        try:
            lines = fs.read_text(init_file).splitlines()
        except OSError as error:
            raise CommandError(f"{init_file}: {error.strerror or error}") from None
        for number, line in enumerate(lines, start=1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            try:
                boxes.append(parse_box(line))
            except SourceError as error:
                raise SourceError(f"{init_file}:{number}: {error}") from None
    return boxes or None
