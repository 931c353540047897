"""Readers of the official raw dataset layouts -> ``RawVideo`` lists + problems.

Every reader returns ``(videos, problems)``: ``videos`` sorted by name, each with its frame
files and tracks (track id -> {frame number: box (x1, y1, x2, y2) in image pixels});
``problems`` is a list of ``(item, reason)`` for what was skipped while reading (files
that are not frames, annotation files with the wrong schema, duplicate track ids, empty
tracks). Boxes are checked against the image when it is cropped (``siamjax.prep.prepare``).

Layouts (``--src`` points at):

* ``custom``: ``<seq>/`` with frames (or ``<seq>/img/``) and ``groundtruth.txt`` of
  ``x,y,w,h`` lines, one per frame; a line of NaN / zeros marks a frame without the target.
* ``got10k``: the GOT-10k root (with ``train/``) or its ``train`` folder:
  ``<seq>/00000001.jpg``, ``groundtruth.txt``, ``absence.label``.
* ``lasot``: ``<class>/<class>-<k>/img/``, ``groundtruth.txt``, ``full_occlusion.txt``,
  ``out_of_view.txt`` (occluded / out-of-view frames are not used).
* ``trackingnet``: ``TRAIN_<k>/frames/<video>/<i>.jpg`` and ``TRAIN_<k>/anno/<video>.txt``.
* ``vid``: ILSVRC2015 ``Data/VID/train/...`` + ``Annotations/VID/train/.../*.xml``; tracks
  split into contiguous runs, single-frame runs dropped (as pysot's gen_json).
* ``det``: ILSVRC2015 ``Data/DET/train/...`` + ``Annotations/DET/train/.../*.xml``; one
  "video" per image, one track per object.
* ``coco``: ``annotations/instances_<split>.json`` + ``<split>/<file_name>``; one video per
  image, one track per annotation (crowd regions included, as pysot).
* ``ytbb``: ``yt_bb_detection_train.csv`` (+ ``_validation``) and frames
  ``frames/<youtube_id>/<timestamp_ms>.jpg``; normalised boxes are scaled by each frame's
  size (pysot kept them normalised, distorting aspect ratios).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import re
import xml.etree.ElementTree as ElementTree

import numpy as np

from siamjax import fs


@dataclasses.dataclass
class RawVideo:
    name: str
    frames: dict  # frame number -> image path
    tracks: dict  # track id (str) -> {frame number: (x1, y1, x2, y2)}


_join = fs.join
_listdir = fs.listdir


def numbered_images(folder: str, problems: list) -> dict:
    """{frame number: path} of a folder's images; non-numeric names are reported."""
    frames = {}
    for name in _listdir(folder):
        if not name.lower().endswith(fs.IMAGE_EXTENSIONS):
            continue
        match = re.fullmatch(r"(\d+)", os.path.splitext(name)[0])
        if match is None:
            problems.append((_join(folder, name), "frame name is not a number"))
            continue
        frames[int(match.group(1))] = _join(folder, name)
    return frames


def _read_rows(path: str, problems: list, columns=4):
    """Rows of numbers (comma / tab / space separated) or None (reported) on a bad schema."""
    rows = []
    try:
        lines = fs.read_text(path).splitlines()
    except (OSError, UnicodeDecodeError) as error:
        problems.append((path, f"cannot read annotation ({error})"))
        return None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        fields = [f for f in re.split(r"[,\s]+", line.strip()) if f]
        try:
            values = [float(f) for f in fields]
        except ValueError:
            problems.append((f"{path}:{number}", f"annotation line is not numbers: {line!r}"))
            return None
        if columns is not None and len(values) != columns:
            problems.append(
                (
                    f"{path}:{number}",
                    f"annotation line has {len(values)} values, expected {columns}",
                )
            )
            return None
        rows.append(values)
    return rows


def _xywh_track(rows, frame_numbers, skip=None) -> dict:
    track = {}
    for index, (row, frame) in enumerate(zip(rows, frame_numbers)):
        if skip is not None and skip[index]:
            continue
        x, y, w, h = row
        if np.isnan(row).all() or not any(row):
            continue  # an absent target (all NaN or all zero), not a bad box
        track[frame] = (x, y, x + w, y + h)
    return track


