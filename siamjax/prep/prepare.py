"""``siamjax prep``: raw dataset -> 511 context crops in TFRecord shards + manifest.

Videos are sorted by name and cut into shards of ``videos_per_shard``; each shard is
written by one worker process (``--workers``), first under a temporary name, then renamed,
and its index written last, so a shard whose index exists is complete: a rerun skips it
(resume). The output is a pure function of the input (sorted iteration, OpenCV's
deterministic warp and JPEG encoder), so two runs give the same bytes.

Bad items are reported with the file and the reason and skipped, and counted in the
manifest: unreadable / missing images, NaN / zero-size / outside-image boxes, empty tracks,
non-numeric frame names, annotation files with the wrong schema, duplicate track ids.
Gray, 4-channel and 16-bit images are converted to 8-bit BGR and noted as ``converted``.
"""

from __future__ import annotations

import json
import math
import multiprocessing
from collections import Counter

import cv2
import numpy as np
from tqdm import tqdm

from siamjax import fs
from siamjax.data import schema
from siamjax.datasets import UnknownDataset, dataset_spec
from siamjax.prep.crop import context_crop, encode_jpeg
from siamjax.prep.tfds_metadata import write_tfds_metadata

# Defaults that keep a shard around 100-300 MB of crops.
VIDEOS_PER_SHARD = {"coco": 2000, "det": 2000, "vid": 20, "ytbb": 200}
DEFAULT_VIDEOS_PER_SHARD = 10


class PrepError(ValueError):
    """Nothing usable to prepare (unknown dataset, empty source)."""


def decode_image(data: bytes):
    """uint8 BGR image and a conversion note (None if it was 8-bit BGR already); (None,
    None) for bytes OpenCV cannot decode (empty, truncated, not an image)."""
    if not data:
        return None, None
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        return None, None
    if image is None or image.size == 0 or image.ndim not in (2, 3):
        return None, None
    if image.ndim == 3 and image.shape[2] not in (1, 3, 4):
        return None, None
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    note = None
    if image.dtype != np.uint8:
        image = cv2.convertScaleAbs(image, alpha=255.0 / max(float(image.max()), 1.0))
        note = f"{image.dtype} image scaled to 8 bits"
    if image.ndim == 2:
        image, note = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR), "gray image converted to BGR"
    elif image.shape[2] == 4:
        image, note = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR), "4-channel image: alpha dropped"
    return image, note


def check_box(box, width: int, height: int):
    """(x1, y1, x2, y2) as floats, or a reason why it cannot be used."""
    if len(box) == 5 and box[0] == "normalised":  # YT-BB stores [0, 1] coordinates
        _, xmin, ymin, xmax, ymax = box
        box = (xmin * width, ymin * height, xmax * width, ymax * height)
    values = np.asarray(box, np.float64)
    if values.shape != (4,) or not np.all(np.isfinite(values)):
        return None, f"NaN or infinite box {list(map(float, values.ravel()))}"
    x1, y1, x2, y2 = values
    if x2 - x1 <= 0 or y2 - y1 <= 0:
        return None, f"zero or negative size box {[x1, y1, x2, y2]}"
    if x2 <= 0 or y2 <= 0 or x1 >= width or y1 >= height:
        return None, f"box {[x1, y1, x2, y2]} outside the {width}x{height} image"
    return (float(x1), float(y1), float(x2), float(y2)), None


def _shard_job(job):
    """Writes one shard; returns its index payload (records, counts, problems)."""
    dataset, out, shard, videos = job
    path = fs.join(out, shard)
    records, problems, converted = [], [], []
    offset = 0
    # Written under a temporary name and renamed when complete: a rerun redoes a shard
    # whose job died, and never reads a half-written one.
    # TFRecord framing written here (schema.frame_record): no TensorFlow in the workers.
    with fs.open_file(path + ".partial", "wb") as writer:
        for video in videos:
            for frame_number in sorted(video.frames):
                boxes = {t: frames[frame_number] for t, frames in sorted(video.tracks.items())
                         if frame_number in frames}  # fmt: skip
                if not boxes:
                    continue
                image_path = video.frames[frame_number]
                try:
                    image, note = decode_image(fs.read_bytes(image_path))
                except OSError as error:
                    image, note = None, None
                    problems.append((image_path, f"cannot read image ({error})"))
                    continue
                if image is None:
                    problems.append((image_path, "empty, corrupt or undecodable image"))
                    continue
                if note:
                    converted.append((image_path, note))
                height, width = image.shape[:2]
                average = np.mean(image, axis=(0, 1))
                for track, raw_box in boxes.items():
                    box, reason = check_box(raw_box, width, height)
                    if reason:
                        problems.append((f"{image_path} (track {track})", reason))
                        continue
                    jpeg = encode_jpeg(context_crop(image, box, average))
                    data = schema.encode_example(
                        dataset, video.name, track, frame_number, box, jpeg
                    )
                    writer.write(schema.frame_record(data))
                    records.append([video.name, track, frame_number, *box, offset, len(data)])
                    offset += schema.RECORD_HEADER + len(data) + schema.RECORD_FOOTER
    fs.rename(path + ".partial", path)
    payload = {
        "shard": shard,
        "dataset": dataset,
        "records": records,
        "bytes": offset,
        "problems": problems,
        "converted": converted,
    }
    fs.write_text(fs.join(out, schema.index_name(shard)), json.dumps(payload))
    return payload


