"""Python entry points: load a config + checkpoint and run the network on arrays.

    from siamjax import api
    model, variables, config = api.load_model("configs/siamrpn_r50_l234_dwxcorr.py", "ckpt/")
    cls, loc = api.pysot_outputs(model, variables, template_bgr, search_bgr)

Images are BGR float32 0-255, unnormalised, NHWC (as pysot's crops, transposed).
"""

from __future__ import annotations

import jax
import numpy as np

from siamjax.backend import resolve_policy
from siamjax.checkpoints import load_variables
from siamjax.config_loader import apply_overrides, load_config
from siamjax.models import build_model, make_search_fn, make_template_fn
from siamjax.models.layout import to_pysot_layout


def load_model(config_spec: str, checkpoint_dir: str, overrides=()):
    """Returns ``(model, variables, config)`` for a config file and an orbax checkpoint."""
    config = apply_overrides(load_config(config_spec), overrides)
    model = build_model(config.model, resolve_policy(config).formulation)
    variables = jax.tree_util.tree_map(jax.numpy.asarray, load_variables(checkpoint_dir))
    return model, variables, config


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
