"""``siamjax prep``: a raw dataset -> 511 context crops in TFRecord shards (or synthetic data)."""

from __future__ import annotations

from siamjax.cli.common import CommandError, add_subcommand


def add_parser(subcommands) -> None:
    parser = add_subcommand(
        subcommands,
        "prep",
        help="raw dataset -> 511 context crops in TFRecord shards (or: generate synthetic data)",
        description=(
            "Convert a dataset in its official layout into 511x511 context crops stored as "
            "TFRecord shards with per-shard indices and a manifest (counts, skipped items "
            "with reasons). Resumable: finished shards are not redone. Paths may be any "
            "tf.io.gfile URL. --dataset synthetic generates the synthetic dataset (custom "
            "layout, train/val/test) into --out instead."
        ),
    )
    parser.add_argument(
        "--dataset",
        required=True,
        help="vid, ytbb, coco, det, got10k, lasot, trackingnet, custom, or synthetic",
    )
    parser.add_argument("--src", help="raw dataset root (not for synthetic)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument("--videos-per-shard", type=int, help="videos per TFRecord shard")
    parser.add_argument("--limit", type=int, help="only the first N videos (sorted by name)")
    parser.add_argument("--videos", type=int, default=100, help="synthetic: number of videos")
    parser.add_argument("--seed", type=int, default=0, help="synthetic: random seed")
    parser.set_defaults(handler=run)


def run(args, overrides) -> int:
    if args.dataset == "synthetic" and not args.src:
        from siamjax.prep.synthetic import generate

        written = generate(args.out, videos=args.videos, seed=args.seed)
        counts = ", ".join(f"{split} {len(names)}" for split, names in written.items())
        print(f"synthetic: {args.videos} videos ({counts}) in the custom layout -> {args.out}")
        print(f"  next: siamjax prep --dataset custom --src {args.out}/train --out DIR")
        return 0
    if not args.src:
        raise CommandError(f"--src is required for --dataset {args.dataset}")
    from siamjax.prep.prepare import PrepError, prepare

    try:
        manifest = prepare(
            args.dataset, args.src, args.out, args.workers, args.videos_per_shard, args.limit
        )
    except PrepError as error:
        raise CommandError(str(error)) from error
    counts = manifest["counts"]
    print(
        f"{args.dataset}: {counts['videos']} videos, {counts['tracks']} tracks, "
        f"{counts['frames']} frames, {counts['records']} crops in {len(manifest['shards'])} "
        f"shards ({manifest['resumed_shards']} already done) -> {args.out}"
    )
    if counts["skipped"]:
        print(f"  skipped {counts['skipped']} items (details in manifest.json):")
        for reason, number in manifest["skipped_by_reason"].items():
            print(f"    {number:6d}  {reason}")
        for entry in manifest["skipped"][:10]:
            print(f"    {entry['item']}: {entry['reason']}")
    if counts["converted"]:
        print(f"  converted {counts['converted']} images to 8-bit BGR (gray / RGBA / 16-bit)")
    return 0
