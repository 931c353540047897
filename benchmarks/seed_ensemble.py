"""Seed ensembles: K seeds trained as one vmapped, jitted step against K separate steps.

    python benchmarks/seed_ensemble.py [--config configs/quickstart.py] [--members 3] \
        [--variants depthwise cross_attention] [--steps 5]

For each correlation variant: the median wall time of one train step of each of K
separately initialised models (run one after another, as K sequential runs would) and of
one ensemble step that trains all K at once (``siamjax/train/step.py``, ``members=K``),
on one device with the config's batch; random crops (speed does not depend on them).
Prints a markdown table; the speed-up is sequential time / ensemble time.
"""

from __future__ import annotations

import argparse
import os
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _median_seconds(step, steps: int) -> float:
    import numpy as np

    step()  # warm-up
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def measure(config, members: int, steps: int) -> dict:
    """Seconds for one step of all ``members`` models: sequentially and as an ensemble."""
    import jax

    from siamjax.backend import resolve_policy
    from siamjax.data.batch_format import random_batch
    from siamjax.models import build_model
    from siamjax.train.loop import ensemble_state, single_state
    from siamjax.train.optim import make_optimizer
    from siamjax.train.step import batch_sharding, compile_train_step, data_mesh

    policy = resolve_policy(config)
    model = build_model(config.model, policy.formulation)
    optimizer, _ = make_optimizer(config)
    mesh = data_mesh(jax.devices()[:1])
    batch = random_batch(int(config.train.batch_size), int(config.input.exemplar_size),
                         int(config.input.search_size))  # fmt: skip
    batch = jax.device_put(batch, batch_sharding(mesh))
    seeds = list(range(members))

    single_step = compile_train_step(model, config, optimizer, mesh, 1, policy=policy)
    states = [single_state(model, config, optimizer, mesh, 1, seed, policy) for seed in seeds]

    def sequential():
        for index, state in enumerate(states):
            states[index], metrics = single_step(state, batch)
            jax.block_until_ready(metrics)

    ensemble_step = compile_train_step(
        model, config, optimizer, mesh, 1, policy=policy, members=members
    )
    holder = [ensemble_state(model, config, optimizer, mesh, 1, seeds, policy)]

    def ensemble():
        holder[0], metrics = ensemble_step(holder[0], batch)
        jax.block_until_ready(metrics)

    sequential_seconds = _median_seconds(sequential, steps)
    ensemble_seconds = _median_seconds(ensemble, steps)
    return {
        "sequential_s": sequential_seconds,
        "ensemble_s": ensemble_seconds,
        "speedup": sequential_seconds / ensemble_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=os.path.join(ROOT, "configs", "quickstart.py"))
    parser.add_argument("--members", type=int, default=3, help="seeds K")
    parser.add_argument("--variants", nargs="+", default=["depthwise"],
                        help="config.model.rpn.correlation values")  # fmt: skip
    parser.add_argument("--steps", type=int, default=5, help="timed steps after a warm-up")
    parser.add_argument("--how", nargs="+", default=["unrolled", "vectorized"],
                        help="config.backend.seed_ensemble values to time")  # fmt: skip
    args = parser.parse_args()

    import jax

    from siamjax.config_loader import load_config

    print(f"{jax.devices()[0].device_kind} x1, K={args.members}, config {args.config}")
    print("| variant | seed_ensemble | K sequential steps (s) | one ensemble step (s) | speed-up |")
    print("| --- | --- | --- | --- | --- |")
    for variant in args.variants:
        for how in args.how:
            config = load_config(args.config)
            config.model.rpn.correlation = variant
            config.backend.seed_ensemble = how
            result = measure(config, args.members, args.steps)
            row = (
                f"| {variant} | {how} | {result['sequential_s']:.3f} | "
                f"{result['ensemble_s']:.3f} | {result['speedup']:.2f}x |"
            )
            print(row, flush=True)


if __name__ == "__main__":
    main()
