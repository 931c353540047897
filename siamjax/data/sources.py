"""Per-host training sources: prepared shards -> an in-memory index of tracks.

    sources = load_sources(config.input, process_index, process_count)

Each host takes the shard files of every dataset as ``files[process_index::process_count]``
(sorted names) before reading anything, so hosts see disjoint files. Only the shard
indices are loaded; records are read on demand by byte offset (``RecordReader``). A shard
shorter than its index says (a truncated copy) stops loading with an error naming the
shard, unless ``skip_corrupt`` is set: then it is skipped with a warning and counted.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading

import numpy as np

from siamjax import fs
from siamjax.data import schema
from siamjax.data.staging import copy_paths

log = logging.getLogger(__name__)


class DataError(ValueError):
    """Prepared data that cannot be used (missing, truncated, corrupt), naming the file."""


@dataclasses.dataclass
class Source:
    """One dataset on one host: tracks grouped by video, records by track.

    ``frames``, ``boxes`` (x1, y1, x2, y2 in the original image), ``shard_ids``,
    ``offsets``, ``lengths`` are flat per-record arrays sorted by (video, track, frame);
    ``track_ranges[t] = (start, stop)`` into them; ``video_tracks[v]`` lists track numbers.
    """

    name: str
    frame_range: int
    num_use: int
    shards: list
    frames: np.ndarray
    boxes: np.ndarray
    shard_ids: np.ndarray
    offsets: np.ndarray
    lengths: np.ndarray
    track_ranges: np.ndarray
    video_tracks: list
    video_names: list
    skipped_shards: list

    @property
    def num_videos(self) -> int:
        return len(self.video_tracks)


def host_shards(shard_files, process_index: int, process_count: int):
    """The files of one host: ``sorted(files)[process_index::process_count]``."""
    return sorted(shard_files)[process_index::process_count]


def _read_index(index_path: str) -> tuple[dict | None, str | None]:
    """(payload, None) of a shard's ``.index.json``, or (None, the problem naming it)."""
    try:
        payload = json.loads(fs.read_text(index_path))
        if not isinstance(payload, dict) or not isinstance(payload.get("records"), list):
            return None, f"{index_path}: not a shard index (no 'records' list)"
        int(payload["bytes"])
        return payload, None
    except OSError as error:
        return None, f"{index_path}: cannot read ({error.strerror or error})"
    except (ValueError, KeyError, TypeError) as error:
        return None, f"{index_path}: not a shard index ({type(error).__name__}: {error})"


def list_shards(path: str) -> list[str]:
    if not fs.isdir(path):
        raise DataError(f"{path}: prepared data folder does not exist (run `siamjax prep`)")
    names = [n for n in fs.listdir(path) if n.endswith(".tfrecord")]
    if not names:
        raise DataError(f"{path}: no .tfrecord shards")
    return [fs.join(path, n) for n in names]


def load_source(entry, process_index=0, process_count=1, skip_corrupt=False) -> Source:
    """Loads the index of one dataset entry (``name``, ``path``, ``frame_range``, ``num_use``)."""
    shards = host_shards(list_shards(entry.path), process_index, process_count)
    if not shards:
        raise DataError(
            f"{entry.path}: fewer shards than the {process_count} hosts; re-run prep with "
            "fewer --videos-per-shard"
        )
    rows, kept, skipped = [], [], []
    for shard in shards:
        index_path = fs.join(fs.dirname(shard), schema.index_name(fs.basename(shard)))
        if not fs.isfile(index_path):
            problem = f"{shard}: index {index_path} missing (unfinished prep?)"
        else:
            payload, problem = _read_index(index_path)
            if problem is None:
                expected, actual = payload["bytes"], fs.size(shard)
                if actual < expected:
                    problem = f"{shard}: truncated ({actual} of {expected} bytes)"
        if problem:
            if not skip_corrupt:
                raise DataError(problem + "; set config.input.skip_corrupt to skip it")
            log.warning("skipping %s", problem)
            skipped.append(problem)
            continue
        shard_id = len(kept)
        kept.append(shard)
        rows += [(*record, shard_id) for record in payload["records"]]
    if not rows:
        raise DataError(f"{entry.path}: no usable records on host {process_index}")
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    frames = np.array([r[2] for r in rows], np.int64)
    boxes = np.array([r[3:7] for r in rows], np.float64)
    offsets = np.array([r[7] for r in rows], np.int64)
    lengths = np.array([r[8] for r in rows], np.int64)
    shard_ids = np.array([r[9] for r in rows], np.int32)
    track_ranges, video_tracks, video_names = [], [], []
    start = 0
    for i in range(1, len(rows) + 1):
        if i == len(rows) or rows[i][:2] != rows[start][:2]:
            if not video_names or video_names[-1] != rows[start][0]:
                video_names.append(rows[start][0])
                video_tracks.append([])
            video_tracks[-1].append(len(track_ranges))
            track_ranges.append((start, i))
            start = i
    num_use = int(entry.get("num_use", -1))
    return Source(
        name=entry.get("name", fs.basename(entry.path)),
        frame_range=int(entry.get("frame_range", 100)),
        num_use=len(video_names) if num_use < 0 else num_use,
        shards=kept,
        frames=frames,
        boxes=boxes,
        shard_ids=shard_ids,
        offsets=offsets,
        lengths=lengths,
        track_ranges=np.asarray(track_ranges, np.int64),
        video_tracks=video_tracks,
        video_names=video_names,
        skipped_shards=skipped,
    )


