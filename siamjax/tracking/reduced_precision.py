"""Tracker networks in reduced precision on the CPU: the ``OnnxTrackerNetwork`` interface.

``OpenVinoTrackerNetwork`` compiles the exported template and search models with OpenVINO
at an inference precision ('bf16': AMX / AVX512-BF16 matmuls with float32 accumulation;
'f32': the float32 reference of the same runtime). ``Int8TrackerNetwork`` runs the search
model quantised statically with ONNX Runtime (QDQ: per-channel int8 weights, uint8
activations whose ranges come from calibration crops); the template model, called once
per target, stays float32. Whether a mode may be used for given weights is decided
elsewhere (``tracking/precision.py``): these classes only build the networks.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable

import numpy as np

from siamjax.export.onnx import search_onnx_model
from siamjax.tracking.onnx_network import OnnxTrackerNetwork


class _OpenVinoSession:
    """An OpenVINO compiled model behind ONNX Runtime's ``run(names, feeds)``."""

    def __init__(self, compiled):
        self.compiled = compiled

    def run(self, names, feeds):
        outputs = self.compiled(feeds)
        if names is None:
            return [outputs[port] for port in self.compiled.outputs]
        return [outputs[self.compiled.output(name)] for name in names]


class OpenVinoTrackerNetwork(OnnxTrackerNetwork):
    """The exported network on OpenVINO's CPU plugin at ``inference_precision``."""

    backend = "openvino"
    bakes_templates = False  # measured for ONNX Runtime only

    def __init__(self, model, variables, exemplar_size: int = 127, threads: int | None = None,
                 inference_precision: str = "bf16"):  # fmt: skip
        import openvino  # noqa: F401  (fail here, not at the first frame)

        super().__init__(model, variables, exemplar_size, threads)
        self.inference_precision = inference_precision

    @classmethod
    def from_config(cls, config, variables, threads: int | None = None,
                    inference_precision: str = "bf16"):  # fmt: skip
        network = super().from_config(config, variables, threads)
        network.inference_precision = inference_precision
        return network

    def _prepare(self, model_proto):
        return model_proto, {}  # OpenVINO has its own layouts; no channel padding

    def _open(self, model_proto, perms):
        import openvino

        core = openvino.Core()
        model = core.read_model(model_proto.SerializeToString())
        properties = {
            "INFERENCE_PRECISION_HINT": self.inference_precision,
            "INFERENCE_NUM_THREADS": self.threads,
            "PERFORMANCE_HINT": "LATENCY",
        }
        return _OpenVinoSession(core.compile_model(model, "CPU", properties))


# (template crop (E, E, 3), search crop (X, X, 3)) float32 BGR pairs for a search size X.
CalibrationPairs = Callable[[int], list]


class Int8TrackerNetwork(OnnxTrackerNetwork):
    """ONNX Runtime with the search model quantised to int8 on ``calibration`` crops.

    ``calibration(instance_size)`` gives the (template crop, search crop) pairs whose
    activation ranges set the quantisation (each batch size and search size is quantised
    the first time it is used, as the float model is exported then)."""

    backend = "onnxruntime-int8"
    bakes_templates = False  # the quantised model is calibrated with the features as inputs

    def __init__(self, model, variables, exemplar_size: int = 127, threads: int | None = None,
                 calibration: CalibrationPairs | None = None):  # fmt: skip
        import onnxruntime.quantization  # noqa: F401

        super().__init__(model, variables, exemplar_size, threads)
        self.calibration = calibration

    @classmethod
    def from_config(cls, config, variables, threads: int | None = None, calibration=None):
        network = super().from_config(config, variables, threads)
        network.calibration = calibration
        return network

    def _calibration_feeds(self, batch: int, instance: int) -> list[dict]:
        pairs = self.calibration(instance)
        if not pairs:
            raise ValueError(f"no calibration crops for search size {instance}")
        feeds = []
        for start in range(0, len(pairs), batch):
            group = [pairs[(start + k) % len(pairs)] for k in range(batch)]
            features = self.template(np.stack([template for template, _ in group]))
            feeds.append({
                "search": np.stack([search for _, search in group]).astype(np.float32),
                **{f"template_{name}": value for name, value in features.items()},
            })  # fmt: skip
        return feeds

    def _search_session(self, batch: int, instance: int):
        if (batch, instance) not in self._search_sessions:
            import onnx

            proto = search_onnx_model(
                self.model, self.variables, batch, self.exemplar_size, instance
            )
            feeds = self._calibration_feeds(batch, instance)
            with tempfile.TemporaryDirectory() as folder:
                path = os.path.join(folder, "search_int8.onnx")
                quantize_search_model(proto, path, feeds)
                self._search_sessions[(batch, instance)] = self._session(onnx.load(path))
        return self._search_sessions[(batch, instance)]


def quantize_search_model(model_proto, out_path: str, feeds: list[dict]) -> None:
    """Static QDQ quantisation of ``model_proto`` into ``out_path``: int8 per-channel
    weights and uint8 activations (ONNX Runtime's choice for VNNI / AMX CPUs), MinMax
    ranges over ``feeds``."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.remaining = iter(feeds)

        def get_next(self):
            return next(self.remaining, None)

    # The quantiser logs advice on pre-processing at WARNING on the root logger.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_static(model_proto, out_path, Reader(), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax)  # fmt: skip
    finally:
        root.setLevel(level)
