"""The ``siamjax`` console command: one module per subcommand in this package.

Each subcommand module has ``add_parser(subcommands)`` (its arguments and help) and
``run(args, overrides) -> exit status``. Every subcommand that takes ``--config path.py[:arg]``
also takes ``--config.a.b=value`` overrides of that config. A user's mistake is one line on
stderr and exit status 2 (``CommandError``, ``ConfigError``, ``CheckpointError``, a file
system error); ``SIAMJAX_DEBUG=1`` shows the traceback of the last kind.
"""

from __future__ import annotations

import argparse
import os
import sys

from siamjax.cli import (
    check_data,
    compile,
    convert,
    evaluate,
    experiment,
    export,
    hp_search,
    info,
    precision_check,
    prep,
    quickstart,
    score,
    track,
    train,
)
from siamjax.cli.common import (
    EXIT_PREEMPTED,
    CommandError,
    environment_error,
    quiet_tensorflow,
)
from siamjax.config_loader import ConfigError, split_config_args

__all__ = ["EXIT_PREEMPTED", "CommandError", "build_parser", "main"]

# In `siamjax --help` order.
SUBCOMMANDS = (info, convert, track, evaluate, precision_check, score, hp_search, prep,
               check_data, train, compile, export, quickstart, experiment)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="siamjax",
        description="SiamRPN++ in JAX/Flax: convert, track, evaluate and train.",
    )
    subcommands = parser.add_subparsers(dest="command", required=True)
    for module in SUBCOMMANDS:
        module.add_parser(subcommands)
    return parser


def main(argv=None) -> int:
    quiet_tensorflow()
    from siamjax.loading import CheckpointError

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        argv, overrides = split_config_args(argv)
    except ConfigError as error:
        print(f"siamjax: error: {error}", file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args, overrides)
    except (CommandError, ConfigError, CheckpointError) as error:
        print(f"siamjax {args.command}: error: {error}", file=sys.stderr)
        return 2
    except (OSError, UnicodeDecodeError) as error:
        # Environment problems (permissions, a file where a folder belongs, a full disk,
        # undecodable text): one line naming the path. SIAMJAX_DEBUG=1 shows the traceback.
        if os.environ.get("SIAMJAX_DEBUG"):
            raise
        print(f"siamjax {args.command}: error: {environment_error(error)}", file=sys.stderr)
        return 2
