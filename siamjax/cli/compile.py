"""``siamjax compile``: compile a config's programs for a TPU slice or GPU nodes on any
machine, and size them (memory, FLOPs, bytes, collectives, a roofline bound)."""

from __future__ import annotations

import json

from siamjax.cli.common import CommandError, add_config_argument, add_subcommand


def add_parser(subcommands) -> None:
    parser = add_subcommand(
        subcommands,
        "compile",
        help="compile the train steps and tracker network for a TPU slice or GPU nodes, "
        "without the devices, and report their memory, counts and time bound",
        description=(
            "Compiles, here and without any accelerator, the programs `siamjax train` (each "
            "phase of the recipe) and the tracker network (template; search at batch 1, 8, "
            "32) would run on TARGET, with the backend policy and mesh they would use there, "
            "and reports per program and chip: memory against the chip's, the compiler's FLOP "
            "and byte counts, the collectives, and a roofline bound on its time. Needs JAX's "
            'accelerator extra: pip install -e ".[tpu]" for TPU targets, ".[cuda]" for GPU '
            "targets. Exits 2 when a program does not fit (after the report)."
        ),
    )
    add_config_argument(parser)
    parser.add_argument(
        "--target",
        required=True,
        help="a TPU slice as Cloud TPU names it (v4-8, v5p-8, v5e-8, v5e-256, v6e-8; v4/v5p "
        "count TensorCores, v5e/v6e chips) or NVIDIA nodes (h100x8, h200x8, a100x8; "
        "h100x8x2 for two nodes)",
    )
    parser.add_argument(
        "--phase", type=int, choices=(0, 1), help="only this training phase (default: every phase)"
    )
    parser.add_argument(
        "--per-chip-batch",
        type=int,
        help="global batch = this x the target's chips, BatchNorm groups unchanged (keeps "
        "pysot's per-GPU batch at any scale; default: the recipe's global batch)",
    )
    parser.add_argument(
        "--programs",
        choices=("all", "train", "tracker"),
        default="all",
        help="which programs to compile",
    )
    parser.add_argument(
        "--search-batches",
        default="1,8,32",
        help="the tracker's search batch sizes, comma-separated; default: %(default)s",
    )
    parser.add_argument("--out", help="also write the report as JSON here (docs/accelerators.md)")
    parser.set_defaults(handler=run)


def _batches(text: str) -> tuple[int, ...]:
    try:
        batches = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as error:
        raise CommandError(f"--search-batches {text!r}: expected integers like 1,8,32") from error
    if not batches or min(batches) < 1:
        raise CommandError(f"--search-batches {text!r}: expected positive integers")
    return batches


def run(args, overrides) -> int:
    from siamjax.aot.targets import TargetError, parse_target, prepare_environment

    try:
        target = parse_target(args.target)
    except TargetError as error:
        raise CommandError(str(error)) from error
    prepare_environment()
    from siamjax import fs
    from siamjax.aot.report import ReportError, compile_report, problems
    from siamjax.aot.summary import format_report
    from siamjax.loading import resolve_config

    config = resolve_config(args.config, overrides)
    wants_train = args.programs in ("all", "train")
    if wants_train and "train" not in config:
        if args.programs == "train" or args.phase is not None:
            raise CommandError(f"{args.config} has no 'train' section; use a training config")
    phases = None if args.phase is None else [args.phase]
    if not wants_train:
        config = config.copy_and_resolve_references()
        if "train" in config:
            del config["train"]
    print(target.describe(), flush=True)
    try:
        report = compile_report(
            config,
            target,
            phases=phases,
            tracker=args.programs in ("all", "tracker"),
            per_chip_batch=args.per_chip_batch,
            search_batches=_batches(args.search_batches),
            progress=lambda line: print(line, flush=True),
        )
    except (ReportError, TargetError) as error:
        raise CommandError(str(error)) from error
    print(format_report(report), flush=True)
    if args.out:
        fs.write_text(args.out, json.dumps(report, indent=1) + "\n")
        print(f"report written to {args.out}")
    found = problems(report)
    if found:
        raise CommandError(found[0] + (f" (and {len(found) - 1} more)" if len(found) > 1 else ""))
    return 0
