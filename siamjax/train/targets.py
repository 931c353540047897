"""Anchor targets for training, on device with fixed shapes (docs/parity.md §4.4, §5.1).

pysot's ``AnchorTarget`` runs per sample in numpy inside the data loader and picks its
random subsets with ``np.random.shuffle``. Here the same rule runs in jnp over a batch:
a random subset of k elements of a boolean set is "the k members with the smallest
uniform key", which has the same distribution as a shuffle and needs no ``nonzero``.
Passing the keys in (``pos_keys`` / ``neg_keys``) makes the draw injectable for parity.

Layout: per sample (S, S, A) for labels and weights, (S, S, A, 4) for deltas, indexed
(row y, column x, anchor a) like the head outputs (``models/layout.py``).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from siamjax.anchors import anchor_grid, centre_to_corner, score_size


class TargetConfig(NamedTuple):
    """Static settings of the target rule (pysot's ``cfg.TRAIN`` values by default)."""

    search_size: int = 255
    score_size: int = 25
    stride: int = 8
    ratios: tuple = (0.33, 0.5, 1.0, 2.0, 3.0)
    scales: tuple = (8.0,)
    thr_high: float = 0.6
    thr_low: float = 0.3
    pos_num: int = 16
    total_num: int = 64
    neg_num: int = 16  # negatives kept for a negative pair

    @classmethod
    def from_config(cls, config) -> TargetConfig:
        """From a full siamjax config: ``anchor``, ``input`` sizes and ``train.targets``."""
        search = int(config.input.search_size)
        exemplar = int(config.input.exemplar_size)
        targets = config.train.targets
        return cls(
            search_size=search,
            score_size=score_size(search, exemplar, config.anchor.stride, config.track.base_size),
            stride=int(config.anchor.stride),
            ratios=tuple(config.anchor.ratios),
            scales=tuple(config.anchor.scales),
            thr_high=float(targets.thr_high),
            thr_low=float(targets.thr_low),
            pos_num=int(targets.pos_num),
            total_num=int(targets.total_num),
            neg_num=int(targets.neg_num),
        )


class Targets(NamedTuple):
    """Per-batch targets. label: (N,S,S,A) int32 in {-1 ignore, 0, 1}; delta: (N,S,S,A,4);
    delta_weight: (N,S,S,A) float32."""

    label: jax.Array
    delta: jax.Array
    delta_weight: jax.Array


def training_anchors(target_config: TargetConfig) -> tuple[np.ndarray, np.ndarray]:
    """(S, S, A, 4) anchors in absolute search-crop pixels: (corner x1y1x2y2, centre cxcywh).

    Centred on ``search_size // 2`` (127), so cx = 31 + 8·x for the 25×25 grid.
    """
    centre = anchor_grid(
        target_config.score_size,
        target_config.stride,
        target_config.ratios,
        target_config.scales,
        centre=float(target_config.search_size // 2),
    )
    return centre_to_corner(centre), centre


def _keep_random_subset(member: jax.Array, keys: jax.Array, count: int) -> jax.Array:
    """Boolean mask of at most ``count`` members of ``member`` (flat), those of smallest key."""
    flat_member = member.reshape(-1)
    ranked = jnp.where(flat_member, keys.reshape(-1), jnp.inf)
    order = jnp.argsort(ranked)
    rank = jnp.empty_like(order).at[order].set(jnp.arange(order.size))
    return (flat_member & (rank < count)).reshape(member.shape)


def sample_targets(
    target_config: TargetConfig,
    box_xyxy: jax.Array,
    negative: jax.Array,
    pos_keys: jax.Array,
    neg_keys: jax.Array,
) -> Targets:
    """Targets of one sample (docs/parity.md §5.1).

    Args:
      box_xyxy: (4,) target box in search-crop pixels, corner form (x1, y1, x2, y2).
      negative: () bool, a negative pair (the box is then the distractor's).
      pos_keys, neg_keys: (S, S, A) uniform draws that choose the kept subsets.

    Returns:
      ``Targets`` without the batch axis.
    """
    # The barrier keeps XLA from rewriting ``x / anchor_w`` as a multiply by the reciprocal,
    # 1 ulp off pysot's division; XLA does that when the divisor is a constant, or the
    # broadcast of one (as the anchors become when this runs vmapped over a batch). Adding
    # ``0 * x1`` gives the anchors the box's batch axis, so the divisor past the barrier is
    # neither. (Boxes are finite: the pipeline rejects others.)
    box_xyxy = jnp.asarray(box_xyxy, jnp.float32)
    zero = box_xyxy[0] * 0.0
    corner, centre = jax.lax.optimization_barrier(
        tuple(jnp.asarray(a) + zero for a in training_anchors(target_config))
    )
    size, stride = target_config.score_size, target_config.stride
    x1, y1, x2, y2 = box_xyxy[0], box_xyxy[1], box_xyxy[2], box_xyxy[3]
    target_cx, target_cy = (x1 + x2) * 0.5, (y1 + y2) * 0.5
    target_w, target_h = x2 - x1, y2 - y1

    # Positive pair: deltas for every anchor, labels from the IoU thresholds.
    anchor_cx, anchor_cy, anchor_w, anchor_h = (centre[..., i] for i in range(4))
    delta = jnp.stack(
        [
            (target_cx - anchor_cx) / anchor_w,
            (target_cy - anchor_cy) / anchor_h,
            jnp.log(target_w / anchor_w),
            jnp.log(target_h / anchor_h),
        ],
        axis=-1,
    )
    inter_w = jnp.maximum(0.0, jnp.minimum(corner[..., 2], x2) - jnp.maximum(corner[..., 0], x1))
    inter_h = jnp.maximum(0.0, jnp.minimum(corner[..., 3], y2) - jnp.maximum(corner[..., 1], y1))
    inter = inter_w * inter_h
    anchor_area = (corner[..., 2] - corner[..., 0]) * (corner[..., 3] - corner[..., 1])
    overlap = inter / (anchor_area + target_w * target_h - inter)
    pos = _keep_random_subset(overlap > target_config.thr_high, pos_keys, target_config.pos_num)
    neg = _keep_random_subset(
        overlap < target_config.thr_low, neg_keys, target_config.total_num - target_config.pos_num
    )
    pos_label = jnp.where(pos, 1, jnp.where(neg, 0, -1)).astype(jnp.int32)
    pos_weight = pos.astype(jnp.float32) / (pos.sum() + 1e-6)

    # Negative pair: a 7×7 block around the projected object, at most neg_num labels 0.
    half = target_config.search_size // 2
    col = size // 2 + jnp.ceil((target_cx - half) / stride + 0.5).astype(jnp.int32)
    row = size // 2 + jnp.ceil((target_cy - half) / stride + 0.5).astype(jnp.int32)
    grid = jnp.arange(size)
    in_rows = (grid >= jnp.maximum(0, row - 3)) & (grid < jnp.minimum(size, row + 4))
    in_cols = (grid >= jnp.maximum(0, col - 3)) & (grid < jnp.minimum(size, col + 4))
    window = jnp.broadcast_to((in_rows[:, None] & in_cols[None, :])[..., None], pos.shape)
    neg_pair = _keep_random_subset(window, neg_keys, target_config.neg_num)
    neg_label = jnp.where(neg_pair, 0, -1).astype(jnp.int32)

    return Targets(
        label=jnp.where(negative, neg_label, pos_label),
        delta=jnp.where(negative, 0.0, delta),
        delta_weight=jnp.where(negative, 0.0, pos_weight),
    )


def target_draws(
    target_config: TargetConfig, count: int, rng: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """The uniform draws (positive, negative), each (count, S, S, A) float32, that
    ``batch_targets`` ranks candidates by for the PRNG key ``rng`` (parity tools hand the
    same draws to pysot's target builder)."""
    shape = (count, target_config.score_size, target_config.score_size,
             len(target_config.ratios) * len(target_config.scales))  # fmt: skip
    pos_rng, neg_rng = jax.random.split(rng)
    return (jax.random.uniform(pos_rng, shape, jnp.float32),
            jax.random.uniform(neg_rng, shape, jnp.float32))  # fmt: skip


def batch_targets(
    target_config: TargetConfig, boxes_xyxy: jax.Array, negative: jax.Array, rng: jax.Array
) -> Targets:
    """Targets of a batch: boxes (N, 4) corner form, negative (N,) bool, one PRNG key."""
    pos_keys, neg_keys = target_draws(target_config, boxes_xyxy.shape[0], rng)
    return jax.vmap(lambda *a: sample_targets(target_config, *a))(
        boxes_xyxy, negative, pos_keys, neg_keys
    )