def load_sources(input_config, process_index=None, process_count=None) -> list[Source]:
    if process_index is None or process_count is None:
        import jax

        process_index, process_count = jax.process_index(), jax.process_count()
    skip = bool(input_config.get("skip_corrupt", False))
    return [
        load_source(entry, process_index, process_count, skip) for entry in input_config.datasets
    ]


def record_data(record: bytes, path: str, offset: int, length: int) -> bytes:
    """The data of a framed ``record`` (header, ``length`` data bytes, checksum) read from
    ``path`` at byte ``offset``, after checking its framing and both CRC-32C checksums;
    a ``DataError`` naming the file and offset otherwise."""
    header = record[: schema.RECORD_HEADER]
    data = record[schema.RECORD_HEADER : schema.RECORD_HEADER + int(length)]
    footer = record[schema.RECORD_HEADER + int(length) :]
    problem = schema.record_problem(header, data, footer, int(length))
    if problem is not None:
        raise DataError(f"{path}: record at byte {int(offset)}: {problem}")
    return data


class RecordReader:
    """Reads record bytes by (shard, offset, length); one open file per shard and thread.

    ``stage_dir``: where local copies of URL shards appear (``siamjax/data/staging.py``);
    a shard is read from its copy as soon as the copy is complete."""

    def __init__(self, sources, stage_dir: str | None = None):
        self._paths = [list(source.shards) for source in sources]
        # Named once: a shard still in the bucket is looked for on every read.
        self._copies = [copy_paths(stage_dir, source.shards) for source in sources]
        self._local = threading.local()

    def path(self, source_id, shard_id) -> str:
        """Where a shard is read from now: its staged copy when complete, else itself."""
        copy = self._copies[source_id][shard_id]
        if copy is not None and os.path.exists(copy):
            return copy
        return self._paths[source_id][shard_id]

    def _file(self, source_id, shard_id) -> tuple:
        """(open file, its path) of a shard for this thread."""
        files = getattr(self._local, "files", None)
        if files is None:
            files = self._local.files = {}
        key = (source_id, shard_id)
        entry = files.get(key)
        if entry is not None and entry[1] != self._paths[source_id][shard_id]:
            return entry  # the staged copy, kept open for reuse
        if entry is not None and self._copies[source_id][shard_id] is None:
            return entry  # nothing to switch to: kept open for reuse
        path = self.path(source_id, shard_id)
        if entry is not None and entry[1] == path:
            return entry
        if entry is not None:
            entry[0].close()  # the bucket's file: its local copy is complete now
        try:
            files[key] = (fs.open_file(path, "rb"), path)  # gfile for URLs
        except OSError as error:
            raise DataError(f"{path}: cannot read ({error.strerror or error})") from None
        return files[key]

    def read(self, source_id, shard_id, offset, length) -> bytes:
        """A record's data after checking its framing and both CRC-32C checksums."""
        handle, path = self._file(source_id, shard_id)
        handle.seek(int(offset))
        # One read for framing, data and checksum: one request on a bucket.
        record = handle.read(schema.RECORD_HEADER + int(length) + schema.RECORD_FOOTER)
        return record_data(record, path, offset, length)

    def images(self, refs) -> list[bytes]:
        """``image_bytes`` of each (source, shard, offset, length) in ``refs``, read in
        file order: a pair's two frames of one video usually lie within one block of a
        shard, so behind a URL the second read is served by the first's request (the
        read-ahead a bucket client keeps)."""
        refs = [tuple(ref) for ref in refs]
        images = [b""] * len(refs)
        for index in sorted(range(len(refs)), key=lambda i: refs[i][:3]):
            images[index] = self.image_bytes(*refs[index])
        return images

    def image_bytes(self, source_id, shard_id, offset, length) -> bytes:
        """The JPEG bytes of a record (the Example's ``image`` feature)."""
        data = self.read(source_id, shard_id, offset, length)
        try:
            return schema.example_bytes_feature(data, "image")
        except ValueError as error:
            path = self.path(source_id, shard_id)
            raise DataError(
                f"{path}: record at byte {offset} is not an Example with an image ({error})"
            ) from error
