"""Many independent targets stepped through one jitted search call per frame step.

    batched = BatchedTracker(build_tracker(config, network), batch_size=8)
    batched.init({0: (frame_a, box_a), 1: (frame_b, box_b)})
    results = batched.track({0: next_a, 1: next_b})   # {slot: (box_xywh, score)}

Slots are independent (different videos, or several targets in one video). Every
network call uses the full ``batch_size`` (slots without a frame this step are padded
with zero crops) so each crop size compiles once; slot states, crops and
post-processing are exactly those of the single tracker passed in, so the boxes equal
those of ``batch_size`` separate trackers up to the float rounding of a batched
convolution. Long-term slots that search at different sizes (255 / 831) are grouped
into one call per size.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


class BatchedTracker:
    """``batch_size`` slots sharing ``tracker``'s network.

    ``slot_trackers`` (optional, one per slot) gives each slot its own host logic and
    hyper-parameters (same network), e.g. one tracker setting per slot for a parameter search.
    """

    def __init__(self, tracker, batch_size: int, slot_trackers=None):
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.tracker = tracker
        self.network = tracker.network
        self.batch_size = batch_size
        self.slot_trackers = list(slot_trackers) if slot_trackers else [tracker] * batch_size
        if len(self.slot_trackers) != batch_size:
            raise ValueError(f"{len(self.slot_trackers)} slot trackers for {batch_size} slots")
        if any(t.network is not self.network for t in self.slot_trackers):
            raise ValueError("every slot tracker must share the batched tracker's network")
        self.states = [None] * batch_size
        self.template_features = None
        self._set_rows = jax.jit(_set_rows)

    def _check_slots(self, slots):
        for slot in slots:
            if not 0 <= slot < self.batch_size:
                raise IndexError(f"slot {slot} outside 0..{self.batch_size - 1}")

    def init(self, requests: dict) -> None:
        """``requests``: {slot: (frame_bgr, box_xywh)}; (re)initialises those slots."""
        if not requests:
            return
        self._check_slots(requests)
        exemplar = self.tracker.params.exemplar_size
        crops = np.zeros((self.batch_size, exemplar, exemplar, 3), np.float32)
        slots = sorted(requests)
        new_states = {}
        for row, slot in enumerate(slots):
            frame, box = requests[slot]
            new_states[slot], crops[row] = self.slot_trackers[slot].init_state(frame, box)
        features = self.network.template(crops)
        if self.template_features is None:
            self.template_features = jax.tree_util.tree_map(jnp.zeros_like, features)
        rows = np.full((self.batch_size,), -1, np.int32)
        rows[np.asarray(slots)] = np.arange(len(slots), dtype=np.int32)
        self.template_features = self._set_rows(self.template_features, features, rows)
        for slot, state in new_states.items():
            self.states[slot] = state

    def track(self, frames: dict) -> dict:
        """``frames``: {slot: frame_bgr} -> {slot: (box_xywh, score)} for those slots."""
        self._check_slots(frames)
        for slot in frames:
            if self.states[slot] is None:
                raise RuntimeError(f"slot {slot} was not initialised")
        groups = {}
        for slot in sorted(frames):
            size = self.slot_trackers[slot].instance_size(self.states[slot])
            groups.setdefault(size, []).append(slot)
        results = {}
        for instance_size, slots in groups.items():
            crops = np.zeros((self.batch_size, instance_size, instance_size, 3), np.float32)
            scales = {}
            for slot in slots:
                crops[slot], scales[slot] = self.slot_trackers[slot].search_crop(
                    frames[slot], self.states[slot]
                )
            scores, deltas = self.network.search(self.template_features, crops)
            for slot in slots:
                state, box, score = self.slot_trackers[slot].update_state(
                    self.states[slot],
                    frames[slot].shape[:2],
                    scores[slot],
                    deltas[slot],
                    scales[slot],
                )
                self.states[slot] = state
                results[slot] = (box, score)
        return results


def _set_rows(current, new, rows):
    """Row i of ``current`` <- row ``rows[i]`` of ``new`` where rows[i] >= 0."""

    def update(old, fresh):
        picked = jnp.take(fresh, jnp.maximum(rows, 0), axis=0)
        keep = (rows < 0).reshape((-1,) + (1,) * (old.ndim - 1))
        return jnp.where(keep, old, picked)

    return jax.tree_util.tree_map(update, current, new)
