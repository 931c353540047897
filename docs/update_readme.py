"""Regenerates the measured parts of README.md, so no number there is typed by hand.

    # measure (from a fresh clone; each part optional), then rewrite README.md:
    python docs/update_readme.py --quickstart runs/quickstart --tests

``--zoo DIR`` records a finished ``siamjax experiment --config
configs/experiments/correlation_zoo.py --workdir DIR`` (its results.json: the table, the
wall time) and copies its plots to ``docs/images/zoo_*.png``; ``--zoo-small DIR`` records
the time of a finished ``correlation_zoo.py:small`` run.
``--quickstart DIR`` runs ``siamjax quickstart --workdir DIR/run_<i>`` (install excluded)
``--quickstart-runs`` times (default 2; a run whose ``report.json`` exists is read, not
repeated), records the median wall time, every run's time and training pairs/s, the
first run's scores and the machine in ``docs/measured.json`` and draws
``docs/images/quickstart_tracked.png`` (a held-out frame with the trained tracker's box
and the ground truth). ``--tests`` times
the README's test command (install included, as a fresh clone runs it). Without
options the script only re-renders README.md from ``docs/measured.json``; a test checks
that the README matches it.

README.md holds the generated text between ``<!-- measured:NAME -->`` and
``<!-- /measured:NAME -->`` markers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
MEASURED = os.path.join(ROOT, "docs", "measured.json")
PICTURE = os.path.join(ROOT, "docs", "images", "quickstart_tracked.png")
ZOO_PLOTS = {  # results' plots/ path -> docs/images/ name
    os.path.join("held_out", "success.png"): "zoo_success.png",
    "auc_vs_search_ms.png": "zoo_auc_vs_search_ms.png",
    "auc_vs_params.png": "zoo_auc_vs_params.png",
}
TRACKERS = ("trained", "static", "untrained")


def _minutes(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


def render(measured: dict) -> dict[str, str]:
    """The README's generated blocks (name -> markdown) from ``docs/measured.json``."""
    blocks = {}
    quickstart = measured.get("quickstart")
    if quickstart:
        runs = quickstart.get("runs", [quickstart["seconds"]])
        rates = quickstart.get("pairs_per_s")
        spread = ", ".join(_minutes(x) for x in runs)
        training = f"; training at {min(rates):g}-{max(rates):g} pairs/s" if rates else ""
        blocks["quickstart-time"] = (
            f"{_minutes(quickstart['seconds'])}, the median of {len(runs)} fresh-clone "
            f"run{'s' if len(runs) > 1 else ''} ({spread}{training}) on "
            f"{quickstart['machine']}, install excluded"
        )
        rows = [
            "| tracker | success AUC | precision (20 px) | norm. precision |",
            "| --- | --- | --- | --- |",
        ]
        for name in TRACKERS:
            scores = quickstart["report"][name]
            rows.append(
                f"| {name} | {scores['success_auc']:.3f} | {scores['precision']:.3f} | "
                f"{scores['norm_precision']:.3f} |"
            )
        blocks["quickstart-table"] = "\n".join(rows)
    zoo = measured.get("zoo")
    if zoo:
        blocks["zoo-time"] = (
            f"{_minutes(zoo['seconds'])} on {zoo['machine']} ({zoo['runs']} runs: "
            f"{zoo['variants']} variants x {zoo['seeds']} seeds, {zoo['train_steps']} steps "
            f"each, {zoo['sequences']} held-out sequences)"
        )
        blocks["zoo-table"] = zoo["table"]
    zoo_small = measured.get("zoo_small")
    if zoo_small:
        blocks["zoo-small-time"] = f"{_minutes(zoo_small['seconds'])} on {zoo_small['machine']}"
    tests = measured.get("tests")
    if tests:
        blocks["tests-time"] = (
            f"{_minutes(tests['seconds'])} on {tests['machine']} from a fresh clone, "
            f"install included"
            + (
                f", the tests {_minutes(tests['pytest_seconds'])}"
                if "pytest_seconds" in tests
                else ""
            )
            + f" ({tests['summary']})"
        )
    return blocks


def apply_blocks(text: str, blocks: dict[str, str]) -> str:
    """``text`` with every ``<!-- measured:NAME -->...<!-- /measured:NAME -->`` replaced."""
    for name, content in blocks.items():
        pattern = re.compile(
            rf"(<!-- measured:{re.escape(name)} -->)(.*?)(<!-- /measured:{re.escape(name)} -->)",
            re.DOTALL,
        )
        if not pattern.search(text):
            raise ValueError(f"README.md has no <!-- measured:{name} --> block")
        separator = "\n" if "\n" in content else ""
        replacement = f"{separator}{content}{separator}"
        text = pattern.sub(
            lambda match, middle=replacement: f"{match.group(1)}{middle}{match.group(3)}", text
        )
    return text


def machine() -> str:
    from siamjax.machine import describe

    return describe()


def _pairs_per_second(workdir: str) -> float:
    """The training rate the quickstart's last log line reports."""
    with open(os.path.join(workdir, "train", "metrics.jsonl")) as stream:
        lines = [line for line in stream if line.strip()]
    return float(json.loads(lines[-1])["pairs_per_s"])


