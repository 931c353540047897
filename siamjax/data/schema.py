"""The one definition of the training-data format, shared by ``siamjax.prep`` and the loaders.

A prepared dataset is a folder (any ``tf.io.gfile`` URL)::

    DIR/manifest.json                       counts, shards, skipped items with reasons
    DIR/<dataset>-00000-of-00012.tfrecord   records, one per (video, track, frame)
    DIR/<dataset>-00000-of-00012.index.json one row per record: where it is and its box
    DIR/dataset_info.json, features.json    TFDS metadata (siamjax/prep/tfds_metadata.py)

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


def _key(number: int, wire_type: int) -> bytes:
    return _encode_varint(number << 3 | wire_type)


def _encode_varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64s as protobuf writes them: ten bytes
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _length_delimited(number: int, payload: bytes) -> bytes:
    return _key(number, 2) + _encode_varint(len(payload)) + payload


def encode_example(dataset, video, track, frame, box_xyxy, jpeg: bytes) -> bytes:
    """One record: a serialised ``tf.train.Example`` (field layout in the module docstring).

    Written as protobuf wire format here, so preparing data needs no TensorFlow (the
    bytes equal ``Example.SerializeToString(deterministic=True)``: map entries sorted by
    key, repeated floats and ints packed; tested). Feature: bytes_list = 1,
    float_list = 2, int64_list = 3; each list's values = 1.
    """
    features = {
        "dataset": _length_delimited(1, _length_delimited(1, dataset.encode())),
        "video": _length_delimited(1, _length_delimited(1, video.encode())),
        "track": _length_delimited(1, _length_delimited(1, str(track).encode())),
        "frame": _length_delimited(3, _length_delimited(1, _encode_varint(int(frame)))),
        "box": _length_delimited(
            2, _length_delimited(1, struct.pack("<4f", *(float(v) for v in box_xyxy)))
        ),
        "image": _length_delimited(1, _length_delimited(1, bytes(jpeg))),
    }
    entries = b"".join(
        _length_delimited(1, _length_delimited(1, name.encode()) + _length_delimited(2, value))
        for name, value in sorted(features.items())
    )
    return _length_delimited(1, entries)


def frame_record(data: bytes) -> bytes:
    """``data`` framed as one TFRecord: length, its masked CRC, data, the data's masked CRC
    (what ``tf.io.TFRecordWriter`` writes, without compression)."""
    length = struct.pack("<Q", len(data))
    return (
        length
        + struct.pack("<I", masked_crc32c(length))
        + data
        + struct.pack("<I", masked_crc32c(data))
    )


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


def check_header(header: bytes, length: int) -> bool:
    """Whether a record header announces ``length`` bytes (detects a shifted / bad index)."""
    return len(header) == 8 and struct.unpack("<Q", header)[0] == length


def masked_crc32c(data: bytes) -> int:
    """TFRecord's checksum: CRC-32C rotated right by 15 bits plus a constant."""
    import google_crc32c

    value = google_crc32c.value(bytes(data))
    return (((value >> 15) | (value << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def record_problem(header: bytes, data: bytes, footer: bytes, length: int) -> str | None:
    """What is wrong with one framed record (header = length + its CRC, data, footer =
    the data's CRC), or None when the length and both checksums hold."""
    if len(header) != RECORD_HEADER or not check_header(header[:8], length):
        return "length header does not match the index"
    if struct.unpack("<I", header[8:])[0] != masked_crc32c(header[:8]):
        return "length checksum mismatch"
    if len(data) != length or len(footer) != RECORD_FOOTER:
        return "truncated"
    if struct.unpack("<I", footer)[0] != masked_crc32c(data):
        return "data checksum mismatch (corrupt bytes)"
    return None


def _varint(data: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if position >= len(data):
            raise ValueError("truncated varint")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
        shift += 7


def _fields(data: bytes):
    """(field number, wire type, value) of one protobuf message; value is bytes for
    length-delimited fields. Only the wire types an Example uses (varint, 64-bit,
    length-delimited, 32-bit)."""
    position = 0
    while position < len(data):
        key, position = _varint(data, position)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, position = _varint(data, position)
        elif wire_type == 2:
            length, position = _varint(data, position)
            value = data[position : position + length]
            if len(value) != length:
                raise ValueError(f"field {number} runs past the end of the message")
            position += length
        elif wire_type in (1, 5):
            width = 8 if wire_type == 1 else 4
            value = data[position : position + width]
            position += width
        else:
            raise ValueError(f"unsupported wire type {wire_type} (field {number})")
        yield number, wire_type, value


def example_bytes_feature(data: bytes, name: str) -> bytes:
    """The first value of bytes feature ``name`` of a serialised ``tf.train.Example``.

    A few lines of protobuf wire format (Example.features = 1, Features.feature = 1 as
    map entries key = 1 / value = 2, Feature.bytes_list = 1, BytesList.value = 1), so
    the loader's worker processes read records without importing TensorFlow. Raises
    ``ValueError`` when the message is malformed or the feature is missing."""
    wanted = name.encode()
    for number, wire_type, features in _fields(data):
        if number != 1 or wire_type != 2:
            continue
        for entry_number, entry_type, entry in _fields(features):
            if entry_number != 1 or entry_type != 2:
                continue
            key = feature = None
            for field, field_type, value in _fields(entry):
                if field == 1 and field_type == 2:
                    key = bytes(value)
                elif field == 2 and field_type == 2:
                    feature = value
            if key != wanted or feature is None:
                continue
            for kind, kind_type, values in _fields(feature):
                if kind == 1 and kind_type == 2:  # bytes_list
                    for item, item_type, value in _fields(values):
                        if item == 1 and item_type == 2:
                            return bytes(value)
            raise ValueError(f"feature {name!r} holds no bytes value")
    raise ValueError(f"no feature {name!r}")
