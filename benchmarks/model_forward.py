"""Forward-pass speed: ms per template and per search call, and achieved GFLOP/s.

    python benchmarks/model_forward.py                      # all released configs
    python benchmarks/model_forward.py --configs siamrpn_alex_dwxcorr --batches 1
    python benchmarks/model_forward.py --xla-flags=--xla_cpu_multi_thread_eigen=false

Times are medians over ``--repeats`` calls after two warm-up calls (compilation excluded).
FLOPs come from XLA's cost analysis of the compiled call. The pysot column is the
reference measured on the 2-core development machine (PyTorch, 2 threads, batch 1,
the reference measurements), or on this machine with ``--pysot-json`` (written by
``benchmarks/pysot_speed.py``; CPUs differ, so prefer it); ratio = pysot ms / siamjax ms
(> 1 means siamjax is faster).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

# pysot's batch-1 search call on the development machine (ms), from the reference measurements.
PYSOT_SEARCH_MS = {
    "siamrpn_r50_l234_dwxcorr": 782.0,
    "siamrpn_alex_dwxcorr": 142.0,
    "siamrpn_mobilev2_l234_dwxcorr": 176.0,
}
PYSOT_TEMPLATE_MS = {"siamrpn_r50_l234_dwxcorr": 252.0}
DEFAULT_CONFIGS = (
    "siamrpn_r50_l234_dwxcorr",
    "siamrpn_r50_l234_dwxcorr_lt",
    "siamrpn_alex_dwxcorr",
    "siamrpn_mobilev2_l234_dwxcorr",
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", default=list(DEFAULT_CONFIGS))
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--pysot-json", help="pysot timings of this machine (pysot_speed.py)")
    parser.add_argument("--xla-flags", default=None, help="XLA_FLAGS for this run")
    parser.add_argument("--correlation", default=None, help="override config.model.rpn.correlation")
    return parser.parse_args(argv)


def _time(fn, args, repeats):
    import jax

    for _ in range(2):
        jax.block_until_ready(fn(*args))
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def _flops(jitted, *args):
    cost = jitted.lower(*args).compile().cost_analysis()
    if isinstance(cost, list):
        cost = cost[0]
    return float(cost.get("flops", 0.0)) if cost else 0.0


def main(argv=None):
    args = parse_args(argv)
    if args.xla_flags is not None:
        os.environ["XLA_FLAGS"] = args.xla_flags
    import jax
    import numpy as np

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path.insert(0, repo)
    from siamjax.config_loader import load_config
    from siamjax.models import build_model, init_variables, make_search_fn, make_template_fn

    reference_ms, reference_source = dict(PYSOT_SEARCH_MS), "reference machine"
    if args.pysot_json:
        import json

        with open(args.pysot_json) as stream:
            measured = json.load(stream)
        cases = {"siamrpn_r50_l234_dwxcorr": "search_r50", "siamrpn_alex_dwxcorr": "search_alex",
                 "siamrpn_mobilev2_l234_dwxcorr": "search_mbv2"}  # fmt: skip
        reference_ms = {name: measured[case]["ms"] for name, case in cases.items()
                        if case in measured}  # fmt: skip
        reference_source = f"this machine: {measured.get('cpu', '?')}"
    flags = os.environ.get("XLA_FLAGS", "")
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}, {os.cpu_count()} cores, "
          f"XLA_FLAGS={flags!r}, correlation={args.correlation}")  # fmt: skip
    header = f"{'config':<32}{'batch':>6}{'template ms':>13}{'search ms':>11}"
    header += f"{'GFLOP':>8}{'GFLOP/s':>9}{'pysot ms':>10}{'ratio':>7}"
    print(header)
    print(f"(pysot ms: {reference_source})")
    rng = np.random.default_rng(0)
    for name in args.configs:
        config = load_config(os.path.join(repo, "configs", f"{name}.py"))
        if args.correlation:
            config.model.rpn.correlation = args.correlation
        model = build_model(config.model)
        exemplar, instance = config.track.exemplar_size, config.track.instance_size
        variables = init_variables(model, jax.random.key(0), exemplar, instance)
        template_fn = jax.jit(make_template_fn(model))
        search_fn = jax.jit(make_search_fn(model))
        for batch in args.batches:
            template = rng.uniform(0, 255, (batch, exemplar, exemplar, 3)).astype(np.float32)
            search = rng.uniform(0, 255, (batch, instance, instance, 3)).astype(np.float32)
            features = jax.block_until_ready(template_fn(variables, template))
            template_s = _time(template_fn, (variables, template), args.repeats)
            search_s = _time(search_fn, (variables, features, search), args.repeats)
            gflop = _flops(search_fn, variables, features, search) / 1e9
            reference = reference_ms.get(name) if batch == 1 else None
            line = f"{name:<32}{batch:>6}{template_s * 1e3:>13.1f}{search_s * 1e3:>11.1f}"
            line += f"{gflop:>8.1f}{gflop / search_s:>9.1f}"
            line += f"{reference:>10.0f}{reference / (search_s * 1e3):>7.2f}" if reference else ""
            print(line, flush=True)


if __name__ == "__main__":
    main()
