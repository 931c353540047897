"""siamjax's tracker against pysot's, frame by frame in one process: a speed ratio that
holds on a host whose speed drifts.

    SIAMJAX_PYSOT_DIR=/path/to/pysot python benchmarks/paired_speed.py \
        [--architectures r50 alex mbv2] [--backends onnxruntime jax ...] [--frames 40] \
        [--order passes|frames] [--passes 3]

A backend may carry ``config.backend`` settings after a colon, so that two variants of
one backend are timed against each other in the same run:
``--backends onnxruntime onnxruntime:onnx_template=input``.

``backend_speed.py`` times pysot and each backend minutes apart, in separate processes;
where the machine's speed changes by tens of percent within minutes (a shared virtual
machine), a ratio of two such medians moves with it. Here pysot and each siamjax backend
track a synthetic 640x480 sequence (``synthetic_frames.py``) in one process, taking turns
in a new random order each time (so that no runtime always follows the same one):

* ``--order passes`` (default): each tracks the whole sequence back to back, as a tracker
  runs in use, and the trackers take turns pass by pass for ``--passes`` rounds; a
  frame's ratio pairs the two trackers' times of that frame in the same round.
* ``--order frames``: they take turns every frame, with a short pause before each call
  so that no runtime's worker threads still spin when the next starts. This follows the
  host's drift most closely, but each frame then starts after the other runtime's:
  pysot's AlexNet frames took 26-35 % longer that way, ONNX Runtime's 0-12 %, which
  raised AlexNet's ratio by up to 0.3 (benchmarks/README.md).

The script prints the median ms of each, the median of the per-frame ratios (pysot ms /
siamjax ms) and their interquartile range.

All trackers run the same random weights (pysot's, BatchNorm calibrated on real crops and
the last box convolution scaled to a trained model's delta magnitudes, then converted to
siamjax), so they follow the same boxes and crop windows of the same size: with
different weights the targets drift apart, and the crop (whose cost grows with the
window) stops being the same work. 2 threads for PyTorch, all usable cores for siamjax.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import cv2
import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from backend_speed import CONFIGS, REDUCED_PRECISION, network_for  # noqa: E402
from pysot_speed import TRACKER  # noqa: E402
from synthetic_frames import write_sequences  # noqa: E402

from siamjax.config_loader import apply_overrides, load_config  # noqa: E402
from siamjax.loading import build_configured_model  # noqa: E402
from siamjax.tracking import build_tracker  # noqa: E402
from siamjax.tracking.crop import context_size  # noqa: E402

BACKEND_NAMES = ["jax", "onnxruntime", *REDUCED_PRECISION]
INIT_BOX = (200, 150, 50, 60)  # x, y, w, h of the synthetic sequence's target
PAUSE_S = 0.02  # lets spinning worker threads of the last runtime go idle


def shared_weights(architecture: str, config):
    """(pysot tracker, siamjax variables) of the same random weights."""
    from siamjax.pysot_reference import runner
    from siamjax.pysot_reference.video_agreement import LOC_HEAD_SCALE

    runner.require_pysot()
    torch_model, cfg = runner.build_pysot_model(TRACKER[f"tracker_{architecture}"])
    runner.calibrate_batch_norm(torch_model, cfg.TRACK.EXEMPLAR_SIZE, cfg.TRACK.INSTANCE_SIZE)
    runner.scale_pysot_loc_head(torch_model, LOC_HEAD_SCALE)
    with tempfile.TemporaryDirectory() as directory:
        variables = runner.converted_variables(
            torch_model, build_configured_model(config), cfg.TRACK.EXEMPLAR_SIZE,
            cfg.TRACK.INSTANCE_SIZE, directory,
        )  # fmt: skip
    from pysot.tracker.tracker_builder import build_tracker as build_pysot_tracker

    return build_pysot_tracker(torch_model), variables


def require_reference(parser: argparse.ArgumentParser) -> None:
    """Exits with one line (status 2) where pysot, torch or yacs cannot be used."""
    from siamjax.pysot_reference import runner

    try:
        runner.require_pysot()
    except runner.ReferenceUnavailable as error:
        parser.error(f"{error} (pysot: an extracted source tree, with torch and yacs)")


def backend_variant(config, spec: str):
    """``'NAME[:FIELD=VALUE,...]'`` -> (backend name, config with those backend fields)."""
    name, _, settings = spec.partition(":")
    if name not in BACKEND_NAMES:
        raise SystemExit(f"--backends {spec!r}: {name!r} is not one of {BACKEND_NAMES}")
    overrides = [f"backend.{setting}" for setting in settings.split(",") if setting]
    return name, apply_overrides(config, overrides)


def timed_ms(call, pause_s: float = PAUSE_S) -> tuple[float, np.ndarray]:
    """(ms of the call after a pause, the (4,) x, y, w, h box it returned: pysot's dict
    or our tuple)."""
    time.sleep(pause_s)
    started = time.perf_counter()
    result = call()
    ms = 1000 * (time.perf_counter() - started)
    box = result["bbox"] if isinstance(result, dict) else result[0]
    return ms, np.asarray(box, np.float64)


def search_window_side(box_xywh, config) -> float:
    """Side in frame pixels of the search window a tracker at ``box_xywh`` crops next."""
    side = context_size(box_xywh[2:], config.track.context_amount)
    return side * config.track.instance_size / config.track.exemplar_size


def shared_trackers(architecture: str, config, backends: list[str]) -> dict:
    """{'pysot': pysot's tracker, backend spec: siamjax's tracker} of the same weights."""
    pysot, variables = shared_weights(architecture, config)
    trackers = {"pysot": pysot}
    for backend in backends:
        name, variant = backend_variant(config, backend)
        trackers[backend] = build_tracker(variant, network_for(variant, variables, name))
    return trackers


def interleaved(trackers: dict, frames: list) -> tuple[dict, dict]:
    """({name: per-frame ms}, {name: (frames - 1, 4) boxes}) of each tracker on the frames
    after the first, the trackers interleaved frame by frame after a warm-up pass."""
    import torch

    times = {name: [] for name in trackers}
    boxes = {name: [] for name in trackers}
    with torch.no_grad():
        for warm_up in (True, False):  # the first pass compiles / allocates
            for tracker in trackers.values():
                tracker.init(frames[0], list(INIT_BOX))
            order = np.random.default_rng(0)
            for frame in frames[1:]:
                # A fresh random order each frame: a runtime timed right after another
                # can be slower (its worker threads), so none keeps one neighbour.
                for name in order.permutation(list(trackers)):
                    tracker = trackers[name]
                    ms, box = timed_ms(lambda tracker=tracker, frame=frame: tracker.track(frame))
                    if not warm_up:
                        times[name].append(ms)
                        boxes[name].append(box)
    return times, {name: np.stack(value) for name, value in boxes.items()}


def alternating_passes(trackers: dict, frames: list, passes: int) -> tuple[dict, dict]:
    """As ``interleaved``, but each tracker tracks the whole sequence back to back, as in
    use (no other runtime between its frames), the trackers taking turns pass by pass in
    a new random order each round, after a warm-up round. Each tracker's per-frame times
    are listed round by round in frame order, so the i-th times of two trackers are the
    same frame of the same round; the boxes are the last round's."""
    import torch

    times = {name: [] for name in trackers}
    boxes = {}
    order = np.random.default_rng(0)
    with torch.no_grad():
        for round_index in range(passes + 1):  # round 0 compiles / allocates
            for name in order.permutation(list(trackers)):
                tracker = trackers[name]
                time.sleep(PAUSE_S)
                tracker.init(frames[0], list(INIT_BOX))
                timed = [timed_ms(lambda t=tracker, f=frame: t.track(f), pause_s=0)
                         for frame in frames[1:]]  # fmt: skip
                if round_index:
                    times[name].extend(ms for ms, _ in timed)
                    boxes[name] = np.stack([box for _, box in timed])
    return times, boxes


