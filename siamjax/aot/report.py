"""Compile a config's programs for a target and report what the compiler says of them.

    report = compile_report(config, parse_target("v5e-8"))
    print(format_report(report))

Every figure in the report is one of three kinds, and its JSON key says which
(docs/accelerators.md lists them all): the compiler's counts (``memory``, ``counts``,
``collectives``: bytes, FLOPs and ops of the compiled program, per chip), bounds derived
from them and the chips' published figures (``bound``, ``at_bound``: no program runs
faster; most run slower), and measurements (``compile_seconds`` on this machine;
``loader_pairs_per_core``, the default input loader measured on a 2-core CPU,
benchmarks/README.md). libtpu's ``optimal_seconds`` is not a time estimate and is never
reported.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import math
import time
from collections.abc import Callable

import jax

# XLA's generic cost analysis of a module (GPU programs compiled without a GPU): no public API.
from jax._src.lib import xla_client

from siamjax.aot import hlo
from siamjax.aot.programs import Program, recipe_phases, tracker_programs, train_programs
from siamjax.aot.roofline import roofline
from siamjax.aot.summary import size_text
from siamjax.aot.targets import Target, compile_devices
from siamjax.train.loop import total_steps
from siamjax.train.optim import iterations_per_epoch, unfreeze_step

# Pairs/s per CPU core of the default ('workers') loader with the full augmentation:
# measured with benchmarks/input_pipeline.py on 2 cores (benchmarks/README.md, input).
LOADER_PAIRS_PER_CORE = 278.0


class ReportError(ValueError):
    """A setting the target cannot run (one line naming it and what would fix it)."""


def _multiples_near(value: int, step: int, count: int = 2) -> list[int]:
    below = [k * step for k in range(value // step, 0, -1)][:count]
    above = [k * step for k in range(value // step + 1, value // step + 1 + count)]
    return sorted(set(below + above) - {value})


def apply_batch(config, target: Target, per_chip_batch: int | None) -> dict:
    """Sets ``config.train.batch_size`` for ``--per-chip-batch`` (the BatchNorm group
    stays pysot's per-GPU batch) and checks it divides over the target's chips; returns
    the report's batch section. Raises ``ReportError``."""
    group = int(config.train.bn_group_size)
    recipe_batch = int(config.train.batch_size)
    if per_chip_batch is not None:
        if per_chip_batch < 1:
            raise ReportError(f"--per-chip-batch must be at least 1, got {per_chip_batch}")
        config.train.batch_size = int(per_chip_batch) * target.chips
    batch = int(config.train.batch_size)
    if batch % target.chips:
        step = math.lcm(target.chips, group)
        raise ReportError(
            f"train.batch_size {batch} does not divide over the {target.chips} chips of "
            f"{target.name}; use --per-chip-batch (pysot's per-GPU batch is {group}: "
            f"--per-chip-batch {group} gives {group * target.chips}) or a global batch that "
            f"divides over the chips and into groups of {group}: "
            f"{', '.join(map(str, _multiples_near(batch, step)))}"
        )
    if batch % group:
        raise ReportError(
            f"train.batch_size {batch} ({batch // target.chips} per chip x {target.chips}) "
            f"is not a multiple of train.bn_group_size {group}"
        )
    return {
        "global": batch,
        "per_chip": batch // target.chips,
        "recipe_global": recipe_batch,
        "bn_group_size": group,
        "learning_rate": (
            "the recipe's schedule, unchanged: the loss is summed over BatchNorm groups "
            "as pysot sums gradients over GPUs, so each pair weighs the same at any batch"
        ),
        "base_lr": float(config.train.schedule.base_lr)
        * float(config.train.schedule.get("lr_multiplier", 1.0)),
        "iterations_per_epoch": iterations_per_epoch(config),
    }


def _phase_steps(config, phase: int) -> int:
    first_trained = unfreeze_step(config)
    return first_trained if phase == 0 else total_steps(config) - first_trained


def _counts(compiled, program_ops: list, platform: str) -> dict:
    """FLOPs and bytes accessed per chip, and where they come from."""
    if platform == "tpu":
        cost = compiled.cost_analysis() or {}
        return {
            "flops": float(cost.get("flops", 0.0)),
            "bytes_accessed": float(cost.get("bytes accessed", 0.0)),
            "source": "libtpu's cost analysis of the compiled program",
        }
    module = compiled.runtime_executable().hlo_modules()[0]
    generic = xla_client._xla.hlo_module_cost_analysis(jax.devices("cpu")[0].client, module)
    # HloCostAnalysis counts each custom call as -1 FLOP and -1 byte: undone here, and the
    # cuDNN / cuBLAS calls counted from their shapes instead.
    custom = sum(1 for op in program_ops if op.opcode == "custom-call")
    library = hlo.library_calls(program_ops)
    return {
        "flops": float(generic.get("flops", 0.0)) + custom + library.flops,
        "bytes_accessed": float(generic.get("bytes accessed", 0.0)) + custom + library.bytes,
        "library_calls": {
            "convolutions": library.convolutions,
            "gemms": library.gemms,
            "flops": library.flops,
            "bytes": library.bytes,
        },
        "source": "XLA's HloCostAnalysis of the compiled GPU module, cuDNN convolutions and "
        "cuBLAS GEMMs counted from their shapes (hlo.py)",
    }


def _memory(compiled, capacity: int) -> dict:
    stats = compiled.memory_analysis()
    peak = (
        stats.argument_size_in_bytes
        + stats.output_size_in_bytes
        - stats.alias_size_in_bytes
        + stats.temp_size_in_bytes
    )
    return {
        "argument_bytes": stats.argument_size_in_bytes,
        "output_bytes": stats.output_size_in_bytes,
        "alias_bytes": stats.alias_size_in_bytes,
        "temp_bytes": stats.temp_size_in_bytes,
        "generated_code_bytes": stats.generated_code_size_in_bytes,
        "peak_bytes": peak,
        "capacity_bytes": capacity,
        "fits": peak <= capacity,
    }


def _policy(program: Program) -> dict:
    formulation = dataclasses.asdict(program.policy.formulation)
    return {
        "compute_dtype": program.compute_dtype,
        **formulation,
        "frozen_backbone": program.policy.frozen_backbone,
        "tracker_batch": program.policy.tracker_batch,
        "remat": program.policy.remat,
    }


def analyse(compiled, program: Program, target: Target) -> dict:
    """The report entry of one compiled program (per chip)."""
    text = compiled.as_text()
    ops = hlo.instructions(text)
    counts = _counts(compiled, ops, target.platform)
    found = hlo.collectives(ops, program.chips)
    wire = sum(c.wire_bytes for c in found)
    policy = _policy(program)
    hosts = target.hosts if program.chips > 1 else 1
    bound = roofline(
        target.chip,
        counts["flops"],
        counts["bytes_accessed"],
        wire,
        program.compute_dtype,
        policy["matmul_precision"],
        hosts,
    )
    return {
        "program": program.name,
        "kind": program.kind,
        "batch": program.batch,
        "chips": program.chips,
        "per_chip_batch": program.per_chip_batch,
        "policy": policy,
        "trained": program.trained,
        "memory": _memory(compiled, target.chip.memory_bytes),
        "counts": counts,
        "collectives": [c.as_dict() for c in found],
        "collective_wire_bytes": wire,
        "checks": hlo.checks(ops, text).as_dict(),
        "bound": bound.as_dict(),
    }


def _at_bound(entry: dict, config, phase: int, chips_per_host: int, chips: int) -> dict:
    seconds = entry["bound"]["seconds"]
    pairs = entry["per_chip_batch"] / seconds if seconds > 0 else math.inf
    steps = _phase_steps(config, phase)
    per_host = pairs * chips_per_host
    return {
        "pairs_per_second_per_chip": pairs,
        "steps": steps,
        "hours": steps * seconds / 3600,
        "chip_hours": steps * seconds / 3600 * chips,
        "input_pairs_per_second_per_host": per_host,
        "loader_pairs_per_core": LOADER_PAIRS_PER_CORE,
        "loader_cores_per_host": per_host / LOADER_PAIRS_PER_CORE,
    }


def _out_of_memory(error: Exception) -> bool:
    text = str(error)
    return "RESOURCE_EXHAUSTED" in text or "Ran out of memory" in text


def compile_report(
    config,
    target: Target,
    phases=None,
    tracker: bool = True,
    per_chip_batch: int | None = None,
    search_batches=(1, 8, 32),
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Compiles every program of ``config`` for ``target`` (``programs.py``) and returns the
    report (a JSON-able dict, base units). ``phases``: the training phases (default: the
    recipe's); ``tracker``: also the tracker network. A program the compiler rejects is
    reported with its error instead of its figures."""
    say = progress or (lambda line: None)
    config = config.copy_and_resolve_references()
    batch = apply_batch(config, target, per_chip_batch) if "train" in config else None
    devices = compile_devices(target)
    programs = []
    if batch is not None:
        programs.append(train_programs(config, devices, target.platform, phases))
    if tracker:
        programs.append(
            tracker_programs(config, devices[0], target.platform, tuple(search_batches))
        )
    entries = []
    for program in (p for group in programs for p in group):
        say(f"compiling {program.name} for {target.name} ...")
        started = time.perf_counter()
        try:
            compiled = program.lower().compile()
        except Exception as error:  # the compiler's refusal is the report's finding
            entries.append(
                {
                    "program": program.name,
                    "kind": program.kind,
                    "compile_seconds": time.perf_counter() - started,
                    "error": str(error).strip().splitlines()[0][:500],
                    "out_of_memory": _out_of_memory(error),
                }
            )
            say(f"  {program.name}: the compiler refused it: {entries[-1]['error']}")
            continue
        entry = analyse(compiled, program, target)
        entry["compile_seconds"] = time.perf_counter() - started
        del compiled
        if program.kind == "train":
            phase = int(program.name.rsplit(" ", 1)[-1])
            entry["at_bound"] = _at_bound(entry, config, phase, target.chips_per_host, target.chips)
        entries.append(entry)
        say(f"  compiled in {entry['compile_seconds']:.0f} s")
    return _report(config, target, batch, entries, phases)


def _versions() -> dict:
    found = {}
    for package in ("jax", "jaxlib", "libtpu", "jax-cuda13-plugin"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def _report(config, target: Target, batch, entries: list, phases) -> dict:
    train = [e for e in entries if e.get("kind") == "train" and "error" not in e]
    whole_recipe = phases is None or sorted(phases) == recipe_phases(config)
    recipe = None
    if batch is not None and train and whole_recipe and len(train) == len(recipe_phases(config)):
        hours = sum(e["at_bound"]["hours"] for e in train)
        recipe = {
            "steps": sum(e["at_bound"]["steps"] for e in train),
            "hours": hours,
            "chip_hours": hours * target.chips,
        }
    chip = target.chip
    return {
        "config": str(config.get("name", "")),
        "target": {
            "name": target.name,
            "chip": chip.name,
            "chips": target.chips,
            "hosts": target.hosts,
            "topology": target.topology,
            "figures": dataclasses.asdict(chip),
        },
        "batch": batch,
        "programs": entries,
        "recipe_at_bound": recipe,
        "versions": _versions(),
    }


def problems(report: dict) -> list[str]:
    """One line for each program that does not fit or did not compile, with the fix."""
    lines = []
    capacity = report["target"]["figures"]["memory_bytes"]
    for entry in report["programs"]:
        name, target = entry["program"], report["target"]["name"]
        fix = (
            "lower train.batch_size (or --per-chip-batch), --config.backend.remat=blocks, "
            "or --config.train.compute_dtype=bfloat16"
            if entry["kind"] == "train"
            else "a smaller search batch, or a chip with more memory"
        )
        if "error" in entry:
            if entry.get("out_of_memory"):
                lines.append(
                    f"{name} does not fit in {target}'s {size_text(capacity)} per "
                    f"chip ({entry['error']}); try {fix}"
                )
            else:
                lines.append(f"{name} did not compile for {target}: {entry['error']}")
        elif not entry["memory"]["fits"]:
            needed = entry["memory"]["peak_bytes"]
            lines.append(
                f"{name} needs {size_text(needed)} per chip, {target} has "
                f"{size_text(capacity)}; try {fix}"
            )
    return lines