def prepare(dataset, src, out, workers=1, videos_per_shard=None, limit=None, progress=True):
    """Prepares ``dataset`` from ``src`` into ``out``; returns the manifest dict."""
    try:
        read_raw = dataset_spec(dataset, "prep").read_raw
    except UnknownDataset as error:
        raise PrepError(str(error)) from None
    if not fs.isdir(src):
        raise PrepError(f"{src}: source folder does not exist")
    videos, read_problems = read_raw(src)
    names = Counter(video.name for video in videos)
    for name, count in names.items():
        if count > 1:
            read_problems.append((name, f"duplicate video name ({count} times); kept the first"))
    seen, unique = set(), []
    for video in sorted(videos, key=lambda v: v.name):
        if video.name not in seen:
            seen.add(video.name)
            unique.append(video)
    videos = unique[:limit] if limit else unique
    if not videos:
        raise PrepError(f"{src}: no usable {dataset} videos ({len(read_problems)} problems)")
    per_shard = videos_per_shard or VIDEOS_PER_SHARD.get(dataset, DEFAULT_VIDEOS_PER_SHARD)
    count = math.ceil(len(videos) / per_shard)
    fs.makedirs(out)
    jobs, done = [], []
    for index in range(count):
        shard = schema.shard_name(dataset, index, count)
        chunk = videos[index * per_shard : (index + 1) * per_shard]
        index_path = fs.join(out, schema.index_name(shard))
        if fs.isfile(index_path) and fs.isfile(fs.join(out, shard)):
            done.append(json.loads(fs.read_text(index_path)))
        else:
            jobs.append((dataset, out, shard, chunk))
    total = sum(len(job[3]) for job in jobs)
    bar = tqdm(total=total, unit="video", desc=f"prep {dataset}", disable=not progress)
    results = list(done)
    if workers > 1 and len(jobs) > 1:
        context = multiprocessing.get_context("spawn")
        with context.Pool(min(workers, len(jobs))) as pool:
            for payload in pool.imap_unordered(_shard_job, jobs):
                results.append(payload)
                bar.update(sum(len(j[3]) for j in jobs if j[2] == payload["shard"]))
    else:
        for job in jobs:
            results.append(_shard_job(job))
            bar.update(len(job[3]))
    bar.close()
    manifest = build_manifest(dataset, src, results, read_problems, len(videos), len(done))
    fs.write_text(fs.join(out, schema.MANIFEST), json.dumps(manifest, indent=1))
    write_tfds_metadata(out, manifest)  # readable by tfds.builder_from_directory too
    return manifest


def build_manifest(dataset, src, shard_payloads, read_problems, video_count, resumed):
    payloads = sorted(shard_payloads, key=lambda p: p["shard"])
    problems = [list(p) for p in read_problems]
    converted = []
    for payload in payloads:
        problems += payload["problems"]
        converted += payload["converted"]
    records = [r for p in payloads for r in p["records"]]
    tracks = {(r[0], r[1]) for r in records}
    frames = {(r[0], r[2]) for r in records}
    reasons = Counter(_reason_kind(reason) for _, reason in problems)
    return {
        "dataset": dataset,
        "source": src,
        "format": "siamjax-511-crops-v1",
        "counts": {
            "videos": len({r[0] for r in records}),
            "videos_listed": video_count,
            "tracks": len(tracks),
            "frames": len(frames),
            "records": len(records),
            "skipped": len(problems),
            "converted": len(converted),
        },
        "skipped_by_reason": dict(sorted(reasons.items())),
        "shards": [
            {
                "file": p["shard"],
                "index": schema.index_name(p["shard"]),
                "records": len(p["records"]),
                "bytes": p["bytes"],
            }
            for p in payloads
        ],  # fmt: skip
        "resumed_shards": resumed,
        "skipped": [{"item": item, "reason": reason} for item, reason in problems],
        "converted": [{"item": item, "note": note} for item, note in converted],
    }


def _reason_kind(reason: str) -> str:
    """A reason without its values, for counting ('box [1, 2] outside ...' -> 'box outside')."""
    for kind in (
        "NaN or infinite box",
        "zero or negative size box",
        "outside the",
        "corrupt or unreadable image",
        "cannot read image",
        "frame name is not a number",
        "duplicate track id",
        "duplicate video name",
        "empty track",
        "annotation",
        "boxes for",
        "no frames",
        "no track",
    ):
        if kind in reason:
            return "box outside the image" if kind == "outside the" else kind
    return reason
