"""Records golden outputs from pysot, so every test run checks parity without PyTorch.

    SIAMJAX_PYSOT_DIR=/path/to/pysot python -m siamjax.pysot_reference.golden \
        --out tests/golden

needs torch, yacs and a pysot checkout; the default tests (``tests/parity/golden_test.py``)
then compare siamjax against the files written here with neither installed. Weights are
never stored: they are ``synthetic_weights.synthetic_state_dict`` of the stored parameter
names and shapes, rebuilt bit for bit from the seed, plus the BatchNorm statistics pysot
calibrated on real crops. What is recorded (docs/parity.md §13 lists the tolerances):

* ``network_<arch>.npz`` for each released architecture (r50, alex, mbv2): one template
  crop and one search crop of pysot's demo video; every backbone stage and neck level of
  both branches (per-channel means and an evenly spread sample of values); the full
  cls / loc outputs.
* ``long_term_trace.npz``: pysot's long-term tracker (``SiamRPNLTTracker``) on the first
  frames of the demo video with the AlexNet model, a smaller lost-target search and
  confidence thresholds that make it switch between lost and found several times: each
  frame's box, best score and lost flag.
* ``training.npz``: pysot's ``AnchorTarget`` for fixed boxes with injected draws; and for
  one AlexNet batch, pysot's loss terms, gradients (per-parameter norm and a sample) and
  BatchNorm running statistics after the forward, in float64, in both freezing phases.
* ``trajectory_<arch>.npz`` (alex, r50): pysot's own training loop over a whole recipe
  shrunk to 1-2 steps per epoch (``trajectory.py``) in float64: the batches' inputs, its
  labels, every step's losses and learning rates, and fingerprints (a sample of values,
  the scale and the norm of every tensor) of the state after ``trajectory.PREFIX_STEPS``
  steps (the file's ``prefix_steps``) and at the end.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys

import numpy as np

from siamjax.pysot_reference import runner
from siamjax.pysot_reference.synthetic_weights import (
    SYNTHETIC_SEED,
    flat_sample_indices,
    is_running_statistic,
    summarize,
    uniform,
)

WEIGHT_SEED = SYNTHETIC_SEED
# architecture -> (pysot experiment, hooked backbone modules -> siamjax stage names)
NETWORKS = {
    "r50": ("siamrpn_r50_l234_dwxcorr",
            {"relu": "stage0", "layer1": "stage1", "layer2": "stage2", "layer3": "stage3",
             "layer4": "stage4"}),
    "alex": ("siamrpn_alex_dwxcorr",
             {"features.3": "stage1", "features.7": "stage2", "features.10": "stage3",
              "features.13": "stage4", "features.15": "stage5"}),
    "mbv2": ("siamrpn_mobilev2_l234_dwxcorr", {f"layer{i}": f"stage{i}" for i in range(8)}),
}  # fmt: skip

TRACE_EXPERIMENT = "siamrpn_alex_dwxcorr"
TRACE_FRAMES = 20
TRACE_FRAME_SCALE = 0.5  # frames are stored at half size (240 x 180) to keep the file small
TRACE_INIT_BOX = (95.0, 45.0, 30.0, 55.0)  # x, y, w, h in the first (half-size) frame
# Synthetic weights give best scores of 0.5-0.98; these thresholds make
# the long-term tracker switch modes. 447 keeps the lost-target search cheap.
TRACE_TRACK = {"LOST_INSTANCE_SIZE": 447, "CONFIDENCE_LOW": 0.8, "CONFIDENCE_HIGH": 0.9}
LOC_HEAD_SCALE = 0.05  # trained-model delta magnitudes (see tracker parity tests)

TRAINING_EXPERIMENT = "siamrpn_alex_dwxcorr_16gpu"
TARGET_SCORE_SIZE = 25  # the ResNet recipes' output size
TARGET_CASES = [  # (box x1, y1, x2, y2 in a 255 search crop, negative pair)
    ((95.0, 95.0, 159.0, 159.0), False),  # centred square
    ((100.25, 110.5, 180.75, 140.0), False),  # wide
    ((120.0, 60.0, 140.0, 200.0), False),  # tall
    ((0.0, 0.0, 40.0, 30.0), False),  # corner
    ((125.0, 125.0, 129.0, 129.0), False),  # tiny: no positives
    ((10.0, 12.0, 245.0, 250.0), False),  # huge
    ((95.0, 95.0, 159.0, 159.0), True),  # negative, centred window
    ((230.0, 220.0, 254.0, 254.0), True),  # negative, clipped at the bottom right
]
LOSS_BOXES = np.array(
    [[90, 95, 170, 150], [110, 80, 150, 190], [60, 70, 200, 180], [100, 100, 150, 150]],
    np.float32,
)
LOSS_NEGATIVE = np.array([False, False, False, True])
GRADIENT_SAMPLE = 64
TRAJECTORY_ARCHITECTURES = ("alex", "r50")  # trajectory.RECIPES (imported lazily: jax)


def target_keys(name: str, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The injected (positive, negative) uniform draws of a target case."""
    return (
        uniform(f"{name}/positive", WEIGHT_SEED, shape, 0.0, 1.0),
        uniform(f"{name}/negative", WEIGHT_SEED, shape, 0.0, 1.0),
    )


