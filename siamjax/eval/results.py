"""Result files in pysot's layouts, so existing toolkits can read them.

Under a tracker's result folder ``R``:

* one-pass (OTB, LaSOT, custom, ...): ``R/<video>.txt``, one ``x,y,w,h`` line per frame,
  the first being the init box;
* GOT-10k: ``R/<video>/<video>_001.txt`` and ``R/<video>/<video>_time.txt`` (the layout
  its evaluation server expects; ``submission_archive`` zips it);
* TrackingNet: ``R/<video>.txt`` like one-pass datasets (zipped flat for its server);
* VOT2016/2018/2019 (reset protocol): ``R/baseline/<video>/<video>_001.txt``, a box per
  tracked frame and codes ``1`` (init), ``0`` (skipped), ``2`` (failure); boxes as
  ``%.4f`` of float32 values like pysot's writer;
* VOT2018-LT: ``R/longterm/<video>/<video>_001.txt`` (``1`` on frame 0) and
  ``<video>_001_confidence.value`` (empty first line).

Files are written to a temporary name and renamed, so a file that exists is complete.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np

from siamjax import fs
from siamjax.datasets import ResultLayout, dataset_spec
from siamjax.datasets.benchmark_layout import BenchmarkError


def result_paths(root: str, dataset: str, video: str) -> dict:
    """Paths of one video's result files under ``root`` (the dataset's ``ResultLayout``)."""
    layout = dataset_spec(dataset).result_layout
    if layout is ResultLayout.PER_VIDEO_FOLDER:
        folder = fs.join(root, video)
        return {
            "boxes": fs.join(folder, f"{video}_001.txt"),
            "times": fs.join(folder, f"{video}_time.txt"),
        }
    if layout is ResultLayout.VOT_LONG_TERM:
        folder = fs.join(root, "longterm", video)
        return {
            "boxes": fs.join(folder, f"{video}_001.txt"),
            "confidence": fs.join(folder, f"{video}_001_confidence.value"),
            "times": fs.join(folder, f"{video}_time.txt"),
        }
    if layout is ResultLayout.VOT_BASELINE:
        return {"boxes": fs.join(root, "baseline", video, f"{video}_001.txt")}
    return {"boxes": fs.join(root, f"{video}.txt")}


def _write_atomic(path: str, lines) -> None:
    fs.makedirs(fs.dirname(path) or ".")
    fs.write_text(path, "".join(f"{line}\n" for line in lines))


def _format_box(box) -> str:
    return ",".join(repr(float(value)) for value in box)


def write_results(root, dataset, video, boxes, scores=None, times=None) -> None:
    """Writes one video's results; ``boxes`` (N, 4), ``scores`` (N,) (None on frame 0)."""
    paths = result_paths(root, dataset, video)
    if "confidence" in paths:
        _write_atomic(paths["confidence"], ["" if s is None else f"{s:.6f}" for s in scores])
        lines = ["1"] + [_format_box(box) for box in boxes[1:]]
    else:
        lines = [_format_box(box) for box in boxes]
    if "times" in paths and times is not None:
        _write_atomic(paths["times"], [f"{t:.6f}" for t in times])
    _write_atomic(paths["boxes"], lines)


def write_trajectory(root, dataset, video, trajectory, scores=None, times=None) -> None:
    """Writes a runner's per-frame entries: boxes, or one-number codes (VOT protocol)."""
    paths = result_paths(root, dataset, video)
    if "baseline" in paths["boxes"].split("/")[-3:]:
        lines = [
            f"{int(entry[0]):d}"
            if len(entry) == 1
            else ",".join(f"{float(np.float32(v)):.4f}" for v in entry)
            for entry in trajectory
        ]
        _write_atomic(paths["boxes"], lines)
        return
    boxes = [[np.nan] * 4 if len(entry) == 1 else entry for entry in trajectory]
    write_results(root, dataset, video, np.asarray(boxes, np.float64), scores, times)


