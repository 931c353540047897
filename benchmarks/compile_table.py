"""The recipes x targets table of `siamjax compile` reports (benchmarks/compile/*.json).

    python benchmarks/compile_table.py [--dir benchmarks/compile] [--write]

``--write`` puts the table between the ``<!-- compile-table -->`` markers of
benchmarks/README.md and docs/accelerators.md (a test checks they match the reports).

One row per training phase of each report: whether it fits and its peak GB per chip (the
compiler's memory analysis), the pairs/s per chip at the roofline bound and its binding
term (an upper bound from the compiler's counts and the chips' published figures), the
phase's hours at that bound (and, on the last phase, the whole recipe's), and how long
the compile took on the machine that ran it.
Reports are made with, e.g.:

    siamjax compile --config configs/siamrpn_r50_l234_dwxcorr_8gpu.py --target v5e-8 \
        --out benchmarks/compile/siamrpn_r50_l234_dwxcorr_8gpu_v5e-8.json
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCUMENTS = (
    os.path.join(ROOT, "benchmarks", "README.md"),
    os.path.join(ROOT, "docs", "accelerators.md"),
)
MARKERS = ("<!-- compile-table -->", "<!-- /compile-table -->")

HEADER = (
    "| config | target | program | per chip | fits, GB per chip | bound pairs/s per chip "
    "| binding | hours at bound: phase (recipe) | compiled in |\n"
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
    recipe = report.get("recipe_at_bound")
    if recipe and found:
        cells = found[-1].split(" | ")
        cells[-2] += f" ({recipe['hours']:.2f})"
        found[-1] = " | ".join(cells)
    return found


def table(directory: str) -> str:
    lines = [HEADER]
    for path in sorted(glob.glob(os.path.join(directory, "*.json"))):
        with open(path, encoding="utf-8") as stream:
            lines += rows(json.load(stream))
    return "\n".join(lines)


def _block(text: str, path: str):
    match = re.search(re.escape(MARKERS[0]) + r"\n(.*?)" + re.escape(MARKERS[1]), text, re.S)
    if match is None:
        raise ValueError(f"{path}: no {MARKERS[0]} ... {MARKERS[1]} block")
    return match


def documented_table(path: str) -> str:
    """The table between the markers of ``path``."""
    with open(path, encoding="utf-8") as stream:
        return _block(stream.read(), path).group(1).rstrip("\n")


def write(path: str, rendered: str) -> None:
    with open(path, encoding="utf-8") as stream:
        text = stream.read()
    match = _block(text, path)
    text = text[: match.start(1)] + rendered + "\n" + text[match.end(1) :]
    with open(path, "w", encoding="utf-8") as stream:
        stream.write(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=os.path.join(ROOT, "benchmarks", "compile"))
    parser.add_argument("--write", action="store_true", help="update the documents' tables")
    args = parser.parse_args()
    rendered = table(args.dir)
    print(rendered)
    if args.write:
        for path in DOCUMENTS:
            write(path, rendered)


if __name__ == "__main__":
    main()
