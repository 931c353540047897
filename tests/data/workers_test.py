"""The ``workers`` loader: OpenCV augmentation in worker processes, shared-memory batches."""

import os
import shutil
import signal
import time

import cv2
import numpy as np
import pytest

from siamjax.data import schema
from siamjax.data.augment import augment_image_opencv, crop_geometry
from siamjax.data.pipeline import PairIterator, PairSource, pair_iterator
from siamjax.data.sources import DataError, load_sources
from siamjax.data.workers import WorkerPairIterator
from tests.data.pipeline_test import _augment, _config, prepared  # noqa: F401 (fixture)


def _busy_config(path, workers=2):
    """Every augmentation branch on: gray, blur, flip, colour."""
    config = _config(path)
    config.gray = 0.3
    config.search.blur = 0.5
    config.search.flip = 0.3
    config.template.flip = 0.3
    config.workers = workers
    config.prefetch_batches = 2
    return config


def test_worker_batches_are_the_in_process_samples_in_order(prepared):  # noqa: F811
    config = _busy_config(prepared / "data", workers=2)
    source = PairSource(config, 5, 0, 1)
    with WorkerPairIterator(config, 5, 4, 0, 0, 1, sources=source.sources) as iterator:
        assert iterator.describe().startswith("workers loader, 2 processes, 4 pairs")
        batches = [next(iterator) for _ in range(5)]
        assert iterator.state() == {"position": 20}
    for position in range(20):
        expected = source.sample(position)
        batch, index = batches[position // 4], position % 4
        assert expected.pop("skipped") == []
        for name, value in expected.items():
            np.testing.assert_array_equal(batch[name][index], value, err_msg=name)
    assert batches[0]["template"].shape == (4, 127, 127, 3)
    assert batches[0]["search"].dtype == np.uint8 and batches[0]["negative"].dtype == bool
    assert batches[0]["search_blur_size"].dtype == np.int32
    # one worker, started mid-stream (a resume), gives the same batches
    config.workers = 1
    with WorkerPairIterator(config, 5, 4, 8, 0, 1) as resumed:
        for expected in batches[2:4]:
            got = next(resumed)
            for name in expected:
                np.testing.assert_array_equal(got[name], expected[name])
        again = resumed.restore({"position": 4})
        try:
            np.testing.assert_array_equal(next(again)["search"], batches[1]["search"])
        finally:
            again.close()


def test_worker_and_tf_loaders_agree_within_one_grey_level(prepared):  # noqa: F811
    config = _busy_config(prepared / "data")
    source = PairSource(config, 2, 0, 1)
    tf_batches = PairIterator(config, 2, 4, pair_source=source)
    config.loader = "workers"
    with pair_iterator(config, 2, 4, 0, 0, 1) as workers:
        for _ in range(3):
            ours, theirs = next(workers), next(tf_batches)
            assert ours.keys() == theirs.keys()
            for name in ours:
                if name in ("template", "search"):
                    difference = ours[name].astype(int) - theirs[name].astype(int)
                    assert np.abs(difference).max() <= 1
                else:
                    assert ours[name].dtype == theirs[name].dtype, name
                    np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)
    config.loader = "threads"
    with pytest.raises(ValueError, match="config.input.loader: 'threads'"):
        pair_iterator(config, 2, 4, 0, 0, 1)


def test_opencv_augmentation_is_pysots_calls():
    rng = np.random.default_rng(1)
    image = cv2.GaussianBlur(rng.integers(0, 256, (511, 511, 3), np.uint8), (0, 0), 1.0)
    draws = {"scale_x": 0.93, "scale_y": 1.1, "shift_x": -12.5, "shift_y": 40.0,
             "colour_offset_bgr": np.array([-4.0, 1.5, 2.0]), "blur_size": 7,
             "blur_weight": 0.8, "flip": True}  # fmt: skip
    geometry = crop_geometry(draws, [200, 210, 300, 290], 255)
    ours = augment_image_opencv(image, geometry["crop_box"], 255, draws["colour_offset_bgr"],
                                7, 0.8, True, True)  # fmt: skip
    x1, y1, x2, y2 = geometry["crop_box"]
    a, b = 254 / (x2 - x1), 254 / (y2 - y1)
    gray = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    warped = cv2.warpAffine(gray, np.array([[a, 0, -a * x1], [0, b, -b * y1]]), (255, 255),
                            borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))  # fmt: skip
    kernel = np.zeros((7, 7))
    kernel[:, 3] += 0.8 / 7
    kernel[3, :] += 0.2 / 7
    expected = cv2.flip(cv2.filter2D(warped - draws["colour_offset_bgr"], -1, kernel), 1)
    assert ours.dtype == np.float32 and ours.shape == (255, 255, 3)
    np.testing.assert_allclose(ours, expected, atol=1e-3)
    # and the TF emulation is within a grey level of it
    emulated, _ = _augment(image, draws, [200, 210, 300, 290], 255, gray=True)
    assert np.abs(emulated - ours).max() <= 1.0 + 1e-3


