"""``siamjax info``: build a config's model, print its parts and run one forward."""

from __future__ import annotations

from siamjax.cli.common import CommandError, add_config_argument, add_subcommand


def add_parser(subcommands) -> None:
    parser = add_subcommand(
        subcommands,
        "info",
        help="build a config's model, print its parts and run one forward",
        description=(
            "Build the model a config describes, print parameter counts per part and the "
            "feature-map sizes, and run one template + search forward on random BGR crops "
            "(or on the weights of --checkpoint)."
        ),
    )
    add_config_argument(parser)
    parser.add_argument("--checkpoint", help="orbax checkpoint directory (default: random init)")
    parser.add_argument("--batch", type=int, default=1, help="batch size of the forward")
    parser.set_defaults(handler=run)


def run(args, overrides) -> int:
    import time

    import jax
    import numpy as np

    from siamjax.loading import build_configured_model, load_checkpoint, resolve_config
    from siamjax.models import init_variables, make_search_fn, make_template_fn

    config = resolve_config(args.config, overrides)
    model = build_configured_model(config)
    exemplar, instance = config.track.exemplar_size, config.track.instance_size
    if args.checkpoint:
        variables = load_checkpoint(args.checkpoint, model)
    else:
        variables = init_variables(model, jax.random.key(config.seed), exemplar, instance)
    params = variables["params"]
    print(f"config {config.name}: {args.config}")
    total = 0
    for part in params:
        count = sum(int(x.size) for x in jax.tree_util.tree_leaves(params[part]))
        total += count
        print(f"  {part:<10} {count:>12,} parameters")
    print(f"  {'total':<10} {total:>12,} parameters")
    rng = np.random.default_rng(0)
    template = rng.uniform(0, 255, (args.batch, exemplar, exemplar, 3)).astype(np.float32)
    search = rng.uniform(0, 255, (args.batch, instance, instance, 3)).astype(np.float32)
    template_fn = jax.jit(make_template_fn(model))
    search_fn = jax.jit(make_search_fn(model))
    features = jax.block_until_ready(template_fn(variables, template))
    outputs = jax.block_until_ready(search_fn(variables, features, search))
    start = time.perf_counter()
    outputs = jax.block_until_ready(search_fn(variables, features, search))
    elapsed = time.perf_counter() - start
    for key in sorted(features):
        print(f"  template features {key}: {tuple(features[key].shape)}")
    for key in ("scores", "deltas"):
        print(f"  {key}: {tuple(outputs[key].shape)}")
    finite = all(bool(np.isfinite(np.asarray(v)).all()) for v in outputs.values())
    print(f"  search call: {elapsed * 1000:.0f} ms (batch {args.batch}, after warm-up)")
    if not finite:
        raise CommandError("the forward produced non-finite values")
    return 0
