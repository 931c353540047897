"""The recipes x targets table of `siamjax compile` reports (benchmarks/compile/*.json).

    python benchmarks/compile_table.py [--dir benchmarks/compile]

One row per training phase of each report: whether it fits and its peak GB per chip (the
compiler's memory analysis), the pairs/s per chip at the roofline bound and its binding
term (an upper bound from the compiler's counts and the chips' published figures), the
phase's hours at that bound, and how long the compile took on the machine that ran it.
Reports are made with, e.g.:

    siamjax compile --config configs/siamrpn_r50_l234_dwxcorr_8gpu.py --target v5e-8 \
        --out benchmarks/compile/siamrpn_r50_l234_dwxcorr_8gpu_v5e-8.json
"""

from __future__ import annotations

import argparse
import glob
import json
import os

HEADER = (
    "| config | target | program | per chip | fits, GB per chip | bound pairs/s per chip "
    "| binding | phase hours at bound | compiled in |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
)


def rows(report: dict) -> list[str]:
    found = []
    target = report["target"]["name"]
    for entry in report["programs"]:
        if entry.get("kind") != "train":
            continue
        start = f"| {report['config']} | {target} | {entry['program']} |"
        if "error" in entry:
            found.append(
                f"{start} – | **no**: {entry['error'][:80]} | – | – | – | "
                f"{entry['compile_seconds']:.0f} s |"
            )
            continue
        memory, at, policy = entry["memory"], entry["at_bound"], entry["policy"]
        precision = policy["compute_dtype"]
        if precision == "float32":
            precision += f" {policy['matmul_precision']}"
        fits = "yes" if memory["fits"] else "**no**"
        found.append(
            f"{start} {entry['per_chip_batch']:g} pairs, {precision} | {fits}, "
            f"{memory['peak_bytes'] / 1e9:.1f} | {at['pairs_per_second_per_chip']:.0f} | "
            f"{entry['bound']['binding']} | {at['hours']:.2f} | {entry['compile_seconds']:.0f} s |"
        )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=os.path.join(os.path.dirname(__file__), "compile"))
    args = parser.parse_args()
    lines = [HEADER]
    for path in sorted(glob.glob(os.path.join(args.dir, "*.json"))):
        with open(path, encoding="utf-8") as stream:
            lines += rows(json.load(stream))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
