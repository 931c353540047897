"""Every record read in training is checked (TFRecord length and data CRC-32C): a
corrupt record stops the loader with its shard and byte offset, or with
``input.skip_corrupt`` is replaced by the next sample and counted."""

import json
import logging
import os
import shutil

import numpy as np
import pytest

from siamjax.data import schema
from siamjax.data.pipeline import PairSource, pair_iterator
from siamjax.data.sources import DataError, RecordReader, load_sources
from tests.data.pipeline_test import _config, prepared  # noqa: F401 (fixture)


def _corrupt_every_record_of_one_shard(folder):
    """Flips bytes in the middle of each record's data (the JPEG) of the first shard;
    returns the shard path and the byte offsets of its records."""
    shard = sorted(n for n in os.listdir(folder) if n.endswith(".tfrecord"))[0]
    index = json.loads((folder / schema.index_name(shard)).read_text())
    rows = index["records"]  # [video, track, frame, x1, y1, x2, y2, offset, length]
    offsets = []
    with open(folder / shard, "r+b") as stream:
        for row in rows:
            offset, length = int(row[-2]), int(row[-1])
            middle = offset + schema.RECORD_HEADER + length // 2
            stream.seek(middle)
            chunk = bytearray(stream.read(8))
            stream.seek(middle)
            stream.write(bytes(b ^ 0x5A for b in chunk))
            offsets.append(offset)
    return str(folder / shard), offsets


@pytest.fixture()
def corrupted(prepared, tmp_path):  # noqa: F811
    copy = tmp_path / "data"
    shutil.copytree(prepared / "data", copy)
    shard, offsets = _corrupt_every_record_of_one_shard(copy)
    return copy, shard, offsets


def test_reader_names_shard_and_offset_of_a_flipped_record(corrupted):
    folder, shard, offsets = corrupted
    (source,) = load_sources(_config(folder), 0, 1)
    reader = RecordReader([source])
    shard_id = source.shards.index(shard)
    with pytest.raises(DataError, match=f"{shard}: record at byte {offsets[0]}: data checksum"):
        reader.read(0, shard_id, offsets[0], _length(folder, shard, 0))


def _length(folder, shard, row_index):
    index = json.loads((folder / schema.index_name(os.path.basename(shard))).read_text())
    return int(index["records"][row_index][-1])


@pytest.mark.parametrize("loader", ["workers", "tf"])
def test_training_input_stops_on_a_corrupt_record(corrupted, loader):
    folder, shard, _ = corrupted
    config = _config(folder, loader=loader, workers=1)
    iterator = pair_iterator(config, 0, 4, 0, 0, 1)
    with pytest.raises(DataError, match=f"{shard}: record at byte \\d+: data checksum"):
        for _ in range(40):
            next(iterator)
    iterator.close()


def test_skip_corrupt_replaces_and_counts(corrupted, caplog):
    folder, shard, _ = corrupted
    config = _config(folder, skip_corrupt=True, workers=1)
    source = PairSource(config, 0, 0, 1)
    clean = PairSource(_config(folder), 0, 0, 1)
    replaced = None
    for position in range(40):
        sample = source.sample(position)
        if sample["skipped"]:
            replaced = position, sample
            break
    assert replaced is not None, "no sample touched the corrupt shard"
    position, sample = replaced
    assert shard in sample["skipped"][0]
    substitute = position + len(sample["skipped"])
    np.testing.assert_array_equal(sample["search"], clean.sample(substitute)["search"])
    with caplog.at_level(logging.WARNING):
        iterator = pair_iterator(config, 0, 4, 0, 0, 1)
        try:
            for _ in range(10):
                next(iterator)
            assert iterator.skipped > 0
        finally:
            iterator.close()
    assert any("skipped so far" in message for message in caplog.messages)


def test_the_tf_loader_skips_as_the_workers_do_reading_through_tf_data_only(corrupted, monkeypatch):
    """With ``skip_corrupt`` both loaders replace a corrupt sample by the same next one;
    the tf loader reads its records with tf.data ops, never the Python reader."""
    folder, shard, _ = corrupted
    config = _config(folder, skip_corrupt=True, workers=1)
    config.loader = "workers"
    with pair_iterator(config, 0, 4, 0, 0, 1) as workers:
        expected = [next(workers) for _ in range(5)]
        assert workers.skipped > 0, "no sample touched the corrupt shard"

    def python_read(*args):
        raise AssertionError("the tf loader read a record through RecordReader")

    monkeypatch.setattr(RecordReader, "read", python_read)
    config.loader = "tf"
    iterator = pair_iterator(config, 0, 4, 0, 0, 1)
    try:
        for batch in expected:
            ours = next(iterator)
            np.testing.assert_array_equal(ours["search_box"], batch["search_box"])
            difference = ours["search"].astype(int) - batch["search"].astype(int)
            assert np.abs(difference).max() <= 1
    finally:
        iterator.close()
