"""Benchmark readers for the official on-disk layouts -> lists of ``Video``.

    videos = siamjax.datasets.load_benchmark("OTB100", "/data/OTB100")

Each reader checks what it reads: a frame missing from a numbered sequence, an
annotation file with a bad line or with more lines than frames raise ``BenchmarkError``
naming the file. Ground truth is [x, y, w, h] (rectangles) or 8 polygon values (VOT),
NaN rows where the target is absent; test splits without public labels carry the
first-frame box only.
"""

from __future__ import annotations

import dataclasses
import os
import re

import numpy as np

from siamjax import fs


class BenchmarkError(ValueError):
    """A benchmark folder that does not have the expected layout or content."""


@dataclasses.dataclass
class Video:
    """One tracking sequence.

    ``gt``: (N, 4) [x, y, w, h] or (N, 8) polygons, float64, NaN rows = no box; for
    test splits (``labelled=False``) only row 0 is known. ``evaluate``: (N,) bool,
    frames that count in the metrics (LaSOT: visible frames), None = all.
    """

    name: str
    frame_paths: list[str]
    gt: np.ndarray
    labelled: bool = True
    evaluate: np.ndarray | None = None
    attributes: dict = dataclasses.field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frame_paths)


def read_numbers(path: str, columns=(4, 8)) -> np.ndarray:
    """Reads an annotation file of comma / tab / space separated numbers.

    Returns (N, C) float64; 'nan' entries are kept. Raises ``BenchmarkError`` naming the
    file and line for a line that does not parse or has a column count not in ``columns``.
    """
    rows = []
    if not fs.isfile(path):
        raise BenchmarkError(f"{path}: cannot read (no such file)")
    try:
        lines = fs.read_text(path).splitlines()
    except OSError as error:
        raise BenchmarkError(f"{path}: cannot read ({error.strerror})") from error
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        fields = [field for field in re.split(r"[,\s]+", line.strip()) if field]
        try:
            values = [float(field) for field in fields]
        except ValueError:
            raise BenchmarkError(f"{path}:{number}: not numbers: {line!r}") from None
        if len(values) not in columns:
            raise BenchmarkError(
                f"{path}:{number}: expected {' or '.join(map(str, columns))} values, "
                f"got {len(values)}: {line!r}"
            )
        rows.append(values)
    if not rows:
        raise BenchmarkError(f"{path}: no annotation lines")
    widths = {len(row) for row in rows}
    if len(widths) > 1:
        raise BenchmarkError(f"{path}: lines mix {sorted(widths)} values")
    return np.asarray(rows, np.float64)


def numbered_frames(folder: str) -> list[str]:
    """Image files of ``folder`` sorted by their number; a gap in the numbering is an error."""
    if not fs.isdir(folder):
        raise BenchmarkError(f"{folder}: cannot list frames (not a directory)")
    names = [n for n in fs.listdir(folder) if n.lower().endswith(fs.IMAGE_EXTENSIONS)]
    if not names:
        raise BenchmarkError(f"{folder}: no image files")
    numbered = []
    for name in names:
        stem = os.path.splitext(name)[0]
        match = re.search(r"(\d+)$", stem)
        if match is None:
            raise BenchmarkError(f"{fs.join(folder, name)}: frame name has no number")
        numbered.append((int(match.group(1)), name))
    numbered.sort()
    for (previous, previous_name), (current, _) in zip(numbered, numbered[1:]):
        if current != previous + 1:
            stem, extension = os.path.splitext(previous_name)
            digits = len(re.search(r"(\d+)$", stem).group(1))
            missing = stem[: len(stem) - digits] + str(previous + 1).zfill(digits) + extension
            raise BenchmarkError(f"{fs.join(folder, missing)}: frame missing")
    return [fs.join(folder, name) for _, name in numbered]


def _require_dir(path: str) -> None:
    if not fs.isdir(path):
        raise BenchmarkError(f"{path}: not a directory")


def _subfolders(path: str) -> list[str]:
    _require_dir(path)
    return sorted(n for n in fs.listdir(path) if fs.isdir(fs.join(path, n)))


def _match_lengths(name, frames, gt, annotation_path, start_index=0):
    """Frames and ground truth of equal length; extra frames beyond the labels are dropped."""
    frames = frames[start_index:]
    if len(gt) > len(frames):
        raise BenchmarkError(
            f"{annotation_path}: {len(gt)} boxes but {len(frames)} frames in video {name}"
        )
    return frames[: len(gt)]


