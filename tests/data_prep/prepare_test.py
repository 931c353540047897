"""`siamjax prep` on tiny raw datasets in every official layout, and on bad input."""

import json
import os

import cv2
import numpy as np
import pytest

from siamjax import cli
from siamjax.data.crop_box import box_in_crop
from siamjax.prep.crop import context_sides
from siamjax.prep.prepare import PrepError, prepare
from tests.data_prep.raw_layouts import EXPECTED, RED, WRITERS, write_custom


def _records(out):
    import tensorflow as tf

    from siamjax.data import schema

    found = []
    for name in sorted(os.listdir(out)):
        if name.endswith(".tfrecord"):
            for serialized in tf.data.TFRecordDataset(os.path.join(out, name)):
                example = tf.io.parse_single_example(serialized, schema.feature_spec())
                image = cv2.imdecode(np.frombuffer(example["image"].numpy(), np.uint8), 1)
                found.append((example["video"].numpy().decode(), example["box"].numpy(), image))
    return found


@pytest.mark.parametrize("dataset", sorted(WRITERS))
def test_prep_each_layout(dataset, tmp_path):
    src, out = str(tmp_path / "raw"), str(tmp_path / "out")
    WRITERS[dataset](src)
    manifest = prepare(dataset, src, out, videos_per_shard=1, progress=False)
    videos, tracks, records = EXPECTED[dataset]
    counts = manifest["counts"]
    assert (counts["videos"], counts["tracks"], counts["records"]) == (videos, tracks, records)
    assert len(manifest["shards"]) == manifest["counts"]["videos_listed"]
    with open(os.path.join(out, "manifest.json")) as stream:
        assert json.load(stream)["counts"] == counts
    for _, box, image in _records(out):
        assert image.shape == (511, 511, 3)
        # The red target is centred at (255, 255) with the docs/parity.md §6.3 size (x 510/511).
        expected = box_in_crop(box)
        mask = (image[..., 2] > 200) & (image[..., 0] < 60) & (image[..., 1] < 60)
        _, labels = cv2.connectedComponents(mask.astype(np.uint8))
        assert labels[255, 255] > 0, "the crop centre is not on the target"
        red = np.argwhere(labels == labels[255, 255])  # the target, not another object
        (top, left), (bottom, right) = red.min(0), red.max(0)
        assert abs((left + right) / 2 - 255) <= 2 and abs((top + bottom) / 2 - 255) <= 2
        assert abs((right - left + 1) - (expected[2] - expected[0])) <= 3
        assert abs((bottom - top + 1) - (expected[3] - expected[1])) <= 3


def test_prep_is_deterministic_and_resumable(tmp_path):
    src = str(tmp_path / "raw")
    write_custom(src, videos=3)
    first = prepare("custom", src, str(tmp_path / "a"), videos_per_shard=1, progress=False)
    prepare("custom", src, str(tmp_path / "b"), workers=2, videos_per_shard=1, progress=False)
    for shard in first["shards"]:
        for name in (shard["file"], shard["index"]):
            with open(tmp_path / "a" / name, "rb") as a, open(tmp_path / "b" / name, "rb") as b:
                assert a.read() == b.read(), name
    os.remove(tmp_path / "a" / first["shards"][1]["index"])
    again = prepare("custom", src, str(tmp_path / "a"), videos_per_shard=1, progress=False)
    assert again["resumed_shards"] == 2
    assert again["counts"] == first["counts"]


