"""Runs a tracker over a benchmark's videos and writes pysot-format result files.

One-pass protocol (SPEC §8.6): init on frame 0 with the ground-truth region (pysot's
init-box convention, ``boxes.init_box``), track every later frame; the result's first line
is the init box. Long-term datasets also write per-frame confidences. Videos whose result
file exists are skipped, so an interrupted run resumes where it stopped.

``run_sequential`` uses one tracker; ``run_batched`` steps up to ``batch_size`` videos in
lockstep through one network call per step (a slot takes the next video when its video ends).
"""

from __future__ import annotations

import time

import cv2
import numpy as np
from tqdm import tqdm

from siamjax.eval import results
from siamjax.eval.benchmarks import BenchmarkError, protocol
from siamjax.eval.boxes import init_box


def load_frame(path: str) -> np.ndarray:
    """(H, W, 3) uint8 BGR; gray and 4-channel images are converted; unreadable -> error."""
    frame = cv2.imread(path, cv2.IMREAD_COLOR)
    if frame is None:
        raise BenchmarkError(f"{path}: cannot read image")
    return frame


def _pending(videos, out_dir, dataset):
    if protocol(dataset) == "vot":
        raise NotImplementedError(
            f"{dataset}: the VOT reset protocol is not implemented yet; use a one-pass dataset"
        )
    return [v for v in videos if not results.is_complete(out_dir, dataset, v.name)]


class _VideoRecord:
    def __init__(self, video):
        self.video = video
        self.boxes, self.scores, self.times = [], [], []

    def write(self, out_dir, dataset):
        results.write_results(
            out_dir, dataset, self.video.name, np.asarray(self.boxes), self.scores, self.times
        )


def run_sequential(tracker, videos, out_dir: str, dataset: str, progress=True) -> list[str]:
    """Tracks each unfinished video with ``tracker``; returns the names it ran."""
    pending = _pending(videos, out_dir, dataset)
    bar = tqdm(total=sum(len(v) for v in pending), unit="frame", disable=not progress)
    for video in pending:
        record = _VideoRecord(video)
        for index, path in enumerate(video.frame_paths):
            frame = load_frame(path)
            start = time.perf_counter()
            if index == 0:
                box = init_box(video.init_region)
                tracker.init(frame, box)
                score = None
            else:
                box, score = tracker.track(frame)
            record.times.append(time.perf_counter() - start)
            record.boxes.append(np.asarray(box, np.float64))
            record.scores.append(score)
            bar.update(1)
        record.write(out_dir, dataset)
        bar.set_postfix_str(video.name)
    bar.close()
    return [v.name for v in pending]


def run_batched(batched, videos, out_dir: str, dataset: str, progress=True) -> list[str]:
    """Like ``run_sequential`` with a ``BatchedTracker``: one search call per step."""
    pending = _pending(videos, out_dir, dataset)
    queue = list(pending)
    slots = [None] * batched.batch_size  # (record, next frame index) per slot
    bar = tqdm(total=sum(len(v) for v in pending), unit="frame", disable=not progress)
    while queue or any(slot is not None for slot in slots):
        inits, tracks, frames = {}, {}, {}
        for slot_index in range(len(slots)):
            if slots[slot_index] is None and queue:
                slots[slot_index] = [_VideoRecord(queue.pop(0)), 0]
            if slots[slot_index] is None:
                continue
            record, frame_index = slots[slot_index]
            frame = load_frame(record.video.frame_paths[frame_index])
            frames[slot_index] = frame
            if frame_index == 0:
                inits[slot_index] = (frame, init_box(record.video.init_region))
            else:
                tracks[slot_index] = frame
        start = time.perf_counter()
        batched.init(inits)
        outputs = batched.track(tracks) if tracks else {}
        elapsed = (time.perf_counter() - start) / max(len(frames), 1)
        for slot_index in frames:
            record, frame_index = slots[slot_index]
            if slot_index in inits:
                box, score = inits[slot_index][1], None
            else:
                box, score = outputs[slot_index]
            record.boxes.append(np.asarray(box, np.float64))
            record.scores.append(score)
            record.times.append(elapsed)
            bar.update(1)
            if frame_index + 1 == len(record.video):
                record.write(out_dir, dataset)
                bar.set_postfix_str(record.video.name)
                slots[slot_index] = None
            else:
                slots[slot_index][1] = frame_index + 1
    bar.close()
    return [v.name for v in pending]
