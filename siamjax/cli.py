"""The ``siamjax`` console command. Subcommands: ``info``, ``convert``.

Every subcommand takes ``--config path.py[:arg]`` plus any ``--config.a.b=value``
overrides of that config.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys

from siamjax.config_loader import ConfigError, apply_overrides, load_config, split_config_args


class CommandError(Exception):
    """A user error: printed without a traceback, exit status 2."""


def _add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        required=True,
        help="config file, e.g. configs/siamrpn_r50_l234_dwxcorr.py; "
        "override fields with --config.a.b=value",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="siamjax",
        description="SiamRPN++ in JAX/Flax: convert, track, evaluate and train.",
    )
    subcommands = parser.add_subparsers(dest="command", required=True)

    info = subcommands.add_parser(
        "info",
        help="build a config's model, print its parts and run one forward",
        description=(
            "Build the model a config describes, print parameter counts per part and the "
            "feature-map sizes, and run one template + search forward on random BGR crops "
            "(or on the weights of --checkpoint)."
        ),
    )
    _add_config_argument(info)
    info.add_argument("--checkpoint", help="orbax checkpoint directory (default: random init)")
    info.add_argument("--batch", type=int, default=1, help="batch size of the forward")
    info.set_defaults(handler=run_info)

    convert = subcommands.add_parser(
        "convert",
        help="convert a pysot .pth checkpoint into an orbax checkpoint",
        description=(
            "Convert pysot weights without PyTorch. --pysot takes a released tracker model "
            "(state_dict or {'state_dict': ...}) and requires every key to match the config's "
            "architecture; --imagenet takes an ImageNet backbone for training initialisation, "
            "loads the keys that match and lists everything it did not map."
        ),
    )
    source = convert.add_mutually_exclusive_group(required=True)
    source.add_argument("--pysot", metavar="MODEL.pth", help="pysot tracker checkpoint")
    source.add_argument("--imagenet", metavar="BACKBONE.pth", help="ImageNet backbone checkpoint")
    _add_config_argument(convert)
    convert.add_argument("--out", required=True, help="output orbax checkpoint directory")
    convert.add_argument("--force", action="store_true", help="replace --out if it exists")
    convert.add_argument(
        "--seed", type=int, default=0, help="init seed for what --imagenet does not load"
    )
    convert.add_argument("--report", help="write the --imagenet mapping report to this JSON file")
    convert.set_defaults(handler=run_convert)
    return parser


def run_convert(args, overrides) -> int:
    import jax
    import jax.numpy as jnp

    from siamjax.checkpoints import save_variables
    from siamjax.models import build_model, init_variables
    from siamjax.models.convert import ConversionError, merge_pretrained_backbone, pysot_to_flax
    from siamjax.models.pth import PthError, load_pth

    config = apply_overrides(load_config(args.config), overrides)
    model = build_model(config.model)
    exemplar, instance = config.track.exemplar_size, config.track.instance_size
    source = args.pysot or args.imagenet
    try:
        checkpoint = load_pth(source)
        if args.pysot:
            shapes = jax.eval_shape(
                model.init,
                jax.random.key(0),
                jnp.zeros((1, exemplar, exemplar, 3)),
                jnp.zeros((1, instance, instance, 3)),
            )
            variables = pysot_to_flax(checkpoint, shapes)
            report = None
        else:
            initial = init_variables(model, jax.random.key(args.seed), exemplar, instance)
            variables, report = merge_pretrained_backbone(checkpoint, initial)
    except (PthError, ConversionError) as error:
        raise CommandError(f"{source}: {error}") from error
    try:
        path = save_variables(args.out, variables, overwrite=args.force)
    except FileExistsError as error:
        raise CommandError(str(error)) from error
    count = sum(int(x.size) for x in jax.tree_util.tree_leaves(variables["params"]))
    print(f"converted {source} (sha256 {_sha256(source)[:16]}) for config {config.name}")
    print(f"  {count:,} parameters -> {path}")
    if report is not None:
        for key in ("loaded", "shape_mismatch", "unused_in_checkpoint", "not_in_checkpoint"):
            print(f"  {key}: {len(report[key])}")
            for entry in report[key] if key != "loaded" else []:
                print(f"    {entry}")
        if args.report:
            with open(args.report, "w") as stream:
                json.dump(report, stream, indent=2)
        if not report["loaded"]:
            raise CommandError(f"{source}: no backbone key matched the model; nothing loaded")
    return 0


def run_info(args, overrides) -> int:
    import time

    import jax
    import numpy as np

    from siamjax.checkpoints import load_variables
    from siamjax.models import build_model, init_variables, make_search_fn, make_template_fn

    config = apply_overrides(load_config(args.config), overrides)
    model = build_model(config.model)
    exemplar, instance = config.track.exemplar_size, config.track.instance_size
    if args.checkpoint:
        variables = load_variables(args.checkpoint)
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


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        argv, overrides = split_config_args(argv)
    except ConfigError as error:
        print(f"siamjax: error: {error}", file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args, overrides)
    except (CommandError, ConfigError) as error:
        print(f"siamjax {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