def _sequence_video(name, frame_dir, annotation, problems, skip_flags=()):
    """One track ('00') from a frame folder + an x,y,w,h file of one line per frame."""
    frames = numbered_images(frame_dir, problems)
    if not frames:
        problems.append((frame_dir, "no frames"))
        return None
    rows = _read_rows(annotation, problems)
    if rows is None:
        return None
    numbers = sorted(frames)
    if len(rows) != len(numbers):
        problems.append((annotation, f"{len(rows)} boxes for {len(numbers)} frames"))
        return None
    skip = np.zeros(len(rows), bool)
    for flag_path in skip_flags:
        if fs.isfile(flag_path):
            flags = _read_rows(flag_path, problems, columns=None)
            if flags is None:
                return None
            flags = np.asarray([v for row in flags for v in row])
            if flags.size != len(rows):
                problems.append((flag_path, f"{flags.size} flags for {len(rows)} frames"))
                return None
            skip |= flags > 0
    track = _xywh_track(rows, numbers, skip)
    if not track:
        problems.append((annotation, "empty track: no frame with the target"))
        return None
    return RawVideo(name, frames, {"00": track})


def read_custom(src: str):
    problems, videos = [], []
    for name in _listdir(src):
        root = _join(src, name)
        annotation = _join(root, "groundtruth.txt")
        if not fs.isdir(root):
            continue
        if not fs.isfile(annotation):
            problems.append((root, "no groundtruth.txt"))
            continue
        frame_dir = _join(root, "img") if fs.isdir(_join(root, "img")) else root
        video = _sequence_video(name, frame_dir, annotation, problems)
        if video:
            videos.append(video)
    return videos, problems


def read_got10k(src: str):
    root = _join(src, "train") if fs.isdir(_join(src, "train")) else src
    problems, videos = [], []
    for name in _listdir(root):
        folder = _join(root, name)
        if not fs.isfile(_join(folder, "groundtruth.txt")):
            continue
        video = _sequence_video(
            name,
            folder,
            _join(folder, "groundtruth.txt"),
            problems,
            [_join(folder, "absence.label")],
        )
        if video:
            videos.append(video)
    return videos, problems


def read_lasot(src: str):
    problems, videos = [], []
    for category in _listdir(src):
        for name in _listdir(_join(src, category)):
            folder = _join(src, category, name)
            if not fs.isfile(_join(folder, "groundtruth.txt")):
                continue
            flags = [_join(folder, "full_occlusion.txt"), _join(folder, "out_of_view.txt")]
            video = _sequence_video(
                name, _join(folder, "img"), _join(folder, "groundtruth.txt"), problems, flags
            )
            if video:
                videos.append(video)
    return videos, problems


def read_trackingnet(src: str):
    problems, videos = [], []
    chunks = [c for c in _listdir(src) if c.startswith("TRAIN_")] or [""]
    for chunk in chunks:
        frames_root, anno_root = _join(src, chunk, "frames"), _join(src, chunk, "anno")
        for name in _listdir(frames_root):
            video = _sequence_video(
                name, _join(frames_root, name), _join(anno_root, f"{name}.txt"), problems
            )
            if video:
                videos.append(video)
    return videos, problems


def _xml_objects(path, problems):
    """[(track id, (x1, y1, x2, y2))] of an ILSVRC annotation file, or None if malformed."""
    try:
        tree = ElementTree.ElementTree(ElementTree.fromstring(fs.read_bytes(path)))
    except (ElementTree.ParseError, OSError) as error:
        problems.append((path, f"annotation is not valid XML ({error})"))
        return None
    objects = []
    for index, node in enumerate(tree.findall("object")):
        try:
            box = node.find("bndbox")
            coords = tuple(float(box.find(k).text) for k in ("xmin", "ymin", "xmax", "ymax"))
        except (AttributeError, TypeError, ValueError):
            problems.append((path, f"object {index} has no numeric bndbox"))
            continue
        trackid = node.find("trackid")
        objects.append((trackid.text.strip() if trackid is not None else f"{index:02d}", coords))
    return objects


def _xml_files(root):
    return fs.walk_files(root, ".xml")


