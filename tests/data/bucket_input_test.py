"""Training input from a bucket: the latency-per-request fake bucket, and the workers
loader reading through it with several reader threads per process."""

import os
import shutil
import time

import numpy as np
import pytest

from siamjax import fake_bucket, fs
from siamjax.data.pipeline import PairSource
from siamjax.data.sources import DataError
from siamjax.data.workers import WorkerPairIterator, default_read_threads
from tests.data.pipeline_test import _config, prepared  # noqa: F401 (fixture)
from tests.data.workers_test import _busy_config


def test_fake_bucket_costs_one_request_per_listing_open_and_far_read(tmp_path):
    (tmp_path / "a.bin").write_bytes(bytes(range(256)) * 4096)  # 1 MiB
    root = fake_bucket.url(tmp_path, 40)
    path = fs.join(root, "a.bin")
    started = time.perf_counter()
    assert fs.listdir(root) == ["a.bin"]  # 1 request
    with fs.open_file(path, "rb") as stream:  # 1 (open)
        stream.seek(1000)
        head = stream.read(12)  # 1: fetches a block from byte 1000
        body = stream.read(5000)  # inside the block: free
        stream.seek(900_000)
        tail = stream.read(4)  # 1: outside the block
    seconds = time.perf_counter() - started
    assert head + body == (bytes(range(256)) * 4096)[1000:6012]
    assert tail == bytes([900_000 % 256 + i for i in range(4)])
    assert 4 * 0.04 <= seconds < 4 * 0.04 + 0.12, seconds


def test_pairs_from_a_slow_bucket_equal_local_ones(prepared):  # noqa: F811
    """The same batches from ``fakebucket://`` (with reader threads, chosen automatically
    for a URL) as from the local folder."""
    local = _busy_config(prepared / "data", workers=2)
    remote = _busy_config(fake_bucket.url(prepared / "data", 5), workers=2)
    local_sources = PairSource(local, 7, 0, 1).sources
    remote_sources = PairSource(remote, 7, 0, 1).sources
    assert default_read_threads(local_sources, 2) == 1
    assert default_read_threads(remote_sources, 2) == 128
    remote.read_threads = 8  # enough to overlap, few enough for a 2-core test machine
    remote.stage_dir = ""  # every read from the bucket (staging: staging_test.py)
    with WorkerPairIterator(local, 7, 4, 0, 0, 1, sources=local_sources) as iterator:
        expected = [next(iterator) for _ in range(4)]
    with WorkerPairIterator(remote, 7, 4, 0, 0, 1, sources=remote_sources) as iterator:
        assert "8 reader threads each" in iterator.describe()
        got = [next(iterator) for _ in range(4)]
    for want, have in zip(expected, got, strict=True):
        for name in want:
            np.testing.assert_array_equal(have[name], want[name], err_msg=name)


def test_a_corrupt_record_read_by_a_reader_thread_is_reported_by_shard(prepared, tmp_path):  # noqa: F811
    """Reader threads only fetch; a record that fails its checksum is read again by the
    builder thread, which reports it naming the shard and byte offset."""
    copy = tmp_path / "data"
    shutil.copytree(prepared / "data", copy)
    config = _busy_config(fake_bucket.url(copy, 1), workers=1)
    config.read_threads = 4
    config.stage_dir = ""  # read from the bucket, where the record was corrupted
    sources = PairSource(config, 0, 0, 1).sources
    shard = sources[0].shards[0]
    local_shard = str(copy / os.path.basename(shard))
    with open(local_shard, "r+b") as stream:  # same size: the index still accepts it
        stream.write(bytes(os.path.getsize(local_shard)))
    with WorkerPairIterator(config, 0, 4, 0, 0, 1, sources=sources) as iterator:
        assert "4 reader threads each" in iterator.describe()
        with pytest.raises(DataError, match=f"{os.path.basename(shard)}: record at byte"):
            for _ in range(50):
                next(iterator)
