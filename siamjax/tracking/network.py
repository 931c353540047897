"""The network side of a tracker: a model, its variables and two jitted pure functions."""

from __future__ import annotations

import jax
import numpy as np

from siamjax.models import build_model, make_search_fn, make_template_fn


class TrackerNetwork:
    """Holds ``variables`` and the jitted template / search functions of one model.

    ``template(crops)``: (N, 127, 127, 3) BGR float32 -> template features (device arrays).
    ``search(features, crops)``: (N, X, X, 3) -> (scores (N, S, S, A, 2), deltas
    (N, S, S, A, 4)) as numpy. Each distinct batch size / crop size compiles once.
    """

    def __init__(self, model, variables):
        self.model = model
        self.variables = jax.tree_util.tree_map(jax.numpy.asarray, variables)
        self._template_fn = jax.jit(make_template_fn(model))
        self._search_fn = jax.jit(make_search_fn(model))

    @classmethod
    def from_config(cls, config, variables):
        return cls(build_model(config.model), variables)

    def template(self, crops: np.ndarray):
        return self._template_fn(self.variables, np.asarray(crops, np.float32))

    def search(self, template_features, crops: np.ndarray):
        outputs = self._search_fn(self.variables, template_features, np.asarray(crops, np.float32))
        scores, deltas = jax.device_get((outputs["scores"], outputs["deltas"]))
        return np.asarray(scores), np.asarray(deltas)
