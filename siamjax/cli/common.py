"""What the subcommands share: argument helpers, the one-line user error, video loading."""

from __future__ import annotations

import argparse
import os

# `siamjax train` stopped by SIGTERM after saving a checkpoint: BSD's EX_TEMPFAIL, "try
# again later". The launchers requeue / rerun on it; 0 means the schedule finished.
EXIT_PREEMPTED = 75


class CommandError(Exception):
    """A user error: printed without a traceback, exit status 2."""


class HelpFormatter(argparse.HelpFormatter):
    """Each option's default where it has a real one."""

    def _get_help_string(self, action):
        help_text = action.help or ""
        default = action.default
        if (
            "%(default)" in help_text
            or default is None
            or default is False
            or (default == argparse.SUPPRESS)
        ):
            return help_text
        if action.option_strings:
            return f"{help_text} (default: %(default)s)"
        return help_text


def add_subcommand(subcommands, name: str, **kwargs) -> argparse.ArgumentParser:
    return subcommands.add_parser(name, formatter_class=HelpFormatter, **kwargs)


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        required=True,
        help="config file, e.g. configs/siamrpn_r50_l234_dwxcorr.py; "
        "override fields with --config.a.b=value",
    )


def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, help="OTB100, LaSOT, GOT-10k, custom, ...")
    parser.add_argument("--data-dir", required=True, help="the benchmark's root folder")


def add_video_names_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--video-names", help="comma-separated subset of the benchmark's videos (default: all)"
    )


def load_videos(args):
    """The benchmark's videos (``--dataset``, ``--data-dir``), ``--video-names`` only."""
    from siamjax.datasets import load_benchmark
    from siamjax.datasets.benchmark_layout import BenchmarkError

    try:
        videos = load_benchmark(args.dataset, args.data_dir)
    except BenchmarkError as error:
        raise CommandError(str(error)) from error
    if getattr(args, "video_names", None):
        wanted = [name.strip() for name in args.video_names.split(",") if name.strip()]
        known = {video.name for video in videos}
        unknown = [name for name in wanted if name not in known]
        if unknown:
            raise CommandError(f"videos not in {args.dataset}: {', '.join(unknown)}")
        videos = [video for video in videos if video.name in wanted]
    return videos


def add_backend_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        choices=("jax", "onnxruntime", "auto"),
        default="jax",
        help="run the network with JAX, or with ONNX Runtime (the model exported to ONNX in "
        "memory; needs the [onnx] extra); 'auto' times both here and uses the faster",
    )


def add_precision_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--precision",
        choices=("float32", "bfloat16", "int8"),
        default="float32",
        help="bfloat16 (OpenVINO, on CPUs with AMX or AVX512-BF16) or int8 (ONNX Runtime, "
        "on CPUs with VNNI or AMX-INT8) run instead of --backend, and only for weights "
        "whose `siamjax precision-check` verdict passed (docs/tracking.md)",
    )
    parser.add_argument(
        "--precision-report",
        help="that verdict file (default: precision_<mode>.json in the checkpoint folder)",
    )


def tracker_from_args(args, overrides):
    """``(config, tracker)`` of ``--config`` (with overrides), ``--checkpoint``,
    ``--backend`` and, where the command has them, ``--precision`` / ``--precision-report``."""
    from siamjax.loading import load_tracker, resolve_config

    config = resolve_config(args.config, overrides)
    precision = getattr(args, "precision", "float32")
    report = getattr(args, "precision_report", None)
    try:
        return config, load_tracker(config, args.checkpoint, backend=args.backend,
                                    precision=precision, precision_report=report)  # fmt: skip
    except ValueError as error:  # CheckpointError, or a config the tracker rejects
        raise CommandError(str(error)) from error


def environment_error(error: BaseException) -> str:
    """One line for an OSError / UnicodeDecodeError, naming the path where there is one."""
    if isinstance(error, OSError) and error.filename is not None:
        return f"{error.filename}: {error.strerror or error}"
    if isinstance(error, UnicodeDecodeError):
        return f"undecodable text (byte {error.start} is not {error.encoding})"
    return str(error) or type(error).__name__


def quiet_tensorflow() -> None:
    """Hides TensorFlow's C++ start-up lines (CPU feature banners, absl's pre-init
    warning) unless the user set the variables; worker processes inherit them.
    TensorFlow prints its oneDNN notice whatever the log level while oneDNN's custom ops
    are on; siamjax uses TensorFlow only for file systems, TFRecords and JPEG / image
    ops of the tf loader, so they are switched off."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
