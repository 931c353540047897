"""Per-host sources, pysot pair sampling statistics, augmentation and the tf.data iterator."""

import logging
import os
import shutil

import cv2
import numpy as np
import pytest

from siamjax import cli
from siamjax.config_defaults import input_config
from siamjax.data.augment import crop_geometry, warp_crop_tf
from siamjax.data.photometric import finish_images
from siamjax.data.pipeline import PairIterator, PairSource
from siamjax.data.sampling import PairSampler
from siamjax.data.sources import DataError, host_shards, list_shards, load_source, load_sources
from siamjax.prep.prepare import prepare
from tests.data_prep.raw_layouts import write_custom


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("prepared")
    write_custom(str(root / "raw"), videos=6, frames=8)
    prepare("custom", str(root / "raw"), str(root / "data"), videos_per_shard=2, progress=False)
    return root


def _config(path, **changes):
    config = input_config([{"name": "toy", "path": str(path), "frame_range": 2, "num_use": -1}])
    config.videos_per_epoch = 50
    for key, value in changes.items():
        setattr(config, key, value)
    return config


def test_hosts_get_disjoint_files(prepared):
    shards = list_shards(str(prepared / "data"))
    hosts = [host_shards(shards, index, 2) for index in range(2)]
    assert not set(hosts[0]) & set(hosts[1]) and set(hosts[0]) | set(hosts[1]) == set(shards)
    entry = _config(prepared / "data").datasets[0]
    videos = [set(load_source(entry, index, 2).video_names) for index in range(2)]
    assert not videos[0] & videos[1] and len(videos[0] | videos[1]) == 6


