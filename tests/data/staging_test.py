"""Shards behind a URL copied to local disk while training reads them: readers switch to
complete copies only, the pairs do not change, stale or partial copies are never read."""

import os
import shutil
import threading
import time

import numpy as np
import pytest

from siamjax import fake_bucket
from siamjax.data import staging
from siamjax.data.pipeline import PairSource
from siamjax.data.sources import RecordReader, load_sources
from siamjax.data.workers import WorkerPairIterator
from tests.data.pipeline_test import _config, prepared  # noqa: F401 (fixture)
from tests.data.workers_test import _busy_config


def _bucket(prepared, tmp_path, latency_ms=2):  # noqa: F811
    """A copy of the prepared folder behind a fake-bucket URL (tests may rewrite it)."""
    folder = tmp_path / "bucket"
    shutil.copytree(prepared / "data", folder)
    return folder, fake_bucket.url(folder, latency_ms)


def test_stage_directory_follows_the_setting(prepared, tmp_path):  # noqa: F811
    _, url = _bucket(prepared, tmp_path)
    remote = _config(url)
    sources = load_sources(remote, 0, 1)
    assert staging.stage_directory(remote, sources).endswith(staging.AUTO_FOLDER)
    remote.stage_dir = ""
    assert staging.stage_directory(remote, sources) is None
    remote.stage_dir = str(tmp_path / "copies")
    assert staging.stage_directory(remote, sources) == str(tmp_path / "copies")
    local = _config(prepared / "data")
    assert staging.stage_directory(local, load_sources(local, 0, 1)) is None
    remote.stage_dir = "gs://bucket/copies"
    with pytest.raises(ValueError, match="stage_dir: 'gs://bucket/copies' must be a local"):
        staging.stage_directory(remote, sources)


def test_readers_switch_to_complete_copies_that_equal_the_shards(prepared, tmp_path):  # noqa: F811
    folder, url = _bucket(prepared, tmp_path)
    sources = load_sources(_config(url), 0, 1)
    stage_dir = str(tmp_path / "copies")
    reader = RecordReader(sources, stage_dir)
    ref = (0, 0, int(sources[0].offsets[0]), int(sources[0].lengths[0]))
    first = reader.read(*ref)
    assert reader.path(0, 0) == sources[0].shards[0]  # nothing staged yet: the bucket
    # A partial copy under its temporary name is never taken for a copy.
    os.makedirs(stage_dir)
    partial = staging.staged_copy_path(stage_dir, sources[0].shards[0]) + ".partial-1-2"
    open(partial, "wb").write(b"\0" * 100)
    assert reader.path(0, 0) == sources[0].shards[0]
    os.remove(partial)

    stager = staging.ShardStager(sources, stage_dir).start()
    assert stager.wait(timeout=60)
    stager.close()
    assert sorted(stager.copied) == sorted(sources[0].shards) and not stager.left_in_bucket
    for shard in sources[0].shards:
        copy = staging.staged_copy(stage_dir, shard)
        assert copy is not None
        local = folder / os.path.basename(shard)
        assert open(copy, "rb").read() == local.read_bytes()
    assert reader.path(0, 0) == staging.staged_copy(stage_dir, sources[0].shards[0])
    assert reader.read(*ref) == first  # now from the copy, same bytes
    assert reader._local.files[(0, 0)][1] == reader.path(0, 0)  # the bucket file closed


def test_a_shard_rewritten_in_the_bucket_is_copied_again(prepared, tmp_path, monkeypatch):  # noqa: F811
    folder, url = _bucket(prepared, tmp_path)
    sources = load_sources(_config(url), 0, 1)
    stage_dir = str(tmp_path / "copies")
    first = staging.ShardStager(sources, stage_dir).start()
    assert first.wait(timeout=60)
    shard = sources[0].shards[0]
    local = folder / os.path.basename(shard)
    rewritten = bytes(reversed(local.read_bytes()))  # same size, other bytes
    time.sleep(0.01)
    local.write_bytes(rewritten)

    gate, stage = threading.Event(), staging.ShardStager._stage
    monkeypatch.setattr(
        staging.ShardStager, "_stage", lambda self, u: gate.wait() and stage(self, u)
    )
    second = staging.ShardStager(sources, stage_dir).start()
    # Before any request has checked them, the earlier copies are out of the readers' way.
    assert all(staging.staged_copy(stage_dir, s) is None for s in sources[0].shards)
    gate.set()
    assert second.wait(timeout=60)
    assert shard in second.copied and set(second.reused) == set(sources[0].shards) - {shard}
    assert open(staging.staged_copy(stage_dir, shard), "rb").read() == rewritten


def test_a_shard_that_does_not_fit_stays_in_the_bucket(prepared, tmp_path, monkeypatch, caplog):  # noqa: F811
    _, url = _bucket(prepared, tmp_path)
    sources = load_sources(_config(url), 0, 1)
    stage_dir = str(tmp_path / "copies")
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(
        staging.shutil, "disk_usage", lambda path: usage._replace(free=usage.total // 100)
    )
    stager = staging.ShardStager(sources, stage_dir).start()
    assert stager.wait(timeout=60)
    assert sorted(stager.left_in_bucket) == sorted(sources[0].shards) and not stager.copied
    assert "stays in the bucket" in caplog.text and "nearly full" in caplog.text
    assert all(staging.staged_copy(stage_dir, s) is None for s in sources[0].shards)
    assert os.listdir(stage_dir) == []  # no partial file left


def test_pairs_with_staging_equal_local_ones(prepared, tmp_path):  # noqa: F811
    """The workers loader copies while it reads (some samples from the bucket, the rest
    from copies); its batches equal those from the local folder."""
    _, url = _bucket(prepared, tmp_path, latency_ms=5)
    local = _busy_config(prepared / "data", workers=2)
    remote = _busy_config(url, workers=2)
    remote.read_threads = 8
    remote.stage_dir = str(tmp_path / "copies")
    with WorkerPairIterator(local, 7, 4, 0, 0, 1) as iterator:
        expected = [next(iterator) for _ in range(6)]
    with WorkerPairIterator(remote, 7, 4, 0, 0, 1) as iterator:
        assert f"staging 3 shards from the bucket to {tmp_path / 'copies'}" in iterator.describe()
        got = [next(iterator) for _ in range(6)]
        assert iterator._stager.wait(timeout=60)
        got += [next(iterator) for _ in range(2)]
    with WorkerPairIterator(local, 7, 4, 24, 0, 1) as iterator:
        expected += [next(iterator) for _ in range(2)]
    assert len(os.listdir(tmp_path / "copies")) == 6  # 3 copies, each with its .source
    for want, have in zip(expected, got, strict=True):
        for name in want:
            np.testing.assert_array_equal(have[name], want[name], err_msg=name)
    # A PairSource alone (no stager running) reads the bucket, never unverified copies.
    assert PairSource(remote, 7, 0, 1).reader.path(0, 0).startswith(fake_bucket.SCHEME)
