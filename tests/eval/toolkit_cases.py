"""Generated tracking results with the edge cases toolkits disagree on, scored by siamjax
under each ``--protocol`` and by the official toolkits themselves.

    python -m tests.eval.toolkit_cases --record   # in a venv with got10k and vot-toolkit
    python -m tests.eval.toolkit_cases --table    # the docs/parity.md table

Numpy only at import, so it also runs in a venv holding just the toolkits. The toolkits'
own functions score the cases (``got10k`` 0.1.3: ``rect_iou``, ``center_error``,
``ExperimentOTB._calc_curves``, ``ExperimentGOT10k._evaluate``, ``ExperimentVOT._calc_iou``;
``vot-toolkit`` 0.9: ``parse_region``, ``compute_accuracy``, ``count_failures``,
``AverageAccuracyRobustness.aggregate``, ``EAOCurve.subcompute``); only the few lines of
their report loops that stack per-video arrays are restated here.
"""

from __future__ import annotations

import argparse
import json
import os
import types
import warnings

import numpy as np

GOLDEN = os.path.join(os.path.dirname(__file__), "..", "golden", "toolkit_scores.json")
SEED = 24
ONE_PASS_VIDEOS = 1000
VOT_VIDEOS = 350
VOT_RUNS = 3  # pysot averages runs per frame, so every video has the same count
IMAGE_SIZES = ((320, 240), (640, 480), (1280, 720))
VOT_DATASET = "VOT2018"


def _walk(rng, length, width, height):
    """(length, 4) [x, y, w, h] ground truth drifting around the image (may leave it)."""
    size = rng.uniform(8, 0.4 * min(width, height), 2)
    centre = rng.uniform([0, 0], [width, height])
    boxes = []
    for _ in range(length):
        centre = centre + rng.normal(0, 4, 2)
        size = np.clip(size * np.exp(rng.normal(0, 0.03, 2)), 4, min(width, height))
        boxes.append([*(centre - size / 2), *size])
    return np.round(np.array(boxes), 2)


def one_pass_case(rng, index: int) -> dict:
    """One video: gt, results, image (W, H) and GOT-10k cover labels, with edge cases."""
    width, height = IMAGE_SIZES[rng.integers(len(IMAGE_SIZES))]
    length = int(rng.integers(10, 150))
    gt = _walk(rng, length, width, height)
    quality = rng.uniform(0.02, 0.6)  # relative noise: a good to a poor tracker
    boxes = gt + rng.normal(0, 1, gt.shape) * quality * np.tile(gt[:, 2:], 2)
    if rng.random() < 0.3:  # lost the target from some frame on
        start = int(rng.integers(1, length))
        boxes[start:, :2] += rng.uniform(-300, 300, 2)
    cover = rng.integers(1, 9, length)
    edits = rng.random((length, 8)) < [0.02, 0.02, 0.02, 0.02, 0.02, 0.02, 0.01, 0.04]
    boxes[edits[:, 0], 2] = 0  # zero-area results
    boxes[edits[:, 1], 3] = -boxes[edits[:, 1], 3]  # negative size
    boxes[edits[:, 2], :2] = [width + 50, height + 50]  # outside the image
    boxes[edits[:, 3]] = np.nan  # no output
    gt[edits[:, 4], 2] = 0  # unlabelled (zero-area) ground truth
    gt[edits[:, 5], :2] = -gt[edits[:, 5], 2:] / 2 - 1  # gt centre above / left of the image
    gt[edits[:, 6]] = np.nan  # absent target
    cover[edits[:, 7]] = 0  # fully occluded (GOT-10k)
    gt[0] = np.abs(_walk(rng, 1, width, height)[0])  # a usable first frame
    return {"name": f"ope{index:04d}", "gt": gt, "boxes": np.round(boxes, 4),
            "size": (width, height), "cover": cover}  # fmt: skip


def _polygon(box, angle):
    x, y, w, h = box
    corners = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2
    rotation = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    return np.round(corners @ rotation + [x + w / 2, y + h / 2], 2).ravel().tolist()


