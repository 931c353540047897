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
(``siamjax/export/output_transposes.py``).

With ``template_constants`` (the backend policy's ``onnx_template``; MobileNetV2 declares
it) the search runs, from the second call with the same features object on, in a session
built for those features, with them as constants (``siamjax/export/constant_inputs.py``):
ONNX Runtime then folds the heads' template branch once and runs the depthwise
correlations as constant-weight convolutions in its blocked layout. Each new template
costs one session build (hundreds of ms for MobileNetV2); the first call with new
features uses the shared session, so a caller that changes features on every call never
builds one. Features are told apart by identity: ``template()`` returns a new dict each
time, and the trackers keep theirs until the next init (a dict changed in place would
keep the old constants)."""

from __future__ import annotations

import os

import numpy as np

from siamjax.backend import resolve_policy
from siamjax.export.channel_padding import pad_channels
from siamjax.export.constant_inputs import inputs_as_constants
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


def session_options(threads: int):
    """ONNX Runtime options of the tracker's sessions: every graph optimisation,
    ``threads`` intra-op threads, operators one at a time."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only
    return options


class OnnxTrackerNetwork:
    """ONNX Runtime sessions of one model's template and search functions."""

    backend = "onnxruntime"
    bakes_templates = True  # whether ``template_constants`` applies (not to subclasses)

    def __init__(self, model, variables, exemplar_size: int = 127, threads: int | None = None,
                 template_constants: bool = False):  # fmt: skip
        import onnxruntime  # noqa: F401  (fail here, not at the first frame)

        check_variables(model, variables)
        self.model, self.variables = model, variables
        self.exemplar_size = int(exemplar_size)
        self.threads = threads or usable_cores()
        self.template_constants = bool(template_constants)
        self._template_sessions, self._search_sessions = {}, {}
        self._search_protos = {}  # (batch, search size) -> _prepare's (proto, perms)
        self._feature_names = None
        self._last_features = None  # the features of the previous search call
        self._baked_features, self._baked_sessions = None, {}

    @classmethod
    def from_config(cls, config, variables, threads: int | None = None):
        # The export writes the plain formulation whatever the backend policy says.
        model = build_model(config.model)
        network = cls(model, variables, config.track.exemplar_size, threads)
        # ONNX Runtime runs on the CPU whatever JAX's platform is.
        policy = resolve_policy(config, "cpu")
        network.template_constants = cls.bakes_templates and policy.onnx_template_constants(model)
        return network

    def _prepare(self, model_proto):
        """(the proto as the sessions run it, output permutations left to the host)."""
        return host_output_transposes(pad_channels(model_proto, nchwc_block()))

    def _open(self, model_proto, perms):
        import onnxruntime

        session = onnxruntime.InferenceSession(
            model_proto.SerializeToString(),
            session_options(self.threads),
            providers=["CPUExecutionProvider"],
        )
        return HostTransposedSession(session, perms) if any(perms.values()) else session

    def _session(self, model_proto):
        return self._open(*self._prepare(model_proto))

    def _template_session(self, batch: int):
        if batch not in self._template_sessions:
            proto, self._feature_names = template_onnx_model(
                self.model, self.variables, batch, self.exemplar_size
            )
            self._template_sessions[batch] = self._session(proto)
        return self._template_sessions[batch]

    def _prepared_search(self, batch: int, instance: int):
        prepared = self._search_protos.get((batch, instance))
        if prepared is None:
            proto = search_onnx_model(
                self.model, self.variables, batch, self.exemplar_size, instance
            )
            prepared = self._prepare(proto)
            if self.template_constants:  # kept for the per-template sessions (a model's
                self._search_protos[(batch, instance)] = prepared  # size in memory)
        return prepared

    def _search_session(self, batch: int, instance: int):
        if (batch, instance) not in self._search_sessions:
            self._search_sessions[(batch, instance)] = self._open(
                *self._prepared_search(batch, instance)
            )
        return self._search_sessions[(batch, instance)]

    def _baked_session(self, template_features: dict, batch: int, instance: int):
        """The search session with ``template_features`` as constants (one per shape, for
        the latest features only)."""
        self._baked_features = template_features
        if (batch, instance) not in self._baked_sessions:
            self._baked_sessions[(batch, instance)] = self._open(
                *self.search_model(template_features, batch, instance)
            )
        return self._baked_sessions[(batch, instance)]

    def search_model(self, template_features: dict, batch: int, instance: int):
        """(ONNX model, output permutations left to the host) of the search session that
        ``search`` runs for these features from their second call on: channels padded
        and, with ``template_constants``, the features baked in as constants (for
        profiling the session the tracker runs)."""
        proto, perms = self._prepared_search(batch, instance)
        if not self.template_constants:
            return proto, perms
        constants = {f"template_{k}": np.asarray(v, np.float32)
                     for k, v in template_features.items()}  # fmt: skip
        return inputs_as_constants(proto, constants), perms

    def template(self, crops: np.ndarray) -> dict:
        crops = np.ascontiguousarray(crops, np.float32)
        outputs = self._template_session(len(crops)).run(None, {"template": crops})
        return dict(zip(self._feature_names, outputs))

    def search(self, template_features: dict, crops: np.ndarray):
        crops = np.ascontiguousarray(crops, np.float32)
        if self.template_constants:
            if template_features is not self._baked_features:
                self._baked_features, self._baked_sessions = None, {}  # the old template's
            if template_features is self._last_features:
                session = self._baked_session(template_features, len(crops), crops.shape[1])
                scores, deltas = session.run(["scores", "deltas"], {"search": crops})
                return scores, deltas
        self._last_features = template_features
        session = self._search_session(len(crops), crops.shape[1])
        feeds = {f"template_{k}": np.ascontiguousarray(v) for k, v in template_features.items()}
        scores, deltas = session.run(["scores", "deltas"], {"search": crops, **feeds})
        return scores, deltas

    def search_async(self, template_features, crops):
        return self.search(template_features, crops)

    @staticmethod
    def fetch(outputs):
        return outputs
