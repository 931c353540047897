"""Model zoo: ``build_model(config.model)`` is the only place model config is read."""

from __future__ import annotations

import importlib

import jax
import jax.numpy as jnp

from siamjax import registry
from siamjax.backend import Formulation, default_formulation
from siamjax.models import backbones, correlation, heads, neck  # noqa: F401  (registration)
from siamjax.models.siamrpn import SiamRPN, make_search_fn, make_template_fn

__all__ = [
    "SiamRPN",
    "VariablesMismatch",
    "build_model",
    "check_variables",
    "init_variables",
    "make_search_fn",
    "make_template_fn",
]


class VariablesMismatch(ValueError):
    """Loaded variables that do not fit the config's model (another architecture)."""


def build_model(model_config, formulation: Formulation | None = None) -> SiamRPN:
    """Builds a ``SiamRPN`` from ``config.model`` (a ConfigDict or plain mapping).

    ``formulation``: how ops are written (``resolve_policy(config).formulation``);
    default: the current backend's 'auto' choice (``siamjax/backend.py``).

    Expected fields: ``backbone``, ``neck`` (name ``'none'`` for no neck) and ``rpn``,
    each a ``name`` plus the constructor arguments of that registered variant;
    ``anchor_num`` (anchors per location, passed to the RPN head too); optional
    ``imports`` (modules to import first, e.g. one registering a correlation variant).
    """
    for module_name in model_config.get("imports", ()) or ():
        importlib.import_module(module_name)
    backbone = _build("backbone", model_config.backbone)
    neck_module = None
    if model_config.neck.name not in (None, "none"):
        neck_module = _build("neck", model_config.neck)
    anchor_num = int(model_config.anchor_num)
    rpn_anchor_num = model_config.rpn.get("anchor_num", anchor_num)
    if rpn_anchor_num != anchor_num:
        raise ValueError(
            f"config.model.rpn.anchor_num ({rpn_anchor_num}) differs from "
            f"config.model.anchor_num ({anchor_num}); set it once, in config.model.anchor_num"
        )
    rpn_head = _build("rpn", model_config.rpn, anchor_num=anchor_num)
    return SiamRPN(
        backbone,
        neck_module,
        rpn_head,
        anchor_num=anchor_num,
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


def check_variables(model: SiamRPN, variables) -> None:
    """Raises ``VariablesMismatch`` naming the first parameter or statistic of
    ``variables`` (e.g. a loaded checkpoint) that the model lacks, misses or shapes
    differently, with both shapes. Shapes come from ``jax.eval_shape`` (nothing runs)."""
    expected = jax.eval_shape(lambda: init_variables(model, jax.random.key(0)))

    def flat(tree):
        """{'params/backbone/...': shape} of the params and batch_stats collections."""
        shapes = {}
        for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
            key = "/".join(str(getattr(k, "key", k)) for k in path)
            if key.split("/")[0] in ("params", "batch_stats"):
                shapes[key] = tuple(getattr(leaf, "shape", ()))
        return shapes

    wanted, given = flat(expected), flat(variables)
    for key in sorted(wanted):
        if key not in given:
            raise VariablesMismatch(
                f"the checkpoint has no {key} {wanted[key]} that the config's model needs "
                "(a checkpoint of another architecture?)"
            )
        if given[key] != wanted[key]:
            raise VariablesMismatch(
                f"{key}: checkpoint shape {given[key]}, the config's model expects "
                f"{wanted[key]} (a checkpoint of another architecture?)"
            )
    extra = sorted(set(given) - set(wanted))
    if extra:
        raise VariablesMismatch(
            f"the checkpoint has {extra[0]} {given[extra[0]]} (and {len(extra) - 1} more) that "
            "the config's model does not (a checkpoint of another architecture?)"
        )


def _build(kind: str, part_config, **derived):
    """The registered ``kind`` named by ``part_config.name``, with its fields as arguments
    (``derived``: values the part takes from elsewhere in the config)."""
    arguments = {key: value for key, value in dict(part_config).items() if key != "name"}
    arguments = {**derived, **arguments}
    constructor = registry.lookup(kind, part_config.name)
    try:
        return constructor(**arguments)
    except TypeError as error:
        raise TypeError(f"config.model.{kind} ({part_config.name!r}): {error}") from error
