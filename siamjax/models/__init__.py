"""Model zoo: ``build_model(config.model)`` is the only place model config is read."""

from __future__ import annotations

import importlib

import jax
import jax.numpy as jnp

from siamjax import registry
from siamjax.backend import Formulation, default_formulation
from siamjax.models import backbones, correlation, heads, neck  # noqa: F401  (registration)
from siamjax.models.siamrpn import SiamRPN, make_search_fn, make_template_fn

__all__ = ["SiamRPN", "build_model", "init_variables", "make_search_fn", "make_template_fn"]


def build_model(model_config, formulation: Formulation | None = None) -> SiamRPN:
    """Builds a ``SiamRPN`` from ``config.model`` (a ConfigDict or plain mapping).

    ``formulation``: how ops are written (``resolve_policy(config).formulation``);
    default: the current backend's 'auto' choice (``siamjax/backend.py``).

    Expected fields: ``backbone``, ``neck`` (name ``'none'`` for no neck) and ``rpn``,
    each a ``name`` plus the constructor arguments of that registered variant;
    ``anchor_num``; optional ``imports`` (modules to import first, e.g. one registering
    a correlation variant).
    """
    for module_name in model_config.get("imports", ()) or ():
        importlib.import_module(module_name)
    backbone = _build("backbone", model_config.backbone)
    neck_module = None
    if model_config.neck.name not in (None, "none"):
        neck_module = _build("neck", model_config.neck)
    rpn_head = _build("rpn", model_config.rpn)
    return SiamRPN(
        backbone,
        neck_module,
        rpn_head,
        anchor_num=model_config.anchor_num,
        formulation=formulation or default_formulation(),
    )


def init_variables(
    model: SiamRPN,
    rng: jax.Array,
    exemplar_size=127,
    instance_size=255,
    compiler_options: dict | None = None,
):
    """Random ``{'params', 'batch_stats'}`` for ``model`` (shapes from a 1-sample forward).

    ``compiler_options``: e.g. the backend policy's ``init_compiler_options()`` (XLA:CPU's
    memory-optimised scheduler); the values do not depend on them.
    """
    template = jnp.zeros((1, exemplar_size, exemplar_size, 3), jnp.float32)
    search = jnp.zeros((1, instance_size, instance_size, 3), jnp.float32)
    options = compiler_options
    try:
        return jax.jit(model.init, compiler_options=options)(rng, template, search)
    except ValueError as error:
        if options is None or "compiler_options" not in str(error):
            raise
        # Called under a trace (jit, eval_shape): options belong to the outer program.
        return jax.jit(model.init)(rng, template, search)


def _build(kind: str, part_config):
    arguments = {key: value for key, value in dict(part_config).items() if key != "name"}
    constructor = registry.lookup(kind, part_config.name)
    try:
        return constructor(**arguments)
    except TypeError as error:
        raise TypeError(f"config.model.{kind} ({part_config.name!r}): {error}") from error