def measure_quickstart(directory: str, runs: int) -> dict:
    """``runs`` quickstarts in ``directory/run_<i>``; the median time is the README's."""
    seconds, rates, reports = [], [], []
    for index in range(runs):
        workdir = os.path.join(directory, f"run_{index + 1}")
        report_path = os.path.join(workdir, "report.json")
        if not os.path.isfile(report_path):
            started = time.time()
            subprocess.run(["siamjax", "quickstart", "--workdir", workdir], check=True)
            print(f"quickstart run {index + 1}: {time.time() - started:.0f} s")
        with open(report_path) as stream:
            report = json.load(stream)
        seconds.append(report["seconds"])
        rates.append(round(_pairs_per_second(workdir), 1))
        reports.append(report)
    draw_tracked_frame(os.path.join(directory, "run_1"))
    return {"seconds": statistics.median(seconds), "runs": seconds,
            "pairs_per_s": rates, "machine": machine(),
            "report": {name: reports[0][name] for name in TRACKERS}}  # fmt: skip


def draw_tracked_frame(workdir: str) -> None:
    """A held-out frame: ground truth (green) and the trained tracker's box (yellow)."""
    import cv2
    import numpy as np

    from siamjax.datasets.benchmark_layout import read_custom
    from siamjax.eval.results import read_boxes

    videos = read_custom(os.path.join(workdir, "data", "raw", "test"))
    video = videos[0]
    boxes = read_boxes(os.path.join(workdir, "results", "trained"), "custom", video.name,
                       len(video))  # fmt: skip
    index = len(video) * 2 // 3
    scale = 2  # the synthetic frames are 320x240
    frame = cv2.imread(video.frame_paths[index])
    frame = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    for box, colour in ((video.gt[index], (0, 200, 0)), (boxes[index], (0, 220, 255))):
        x, y, w, h = (int(round(v * scale)) for v in np.asarray(box)[:4])
        cv2.rectangle(frame, (x, y), (x + w, y + h), colour, 2)
    os.makedirs(os.path.dirname(PICTURE), exist_ok=True)
    cv2.imwrite(PICTURE, frame, [cv2.IMWRITE_PNG_COMPRESSION, 9])


def record_zoo(workdir: str) -> dict:
    """The README's zoo numbers from a finished experiment's results.json; copies its plots."""
    import shutil

    from siamjax.experiment.report import split_table

    with open(os.path.join(workdir, "results.json")) as stream:
        results = json.load(stream)
    for source, name in ZOO_PLOTS.items():
        shutil.copyfile(os.path.join(workdir, "plots", source),
                        os.path.join(ROOT, "docs", "images", name))  # fmt: skip
    return {
        "seconds": results["seconds"],
        "machine": results["machine"],
        "runs": len(results["variants"]) * len(results["seeds"]),
        "variants": len(results["variants"]),
        "seeds": len(results["seeds"]),
        "train_steps": results["train_steps"],
        "sequences": len(results["per_sequence_auc"]["held_out"][results["baseline"]]),
        "table": split_table(results, "held_out"),
    }


def measure_tests() -> dict:
    sys.path.insert(0, ROOT)
    from tests.readme import test_command

    started = time.time()
    result = subprocess.run(["bash", "-c", test_command()], cwd=ROOT, capture_output=True,
                            text=True)  # fmt: skip
    if result.returncode:  # show what failed instead of only the exit status
        print(result.stdout[-20000:], result.stderr[-5000:], sep="\n")
        raise SystemExit(f"the test command exited with {result.returncode}")
    seconds = time.time() - started
    summary = result.stdout.strip().splitlines()[-1]
    # pytest's own time (the tests, without the install) is kept apart from the wall time.
    pytest_time = re.search(r" in ([0-9.]+)s", summary)
    summary = re.sub(r" in [0-9.]+s.*", "", summary)
    measured = {"seconds": seconds, "machine": machine(), "summary": summary}
    if pytest_time:
        measured["pytest_seconds"] = float(pytest_time.group(1))
    return measured


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quickstart", metavar="DIR", help="measure the quickstart in DIR")
    parser.add_argument(
        "--quickstart-runs", type=int, default=2, metavar="N",
        help="quickstart runs; the README gives their median (default 2)",
    )  # fmt: skip
    parser.add_argument("--tests", action="store_true", help="time the README's test command")
    parser.add_argument("--zoo", metavar="DIR", help="record the finished correlation zoo in DIR")
    parser.add_argument("--zoo-small", metavar="DIR", help="record the finished :small zoo in DIR")
    args = parser.parse_args(argv)
    measured = {}
    if os.path.isfile(MEASURED):
        with open(MEASURED) as stream:
            measured = json.load(stream)
    if args.quickstart:
        measured["quickstart"] = measure_quickstart(args.quickstart, args.quickstart_runs)
    if args.tests:
        measured["tests"] = measure_tests()
    if args.zoo:
        measured["zoo"] = record_zoo(args.zoo)
    if args.zoo_small:
        with open(os.path.join(args.zoo_small, "results.json")) as stream:
            small = json.load(stream)
        measured["zoo_small"] = {"seconds": small["seconds"], "machine": small["machine"]}
    if args.quickstart or args.tests or args.zoo or args.zoo_small:
        with open(MEASURED, "w") as stream:
            json.dump(measured, stream, indent=2)
            stream.write("\n")
    with open(README, encoding="utf-8") as stream:
        text = stream.read()
    with open(README, "w", encoding="utf-8") as stream:
        stream.write(apply_blocks(text, render(measured)))
    print(f"README.md regenerated from {os.path.relpath(MEASURED, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
