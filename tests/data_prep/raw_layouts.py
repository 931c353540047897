"""Tiny raw datasets in each official layout, written by the tests themselves.

Every image is 160x120 gray noise with a solid red rectangle (the target) whose box is
returned, so crops can be checked for where the target lands.
"""

from __future__ import annotations

import json
import os

import cv2
import numpy as np

HEIGHT, WIDTH = 120, 160
RED = (0, 0, 255)


def frame_with_box(rng, index, boxes_xyxy):
    image = rng.integers(90, 140, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    for x1, y1, x2, y2 in boxes_xyxy:
        image[int(y1) : int(y2), int(x1) : int(x2)] = RED
    return image


def moving_box(index, track=0):
    x1, y1 = 30 + 4 * index + 50 * track, 30 + 2 * index
    return (x1, y1, x1 + 30, y1 + 24)


def _write(path, image):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    cv2.imwrite(path, image)


def _sequence(rng, folder, frames, name_format, annotation, first=1):
    lines = []
    for index in range(frames):
        box = moving_box(index)
        image = frame_with_box(rng, index, [box])
        _write(os.path.join(folder, name_format.format(index + first)), image)
        lines.append(f"{box[0]},{box[1]},{box[2] - box[0]},{box[3] - box[1]}")
    os.makedirs(os.path.dirname(annotation), exist_ok=True)
    with open(annotation, "w") as stream:
        stream.write("\n".join(lines) + "\n")


def write_custom(root, videos=2, frames=4, seed=0):
    rng = np.random.default_rng(seed)
    for v in range(videos):
        folder = os.path.join(root, f"seq{v}")
        _sequence(rng, folder, frames, "{:04d}.jpg", os.path.join(folder, "groundtruth.txt"))


def write_got10k(root, videos=2, frames=4):
    rng = np.random.default_rng(1)
    for v in range(videos):
        folder = os.path.join(root, "train", f"GOT-10k_Train_{v:06d}")
        _sequence(rng, folder, frames, "{:08d}.jpg", os.path.join(folder, "groundtruth.txt"))
        with open(os.path.join(folder, "absence.label"), "w") as stream:
            stream.write("\n".join(["0"] * (frames - 1) + ["1"]) + "\n")  # last frame absent


def write_lasot(root, frames=4):
    rng = np.random.default_rng(2)
    folder = os.path.join(root, "airplane", "airplane-1")
    _sequence(rng, os.path.join(folder, "img"), frames, "{:08d}.jpg",
              os.path.join(folder, "groundtruth.txt"))  # fmt: skip
    for name, flags in (("full_occlusion.txt", [0, 1, 0, 0]), ("out_of_view.txt", [0, 0, 0, 0])):
        with open(os.path.join(folder, name), "w") as stream:
            stream.write(",".join(str(f) for f in flags[:frames]) + "\n")


def write_trackingnet(root, frames=4):
    rng = np.random.default_rng(3)
    # TrackingNet numbers frames from 0
    _sequence(rng, os.path.join(root, "TRAIN_0", "frames", "vidA"), frames, "{}.jpg",
              os.path.join(root, "TRAIN_0", "anno", "vidA.txt"), first=0)  # fmt: skip


def _xml(path, filename, objects):
    parts = [f"<annotation><filename>{filename}</filename><size><width>{WIDTH}</width>"
             f"<height>{HEIGHT}</height></size>"]  # fmt: skip
    for trackid, (x1, y1, x2, y2) in objects:
        track = f"<trackid>{trackid}</trackid>" if trackid is not None else ""
        parts.append(f"<object>{track}<name>n0</name><bndbox><xmax>{x2}</xmax><xmin>{x1}</xmin>"
                     f"<ymax>{y2}</ymax><ymin>{y1}</ymin></bndbox></object>")  # fmt: skip
    parts.append("</annotation>")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as stream:
        stream.write("".join(parts))


def write_vid(root, frames=4):
    """One video, two tracks: track 0 on every frame, track 1 on frames 0 and 2 only
    (isolated frames: dropped)."""
    rng = np.random.default_rng(4)
    video = os.path.join("ILSVRC2015_VID_train_0000", "ILSVRC2015_train_00000000")
    for index in range(frames):
        boxes = [(0, moving_box(index))]
        if index in (0, 2):
            boxes.append((1, moving_box(index, track=1)))
        image = frame_with_box(rng, index, [b for _, b in boxes])
        _write(os.path.join(root, "Data", "VID", "train", video, f"{index:06d}.JPEG"), image)
        _xml(os.path.join(root, "Annotations", "VID", "train", video, f"{index:06d}.xml"),
             f"{index:06d}", boxes)  # fmt: skip


def write_det(root, images=2):
    rng = np.random.default_rng(5)
    for index in range(images):
        boxes = [moving_box(index), moving_box(index, track=1)]
        name = f"ILSVRC2013_train_{index:08d}"
        _write(os.path.join(root, "Data", "DET", "train", "sub", f"{name}.JPEG"),
               frame_with_box(rng, index, boxes))  # fmt: skip
        _xml(os.path.join(root, "Annotations", "DET", "train", "sub", f"{name}.xml"), name,
             [(None, b) for b in boxes])  # fmt: skip


def write_coco(root, images=2):
    rng = np.random.default_rng(6)
    data = {"images": [], "annotations": []}
    for index in range(images):
        box = moving_box(index)
        name = f"{index:012d}.jpg"
        _write(os.path.join(root, "train2017", name), frame_with_box(rng, index, [box]))
        data["images"].append({"id": index, "file_name": name})
        xywh = [box[0], box[1], box[2] - box[0], box[3] - box[1]]
        data["annotations"].append({"id": 100 + index, "image_id": index, "bbox": xywh})
    os.makedirs(os.path.join(root, "annotations"), exist_ok=True)
    with open(os.path.join(root, "annotations", "instances_train2017.json"), "w") as stream:
        json.dump(data, stream)


def write_ytbb(root, frames=3):
    rng = np.random.default_rng(7)
    rows = []
    for index in range(frames):
        box = moving_box(index)
        timestamp = 1000 * index
        _write(os.path.join(root, "frames", "abcdefghijk", f"{timestamp}.jpg"),
               frame_with_box(rng, index, [box]))  # fmt: skip
        rows.append(f"abcdefghijk,{timestamp},0,person,0,present,{box[0] / WIDTH},"
                    f"{box[2] / WIDTH},{box[1] / HEIGHT},{box[3] / HEIGHT}")  # fmt: skip
    rows.append("abcdefghijk,9000,0,person,0,absent,-1,-1,-1,-1")
    with open(os.path.join(root, "yt_bb_detection_train.csv"), "w") as stream:
        stream.write("\n".join(rows) + "\n")


WRITERS = {
    "custom": write_custom,
    "got10k": write_got10k,
    "lasot": write_lasot,
    "trackingnet": write_trackingnet,
    "vid": write_vid,
    "det": write_det,
    "coco": write_coco,
    "ytbb": write_ytbb,
}
# (videos, tracks, records) each layout yields
EXPECTED = {
    "custom": (2, 2, 8),
    "got10k": (2, 2, 6),
    "lasot": (1, 1, 3),
    "trackingnet": (1, 1, 4),
    "vid": (1, 1, 4),
    "det": (2, 4, 4),
    "coco": (2, 2, 2),
    "ytbb": (1, 1, 3),
}
