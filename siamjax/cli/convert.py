"""``siamjax convert``: a pysot .pth checkpoint -> an orbax checkpoint, without PyTorch."""

from __future__ import annotations

import hashlib

from siamjax import fs
from siamjax.cli.common import CommandError, add_config_argument, add_subcommand


def add_parser(subcommands) -> None:
    parser = add_subcommand(
        subcommands,
        "convert",
        help="convert a pysot .pth checkpoint into an orbax checkpoint",
        description=(
            "Convert pysot weights without PyTorch. --pysot takes a released tracker model "
            "(state_dict or {'state_dict': ...}) and requires every key to match the config's "
            "architecture; --imagenet takes an ImageNet backbone for training initialisation, "
            "loads the keys that match and lists everything it did not map."
        ),
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--pysot", metavar="MODEL.pth", help="pysot tracker checkpoint")
    source.add_argument("--imagenet", metavar="BACKBONE.pth", help="ImageNet backbone checkpoint")
    add_config_argument(parser)
    parser.add_argument("--out", required=True, help="output orbax checkpoint directory")
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    parser.add_argument(
        "--seed", type=int, default=0, help="init seed for what --imagenet does not load"
    )
    parser.add_argument("--report", help="write the --imagenet mapping report to this JSON file")
    parser.set_defaults(handler=run)


def run(args, overrides) -> int:
    import jax
    import jax.numpy as jnp

    from siamjax.checkpoints import save_variables
    from siamjax.loading import build_configured_model, resolve_config
    from siamjax.models import init_variables
    from siamjax.models.convert import ConversionError, merge_pretrained_backbone, pysot_to_flax
    from siamjax.models.pth import PthError, load_pth

    config = resolve_config(args.config, overrides)
    model = build_configured_model(config)
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
            fs.write_json(args.report, report)
        if not report["loaded"]:
            raise CommandError(f"{source}: no backbone key matched the model; nothing loaded")
    return 0


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
