"""The programs a run of a config executes on a target, lowered for its devices.

Training: the step of every phase of the recipe, exactly as ``siamjax train`` builds it
there (``train.step.lower_train_step`` with the target's backend policy, over a 'data' mesh
of all its devices, a run of one seed: an ensemble of one member, as the loop trains).
Tracking: the tracker network's template call and its search call at several batch sizes,
on one chip (a tracker runs per chip), as ``tracking.network`` jits them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import jax
import numpy as np
from jax.sharding import SingleDeviceSharding

from siamjax.backend import BackendPolicy, resolve_policy
from siamjax.models import build_model, init_variables
from siamjax.tracking.network import tracker_functions
from siamjax.train.loop import total_steps
from siamjax.train.optim import make_optimizer, parameter_groups, unfreeze_step
from siamjax.train.step import data_mesh, lower_train_step

SEARCH_BATCHES = (1, 8, 32)


@dataclasses.dataclass(frozen=True)
class Program:
    """One program to compile.

    Attributes:
      name: 'train phase 1', 'template b1', 'search b8'.
      kind: 'train', 'template' or 'search'.
      lower: () -> ``jax.stages.Lowered`` (lowered when compiled, so only one program's
        lowering is alive at a time).
      batch: samples per call over all chips (train: the global batch).
      chips: chips it runs on (train: all of the target's; tracking: one).
      compute_dtype: dtype of the matmuls and convolutions' inputs.
      policy: the backend policy it is built with.
      trained: for a train step, the parameter groups it trains and their sizes.
    """

    name: str
    kind: str
    lower: Any
    batch: int
    chips: int
    compute_dtype: str
    policy: BackendPolicy
    trained: dict | None = None

    @property
    def per_chip_batch(self) -> float:
        return self.batch / self.chips


def recipe_phases(config) -> list[int]:
    """The phases a whole run of ``config`` goes through (0: backbone frozen, 1: trained)."""
    first_trained = unfreeze_step(config)
    phases = [0] if first_trained > 0 else []
    return phases + ([1] if first_trained < total_steps(config) else [])


def _abstract_variables(model, exemplar: int, search: int):
    return jax.eval_shape(lambda: init_variables(model, jax.random.key(0), exemplar, search))


def trained_groups(params, config, phase: int) -> dict:
    """{'groups': ['backbone/layer2', ..., 'neck', 'rpn_head'], 'parameters': trained,
    'total': all} of ``phase`` (the optimiser's ``parameter_groups``)."""
    trained_labels = ("neck", "head") + (("backbone",) if phase == 1 else ())
    labels = parameter_groups(params, config.train.backbone.train_layers)
    groups, trained, total = [], 0, 0
    for (path, label), leaf in zip(
        jax.tree_util.tree_leaves_with_path(labels), jax.tree_util.tree_leaves(params)
    ):
        size = int(np.prod(leaf.shape))
        total += size
        if label not in trained_labels:
            continue
        trained += size
        keys = [str(getattr(key, "key", key)) for key in path]
        name = "/".join(keys[:2]) if keys[0] == "backbone" else keys[0]
        if name not in groups:
            groups.append(name)
    return {"groups": groups, "parameters": trained, "total": total}


def train_programs(config, devices, platform: str, phases=None) -> Iterator[Program]:
    """The train step of each phase (default: every phase of the recipe) over ``devices``
    of ``platform`` (a lowering name: 'tpu', 'cuda'), with that platform's policy."""
    policy = resolve_policy(config, platform)
    model = build_model(config.model, policy.formulation)
    optimizer, _ = make_optimizer(config)
    mesh = data_mesh(devices)
    sizes = int(config.input.exemplar_size), int(config.input.search_size)
    params = _abstract_variables(model, *sizes)["params"]
    for phase in recipe_phases(config) if phases is None else phases:

        def lower(phase=phase):
            return lower_train_step(model, config, optimizer, mesh, phase, policy=policy, members=1)

        yield Program(
            name=f"train phase {phase}",
            kind="train",
            lower=lower,
            batch=int(config.train.batch_size),
            chips=len(devices),
            compute_dtype=str(config.train.compute_dtype),
            policy=policy,
            trained=trained_groups(params, config, phase),
        )


def tracker_programs(config, device, platform: str, batches=SEARCH_BATCHES) -> Iterator[Program]:
    """The tracker network's template call (batch 1) and search calls on one ``device`` of
    ``platform``."""
    policy = resolve_policy(config, platform)
    model = build_model(config.model, policy.formulation)
    template_fn, search_fn, mapped_search_fn = tracker_functions(model)
    sharding = SingleDeviceSharding(device)
    exemplar, instance = int(config.track.exemplar_size), int(config.track.instance_size)

    def struct(x):
        return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding)

    variables = jax.tree_util.tree_map(struct, _abstract_variables(model, exemplar, instance))

    def crops(batch, size):
        return jax.ShapeDtypeStruct((batch, size, size, 3), np.float32, sharding=sharding)

    def features(batch):
        shapes = jax.eval_shape(template_fn, variables, crops(batch, exemplar))
        return jax.tree_util.tree_map(struct, shapes)

    def program(name, kind, batch, lower):
        return Program(name, kind, lower, batch, 1, "float32", policy)

    yield program(
        "template b1", "template", 1, lambda: template_fn.lower(variables, crops(1, exemplar))
    )
    for batch in batches:
        search = mapped_search_fn if batch > 1 and policy.tracker_batch == "map" else search_fn

        def lower(batch=batch, search=search):
            return search.lower(variables, features(batch), crops(batch, instance))

        yield program(f"search b{batch}", "search", batch, lower)
