"""The first-use checks of ``benchmarks/accelerator.py --smoke``: every command a user runs
first on a new machine, run as that user would run it, each recorded as a result.

* ``quickstart``: ``siamjax quickstart`` (synthetic data, prep, training, held-out
  evaluation) with training cut at ``steps`` steps;
* ``track``: ``siamjax track`` of the r50 tracker (random weights) on a synthetic 640x480
  video, with its fps, annotated video and boxes;
* ``export``: ``siamjax export --platforms <this platform as JAX reports it>``, then the
  artifacts reloaded with ``jax.export.deserialize`` and called; their scores against the
  in-process network's;
* ``dry_run``: ``siamjax train --dry-run`` of pysot's 8-GPU r50 recipe.

Each check is ``{"ok": bool, "seconds": float, ...}``; a check that raises or exits
non-zero is recorded with its error and the next one still runs.
"""

from __future__ import annotations

import contextlib
import io
import os
import time
import traceback

CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs")
R50 = os.path.join(CONFIGS, "siamrpn_r50_l234_dwxcorr.py")


class _Tee(io.StringIO):
    """Captures what a command prints and still shows it."""

    def __init__(self, stream):
        super().__init__()
        self._stream = stream

    def write(self, text):
        self._stream.write(text)
        return super().write(text)


def _cli(argv) -> tuple[int, str]:
    """``siamjax <argv>`` in this process: (exit code, what it printed)."""
    import sys

    from siamjax.cli import main

    captured = _Tee(sys.stdout)
    with contextlib.redirect_stdout(captured):
        code = main([str(arg) for arg in argv])
    return code, captured.getvalue()


def _checked(name: str, results: dict, check) -> None:
    started = time.perf_counter()
    print(f"\n== smoke: {name}", flush=True)
    try:
        entry = {"ok": True, **check()}
    except BaseException as error:  # recorded; the other checks still run
        if isinstance(error, KeyboardInterrupt):
            raise
        entry = {"ok": False, "error": f"{type(error).__name__}: {error}",
                 "traceback": traceback.format_exc()[-4000:]}  # fmt: skip
    entry["seconds"] = round(time.perf_counter() - started, 1)
    results[name] = entry
    print(f"== smoke: {name}: {'ok' if entry['ok'] else 'FAILED ' + entry['error']} "
          f"({entry['seconds']} s)", flush=True)  # fmt: skip


def quickstart(root: str, steps: int, videos: int) -> dict:
    from siamjax.quickstart import run_quickstart

    report = run_quickstart(os.path.join(root, "quickstart"), videos=videos, max_steps=steps)
    return {"steps": report["train_steps"], "test_videos": report["test_videos"],
            "trained_auc": report["trained"]["success_auc"],
            "static_auc": report["static"]["success_auc"]}  # fmt: skip


def _r50_checkpoint(root: str) -> str:
    import jax

    from siamjax.checkpoints import save_variables
    from siamjax.config_loader import load_config
    from siamjax.models import build_model, init_variables

    path = os.path.join(root, "r50_random")
    if not os.path.isdir(path):
        config = load_config(R50)
        variables = jax.device_get(init_variables(build_model(config.model), jax.random.key(0)))
        save_variables(path, variables)
    return path


def track(root: str, frames: int) -> dict:
    import re

    from synthetic_frames import write_sequences

    videos = os.path.join(root, "track_videos")
    if not os.path.isdir(videos):
        write_sequences(videos, 1, frames)
    with open(os.path.join(videos, "Seq0", "groundtruth_rect.txt")) as stream:
        init = stream.readline().strip()
    out, boxes = os.path.join(root, "tracked.mp4"), os.path.join(root, "tracked.txt")
    code, printed = _cli(["track", "--config", R50, "--checkpoint", _r50_checkpoint(root),
                          "--video", os.path.join(videos, "Seq0", "img"), "--init", init,
                          "--out", out, "--boxes", boxes])  # fmt: skip
    if code != 0:
        raise RuntimeError(f"siamjax track exited {code}")
    fps = re.search(r"at ([0-9.]+) fps", printed)
    with open(boxes) as stream:
        lines = [line for line in stream if line.strip()]
    if len(lines) != frames or not os.path.getsize(out):
        raise RuntimeError(f"{len(lines)} boxes for {frames} frames, video {out}")
    return {"frames": frames, "fps": float(fps.group(1)) if fps else None}


def export(root: str) -> dict:
    import jax
    import numpy as np
    from jax import export as jax_export

    from siamjax.checkpoints import load_variables
    from siamjax.config_loader import load_config
    from siamjax.loading import load_network

    out = os.path.join(root, "exported")
    platform = jax.default_backend()  # what JAX reports here: 'gpu' on a GPU
    checkpoint = _r50_checkpoint(root)
    code, _ = _cli(["export", "--config", R50, "--checkpoint", checkpoint, "--out", out,
                    "--platforms", platform])  # fmt: skip
    if code != 0:
        raise RuntimeError(f"siamjax export exited {code}")
    files = sorted(os.listdir(out))

    def load(prefix):
        (name,) = [f for f in files if f.startswith(prefix)]
        with open(os.path.join(out, name), "rb") as stream:
            return name, jax_export.deserialize(bytearray(stream.read()))

    template_name, template = load("template_b1.")
    search_name, search = load("search_b1_x255.")
    rng = np.random.default_rng(0)
    crop = rng.uniform(0, 255, (1, 127, 127, 3)).astype(np.float32)
    crops = rng.uniform(0, 255, (1, 255, 255, 3)).astype(np.float32)
    exported_scores = search.call(template.call(crop), crops)
    config = load_config(R50)
    network = load_network(config, load_variables(checkpoint), backend="jax")
    network_scores = network.search_async(network.template(crop), crops)
    pairs = list(zip(jax.tree_util.tree_leaves(exported_scores),
                     jax.tree_util.tree_leaves(network_scores), strict=True))  # fmt: skip
    difference = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) for a, b in pairs)
    scale = max(float(np.max(np.abs(np.asarray(b)))) for _, b in pairs)
    # Random r50 weights give outputs in the thousands: the difference relative to them.
    if difference > 1e-4 * scale:
        raise RuntimeError(
            f"reloaded export differs from the network by {difference:.3g} "
            f"(outputs up to {scale:.3g})"
        )
    return {"artifacts": [template_name, search_name], "max_abs_difference": difference,
            "max_abs_output": scale}  # fmt: skip


def dry_run(root: str) -> dict:
    config = os.path.join(CONFIGS, "siamrpn_r50_l234_dwxcorr_8gpu.py")
    code, printed = _cli(["train", "--config", config, "--workdir",
                          os.path.join(root, "dry_run"), "--dry-run"])  # fmt: skip
    if code != 0:
        raise RuntimeError(f"siamjax train --dry-run exited {code}")
    policy = [line for line in printed.splitlines() if "backend policy" in line]
    return {"policy": policy[0].split("backend policy: ", 1)[-1] if policy else None}


def run_checks(root: str, results: dict, quick: bool, save) -> None:
    """Runs every check into ``results`` (calling ``save()`` after each)."""
    checks = {
        "quickstart": lambda: quickstart(root, 10 if quick else 100, 12 if quick else 40),
        "track": lambda: track(root, 5 if quick else 100),
        "export": lambda: export(root),
        "dry_run": lambda: dry_run(root),
    }
    for name, check in checks.items():
        _checked(name, results, check)
        save()
