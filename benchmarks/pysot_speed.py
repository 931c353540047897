"""The reference's speed on *this* machine, so siamjax's ratios compare like with like.

    SIAMJAX_PYSOT_DIR=/path/to/pysot python benchmarks/pysot_speed.py [--out pysot_speed.json]
        [--cases search_r50 search_alex search_mbv2 train_r50_frozen train_r50_unfrozen
                 train_mbv2_frozen train_mbv2_unfrozen tracker_r50 tracker_alex tracker_mbv2]

The reference numbers were taken on one development machine; CPUs differ between
machines (AVX2 vs AVX-512, clocks), so a ratio against them is only meaningful there. This
script times pysot itself (PyTorch, 2 threads, random weights; each case in a fresh
process) and writes a JSON that ``model_forward.py --pysot-json`` and ``train_step.py
--pysot-json`` use instead. Needs torch, yacs and pysot's source (see docs/parity.md §13; pysot
is imported from ``SIAMJAX_PYSOT_DIR`` at run time, never copied here).

Cases: ``tracker_*`` = ms per tracked 640x480 frame of pysot's tracker (crop + network +
post-processing, median; BatchNorm calibrated so boxes stay sane); ``search_*`` =
batch-1 search call (pysot's ``track``) in ms, median of 7 after 2 warm-ups;
``train_r50_*`` / ``train_mbv2_*`` = one SGD step of pysot's ``ModelBuilder.forward`` +
backward + clip + step at batch 8 (frozen: backbone frozen with eval BatchNorm;
unfrozen: layer2-4 trained with batch statistics, pysot's ``build_opt_lr`` at epoch 10),
median of 3 after one, and the process's peak resident memory.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SEARCH = {  # case -> (pysot experiment, instance size)
    "search_r50": ("siamrpn_r50_l234_dwxcorr", 255),
    "search_alex": ("siamrpn_alex_dwxcorr", 287),
    "search_mbv2": ("siamrpn_mobilev2_l234_dwxcorr", 255),
}
TRAIN = {  # case -> (pysot experiment, phase: 0 backbone frozen, 1 train layers trained)
    "train_r50_frozen": ("siamrpn_r50_l234_dwxcorr_8gpu", 0),
    "train_r50_unfrozen": ("siamrpn_r50_l234_dwxcorr_8gpu", 1),
    "train_mbv2_frozen": ("siamrpn_mobilev2_l234_dwxcorr", 0),
    "train_mbv2_unfrozen": ("siamrpn_mobilev2_l234_dwxcorr", 1),
}
TRACKER = {  # case -> pysot experiment: ms per tracked frame (crop + network + post)
    "tracker_r50": "siamrpn_r50_l234_dwxcorr",
    "tracker_alex": "siamrpn_alex_dwxcorr",
    "tracker_mbv2": "siamrpn_mobilev2_l234_dwxcorr",
}


def _median_seconds(function, warmups: int, repeats: int) -> float:
    import time

    import numpy as np

    for _ in range(warmups):
        function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def time_search(case: str) -> dict:
    import numpy as np

    from siamjax.pysot_reference.runner import build_pysot_model, require_pysot

    torch = require_pysot()
    experiment, instance = SEARCH[case]
    model, _ = build_pysot_model(experiment)
    model.eval()
    rng = np.random.default_rng(0)
    template = torch.from_numpy(rng.uniform(0, 255, (1, 3, 127, 127)).astype(np.float32))
    search = torch.from_numpy(rng.uniform(0, 255, (1, 3, instance, instance)).astype(np.float32))
    with torch.no_grad():
        model.template(template)
        seconds = _median_seconds(lambda: model.track(search), 2, 7)
    return {"case": case, "ms": seconds * 1e3}


def time_tracker(case: str, frames: int = 20) -> dict:
    """pysot's tracker over a synthetic 640x480 sequence (``synthetic_frames.py``, the
    frames ``backend_speed.py`` tracks): median ms of ``track(frame)``."""
    import tempfile

    from synthetic_frames import median_track_ms, write_sequences

    from siamjax.pysot_reference.runner import (
        build_pysot_model,
        calibrate_batch_norm,
        require_pysot,
    )

    torch = require_pysot()
    model, cfg = build_pysot_model(TRACKER[case])
    calibrate_batch_norm(model, cfg.TRACK.EXEMPLAR_SIZE, cfg.TRACK.INSTANCE_SIZE)
    from pysot.tracker.tracker_builder import build_tracker

    with tempfile.TemporaryDirectory() as root:
        write_sequences(root, 1, frames)
        folder = os.path.join(root, "Seq0", "img")
        paths = sorted(os.path.join(folder, name) for name in os.listdir(folder))
        with torch.no_grad():
            ms = median_track_ms(build_tracker(model), paths, (200, 150, 50, 60))
    return {"case": case, "ms_per_frame": ms}


def time_train(case: str, batch: int = 8) -> dict:
    import resource

    import numpy as np

    from siamjax.pysot_reference.runner import (
        build_pysot_model,
        require_pysot,
        set_training_phase,
    )

    torch = require_pysot()
    experiment, phase = TRAIN[case]
    model, cfg = build_pysot_model(experiment)
    from pysot.datasets.anchor_target import AnchorTarget
    from pysot.utils.bbox import Corner

    set_training_phase(model, phase, cfg.BACKBONE.TRAIN_LAYERS)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(trainable, lr=0.001, momentum=0.9, weight_decay=1e-4)
    rng = np.random.default_rng(0)
    targets = AnchorTarget()
    labels = [targets(Corner(100, 90, 160, 170), 25, neg=(i % 5 == 4)) for i in range(batch)]
    data = {
        "template": torch.from_numpy(rng.uniform(0, 255, (batch, 3, 127, 127)).astype(np.float32)),
        "search": torch.from_numpy(rng.uniform(0, 255, (batch, 3, 255, 255)).astype(np.float32)),
        "label_cls": torch.from_numpy(np.stack([c for c, _, _, _ in labels])).long(),
        "label_loc": torch.from_numpy(np.stack([d for _, d, _, _ in labels]).astype(np.float32)),
        "label_loc_weight": torch.from_numpy(
            np.stack([w for _, _, w, _ in labels]).astype(np.float32)
        ),
    }

    def step():
        outputs = model(data)
        optimizer.zero_grad()
        outputs["total_loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optimizer.step()

    seconds = _median_seconds(step, 1, 3)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return {"case": case, "seconds_per_step": seconds, "pairs_per_s": batch / seconds,
            "peak_gb": peak_gb}  # fmt: skip


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as stream:
            info = stream.read()
    except OSError:
        return "unknown"
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines()
                 if line.startswith("model name")), "unknown")  # fmt: skip
    flags = next((line for line in info.splitlines() if line.startswith("flags")), "")
    return (
        f"{name}, {'AVX-512' if 'avx512f' in flags else 'AVX2, no AVX-512'}, {os.cpu_count()} cpus"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=[*SEARCH, *TRAIN, *TRACKER],
                        choices=[*SEARCH, *TRAIN, *TRACKER])  # fmt: skip
    parser.add_argument("--out", default="pysot_speed.json", help="JSON written here")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # child process: one case
    args = parser.parse_args()
    if args.one:
        if args.one in SEARCH:
            result = time_search(args.one)
        elif args.one in TRACKER:
            result = time_tracker(args.one)
        else:
            result = time_train(args.one)
        print(json.dumps(result))
        return
    if not os.environ.get("SIAMJAX_PYSOT_DIR"):
        parser.error("set SIAMJAX_PYSOT_DIR to an extracted pysot source tree")
    results = {"cpu": cpu_name(), "torch_threads": 2}
    for case in args.cases:
        completed = subprocess.run([sys.executable, os.path.abspath(__file__), "--one", case],
                                   capture_output=True, text=True, cwd=ROOT)  # fmt: skip
        if completed.returncode != 0:
            raise SystemExit(f"{case} failed:\n{completed.stderr[-3000:]}")
        result = json.loads(completed.stdout.strip().splitlines()[-1])
        results[case] = result
        print(json.dumps(result), flush=True)
    with open(args.out, "w") as stream:
        json.dump(results, stream, indent=1)
    print(f"written to {args.out}")


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    sys.path.insert(1, os.path.dirname(os.path.abspath(__file__)))
    main()
