"""Head output layout: siamjax's (B, S, S, A, k) arrays <-> pysot's channel layout.

Inside siamjax the head outputs are

* ``scores``: (B, S, S, A, 2) logits, last axis (background, foreground);
* ``deltas``: (B, S, S, A, 4), last axis (dx, dy, dw, dh);

indexed by (row y, column x, anchor a). pysot keeps them as channels of
(N, 2A, S, S) with channel ``k·A + a`` and (N, 4A, S, S) with channel ``j·A + a``
(docs/parity.md §3.5); the conversion lives here and nowhere else.
"""

from __future__ import annotations

import numpy as np


def split_channels(raw, anchor_num: int, kinds: int):
    """(B, S, S, kinds·A) channels ``k·A + a`` -> (B, S, S, A, kinds)."""
    batch, height, width, channels = raw.shape
    if channels != kinds * anchor_num:
        raise ValueError(f"expected {kinds * anchor_num} channels, got {channels}")
    return raw.reshape(batch, height, width, kinds, anchor_num).swapaxes(-1, -2)


def merge_channels(values):
    """(B, S, S, A, kinds) -> (B, S, S, kinds·A) with channel ``k·A + a``."""
    batch, height, width, anchor_num, kinds = values.shape
    return values.swapaxes(-1, -2).reshape(batch, height, width, kinds * anchor_num)


def to_pysot_layout(scores, deltas):
    """siamjax (B,S,S,A,2), (B,S,S,A,4) -> pysot cls (B,2A,S,S), loc (B,4A,S,S) (numpy)."""
    cls = np.asarray(merge_channels(scores)).transpose(0, 3, 1, 2)
    loc = np.asarray(merge_channels(deltas)).transpose(0, 3, 1, 2)
    return cls, loc


def from_pysot_layout(cls, loc):
    """pysot cls (B,2A,S,S), loc (B,4A,S,S) -> siamjax (B,S,S,A,2), (B,S,S,A,4) (numpy)."""
    cls = np.asarray(cls)
    loc = np.asarray(loc)
    anchor_num = cls.shape[1] // 2
    scores = split_channels(cls.transpose(0, 2, 3, 1), anchor_num, 2)
    deltas = split_channels(loc.transpose(0, 2, 3, 1), anchor_num, 4)
    return scores, deltas
