"""VOT metrics exactly as pysot's toolkit computes them (docs/parity.md §10.2-10.4), numpy only.

A trajectory is a list with one entry per frame: ``[1]`` (initialised), ``[0]`` (skipped
after a failure), ``[2]`` (failure) or a box [x, y, w, h] / polygon (8 values). Ground
truth is a list of regions; an absent target (VOT-LT NaN rows) is ``[0]``.
"""

from __future__ import annotations

import warnings

import numpy as np

from siamjax.eval.region import vot_overlap

BURNIN = 10
SKIPPING = 5
EAO_RANGES = {"VOT2016": (108, 371), "VOT2017": (100, 356), "VOT2018": (100, 356),
              "VOT2019": (46, 291)}  # fmt: skip


def _is_code(entry, code=None) -> bool:
    return len(entry) == 1 and (code is None or entry[0] == code)


def failures(trajectory) -> list[int]:
    """Frame indices with failure code 2."""
    return [index for index, entry in enumerate(trajectory) if _is_code(entry, 2)]


def frame_overlaps(trajectory, gt, bounds_wh, burnin: int = 0) -> list[float]:
    """Per-frame VOT overlaps; codes give NaN; with ``burnin`` every init frame and the
    ``burnin − 1`` frames after it are ignored (NaN)."""
    trajectory = list(trajectory)
    if burnin > 0:
        marked = [_is_code(entry, 1) for entry in trajectory]
        for index, is_init in enumerate(marked):
            if is_init:
                for offset in range(burnin):
                    if index + offset < len(trajectory):
                        trajectory[index + offset] = [0]
    length = min(len(trajectory), len(gt))
    return [vot_overlap(trajectory[i], gt[i], bounds_wh) for i in range(length)]


def accuracy_robustness(per_video: dict) -> dict:
    """{video: (trajectories (runs), gt, (W, H))} -> accuracy, robustness, lost number.

    accuracy = nanmean of all frames' overlaps (burn-in 10, per frame averaged over runs);
    lost number = mean over runs of the total failures; robustness = mean over runs of
    total failures / total frames × 100.
    """
    overlaps, lost = {}, {}
    for name, (trajectories, gt, bounds_wh) in per_video.items():
        runs = [frame_overlaps(t, gt, bounds_wh, BURNIN) for t in trajectories]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=RuntimeWarning)
            overlaps[name] = np.nanmean(np.asarray(runs, np.float64), axis=0).tolist()
        lost[name] = [len(failures(t)) for t in trajectories]
    all_overlaps = [value for values in overlaps.values() for value in values]
    length = sum(len(values) for values in overlaps.values())
    per_run = np.sum(np.asarray(list(lost.values())), axis=0)
    with warnings.catch_warnings():
        # a tracker that fails on every frame has no evaluated frame: accuracy NaN
        warnings.simplefilter("ignore", category=RuntimeWarning)
        return {
            "accuracy": float(np.nanmean(all_overlaps)),
            "robustness": float(np.mean(per_run / length) * 100),
            "lost_number": float(np.mean(per_run)),
            "videos": {
                n: {"accuracy": float(np.nanmean(overlaps[n])), "lost": lost[n]} for n in overlaps
            },
        }