def _weight_record(entries, statistics, loc_head_scale=1.0) -> dict[str, np.ndarray]:
    record = {
        "weights/names": np.asarray([name for name, _ in entries]),
        "weights/shapes": np.asarray(json.dumps([list(shape) for _, shape in entries])),
        "weights/seed": np.int64(WEIGHT_SEED),
        "weights/loc_head_scale": np.float32(loc_head_scale),
    }
    record.update({f"statistics/{name}": value for name, value in statistics.items()})
    return record


def record_network(architecture: str) -> dict[str, np.ndarray]:
    """Stages, neck levels and head outputs of one architecture (see the module doc)."""
    torch = runner.require_pysot()
    experiment, backbone_hooks = NETWORKS[architecture]
    torch_model, cfg, entries, statistics = runner.synthetic_model(experiment, WEIGHT_SEED)
    template = runner.real_crops(1, cfg.TRACK.EXEMPLAR_SIZE, seed=101)
    search = runner.real_crops(1, cfg.TRACK.INSTANCE_SIZE, seed=202)
    record = _weight_record(entries, statistics)
    record["experiment"] = np.asarray(experiment)
    record["input/template"] = template.astype(np.uint8)
    record["input/search"] = search.astype(np.uint8)
    neck_names = [n for n, _ in torch_model.neck.named_children()] if cfg.ADJUST.ADJUST else []
    for branch, images in (("template", template), ("search", search)):
        names = {f"backbone.{n}": f"{branch}/backbone/{s}" for n, s in backbone_hooks.items()}
        names.update({f"neck.{n}": f"{branch}/neck/level{i}" for i, n in enumerate(neck_names)})
        captured = {}

        def store(_module, _inputs, output, key, captured=captured):
            captured[key] = output.numpy().copy()

        handles = [
            torch_model.get_submodule(module).register_forward_hook(
                lambda m, i, o, key=key: store(m, i, o, key)
            )
            for module, key in names.items()
        ]
        with torch.no_grad():
            features = torch_model.backbone(runner.nchw(images))
            if neck_names:
                torch_model.neck(features)
        for handle in handles:
            handle.remove()
        for key, value in captured.items():
            record.update({f"{key}/{field}": v for field, v in summarize(value).items()})
    with torch.no_grad():
        torch_model.template(runner.nchw(template))
        outputs = torch_model.track(runner.nchw(search))
    record["output/cls"] = outputs["cls"].numpy()
    record["output/loc"] = outputs["loc"].numpy()
    return record


def record_long_term_trace() -> dict[str, np.ndarray]:
    """pysot's long-term tracker over the demo video's first frames (see the module doc)."""
    torch = runner.require_pysot()
    torch_model, cfg, entries, statistics = runner.synthetic_model(
        TRACE_EXPERIMENT, WEIGHT_SEED, LOC_HEAD_SCALE
    )
    cfg.TRACK.TYPE = "SiamRPNLTTracker"
    for key, value in TRACE_TRACK.items():
        setattr(cfg.TRACK, key, value)
    import cv2
    from pysot.tracker.tracker_builder import build_tracker

    scale = TRACE_FRAME_SCALE
    frames = [
        cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        for frame in runner.video_frames(TRACE_FRAMES)
    ]
    tracker = build_tracker(torch_model)
    boxes, scores, lost = [], [], []
    with torch.no_grad():
        tracker.init(frames[0], list(TRACE_INIT_BOX))
        for frame in frames[1:]:
            output = tracker.track(frame)
            boxes.append(np.asarray(output["bbox"], np.float64))
            scores.append(float(output["best_score"]))
            lost.append(bool(tracker.longterm_state))
    if all(lost) or not any(lost):
        raise RuntimeError(f"the trace must switch between lost and found, got {lost}")
    record = _weight_record(entries, statistics, LOC_HEAD_SCALE)
    record.update(
        {
            "experiment": np.asarray(TRACE_EXPERIMENT),
            "track": np.asarray(json.dumps(TRACE_TRACK)),
            "frames": np.stack(frames),
            "init_box_xywh": np.asarray(TRACE_INIT_BOX, np.float64),
            "boxes_xywh": np.stack(boxes),
            "best_scores": np.asarray(scores, np.float64),
            "lost": np.asarray(lost),
        }
    )
    return record