def _box_iou(a, b):
    left, top = max(a[0], b[0]), max(a[1], b[1])
    right, bottom = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, right - left) * max(0.0, bottom - top)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _reset_run(rng, gt_boxes, polygons: bool) -> list:
    """A supervised (reset) run: [1] init, boxes, [2] failure, [0] skipped, re-init 5 on."""
    quality = rng.uniform(0.03, 0.2)
    drift_rate = rng.uniform(0.0, 0.01)
    trajectory, frame, offset = [], 0, np.zeros(2)
    while frame < len(gt_boxes):
        trajectory.append([1])
        offset[:] = 0
        frame += 1
        while frame < len(gt_boxes):
            truth = gt_boxes[frame]
            if rng.random() < drift_rate:
                offset += rng.normal(0, 0.8, 2) * truth[2:]
            box = truth + np.concatenate([offset, [0, 0]])
            box = box + rng.normal(0, 1, 4) * quality * np.tile(truth[2:], 2)
            box[2:] = np.abs(box[2:]) + 1
            if _box_iou(box, truth) <= 0:
                trajectory.append([2])
                skipped = min(4, len(gt_boxes) - frame - 1)
                trajectory.extend([[0]] * skipped)
                frame += 1 + skipped
                break
            if polygons and rng.random() < 0.5:
                trajectory.append(_polygon(np.round(box, 4), rng.uniform(-0.3, 0.3)))
            else:
                trajectory.append(np.round(box, 4).tolist())
            frame += 1
    return trajectory[: len(gt_boxes)]


def vot_case(rng, index: int) -> dict:
    """One VOT video: gt regions (rectangles or polygons), ``VOT_RUNS`` reset runs, (W, H)."""
    width, height = IMAGE_SIZES[rng.integers(len(IMAGE_SIZES))]
    length = int(rng.choice([rng.integers(12, 120), rng.integers(300, 420)], p=[0.8, 0.2]))
    gt_boxes = np.abs(_walk(rng, length, width, height))
    polygons = rng.random() < 0.2
    if polygons:
        gt = [_polygon(box, rng.uniform(-0.4, 0.4)) for box in gt_boxes]
    else:
        gt = gt_boxes.tolist()
    runs = [_reset_run(rng, gt_boxes, polygons) for _ in range(VOT_RUNS)]
    return {"name": f"vot{index:04d}", "gt": gt, "runs": runs, "size": (width, height)}


def cases(seed: int = SEED) -> tuple[list[dict], list[dict]]:
    """(one-pass videos, VOT videos), the same on every machine for a seed."""
    rng = np.random.default_rng(seed)
    one_pass = [one_pass_case(rng, i) for i in range(ONE_PASS_VIDEOS)]
    vot = [vot_case(rng, i) for i in range(VOT_VIDEOS)]
    return one_pass, vot


# ---- siamjax under each protocol --------------------------------------------------


def siamjax_scores(one_pass, vot) -> dict:
    """{protocol: {metric: value, video_*: per-video lists}} as ``siamjax score
    --protocol got10k`` and ``--protocol vot-toolkit`` compute them."""
    from siamjax.eval import got10k_metrics, vot_toolkit_metrics

    got = got10k_metrics.ope_scores({c["name"]: (c["gt"], c["boxes"]) for c in one_pass})
    got_ao = got10k_metrics.ao_sr(
        {c["name"]: (c["gt"], c["boxes"], c["size"], c["cover"]) for c in one_pass}
    )
    vot_input = {c["name"]: (c["runs"], c["gt"], c["size"]) for c in vot}
    got_vot = got10k_metrics.vot_accuracy_robustness(vot_input)
    toolkit = vot_toolkit_metrics.scores(vot_input, VOT_DATASET)
    return {
        "got10k": {
            "success_auc": got["success_auc"],
            "precision": got["precision"],
            "success_rate": got["success_rate"],
            "ao": got_ao["ao"],
            "sr50": got_ao["sr50"],
            "sr75": got_ao["sr75"],
            "vot_accuracy": got_vot["accuracy"],
            "vot_robustness": got_vot["robustness"],
            "video_success_auc": [v["success_auc"] for v in got["videos"].values()],
            "video_ao": [v["ao"] for v in got_ao["videos"].values()],
        },
        "vot-toolkit": {
            key: toolkit[key] for key in ("accuracy", "robustness", "ar_robustness", "eao")
        },
    }


