"""Pair sampling with pysot's semantics (docs/parity.md §6.2), as a pure function of a position.

``PairSampler.spec(position)`` returns everything random about training sample number
``position`` of this host: which records form the pair (positive within the track's frame
range, or negative from a uniformly chosen dataset), the gray decision and every draw of the
two augmentations. It depends only on (seed, host, position), so a stream restarted at a
saved position is exactly the stream that was interrupted, and any number of parallel
workers produce the same samples.

Epochs follow pysot: each dataset contributes its pick list (its videos in repeated random
permutations, truncated to NUM_USE), the picks of all datasets are concatenated and shuffled,
repeated until VIDEOS_PER_EPOCH samples.
"""

from __future__ import annotations

import dataclasses
import threading

import numpy as np

from siamjax.data.crop_box import box_in_crop

# pysot's colour-offset matrix (docs/parity.md §6.4 step 7).
COLOUR_MATRIX = np.array(
    [
        [-0.55919361, 0.98062831, -0.41940627],
        [1.72091413, 0.19879334, -1.82968581],
        [4.64467907, 4.73710203, 4.88324118],
    ],
    np.float32,
)
BLUR_SIZES = np.arange(5, 46, 2)


@dataclasses.dataclass(frozen=True)
class AugmentParams:
    """pysot's per-crop augmentation settings (DATASET.TEMPLATE / DATASET.SEARCH)."""

    shift: float
    scale: float
    blur: float
    flip: float
    color: float


def draw_augmentation(rng, params: AugmentParams) -> dict:
    """The random draws of one crop's augmentation, in pysot's order (docs/parity.md §6.4)."""
    draws = {"scale_x": 1.0, "scale_y": 1.0, "shift_x": 0.0, "shift_y": 0.0}
    if params.scale:
        draws["scale_x"] = 1.0 + (rng.random() * 2 - 1.0) * params.scale
        draws["scale_y"] = 1.0 + (rng.random() * 2 - 1.0) * params.scale
    if params.shift:
        draws["shift_x"] = (rng.random() * 2 - 1.0) * params.shift
        draws["shift_y"] = (rng.random() * 2 - 1.0) * params.shift
    offset = np.zeros(3)
    if params.color > rng.random():
        offset = (COLOUR_MATRIX.astype(np.float64) @ rng.standard_normal((3, 1)))[::-1, 0]
    draws["colour_offset_bgr"] = offset
    draws["blur_size"], draws["blur_weight"] = 0, 0.0
    if params.blur > rng.random():
        draws["blur_size"] = int(rng.choice(BLUR_SIZES))
        draws["blur_weight"] = float(rng.random())
    draws["flip"] = bool(params.flip and params.flip > rng.random())
    return draws


class PairSampler:
    """Deterministic pair specs for one host's sources."""

    def __init__(self, sources, config, seed: int, host: int = 0):
        self.sources = sources
        self.seed, self.host = int(seed), int(host)
        self.negative = float(config.neg)
        self.gray = float(config.gray)
        self.template_params = AugmentParams(**dict(config.template))
        self.search_params = AugmentParams(**dict(config.search))
        total = sum(source.num_use for source in sources)
        self.videos_per_epoch = (
            int(config.videos_per_epoch) if config.videos_per_epoch > 0 else total
        )
        self.exemplar_size = int(config.exemplar_size)
        self._epoch_cache = {}
        self._epoch_lock = threading.Lock()
        starts = np.cumsum([0] + [s.num_videos for s in sources])
        self._starts = starts

    def _epoch_picks(self, epoch: int) -> np.ndarray:
        # Reader threads of one worker share the sampler: one of them draws an epoch's
        # order (a permutation of all videos: costly) while the others wait for it.
        cached = self._epoch_cache
        if epoch in cached:
            return cached[epoch]
        with self._epoch_lock:
            cached = self._epoch_cache
            if epoch in cached:
                return cached[epoch]
            return self._draw_epoch(epoch)

    def _draw_epoch(self, epoch: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, self.host, epoch, 0])
        sub_picks = []
        for start, source in zip(self._starts, self.sources):
            pick = []
            while len(pick) < source.num_use:
                pick.extend((start + rng.permutation(source.num_videos)).tolist())
            sub_picks.extend(pick[: source.num_use])
        picks = []
        while len(picks) < self.videos_per_epoch:
            picks.extend(rng.permutation(np.asarray(sub_picks)).tolist())
        result = np.asarray(picks[: self.videos_per_epoch], np.int64)
        self._epoch_cache = {epoch: result}
        return result

    def __getstate__(self):
        state = dict(self.__dict__)
        del state["_epoch_lock"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._epoch_lock = threading.Lock()

    def _locate(self, global_video: int):
        source_id = int(np.searchsorted(self._starts, global_video, side="right") - 1)
        return source_id, int(global_video - self._starts[source_id])

    def _random_record(self, rng, source_id, video=None):
        source = self.sources[source_id]
        if video is None:
            video = int(rng.integers(0, source.num_videos))
        track = source.video_tracks[video][int(rng.integers(0, len(source.video_tracks[video])))]
        start, stop = source.track_ranges[track]
        return start + int(rng.integers(0, stop - start))

    def spec(self, position: int) -> dict:
        """Sample ``position``: record references, crop boxes, flags and augmentation draws."""
        epoch, offset = divmod(int(position), self.videos_per_epoch)
        source_id, video = self._locate(int(self._epoch_picks(epoch)[offset]))
        rng = np.random.default_rng([self.seed, self.host, int(position), 1])
        negative = self.negative > 0 and self.negative > rng.random()
        gray = self.gray > 0 and self.gray > rng.random()
        source = self.sources[source_id]
        if negative:
            template = (source_id, self._random_record(rng, source_id, video))
            other = int(rng.integers(0, len(self.sources)))
            search = (other, self._random_record(rng, other))
        else:
            tracks = source.video_tracks[video]
            track = tracks[int(rng.integers(0, len(tracks)))]
            start, stop = source.track_ranges[track]
            template_index = int(rng.integers(0, stop - start))
            left = max(template_index - source.frame_range, 0)
            right = min(template_index + source.frame_range, stop - start - 1) + 1
            search_index = int(rng.integers(left, right))
            template = (source_id, start + template_index)
            search = (source_id, start + search_index)
        spec = {"negative": bool(negative), "gray": bool(gray)}
        for role, (sid, record), params in (
            ("template", template, self.template_params),
            ("search", search, self.search_params),
        ):
            src = self.sources[sid]
            spec[role] = {
                "ref": (
                    sid,
                    int(src.shard_ids[record]),
                    int(src.offsets[record]),
                    int(src.lengths[record]),
                ),  # fmt: skip
                "box": box_in_crop(src.boxes[record], self.exemplar_size),
                "record": (src.name, int(record)),
                **draw_augmentation(rng, params),
            }
        return spec