def test_truncated_shard_is_named_or_skipped(prepared, tmp_path, caplog):
    copy = tmp_path / "data"
    shutil.copytree(prepared / "data", copy)
    shard = sorted(p for p in os.listdir(copy) if p.endswith(".tfrecord"))[1]
    size = os.path.getsize(copy / shard)
    with open(copy / shard, "r+b") as stream:
        stream.truncate(size // 2)
    with pytest.raises(DataError, match=f"{shard}: truncated"):
        load_sources(_config(copy), 0, 1)
    with caplog.at_level(logging.WARNING):
        (source,) = load_sources(_config(copy, skip_corrupt=True), 0, 1)
    assert len(source.skipped_shards) == 1 and shard in source.skipped_shards[0]
    assert source.num_videos == 4
    assert any(shard in message for message in caplog.messages)
    assert cli.main(["check-data", str(copy)]) == 1
    assert cli.main(["check-data", str(prepared / "data")]) == 0


def test_sampler_statistics(prepared):
    sources = load_sources(_config(prepared / "data"), 0, 1)
    config = _config(prepared / "data")
    config.videos_per_epoch = 3000
    sampler = PairSampler(sources, config, seed=3)
    specs = [sampler.spec(i) for i in range(3000)]
    negatives = sum(s["negative"] for s in specs)
    assert abs(negatives - 600) < 4 * np.sqrt(3000 * 0.2 * 0.8), negatives
    source = sources[0]
    offsets = []
    for spec in specs:
        template, search = spec["template"]["record"][1], spec["search"]["record"][1]
        if not spec["negative"]:
            same_track = [t for t, (a, b) in enumerate(source.track_ranges) if a <= template < b]
            start, stop = source.track_ranges[same_track[0]]
            assert start <= search < stop
            assert abs(search - template) <= 2  # frame range 2, in track order
        geometry = crop_geometry(spec["search"], spec["search"]["box"], 255)
        box = geometry["box"]
        offsets.append(((box[0] + box[2]) / 2 - 127, (box[1] + box[3]) / 2 - 127))
    offsets = np.asarray(offsets)
    # continuous shift of +-64 px in the 511 crop, divided by the scale (0.82 .. 1.18)
    assert np.abs(offsets).max() <= 64 / 0.82 + 1
    assert np.abs(offsets.mean(0)).max() < 3
    assert np.all(np.abs(offsets.std(0) - 64 / np.sqrt(3)) < 6)
    # every video is used once per pick list
    picks = sampler._epoch_picks(0)
    assert np.bincount(picks[: 6 * 500], minlength=6).min() > 0


def test_iterator_resumes_exactly(prepared):
    config = _config(prepared / "data")
    source = PairSource(config, seed=5, process_index=0, process_count=1)
    stream = PairIterator(config, 5, batch_size=4, pair_source=source)
    batches = [next(stream) for _ in range(3)]
    assert stream.state() == {"position": 12}
    restored = stream.restore({"position": 4})
    for expected in batches[1:]:
        got = next(restored)
        for key in expected:
            np.testing.assert_array_equal(got[key], expected[key])
    other = PairIterator(config, 6, batch_size=4, pair_source=PairSource(config, 6, 0, 1))
    assert not np.array_equal(next(other)["search"], batches[0]["search"])
    batch = batches[0]
    assert batch["template"].shape == (4, 127, 127, 3) and batch["search"].shape == (4, 255, 255, 3)
    assert batch["search_box"].shape == (4, 4) and batch["negative"].dtype == bool


def _augment(image, draws, box, out, gray=False):
    """The ``tf`` loader's augmentation of one crop: the 8-bit warp in TF, then the
    photometric finish the train step runs on the device."""
    import tensorflow as tf

    geometry = crop_geometry(draws, box, out)
    crop = warp_crop_tf(
        tf.constant(image),
        {"xs": tf.constant(geometry["xs"]), "ys": tf.constant(geometry["ys"])},
        tf.constant(bool(draws.get("flip", False))),
        tf.constant(gray),
    ).numpy()
    assert crop.dtype == np.uint8
    finished = finish_images(
        crop[None],
        np.asarray(draws.get("colour_offset_bgr", np.zeros(3)), np.float32)[None],
        np.int32([draws.get("blur_size", 0)]),
        np.float32([draws.get("blur_weight", 0.0)]),
    )
    return np.asarray(finished[0]), geometry


def test_augmentation_matches_opencv_within_one_grey_level():
    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.integers(0, 256, (511, 511, 3), np.uint8), (0, 0), 1.0)
    image[200:300, 220:320] = (0, 0, 255)  # hard edges
    draws = {"scale_x": 1.12, "scale_y": 0.9, "shift_x": 30.5, "shift_y": -20.25,
             "colour_offset_bgr": np.array([3.0, -2.0, 5.5]), "blur_size": 9,
             "blur_weight": 0.3}  # fmt: skip
    ours, geometry = _augment(image, draws, [220, 200, 320, 300], 255, gray=True)
    x1, y1, x2, y2 = geometry["crop_box"]
    a, b = 254 / (x2 - x1), 254 / (y2 - y1)
    gray = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    warped = cv2.warpAffine(gray, np.array([[a, 0, -a * x1], [0, b, -b * y1]]), (255, 255),
                            borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))  # fmt: skip
    coloured = warped.astype(np.float64) - draws["colour_offset_bgr"]
    kernel = np.zeros((9, 9))
    kernel[:, 4] += 0.3 / 9
    kernel[4, :] += 0.7 / 9
    expected = cv2.filter2D(coloured, -1, kernel)
    assert np.abs(ours - expected).max() <= 1.0 + 1e-3
    # the target box follows the crop: it frames the red square of the warped image
    geometric = {k: draws[k] for k in ("scale_x", "scale_y", "shift_x", "shift_y")}
    plain, geometry = _augment(image, geometric, [220, 200, 320, 300], 255)
    red = np.argwhere((plain[..., 2] > 200) & (plain[..., 0] < 50))
    (top, left), (bottom, right) = red.min(0), red.max(0)
    np.testing.assert_allclose([left, top, right, bottom], geometry["box"], atol=1.5)


def test_negative_pairs_draw_the_search_from_a_uniformly_chosen_dataset(prepared, tmp_path):
    write_custom(str(tmp_path / "raw"), videos=2, frames=3, seed=9)
    prepare("custom", str(tmp_path / "raw"), str(tmp_path / "small"), progress=False)
    config = _config(prepared / "data")
    small = {"name": "small", "path": str(tmp_path / "small"), "frame_range": 1, "num_use": 20}
    config.datasets.append(input_config([small]).datasets[0])
    config.videos_per_epoch = 2000
    config.neg = 0.5
    sampler = PairSampler(load_sources(config, 0, 1), config, seed=1)
    specs = [sampler.spec(i) for i in range(2000)]
    negatives = [s for s in specs if s["negative"]]
    from_small = sum(s["search"]["record"][0] == "small" for s in negatives)
    assert abs(from_small / len(negatives) - 0.5) < 0.08  # uniform over the two datasets
    templates_small = sum(s["template"]["record"][0] == "small" for s in specs)
    # NUM_USE: 'small' contributes 20 picks per list, 'toy' its 6 videos -> 20/26 of samples
    assert abs(templates_small / 2000 - 20 / 26) < 0.05
