"""The SiamRPN(++) model: shared backbone -> optional neck -> RPN head (docs/parity.md §3.6).

Entry points (``model.apply(variables, ..., method=...)``):

* ``embed_template(template)``: (N, 127, 127, 3) -> template features (dict of levels),
  computed once per target and cached by the tracker;
* ``track(template_features, search)``: search (N, 255, 255, 3) -> outputs;
* ``__call__(template, search)``: both, the training forward. The backbone runs once per
  branch, so BatchNorm batch statistics are per branch, as in pysot;
* ``backbone_features(images)`` and ``head_outputs(template_backbone, search_backbone)``:
  the same forward in two parts (the train step runs a frozen backbone on its own).

``train`` selects batch statistics in the neck and head; ``backbone_train`` (default:
``train``) does so for the backbone and may be a collection of layer names
(``("layer2", "layer3", "layer4")``): only those use batch statistics (docs/parity.md §7.3).

Images are BGR, float32, 0-255, unnormalised (pysot's contract). Outputs are
``{'scores': (N, S, S, A, 2), 'deltas': (N, S, S, A, 4)}`` (see ``layout.py``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax

from siamjax.backend import PLAIN, Formulation, formulated
from siamjax.models.layout import split_channels

Features = dict[str, jax.Array]


def _formulated(method):
    """Runs a ``SiamRPN`` method with the model's ``formulation`` active, so every layer
    traced inside (backbone, neck, head) writes its ops the same way."""

    @functools.wraps(method)
    def wrapped(self, *args, **kwargs):
        with formulated(self.formulation):
            return method(self, *args, **kwargs)

    return wrapped


class SiamRPN(nn.Module):
    """Siamese RPN tracker network.

    Attributes:
      backbone: maps images to ``{'stage{i}': features}``.
      neck: adjust layers or None (AlexNet models have no neck).
      rpn_head: maps (template features, search features) to raw (cls, loc).
      anchor_num: A, anchors per location.
      formulation: how ops are written (``siamjax/backend.py``); values do not depend
        on it. ``build_model`` sets the backend policy's choice.
    """

    backbone: nn.Module
    neck: nn.Module | None
    rpn_head: nn.Module
    anchor_num: int = 5
    formulation: Formulation = PLAIN

    @_formulated
    def embed_template(
        self, template: jax.Array, train: bool = False, backbone_train: bool | None = None
    ) -> Features:
        """Template branch: (N, 127, 127, 3) -> dict of (N, 7, 7, C) features (r50)."""
        return self._features(template, train, backbone_train)

    @_formulated
    def track(
        self,
        template_features: Features,
        search: jax.Array,
        train: bool = False,
        backbone_train: bool | None = None,
    ) -> dict[str, jax.Array]:
        """Search branch + head: search (N, 255, 255, 3) -> scores / deltas."""
        search_features = self._features(search, train, backbone_train)
        return self._outputs(*self.rpn_head(template_features, search_features, train))

    @_formulated
    def __call__(
        self,
        template: jax.Array,
        search: jax.Array,
        train: bool = False,
        backbone_train: bool | None = None,
    ) -> dict[str, jax.Array]:
        """Training forward: both branches and the head."""
        template_features = self.embed_template(template, train, backbone_train)
        return self.track(template_features, search, train, backbone_train)

    @_formulated
    def backbone_features(self, images: jax.Array, backbone_train=False) -> Features:
        """Backbone only: (N, H, W, 3) -> ``{'stage{i}': (N, h, w, C)}`` before the neck."""
        return self.backbone(images, backbone_train)

    @_formulated
    def head_outputs(
        self, template_backbone: Features, search_backbone: Features, train: bool = False
    ) -> dict[str, jax.Array]:
        """Neck + head on ``backbone_features`` of both branches (a training forward whose
        backbone ran separately, e.g. frozen and sample by sample)."""
        template_features = self._neck(template_backbone, train)
        search_features = self._neck(search_backbone, train)
        return self._outputs(*self.rpn_head(template_features, search_features, train))

    def _outputs(self, cls: jax.Array, loc: jax.Array) -> dict[str, jax.Array]:
        return {
            "scores": split_channels(cls, self.anchor_num, 2),
            "deltas": split_channels(loc, self.anchor_num, 4),
        }

    def _neck(self, features: Features, train: bool) -> Features:
        return features if self.neck is None else self.neck(features, train)

    def _features(self, images: jax.Array, train: bool, backbone_train: bool | None):
        if backbone_train is None:
            backbone_train = train
        return self._neck(self.backbone(images, backbone_train), train)


def make_template_fn(model: SiamRPN) -> Callable[[Any, jax.Array], Features]:
    """Pure ``template_fn(variables, template) -> template_features`` (eval-mode BN)."""

    def template_fn(variables, template):
        return model.apply(variables, template, method=SiamRPN.embed_template)

    return template_fn


def make_search_fn(model: SiamRPN) -> Callable[[Any, Features, jax.Array], dict]:
    """Pure ``search_fn(variables, template_features, search) -> outputs`` (eval-mode BN)."""

    def search_fn(variables, template_features, search):
        return model.apply(variables, template_features, search, method=SiamRPN.track)

    return search_fn
