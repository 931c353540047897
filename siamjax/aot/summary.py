"""The report as text: a block per program (the docs' table: benchmarks/compile_table.py)."""

from __future__ import annotations


def size_text(value: float) -> str:
    """Bytes in GB, or MB below 0.1 GB."""
    return f"{value / 1e9:.2f} GB" if value >= 1e8 else f"{value / 1e6:.2f} MB"


def _flop(value: float) -> str:
    return f"{value / 1e12:.3f} TFLOP" if value >= 1e11 else f"{value / 1e9:.3f} GFLOP"


def _seconds(value: float) -> str:
    return f"{value * 1e3:.2f} ms" if value < 1 else f"{value:.2f} s"


def _policy_line(entry: dict) -> str:
    policy = entry["policy"]
    precision = (
        policy["compute_dtype"]
        if policy["compute_dtype"] != "float32"
        else f"float32 at matmul precision '{policy['matmul_precision']}'"
    )
    return (
        f"{precision}; conv={policy['conv']}, depthwise_conv={policy['depthwise_conv']}, "
        f"correlation={policy['correlation']}, remat={policy['remat']}"
    )


def _collectives_line(entry: dict) -> str:
    if not entry["collectives"]:
        return "none"
    parts = [f"{c['kind']} x {c['count']} ({size_text(c['bytes'])})" for c in entry["collectives"]]
    return ", ".join(parts) + f"; each chip sends {size_text(entry['collective_wire_bytes'])}"


def format_program(entry: dict) -> list[str]:
    if "error" in entry:
        return [
            f"{entry['program']}: did not compile ({entry['compile_seconds']:.0f} s): "
            f"{entry['error']}"
        ]
    memory, counts, bound = entry["memory"], entry["counts"], entry["bound"]
    per_chip = entry["per_chip_batch"]
    per_chip_text = f"{per_chip:g}" if per_chip != int(per_chip) else f"{int(per_chip)}"
    lines = [
        f"{entry['program']}: batch {entry['batch']} ({per_chip_text} per chip on "
        f"{entry['chips']} chip(s)), compiled here in {entry['compile_seconds']:.0f} s",
        f"  policy: {_policy_line(entry)}",
    ]
    if entry.get("trained"):
        trained = entry["trained"]
        lines.append(
            f"  trains: {', '.join(trained['groups'])} ({trained['parameters']:,} of "
            f"{trained['total']:,} parameters)"
        )
    verdict = "fits" if memory["fits"] else "DOES NOT FIT"
    parts = ", ".join(
        f"{label} {size_text(memory[key])}"
        for label, key in (
            ("arguments", "argument_bytes"),
            ("outputs", "output_bytes"),
            ("aliased", "alias_bytes"),
            ("temporaries", "temp_bytes"),
        )
    )
    lines += [
        f"  memory per chip (compiler): {size_text(memory['peak_bytes'])} of "
        f"{size_text(memory['capacity_bytes'])}, {verdict} ({parts})",
        f"  counts per chip (compiler): {_flop(counts['flops'])}, "
        f"{size_text(counts['bytes_accessed'])} accessed; collectives: {_collectives_line(entry)}",
        f"  bound (model): {_seconds(bound['seconds'])}, {bound['binding']}-bound (compute "
        f"{_seconds(bound['compute_seconds'])} at the {bound['rate_label']}, memory "
        f"{_seconds(bound['memory_seconds'])}, interconnect "
        f"{_seconds(bound['interconnect_seconds'])})",
    ]
    checks = entry["checks"]
    flagged = {k: v for k, v in checks.items() if v and k != "while_loops"}
    if flagged or checks["while_loops"]:
        lines.append(
            f"  checks: {flagged or 'no host callback, transfer or float64'}"
            + (
                f"; {checks['while_loops']} loop(s), counted once each"
                if checks["while_loops"]
                else ""
            )
        )
    if "at_bound" in entry:
        at = entry["at_bound"]
        lines.append(
            f"  at the bound (an upper bound): {at['pairs_per_second_per_chip']:.0f} pairs/s "
            f"per chip; this phase's {at['steps']:,} steps {at['hours']:.2f} h, "
            f"{at['chip_hours']:.1f} chip-hours; input {at['input_pairs_per_second_per_host']:.0f} "
            f"pairs/s per host = {at['loader_cores_per_host']:.1f} cores of the default loader "
            f"({at['loader_pairs_per_core']:.0f} pairs/s per core, measured on a 2-core CPU)"
        )
    return lines


def format_report(report: dict) -> str:
    target = report["target"]
    figures = target["figures"]
    lines = [
        f"{report['config'] or 'config'} on {target['name']}: {target['chips']} x "
        f"{target['chip']} over {target['hosts']} host(s), topology {target['topology']}",
        f"  chip (published): {figures['bf16_flops'] / 1e12:.0f} TFLOP/s bf16, "
        f"{figures['memory_bytes'] / 1e9:.1f} GB at {figures['memory_bandwidth'] / 1e9:.0f} GB/s, "
        f"links {figures['link_bandwidth'] / 1e9:.0f} GB/s one way ({figures['source']})",
    ]
    batch = report["batch"]
    if batch:
        lines.append(
            f"  batch: global {batch['global']} = {batch['per_chip']} per chip (recipe: "
            f"{batch['recipe_global']}), BatchNorm groups of {batch['bn_group_size']}, "
            f"{batch['iterations_per_epoch']} iterations per epoch; learning rate: "
            f"{batch['learning_rate']} (base {batch['base_lr']:g})"
        )
    for entry in report["programs"]:
        lines += format_program(entry)
    recipe = report.get("recipe_at_bound")
    if recipe:
        lines.append(
            f"whole recipe at the bound (an upper bound on speed): {recipe['steps']:,} "
            f"steps, {recipe['hours']:.2f} h, {recipe['chip_hours']:.1f} chip-hours"
        )
    return "\n".join(lines)
