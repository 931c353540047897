"""Rematerialisation that also saves memory on XLA:CPU.

``jax.checkpoint`` guards the recomputation in the backward pass with an optimisation
barrier; XLA:CPU removes that barrier, and common-subexpression elimination then merges
the recomputation with the forward pass: every activation stays alive and nothing is
saved (benchmarks/README.md, ``train_step.py``). ``recomputed_chain`` instead ties the
residuals the recomputation reads to the output's gradient (``residual + 0·g``): the
recomputation becomes a different computation that can only run once that gradient
exists, on every backend. Units of a chain are tied to each other in turn, so their
recomputations do not pile up either. Values and gradients are unchanged.

Modules use ``call_recomputed`` / ``call_recomputed_chain`` (ResNet blocks, adjust
layers, RPN branches), switched on per phase by the backend policy (``config.backend.remat``,
``BackendPolicy.with_remat`` in ``siamjax/backend.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

POLICIES = {
    "blocks": None,  # keep only the inputs
    "blocks_keep_convs": jax.checkpoint_policies.dots_saveable,  # + conv / matmul outputs
}


def _tied_to(cotangent: jax.Array, residual: jax.Array) -> jax.Array:
    """``residual`` + 0·(one element of ``cotangent``): equal values, a new array."""
    if not jnp.issubdtype(residual.dtype, jnp.floating):
        return residual
    zero = jnp.ravel(cotangent)[0].astype(residual.dtype) * 0  # x·0 is not folded (NaN)
    return residual + zero


def _first_element_sum(tree) -> jax.Array:
    """The sum of every floating leaf's first element: a scalar that exists only once
    all of ``tree`` has been computed."""
    leaves = [
        jnp.ravel(leaf)[0].astype(jnp.float32)
        for leaf in jax.tree_util.tree_leaves(tree)
        if jnp.issubdtype(leaf.dtype, jnp.floating) and leaf.size
    ]
    return sum(leaves, jnp.float32(0))


def recomputed_chain(fns: Sequence[Callable], policy_name: str) -> Callable:
    """Units ``fn_k(params, x, state) -> (y, new_state)`` recomputed in backward, in turn.

    Returns ``call(params_list, x_list, state_list) -> (y_list, new_state_list)`` that
    runs each unit on its own arguments. ``params`` and ``x`` (arrays or trees with a
    leading batch axis) are differentiated; ``state`` (e.g. BatchNorm running
    statistics) and ``new_state`` are not. ``policy_name`` is a key of ``POLICIES``.

    In the backward pass the units run last to first, and unit k's recomputation is tied
    to unit k+1's finished parameter gradients (the last unit's to its own output
    gradient), so at most one unit's recomputed activations are alive at a time: independent units
    (the six branches of a three-level RPN head) would otherwise all be recomputed up
    front, which XLA is free to do. Only residuals with the batch as leading axis (rank
    ≥ 2) are tied, so parameters are not copied (unless a kernel's leading size equals
    the batch, which costs one copy of it).
    """
    if policy_name not in POLICIES:
        raise ValueError(f"remat is {policy_name!r}; expected one of {tuple(POLICIES)}")
    checkpointed = [
        jax.checkpoint(fn, policy=POLICIES[policy_name], prevent_cse=False)  # the tie does it
        for fn in fns
    ]

    @jax.custom_vjp
    def call(params_list, x_list, state_list):
        results = [fn(*arguments) for fn, *arguments in zip(fns, params_list, x_list, state_list)]
        return tuple(y for y, _ in results), tuple(new for _, new in results)

    def forward(params_list, x_list, state_list):
        ys, vjp_fns, new_states = [], [], []
        for fn, params, x, state in zip(checkpointed, params_list, x_list, state_list):
            y, vjp_fn, new_state = jax.vjp(
                lambda p, i, fn=fn, state=state: fn(p, i, state), params, x, has_aux=True
            )
            ys.append(y)
            vjp_fns.append(vjp_fn)
            new_states.append(new_state)
        batch_sizes = tuple(jnp.shape(jax.tree_util.tree_leaves(x)[0])[0] for x in x_list)
        residuals = (tuple(vjp_fns), state_list, batch_sizes)
        return (tuple(ys), tuple(new_states)), residuals

    def backward(residuals, cotangents):
        vjp_fns, state_list, batch_sizes = residuals
        y_grads, _ = cotangents
        params_grads, x_grads = [None] * len(vjp_fns), [None] * len(vjp_fns)
        anchor = _first_element_sum(y_grads[-1])
        for k in reversed(range(len(vjp_fns))):

            def tie(residual, batch_size=batch_sizes[k], anchor=anchor):
                # Inputs too: measured, tying them keeps fewer temporaries on XLA:CPU.
                shape = jnp.shape(residual)
                if len(shape) >= 2 and shape[0] == batch_size:
                    return _tied_to(anchor, residual)
                return residual

            vjp_fn = jax.tree_util.tree_map(tie, vjp_fns[k])
            params_grads[k], x_grads[k] = vjp_fn(y_grads[k])
            # Parameter gradients, not input gradients: a unit's input gradient may be
            # unused (a frozen backbone below the neck) and is then never computed.
            anchor = _first_element_sum(params_grads[k])
        zero_states = jax.tree_util.tree_map(jnp.zeros_like, state_list)
        return tuple(params_grads), tuple(x_grads), zero_states

    call.defvjp(forward, backward)
    return call


def call_recomputed_chain(parent: nn.Module, units: Sequence[tuple], policy_name: str) -> list:
    """Unbound children run as ``parent``'s submodules, recomputed in backward in turn.

    ``units``: ``(child, path, inputs)`` triples; ``child`` is an unbound module
    (``parent=None``) with BatchNorm, called as ``child(*inputs, True)`` with the
    variables under ``path`` (a tuple of names below ``parent``, e.g. ``("rpn2", "cls")``)
    that ``parent`` was initialised with. Updated BatchNorm statistics are written back as
    bound children would, so a later call (template, then search) sees them, as in pysot.
    Returns the children's outputs (``recomputed_chain``).
    """
    variables = parent.variables

    def below(tree, path):
        for name in path:
            tree = tree[name]
        return tree

    def pure(child):
        def apply(params, arguments, stats):
            outputs, updates = child.apply(
                {"params": params, "batch_stats": stats}, *arguments, True, mutable=["batch_stats"]
            )
            return outputs, updates["batch_stats"]

        return apply

    chain = recomputed_chain([pure(child) for child, _, _ in units], policy_name)
    outputs, new_stats = chain(
        tuple(below(variables["params"], path) for _, path, _ in units),
        tuple(tuple(inputs) for _, _, inputs in units),
        tuple(below(variables["batch_stats"], path) for _, path, _ in units),
    )
    if parent.is_mutable_collection("batch_stats"):
        tops = {}
        for (_, path, _), stats in zip(units, new_stats):
            if len(path) == 1:
                tops[path[0]] = stats
                continue
            top = tops.setdefault(path[0], _copy_tree(variables["batch_stats"][path[0]]))
            below(top, path[1:-1])[path[-1]] = stats
        for name, stats in tops.items():
            parent.put_variable("batch_stats", name, stats)
    return list(outputs)


def _copy_tree(tree):
    """A nested-dict copy (leaves shared) that can be edited without touching ``tree``."""
    if isinstance(tree, dict) or hasattr(tree, "items"):
        return {key: _copy_tree(value) for key, value in tree.items()}
    return tree


def call_recomputed(parent: nn.Module, child: nn.Module, name: str, inputs: tuple, policy_name):
    """``child(*inputs, True)`` as ``parent``'s submodule ``name``, recomputed in backward
    (one unit of ``call_recomputed_chain``)."""
    return call_recomputed_chain(parent, [(child, (name,), inputs)], policy_name)[0]