def test_prepared_folder_is_readable_with_tfds(tmp_path):
    import tensorflow_datasets as tfds

    src, out = str(tmp_path / "raw"), str(tmp_path / "out")
    write_custom(src, videos=3)
    manifest = prepare("custom", src, out, videos_per_shard=1, progress=False)
    builder = tfds.builder_from_directory(out)
    assert builder.info.splits["train"].num_examples == manifest["counts"]["records"]
    assert builder.info.splits["train"].num_shards == len(manifest["shards"])
    ours = _records(out)  # shard order, OpenCV decoding (BGR)
    theirs = list(tfds.as_numpy(builder.as_dataset(split="train", shuffle_files=False)))
    assert len(theirs) == len(ours)
    for (video, box, image), example in zip(ours, theirs):
        assert example["video"].decode() == video
        np.testing.assert_array_equal(example["box"], box)
        assert example["image"].shape == (511, 511, 3)
        # TensorFlow's default JPEG decoder (fast IDCT) is within a few grey levels of
        # OpenCV's; channels are RGB.
        difference = np.abs(example["image"].astype(int) - image[..., ::-1].astype(int))
        assert difference.mean() < 1.0 and difference.max() <= 16


def _bad_dataset(root):
    """Custom layout with one problem per sequence, plus one good sequence."""
    write_custom(root, videos=1)  # seq0 is good
    base = cv2.imread(os.path.join(root, "seq0", "0001.jpg"))

    def sequence(name, images, lines):
        folder = os.path.join(root, name)
        os.makedirs(folder, exist_ok=True)
        for file_name, image in images.items():
            path = os.path.join(folder, file_name)
            if isinstance(image, bytes):
                with open(path, "wb") as stream:
                    stream.write(image)
            else:
                cv2.imwrite(path, image)
        with open(os.path.join(folder, "groundtruth.txt"), "w") as stream:
            stream.write("\n".join(lines) + "\n")

    good = "30,30,30,24"
    sequence("corrupt_jpeg", {"0001.jpg": base, "0002.jpg": b"\xff\xd8 not a jpeg"}, [good] * 2)
    sequence("boxes", {f"000{i}.jpg": base for i in range(1, 5)},
             [good, "30,30,0,24", "30,30,NaN,24", "900,900,30,24"])  # fmt: skip
    sequence("empty_track", {"0001.jpg": base}, ["0,0,0,0"])
    gray = cv2.cvtColor(base, cv2.COLOR_BGR2GRAY)
    rgba = cv2.cvtColor(base, cv2.COLOR_BGR2BGRA)
    sequence("formats", {"0001.png": gray, "0002.png": rgba}, [good] * 2)
    sequence("names", {"0001.jpg": base, "frame_b.jpg": base}, [good])
    sequence("schema", {"0001.jpg": base}, ["30;30;30"])
    os.makedirs(os.path.join(root, "no_annotation"))


def test_bad_input_is_reported_and_good_items_arrive(tmp_path, capsys):
    src, out = str(tmp_path / "raw"), str(tmp_path / "out")
    _bad_dataset(src)
    assert cli.main(["prep", "--dataset", "custom", "--src", src, "--out", out]) == 0
    printed = capsys.readouterr().out
    with open(os.path.join(out, "manifest.json")) as stream:
        manifest = json.load(stream)
    reasons = {(os.path.relpath(e["item"], src) if e["item"].startswith(src) else e["item"]):
               e["reason"] for e in manifest["skipped"]}  # fmt: skip
    text = "\n".join(f"{k}: {v}" for k, v in reasons.items())
    assert (
        "empty, corrupt or undecodable image" in reasons[os.path.join("corrupt_jpeg", "0002.jpg")]
    )
    assert "zero or negative size box" in text
    assert "NaN or infinite box" in text
    assert "outside the 160x120 image" in text
    assert "empty track" in text
    assert "frame name is not a number" in reasons[os.path.join("names", "frame_b.jpg")]
    assert "annotation line is not numbers" in text or "values, expected 4" in text
    assert "no groundtruth.txt" in reasons["no_annotation"]
    notes = {os.path.basename(c["item"]): c["note"] for c in manifest["converted"]}
    assert "gray" in notes["0001.png"] and "alpha" in notes["0002.png"]
    videos = {video for video, _, _ in _records(out)}
    # good items still arrive: seq0 (4), corrupt_jpeg frame 1, boxes frame 1, both formats
    assert {"seq0", "corrupt_jpeg", "boxes", "formats", "names"} <= videos
    assert manifest["counts"]["records"] == 4 + 1 + 1 + 2 + 1
    assert "skipped" in printed and "zero or negative size box" in printed
    assert manifest["skipped_by_reason"]["NaN or infinite box"] == 1


