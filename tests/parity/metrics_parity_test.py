"""Metric parity with pysot's toolkit (docs/parity.md §13) on the same result files.

Needs SIAMJAX_PYSOT_DIR and pysot's compiled region extension (build it locally, never
commit it: ``cythonize`` toolkit/utils/region.pyx with include_path toolkit/utils).
Crafted VOT trajectories (boxes, polygons, failures, resets), one-pass results (with
unlabelled frames and a LaSOT-style mask) and long-term confidences are written with
siamjax's writers; siamjax's scores must equal pysot's to 6 decimals.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from siamjax.eval import metrics, results, vot_metrics
from siamjax.eval.region import vot_overlap
from tests.parity.reference_runner import pysot_dir

pytestmark = pytest.mark.parity


@pytest.fixture(scope="module")
def toolkit():
    directory = pysot_dir()
    if directory not in sys.path:
        sys.path.insert(0, directory)
    try:
        from toolkit.utils import region  # noqa: F401
    except ImportError as error:
        pytest.skip(f"pysot's region extension is not built ({error})")
    import toolkit

    return toolkit


class FakeVideo:
    def __init__(self, name, gt, width, height, trajectory, confidence=None, absent=None):
        self.name, self.gt_traj, self.width, self.height = name, gt, width, height
        self.pred_trajs = {"ours": trajectory}
        self.confidence = {"ours": confidence}
        self.tags = {"all": [1] * len(gt)}
        if absent is not None:
            self.absent = absent

    def select_tag(self, tag, start=0, end=0):
        return self.tags[tag][start:end]


class FakeDataset(list):
    def __init__(self, name, videos):
        super().__init__(videos)
        self.name = name
        self.tracker_names = ["ours"]

    def __getitem__(self, key):
        if isinstance(key, str):
            return next(video for video in self if video.name == key)
        return list.__getitem__(self, key)


def _regions(rng, length, polygons):
    centre = rng.uniform(80, 240, 2)
    size = rng.uniform(20, 80, 2)
    gt = []
    for _ in range(length):
        centre = centre + rng.normal(0, 3, 2)
        if polygons:
            angle = rng.uniform(0, np.pi)
            corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * size / 2
            rotation = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
            gt.append((corners @ rotation + centre).ravel().round(2).tolist())
        else:
            gt.append([*(centre - size / 2).round(2), *size.round(2)])
    return gt


def _vot_trajectory(rng, gt, width, height):
    trajectory, index = [], 0
    while index < len(gt):
        trajectory.append([1])
        index += 1
        while index < len(gt):
            rect = np.asarray(gt[index], float)
            if rect.size == 8:
                xs, ys = rect[0::2], rect[1::2]
                rect = np.array([xs.min(), ys.min(), xs.max() - xs.min(), ys.max() - ys.min()])
            box = rect + rng.normal(0, 6, 4) * [1, 1, 0.5, 0.5]
            if rng.random() < 0.04:
                box[:2] += 400  # a failure
            if vot_overlap(box.tolist(), gt[index], (width, height)) > 0:
                trajectory.append(box.tolist())
                index += 1
            else:
                trajectory.append([2])
                skipped = min(4, len(gt) - index - 1)
                trajectory.extend([[0]] * skipped)
                index += 1 + skipped
                break
    return trajectory[: len(gt)]


def _parse(path):
    with open(path) as stream:
        return [list(map(float, line.strip().split(","))) for line in stream]


@pytest.mark.parametrize("dataset,polygons", [("VOT2018", True), ("VOT2016", False)])
def test_vot_accuracy_robustness_eao_match_pysot(toolkit, tmp_path, dataset, polygons):
    from toolkit.evaluation import AccuracyRobustnessBenchmark, EAOBenchmark

    rng = np.random.default_rng(7)
    width, height = 320, 240
    videos, ours = [], {}
    for index in range(6):
        gt = _regions(rng, int(rng.integers(60, 200)), polygons)
        trajectory = _vot_trajectory(rng, gt, width, height)
        name = f"video{index}"
        results.write_trajectory(str(tmp_path), dataset, name, trajectory)
        stored = _parse(results.result_paths(str(tmp_path), dataset, name)["boxes"])
        assert stored == results.read_trajectory(str(tmp_path), dataset, name, len(gt))
        videos.append(FakeVideo(name, gt, width, height, [stored]))
        ours[name] = ([stored], gt, (width, height))
    fake = FakeDataset(dataset, videos)
    reference_ar = AccuracyRobustnessBenchmark(fake).eval("ours")["ours"]
    reference_eao = EAOBenchmark(fake).eval("ours")["ours"]["all"]

    overlaps = [v for values in reference_ar["overlaps"].values() for v in values]
    length = sum(len(values) for values in reference_ar["overlaps"].values())
    failures = np.sum(list(reference_ar["failures"].values()), axis=0)
    ar = vot_metrics.accuracy_robustness(ours)
    assert ar["accuracy"] == pytest.approx(np.nanmean(overlaps), abs=1e-6)
    assert ar["robustness"] == pytest.approx(np.mean(failures / length) * 100, abs=1e-6)
    assert ar["lost_number"] == pytest.approx(np.mean(failures), abs=1e-6)
    assert ar["lost_number"] > 0, "the crafted trajectories must contain failures"
    eao = vot_metrics.eao(ours, dataset)["eao"]
    print(f"{dataset}: accuracy {ar['accuracy']:.6f} lost {ar['lost_number']} EAO {eao:.6f}")
    assert eao == pytest.approx(reference_eao, abs=1e-6)


def test_ope_success_precision_norm_precision_match_pysot(toolkit, tmp_path):
    from toolkit.evaluation import OPEBenchmark

    rng = np.random.default_rng(3)
    videos, ours = [], {}
    for index in range(5):
        gt = np.asarray(_regions(rng, 80, polygons=False))
        gt[rng.random(80) < 0.05, 2] = 0  # unlabelled frames
        boxes = gt + rng.normal(0, 8, gt.shape)
        boxes[:, 2:] = np.abs(boxes[:, 2:]) + 1
        name = f"video{index}"
        results.write_results(str(tmp_path), "LaSOT", name, boxes)
        stored = np.asarray(_parse(results.result_paths(str(tmp_path), "LaSOT", name)["boxes"]))
        absent = (rng.random(80) > 0.1).astype(int) if index % 2 else None
        videos.append(FakeVideo(name, gt.tolist(), 320, 240, stored.tolist(), absent=absent))
        read_back = results.read_boxes(str(tmp_path), "LaSOT", name, 80)
        ours[name] = (gt, read_back, None if absent is None else absent == 1)
    benchmark = OPEBenchmark(FakeDataset("LaSOT", videos))
    success = np.mean(list(benchmark.eval_success("ours")["ours"].values()), axis=1).mean()
    precision = np.mean(list(benchmark.eval_precision("ours")["ours"].values()), axis=0)[20]
    norm = np.mean(list(benchmark.eval_norm_precision("ours")["ours"].values()), axis=0)[20]
    scores = metrics.ope_scores(ours)
    assert scores["success_auc"] == pytest.approx(success, abs=1e-6)
    assert scores["precision"] == pytest.approx(precision, abs=1e-6)
    assert scores["norm_precision"] == pytest.approx(norm, abs=1e-6)


def test_longterm_f_score_matches_pysot(toolkit, tmp_path):
    from toolkit.evaluation import F1Benchmark

    rng = np.random.default_rng(5)
    videos, ours = [], {}
    for index in range(4):
        gt = _regions(rng, 120, polygons=False)
        for frame in rng.choice(np.arange(1, 120), 15, replace=False):
            gt[frame] = [0]  # absent target (pysot maps NaN rows to [0])
        boxes = [[1]] + [
            (np.asarray(gt[i] if len(gt[i]) == 4 else gt[i - 1] if len(gt[i - 1]) == 4 else
                        [50, 50, 30, 30]) + rng.normal(0, 10, 4)).tolist()
            for i in range(1, 120)
        ]  # fmt: skip
        confidences = [None] + rng.uniform(0, 1, 119).round(6).tolist()
        name = f"video{index}"
        results.write_trajectory(str(tmp_path), "VOT2018-LT", name, boxes, confidences)
        paths = results.result_paths(str(tmp_path), "VOT2018-LT", name)
        stored = _parse(paths["boxes"])
        with open(paths["confidence"]) as stream:
            scores = [float("nan")] + [float(v) for v in stream.read().splitlines()[1:]]
        videos.append(FakeVideo(name, gt, 320, 240, stored, confidence=scores))
        ours[name] = (
            results.read_trajectory(str(tmp_path), "VOT2018-LT", name, 120),
            results.read_confidences(str(tmp_path), "VOT2018-LT", name, 120),
            gt,
            (320, 240),
        )
    reference = F1Benchmark(FakeDataset("VOT2018-LT", videos)).eval("ours")["ours"]
    precision = np.mean(list(reference["precision"].values()), axis=0)
    recall = np.mean(list(reference["recall"].values()), axis=0)
    f_score = 2 * precision * recall / (precision + recall)
    best = int(np.argmax(f_score))
    scores = vot_metrics.longterm_f_score(ours)
    assert scores["f_score"] == pytest.approx(f_score[best], abs=1e-6)
    assert scores["precision"] == pytest.approx(precision[best], abs=1e-6)
    assert scores["recall"] == pytest.approx(recall[best], abs=1e-6)
    assert os.path.isdir(tmp_path / "longterm")
