"""Every dataset siamjax reads, one descriptor each: the one place to add a dataset.

A ``Dataset`` says how to read the raw layout for training (``siamjax prep``), how to read
it as a benchmark (``siamjax eval`` / ``score``), which evaluation protocol applies, where
result files go and whether a server takes a submission archive. Code asks the descriptor
(``dataset_spec(name).protocol is Protocol.RESET``) instead of comparing names.

To add a dataset: write its reader(s) (``training_layout.py`` for the raw training
layout -> ``RawVideo``s; ``benchmark_layout.py`` for the benchmark layout -> ``Video``s)
and add one ``Dataset`` to ``DATASETS`` below. This package imports only ``siamjax.fs``
(and numpy, OpenCV): the layers above (``prep``, ``eval``) import it, never the reverse.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable

from siamjax import fs
from siamjax.datasets import benchmark_layout, training_layout


class Protocol(str, enum.Enum):
    """How a benchmark is run and scored (docs/parity.md §10)."""

    ONE_PASS = "ope"  # initialise once, track to the end: success / precision
    RESET = "vot"  # VOT: re-initialise 5 frames after a failure: accuracy, robustness, EAO
    LONG_TERM = "longterm"  # one pass with confidences: precision, recall, F-score


class ResultLayout(str, enum.Enum):
    """Where one video's result files go under a tracker's result folder (pysot's layout)."""

    FLAT = "flat"  # R/<video>.txt
    PER_VIDEO_FOLDER = "per_video_folder"  # R/<video>/<video>_001.txt + <video>_time.txt
    VOT_BASELINE = "vot_baseline"  # R/baseline/<video>/<video>_001.txt
    VOT_LONG_TERM = "vot_long_term"  # R/longterm/<video>/<video>_001.txt + confidences, times


@dataclasses.dataclass(frozen=True)
class Dataset:
    """One dataset.

    Attributes:
      name: the name ``eval`` / ``score`` take (``GOT-10k``), or for training-only sets
        the ``prep`` name.
      aliases: other accepted names (``prep``'s lower-case ones, ``OTB2015``).
      read_raw: raw layout -> (RawVideos, problems), for ``siamjax prep``; None if the
        dataset is not used for training.
      read_benchmark: folder -> list of ``Video``, for ``eval`` / ``score``; None if it is
        not a benchmark.
      protocol: how it is evaluated.
      result_layout: where result files go.
      submission: results are scored by a server, which takes ``eval``'s zip archive.
    """

    name: str
    aliases: tuple[str, ...] = ()
    read_raw: Callable | None = None
    read_benchmark: Callable | None = None
    protocol: Protocol = Protocol.ONE_PASS
    result_layout: ResultLayout = ResultLayout.FLAT
    submission: bool = False


DATASETS = (
    Dataset("OTB100", aliases=("OTB2015",), read_benchmark=benchmark_layout.read_otb),
    Dataset("OTB50", read_benchmark=benchmark_layout.read_otb),
    Dataset("LaSOT", aliases=("lasot",), read_raw=training_layout.read_lasot,
            read_benchmark=benchmark_layout.read_lasot),
    Dataset("GOT-10k", aliases=("got10k",), read_raw=training_layout.read_got10k,
            read_benchmark=benchmark_layout.read_got10k,
            result_layout=ResultLayout.PER_VIDEO_FOLDER, submission=True),
    Dataset("TrackingNet", aliases=("trackingnet",), read_raw=training_layout.read_trackingnet,
            read_benchmark=benchmark_layout.read_trackingnet, submission=True),
    *(Dataset(f"VOT{year}", read_benchmark=benchmark_layout.read_vot, protocol=Protocol.RESET,
              result_layout=ResultLayout.VOT_BASELINE) for year in (2016, 2018, 2019)),
    Dataset("VOT2018-LT", read_benchmark=benchmark_layout.read_vot, protocol=Protocol.LONG_TERM,
            result_layout=ResultLayout.VOT_LONG_TERM),
    Dataset("UAV123", read_benchmark=benchmark_layout.read_uav),
    Dataset("UAV20L",
            read_benchmark=lambda data_dir: benchmark_layout.read_uav(data_dir, "UAV20L")),
    Dataset("NFS30", read_benchmark=benchmark_layout.read_nfs),
    Dataset("NFS240", read_benchmark=lambda data_dir: benchmark_layout.read_nfs(data_dir, 240)),
    Dataset("custom", aliases=("synthetic",), read_raw=training_layout.read_custom,
            read_benchmark=benchmark_layout.read_custom),
    Dataset("vid", read_raw=training_layout.read_vid),  # ImageNet VID
    Dataset("det", read_raw=training_layout.read_det),  # ImageNet DET
    Dataset("coco", read_raw=training_layout.read_coco),
    Dataset("ytbb", read_raw=training_layout.read_ytbb),  # YouTube-BoundingBoxes
)  # fmt: skip

_BY_NAME = {name: d for d in DATASETS for name in (d.name, *d.aliases)}


class UnknownDataset(ValueError):
    """A dataset name that is not in ``DATASETS`` (or cannot be used that way)."""


def dataset_spec(name: str, purpose: str | None = None) -> Dataset:
    """The descriptor of ``name`` (or an alias). ``purpose`` 'prep' or 'eval' also
    requires the matching reader; the error lists the names that have one."""
    spec = _BY_NAME.get(name)
    usable = {"prep": "read_raw", "eval": "read_benchmark"}.get(purpose)
    if spec is None or (usable and getattr(spec, usable) is None):
        candidates = [d for d in DATASETS if not usable or getattr(d, usable) is not None]
        names = ", ".join(n for d in candidates for n in (d.name, *d.aliases))
        raise UnknownDataset(f"unknown dataset {name!r}; known: {names}")
    return spec


def load_benchmark(dataset: str, data_dir: str) -> list[benchmark_layout.Video]:
    """Reads ``data_dir`` in ``dataset``'s official layout; a pysot ``<dataset>.json`` in
    ``data_dir`` takes precedence (it fixes pysot's exact frame lists)."""
    try:
        spec = dataset_spec(dataset, "eval")
    except UnknownDataset as error:
        raise benchmark_layout.BenchmarkError(str(error)) from None
    if fs.isfile(fs.join(data_dir, f"{dataset}.json")):
        return benchmark_layout.read_pysot_json(data_dir, dataset)
    return spec.read_benchmark(data_dir)