def test_prep_errors(tmp_path, capsys):
    with pytest.raises(PrepError, match="unknown dataset 'imagenet'"):
        prepare("imagenet", str(tmp_path), str(tmp_path / "out"))
    assert cli.main(["prep", "--dataset", "custom", "--src", str(tmp_path / "nope"),
                     "--out", str(tmp_path / "o")]) == 2  # fmt: skip
    assert "source folder does not exist" in capsys.readouterr().err


def test_context_sides_match_the_spec():
    s_z, s_x = context_sides((10, 20, 110, 70))  # w 100, h 50, p 75
    assert s_z == pytest.approx(np.sqrt(175 * 125))
    assert s_x == pytest.approx(s_z * 511 / 127)
    assert RED == (0, 0, 255)


# Subprocesses of the thin data_prep/ wrappers (17 s): with the slow tests; the default
# run tests the siamjax prep / check-data code they call.
@pytest.mark.slow
def test_data_prep_scripts_run_the_siamjax_subcommands(tmp_path):
    """``python -m data_prep.{synthetic,prepare,check}``: the offline scripts over the
    ``siamjax.prep`` library, same options and exit codes as the subcommands."""
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    def script(*argv):
        return subprocess.run([sys.executable, "-m", *argv], cwd=REPO_ROOT, capture_output=True,
                              text=True, timeout=300)  # fmt: skip

    raw, out = str(tmp_path / "raw"), str(tmp_path / "prepared")
    assert script("data_prep.synthetic", "--out", raw, "--videos", "4").returncode == 0
    prepared = script("data_prep.prepare", "--dataset", "custom", "--src", f"{raw}/train",
                      "--out", out)  # fmt: skip
    assert prepared.returncode == 0, prepared.stderr[-2000:]
    checked = script("data_prep.check", out)
    assert checked.returncode == 0 and "ok: every record decodes" in checked.stdout
    assert script("data_prep.check", str(tmp_path / "missing")).returncode == 1


@pytest.mark.parametrize(
    "dataset, video, track, frame, box",
    [
        ("got10k", "GOT-10k_Train_000001", 0, 0, [0.0, 0.0, 1.0, 1.0]),
        ("vid", "ILSVRC2015_train_00005003", 12, 300, [1.5, 2.25, 511.75, 480.125]),
        ("coco", "vidéo/ünïcode", "a b", 2**40 + 3, [-3.5, 1e-7, 1e6, 3.4e38]),
    ],
)
def test_records_equal_tensorflows_bytes(tmp_path, dataset, video, track, frame, box):
    """Prep writes records without TensorFlow; they equal what TensorFlow itself writes
    (deterministic Example serialisation, TFRecordWriter's framing) byte for byte."""
    import tensorflow as tf

    from siamjax.data import schema

    jpeg = bytes(range(256)) * 3

    def _bytes(value):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    expected = tf.train.Example(
        features=tf.train.Features(
            feature={
                "dataset": _bytes(dataset.encode()),
                "video": _bytes(video.encode()),
                "track": _bytes(str(track).encode()),
                "frame": tf.train.Feature(int64_list=tf.train.Int64List(value=[frame])),
                "box": tf.train.Feature(float_list=tf.train.FloatList(value=box)),
                "image": _bytes(jpeg),
            }
        )
    ).SerializeToString(deterministic=True)
    data = schema.encode_example(dataset, video, track, frame, box, jpeg)
    assert data == expected
    path = str(tmp_path / "one.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        writer.write(data)
    with open(path, "rb") as stream:
        assert schema.frame_record(data) == stream.read()
