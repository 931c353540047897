"""What an experiment runs: its variants × seeds as units of work, and which process runs which.

A *unit* is one variant with the seeds still to train: trained together as a seed ensemble
(``config.experiment.ensemble``, one jitted step) or one seed at a time. Units go to
processes round-robin, so N processes (SLURM tasks, hosts, ``--num-processes``) each train
a disjoint share; finished runs are never planned again, which makes a re-run resume and
an added variant train alone.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import importlib.util
import json
import os
import sys

import siamjax.models  # noqa: F401  (registers the built-in variants)
from siamjax import fs, registry
from siamjax.config_loader import apply_overrides

# config.experiment fields that may change between invocations on one workdir without
# invalidating its finished runs: which variants and seeds to run, where variants come
# from, and what changes how runs are scheduled or reported but not their results (an
# ensemble member equals a separate run; lockstep tracking equals sequential tracking).
OPEN_FIELDS = ("variants", "seeds", "imports", "ensemble", "devices", "eval_batch",
               "timing_calls", "wait_minutes", "bootstrap_samples", "confidence",
               "overrides")  # fmt: skip
# (``overrides`` is checked variant by variant instead: a variant's own overrides may not
# change once recorded, a new variant may bring its own; ``check_workdir_config``.)


class ExperimentError(ValueError):
    """An experiment that cannot run as configured (one line naming the field / value)."""


@dataclasses.dataclass(frozen=True)
class Unit:
    """One variant and the seeds one training run of it produces."""

    variant: str
    seeds: tuple[int, ...]

    @property
    def name(self) -> str:
        return f"{self.variant}/seeds_{'_'.join(str(seed) for seed in self.seeds)}"


def run_dir(workdir: str, variant: str, seed: int) -> str:
    """Where one (variant, seed) run's ``run.json`` and tracking results go."""
    return fs.join(workdir, "runs", variant, f"seed{seed}")


def import_variant_module(spec: str) -> list[str]:
    """Imports a module name or a ``.py`` file (registering its variants); returns the
    correlation names it registered that were not registered before."""
    before = set(registry.names("correlation"))
    if spec.endswith(".py"):
        if not os.path.isfile(spec):
            raise ExperimentError(f"variant file not found: {spec}")
        name = os.path.splitext(os.path.basename(spec))[0]
        module_spec = importlib.util.spec_from_file_location(name, os.path.abspath(spec))
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        try:
            module_spec.loader.exec_module(module)
        except Exception as error:  # the researcher's file: say which and what
            raise ExperimentError(f"error while importing {spec}: {error!r}") from error
    else:
        try:
            importlib.import_module(spec)
        except ImportError as error:
            raise ExperimentError(f"cannot import variant module {spec!r}: {error}") from error
    return sorted(set(registry.names("correlation")) - before)


def variant_overrides(experiment, variant: str) -> tuple[str, ...]:
    """The ``key=value`` overrides that make ``variant``: its entry in
    ``config.experiment.overrides``, else (a bare name) ``model.rpn.correlation=<name>``."""
    overrides = experiment.get("overrides") or {}
    if variant in overrides:
        return tuple(str(item) for item in overrides[variant])
    return (f"model.rpn.correlation={variant}",)


