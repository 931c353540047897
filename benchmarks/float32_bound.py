"""How fast float32 tracking can be on this CPU, against pysot's speed measured here.

    SIAMJAX_PYSOT_DIR=/path/to/pysot python benchmarks/pysot_speed.py \
        --cases tracker_r50 tracker_alex tracker_mbv2 --out pysot_speed.json
    python benchmarks/float32_bound.py --pysot-json pysot_speed.json [--frames 20]

For each released architecture:

* **GFLOP**: twice the multiply-adds of one batch-1 search call (the network of a tracked
  frame: backbone on the search crop, neck, heads, correlation), counted from the plain
  formulation's jaxpr: every convolution and matmul, padding included as every direct or
  GEMM convolution computes it. Elementwise work (BatchNorm, ReLU, the depthwise
  correlation's adds) is not counted, so the rates below are optimistic.
* **host**: siamjax's own per-frame work (crop, post-processing): the tracker timed with
  the network's search replaced by its cached output.
* **GFLOP/s for 2x pysot**: the rate the network must reach for a frame to take half of
  pysot's ms per frame: GFLOP / (pysot ms / 2 - host).
* **best backend**: the faster of siamjax's backends per frame, its ratio to pysot and
  the rate its network reaches: GFLOP / (ms - host).
* **verdict**: 2x is impossible in float32 where the needed rate is above the FMA peak
  (cores x ``--max-ghz`` x 64: two AVX-512 FMA units), above every rate reached here
  where it exceeds both the float32 matmul peak measured here (4096 x 4096 through
  numpy's BLAS, XLA and, when installed, PyTorch) and the best backend's network rate,
  and possible in principle otherwise. Convolutions computed with fewer multiplies
  (Winograd, FFT) are outside this bound; no float32 backend here uses them.

Everything in one run: compare only numbers printed together.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time

import jax
import numpy as np
from backend_speed import CONFIGS
from jax.extend import core as jax_core
from synthetic_frames import median_track_ms, write_sequences

from siamjax.backend import PLAIN
from siamjax.config_loader import load_config
from siamjax.datasets.benchmark_layout import read_otb
from siamjax.loading import build_configured_model, load_network
from siamjax.models import build_model, init_variables, make_search_fn, make_template_fn
from siamjax.tracking import build_tracker

MATMUL_SIZE = 4096
# Two AVX-512 FMA units per core: 2 x 16 float32 lanes x 2 FLOP (multiply and add).
FLOPS_PER_CYCLE = 64


def multiply_adds(jaxpr) -> int:
    """Multiply-adds of every convolution and ``dot_general`` in ``jaxpr`` (sub-jaxprs
    included): output elements x the products each sums."""
    total = 0
    for equation in jaxpr.eqns:
        name = equation.primitive.name
        output = equation.outvars[0].aval.shape if equation.outvars else ()
        if name == "conv_general_dilated":
            kernel = equation.invars[1].aval.shape
            out_features = kernel[equation.params["dimension_numbers"].rhs_spec[0]]
            total += math.prod(output) * (math.prod(kernel) // out_features)
        elif name == "dot_general":
            (contracting, _), _ = equation.params["dimension_numbers"]
            lhs = equation.invars[0].aval.shape
            total += math.prod(output) * math.prod(lhs[axis] for axis in contracting)
        for value in equation.params.values():
            for inner in value if isinstance(value, (list, tuple)) else (value,):
                if isinstance(inner, jax_core.ClosedJaxpr):
                    total += multiply_adds(inner.jaxpr)
                elif isinstance(inner, jax_core.Jaxpr):
                    total += multiply_adds(inner)
    return total


def search_gflop(config) -> float:
    """GFLOP (2 x multiply-adds) of one batch-1 search call of ``config``'s model."""
    model = build_model(config.model, PLAIN)
    exemplar, instance = config.track.exemplar_size, config.track.instance_size
    variables = jax.eval_shape(lambda: init_variables(model, jax.random.key(0), exemplar,
                                                      instance))  # fmt: skip
    template = jax.ShapeDtypeStruct((1, exemplar, exemplar, 3), np.float32)
    search = jax.ShapeDtypeStruct((1, instance, instance, 3), np.float32)
    features = jax.eval_shape(make_template_fn(model), variables, template)
    jaxpr = jax.make_jaxpr(make_search_fn(model))(variables, features, search)
    return 2 * multiply_adds(jaxpr.jaxpr) / 1e9


def _best_rate(multiply, repeats: int = 5) -> float:
    multiply()
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        multiply()
        seconds.append(time.perf_counter() - started)
    return 2 * MATMUL_SIZE**3 / min(seconds) / 1e9