def record_training() -> dict[str, np.ndarray]:
    """Anchor targets, loss terms, gradients and running statistics (see the module doc)."""
    torch = runner.require_pysot()
    torch_model, cfg, entries, statistics = runner.synthetic_model(TRAINING_EXPERIMENT, WEIGHT_SEED)
    record = _weight_record(entries, statistics)
    record["experiment"] = np.asarray(TRAINING_EXPERIMENT)
    anchors = len(cfg.ANCHOR.RATIOS) * len(cfg.ANCHOR.SCALES)

    # Anchor targets at the ResNet recipes' output size: pysot's AnchorTarget reads the
    # search size and output size from its global cfg.
    output_size = cfg.TRAIN.OUTPUT_SIZE
    cfg.TRAIN.OUTPUT_SIZE = TARGET_SCORE_SIZE
    for index, (box, negative) in enumerate(TARGET_CASES):
        keys = target_keys(f"targets/{index}", (TARGET_SCORE_SIZE, TARGET_SCORE_SIZE, anchors))
        label, delta, weight = runner.pysot_anchor_targets(
            box, negative, *keys, score_size=TARGET_SCORE_SIZE
        )
        record[f"targets/{index}/box_xyxy"] = np.asarray(box, np.float32)
        record[f"targets/{index}/negative"] = np.asarray(negative)
        record[f"targets/{index}/label"] = label.astype(np.int8)
        record[f"targets/{index}/delta"] = delta.astype(np.float32)
        record[f"targets/{index}/delta_weight"] = weight.astype(np.float32)
    cfg.TRAIN.OUTPUT_SIZE = output_size

    size = cfg.TRAIN.OUTPUT_SIZE
    template = runner.real_crops(len(LOSS_BOXES), cfg.TRAIN.EXEMPLAR_SIZE, seed=301)
    search = runner.real_crops(len(LOSS_BOXES), cfg.TRAIN.SEARCH_SIZE, seed=302)
    positive_keys, negative_keys = target_keys("loss", (len(LOSS_BOXES), size, size, anchors))
    targets = [
        runner.pysot_anchor_targets(box, negative, pos, neg, score_size=size)
        for box, negative, pos, neg in zip(LOSS_BOXES, LOSS_NEGATIVE, positive_keys, negative_keys)
    ]
    labels, deltas, weights = (np.stack(parts) for parts in zip(*targets))
    record.update(
        {
            "loss/template": template.astype(np.uint8),
            "loss/search": search.astype(np.uint8),
            "loss/boxes_xyxy": LOSS_BOXES,
            "loss/negative": LOSS_NEGATIVE,
            "loss/label": labels.astype(np.int8),
            "loss/delta": deltas.astype(np.float32),
            "loss/delta_weight": weights.astype(np.float32),
            "loss/train_layers": np.asarray(list(cfg.BACKBONE.TRAIN_LAYERS)),
        }
    )
    import copy

    for phase in (0, 1):
        model = copy.deepcopy(torch_model).double()
        runner.set_training_phase(model, phase, cfg.BACKBONE.TRAIN_LAYERS)
        outputs = model(
            {
                "template": runner.nchw(template).double(),
                "search": runner.nchw(search).double(),
                "label_cls": torch.from_numpy(labels).long(),
                "label_loc": torch.from_numpy(deltas).double(),
                "label_loc_weight": torch.from_numpy(weights).double(),
            }
        )
        outputs["total_loss"].backward()
        prefix = f"phase{phase}"
        for name in ("cls_loss", "loc_loss", "total_loss"):
            record[f"{prefix}/{name}"] = np.float64(outputs[name].detach())
        for name, param in model.named_parameters():
            grad = param.grad.numpy() if param.grad is not None else np.zeros(param.shape)
            record[f"{prefix}/grad_norm/{name}"] = np.float64(np.sqrt(np.sum(grad**2)))
            indices = flat_sample_indices(grad.size, GRADIENT_SAMPLE)
            record[f"{prefix}/grad_sample/{name}"] = grad.reshape(-1)[indices]
        for name, value in model.state_dict().items():
            if is_running_statistic(name) and not name.endswith("num_batches_tracked"):
                record[f"{prefix}/statistics/{name}"] = value.numpy().astype(np.float64)
    return record


