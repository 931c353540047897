"""Grid search of the tracker's penalty_k / window_influence / lr on a benchmark.

pysot searches sequentially, one full benchmark run per setting. Here the settings of a
chunk run the *same* video side by side in the slots of one ``BatchedTracker``: each frame is
read once for all settings and every step is one batched network call, so a grid of 8
settings costs about one batched run per video. (Search crops differ between settings as
soon as their trajectories differ, so network outputs themselves cannot be shared beyond
the template.) Results go to ``out/<setting>/`` in pysot's format; finished
(setting, video) pairs are skipped on a rerun.
"""

from __future__ import annotations

import dataclasses
import itertools
import os

from tqdm import tqdm

from siamjax.datasets import dataset_spec
from siamjax.eval import results
from siamjax.eval.runner import VideoSession, load_frame
from siamjax.tracking.batched import BatchedTracker


def setting_name(setting: dict) -> str:
    return "_".join(f"{key}-{value:g}" for key, value in sorted(setting.items()))


def grid(penalty_k, window_influence, lr) -> list[dict]:
    """All combinations of the given values (each a sequence of floats)."""
    return [
        {"penalty_k": float(k), "window_influence": float(w), "lr": float(r)}
        for k, w, r in itertools.product(penalty_k, window_influence, lr)
    ]


def _with_params(tracker, setting):
    clone = type(tracker)(tracker.network, dataclasses.replace(tracker.params, **setting))
    return clone


def run_search(tracker, videos, dataset: str, out_dir: str, settings, batch_size=8, progress=True):
    """Tracks every video under every setting; returns {setting name: result folder}."""
    mode = dataset_spec(dataset).protocol
    folders = {setting_name(s): os.path.join(out_dir, setting_name(s)) for s in settings}
    work = [
        (video, chunk)
        for video in videos
        for chunk in _chunks(
            [
                s
                for s in settings
                if not results.is_complete(folders[setting_name(s)], dataset, video.name)
            ],
            batch_size,
        )
    ]
    bar = tqdm(total=sum(len(v) for v, _ in work), unit="frame", disable=not progress)
    for video, chunk in work:
        slot_trackers = [_with_params(tracker, s) for s in chunk]
        slot_trackers += [slot_trackers[0]] * (batch_size - len(chunk))
        batched = BatchedTracker(tracker, batch_size, slot_trackers)
        cache = {}

        def shared_loader(path, cache=cache):
            if path not in cache:
                cache.clear()  # keep only the current frame
                cache[path] = load_frame(path)
            return cache[path]

        sessions = [VideoSession(video, mode, shared_loader) for _ in chunk]
        while not sessions[0].done:
            actions = {slot: session.next_action() for slot, session in enumerate(sessions)}
            batched.init({s: (a[1], a[2]) for s, a in actions.items() if a[0] == "init"})
            tracks = {s: a[1] for s, a in actions.items() if a[0] == "track"}
            outputs = batched.track(tracks) if tracks else {}
            for slot, action in actions.items():
                sessions[slot].record(action, outputs.get(slot))
            bar.update(1)
        for setting, session in zip(chunk, sessions):
            session.write(folders[setting_name(setting)], dataset)
    bar.close()
    return folders


def _chunks(items, size):
    return [items[i : i + size] for i in range(0, len(items), size)]