def test_example_reader_without_tensorflow_matches_tensorflow():
    from tensorflow.core.example import example_pb2

    jpeg = cv2.imencode(".jpg", np.full((9, 9, 3), 77, np.uint8))[1].tobytes()
    record = schema.encode_example("vid", "video_1", 2, 40, [1.5, 2, 30, 41], jpeg)
    parsed = example_pb2.Example.FromString(record).features.feature
    for name in ("image", "dataset", "video", "track"):
        assert schema.example_bytes_feature(record, name) == parsed[name].bytes_list.value[0]
    with pytest.raises(ValueError, match="no feature 'missing'"):
        schema.example_bytes_feature(record, "missing")
    with pytest.raises(ValueError, match="runs past the end"):
        schema.example_bytes_feature(record[:-5], "image")


def test_corrupt_record_stops_the_workers_naming_the_shard(prepared, tmp_path):  # noqa: F811
    copy = tmp_path / "data"
    shutil.copytree(prepared / "data", copy)
    config = _busy_config(copy)
    sources = load_sources(config, 0, 1)
    shard = sources[0].shards[0]
    with open(shard, "r+b") as stream:  # same size, so the index still accepts the shard
        size = os.path.getsize(shard)
        stream.write(bytes(size))
    iterator = WorkerPairIterator(config, 0, 4, 0, 0, 1, sources=sources)
    with pytest.raises(DataError, match=f"{os.path.basename(shard)}: record at byte \\d+"):
        for _ in range(50):
            next(iterator)
    with pytest.raises(RuntimeError, match="closed"):
        next(iterator)
    assert not any(p.is_alive() for p in iterator._workers)


def test_a_dead_worker_is_an_error_not_a_hang(prepared):  # noqa: F811
    config = _busy_config(prepared / "data", workers=1)
    iterator = WorkerPairIterator(config, 0, 4, 0, 0, 1)
    next(iterator)
    (worker,) = iterator._workers
    os.kill(worker.pid, signal.SIGKILL)
    started = time.time()
    with pytest.raises(RuntimeError, match="input worker died .*exit code -9"):
        for _ in range(10):
            next(iterator)
    assert time.time() - started < 30


def test_workers_ignore_sigterm_so_a_preempted_trainer_can_save(prepared):  # noqa: F811
    config = _busy_config(prepared / "data", workers=1)
    with WorkerPairIterator(config, 0, 4, 0, 0, 1) as iterator:
        next(iterator)
        (worker,) = iterator._workers
        os.kill(worker.pid, signal.SIGTERM)
        time.sleep(0.5)
        assert worker.is_alive()
        assert next(iterator)["search"].shape == (4, 255, 255, 3)
    assert not worker.is_alive()


def test_too_little_shared_memory_is_a_clear_error(tmp_path):
    from siamjax.data.workers import check_shared_memory

    check_shared_memory(1, str(tmp_path))
    with pytest.raises(RuntimeError, match=r"needs \d+ MB of shared memory .*--shm-size"):
        check_shared_memory(2**62, str(tmp_path))


def test_default_workers_share_the_host_between_training_processes(monkeypatch):
    from siamjax.data import workers

    for name in ("SIAMJAX_LOCAL_PROCESSES", "SLURM_NTASKS_PER_NODE", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(workers.os, "cpu_count", lambda: 64)
    monkeypatch.setattr(workers, "usable_cores", lambda: 64)
    assert workers.default_workers() == 16  # capped
    monkeypatch.setenv("SLURM_NTASKS_PER_NODE", "8(x2)")  # 8 GPU processes per node
    assert workers.local_process_count() == 8 and workers.default_workers() == 8
    monkeypatch.setattr(workers, "usable_cores", lambda: 6)  # bound by --cpus-per-task
    assert workers.default_workers() == 6
    monkeypatch.setenv("SIAMJAX_LOCAL_PROCESSES", "128")
    monkeypatch.setattr(workers, "usable_cores", lambda: 64)
    assert workers.default_workers() == 1
