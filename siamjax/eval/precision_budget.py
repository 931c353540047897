"""Does a reduced-precision tracker keep float32's accuracy? The measurement behind
``siamjax precision-check``.

Two trackers of the same weights, float32 and the candidate precision (each built by the
caller on the same runtime, so only the precision differs), run

* a one-pass benchmark of ``sequences`` sequences generated from real photographs
  (``synthetic_scenes.py``, a seed of its own so training data never appears):
  success AUC of each against the ground truth, and
* a real video from one initial box, two ways. Frame by frame: before each frame the
  candidate is given float32's state (so the same crop), and its box is compared with
  float32's (IoU; the precision's own error, which the budget holds). Free runs: each
  tracks the whole video on its own and the boxes are compared frame by frame (reported;
  once the two part, e.g. where float32 itself loses the target, the gap says little
  about precision).

``tracking/precision.py`` holds the budget those figures are held to. The int8 mode's
calibration crops come from other generated sequences (``calibration_pairs``).
"""

from __future__ import annotations

import copy
import dataclasses
import time

import numpy as np
from tqdm import tqdm

from siamjax.eval.boxes import init_box, overlap_ratio
from siamjax.eval.metrics import ope_scores
from siamjax.synthetic_scenes import PHOTOS, load_photo, render_sequence
from siamjax.tracking.tracker import SiamRPNTracker, TrackParams

BENCHMARK_SEED = 1205
CALIBRATION_SEED = 1206
FRAME_SIZE = (240, 320)
FRAMES = (40, 64)


@dataclasses.dataclass
class Sequence:
    name: str
    frames: np.ndarray  # (T, H, W, 3) uint8 BGR
    gt: np.ndarray  # (T, 4) x, y, w, h


def generated_sequences(count: int, seed: int = BENCHMARK_SEED) -> list[Sequence]:
    """``count`` sequences of moving photograph patches, deterministic for ``seed``."""
    photos = [load_photo(name) for name in PHOTOS]
    sequences = []
    for index in range(count):
        rng = np.random.default_rng([seed, index])
        length = int(rng.integers(FRAMES[0], FRAMES[1] + 1))
        frames, gt = render_sequence(rng, photos, length, FRAME_SIZE)
        sequences.append(Sequence(f"generated-{seed}-{index:03d}", frames, gt))
    return sequences


def calibration_pairs(config, sequences: int = 4, frames_per_sequence: int = 4):
    """``pairs(instance_size)`` -> [(template crop (E, E, 3), search crop (X, X, 3))]:
    crops of generated sequences (their own seed) cut as the tracker cuts them, the
    template from the first frame's box and each search region around the previous
    frame's box. ``sequences`` × ``frames_per_sequence`` pairs."""
    params = TrackParams.from_config(config)
    source = generated_sequences(sequences, CALIBRATION_SEED)

    def pairs(instance_size: int) -> list:
        cropper = SiamRPNTracker(None, dataclasses.replace(params, instance_size=instance_size))
        found = []
        for sequence in source:
            state, template = cropper.init_state(sequence.frames[0], sequence.gt[0])
            steps = np.linspace(1, len(sequence.frames) - 1, frames_per_sequence).astype(int)
            for t in steps:
                previous, _ = cropper.init_state(sequence.frames[t - 1], sequence.gt[t - 1])
                previous = dataclasses.replace(previous, average=state.average)
                search, _ = cropper.search_crop(sequence.frames[t], previous)
                found.append((template, search))
        return found

    return pairs


def track_sequence(tracker, frames, init_xywh) -> np.ndarray:
    """(T, 4) boxes, the first being ``init_xywh`` as in a result file."""
    tracker.init(frames[0], init_xywh)
    boxes = [np.asarray(init_xywh, np.float64)]
    for frame in frames[1:]:
        box, _ = tracker.track(frame)
        boxes.append(np.asarray(box, np.float64))
    return np.stack(boxes)


