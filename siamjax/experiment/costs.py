"""What a variant costs: parameters and the tracker's search call on this machine."""

from __future__ import annotations

import time

import jax
import numpy as np


def parameter_counts(variables) -> dict:
    """``{'params': all, 'fusion_params': those of the correlation modules}`` (a variant
    without weights has 0 fusion parameters)."""
    total, fusion = 0, 0
    for path, leaf in jax.tree_util.tree_leaves_with_path(variables["params"]):
        size = int(np.size(leaf))
        total += size
        if any(getattr(key, "key", None) == "fusion" for key in path):
            fusion += size
    return {"params": total, "fusion_params": fusion}


def search_milliseconds(config, variables, calls: int = 20) -> float:
    """Median milliseconds of one batch-1 search call (the tracker's per-frame network
    work: backbone on the search crop, correlation, head) on the default device."""
    from siamjax.tracking.network import TrackerNetwork

    network = TrackerNetwork.from_config(config, variables)
    exemplar = int(config.track.exemplar_size)
    instance = int(config.track.instance_size)
    rng = np.random.default_rng(0)
    template = rng.uniform(0, 255, (1, exemplar, exemplar, 3)).astype(np.float32)
    crop = rng.uniform(0, 255, (1, instance, instance, 3)).astype(np.float32)
    features = network.template(template)
    network.search(features, crop)  # compile
    times = []
    for _ in range(max(int(calls), 1)):
        started = time.perf_counter()
        network.search(features, crop)
        times.append(time.perf_counter() - started)
    return float(np.median(times) * 1000)
