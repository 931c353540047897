"""Summaries over seeds and the paired bootstrap over sequences.

A variant's score on a split is the mean over sequences of per-sequence success AUC (the
one-pass protocol's AUC). Seeds give its spread (mean ± sample standard deviation). The
comparison with the baseline is paired by sequence: for each held-out sequence, the
difference of the two variants' AUC (each averaged over its seeds); resampling the
sequences with replacement gives a percentile confidence interval of the mean difference
(Efron & Tibshirani, *An Introduction to the Bootstrap*, 1993, ch. 13). An interval that
excludes 0 is a difference the held-out sequences support; one that contains 0 is not.

Seeds are a second source of variance: averaging them away before resampling sequences
treats a lucky seed as a property of the variant. ``hierarchical_bootstrap`` resamples
both levels (Davison & Hinkley, *Bootstrap Methods and their Application*, 1997, §3.8:
resampling at every stage of a two-stage design): each resample draws the sequences
with replacement (shared by both variants: paired) and, independently per variant, its
seeds with replacement (their deviations widened by sqrt(K/(K−1)) for K seeds), then
takes the mean over drawn sequences of the difference of the drawn seeds' means. Its
two-sided p-value is twice the smaller tail of the resampled differences around 0.
Several variants against one baseline are several tests: ``holm`` adjusts their p-values
(Holm, *Scand. J. Statist.* 6, 1979), so the chance of any false "better"/"worse" among
them stays at most 1 − confidence.
"""

from __future__ import annotations

import numpy as np


def mean_std(values) -> dict:
    """``{'mean', 'std', 'values'}`` of per-seed values (std with ddof=1; 0 for one seed)."""
    values = np.asarray(values, np.float64)
    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return {"mean": float(np.mean(values)), "std": std, "values": values.tolist()}


def paired_bootstrap(differences, samples: int = 10000, confidence: float = 0.95,
                     seed: int = 0) -> dict:  # fmt: skip
    """Percentile bootstrap of the mean of paired per-sequence ``differences``.

    Args:
      differences: (S,) variant minus baseline, one value per sequence.
      samples: bootstrap resamples (each: S sequences drawn with replacement).
      confidence: the interval's coverage (0.95: the 2.5th and 97.5th percentiles).
      seed: the resampling's seed (the interval is deterministic).

    Returns:
      ``{'mean', 'low', 'high', 'confidence', 'samples', 'sequences'}``.
    """
    differences = np.asarray(differences, np.float64)
    if differences.ndim != 1 or len(differences) == 0:
        raise ValueError(f"need a non-empty 1-D array of differences, got {differences.shape}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(differences), size=(int(samples), len(differences)))
    means = differences[picks].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return {
        "mean": float(differences.mean()),
        "low": float(low),
        "high": float(high),
        "confidence": float(confidence),
        "samples": int(samples),
        "sequences": int(len(differences)),
    }


def verdict(interval: dict) -> str:
    """'better' / 'worse' when the interval excludes 0, else 'no clear difference'."""
    if interval["low"] > 0:
        return "better"
    if interval["high"] < 0:
        return "worse"
    return "no clear difference"


def hierarchical_bootstrap(variant, baseline, samples: int = 10000, confidence: float = 0.95,
                           seed: int = 0) -> dict:  # fmt: skip
    """Two-level percentile bootstrap of the mean per-sequence difference.

    Args:
      variant: (K, S) per-seed, per-sequence scores of the variant (K seeds, S sequences).
      baseline: (K', S) the baseline's, the same sequences in the same order.
      samples: bootstrap resamples.
      confidence: the interval's coverage.
      seed: the resampling's seed (deterministic result).

    Returns:
      ``{'mean', 'low', 'high', 'p_value', 'confidence', 'samples', 'sequences',
      'seeds'}``; ``mean`` is the observed difference of the seed-averaged scores. With
      one sequence and one seed per side the p-value is 1 (no spread to estimate).
    """
    variant = np.asarray(variant, np.float64)
    baseline = np.asarray(baseline, np.float64)
    if variant.ndim != 2 or baseline.ndim != 2 or variant.shape[1] != baseline.shape[1]:
        raise ValueError(
            f"need (seeds, sequences) arrays over the same sequences, got {variant.shape} "
            f"and {baseline.shape}"
        )
    if variant.shape[1] == 0 or 0 in (variant.shape[0], baseline.shape[0]):
        raise ValueError("need at least one seed and one sequence on each side")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    rng = np.random.default_rng(seed)
    sequences = variant.shape[1]
    picked = rng.integers(0, sequences, size=(int(samples), sequences))

    def seed_means(scores):
        # (samples, S): per resample, the mean over seeds drawn with replacement. With K
        # seeds the resampled spread is sqrt((K-1)/K) of the sample standard deviation;
        # the seeds' deviations from their mean are widened by the inverse first (the
        # usual small-sample correction), so 3 seeds are not read as a tight spread.
        count = scores.shape[0]
        if count > 1:
            centre = scores.mean(axis=0)
            scores = centre + (scores - centre) * np.sqrt(count / (count - 1))
        seeds = rng.integers(0, count, size=(int(samples), count))
        return scores[seeds].mean(axis=1)

    differences = seed_means(variant) - seed_means(baseline)
    means = np.take_along_axis(differences, picked, axis=1).mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    smaller_tail = min(np.mean(means <= 0), np.mean(means >= 0))
    if sequences < 2 and max(variant.shape[0], baseline.shape[0]) < 2:
        # One sequence and one seed: nothing to resample, so no evidence either way.
        smaller_tail = 0.5
    return {
        "mean": float(variant.mean(axis=0).mean() - baseline.mean(axis=0).mean()),
        "low": float(low),
        "high": float(high),
        "p_value": float(min(1.0, 2 * smaller_tail)),
        "confidence": float(confidence),
        "samples": int(samples),
        "sequences": int(sequences),
        "seeds": [int(variant.shape[0]), int(baseline.shape[0])],
    }


def holm(p_values) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given: the i-th smallest of m is
    multiplied by m − i + 1 (i from 1), made non-decreasing in that order and capped at
    1. Rejecting where the adjusted value is ≤ alpha keeps the family-wise error ≤ alpha."""
    p_values = np.asarray(p_values, np.float64)
    order = np.argsort(p_values, kind="stable")
    count = len(p_values)
    adjusted = np.empty(count)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (count - rank) * float(p_values[index])))
        adjusted[index] = running
    return adjusted.tolist()


def corrected_verdict(interval: dict, adjusted_p: float) -> str:
    """'better' / 'worse' when the Holm-adjusted p-value is below 1 − confidence (the
    sign from the observed difference), else 'no clear difference'."""
    if adjusted_p >= 1 - interval["confidence"]:
        return "no clear difference"
    return "better" if interval["mean"] > 0 else "worse"