def read_vid(src: str):
    problems, videos = [], []
    ann_root = _join(src, "Annotations", "VID", "train")
    by_video = {}
    for path in _xml_files(ann_root):
        by_video.setdefault(os.path.dirname(path), []).append(path)
    for folder, paths in sorted(by_video.items()):
        name = os.path.relpath(folder, ann_root)
        frames, ids = {}, {}
        for path in paths:
            stem = os.path.splitext(os.path.basename(path))[0]
            if not stem.isdigit():
                problems.append((path, "frame name is not a number"))
                continue
            number = int(stem)
            image = path.replace(_join("Annotations", ""), _join("Data", "")).replace(
                ".xml", ".JPEG"
            )
            frames[number] = image
            objects = _xml_objects(path, problems)
            for trackid, box in objects or []:
                if number in ids.setdefault(trackid, {}):
                    problems.append((path, f"duplicate track id {trackid}"))
                    continue
                ids[trackid][number] = box
        tracks = {}
        for trackid, boxes in sorted(ids.items()):
            numbers = sorted(boxes)
            runs = np.split(numbers, np.where(np.diff(numbers) > 1)[0] + 1)
            runs = [run for run in runs if len(run) > 1]  # isolated frames dropped, as pysot
            for run_index, run in enumerate(runs):
                key = trackid if len(runs) == 1 else f"{trackid}_{run_index}"
                tracks[key] = {int(n): boxes[int(n)] for n in run}
        if tracks:
            videos.append(RawVideo(name, frames, tracks))
        else:
            problems.append((folder, "no track with two or more consecutive frames"))
    return videos, problems


def read_det(src: str):
    problems, videos = [], []
    ann_root = _join(src, "Annotations", "DET", "train")
    for path in _xml_files(ann_root):
        name = os.path.splitext(os.path.relpath(path, ann_root))[0]
        image = path.replace(_join("Annotations", ""), _join("Data", "")).replace(".xml", ".JPEG")
        objects = _xml_objects(path, problems)
        if not objects:
            continue
        tracks = {f"{i:02d}": {0: box} for i, (_, box) in enumerate(objects)}
        videos.append(RawVideo(name, {0: image}, tracks))
    return videos, problems


def read_coco(src: str):
    problems, videos = [], []
    ann_dir = _join(src, "annotations")
    for file_name in _listdir(ann_dir):
        match = re.fullmatch(r"instances_(\w+)\.json", file_name)
        if not match:
            continue
        split = match.group(1)
        path = _join(ann_dir, file_name)
        try:
            data = json.loads(fs.read_text(path))
            images = {image["id"]: image["file_name"] for image in data["images"]}
            annotations = data["annotations"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            problems.append((path, f"not a COCO instances file ({error})"))
            continue
        per_image = {}
        for annotation in annotations:
            try:
                x, y, w, h = (float(v) for v in annotation["bbox"])
                image_id = annotation["image_id"]
            except (KeyError, TypeError, ValueError):
                problems.append((path, f"annotation {annotation.get('id')} has no bbox"))
                continue
            per_image.setdefault(image_id, []).append((x, y, x + w, y + h))
        for image_id, boxes in sorted(per_image.items()):
            if image_id not in images:
                problems.append((path, f"annotation for unknown image id {image_id}"))
                continue
            stem = os.path.splitext(os.path.basename(images[image_id]))[0]
            tracks = {f"{i:02d}": {0: box} for i, box in enumerate(boxes)}
            videos.append(
                RawVideo(f"{split}/{stem}", {0: _join(src, split, images[image_id])}, tracks)
            )
    return videos, problems


def read_ytbb(src: str):
    problems, videos = [], []
    per_video = {}
    for file_name in ("yt_bb_detection_train.csv", "yt_bb_detection_validation.csv"):
        path = _join(src, file_name)
        if not fs.isfile(path):
            continue
        with io.StringIO(fs.read_text(path), newline="") as stream:
            for number, row in enumerate(csv.reader(stream), start=1):
                try:
                    youtube_id, timestamp, class_id, _, object_id, presence = row[:6]
                    xmin, xmax, ymin, ymax = (float(v) for v in row[6:10])
                    timestamp = int(timestamp)
                except (ValueError, IndexError):
                    problems.append((f"{path}:{number}", "row does not match the YT-BB schema"))
                    continue
                if presence != "present":
                    continue
                key = f"{class_id}_{object_id}"
                per_video.setdefault(youtube_id, {}).setdefault(key, {})
                track = per_video[youtube_id][key]
                if timestamp in track:
                    problems.append(
                        (f"{path}:{number}", f"duplicate track id {key} at {timestamp}")
                    )
                    continue
                track[timestamp] = ("normalised", xmin, ymin, xmax, ymax)
    for youtube_id, tracks in sorted(per_video.items()):
        folder = _join(src, "frames", youtube_id)
        frames = {t: _join(folder, f"{t}.jpg") for track in tracks.values() for t in track}
        videos.append(RawVideo(youtube_id, frames, tracks))
    if not per_video:
        problems.append((src, "no yt_bb_detection_*.csv"))
    return videos, problems
