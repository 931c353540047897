"""Summaries over seeds and the paired bootstrap over sequences.

A variant's score on a split is the mean over sequences of per-sequence success AUC (the
one-pass protocol's AUC). Seeds give its spread (mean ± sample standard deviation). The
comparison with the baseline is paired by sequence: for each held-out sequence, the
difference of the two variants' AUC (each averaged over its seeds); resampling the
sequences with replacement gives a percentile confidence interval of the mean difference
(Efron & Tibshirani, *An Introduction to the Bootstrap*, 1993, ch. 13). An interval that
excludes 0 is a difference the held-out sequences support; one that contains 0 is not.
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
