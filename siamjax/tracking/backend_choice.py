"""``--backend auto``: time the JAX and ONNX Runtime networks here and keep the faster.

On an accelerator JAX is used without timing (ONNX Runtime runs on the CPU here). On a
CPU both networks are built, each runs one warm-up and then ``calls`` batch-1 search
calls on random crops, and the one with the lower median wins; one line on stderr says
which and by how much. Which is faster depends on the CPU (oneDNN-friendly AVX-512
machines favour ONNX Runtime for some models): benchmarks/README.md.
"""

from __future__ import annotations

import sys
import time

import jax
import numpy as np

from siamjax.platforms import is_cpu
from siamjax.tracking import TrackerNetwork
from siamjax.tracking.onnx_network import OnnxTrackerNetwork


def _median_search_ms(network, exemplar: int, instance: int, calls: int) -> float:
    rng = np.random.default_rng(0)
    template = rng.uniform(0, 255, (1, exemplar, exemplar, 3)).astype(np.float32)
    search = rng.uniform(0, 255, (1, instance, instance, 3)).astype(np.float32)
    features = network.template(template)
    network.search(features, search)  # compile / session warm-up
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        network.search(features, search)
        times.append(time.perf_counter() - started)
    return 1000 * float(np.median(times))


def fastest_network(config, variables, batch_mode=None, calls: int = 3):
    jax_network = TrackerNetwork.from_config(config, variables, batch_mode)
    platform = jax.default_backend()
    if not is_cpu(platform):
        print(f"siamjax: backend auto: jax (on {platform})", file=sys.stderr)
        return jax_network
    try:
        onnx_network = OnnxTrackerNetwork.from_config(config, variables)
    except ImportError:
        print("siamjax: backend auto: jax (onnxruntime is not installed)", file=sys.stderr)
        return jax_network
    exemplar, instance = int(config.track.exemplar_size), int(config.track.instance_size)
    timed = {
        "jax": (_median_search_ms(jax_network, exemplar, instance, calls), jax_network),
        "onnxruntime": (_median_search_ms(onnx_network, exemplar, instance, calls), onnx_network),
    }
    winner = min(timed, key=lambda name: timed[name][0])
    loser = next(name for name in timed if name != winner)
    print(
        f"siamjax: backend auto: {winner} ({timed[winner][0]:.0f} ms per search call) "
        f"over {loser} ({timed[loser][0]:.0f} ms) on this CPU",
        file=sys.stderr,
    )
    return timed[winner][1]