def read_frames(root: str) -> list:
    """The BGR frames of ``write_sequences(root, 1, ...)``'s sequence, in order."""
    folder = os.path.join(root, "Seq0", "img")
    return [cv2.imread(os.path.join(folder, name)) for name in sorted(os.listdir(folder))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--architectures", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--backends", nargs="+", default=["onnxruntime"],
                        metavar="NAME[:FIELD=VALUE,...]",
                        help=f"NAME one of {', '.join(BACKEND_NAMES)}")  # fmt: skip
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument(
        "--order", choices=["frames", "passes"], default="passes",
        help="take turns every frame (with a pause), or every pass over the sequence "
        "(frames back to back, as in use; default)",
    )  # fmt: skip
    parser.add_argument("--passes", type=int, default=3, help="rounds with --order passes")
    args = parser.parse_args()
    require_reference(parser)
    taking_turns = "every frame" if args.order == "frames" else f"every pass, {args.passes} rounds"
    print(f"jax {jax.__version__}, {os.cpu_count()} cpus; pysot and siamjax take turns "
          f"{taking_turns}")  # fmt: skip
    print("| model | backend | ms / frame | pysot ms / frame | vs pysot: median of per-frame "
          "ratios (interquartile range) | search window px (median) | largest box Δ vs "
          "pysot px |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as root:
        write_sequences(root, 1, args.frames)
        frames = read_frames(root)
        for architecture in args.architectures:
            config = load_config(CONFIGS[architecture])
            trackers = shared_trackers(architecture, config, args.backends)
            if args.order == "frames":
                times, boxes = interleaved(trackers, frames)
            else:
                times, boxes = alternating_passes(trackers, frames, args.passes)
            reference = np.asarray(times["pysot"])
            window = np.median([search_window_side(box, config) for box in boxes["pysot"]])
            for backend in args.backends:
                ours = np.asarray(times[backend])
                ratios = reference / ours
                low, high = np.percentile(ratios, [25, 75])
                print(f"| {architecture} | {backend} | {np.median(ours):.1f} | "
                      f"{np.median(reference):.1f} | {np.median(ratios):.2f}× "
                      f"({low:.2f}–{high:.2f}) | {window:.0f} | "
                      f"{np.abs(boxes[backend] - boxes['pysot']).max():.2g} |",
                      flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