def check_variants(experiment, config=None) -> None:
    """Every listed variant is a registered correlation or has overrides that apply to
    ``config``, and the baseline is listed."""
    known = registry.names("correlation")
    overrides = experiment.get("overrides") or {}
    for name in overrides:
        if name not in experiment.variants:
            raise ExperimentError(
                f"config.experiment.overrides.{name}: {name!r} is not in "
                f"config.experiment.variants {tuple(experiment.variants)}"
            )
    for variant in experiment.variants:
        if variant in overrides:
            if config is not None:
                try:
                    variant_config(config, variant)
                except (ValueError, KeyError, AttributeError) as error:
                    raise ExperimentError(
                        f"config.experiment.overrides.{variant}: {error}"
                    ) from None
        elif variant not in known:
            raise ExperimentError(
                f"config.experiment.variants: {variant!r} is not a registered correlation "
                f"and has no config.experiment.overrides entry; known correlations: "
                f"{', '.join(known)}"
            )
    if experiment.baseline not in experiment.variants:
        raise ExperimentError(
            f"config.experiment.baseline {experiment.baseline!r} is not in "
            f"config.experiment.variants {tuple(experiment.variants)}"
        )
    if len(set(experiment.variants)) != len(experiment.variants):
        raise ExperimentError(f"config.experiment.variants lists a variant twice: "
                              f"{tuple(experiment.variants)}")  # fmt: skip
    if not experiment.seeds or len(set(experiment.seeds)) != len(experiment.seeds):
        raise ExperimentError(
            f"config.experiment.seeds must be distinct and non-empty: {tuple(experiment.seeds)}"
        )


def variant_config(config, variant: str):
    """The training config of ``variant``: the shared recipe with the variant's overrides
    (any config field: correlation, ``used_layers``, shift range, backbone, loss
    weights, ...; ``variant_overrides``)."""
    run = copy.deepcopy(config)
    with run.unlocked():
        apply_overrides(run, variant_overrides(config.experiment, variant))
        run.name = f"{config.name}_{variant}"
    return run


def plan_units(experiment, finished) -> list[Unit]:
    """Units for the (variant, seed) runs not in ``finished`` (a set of such pairs)."""
    units = []
    for variant in experiment.variants:
        missing = tuple(int(s) for s in experiment.seeds if (variant, int(s)) not in finished)
        if not missing:
            continue
        if experiment.ensemble:
            units.append(Unit(variant, missing))
        else:
            units += [Unit(variant, (seed,)) for seed in missing]
    return units


def assign(units: list[Unit], process_index: int, process_count: int) -> list[Unit]:
    """This process's share of ``units`` (round-robin, so the shares differ by at most one)."""
    if not 0 <= process_index < process_count:
        raise ExperimentError(f"process index {process_index} is not in [0, {process_count})")
    return units[process_index::process_count]


def fingerprint(config) -> dict:
    """The config as a plain dict without ``OPEN_FIELDS``: what a workdir's runs share."""
    shared = json.loads(config.to_json_best_effort())
    for field in OPEN_FIELDS:
        shared["experiment"].pop(field, None)
    return shared


def first_difference(saved, current, prefix: str = "config") -> str | None:
    """The dotted path of the first field where two fingerprints differ, or None."""
    if isinstance(saved, dict) and isinstance(current, dict):
        for key in sorted(set(saved) | set(current)):
            if key not in saved or key not in current:
                return f"{prefix}.{key}"
            found = first_difference(saved[key], current[key], f"{prefix}.{key}")
            if found:
                return found
        return None
    return None if saved == current else prefix


def check_workdir_config(workdir: str, config) -> None:
    """Records the shared config in ``WORKDIR/experiment.json`` on first use; afterwards
    refuses a config whose shared part differs (its finished runs would not compare)."""
    path = fs.join(workdir, "experiment.json")
    current = fingerprint(config)
    overrides = {name: list(variant_overrides(config.experiment, name))
                 for name in config.experiment.variants}  # fmt: skip
    if fs.exists(path):
        saved = fs.read_json(path)
        recorded = saved.pop("variant_overrides", {})
        field = first_difference(saved, current)
        if field is not None:
            raise ExperimentError(
                f"{workdir} holds runs of a different config ({field} differs); use a new "
                "--workdir, or the original config (variants and seeds may change)"
            )
        for name, items in overrides.items():
            if name in recorded and recorded[name] != items:
                raise ExperimentError(
                    f"{workdir} holds runs of variant {name!r} made with overrides "
                    f"{recorded[name]}, not {items}; give the changed variant a new name"
                )
        if not set(overrides) - set(recorded):
            return
        current = saved
        overrides = {**recorded, **overrides}
    current["variant_overrides"] = overrides
    fs.write_json(path, current, sort_keys=True)
