"""Tracker speed per backend (JAX, ONNX Runtime) against pysot on this machine.

    SIAMJAX_PYSOT_DIR=/path/to/pysot python benchmarks/pysot_speed.py \
        --cases tracker_r50 tracker_alex tracker_mbv2 --out pysot_speed.json
    python benchmarks/backend_speed.py --pysot-json pysot_speed.json [--sequences 8]
        [--frames 20] [--architectures r50 alex mbv2] [--backends jax onnxruntime ...]

For each config and backend: ms per tracked 640x480 frame (``tracker.track``: crop,
network, post-processing; median over the frames of a synthetic sequence after a warm-up
pass: ``synthetic_frames.py``, the same frames pysot's case tracks) and the frames/s of N
sequences tracked in lockstep (``BatchedTracker``, one network call per frame for all N)
against the same N tracked one after the other. Random weights (speed does not depend on
them). The ratio column is pysot's ms per frame / the backend's.

``openvino-bfloat16`` and ``onnxruntime-int8`` are the networks of ``siamjax track
--precision bfloat16 / int8`` built directly (speed does not depend on the weights, so the
accuracy verdict those modes need for real weights is not asked for here).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import jax
from synthetic_frames import median_track_ms, write_sequences

from siamjax.config_loader import load_config
from siamjax.datasets.benchmark_layout import read_otb
from siamjax.eval.runner import run_batched, run_sequential
from siamjax.loading import build_configured_model, load_network, precision_networks
from siamjax.models import init_variables
from siamjax.tracking import BatchedTracker, build_tracker

_CONFIG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs")
# The released architectures (found from any working directory).
CONFIGS = {
    name: os.path.join(_CONFIG_DIR, file)
    for name, file in {
        "r50": "siamrpn_r50_l234_dwxcorr.py",
        "alex": "siamrpn_alex_dwxcorr.py",
        "mbv2": "siamrpn_mobilev2_l234_dwxcorr.py",
    }.items()
}


REDUCED_PRECISION = {"openvino-bfloat16": "bfloat16", "onnxruntime-int8": "int8"}


def network_for(config, variables, backend: str):
    if backend in REDUCED_PRECISION:
        return precision_networks(config, variables, REDUCED_PRECISION[backend])[1]
    return load_network(config, variables, backend=backend)


def frames_per_second(run, videos, out) -> float:
    started = time.perf_counter()
    run(videos, out)
    return sum(len(v) for v in videos) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--architectures", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--backends", nargs="+", default=["jax", "onnxruntime"],
                        choices=["jax", "onnxruntime", *REDUCED_PRECISION])  # fmt: skip
    parser.add_argument("--sequences", type=int, default=8)
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--pysot-json", help="pysot_speed.py output with tracker_* cases")
    args = parser.parse_args()
    pysot = {}
    if args.pysot_json:
        with open(args.pysot_json) as stream:
            pysot = json.load(stream)
    print(f"jax {jax.__version__}, {os.cpu_count()} cpus; pysot: {pysot.get('cpu', 'not given')}")
    rows = []
    with tempfile.TemporaryDirectory() as root:
        write_sequences(os.path.join(root, "data"), args.sequences, args.frames)
        videos = read_otb(os.path.join(root, "data"))
        for architecture in args.architectures:
            config = load_config(CONFIGS[architecture])
            model = build_configured_model(config)
            variables = jax.device_get(
                init_variables(model, jax.random.key(0), 127, config.track.instance_size)
            )
            reference = pysot.get(f"tracker_{architecture}", {}).get("ms_per_frame")
            for backend in args.backends:
                network = network_for(config, variables, backend)
                tracker = build_tracker(config, network)
                ms = median_track_ms(tracker, videos[0].frame_paths, videos[0].gt[0])

                def sequential(videos, out, network=network, config=config):
                    run_sequential(build_tracker(config, network), videos, out, "OTB100",
                                   progress=False)  # fmt: skip

                def lockstep(videos, out, network=network, config=config):
                    batched = BatchedTracker(build_tracker(config, network), args.sequences)
                    run_batched(batched, videos, out, "OTB100", progress=False)

                lockstep(videos[:1], os.path.join(root, f"warm-{architecture}-{backend}"))
                one = frames_per_second(sequential, videos, os.path.join(root, "s", architecture,
                                                                         backend))  # fmt: skip
                many = frames_per_second(lockstep, videos, os.path.join(root, "b", architecture,
                                                                        backend))  # fmt: skip
                ratio = f"{reference / ms:.2f}x" if reference else "-"
                rows.append((architecture, backend, ms, reference, ratio, one, many))
                print(f"{architecture} {backend}: {ms:.1f} ms/frame (pysot "
                      f"{reference or float('nan'):.1f}, {ratio}); {args.sequences} sequences: "
                      f"sequential {one:.2f} frames/s, lockstep {many:.2f} frames/s "
                      f"({many / one:.2f}x)", flush=True)  # fmt: skip
    print("\n| model | backend | ms / frame | pysot ms / frame | vs pysot | sequential fps "
          f"| {args.sequences} in lockstep fps | lockstep / sequential |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for architecture, backend, ms, reference, ratio, one, many in rows:
        pysot_ms = f"{reference:.1f}" if reference else "-"
        print(f"| {architecture} | {backend} | {ms:.1f} | {pysot_ms} | {ratio} | {one:.2f} "
              f"| {many:.2f} | {many / one:.2f}x |")  # fmt: skip


if __name__ == "__main__":
    main()
