"""The network side of a tracker: a model, its variables and two jitted pure functions."""

from __future__ import annotations

import functools

import jax
import numpy as np

from siamjax import registry
from siamjax.backend import resolve_policy
from siamjax.models import build_model, check_variables, make_search_fn, make_template_fn


def default_batch_mode() -> str:
    """The backend policy's 'auto' ``tracker_batch`` ('map' on CPU, 'vectorized' on GPU /
    TPU; ``siamjax/backend.py``)."""
    return resolve_policy().tracker_batch


def tracker_functions(model):
    """(template, search, mapped search) jitted for ``model``, shared by every network of
    an equal model: trackers built one after another (an experiment's runs, a
    hyper-parameter search) compile once, since the variables are arguments. Keyed on
    the registry's generation too: a variant re-registered under its name is not served
    from the cache."""
    return _jitted_for(model, registry.generation())


@functools.lru_cache(maxsize=16)
def _jitted_for(model, generation: int):
    search_fn = make_search_fn(model)

    def mapped_search(variables, features, crops):
        def one(sample):
            sample_features, crop = sample
            batched = jax.tree_util.tree_map(lambda a: a[None], sample_features)
            outputs = search_fn(variables, batched, crop[None])
            return jax.tree_util.tree_map(lambda a: a[0], outputs)

        return jax.lax.map(one, (features, crops))

    return jax.jit(make_template_fn(model)), jax.jit(search_fn), jax.jit(mapped_search)


class TrackerNetwork:
    """Holds ``variables`` and the jitted template / search functions of one model.

    ``template(crops)``: (N, 127, 127, 3) BGR float32 -> template features (device arrays).
    ``search(features, crops)``: (N, X, X, 3) -> (scores (N, S, S, A, 2), deltas
    (N, S, S, A, 4)) as numpy. ``search_async`` returns device arrays without waiting, so
    host work can overlap the network; ``fetch`` converts them. Each distinct batch size /
    crop size compiles once. ``batch_mode`` picks how a batch N > 1 runs inside the one
    call: 'vectorized' (one batched network) or 'map' (``lax.map`` over samples).
    """

    def __init__(self, model, variables, batch_mode: str | None = None):
        check_variables(model, variables)  # another architecture's checkpoint: one line
        self.model = model
        self.variables = jax.tree_util.tree_map(jax.numpy.asarray, variables)
        self.batch_mode = batch_mode or default_batch_mode()
        if self.batch_mode not in ("map", "vectorized"):
            raise ValueError(f"batch_mode must be 'map' or 'vectorized', got {self.batch_mode!r}")
        self._template_fn, self._search_fn, self._mapped_search_fn = tracker_functions(model)

    @classmethod
    def from_config(cls, config, variables, batch_mode: str | None = None):
        """The network of ``config.model``, formulated and batched as ``config.backend``
        resolves on this backend (``batch_mode`` overrides the policy's)."""
        policy = resolve_policy(config)
        model = build_model(config.model, policy.formulation)
        return cls(model, variables, batch_mode or policy.tracker_batch)

    def template(self, crops: np.ndarray):
        return self._template_fn(self.variables, np.asarray(crops, np.float32))

    def search_async(self, template_features, crops: np.ndarray):
        crops = np.asarray(crops, np.float32)
        if len(crops) > 1 and self.batch_mode == "map":
            return self._mapped_search_fn(self.variables, template_features, crops)
        return self._search_fn(self.variables, template_features, crops)

    @staticmethod
    def fetch(outputs):
        scores, deltas = jax.device_get((outputs["scores"], outputs["deltas"]))
        return np.asarray(scores), np.asarray(deltas)

    def search(self, template_features, crops: np.ndarray):
        return self.fetch(self.search_async(template_features, crops))
