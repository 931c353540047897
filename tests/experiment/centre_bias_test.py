"""The centre-bias summary on probes whose answer is known."""

import numpy as np
import pytest

from siamjax.experiment import centre_bias, report


def _probes(follow: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    targets = rng.uniform(-64, 64, (400, 2))
    peaks = np.round(follow * targets / 8) * 8  # on the score map's 8 px grid
    iou = np.where(np.max(np.abs(targets), axis=1) > 32, 1 - 0.9 * (1 - follow), 0.9)
    return {"targets": targets, "peaks": peaks, "iou": iou}


def test_peaks_that_follow_the_target_have_slope_one_and_centred_peaks_zero():
    following = centre_bias.summarise(_probes(1.0))
    centred = centre_bias.summarise(_probes(0.0))
    assert following["slope"] == pytest.approx(1.0, abs=0.02)
    assert centred["slope"] == 0.0 and centred["spread"] == 0.0
    assert following["spread"] > 40  # uniform in +-64 px: RMS radius about 52
    assert following["far_auc"] > centred["far_auc"]
    assert centred["near_auc"] == pytest.approx(np.mean(0.9 > centre_bias.SUCCESS_THRESHOLDS))


def test_report_tables_and_draws_the_probes(tmp_path):
    results = {"variants": {}}
    for name, follow in (("shift0", 0.0), ("shift64", 1.0)):
        probes = {key: np.asarray(value).tolist() for key, value in _probes(follow).items()}
        results["variants"][name] = {
            "centre_bias": {**probes, "summary": centre_bias.summarise(probes)}
        }
    table = report.centre_bias_table(results)
    assert "| shift0 | 400 | 0.0 | 0.00 |" in table
    assert "| shift64 | 400 |" in table
    (path,) = report.plot_centre_bias(results, str(tmp_path))
    assert path.endswith("centre_bias.png") and (tmp_path / "centre_bias.png").stat().st_size > 0
