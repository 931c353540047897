"""The quickstart's wall time at several revisions, in one run on this machine.

    python benchmarks/quickstart_time.py --revisions e0c3e2f HEAD [--repeats 1] \\
        [--out quickstart_time.json]

Each revision is checked out into a temporary git worktree and runs ``python -m siamjax
quickstart`` there (PYTHONPATH at that tree, this environment's packages) in a fresh
workdir. Repeats are interleaved (A B A B ...) so that a machine slowing down during the
run does not favour one revision. Reported per run: wall seconds, the training's pairs/s
(the last ``metrics.jsonl`` line) and the trained AUC.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", REPO_ROOT, *args], check=True, capture_output=True,
                          text=True).stdout.strip()  # fmt: skip


def _last_pairs_per_second(workdir: str) -> float | None:
    path = os.path.join(workdir, "train", "metrics.jsonl")
    if not os.path.isfile(path):
        return None
    with open(path) as stream:
        lines = [line for line in stream if line.strip()]
    return float(json.loads(lines[-1])["pairs_per_s"]) if lines else None


def run_quickstart(tree: str, workdir: str) -> dict:
    """One quickstart from source ``tree`` into ``workdir``: seconds, pairs/s, trained AUC."""
    environment = dict(os.environ, PYTHONPATH=tree)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "siamjax", "quickstart", "--workdir", workdir],
                   cwd=tree, env=environment, check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    seconds = time.perf_counter() - started
    with open(os.path.join(workdir, "report.json")) as stream:
        report = json.load(stream)
    return {
        "seconds": round(seconds, 1),
        "pairs_per_s": _last_pairs_per_second(workdir),
        "trained_auc": report["trained"]["success_auc"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--revisions", nargs="+", default=["HEAD"], help="git revisions")
    parser.add_argument("--repeats", type=int, default=1, help="runs per revision")
    parser.add_argument("--out", default=None, help="also write the runs to this JSON file")
    args = parser.parse_args(argv)
    from siamjax.machine import describe

    scratch = tempfile.mkdtemp(prefix="quickstart_time_")
    trees = {}
    for revision in args.revisions:
        commit = _git("rev-parse", "--short", revision)
        tree = os.path.join(scratch, f"tree_{commit}")
        _git("worktree", "add", "--detach", tree, commit)
        trees[revision] = (commit, tree)
    runs = {revision: [] for revision in args.revisions}
    try:
        for repeat in range(args.repeats):
            for revision, (commit, tree) in trees.items():
                workdir = os.path.join(scratch, f"run_{commit}_{repeat}")
                result = run_quickstart(tree, workdir)
                runs[revision].append(result)
                print(f"{revision} ({commit}) run {repeat + 1}: {result}", flush=True)
    finally:
        for _, tree in trees.values():
            _git("worktree", "remove", "--force", tree)
    print(f"\nmachine: {describe()}")
    print("| revision | runs (s) | median (s) | training pairs/s | trained AUC |")
    print("| --- | --- | --- | --- | --- |")
    for revision, results in runs.items():
        seconds = [r["seconds"] for r in results]
        rates = [r["pairs_per_s"] for r in results if r["pairs_per_s"] is not None]
        print(f"| {revision} ({trees[revision][0]}) | {', '.join(f'{s:.0f}' for s in seconds)}"
              f" | {statistics.median(seconds):.0f} | "
              f"{statistics.median(rates) if rates else float('nan'):.1f} | "
              f"{statistics.median(r['trained_auc'] for r in results):.3f} |")  # fmt: skip
    if args.out:
        with open(args.out, "w") as stream:
            commits = {revision: commit for revision, (commit, _) in trees.items()}
            json.dump({"machine": describe(), "runs": runs, "commits": commits}, stream, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