def pysot_scores(one_pass, vot) -> dict:
    """The same cases under pysot's conventions (``--protocol pysot``, the default)."""
    from siamjax.eval import metrics, vot_metrics

    per_video = {}
    for c in one_pass:
        boxes = c["boxes"].copy()
        boxes[0] = c["gt"][0]  # pysot's OPE results hold the gt on frame 0 too
        per_video[c["name"]] = (c["gt"], boxes, None)
    ope = metrics.ope_scores(per_video)
    vot_input = {c["name"]: (c["runs"], c["gt"], c["size"]) for c in vot}
    scores = vot_metrics.accuracy_robustness(vot_input)
    return {
        "success_auc": ope["success_auc"],
        "precision": ope["precision"],
        "vot_accuracy": scores["accuracy"],
        "vot_robustness": scores["robustness"],
        "vot_lost_number": scores["lost_number"],
        "eao": vot_metrics.eao(vot_input, VOT_DATASET)["eao"],
    }


# ---- the toolkits themselves ---------------------------------------------------------


def got10k_scores(one_pass, vot) -> dict:
    """The got10k toolkit's numbers on the cases (imports got10k)."""
    from got10k.experiments.got10k import ExperimentGOT10k
    from got10k.experiments.otb import ExperimentOTB
    from got10k.experiments.vot import ExperimentVOT
    from got10k.utils.metrics import rect_iou

    otb = types.SimpleNamespace(nbins_iou=21, nbins_ce=51)
    success, precision = [], []
    for case in one_pass:  # ExperimentOTB.report, per sequence
        boxes, anno = case["boxes"].copy(), case["gt"].copy()
        boxes[0] = anno[0]
        ious, errors = ExperimentOTB._calc_metrics(otb, boxes, anno)
        curve_s, curve_p = ExperimentOTB._calc_curves(otb, ious, errors)
        success.append(curve_s)
        precision.append(curve_p)
    success_mean, precision_mean = np.mean(success, axis=0), np.mean(precision, axis=0)
    ious = {}
    for case in one_pass:  # ExperimentGOT10k.report (val), per sequence
        seq = rect_iou(case["boxes"][1:].copy(), case["gt"][1:].copy(), bound=case["size"])
        ious[case["name"]] = seq[case["cover"][1:] > 0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        video_ao = [ExperimentGOT10k._evaluate(None, v, np.array([]))[0] for v in ious.values()]
    pooled = np.concatenate(list(ious.values()))
    ao, sr50, _, curve = ExperimentGOT10k._evaluate(None, pooled, np.array([]))
    vot_experiment = types.SimpleNamespace(burnin=10)
    frame_ious, frame_failures = [], []
    for case in vot:  # ExperimentVOT.report without attribute tags
        runs = [[[float(v) for v in entry] for entry in run] for run in case["runs"]]
        seq = [
            ExperimentVOT._calc_iou(vot_experiment, run, case["gt"], case["size"], burnin=True)
            for run in runs
        ]
        fails = [[len(b) == 1 and b[0] == 2 for b in run] for run in runs]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            frame_ious.append(np.nanmean(np.array(seq, float), axis=0))
            frame_failures.append(np.nanmean(np.array(fails, float), axis=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        accuracy = np.nanmean(np.concatenate(frame_ious))
    return {
        "success_auc": float(np.mean(success_mean)),
        "precision": float(precision_mean[20]),
        "success_rate": float(success_mean[21 // 2]),
        "ao": float(ao),
        "sr50": float(sr50),
        "sr75": float(curve[75]),  # got10k reports SR@0.75 from its 101-bin curve
        "vot_accuracy": 0.0 if np.isnan(accuracy) else float(accuracy),
        "vot_robustness": float(np.nansum(np.concatenate(frame_failures))),
        "video_success_auc": [float(np.mean(s)) for s in success],
        "video_ao": [float(v) for v in video_ao],
    }


def vot_toolkit_scores(vot) -> dict:
    """The Python VOT toolkit's numbers on the VOT cases (imports vot)."""
    from vot.analysis.supervised import (
        AverageAccuracyRobustness,
        EAOCurve,
        compute_accuracy,
        count_failures,
    )
    from vot.region.io import parse_region

    def regions(entries):
        return [parse_region(",".join(repr(float(v)) for v in entry)) for entry in entries]

    sequences, gathered, results = [], {}, []
    for case in vot:
        gt = regions(case["gt"])
        sequence = types.SimpleNamespace(
            size=tuple(case["size"]), name=case["name"], groundtruth=lambda gt=gt: gt
        )
        runs = []
        for run in case["runs"]:
            parsed = regions(run)
            runs.append(types.SimpleNamespace(regions=lambda parsed=parsed: parsed))
        gathered[case["name"]] = runs
        accuracy = sum(compute_accuracy(run.regions(), sequence, 10, True, True)[0] for run in runs)
        failures = sum(count_failures(run.regions())[0] for run in runs)
        # AccuracyRobustness.subcompute's return (accuracy, failures, ar, length)
        results.append((accuracy / len(runs), failures / len(runs), None, len(gt)))
        sequences.append(sequence)
    aggregate = AverageAccuracyRobustness.aggregate(
        types.SimpleNamespace(analysis=types.SimpleNamespace(sensitivity=30)),
        None,
        sequences,
        results,
    )
    experiment = types.SimpleNamespace(gather=lambda tracker, sequence: gathered[sequence.name])
    curve = EAOCurve.subcompute(
        types.SimpleNamespace(bounded=True), experiment, None, sequences, None
    )[0]
    low, high = 100, 356  # the VOT2018 stack's supervised_eao_score
    return {
        "accuracy": float(aggregate[0]),
        "robustness": float(aggregate[1]),
        "ar_robustness": float(aggregate[2][0]),
        "eao": float(np.mean(curve[low : high + 1])),
    }


def record(toolkit: str, path: str = GOLDEN) -> dict:
    """Scores the cases with ``toolkit`` ("got10k" or "vot-toolkit") into ``path``."""
    one_pass, vot = cases()
    recorded = {"seed": SEED}
    if os.path.exists(path):
        with open(path) as stream:
            recorded = json.load(stream)
    if recorded["seed"] != SEED:
        raise SystemExit(f"{path} holds seed {recorded['seed']}, not {SEED}: delete it first")
    recorded[toolkit] = (
        got10k_scores(one_pass, vot) if toolkit == "got10k" else vot_toolkit_scores(vot)
    )
    with open(path, "w") as stream:
        json.dump(recorded, stream, indent=1, sort_keys=True)
        stream.write("\n")
    return recorded[toolkit]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", choices=("got10k", "vot-toolkit"),
                        help=f"score the cases with this toolkit into {GOLDEN}")  # fmt: skip
    parser.add_argument("--table", action="store_true", help="print the conventions table")
    args = parser.parse_args(argv)
    if args.record:
        print({k: v for k, v in record(args.record).items() if not k.startswith("video")})
    if args.table:
        print_table()


def print_table() -> None:
    """The generated set under each convention (pysot's computed here, the toolkits'
    from the recorded file), as docs/parity.md tables it."""
    with open(GOLDEN) as stream:
        recorded = json.load(stream)
    one_pass, vot = cases(recorded["seed"])
    pysot = pysot_scores(one_pass, vot)
    got10k, toolkit = recorded["got10k"], recorded["vot-toolkit"]
    rows = [
        ("OPE success AUC", pysot["success_auc"], got10k["success_auc"], None),
        ("OPE precision (20 px)", pysot["precision"], got10k["precision"], None),
        ("VOT accuracy", pysot["vot_accuracy"], got10k["vot_accuracy"], toolkit["accuracy"]),
        ("VOT failures (total)", pysot["vot_lost_number"], got10k["vot_robustness"], None),
        (
            "VOT robustness as reported",
            pysot["vot_robustness"],
            got10k["vot_robustness"],
            toolkit["robustness"],
        ),  # fmt: skip
        ("VOT2018 EAO", pysot["eao"], None, toolkit["eao"]),
    ]
    print("| metric | pysot | got10k | vot-toolkit |\n| --- | --- | --- | --- |")
    for name, *values in rows:
        cells = ["—" if value is None else f"{value:.4f}" for value in values]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print(f"\nGOT-10k (got10k only): AO {got10k['ao']}, SR0.5 {got10k['sr50']:.4f}, "
          f"SR0.75 {got10k['sr75']:.4f}")  # fmt: skip


if __name__ == "__main__":
    main()
