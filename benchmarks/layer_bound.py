"""Could a faster convolution kernel on this CPU take float32 tracking to 2x pysot?

    SIAMJAX_PYSOT_DIR=/path/to/pysot python benchmarks/layer_bound.py \
        [--architectures mbv2 alex r50] [--frames 30] [--passes 2] [--repeats 15] [--layers]

``float32_bound.py`` bounds a frame by its arithmetic and the matmul peak. This bound is
empirical and per layer. For each architecture, in one process:

1. pysot's tracker and siamjax's ONNX Runtime tracker, the same weights, taking turns
   pass by pass (``paired_speed.py --order passes``): ms per frame of each.
2. The search session that tracker runs, under ONNX Runtime's profiler: each node's
   kernel ms inside the network.
3. Every convolution of that session alone, as the other libraries here compute it:
   oneDNN through PyTorch in its blocked layout, NHWC and NCHW; XLA:CPU (NHWC); and,
   for a dense convolution, its GEMM alone (PyTorch and numpy: output pixels x (input
   channels x kernel area) x output channels), without the im2col a GEMM convolution
   also pays. Inputs are padded beforehand, so no padding is timed. The profiled
   session calls are spread between these timings and every time is the fastest seen,
   so that the host's speed drifting during the run favours no library.
4. The bound: the paired frame with its network part (the frame less siamjax's host
   work: crop and post-processing, timed with the search output cached) scaled by
   (every convolution at the fastest of those times + ONNX Runtime's other nodes) /
   (ONNX Runtime's nodes). Kernels timed alone run with warm caches and without their
   fused bias / activation, so no backend built from these kernels is faster.

Shapes are the session's: channel counts that are no multiple of ONNX Runtime's blocked
width are padded to one (MobileNetV2's backbone, every head's last layers; the FLOP
column counts the padded work). Kernels that compute fewer
multiplies (Winograd, FFT) are outside the bound: no float32 library here uses them.
Everything in one run: compare only numbers printed together.
"""

from __future__ import annotations

import argparse
import collections
import copy
import json
import os
import sys
import tempfile
import time
import warnings

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from backend_speed import CONFIGS  # noqa: E402
from float32_bound import CachedSearch  # noqa: E402
from paired_speed import (  # noqa: E402
    INIT_BOX,
    PAUSE_S,
    alternating_passes,
    read_frames,
    require_reference,
    shared_trackers,
)
from synthetic_frames import median_track_ms, write_sequences  # noqa: E402

from siamjax.config_loader import load_config  # noqa: E402
from siamjax.tracking import build_tracker  # noqa: E402
from siamjax.tracking.onnx_network import session_options  # noqa: E402

CONV_OPS = ("Conv", "FusedConv", "NchwcConv")
WARM_UP_CALLS = 3
LIBRARIES = ("onednn_blocked", "onednn_nhwc", "onednn_nchw", "xla", "gemm_torch", "gemm_numpy")