# OTB sequences whose labels start after frame 1 (frame numbers, 1-based); others that are
# labelled on a prefix only (Football1, Freeman3, Freeman4, Diving) need no entry.
OTB_FIRST_LABELLED_FRAME = {"David": 300}


def read_otb(data_dir: str) -> list[Video]:
    """OTB2013/2015: ``<Name>/img/NNNN.jpg`` + ``groundtruth_rect[.k].txt``.

    Quirks handled: labels covering only part of the frames (David starts at 300;
    Football1/Freeman3/Freeman4/Diving stop early), comma / tab / space separators,
    first frame numbered above 1 (BlurCar1/3/4), several targets (``groundtruth_rect.1``
    / ``.2`` -> videos ``Jogging-1``, ``Jogging-2``; a single numbered file keeps the
    folder's name, as Human4).
    """
    videos = []
    for folder in _subfolders(data_dir):
        root = fs.join(data_dir, folder)
        annotation_files = sorted(
            n for n in fs.listdir(root) if re.fullmatch(r"groundtruth_rect(\.\d+)?\.txt", n)
        )
        image_dir = fs.join(root, "img")
        if not annotation_files or not fs.isdir(image_dir):
            continue
        frames = numbered_frames(image_dir)
        for annotation in annotation_files:
            target = re.fullmatch(r"groundtruth_rect(?:\.(\d+))?\.txt", annotation).group(1)
            name = f"{folder}-{target}" if target and len(annotation_files) > 1 else folder
            path = fs.join(root, annotation)
            gt = read_numbers(path, columns=(4,))
            first_number = int(re.search(r"(\d+)$", os.path.splitext(frames[0])[0]).group(1))
            start = OTB_FIRST_LABELLED_FRAME.get(folder, first_number) - first_number
            video_frames = _match_lengths(name, frames, gt, path, max(start, 0))
            videos.append(Video(name, video_frames, gt))
    if not videos:
        raise BenchmarkError(
            f"{data_dir}: no OTB sequences (expected <Name>/img/ and groundtruth_rect.txt)"
        )
    return videos


def read_custom(data_dir: str) -> list[Video]:
    """siamjax's own layout: ``<sequence>/`` with frames (or ``img/``) + ``groundtruth.txt``."""
    videos = []
    for folder in _subfolders(data_dir):
        root = fs.join(data_dir, folder)
        path = fs.join(root, "groundtruth.txt")
        if not fs.isfile(path):
            continue
        image_dir = fs.join(root, "img") if fs.isdir(fs.join(root, "img")) else root
        frames = numbered_frames(image_dir)
        gt = read_numbers(path, columns=(4,))
        if len(gt) != len(frames):
            raise BenchmarkError(
                f"{path}: {len(gt)} boxes but {len(frames)} frames in video {folder}"
            )
        videos.append(Video(folder, frames, gt))
    if not videos:
        raise BenchmarkError(f"{data_dir}: no sequences (expected <name>/groundtruth.txt)")
    return videos


def read_lasot(data_dir: str) -> list[Video]:
    """LaSOT: ``<class>/<class>-<k>/img/NNNNNNNN.jpg``, ``groundtruth.txt``, occlusion flags.

    Only frames with the target visible (not full_occlusion, not out_of_view) are
    evaluated. If ``testing_set.txt`` is present at the root, only those videos are read.
    """
    listed = None
    list_path = fs.join(data_dir, "testing_set.txt")
    if fs.isfile(list_path):
        listed = {line.strip() for line in fs.read_text(list_path).splitlines() if line.strip()}
    videos = []
    for category in _subfolders(data_dir):
        for name in _subfolders(fs.join(data_dir, category)):
            if listed is not None and name not in listed:
                continue
            root = fs.join(data_dir, category, name)
            path = fs.join(root, "groundtruth.txt")
            gt = read_numbers(path, columns=(4,))
            frames = _match_lengths(name, numbered_frames(fs.join(root, "img")), gt, path)
            hidden = np.zeros(len(gt), bool)
            for flag_file in ("full_occlusion.txt", "out_of_view.txt"):
                flag_path = fs.join(root, flag_file)
                if fs.isfile(flag_path):
                    flags = read_numbers(flag_path, columns=range(1, 100000)).ravel()
                    if flags.size != len(gt):
                        raise BenchmarkError(
                            f"{flag_path}: {flags.size} flags for {len(gt)} frames"
                        )
                    hidden |= flags > 0
            videos.append(Video(name, frames, gt, evaluate=~hidden))
    if not videos:
        raise BenchmarkError(f"{data_dir}: no LaSOT sequences (<class>/<class>-k/img/)")
    return videos


