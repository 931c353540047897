"""Runs a tracker over a benchmark's videos and writes pysot-format result files.

Protocols (docs/parity.md §8.6):

* one-pass ('ope', also 'longterm' with per-frame confidences): init on frame 0 with the
  ground-truth region (pysot's init-box convention, ``boxes.init_box``), track every later
  frame; the result's first line is the init box;
* VOT reset ('vot'): after each frame the prediction's VOT overlap with the ground truth is
  checked; overlap <= 0 records a failure (code 2) and the tracker is re-initialised five
  frames later (code 1), the frames in between recorded as code 0.

Videos whose result file exists are skipped, so an interrupted run resumes. ``run_sequential``
uses one tracker; ``run_batched`` steps up to ``batch_size`` videos in lockstep through one
network call per step (a slot takes the next video when its video ends).
"""

from __future__ import annotations

import time

import numpy as np
from tqdm import tqdm

from siamjax.datasets import Protocol, dataset_spec
from siamjax.datasets.benchmark_layout import BenchmarkError
from siamjax.eval import results
from siamjax.eval.boxes import init_box
from siamjax.eval.region import vot_overlap
from siamjax.image_io import read_image

SKIP_AFTER_FAILURE = 5


def load_frame(path: str) -> np.ndarray:
    """(H, W, 3) uint8 BGR; gray and 4-channel images are converted; unreadable -> error."""
    frame = read_image(path)
    if frame is None:
        raise BenchmarkError(f"{path}: cannot read image")
    return frame


def _vot_polygon(region) -> np.ndarray:
    """pysot's test script turns a rectangle gt into a polygon with inclusive corners."""
    values = np.asarray(region, np.float64).ravel()
    if values.size != 4:
        return values
    x, y, w, h = values
    return np.array([x, y, x, y + h - 1, x + w - 1, y + h - 1, x + w - 1, y])


class VideoSession:
    """One video's protocol state: what to do with the next frame, and its records."""

    def __init__(self, video, mode: str, frame_loader=None):
        self.video, self.mode = video, mode
        self.load = frame_loader or load_frame
        self.index = 0
        self.restart_at = 0  # VOT: the frame of the next (re)initialisation
        self.trajectory, self.scores, self.times = [], [], []
        self.failures = 0

    @property
    def done(self) -> bool:
        return self.index >= len(self.video)

    def next_action(self):
        """('init', frame, box) / ('track', frame) / ('skip',) for frame ``self.index``."""
        if self.mode is Protocol.RESET and self.index < self.restart_at:
            return ("skip",)
        frame = self.load(self.video.frame_paths[self.index])
        if self.index == self.restart_at:
            region = self.video.gt[self.index]
            if self.mode is Protocol.RESET:
                region = _vot_polygon(region)
            return ("init", frame, init_box(region, vot_protocol=self.mode is Protocol.RESET))
        return ("track", frame)

    def record(self, action, result=None, elapsed=0.0) -> None:
        kind = action[0]
        if kind == "skip":
            self.trajectory.append([0])
            self.scores.append(None)
        elif kind == "init":
            self.trajectory.append([1] if self.mode is Protocol.RESET else list(action[2]))
            self.scores.append(None)
        else:
            box, score = result
            box = [float(v) for v in box]
            self.scores.append(float(score))
            if self.mode is Protocol.RESET:
                frame = action[1]
                gt = _vot_polygon(self.video.gt[self.index])
                overlap = vot_overlap(box, gt, (frame.shape[1], frame.shape[0]))
                if overlap > 0:
                    self.trajectory.append(box)
                else:
                    self.trajectory.append([2])
                    self.failures += 1
                    self.restart_at = self.index + SKIP_AFTER_FAILURE
            else:
                self.trajectory.append(box)
        self.times.append(elapsed)
        self.index += 1

    def write(self, out_dir: str, dataset: str) -> None:
        results.write_trajectory(
            out_dir, dataset, self.video.name, self.trajectory, self.scores, self.times
        )


def _pending(videos, out_dir, dataset):
    return [v for v in videos if not results.is_complete(out_dir, dataset, v.name)]


def run_sequential(tracker, videos, out_dir: str, dataset: str, progress=True) -> list[str]:
    """Tracks each unfinished video with ``tracker``; returns the names it ran."""
    pending = _pending(videos, out_dir, dataset)
    mode = dataset_spec(dataset).protocol
    bar = tqdm(total=sum(len(v) for v in pending), unit="frame", disable=not progress)
    for video in pending:
        session = VideoSession(video, mode)
        while not session.done:
            action = session.next_action()
            start = time.perf_counter()
            result = None
            if action[0] == "init":
                tracker.init(action[1], action[2])
            elif action[0] == "track":
                result = tracker.track(action[1])
            session.record(action, result, time.perf_counter() - start)
            bar.update(1)
        session.write(out_dir, dataset)
        bar.set_postfix_str(video.name)
    bar.close()
    return [v.name for v in pending]


def run_batched(batched, videos, out_dir: str, dataset: str, progress=True) -> list[str]:
    """Like ``run_sequential`` with a ``BatchedTracker``: one search call per step."""
    pending = _pending(videos, out_dir, dataset)
    mode = dataset_spec(dataset).protocol
    queue = list(pending)
    sessions = [None] * batched.batch_size
    bar = tqdm(total=sum(len(v) for v in pending), unit="frame", disable=not progress)
    while queue or any(session is not None for session in sessions):
        actions = {}
        for slot in range(len(sessions)):
            if sessions[slot] is None and queue:
                sessions[slot] = VideoSession(queue.pop(0), mode)
            if sessions[slot] is not None:
                actions[slot] = sessions[slot].next_action()
        inits = {s: (a[1], a[2]) for s, a in actions.items() if a[0] == "init"}
        tracks = {s: a[1] for s, a in actions.items() if a[0] == "track"}
        start = time.perf_counter()
        batched.init(inits)
        outputs = batched.track(tracks) if tracks else {}
        elapsed = (time.perf_counter() - start) / max(len(inits) + len(tracks), 1)
        for slot, action in actions.items():
            session = sessions[slot]
            session.record(action, outputs.get(slot), elapsed if action[0] != "skip" else 0.0)
            bar.update(1)
            if session.done:
                session.write(out_dir, dataset)
                bar.set_postfix_str(session.video.name)
                sessions[slot] = None
    bar.close()
    return [v.name for v in pending]