def matmul_peaks() -> dict:
    """GFLOP/s of a float32 4096 x 4096 product per library, on every core."""
    rng = np.random.default_rng(0)
    a, b = (rng.random((MATMUL_SIZE, MATMUL_SIZE), np.float32) for _ in range(2))
    peaks = {"numpy": _best_rate(lambda: a @ b)}
    product = jax.jit(lambda x, y: x @ y)
    device_a, device_b = jax.device_put(a), jax.device_put(b)
    peaks["xla"] = _best_rate(lambda: product(device_a, device_b).block_until_ready())
    try:
        import torch
    except ImportError:
        return peaks
    torch.set_num_threads(os.cpu_count())
    torch_a, torch_b = torch.from_numpy(a), torch.from_numpy(b)
    peaks["torch"] = _best_rate(lambda: torch_a @ torch_b)
    return peaks


class CachedSearch:
    """A network whose search returns its first result again: the tracker around it
    does only the host work (crop, post-processing)."""

    def __init__(self, network):
        self._network = network
        self._outputs = None

    def template(self, crop):
        return self._network.template(crop)

    def search(self, features, crop):
        if self._outputs is None:
            self._outputs = self._network.search(features, crop)
        return self._outputs

    def __getattr__(self, name):
        return getattr(self._network, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--architectures", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--backends", nargs="+", default=["jax", "onnxruntime"],
                        choices=["jax", "onnxruntime"])  # fmt: skip
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--pysot-json", help="pysot_speed.py output with tracker_* cases")
    parser.add_argument(
        "--max-ghz", type=float, default=4.0, help="clock of the FMA peak (>= all-core turbo)"
    )
    args = parser.parse_args()
    pysot = {}
    if args.pysot_json:
        if not os.path.isfile(args.pysot_json):
            parser.error(f"--pysot-json {args.pysot_json}: no such file")
        with open(args.pysot_json) as stream:
            pysot = json.load(stream)
    peaks = matmul_peaks()
    peak = max(peaks.values())
    print(f"jax {jax.__version__}, {os.cpu_count()} cpus; pysot: {pysot.get('cpu', 'not given')}")
    print("float32 matmul peak, GFLOP/s: " + ", ".join(f"{k} {v:.0f}" for k, v in peaks.items()))
    rows = []
    with tempfile.TemporaryDirectory() as root:
        write_sequences(root, 1, args.frames)
        (video,) = read_otb(root)
        for architecture in args.architectures:
            config = load_config(CONFIGS[architecture])
            gflop = search_gflop(config)
            model = build_configured_model(config)
            variables = jax.device_get(
                init_variables(model, jax.random.key(0), 127, config.track.instance_size)
            )
            backend_ms, host_ms = {}, None
            for backend in args.backends:
                network = load_network(config, variables, backend=backend)
                tracker = build_tracker(config, network)
                backend_ms[backend] = median_track_ms(tracker, video.frame_paths, video.gt[0])
                if host_ms is None:
                    cached = build_tracker(config, CachedSearch(network))
                    host_ms = median_track_ms(cached, video.frame_paths, video.gt[0])
            best = min(backend_ms, key=backend_ms.get)
            reference = pysot.get(f"tracker_{architecture}", {}).get("ms_per_frame")
            rows.append((architecture, gflop, host_ms, reference, best, backend_ms[best]))
            print(
                f"{architecture}: {gflop:.1f} GFLOP, host {host_ms:.1f} ms, "
                + ", ".join(f"{k} {v:.1f} ms/frame" for k, v in backend_ms.items()),
                flush=True,
            )
    achieved = max([peak] + [gflop / max(ms - host, 1e-9) * 1e3
                             for _, gflop, host, _, _, ms in rows])  # fmt: skip
    theoretical = os.cpu_count() * args.max_ghz * FLOPS_PER_CYCLE
    print(
        f"\nfloat32 rates here: matmul peak {peak:.0f} GFLOP/s, best reached {achieved:.0f}; "
        f"FMA peak at {args.max_ghz:g} GHz: {theoretical:.0f}\n"
    )
    print(
        "| model | GFLOP / search | host ms | pysot ms / frame | GFLOP/s for 2× pysot "
        "| best backend ms / frame | vs pysot | its network GFLOP/s | 2× pysot in float32 |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for architecture, gflop, host_ms, reference, best, best_ms in rows:
        network_rate = gflop / max(best_ms - host_ms, 1e-9) * 1e3
        needed, verdict, ratio, pysot_ms = "-", "-", "-", "-"
        if reference:
            pysot_ms = f"{reference:.1f}"
            ratio = f"{reference / best_ms:.2f}×"
            needed_rate = gflop / max(reference / 2 - host_ms, 1e-9) * 1e3
            needed = f"{needed_rate:.0f}"
            if needed_rate > theoretical:
                verdict = "impossible: above the FMA peak"
            elif needed_rate > achieved:
                verdict = "above every rate reached here"
            else:
                verdict = "possible in principle"
        print(
            f"| {architecture} | {gflop:.1f} | {host_ms:.1f} | {pysot_ms} | {needed} "
            f"| {best_ms:.1f} ({best}) | {ratio} | {network_rate:.0f} | {verdict} |"
        )


if __name__ == "__main__":
    main()
