"""``siamjax export``: the tracker network as ``jax.export`` artifacts for CPU, GPU and TPU."""

from __future__ import annotations

from siamjax.cli.common import CommandError, add_config_argument, add_subcommand


def add_parser(subcommands) -> None:
    parser = add_subcommand(
        subcommands,
        "export",
        help="write the tracker network as jax.export artifacts (CPU, GPU, TPU) or ONNX",
        description=(
            "--format jax: lower the template and search functions, weights inside, for "
            "each platform with that platform's backend policy, and serialize them "
            "(jax.export); plain JAX loads and calls them (docs/accelerators.md). "
            "--format onnx: template and search ONNX models of the plain formulation, "
            "weights inside, for ONNX Runtime or any ONNX tool (docs/models.md). Both write "
            "a manifest.json and work on a CPU-only machine."
        ),
    )
    add_config_argument(parser)
    parser.add_argument("--checkpoint", required=True, help="orbax checkpoint directory")
    parser.add_argument("--out", required=True, help="output folder (may be gs://)")
    parser.add_argument("--format", choices=("jax", "onnx"), default="jax", help="artifact format")
    parser.add_argument(
        "--platforms",
        default="cpu,cuda,tpu",
        help="--format jax: comma-separated platforms to lower for (cpu, cuda, rocm, tpu; "
        "'gpu', as JAX names this machine's GPU, means its cuda or rocm); default: %(default)s",
    )
    parser.add_argument(
        "--batch-sizes",
        default="1",
        help="comma-separated batch sizes, one artifact each; default: %(default)s",
    )
    parser.set_defaults(handler=run)


def run(args, overrides) -> int:
    from siamjax.export.jax_artifacts import export_tracker, parse_platforms
    from siamjax.loading import load_model

    try:
        platforms = parse_platforms(args.platforms)
    except ValueError as error:
        raise CommandError(str(error)) from error
    sizes = [size.strip() for size in args.batch_sizes.split(",")]
    if not all(size.isdigit() and int(size) > 0 for size in sizes):
        raise CommandError(f"--batch-sizes {args.batch_sizes!r}: expected positive integers")
    batch_sizes = tuple(int(size) for size in sizes)
    _, variables, config = load_model(args.config, args.checkpoint, overrides)
    if args.format == "onnx":
        from siamjax.export.onnx import OnnxExportError, export_onnx

        try:
            manifest = export_onnx(config, variables, args.out, batch_sizes)
        except (OnnxExportError, ImportError) as error:
            raise CommandError(f"ONNX export of {config.name}: {error}") from error
    else:
        manifest = export_tracker(config, variables, args.out, platforms, batch_sizes)
    print(f"{len(manifest['artifacts'])} artifacts and manifest.json written to {args.out}")
    return 0
