"""``siamjax score --protocol got10k | vot-toolkit`` against the official toolkits.

The default run compares with the toolkits' numbers recorded in tests/golden (see
tests/eval/toolkit_cases.py for how to record them); the ``toolkits`` tests compare with
the toolkits live when they are installed (got10k 0.1.3 needs numpy < 1.24 for its VOT
report; vot-toolkit 0.9.0 needs attributee < 0.1.10 on Python 3.11).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from siamjax.eval import got10k_metrics, metrics, vot_metrics, vot_toolkit_metrics
from tests.eval import toolkit_cases


@pytest.fixture(scope="module")
def generated():
    one_pass, vot = toolkit_cases.cases()
    return one_pass, vot, toolkit_cases.siamjax_scores(one_pass, vot)


def _assert_agree(ours: dict, theirs: dict, toolkit: str):
    for key, expected in theirs.items():
        value = ours[key]
        if isinstance(expected, list):
            value, expected = np.asarray(value, float), np.asarray(expected, float)
            assert np.array_equal(np.isnan(value), np.isnan(expected)), (
                f"{toolkit} {key}: NaN videos"
            )
            np.testing.assert_allclose(
                value, expected, rtol=0, atol=1e-12, err_msg=f"{toolkit} {key}"
            )
        elif np.isnan(expected):
            assert np.isnan(value), f"{toolkit} {key}: {value}, the toolkit gives NaN"
        else:
            # EAO: the toolkit averages in float32
            tolerance = 1e-7 if key == "eao" else 1e-9
            assert value == pytest.approx(expected, rel=tolerance, abs=tolerance), (
                f"{toolkit} {key}"
            )


def test_generated_results_hold_every_edge_case(generated):
    one_pass, vot, _ = generated
    boxes = np.concatenate([case["boxes"][1:] for case in one_pass])
    gt = np.concatenate([case["gt"][1:] for case in one_pass])
    assert len(one_pass) >= 1000 and sum(len(case["runs"]) for case in vot) >= 1000
    with np.errstate(invalid="ignore"):
        counts = {
            "zero-area result": np.sum(boxes[:, 2] == 0),
            "negative-size result": np.sum(boxes[:, 3] < 0),
            "result outside the image": np.sum(boxes[:, 0] > 320),
            "NaN result": np.sum(np.isnan(boxes[:, 0])),
            "zero-area gt": np.sum(gt[:, 2] == 0),
            "gt centre <= 0": np.sum(gt[:, 0] + (gt[:, 2] - 1) / 2 <= 0),
            "absent gt": np.sum(np.isnan(gt[:, 0])),
            "occluded (cover 0)": sum(np.sum(case["cover"][1:] == 0) for case in one_pass),
        }
    entries = [entry for case in vot for run in case["runs"] for entry in run]
    counts["failures"] = sum(1 for entry in entries if entry == [2])
    counts["re-initialisations"] = sum(1 for entry in entries if entry == [1]) - 3 * len(vot)
    counts["polygon results"] = sum(1 for entry in entries if len(entry) == 8)
    assert min(counts.values()) >= 20, counts


def test_scores_equal_the_recorded_toolkit_scores(generated):
    *_, ours = generated
    with open(toolkit_cases.GOLDEN) as stream:
        recorded = json.load(stream)
    assert recorded["seed"] == toolkit_cases.SEED
    for toolkit in ("got10k", "vot-toolkit"):
        _assert_agree(ours[toolkit], recorded[toolkit], toolkit)


@pytest.mark.toolkits
def test_scores_equal_got10k_live(generated):
    pytest.importorskip("got10k")
    if tuple(int(part) for part in np.__version__.split(".")[:2]) >= (1, 24):
        pytest.skip(f"got10k 0.1.3's VOT report needs numpy < 1.24, this is {np.__version__}")
    one_pass, vot, ours = generated
    _assert_agree(ours["got10k"], toolkit_cases.got10k_scores(one_pass, vot), "got10k")


@pytest.mark.toolkits
def test_scores_equal_vot_toolkit_live(generated):
    pytest.importorskip("vot.analysis.supervised")
    _, vot, ours = generated
    _assert_agree(ours["vot-toolkit"], toolkit_cases.vot_toolkit_scores(vot), "vot-toolkit")


# ---- where the conventions differ, on cases small enough to check by hand -------------


def test_got10k_precision_counts_a_gt_centre_outside_the_image_pysot_does_not():
    gt = np.array([[10, 10, 20, 20], [-30, 5, 20, 20]], float)  # frame 1: centre x −20.5
    boxes = np.array([[10, 10, 20, 20], [100, 100, 20, 20]], float)
    assert metrics.precision_curve(gt, boxes)[20] == 1.0  # pysot: a hit at every threshold
    assert got10k_metrics.ope_curves(gt, boxes)[1][20] == 0.5


def test_got10k_ao_pools_frames_so_long_videos_weigh_more():
    short = (np.array([[0, 0, 10, 10]] * 2, float), np.array([[0, 0, 10, 10]] * 2, float))
    long_gt = np.array([[0, 0, 10, 10]] * 4, float)
    long_boxes = np.array([[0, 0, 10, 10]] + [[50, 50, 10, 10]] * 3, float)
    scores = got10k_metrics.ao_sr({"short": (*short, (100, 100), None),
                                   "long": (long_gt, long_boxes, (100, 100), None)})  # fmt: skip
    assert scores["ao"] == pytest.approx(0.25)  # 1 of 4 pooled frames; the mean of videos is 0.5
    assert scores["videos"]["short"]["ao"] == pytest.approx(1.0)


def test_vot_toolkit_rounds_rectangles_half_to_even_and_fills_w_pixels():
    # x = 0.5 rounds to 0 and w = 2.5 to 2: columns 0-1; against columns 0-3 (x 0, w 4)
    assert vot_toolkit_metrics.overlap([0.5, 0, 2.5, 4], [0, 0, 4, 4], (10, 10)) == 0.5
    assert vot_toolkit_metrics.overlap([1.5, 0, 2, 4], [0, 0, 4, 4], (10, 10)) == 0.5  # x → 2
    # shifted by 2 px: the toolkit 2 of 6 columns; pysot's rasteriser fills x .. x + w
    # inclusive, 3 of 7
    assert vot_toolkit_metrics.overlap([0, 0, 4, 4], [2, 0, 4, 4], (10, 10)) == pytest.approx(1 / 3)
    assert vot_metrics.vot_overlap([0, 0, 4, 4], [2, 0, 4, 4], (10, 10)) == pytest.approx(3 / 7)


def test_vot_toolkit_fills_a_rectangle_one_pixel_narrower_than_the_same_polygon():
    rectangle, polygon = [10, 10, 28, 36], [10, 10, 38, 10, 38, 46, 10, 46]
    expected = 28 * 36 / (29 * 37)  # columns 10-37 against the scanline's 10-38
    assert vot_toolkit_metrics.overlap(rectangle, polygon, (100, 100)) == pytest.approx(expected)
    assert vot_toolkit_metrics.overlap(polygon, polygon, (100, 100)) == 1.0


def test_vot_toolkit_eao_window_is_one_frame_later_than_pysots():
    gt = [[10, 10, 20, 20]] * 30
    run = [[1]] + [[10, 10, 20, 20]] * 9 + [[2]] + [[0]] * 4 + [[1]] + [[10, 10, 20, 20]] * 14
    per_video = {"v": ([run], gt, (100, 100))}
    curve = np.array(vot_toolkit_metrics.scores(per_video, low_high=(1, 3))["curve"])
    window_1_3 = vot_toolkit_metrics.scores(per_video, low_high=(1, 3))["eao"]
    assert window_1_3 == pytest.approx(np.mean(curve[1:4]))  # pysot: curve[0:3]
    # the first fragment ends at the failure (frame 10); pysot's at the re-init (frame 15)
    assert len(vot_toolkit_metrics.fragments(run, [1.0] * 30)[0][0]) == 10
