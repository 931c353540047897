"""Mean ± std over seeds and the paired bootstrap, on hand-computed cases."""

import numpy as np
import pytest

from siamjax.experiment.statistics import mean_std, paired_bootstrap, verdict


def test_mean_std_uses_the_sample_standard_deviation():
    stats = mean_std([0.5, 0.7, 0.9])
    assert stats["mean"] == pytest.approx(0.7)
    assert stats["std"] == pytest.approx(0.2)  # sqrt((0.04 + 0 + 0.04) / 2)
    assert mean_std([0.4])["std"] == 0.0


def test_identical_variants_give_a_zero_width_interval():
    interval = paired_bootstrap(np.zeros(12), samples=500)
    assert (interval["mean"], interval["low"], interval["high"]) == (0.0, 0.0, 0.0)
    assert verdict(interval) == "no clear difference"


def test_a_constant_shift_is_the_interval():
    interval = paired_bootstrap(np.full(7, 0.03), samples=500)
    assert interval["low"] == pytest.approx(0.03) and interval["high"] == pytest.approx(0.03)
    assert verdict(interval) == "better"
    assert verdict(paired_bootstrap(np.full(7, -0.03), samples=500)) == "worse"


def test_interval_matches_the_exact_resampling_distribution():
    """Differences (0, 0, 0, 1): a resample's mean is k/4 with k ~ Binomial(4, 1/4), so
    P(mean = 0) = 0.316 (> 2.5 %: the low end is 0) and P(mean <= 0.5) = 0.949,
    P(mean <= 0.75) = 0.996 (the 97.5th percentile is 0.75)."""
    interval = paired_bootstrap([0, 0, 0, 1], samples=100_000, seed=1)
    assert interval["mean"] == 0.25
    assert interval["low"] == 0.0
    assert interval["high"] == 0.75
    assert interval["sequences"] == 4 and interval["samples"] == 100_000
    assert verdict(interval) == "no clear difference"


def test_the_interval_is_deterministic_and_narrows_with_more_sequences():
    rng = np.random.default_rng(0)
    few = rng.normal(0.02, 0.05, 10)
    assert paired_bootstrap(few, samples=2000) == paired_bootstrap(few, samples=2000)
    many = rng.normal(0.02, 0.05, 400)
    width = paired_bootstrap(few)["high"] - paired_bootstrap(few)["low"]
    assert paired_bootstrap(many)["high"] - paired_bootstrap(many)["low"] < width / 3


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="non-empty"):
        paired_bootstrap([])
    with pytest.raises(ValueError, match="confidence"):
        paired_bootstrap([0.1, 0.2], confidence=1.5)
