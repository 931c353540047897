"""What a variant costs: parameters and the tracker's search call on this machine."""

from __future__ import annotations

import time

import jax
import numpy as np

from siamjax.tracking.network import TrackerNetwork

# The head's convolutions on each side of the correlation: depthwise heads
# (``DepthwiseXCorr``) and the up-channel head (``UPChannelRPN``).
TEMPLATE_BRANCH = frozenset({"conv_kernel", "template_cls_conv", "template_loc_conv"})
SEARCH_BRANCH = frozenset({"conv_search", "search_cls_conv", "search_loc_conv"})


def parameter_counts(variables) -> dict:
    """``{'params': all, 'fusion_params': those of the correlation modules,
    'template_branch_params' / 'search_branch_params': the head's convolutions before the
    correlation on the template / search side}`` (the SiamRPN++ paper's imbalance
    argument: the up-channel head puts most of its weights on the template side)."""
    counts = dict.fromkeys(("params", "fusion_params", "template_branch_params",
                            "search_branch_params"), 0)  # fmt: skip
    for path, leaf in jax.tree_util.tree_leaves_with_path(variables["params"]):
        size = int(np.size(leaf))
        names = {getattr(key, "key", None) for key in path}
        counts["params"] += size
        counts["fusion_params"] += size if "fusion" in names else 0
        counts["template_branch_params"] += size if names & TEMPLATE_BRANCH else 0
        counts["search_branch_params"] += size if names & SEARCH_BRANCH else 0
    return counts


def search_milliseconds(config, variables, calls: int = 20) -> float:
    """Median milliseconds of one batch-1 search call (the tracker's per-frame network
    work: backbone on the search crop, correlation, head) on the default device."""
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
