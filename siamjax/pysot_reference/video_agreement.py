"""Does each siamjax backend keep pysot's boxes on real video, and where not, why?

    python -m siamjax.pysot_reference.video_agreement --out agreement.json \\
        [--architectures alex r50 mobilev2] [--frames 196] [--seed 3]

Needs pysot (``SIAMJAX_PYSOT_DIR``), torch and pysot's demo video ``demo/bag.avi``
(196 real frames, 480x360). Per architecture: pysot's model with seeded weights,
BatchNorm statistics calibrated on crops of the video and the last box conv scaled to a
trained model's delta magnitude (as the tracker parity test does), converted to siamjax.
Then, over the whole video from one initial box:

* **Free runs.** pysot's tracker at 2 threads is the reference. pysot at 1 thread is the
  noise floor (the same program, other float32 summation orders). Each siamjax backend
  runs its own tracker. Reported: the first frame whose box has IoU < 0.999 with the
  reference, and the lowest IoU.
* **Teacher-forced frames.** Every backend is given pysot's own state before each frame
  (so the same crop, byte for byte) and its network's outputs go through the same
  post-processing as pysot's (``select_candidate``). Reported per backend: the largest
  difference of penalised scores from pysot's on the crop, pysot's 1-thread difference on
  the same crop, and every frame where the chosen anchor differs from pysot's, with
  pysot's margin between the two anchors.

At the first divergent frame both networks also run on the backend's own crop (its
state before the frame). A divergence is a **near-tie** when, on either crop, the
backend chooses another anchor than pysot's network and pysot's own margin between the
two is within twice the networks' difference there; **state drift** when pysot's network
chooses the backend's anchor on both crops (the boxes part because sub-pixel state
differences accumulated earlier: pysot from the backend's state would do the same), and
**crop rounding** when that sub-pixel difference moved the integer search window (side
or corner, rounded as pysot does) by a pixel; anything else is a formulation difference.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

import numpy as np

from siamjax.pysot_reference import runner

EXPERIMENTS = {
    "alex": "siamrpn_alex_dwxcorr",
    "r50": "siamrpn_r50_l234_dwxcorr",
    "mobilev2": "siamrpn_mobilev2_l234_dwxcorr",
}
BACKENDS = ("jax-cpu", "jax-plain", "onnxruntime")
# The bag in bag.avi's first frame (x, y, w, h), as in pysot's demo.
INIT_BOX = (190.0, 90.0, 60.0, 110.0)
SAME_BOX_IOU = 0.999
LOC_HEAD_SCALE = 0.05
CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "configs")


def iou_xywh(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """(N,) IoU of (N, 4) [x, y, w, h] boxes, continuous coordinates."""
    first, second = np.asarray(first, np.float64), np.asarray(second, np.float64)
    x1 = np.maximum(first[:, 0], second[:, 0])
    y1 = np.maximum(first[:, 1], second[:, 1])
    x2 = np.minimum(first[:, 0] + first[:, 2], second[:, 0] + second[:, 2])
    y2 = np.minimum(first[:, 1] + first[:, 3], second[:, 1] + second[:, 3])
    overlap = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    union = first[:, 2] * first[:, 3] + second[:, 2] * second[:, 3] - overlap
    return overlap / union


def first_divergent_frame(boxes: np.ndarray, reference: np.ndarray) -> int | None:
    """The first frame number (frame 0 is the init frame; ``boxes[i]`` is frame i + 1)
    whose IoU with ``reference`` is below ``SAME_BOX_IOU``, or None."""
    below = np.flatnonzero(iou_xywh(boxes, reference) < SAME_BOX_IOU)
    return int(below[0]) + 1 if len(below) else None


def pysot_outputs_as_siamjax(cls, loc, anchor_num: int) -> tuple[np.ndarray, np.ndarray]:
    """pysot's (1, 2A, S, S) / (1, 4A, S, S) head outputs -> siamjax's (S, S, A, 2) scores
    and (S, S, A, 4) deltas (pysot's channel k·A + a is anchor a, component k)."""
    cls, loc = np.asarray(cls)[0], np.asarray(loc)[0]
    size = cls.shape[-1]
    scores = cls.reshape(2, anchor_num, size, size).transpose(2, 3, 1, 0)
    deltas = loc.reshape(4, anchor_num, size, size).transpose(2, 3, 1, 0)
    return scores, deltas


@dataclasses.dataclass
class Frame:
    """pysot's reference state before one frame and what it computed on its crop."""

    centre: np.ndarray
    size: np.ndarray
    crop: np.ndarray  # (X, X, 3) float32
    scores: np.ndarray  # (S, S, A, 2)
    deltas: np.ndarray  # (S, S, A, 4)


def _penalised(tracker, state, scores, deltas) -> tuple[np.ndarray, int]:
    """(penalised and windowed score of every anchor, chosen anchor), as the tracker."""
    from siamjax.tracking import postprocess
    from siamjax.tracking.crop import context_size

    params = tracker.params
    scale_z = params.exemplar_size / context_size(state.size, params.context_amount)
    anchors, window = tracker.geometry(tracker.instance_size(state))
    score = postprocess.foreground_scores(scores).astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        boxes = postprocess.decode_boxes(deltas, anchors)
        penalty = postprocess.size_penalty(boxes, state.size, scale_z, params.penalty_k)
    influence = tracker.window_influence(state)
    penalised = penalty * score * (1.0 - influence) + window * influence
    chosen = tracker.candidate(state, scores, deltas, scale_z).index
    return penalised, chosen


def _pysot_run(torch, torch_model, frames, threads: int, record: bool):
    """pysot's tracker over ``frames`` at ``threads`` threads: (boxes (N-1, 4), records)."""
    from pysot.tracker.tracker_builder import build_tracker as build_pysot_tracker

    torch.set_num_threads(threads)
    tracker = build_pysot_tracker(torch_model)
    captured = {}
    track = torch_model.track

    def recording_track(crop):
        outputs = track(crop)
        captured["crop"] = crop
        # Copies: pysot's _convert_bbox decodes the boxes in place, through a numpy view
        # of this very tensor (its permute + contiguous is a no-op at batch 1).
        captured["outputs"] = {key: outputs[key].clone() for key in ("cls", "loc")}
        return outputs

    torch_model.track = recording_track
    boxes, records = [], []
    try:
        with torch.no_grad():
            tracker.init(frames[0], list(INIT_BOX))
            for frame in frames[1:]:
                centre, size = tracker.center_pos.copy(), tracker.size.copy()
                output = tracker.track(frame)
                boxes.append(np.asarray(output["bbox"], np.float64))
                if record:
                    anchor_num = tracker.anchor_num
                    scores, deltas = pysot_outputs_as_siamjax(
                        captured["outputs"]["cls"].numpy(),
                        captured["outputs"]["loc"].numpy(),
                        anchor_num,
                    )
                    crop = captured["crop"].numpy()[0].transpose(1, 2, 0)
                    records.append(Frame(centre, size, crop, scores, deltas))
    finally:
        del torch_model.track
        torch.set_num_threads(2)
    return np.asarray(boxes), records


def _networks(config, variables):
    from siamjax.backend import CPU_TUNED, PLAIN
    from siamjax.models import build_model
    from siamjax.tracking import TrackerNetwork
    from siamjax.tracking.onnx_network import OnnxTrackerNetwork

    return {
        "jax-cpu": lambda: TrackerNetwork(build_model(config.model, CPU_TUNED), variables),
        "jax-plain": lambda: TrackerNetwork(build_model(config.model, PLAIN), variables),
        # As `--backend onnxruntime` builds it (MobileNetV2: template features as constants).
        "onnxruntime": lambda: OnnxTrackerNetwork.from_config(config, variables, threads=2),
    }


def _free_run(tracker, frames) -> tuple[np.ndarray, list]:
    """(boxes of frames 1.., the tracker's state before each of them)."""
    tracker.init(frames[0], INIT_BOX)
    boxes, states = [], []
    for frame in frames[1:]:
        states.append(tracker.state)
        boxes.append(tracker.track(frame)[0])
    return np.asarray(boxes), states


def _search_window(tracker, state) -> list[int]:
    """[x_min, y_min, side] of the frame pixels the search crop of ``state`` takes."""
    from siamjax.tracking.crop import context_size, crop_window

    params = tracker.params
    s_z = context_size(state.size, params.context_amount)
    side = round(s_z * tracker.instance_size(state) / params.exemplar_size)
    return list(crop_window(state.centre, side))


def _on_own_crop(torch, torch_model, tracker, frame, state) -> dict:
    """The backend's and pysot's networks on the backend's own crop of ``frame`` (its
    state before it): which anchor each chooses, pysot's margin between them, and how far
    the backend's state had drifted from pysot's is reported by the caller."""
    crop, _ = tracker.search_crop(frame, state)
    scores, deltas = tracker.network.search(tracker.template_features, crop[None])
    ours, chosen = _penalised(tracker, state, scores[0], deltas[0])
    with torch.no_grad():
        outputs = torch_model.track(runner.nchw(crop[None]))
    theirs, pysot_chosen = _penalised(
        tracker, state,
        *pysot_outputs_as_siamjax(outputs["cls"].numpy(), outputs["loc"].numpy(),
                                  tracker.params.anchor_num),
    )  # fmt: skip
    return {
        "chosen": int(chosen),
        "pysot_chosen": int(pysot_chosen),
        "pysot_margin": float(theirs[pysot_chosen] - theirs[chosen]),
        "difference": float(np.abs(ours - theirs).max()),
    }


def _teacher_forced(tracker, reference: list[Frame], noise: list[np.ndarray] | None):
    """Per frame on pysot's crops: (largest |penalised difference|, chosen, pysot's chosen,
    pysot's margin between the two)."""
    import dataclasses as dc

    rows = []
    for index, frame in enumerate(reference):
        state = dc.replace(tracker.state, centre=frame.centre.copy(), size=frame.size.copy())
        scores, deltas = tracker.network.search(tracker.template_features, frame.crop[None])
        ours, chosen = _penalised(tracker, state, scores[0], deltas[0])
        theirs, pysot_chosen = _penalised(tracker, state, frame.scores, frame.deltas)
        rows.append(
            {
                "frame": index + 1,
                "difference": float(np.abs(ours - theirs).max()),
                "pysot_thread_difference": None if noise is None else float(noise[index]),
                "chosen": int(chosen),
                "pysot_chosen": int(pysot_chosen),
                "pysot_margin": float(theirs[pysot_chosen] - theirs[chosen]),
            }
        )
    return rows


def classify_divergence(first: int | None, rows: list[dict], own: dict | None = None) -> str:
    """Why a backend's boxes left pysot's at frame ``first`` (None: they never did).

    ``rows``: the teacher-forced rows (pysot's crops); ``own``: the same comparison on the
    backend's own crop at ``first`` (``_on_own_crop``). 'near-tie': on either crop the
    two networks choose different anchors that pysot's own scores separate by no more
    than twice the networks' difference there. 'state drift': on both crops pysot's
    network chooses what the backend chose, so the boxes part only because sub-pixel
    state differences accumulated before (pysot from the backend's state would do the
    same); 'crop rounding' when, in addition, the sub-pixel difference moved the search
    window by a pixel (pysot rounds its side and corner to integers), so the two trackers
    saw different crops. Otherwise 'formulation difference'.
    """
    if first is None:
        return "same boxes"
    cases = [rows[first - 1]] + ([own] if own is not None else [])
    if any(case["chosen"] != case["pysot_chosen"]
           and case["pysot_margin"] <= 2 * case["difference"] for case in cases):  # fmt: skip
        return "near-tie"
    if all(case["chosen"] == case["pysot_chosen"] for case in cases):
        if own is not None and own.get("crop_window") != own.get("pysot_crop_window"):
            return "crop rounding"
        return "state drift"
    return "formulation difference"


def measure_architecture(architecture: str, frame_count: int, seed: int, workdir: str,
                         backends=BACKENDS, progress=print) -> dict:  # fmt: skip
    """The report of one architecture (see the module docstring)."""
    from siamjax.config_loader import load_config
    from siamjax.models import build_model
    from siamjax.tracking import build_tracker
    from siamjax.tracking.tracker import TargetState

    torch = runner.require_pysot()
    experiment = EXPERIMENTS[architecture]
    frames = runner.video_frames(frame_count)
    torch_model, cfg = runner.build_pysot_model(experiment, seed=seed)
    runner.calibrate_batch_norm(torch_model, cfg.TRACK.EXEMPLAR_SIZE, cfg.TRACK.INSTANCE_SIZE)
    runner.scale_pysot_loc_head(torch_model, LOC_HEAD_SCALE)
    config = load_config(os.path.join(CONFIG_DIR, f"{experiment}.py"))
    variables = runner.converted_variables(
        torch_model, build_model(config.model), cfg.TRACK.EXEMPLAR_SIZE,
        cfg.TRACK.INSTANCE_SIZE, workdir,
    )  # fmt: skip

    started = time.perf_counter()
    reference, frames_seen = _pysot_run(torch, torch_model, frames, threads=2, record=True)
    progress(f"{architecture}: pysot 2 threads, {len(frames) - 1} frames "
             f"({time.perf_counter() - started:.0f} s)")  # fmt: skip
    one_thread, _ = _pysot_run(torch, torch_model, frames, threads=1, record=False)
    # pysot at 1 thread on the reference crops: the float32 noise of the same program.
    torch.set_num_threads(1)
    noise = []
    with torch.no_grad():
        probe = build_tracker(config, None)
        average = np.zeros(3)  # unused: the crops are given
        for frame in frames_seen:
            outputs = torch_model.track(runner.nchw(frame.crop[None]))
            scores, deltas = pysot_outputs_as_siamjax(
                outputs["cls"].numpy(), outputs["loc"].numpy(), probe.params.anchor_num
            )
            state = TargetState(frame.centre, frame.size, average)
            ours, _ = _penalised(probe, state, scores, deltas)
            theirs, _ = _penalised(probe, state, frame.scores, frame.deltas)
            noise.append(np.abs(ours - theirs).max())
    torch.set_num_threads(2)
    progress(f"{architecture}: pysot 1 thread ({time.perf_counter() - started:.0f} s)")

    floor_first = first_divergent_frame(one_thread, reference)
    report = {
        "architecture": architecture,
        "experiment": experiment,
        "frames": len(frames),
        "seed": seed,
        "init_box_xywh": list(INIT_BOX),
        "pysot_1_thread": {
            "first_divergent_frame": floor_first,
            "min_iou": float(iou_xywh(one_thread, reference).min()),
            "largest_difference": float(max(noise)),
        },
        "backends": {},
    }
    for backend in backends:
        network = _networks(config, variables)[backend]()
        tracker = build_tracker(config, network)
        boxes, states = _free_run(tracker, frames)
        rows = _teacher_forced(tracker, frames_seen, noise)
        first = first_divergent_frame(boxes, reference)
        flips = [row for row in rows if row["chosen"] != row["pysot_chosen"]]
        own = None
        if first is not None:
            # pysot's network given the backend's own state at the divergent frame, and
            # how far that state had drifted from pysot's (the frame before).
            own = _on_own_crop(torch, torch_model, tracker, frames[first], states[first - 1])
            reference_state = frames_seen[first - 1]
            own["centre_drift_px"] = float(
                np.abs(states[first - 1].centre - reference_state.centre).max()
            )
            own["size_drift_px"] = float(
                np.abs(states[first - 1].size - reference_state.size).max()
            )
            own["crop_window"] = _search_window(tracker, states[first - 1])
            own["pysot_crop_window"] = _search_window(
                tracker,
                dataclasses.replace(states[first - 1], centre=reference_state.centre,
                                    size=reference_state.size),
            )  # fmt: skip
            own["iou_before"] = (
                float(iou_xywh(boxes[first - 2 : first - 1], reference[first - 2 : first - 1])[0])
                if first > 1 else 1.0
            )  # fmt: skip
        report["backends"][backend] = {
            "first_divergent_frame": first,
            "min_iou": float(iou_xywh(boxes, reference).min()),
            "cause": classify_divergence(first, rows, own),
            "at_first_divergence": None if first is None else rows[first - 1],
            "at_first_divergence_own_crop": own,
            "largest_difference": max(row["difference"] for row in rows),
            "median_difference": float(np.median([row["difference"] for row in rows])),
            "median_pysot_thread_difference": float(np.median(noise)),
            "teacher_forced_flips": flips,
        }
        progress(f"{architecture}: {backend}: first divergent frame {first}, "
                 f"{report['backends'][backend]['cause']} "
                 f"({time.perf_counter() - started:.0f} s)")  # fmt: skip
    return report


def _detail(row: dict) -> str:
    """What the first divergent frame showed, in words."""
    own, forced = row.get("at_first_divergence_own_crop"), row.get("at_first_divergence")
    if own is None:
        return ""
    drift = (f"state {own['centre_drift_px']:.2g} px (centre) / {own['size_drift_px']:.2g} px "
             f"(size) from pysot's the frame before")  # fmt: skip
    if row["cause"] == "crop rounding":
        x, y, side = own["crop_window"]
        px, py, pside = own["pysot_crop_window"]
        return (
            f"{drift}; search window {side} px at ({x}, {y}) against pysot's {pside} px "
            f"at ({px}, {py}); pysot's network picks the backend's anchor on both crops"
        )
    if row["cause"] == "near-tie":
        case = forced if forced["chosen"] != forced["pysot_chosen"] else own
        margin, difference = case["pysot_margin"], case["difference"]
        return (f"{drift}; anchors {case['chosen']} vs {case['pysot_chosen']}, pysot's margin "
                f"{margin:.1e} against a difference of {difference:.1e}")  # fmt: skip
    return drift


def table(reports: list[dict]) -> str:
    """The markdown table of docs/parity.md from the reports."""
    lines = [
        "| architecture | run | first frame with IoU < 0.999 | lowest IoU | cause "
        "| at that frame | largest penalised-score difference on pysot's crops (median) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for report in reports:
        floor = report["pysot_1_thread"]
        lines.append(
            f"| {report['architecture']} | pysot, 1 thread | "
            f"{floor['first_divergent_frame'] or 'none'} | {floor['min_iou']:.3f} | noise floor "
            f"| | {floor['largest_difference']:.1e} |"
        )
        for backend, row in report["backends"].items():
            lines.append(
                f"| {report['architecture']} | {backend} | {row['first_divergent_frame'] or 'none'}"
                f" | {row['min_iou']:.3f} | {row['cause']} | {_detail(row)} | "
                f"{row['largest_difference']:.1e} ({row['median_difference']:.1e}) |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m siamjax.pysot_reference.video_agreement",
        description="Track pysot's demo video with pysot and every siamjax backend and "
        "report where boxes part and why (needs SIAMJAX_PYSOT_DIR, torch).",
    )
    parser.add_argument("--architectures", nargs="+", default=list(EXPERIMENTS),
                        choices=list(EXPERIMENTS))  # fmt: skip
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--frames", type=int, default=196, help="frames of bag.avi (<= 196)")
    parser.add_argument("--seed", type=int, default=3, help="seed of pysot's random weights")
    parser.add_argument("--out", required=True, help="JSON report to write")
    parser.add_argument("--workdir", default="/tmp",
                        help="where converted weights go (created if missing)")  # fmt: skip
    args = parser.parse_args(argv)
    os.makedirs(args.workdir, exist_ok=True)
    try:
        runner.require_pysot()
    except runner.ReferenceUnavailable as error:
        print(f"video_agreement: {error}", file=sys.stderr)
        return 2
    reports = []
    for architecture in args.architectures:
        reports.append(
            measure_architecture(
                architecture, args.frames, args.seed, args.workdir, tuple(args.backends)
            )  # fmt: skip
        )
        with open(args.out, "w") as stream:
            json.dump(reports, stream, indent=1)
    print(table(reports))
    return 0


if __name__ == "__main__":
    sys.exit(main())
