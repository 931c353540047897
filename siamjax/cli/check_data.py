"""``siamjax check-data``: decode every record of a prepared folder, check every box."""

from __future__ import annotations

from siamjax.cli.common import add_subcommand


def add_parser(subcommands) -> None:
    parser = add_subcommand(
        subcommands,
        "check-data",
        help="decode every record of a prepared folder and check every box",
        description="Exit status 1 if any record, shard or box has a problem.",
    )
    parser.add_argument("path", help="a folder written by `siamjax prep`")
    parser.set_defaults(handler=run)


def run(args, overrides) -> int:
    from siamjax.prep.check import check_folder

    report = check_folder(args.path)
    print(f"{args.path}: {report['shards']} shards, {report['records']} records")
    for name, count in sorted(report["per_dataset"].items()):
        print(f"  {name}: {count} records")
    if report["problems"]:
        count = len(report["problems"])
        print(f"{count} problem{'s' if count != 1 else ''}:")
        for item, reason in report["problems"][:50]:
            print(f"  {item}: {reason}")
        return 1
    print("ok: every record decodes and every box is valid")
    return 0
