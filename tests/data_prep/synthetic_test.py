import os

import numpy as np

from siamjax import cli
from siamjax.datasets.benchmark_layout import read_custom
from siamjax.prep.synthetic import generate


def test_synthetic_dataset_layout_splits_and_determinism(tmp_path, capsys):
    out = str(tmp_path / "a")
    assert cli.main(["prep", "--dataset", "synthetic", "--out", out, "--videos", "10",
                     "--seed", "4"]) == 0  # fmt: skip
    assert "train 8, val 1, test 1" in capsys.readouterr().out
    videos = read_custom(os.path.join(out, "train"))
    assert len(videos) == 8
    for video in videos:
        assert 40 <= len(video) <= 64
        boxes = video.gt
        assert np.all(boxes[:, 2:] > 0)
        assert np.all(boxes[:, 0] >= 0) and np.all(boxes[:, 0] + boxes[:, 2] <= 320)
        # smooth motion: the centre moves by at most ~10 px a frame
        centres = boxes[:, :2] + boxes[:, 2:] / 2
        assert np.abs(np.diff(centres, axis=0)).max() < 20
        # the size changes over the sequence (scale / aspect drift)
        assert np.ptp(boxes[:, 2] * boxes[:, 3]) > 0
    generate(str(tmp_path / "b"), videos=10, seed=4, progress=False)
    first = os.path.join("val", "synthetic-4-00008", "000001.jpg")
    with open(tmp_path / "a" / first, "rb") as a, open(tmp_path / "b" / first, "rb") as b:
        assert a.read() == b.read()
    with open(tmp_path / "a" / "test" / "synthetic-4-00009" / "groundtruth.txt") as stream:
        assert stream.read() == open(tmp_path / "b/test/synthetic-4-00009/groundtruth.txt").read()