def record_trajectory(architecture: str) -> dict[str, np.ndarray]:
    """pysot's training loop over a shrunk recipe (``trajectory.py``), in float64: the
    inputs, pysot's labels, per-step losses and rates, and fingerprints of the whole
    state after ``PREFIX_STEPS`` steps and after the last; and the same loop from weights
    nudged by ``trajectory.PERTURBATION`` (losses and final fingerprint under
    ``perturbed``), the recipe's own sensitivity."""
    from siamjax.pysot_reference import trajectory

    setup = trajectory.reference_setup(architecture)
    losses, rates, final = trajectory.run_pysot(setup)
    _, _, prefix = trajectory.run_pysot(setup, steps=trajectory.PREFIX_STEPS)
    nudged = setup._replace(state_dict=trajectory.perturbed(setup.state_dict))
    perturbed_losses, _, perturbed_final = trajectory.run_pysot(nudged)
    record = _weight_record(setup.entries, setup.statistics)
    template_index, search_index, boxes, negative = setup.inputs
    record.update(
        {
            "experiment": np.asarray(setup.recipe.experiment),
            "recipe": np.asarray(json.dumps(setup.recipe._asdict())),
            "seed": np.int64(trajectory.SEED),
            "templates": setup.templates.astype(np.uint8),
            "searches": setup.searches.astype(np.uint8),
            "template_index": template_index.astype(np.int8),
            "search_index": search_index.astype(np.int8),
            "boxes_xyxy": boxes,
            "negative": negative,
            "label": setup.labels[0].astype(np.int8),
            "losses": losses,
            "rates": rates,
            "prefix_steps": np.int64(trajectory.PREFIX_STEPS),
        }
    )
    record.update({f"prefix/{k}": v for k, v in trajectory.fingerprint(prefix).items()})
    record.update({f"final/{k}": v for k, v in trajectory.fingerprint(final).items()})
    record["perturbed_losses"] = perturbed_losses
    record.update({f"perturbed/{k}": v for k, v in trajectory.fingerprint(perturbed_final).items()})
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Record pysot's golden outputs for the default parity tests.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--out", default="tests/golden", help="folder for the .npz files")
    parser.add_argument(
        "--only",
        choices=[
            *(f"network_{a}" for a in NETWORKS),
            "long_term_trace",
            "training",
            *(f"trajectory_{a}" for a in TRAJECTORY_ARCHITECTURES),
        ],  # fmt: skip
        action="append",
        help="record only these files (repeatable); default: all",
    )
    args = parser.parse_args(argv)
    try:
        torch = runner.require_pysot()
    except runner.ReferenceUnavailable as error:
        print(f"golden: {error} (set SIAMJAX_PYSOT_DIR to a pysot checkout)", file=sys.stderr)
        return 2
    recorders = {f"network_{a}": (lambda a=a: record_network(a)) for a in NETWORKS}
    recorders.update(long_term_trace=record_long_term_trace, training=record_training)
    recorders.update(
        {f"trajectory_{a}": (lambda a=a: record_trajectory(a)) for a in TRAJECTORY_ARCHITECTURES}
    )
    os.makedirs(args.out, exist_ok=True)
    # Which versions wrote each file: files recorded at another time keep their entry.
    manifest_path = os.path.join(args.out, "manifest.json")
    manifest = {}
    if os.path.isfile(manifest_path):
        with open(manifest_path) as stream:
            manifest = json.load(stream)
        if "files" not in manifest:  # the older one-entry form described every file
            manifest = {"files": {f"{name}.npz": manifest for name in recorders}}
    manifest.setdefault("files", {})
    for name in args.only or list(recorders):
        record = recorders[name]()
        path = os.path.join(args.out, f"{name}.npz")
        np.savez_compressed(path, **record)
        print(f"{path}: {len(record)} arrays, {os.path.getsize(path) / 1e6:.2f} MB")
        manifest["files"][f"{name}.npz"] = {
            "written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "command": "python -m siamjax.pysot_reference.golden " + " ".join(argv or sys.argv[1:]),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "machine": platform.machine(),
        }
    with open(manifest_path, "w") as stream:
        json.dump(manifest, stream, indent=2, sort_keys=True)
        stream.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
