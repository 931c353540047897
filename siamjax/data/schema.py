"""The one definition of the training-data format, shared by ``data_prep`` and the loaders.

A prepared dataset is a folder (any ``tf.io.gfile`` URL)::

    DIR/manifest.json                       counts, shards, skipped items with reasons
    DIR/<dataset>-00000-of-00012.tfrecord   records, one per (video, track, frame)
    DIR/<dataset>-00000-of-00012.index.json one row per record: where it is and its box

Each record is a ``tf.train.Example`` with ``dataset``, ``video``, ``track`` (bytes),
``frame`` (int64), ``box`` (4 floats: x1, y1, x2, y2 of the target in the *original*
image, as pysot's annotation JSONs) and ``image`` (the 511x511 context crop, JPEG). The
index lists ``[video, track, frame, x1, y1, x2, y2, offset, length]`` per record, so the
loader reads any record by byte offset without scanning a shard (TFRecord framing: 8-byte
length, 4-byte CRC, data, 4-byte CRC).
"""

from __future__ import annotations

import struct

MANIFEST = "manifest.json"
RECORD_HEADER = 12  # uint64 length + uint32 masked CRC of the length
RECORD_FOOTER = 4  # uint32 masked CRC of the data
INDEX_FIELDS = ("video", "track", "frame", "x1", "y1", "x2", "y2", "offset", "length")


def shard_name(dataset: str, index: int, count: int) -> str:
    return f"{dataset}-{index:05d}-of-{count:05d}.tfrecord"


def index_name(shard: str) -> str:
    return shard[: -len(".tfrecord")] + ".index.json"


def encode_example(dataset, video, track, frame, box_xyxy, jpeg: bytes) -> bytes:
    import tensorflow as tf

    def _bytes(value):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    example = tf.train.Example(
        features=tf.train.Features(
            feature={
                "dataset": _bytes(dataset.encode()),
                "video": _bytes(video.encode()),
                "track": _bytes(str(track).encode()),
                "frame": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(frame)])),
                "box": tf.train.Feature(
                    float_list=tf.train.FloatList(value=[float(v) for v in box_xyxy])
                ),
                "image": _bytes(jpeg),
            }
        )
    )
    # deterministic=True sorts the feature map, so equal input gives equal bytes in any process
    return example.SerializeToString(deterministic=True)


def feature_spec():
    import tensorflow as tf

    return {
        "dataset": tf.io.FixedLenFeature([], tf.string),
        "video": tf.io.FixedLenFeature([], tf.string),
        "track": tf.io.FixedLenFeature([], tf.string),
        "frame": tf.io.FixedLenFeature([], tf.int64),
        "box": tf.io.FixedLenFeature([4], tf.float32),
        "image": tf.io.FixedLenFeature([], tf.string),
    }


def record_span(offset: int, length: int) -> tuple[int, int]:
    """Byte range (start, end) of a record's data inside its shard."""
    start = offset + RECORD_HEADER
    return start, start + length


def check_header(header: bytes, length: int) -> bool:
    """Whether a record header announces ``length`` bytes (detects a shifted / bad index)."""
    return len(header) == 8 and struct.unpack("<Q", header)[0] == length