def read_got10k(data_dir: str) -> list[Video]:
    """GOT-10k ``val`` or ``test`` folder: ``<seq>/NNNNNNNN.jpg`` + ``groundtruth.txt``.

    Test sequences have one labelled frame (``labelled=False``); val is fully labelled.
    Pass the split folder itself (e.g. ``GOT-10k/val``). A sequence's ``cover.label``
    (visible fraction 0-8 per frame; GOT-10k's AO drops the 0 frames) goes to
    ``attributes["cover"]`` as an (N,) int array.
    """
    videos = _first_frame_or_full(data_dir, "GOT-10k", frame_dir=lambda root: root)
    for video in videos:
        path = fs.join(data_dir, video.name, "cover.label")
        if fs.isfile(path):
            cover = read_numbers(path, columns=(1,))[:, 0]
            if len(cover) != len(video):
                raise BenchmarkError(f"{path}: {len(cover)} labels for {len(video)} frames")
            video.attributes["cover"] = cover.astype(np.int64)
    return videos


def read_trackingnet(data_dir: str) -> list[Video]:
    """TrackingNet ``TEST`` (or a TRAIN_k) folder: ``frames/<name>/N.jpg`` + ``anno/<name>.txt``."""
    frames_root, anno_root = fs.join(data_dir, "frames"), fs.join(data_dir, "anno")
    videos = []
    for name in _subfolders(frames_root):
        path = fs.join(anno_root, f"{name}.txt")
        gt = read_numbers(path, columns=(4,))
        frames = numbered_frames(fs.join(frames_root, name))
        videos.append(_labelled_video(name, frames, gt, path))
    return videos


def _labelled_video(name, frames, gt, path):
    if len(gt) == 1 and len(frames) > 1:
        full = np.full((len(frames), gt.shape[1]), np.nan)
        full[0] = gt[0]
        return Video(name, frames, full, labelled=False)
    return Video(name, _match_lengths(name, frames, gt, path), gt)


def _first_frame_or_full(data_dir, dataset, frame_dir):
    videos = []
    for name in _subfolders(data_dir):
        root = fs.join(data_dir, name)
        path = fs.join(root, "groundtruth.txt")
        if not fs.isfile(path):
            continue
        gt = read_numbers(path, columns=(4, 8))
        videos.append(_labelled_video(name, numbered_frames(frame_dir(root)), gt, path))
    if not videos:
        raise BenchmarkError(f"{data_dir}: no {dataset} sequences (<name>/groundtruth.txt)")
    return videos


def read_vot(data_dir: str) -> list[Video]:
    """VOT2016/2018/2019 and VOT2018-LT: ``list.txt``, ``<name>/color/`` (or frames in
    ``<name>/``) and ``groundtruth.txt`` of polygons (8 values) or rectangles (NaN = absent).
    """
    list_path = fs.join(data_dir, "list.txt")
    if fs.isfile(list_path):
        names = [line.strip() for line in fs.read_text(list_path).splitlines() if line.strip()]
    else:
        names = _subfolders(data_dir)
    videos = []
    for name in names:
        root = fs.join(data_dir, name)
        _require_dir(root)
        colour = fs.join(root, "color")
        frames = numbered_frames(colour if fs.isdir(colour) else root)
        path = fs.join(root, "groundtruth.txt")
        gt = read_numbers(path, columns=(4, 8))
        if len(gt) != len(frames):
            raise BenchmarkError(f"{path}: {len(gt)} regions but {len(frames)} frames in {name}")
        videos.append(Video(name, frames, gt))
    return videos


# UAV123 sub-sequences cut from one long recording: first frame (1-based) in the folder
# named before the underscore; the length is the annotation file's.
UAV123_FIRST_FRAME = {
    "bird1_2": 775, "bird1_3": 1573, "car1_2": 751, "car1_3": 1627, "car6_2": 487,
    "car6_3": 1807, "car6_4": 2953, "car6_5": 3925, "car8_2": 1657, "car16_2": 415,
    "group1_2": 1333, "group1_3": 2515, "group1_4": 3925, "group2_2": 907, "group2_3": 1771,
    "group3_2": 1567, "group3_3": 2827, "group3_4": 4369, "person2_2": 1189, "person4_2": 1501,
    "person5_2": 887, "person7_2": 1249, "person8_2": 1075, "person12_2": 601,
    "person14_2": 847, "person14_3": 1813, "person17_2": 1501, "person19_2": 1243,
    "person19_3": 2791, "truck4_2": 577, "uav1_2": 1555, "uav1_3": 2473,
}  # fmt: skip
UAV123_SPLIT = {name.rsplit("_", 1)[0] for name in UAV123_FIRST_FRAME}