class ProfiledSearch:
    """The search session ``network`` runs for ``features`` (its model, options and
    threads) under ONNX Runtime's profiler, fed ``crop`` (1, X, X, 3) on every call."""

    def __init__(self, network, features: dict, crop: np.ndarray, directory: str, tag: str):
        import onnxruntime

        proto, _ = network.search_model(features, len(crop), crop.shape[1])
        options = session_options(network.threads)
        options.enable_profiling = True
        options.profile_file_prefix = os.path.join(directory, tag)
        self.optimised_path = os.path.join(directory, f"{tag}.onnx")
        options.optimized_model_filepath = self.optimised_path
        self.session = onnxruntime.InferenceSession(
            proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        self.feeds = {"search": np.ascontiguousarray(crop, np.float32)}
        for argument in self.session.get_inputs():
            if argument.name.startswith("template_"):
                self.feeds[argument.name] = np.ascontiguousarray(features[argument.name[9:]])
        for _ in range(WARM_UP_CALLS):
            self.call()

    def call(self) -> None:
        self.session.run(None, self.feeds)

    def nodes(self) -> list[dict]:
        """Ends the profile: [{'name', 'op', 'ms' (the node's fastest kernel time over the
        calls after the warm-up), 'inputs', 'outputs' (shapes), 'attributes' (of the
        optimised graph's node)}] in execution order."""
        import onnx

        with open(self.session.end_profiling()) as stream:
            events = json.load(stream)
        attributes = {
            node.name: {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            for node in onnx.load(self.optimised_path).graph.node
        }
        durations, nodes = collections.defaultdict(list), {}
        for event in events:
            if event.get("cat") != "Node" or not event["name"].endswith("_kernel_time"):
                continue
            name = event["name"][: -len("_kernel_time")]
            durations[name].append(event["dur"] / 1000)
            shapes = {
                key: [list(entry.values())[0] for entry in event["args"][f"{key[:-1]}_type_shape"]]
                for key in ("inputs", "outputs")
            }
            nodes.setdefault(name, {"name": name, "op": event["args"]["op_name"], **shapes,
                                    "attributes": attributes.get(name, {})})  # fmt: skip
        for name, node in nodes.items():
            node["ms"] = min(durations[name][WARM_UP_CALLS:] or durations[name])
        return list(nodes.values())


def best_ms(call, repeats: int) -> float:
    """The fastest of ``repeats`` calls, in ms, after a pause (the previous library's
    worker threads may still spin) and two warm-up calls."""
    time.sleep(PAUSE_S)
    call()
    call()
    fastest = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        fastest = min(fastest, time.perf_counter() - started)
    return 1000 * fastest


def alone_ms(node: dict, repeats: int) -> dict:
    """{library: ms} of the convolution ``node`` computed alone by each library here."""
    import torch

    with warnings.catch_warnings():  # its modules use the deprecated torch.jit.script_method
        warnings.simplefilter("ignore", DeprecationWarning)
        import torch.utils.mkldnn

    input_shape, weight_shape = node["inputs"][0], node["inputs"][1]
    attributes = node["attributes"]
    strides = tuple(attributes.get("strides", (1, 1)))
    dilations = tuple(attributes.get("dilations", (1, 1)))
    top, left, bottom, right = attributes.get("pads", (0, 0, 0, 0))
    # A node the optimised graph does not name keeps ONNX's defaults but its group.
    groups = int(attributes.get("group", input_shape[1] // weight_shape[1]))
    generator = torch.Generator().manual_seed(0)
    padded = torch.nn.functional.pad(
        torch.randn(*input_shape, generator=generator), (left, right, top, bottom)
    )
    out_channels, in_per_group, kernel_h, kernel_w = weight_shape
    conv = torch.nn.Conv2d(in_per_group * groups, out_channels, (kernel_h, kernel_w), strides,
                           0, dilations, groups).eval()  # fmt: skip
    times = {}
    with torch.no_grad():
        output = conv(padded)
    if list(output.shape) != node["outputs"][0]:  # the attributes were misread
        raise RuntimeError(f"{node['name']}: rebuilt as {conv}, output {list(output.shape)} "
                           f"where the session's is {node['outputs'][0]}")  # fmt: skip
    with torch.no_grad():
        blocked, blocked_input = torch.utils.mkldnn.to_mkldnn(conv), padded.to_mkldnn()
        times["onednn_blocked"] = best_ms(lambda: blocked(blocked_input), repeats)
        nhwc = copy.deepcopy(conv).to(memory_format=torch.channels_last)
        nhwc_input = padded.contiguous(memory_format=torch.channels_last)
        times["onednn_nhwc"] = best_ms(lambda: nhwc(nhwc_input), repeats)
        times["onednn_nchw"] = best_ms(lambda: conv(padded), repeats)
    lhs = jax.device_put(padded.permute(0, 2, 3, 1).numpy())
    rhs = jax.device_put(conv.weight.detach().permute(2, 3, 1, 0).numpy())
    dimensions = ("NHWC", "HWIO", "NHWC")
    xla_conv = jax.jit(lambda x, w: jax.lax.conv_general_dilated(
        x, w, strides, "VALID", rhs_dilation=dilations, dimension_numbers=dimensions,
        feature_group_count=groups))  # fmt: skip
    times["xla"] = best_ms(lambda: xla_conv(lhs, rhs).block_until_ready(), repeats)
    if groups == 1:
        pixels = output.shape[0] * output.shape[2] * output.shape[3]
        patches = torch.randn(pixels, in_per_group * kernel_h * kernel_w, generator=generator)
        weights = torch.randn(patches.shape[1], out_channels, generator=generator)
        times["gemm_torch"] = best_ms(lambda: torch.mm(patches, weights), repeats)
        patches_np, weights_np = patches.numpy(), weights.numpy()
        times["gemm_numpy"] = best_ms(lambda: patches_np @ weights_np, repeats)
    node["gflop"] = 2 * output.numel() * in_per_group * kernel_h * kernel_w / 1e9
    return times


def layer_kind(node: dict) -> str:
    if node["inputs"][1][1] != node["inputs"][0][1]:  # fewer input channels per group
        return "depthwise"
    return "1x1" if node["inputs"][1][2:] == [1, 1] else "k x k dense"


def layer_times(network, features: dict, crop: np.ndarray, repeats: int,
                calls_between: int) -> list[dict]:  # fmt: skip
    """The search session's nodes (``ProfiledSearch.nodes``), each convolution with
    ``node['times']`` {library: ms} and ``node['kind']``. The session's profiled calls
    are spread between the kernels' timings (``calls_between`` after each convolution),
    and every time is the fastest seen, so that a drift of the host's speed during the
    run favours no library."""
    with tempfile.TemporaryDirectory() as directory:
        first = ProfiledSearch(network, features, crop, directory, "shapes")
        first.call()
        nodes = first.nodes()
        profiled = ProfiledSearch(network, features, crop, directory, "interleaved")
        for node in nodes:
            if node["op"] in CONV_OPS:
                node["times"] = alone_ms(node, repeats)
                node["kind"] = layer_kind(node)
                time.sleep(PAUSE_S)
                for _ in range(calls_between):
                    profiled.call()
        in_network = {node["name"]: node["ms"] for node in profiled.nodes()}
    for node in nodes:
        node["ms"] = in_network[node["name"]]
        if "times" in node:
            node["times"]["onnxruntime"] = node["ms"]
    return nodes


def print_layers(nodes: list[dict]) -> None:
    """One row a convolution: its shapes and each library's ms."""
    print("| input | weight | " + " | ".join(("onnxruntime", *LIBRARIES)) + " |")
    print("| --- " * (len(LIBRARIES) + 3) + "|")
    for node in nodes:
        if "times" in node:
            cells = [f"{node['times'][c]:.2f}" if c in node["times"] else "–"
                     for c in ("onnxruntime", *LIBRARIES)]  # fmt: skip
            print(f"| {node['inputs'][0]} | {node['inputs'][1]} | " + " | ".join(cells) + " |")


def report(architecture: str, nodes: list[dict], pysot_ms: float, ours_ms: float,
           host_ms: float) -> None:  # fmt: skip
    """Prints the per-kind table and the bound. The paired frame's network part (frame
    minus host work) is scaled by (fastest kernels + other nodes) / (all of ONNX
    Runtime's nodes), both timed together, so that the bound does not mix the paired
    run's hour with the profile's."""
    columns = ("onnxruntime", *LIBRARIES, "fastest")
    sums = collections.defaultdict(collections.Counter)
    gflop, counts, other_ms = collections.Counter(), collections.Counter(), 0.0
    for node in nodes:
        if "times" not in node:
            other_ms += node["ms"]
            continue
        kind = node["kind"]
        counts[kind] += 1
        gflop[kind] += node["gflop"]
        sums[kind].update(node["times"])
        sums[kind]["fastest"] += min(node["times"].values())
    ort_ms = sum(sums[kind]["onnxruntime"] for kind in sums) + other_ms
    fastest_ms = sum(sums[kind]["fastest"] for kind in sums) + other_ms
    bound_ms = host_ms + (ours_ms - host_ms) * fastest_ms / ort_ms
    print(f"\n{architecture}: pysot {pysot_ms:.1f} ms / frame, siamjax onnxruntime "
          f"{ours_ms:.1f} ({pysot_ms / ours_ms:.2f}×), taking turns in one run; "
          f"kernel ms per search call:")  # fmt: skip
    print("| layers | count | GFLOP | " + " | ".join(columns) + " |")
    print("| --- " * (len(columns) + 3) + "|")
    for kind in sorted(sums):
        cells = [f"{sums[kind][c]:.1f}" if c in sums[kind] else "–" for c in columns]
        print(f"| {kind} | {counts[kind]} | {gflop[kind]:.2f} | " + " | ".join(cells) + " |")
    print(f"| other nodes | | | {other_ms:.1f} |" + " |" * (len(columns) - 1))
    print(
        f"fastest kernels: {fastest_ms:.1f} ms against onnxruntime's {ort_ms:.1f} "
        f"({fastest_ms / ort_ms:.2f}); host work {host_ms:.1f} ms. Bound: "
        f"{bound_ms:.1f} ms / frame = {pysot_ms / bound_ms:.2f}× pysot at most "
        f"(2× needs {pysot_ms / 2:.1f} ms)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--architectures", nargs="+", default=["mbv2"], choices=list(CONFIGS))
    parser.add_argument("--frames", type=int, default=30, help="frames tracked by both")
    parser.add_argument("--passes", type=int, default=2, help="rounds of the paired timing")
    parser.add_argument("--repeats", type=int, default=15, help="timed calls per kernel")
    parser.add_argument("--calls-between", type=int, default=2,
                        help="profiled search calls after each convolution's timings")  # fmt: skip
    parser.add_argument("--layers", action="store_true", help="also a row per convolution")
    args = parser.parse_args()
    require_reference(parser)
    import torch

    torch.set_num_threads(2)  # as pysot's tracker runs in paired_speed.py
    print(f"jax {jax.__version__}, torch {torch.__version__}, {os.cpu_count()} cpus")
    with tempfile.TemporaryDirectory() as root:
        write_sequences(root, 1, args.frames)
        frames = read_frames(root)
        folder = os.path.join(root, "Seq0", "img")
        frame_paths = [os.path.join(folder, name) for name in sorted(os.listdir(folder))]
        for architecture in args.architectures:
            config = load_config(CONFIGS[architecture])
            trackers = shared_trackers(architecture, config, ["onnxruntime"])
            times, _ = alternating_passes(trackers, frames, args.passes)
            tracker = trackers["onnxruntime"]
            crop, _ = tracker.search_crop(frames[-1], tracker.state)
            nodes = layer_times(tracker.network, tracker.template_features, crop[None],
                                args.repeats, args.calls_between)  # fmt: skip
            cached = build_tracker(config, CachedSearch(tracker.network))
            host_ms = median_track_ms(cached, frame_paths, INIT_BOX)
            if args.layers:
                print_layers(nodes)
            report(architecture, nodes, float(np.median(times["pysot"])),
                   float(np.median(times["onnxruntime"])), host_ms)  # fmt: skip


if __name__ == "__main__":
    main()