def _result_lines(path: str) -> list[str]:
    """The text lines of a result file; undecodable or unreadable files raise
    ``BenchmarkError`` naming the file (and the byte offset for bad bytes)."""
    try:
        data = fs.read_bytes(path)
    except OSError as error:
        raise BenchmarkError(f"{path}: cannot read ({error.strerror or error})") from None
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise BenchmarkError(
            f"{path}: not a text result file (byte {error.start} is not UTF-8)"
        ) from None


def read_trajectory(root, dataset, video, expected_frames: int) -> list[list[float]]:
    """Per-frame entries (codes as one-element lists) of a VOT-style result file."""
    path = result_paths(root, dataset, video)["boxes"]
    if not fs.isfile(path):
        raise BenchmarkError(f"{path}: no result file for video {video}")
    entries = []
    for number, line in enumerate(_result_lines(path), start=1):
        if not line.strip():
            continue
        try:
            entries.append([float(v) for v in line.strip().split(",")])
        except ValueError:
            raise BenchmarkError(f"{path}:{number}: not numbers: {line.strip()!r}") from None
    if len(entries) != expected_frames:
        raise BenchmarkError(
            f"{path}: video {video} has {expected_frames} frames but {len(entries)} result lines"
        )
    return entries


def read_confidences(root, dataset, video, expected_frames: int) -> np.ndarray:
    """(N,) long-term confidences, NaN on frame 0 (its line is empty)."""
    path = result_paths(root, dataset, video)["confidence"]
    if not fs.isfile(path):
        raise BenchmarkError(f"{path}: no confidence file for video {video}")
    lines = _result_lines(path)
    if len(lines) != expected_frames:
        raise BenchmarkError(
            f"{path}: video {video} has {expected_frames} frames but {len(lines)} confidences"
        )
    values = [np.nan]
    for number, line in enumerate(lines[1:], start=2):
        try:
            values.append(float(line))
        except ValueError:
            raise BenchmarkError(f"{path}:{number}: not a number: {line.strip()!r}") from None
    return np.array(values, np.float64)


def submission_archive(root: str, dataset: str, video_names) -> str:
    """Zips the results of ``video_names`` for GOT-10k's or TrackingNet's server -> path."""
    if not dataset_spec(dataset).submission:
        raise ValueError(f"{dataset} has no submission server format")
    root = str(root).rstrip("/")
    archive = root + ".zip"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for video in sorted(video_names):
            for path in result_paths(root, dataset, video).values():
                if not fs.isfile(path):
                    raise BenchmarkError(f"{path}: missing; run the evaluation to the end first")
                bundle.writestr(path[len(root) + 1 :], fs.read_bytes(path))
    fs.write_bytes(archive, buffer.getvalue())
    return archive


def is_complete(root, dataset, video) -> bool:
    return fs.isfile(result_paths(root, dataset, video)["boxes"])


def read_boxes(root, dataset, video, expected_frames: int) -> np.ndarray:
    """(N, 4) boxes of one video; a count other than ``expected_frames`` is an error.

    Lines with one number (pysot's VOT codes / the LT frame-0 marker) become NaN rows.
    """
    path = result_paths(root, dataset, video)["boxes"]
    if not fs.isfile(path):
        raise BenchmarkError(f"{path}: no result file for video {video}")
    rows = []
    for number, line in enumerate(_result_lines(path), start=1):
        fields = [f for f in line.replace("\t", ",").replace(" ", ",").split(",") if f]
        if not fields:
            continue
        try:
            values = [float(f) for f in fields]
        except ValueError:
            raise BenchmarkError(f"{path}:{number}: not numbers: {line.strip()!r}") from None
        if len(values) == 1:
            values = [np.nan] * 4
        elif len(values) != 4:
            raise BenchmarkError(f"{path}:{number}: expected 4 values, got {len(values)}")
        rows.append(values)
    if len(rows) != expected_frames:
        raise BenchmarkError(
            f"{path}: video {video} has {expected_frames} frames but {len(rows)} result lines"
        )
    return np.asarray(rows, np.float64).reshape(-1, 4)
