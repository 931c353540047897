"""Tracks a video file, a folder of frames or a camera (the `siamjax track` command).

Frames are read lazily; the annotated video and the box files (OTB result format: one
``x,y,w,h`` line per frame, the first being the init box; one file per target) are
written as it goes.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import sys
import tempfile
import time

import cv2
import numpy as np
from tqdm import tqdm

from siamjax import fs
from siamjax.image_io import read_image
from siamjax.tracking.multi_target import MultiTargetTracker


class SourceError(ValueError):
    """A video / folder / camera that cannot be read."""


def frame_source(path: str):
    """Yields (H, W, 3) uint8 BGR frames from a video file, a frame folder or a camera index.

    Returns (iterator, frame count or None, frames per second or None).
    """
    if re.fullmatch(r"\d+", path) and not os.path.exists(path):
        return _capture_frames(cv2.VideoCapture(int(path)), f"camera {path}")
    if fs.isdir(path):
        names = sorted(
            (n for n in fs.listdir(path) if n.lower().endswith(fs.IMAGE_EXTENSIONS)),
            key=_natural_key,
        )
        if not names:
            raise SourceError(
                f"{path}: folder has no image files ({', '.join(fs.IMAGE_EXTENSIONS)})"
            )
        return _folder_frames(path, names), len(names), None
    if fs.is_url(path):
        raise SourceError(f"{path}: no such frame folder (a video file must be a local path)")
    if not os.path.isfile(path):
        raise SourceError(f"{path}: no such file, folder or camera index")
    return _capture_frames(cv2.VideoCapture(path), path)


def _natural_key(name: str):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _folder_frames(folder, names):
    for name in names:
        frame = read_image(fs.join(folder, name))
        if frame is None:
            raise SourceError(f"{fs.join(folder, name)}: cannot read image")
        yield frame


def _capture_frames(capture, label):
    if not capture.isOpened():
        raise SourceError(f"{label}: cannot open video")
    ok, first = capture.read()
    if not ok or first is None:
        raise SourceError(f"{label}: no readable frame")
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    fps = capture.get(cv2.CAP_PROP_FPS) or None

    def frames():
        yield first
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            yield frame
        capture.release()

    return frames(), count, fps


def parse_box(text: str) -> tuple[float, ...]:
    """'x,y,w,h' -> 4 floats; anything else is a ``SourceError`` naming the text."""
    fields = [f for f in re.split(r"[,\s]+", text.strip()) if f]
    try:
        values = tuple(float(f) for f in fields)
    except ValueError:
        raise SourceError(f"--init must be x,y,w,h numbers, got {text!r}") from None
    if len(values) != 4:
        raise SourceError(f"--init must have 4 values x,y,w,h, got {text!r}")
    return values


def has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def select_box(frame) -> tuple[float, ...]:
    """Asks the user to draw the init box on ``frame`` (needs a display and GUI OpenCV)."""
    try:
        x, y, w, h = cv2.selectROI("siamjax: select the target, then ENTER", frame, False, False)
        cv2.destroyAllWindows()
    except cv2.error as error:
        raise SourceError(
            f"cannot open a window to select the box ({error}); pass --init"
        ) from None
    return float(x), float(y), float(w), float(h)


# H.264 plays in browsers; MPEG-4 Part 2 ('mp4v') is what OpenCV's PyPI wheels can
# always write. Which one this OpenCV build has is probed once.
VIDEO_CODECS = (("avc1", "H.264"), ("mp4v", "MPEG-4 Part 2 (not playable in browsers)"))


@functools.lru_cache(maxsize=1)
def video_codec() -> tuple[str, str]:
    """(fourcc, description) of the best codec this OpenCV build writes to .mp4. The
    probe's FFmpeg complaints about missing encoders are kept off the console."""
    with tempfile.TemporaryDirectory() as folder, _stderr_silenced():
        for fourcc, description in VIDEO_CODECS:
            writer = cv2.VideoWriter(os.path.join(folder, "probe.mp4"),
                                     cv2.VideoWriter_fourcc(*fourcc), 10.0, (32, 32))  # fmt: skip
            opened = writer.isOpened()
            writer.release()
            if opened:
                return fourcc, description
    return VIDEO_CODECS[-1]


