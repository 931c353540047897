"""Python entry points: load a config + checkpoint and run the network or the tracker.

    from siamjax import api
    tracker = api.load_tracker("configs/siamrpn_r50_l234_dwxcorr.py", "ckpt/")
    tracker.init(frame_bgr, (x, y, w, h)); box_xywh, score = tracker.track(next_frame_bgr)

    # On an AMX / AVX512-BF16 CPU, for weights whose `siamjax precision-check` passed:
    # (else PrecisionUnavailable, one line naming the reason)
    fast = api.load_tracker("configs/siamrpn_r50_l234_dwxcorr.py", "ckpt/", precision="bfloat16")

    model, variables, config = api.load_model("configs/siamrpn_r50_l234_dwxcorr.py", "ckpt/")
    cls, loc = api.pysot_outputs(model, variables, template_bgr, search_bgr)

Images are BGR float32 0-255, unnormalised, NHWC (as pysot's crops, transposed).
"""

from __future__ import annotations

import jax
import numpy as np

from siamjax.loading import CheckpointError, load_tracker
from siamjax.loading import load_model as _load_model
from siamjax.models import make_search_fn, make_template_fn
from siamjax.models.layout import to_pysot_layout
from siamjax.tracking.precision import PrecisionUnavailable

__all__ = ["CheckpointError", "PrecisionUnavailable", "load_model", "load_tracker",
           "pysot_outputs"]  # fmt: skip


def load_model(config_spec: str, checkpoint_dir: str, overrides=()):
    """Returns ``(model, variables, config)`` for a config file and an orbax checkpoint
    (``CheckpointError`` if it cannot be read or is of another architecture)."""
    model, variables, config = _load_model(config_spec, checkpoint_dir, overrides)
    return model, jax.tree_util.tree_map(jax.numpy.asarray, variables), config


def pysot_outputs(model, variables, template: np.ndarray, search: np.ndarray):
    """Raw head outputs in pysot's layout for one batch.

    Args:
      template: (N, 127, 127, 3) BGR float32 0-255.
      search: (N, 255, 255, 3) (287 for AlexNet configs) BGR float32 0-255.

    Returns:
      cls (N, 2A, S, S) and loc (N, 4A, S, S) numpy arrays, pysot's channel order.
    """
    template_fn = jax.jit(make_template_fn(model))
    search_fn = jax.jit(make_search_fn(model))
    template_features = template_fn(variables, np.asarray(template, np.float32))
    outputs = search_fn(variables, template_features, np.asarray(search, np.float32))
    return to_pysot_layout(outputs["scores"], outputs["deltas"])
