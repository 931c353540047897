"""Mean ± std over seeds and the paired bootstrap, on hand-computed cases."""

import numpy as np
import pytest

from siamjax.experiment.statistics import (
    corrected_verdict,
    hierarchical_bootstrap,
    holm,
    mean_std,
    paired_bootstrap,
    verdict,
)


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


def test_holm_adjusts_as_the_textbook_step_down():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> monotone
    adjusted = holm([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.6, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm([0.02]) == pytest.approx([0.02])  # one comparison: unchanged


def _simulated_scores(rng, difference, seed_sd, seeds=3, sequences=40):
    """(variant, baseline) per-seed, per-sequence scores: a sequence difficulty shared by
    both, a per-seed offset (a lucky or unlucky training run) and per-run noise."""
    difficulty = rng.normal(0.5, 0.1, sequences)

    def runs(shift):
        offsets = rng.normal(0, seed_sd, (seeds, 1))
        return difficulty + shift + offsets + rng.normal(0, 0.02, (seeds, sequences))

    return runs(difference), runs(0.0)


def test_seed_variance_is_not_averaged_away():
    """Known answer: no true difference, but training runs vary (seed offsets of 0.03).
    Averaging seeds before resampling sequences calls most such comparisons significant
    (79 % of 300 trials measured); the two-level bootstrap calls 13 % (nominal 5 %: three
    seeds are few to estimate a spread from)."""
    rng = np.random.default_rng(0)
    trials, naive_calls, hierarchical_calls = 100, 0, 0
    for trial in range(trials):
        variant, baseline = _simulated_scores(rng, 0.0, seed_sd=0.03)
        naive = paired_bootstrap(variant.mean(0) - baseline.mean(0), samples=1000, seed=trial)
        naive_calls += verdict(naive) != "no clear difference"
        interval = hierarchical_bootstrap(variant, baseline, samples=1000, seed=trial)
        hierarchical_calls += corrected_verdict(interval, interval["p_value"]) != (
            "no clear difference"
        )
    assert naive_calls / trials > 0.5, naive_calls
    assert hierarchical_calls / trials <= 0.2, hierarchical_calls


def test_a_real_difference_is_found_despite_seed_variance():
    rng = np.random.default_rng(1)
    found = 0
    for trial in range(40):
        variant, baseline = _simulated_scores(rng, 0.15, seed_sd=0.03)
        interval = hierarchical_bootstrap(variant, baseline, samples=1000, seed=trial)
        found += corrected_verdict(interval, interval["p_value"]) == "better"
        assert interval["low"] <= interval["mean"] <= interval["high"]
    assert found >= 36, found


def test_hierarchical_bootstrap_without_seed_spread_is_the_paired_bootstrap():
    """One seed per side: the two-level bootstrap reduces to resampling sequences."""
    differences = np.array([0.0, 0.0, 0.0, 1.0])
    interval = hierarchical_bootstrap(differences[None], np.zeros((1, 4)), samples=100_000,
                                      seed=1)  # fmt: skip
    assert (interval["mean"], interval["low"], interval["high"]) == (0.25, 0.0, 0.75)
    # P(resampled mean <= 0) = 0.75^4 = 0.316: two-sided p = 0.633
    assert interval["p_value"] == pytest.approx(2 * 0.75**4, abs=0.01)
    with pytest.raises(ValueError, match="same sequences"):
        hierarchical_bootstrap(np.zeros((2, 3)), np.zeros((2, 4)))


def test_one_sequence_and_one_seed_give_no_verdict():
    from siamjax.experiment import statistics

    interval = statistics.hierarchical_bootstrap([[0.5]], [[0.4]], samples=200)
    assert interval["p_value"] == 1.0
    assert statistics.corrected_verdict(interval, interval["p_value"]) == "no clear difference"