@contextlib.contextmanager
def _stderr_silenced():
    """Points file descriptor 2 at /dev/null (FFmpeg writes there directly)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def track_video(tracker, source: str, init_boxes=None, out_video=None, boxes_path=None,
                show=False):  # fmt: skip
    """Tracks one or several targets through the source's frames; returns (boxes
    (frames, targets, 4) x, y, w, h, mean tracking fps).

    ``init_boxes``: x, y, w, h boxes in the first frame, or one box (None: draw one).
    Several boxes
    are tracked together, one network call per frame (``MultiTargetTracker``), each drawn
    in its own colour and written to its own box file (``target_box_path``). The first
    search call is compiled before the clock starts (a warm-up on the first frame whose
    result is discarded), so the fps shown is the tracker's, not the compiler's.
    ``out_video`` uses ``video_codec()``.
    """
    frames, count, source_fps = frame_source(source)
    first = next(frames)
    if init_boxes is None:
        if not has_display():
            raise SourceError("no display to draw the init box on; pass --init x,y,w,h")
        init_boxes = [select_box(first)]
    if np.ndim(init_boxes) == 1:  # one box given as x, y, w, h
        init_boxes = [init_boxes]
    init_boxes = [np.asarray(box, np.float64) for box in init_boxes]
    step = _warm_stepper(tracker, first, init_boxes)
    boxes = [init_boxes]
    writer = _video_writer(out_video, first, source_fps)
    if writer is not None:
        writer.write(_annotate(first, init_boxes, None, None))
    paths = [target_box_path(boxes_path, k, len(init_boxes)) for k in range(len(init_boxes))]
    streams = [fs.open_file(path, "w") for path in paths] if boxes_path else []
    for stream, box in zip(streams, init_boxes, strict=False):
        stream.write(_format(box))
    elapsed = 0.0
    bar = tqdm(frames, total=(count - 1) if count else None, unit="frame")
    try:
        for frame in bar:
            start = time.perf_counter()
            results = step(frame)
            elapsed += time.perf_counter() - start
            boxes.append([np.asarray(box, np.float64) for box, _ in results])
            fps = (len(boxes) - 1) / elapsed if elapsed > 0 else 0.0
            bar.set_postfix(fps=f"{fps:.1f}", score=" ".join(f"{s:.3f}" for _, s in results))
            for stream, (box, _) in zip(streams, results, strict=False):
                stream.write(_format(box))
            if writer is not None or show:
                annotated = _annotate(frame, boxes[-1], [s for _, s in results], fps)
                if writer is not None:
                    writer.write(annotated)
                if show:
                    cv2.imshow("siamjax", annotated)
                    if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
                        break
    finally:
        for stream in streams:
            stream.close()
        if writer is not None:
            writer.release()
    fps = (len(boxes) - 1) / elapsed if elapsed > 0 else 0.0
    return np.asarray(boxes, np.float64), fps


def target_box_path(boxes_path: str | None, index: int, targets: int) -> str | None:
    """The box file of target ``index``: ``boxes_path`` itself for one target, else
    ``<stem>.target<index><ext>`` (``out/boxes.txt`` -> ``out/boxes.target0.txt``)."""
    if boxes_path is None or targets == 1:
        return boxes_path
    stem, ext = os.path.splitext(boxes_path)
    return f"{stem}.target{index}{ext}"


def _warm_stepper(tracker, first, init_boxes):
    """``frame -> [(box, score), ...]`` of ``tracker`` started on ``init_boxes``, its
    search call compiled on ``first`` (that result discarded, the state rewound)."""
    if len(init_boxes) == 1:
        tracker.init(first, init_boxes[0])
        owner = tracker

        def step(frame):
            return [tracker.track(frame)]
    else:
        owner = MultiTargetTracker(tracker)
        owner.init(first, init_boxes)
        step = owner.track
    state = owner.state
    step(first)
    owner.state = state
    return step


def _video_writer(out_video, first, source_fps):
    if not out_video:
        return None
    os.makedirs(os.path.dirname(os.path.abspath(out_video)), exist_ok=True)
    height, width = first.shape[:2]
    fourcc = cv2.VideoWriter_fourcc(*video_codec()[0])
    writer = cv2.VideoWriter(out_video, fourcc, source_fps or 30.0, (width, height))
    if not writer.isOpened():
        raise SourceError(f"{out_video}: cannot open for writing")
    return writer


def _format(box) -> str:
    return ",".join(f"{float(v):.4f}" for v in box) + "\n"


# One BGR colour per target (cycled beyond eight); the first is the single-target yellow.
_COLOURS = ((0, 255, 255), (255, 128, 0), (0, 200, 0), (255, 0, 255), (0, 128, 255),
            (255, 255, 0), (128, 0, 255), (200, 200, 200))  # fmt: skip


def _annotate(frame, boxes, scores, fps):
    canvas = frame.copy()
    for index, box in enumerate(boxes):
        colour = _COLOURS[index % len(_COLOURS)]
        x, y, w, h = (int(round(v)) for v in box)
        cv2.rectangle(canvas, (x, y), (x + w, y + h), colour, 2)
        if len(boxes) > 1:
            label = str(index) if scores is None else f"{index}: {scores[index]:.2f}"
            cv2.putText(canvas, label, (x, max(y - 4, 12)), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                        colour, 1)  # fmt: skip
    if scores is None:
        text = "init"
    elif len(boxes) == 1:
        text = f"score {scores[0]:.3f}  {fps:.1f} fps"
    else:
        text = f"{len(boxes)} targets  {fps:.1f} fps"
    cv2.putText(canvas, text, (10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, _COLOURS[0], 2)
    return canvas