def one_pass(tracker, sequences: list[Sequence], label: str, progress: bool = True):
    """(success AUC, (N,) AUC per sequence, boxes per sequence, ms per frame) of
    ``tracker`` on ``sequences``."""
    all_boxes, frames, started = [], 0, time.perf_counter()
    for sequence in tqdm(sequences, desc=label, unit="seq", disable=not progress):
        all_boxes.append(track_sequence(tracker, sequence.frames, init_box(sequence.gt[0])))
        frames += len(sequence.frames) - 1
    elapsed_ms = (time.perf_counter() - started) * 1e3
    scores = ope_scores({s.name: (s.gt, b, None) for s, b in zip(sequences, all_boxes)})
    per_sequence = np.array([scores["videos"][s.name]["success_auc"] for s in sequences])
    return scores["success_auc"], per_sequence, all_boxes, elapsed_ms / max(frames, 1)


def teacher_forced_boxes(reference, candidate, frames, init_xywh):
    """((T, 4) reference boxes, (T, 4) candidate boxes): the reference tracks ``frames``
    freely; before each frame the candidate is set to the reference's state, so both see
    the same crop and only the networks differ. Frame 0 is ``init_xywh`` for both."""
    reference.init(frames[0], init_xywh)
    candidate.init(frames[0], init_xywh)
    reference_boxes = [np.asarray(init_xywh, np.float64)]
    candidate_boxes = [np.asarray(init_xywh, np.float64)]
    for frame in frames[1:]:
        candidate.state = copy.deepcopy(reference.state)
        box, _ = candidate.track(frame)
        candidate_boxes.append(np.asarray(box, np.float64))
        box, _ = reference.track(frame)
        reference_boxes.append(np.asarray(box, np.float64))
    return np.stack(reference_boxes), np.stack(candidate_boxes)


def iou_summary(reference_boxes: np.ndarray, boxes: np.ndarray) -> dict:
    """Per-frame IoU of ``boxes`` with ``reference_boxes`` (both (T, 4) x, y, w, h):
    mean, 10th percentile, lowest and the first frame below 0.5 (None if none)."""
    iou = overlap_ratio(reference_boxes, boxes)
    below = np.flatnonzero(iou < 0.5)
    return {
        "iou_mean": float(iou.mean()),
        "iou_p10": float(np.percentile(iou, 10)),
        "iou_min": float(iou.min()),
        "first_frame_below_0.5": int(below[0]) if len(below) else None,
    }


def measure(reference, candidate, precision: str, video_frames, video_init, video_source: str,
            sequences: int = 20, seed: int = BENCHMARK_SEED,
            progress: bool = True) -> dict:  # fmt: skip
    """The figures of a verdict: success AUC of ``reference`` (float32) and ``candidate``
    (trackers) on ``sequences`` generated sequences, ms per frame of each there, and the
    per-frame agreement on ``video_frames`` (a list of uint8 BGR frames) from
    ``video_init`` (x, y, w, h), frame by frame and in free runs."""
    benchmark = generated_sequences(sequences, seed)
    reference_auc, reference_each, _, reference_ms = one_pass(reference, benchmark, "float32",
                                                              progress)  # fmt: skip
    candidate_auc, candidate_each, _, candidate_ms = one_pass(candidate, benchmark, precision,
                                                              progress)  # fmt: skip
    change = candidate_each - reference_each
    # The paired standard error of the change: how far 20 sequences pin it down.
    stderr = float(change.std(ddof=1) / np.sqrt(len(change))) if len(change) > 1 else None
    forced = teacher_forced_boxes(reference, candidate, video_frames, video_init)
    free = (track_sequence(reference, video_frames, video_init),
            track_sequence(candidate, video_frames, video_init))  # fmt: skip
    return {
        "precision": precision,
        "sequences": sequences,
        "benchmark_seed": seed,
        "success_auc": {"float32": reference_auc, precision: candidate_auc},
        "auc_change_stderr": stderr,
        "ms_per_frame": {"float32": reference_ms, precision: candidate_ms},
        "video": {
            "source": video_source,
            "init": [float(v) for v in video_init],
            "frames": len(video_frames),
            "frame_by_frame": iou_summary(*forced),
            "free_run": iou_summary(*free),
        },
    }