def expected_overlap_curve(fragments: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Φ(i): weighted mean over fragments alive at i of mean(fragment[1..i]); Φ(0) = 1."""
    length = fragments.shape[1]
    curve = np.zeros(length, np.float32)
    curve[0] = 1
    if length <= 1:
        return curve
    alive = ~np.isnan(fragments)
    # mean over columns 1..i of each fragment, for every i at once
    running = np.cumsum(np.nan_to_num(fragments[:, 1:]), axis=1) / np.arange(1, length)
    for i in range(1, length):
        mask = alive[:, i]
        if np.any(mask):
            curve[i] = np.sum(running[mask, i - 1] * weights[mask]) / np.sum(weights[mask])
    return curve


def eao(per_video: dict, dataset: str = "VOT2018", low_high=None) -> dict:
    """{video: (trajectories (runs), gt, (W, H))} -> EAO and the expected-overlap curve.

    Overlaps with bounds (W − 1, H − 1), no burn-in; fragments restart 5 frames after each
    failure; non-final fragments are zero-padded, final ones NaN-padded (docs/parity.md §10.3).
    """
    low, high = low_high or EAO_RANGES[dataset]
    all_overlaps, all_failures, lengths = [], [], []
    runs = 1
    for trajectories, gt, (width, height) in per_video.values():
        runs = len(trajectories)
        for trajectory in trajectories:
            lengths.append(len(gt))
            all_overlaps.append(frame_overlaps(trajectory, gt, (width - 1, height - 1)))
            all_failures.append(failures(trajectory))
    fragment_num = sum(len(f) + 1 for f in all_failures)
    max_len = max(len(o) for o in all_overlaps)
    sequence_weight = 1 / (runs + 1e-10)
    fragments = np.full((fragment_num, max_len), np.nan)
    weights = np.full(fragment_num, np.nan)
    row = 0
    for length, failure_frames, overlaps in zip(lengths, all_failures, all_overlaps):
        if failure_frames:
            points = [0] + [f + SKIPPING for f in failure_frames if f + SKIPPING <= len(overlaps)]
            for i, start in enumerate(points):
                final = i == len(points) - 1
                if final:
                    fragment = np.array(overlaps[start:], np.float64)
                    tagged = max(0, min(len(overlaps), length) - start)
                    weight = tagged / (length - start + 1e-16)
                else:
                    end = points[i + 1]
                    fragment = np.array(overlaps[start : end + 1], np.float64)
                    fragments[row, :] = 0
                    weight = (min(end + 1, length) - start) / (end - start + 1)
                fragment[np.isnan(fragment)] = 0
                fragments[row, : len(fragment)] = fragment
                weights[row] = sequence_weight * weight
                row += 1
        else:
            stop = min(len(overlaps), max_len)
            fragments[row, :stop] = overlaps[:stop]
            weights[row] = sequence_weight * (min(stop, length) / stop)
            row += 1
    curve = expected_overlap_curve(fragments, weights)
    window = np.zeros(len(curve))
    window[low - 1 : high] = 1
    valid = ~np.isnan(curve)
    with np.errstate(invalid="ignore", divide="ignore"):  # sequences shorter than the range
        value = np.sum(curve[valid] * window[valid]) / np.sum(window[valid])
    return {"eao": float(value), "curve": curve.astype(np.float64).tolist(), "range": [low, high]}


def longterm_thresholds(scores: np.ndarray, resolution: int = 100) -> np.ndarray:
    """pysot's 100 confidence thresholds: −inf, 98 picks from the sorted scores, +inf."""
    scores = np.sort(scores[~np.isnan(scores)])
    delta = np.floor(len(scores) / (resolution - 2))
    picks = np.floor(np.linspace(delta - 1, len(scores) - delta, resolution - 2) + 0.5)
    thresholds = np.zeros(resolution)
    thresholds[0], thresholds[-1] = -np.inf, np.inf
    thresholds[1:-1] = scores[picks.astype(np.int32)]
    return thresholds


def longterm_f_score(per_video: dict) -> dict:
    """{video: (trajectory, confidences (N,), gt, (W, H))} -> precision, recall, F.

    Confidence NaN on frame 0; gt absent frames are ``[0]``. For each threshold τ (descending)
    a frame is 'reported' if its confidence >= τ (> 0 for −inf); precision = mean overlap of
    reported frames (1 if none), recall = their summed overlap / frames with a gt box.
    Dataset P and R are means over videos; the reported F is the maximum over τ.
    """
    every_score = np.concatenate([np.asarray(v[1], np.float64) for v in per_video.values()])
    thresholds = longterm_thresholds(every_score)[::-1]
    precisions, recalls = [], []
    for trajectory, confidences, gt, bounds_wh in per_video.values():
        labelled = sum(1 for region in gt if len(region) > 1)
        overlaps = np.array(frame_overlaps(trajectory, gt, bounds_wh), np.float64)
        overlaps[np.isnan(overlaps)] = 0
        score = np.array(confidences, np.float64)
        score[np.isnan(score)] = 0
        precision, recall = np.zeros(len(thresholds)), np.zeros(len(thresholds))
        for i, threshold in enumerate(thresholds):
            reported = score > 0 if threshold == -np.inf else score >= threshold
            if not np.any(reported):
                precision[i], recall[i] = 1, 0
            else:
                precision[i] = np.mean(overlaps[reported])
                recall[i] = np.sum(overlaps[reported]) / labelled
        precisions.append(precision)
        recalls.append(recall)
    precision = np.mean(precisions, axis=0)
    recall = np.mean(recalls, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        f_score = 2 * precision * recall / (precision + recall)
    best = int(np.nanargmax(f_score))
    return {
        "precision": float(precision[best]),
        "recall": float(recall[best]),
        "f_score": float(f_score[best]),
        "threshold": float(thresholds[best]),
    }
