"""The tracker network on ONNX Runtime: the same interface as ``TrackerNetwork``.

``template(crops)`` -> features (dict of numpy arrays), ``search(features, crops)`` ->
(scores (N, S, S, A, 2), deltas (N, S, S, A, 4)) as numpy. The ONNX models are written
from the JAX model in memory (``siamjax/export/onnx.py``) the first time a batch size
(the template model) or a (batch size, search size) (the search model) is used, so one
network serves the long-term tracker's two search sizes and any batch. Session options:
every graph optimisation, and ``threads`` intra-op threads (default: the cores this
process may use). On x86 the models' channel counts are first zero-padded to the CPU's
blocked-layout width (``siamjax/export/channel_padding.py``; MobileNetV2 only, whose
width-1.4 layers have counts such as 44 and 134), so ONNX Runtime keeps every convolution
in its fast layout, and a Transpose that writes an output runs in numpy instead
(``siamjax/export/output_transposes.py``)."""

from __future__ import annotations

import os

import numpy as np

from siamjax.export.channel_padding import pad_channels
from siamjax.export.onnx import search_onnx_model, template_onnx_model
from siamjax.export.output_transposes import HostTransposedSession, host_output_transposes
from siamjax.machine import cpu_flags
from siamjax.models import build_model, check_variables


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def nchwc_block(flags: frozenset[str] | None = None) -> int:
    """Channels per block of ONNX Runtime's blocked convolution layout on this CPU (MLAS:
    16 with AVX-512, 8 with AVX2 / AVX); 1 where it has none (not x86, or unknown)."""
    flags = cpu_flags() if flags is None else flags
    if "avx512f" in flags:
        return 16
    return 8 if "avx2" in flags or "avx" in flags else 1


class OnnxTrackerNetwork:
    """ONNX Runtime sessions of one model's template and search functions."""

    backend = "onnxruntime"

    def __init__(self, model, variables, exemplar_size: int = 127, threads: int | None = None):
        import onnxruntime  # noqa: F401  (fail here, not at the first frame)

        check_variables(model, variables)
        self.model, self.variables = model, variables
        self.exemplar_size = int(exemplar_size)
        self.threads = threads or usable_cores()
        self._template_sessions, self._search_sessions = {}, {}
        self._feature_names = None

    @classmethod
    def from_config(cls, config, variables, threads: int | None = None):

        # The export writes the plain formulation whatever the backend policy says.
        return cls(build_model(config.model), variables, config.track.exemplar_size, threads)

    def _session(self, model_proto):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only
        model_proto = pad_channels(model_proto, nchwc_block())
        model_proto, perms = host_output_transposes(model_proto)
        session = onnxruntime.InferenceSession(
            model_proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        return HostTransposedSession(session, perms) if any(perms.values()) else session

    def _template_session(self, batch: int):
        if batch not in self._template_sessions:
            proto, self._feature_names = template_onnx_model(
                self.model, self.variables, batch, self.exemplar_size
            )
            self._template_sessions[batch] = self._session(proto)
        return self._template_sessions[batch]

    def _search_session(self, batch: int, instance: int):
        if (batch, instance) not in self._search_sessions:
            proto = search_onnx_model(
                self.model, self.variables, batch, self.exemplar_size, instance
            )
            self._search_sessions[(batch, instance)] = self._session(proto)
        return self._search_sessions[(batch, instance)]

    def template(self, crops: np.ndarray) -> dict:
        crops = np.ascontiguousarray(crops, np.float32)
        outputs = self._template_session(len(crops)).run(None, {"template": crops})
        return dict(zip(self._feature_names, outputs))

    def search(self, template_features: dict, crops: np.ndarray):
        crops = np.ascontiguousarray(crops, np.float32)
        session = self._search_session(len(crops), crops.shape[1])
        feeds = {f"template_{k}": np.ascontiguousarray(v) for k, v in template_features.items()}
        scores, deltas = session.run(["scores", "deltas"], {"search": crops, **feeds})
        return scores, deltas

    def search_async(self, template_features, crops):
        return self.search(template_features, crops)

    @staticmethod
    def fetch(outputs):
        return outputs
