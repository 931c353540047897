"""Offline data-preparation scripts (the library is ``siamjax.prep``):

    python -m data_prep.prepare --dataset vid --src RAW --out DIR [--workers N]
    python -m data_prep.synthetic --out DIR [--videos N]
    python -m data_prep.check DIR

Each is the matching ``siamjax`` subcommand (``prep``, ``prep --dataset synthetic``,
``check-data``) with the same options and exit codes.
"""


def run(subcommand: list[str], argv: list[str] | None = None) -> int:
    """Runs ``siamjax SUBCOMMAND ARGV...`` and returns its exit code."""
    import sys

    from siamjax.cli import main

    return main(subcommand + list(sys.argv[1:] if argv is None else argv))