def read_uav(data_dir: str, subset: str = "UAV123") -> list[Video]:
    """UAV123 / UAV20L: ``anno/<subset>/<name>.txt`` + frames in ``data_seq/UAV123/<folder>/``.

    Sub-sequences (``bird1_2``...) start at their frame of the shared folder ``bird1``;
    NaN rows (target out of view) are kept and count as failures, as in pysot.
    """
    anno_dir = fs.join(data_dir, "anno", subset)
    _require_dir(anno_dir)
    videos = []
    for file_name in sorted(n for n in fs.listdir(anno_dir) if n.endswith(".txt")):
        name = file_name[:-4]
        path = fs.join(anno_dir, file_name)
        gt = read_numbers(path, columns=(4,))
        stem = name.rsplit("_", 1)[0]
        split = subset == "UAV123" and stem in UAV123_SPLIT and name.rsplit("_", 1)[1].isdigit()
        folder = stem if split else name
        first = UAV123_FIRST_FRAME.get(name, 1) if split else 1
        frames = numbered_frames(fs.join(data_dir, "data_seq", "UAV123", folder))
        videos.append(Video(name, _match_lengths(name, frames, gt, path, first - 1), gt))
    return videos


def read_nfs(data_dir: str, fps: int = 30) -> list[Video]:
    """Need for Speed: ``<name>/<fps>/<name>/*.jpg`` + ``<name>/<fps>/<name>.txt``.

    Annotation lines are 'id x1 y1 x2 y2 frame lost occluded generated "label"' at 240 fps;
    the 30 fps frames take every 8th line; lengths may differ by a few frames, the shorter wins.
    """
    videos = []
    for name in _subfolders(data_dir):
        root = fs.join(data_dir, name, str(fps))
        path = fs.join(root, f"{name}.txt")
        if not fs.isfile(path):
            continue
        rows = []
        for number, line in enumerate(fs.read_text(path).splitlines(), start=1):
            fields = line.split()
            if not fields:
                continue
            try:
                x1, y1, x2, y2 = (float(v) for v in fields[1:5])
            except (ValueError, IndexError):
                raise BenchmarkError(f"{path}:{number}: expected 'id x1 y1 x2 y2 ...'") from None
            rows.append([x1, y1, x2 - x1, y2 - y1])
        gt = np.asarray(rows, np.float64)
        if fps == 30:
            gt = gt[0::8]
        frames = numbered_frames(fs.join(root, name))
        length = min(len(frames), len(gt))
        if abs(len(frames) - len(gt)) >= 4:
            raise BenchmarkError(f"{path}: {len(gt)} boxes for {len(frames)} frames in {name}")
        videos.append(Video(name, frames[:length], gt[:length]))
    if not videos:
        raise BenchmarkError(f"{data_dir}: no NfS sequences (<name>/{fps}/<name>.txt)")
    return videos


def read_pysot_json(data_dir: str, dataset: str) -> list[Video]:
    """pysot's dataset description ``<data_dir>/<dataset>.json`` (video_dir, img_names,
    gt_rect, optional absent flags): the exact frame lists pysot evaluates on."""
    path = fs.join(data_dir, f"{dataset}.json")
    meta = fs.read_json(path)
    videos = []
    for name, entry in meta.items():
        try:
            frames = [fs.join(data_dir, n) for n in entry["img_names"]]
            gt = [row if len(row) in (4, 8) else [np.nan] * 4 for row in entry["gt_rect"]]
        except KeyError as error:
            raise BenchmarkError(f"{path}: video {name} has no field {error}") from None
        width = max(len(row) for row in gt)
        gt = np.asarray([row if len(row) == width else [np.nan] * width for row in gt], float)
        absent = entry.get("absent")
        evaluate = None if absent is None else np.asarray(absent) == 1
        if len(gt) != len(frames):
            raise BenchmarkError(f"{path}: {name} has {len(gt)} boxes for {len(frames)} frames")
        videos.append(Video(name, frames, gt, evaluate=evaluate))
    return videos
