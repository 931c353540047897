"""Reduced-precision search calls on this CPU: speed and output change against float32.

    python benchmarks/precision_trial.py [--configs siamrpn_r50_l234_dwxcorr ...] [--repeats 5]

The gate before a tracker precision mode is offered (``siamjax track --precision``): a
mode must first make the search call faster on the machine's CPU. Per config, batch 1,
median ms of the search call (after warm-up) for

* ``jax float32`` / ``jax bfloat16``: XLA:CPU, parameters and crop cast to bfloat16;
* ``onnxruntime float32`` / ``onnxruntime int8``: siamjax's ONNX export, then ONNX
  Runtime's static QDQ quantization (per-channel int8 weights, uint8 activations
  calibrated on 8 crops of a synthetic frame sequence).

Random weights with BatchNorm statistics calibrated on the same crops (so outputs are in
a trained network's range); "max |Δ score|" is the largest change of a foreground
probability against float32 on a held-out crop. A mode that is not faster is not offered;
one that is must then meet the tracking accuracy budget (docs/speed.md).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np

from siamjax.config_loader import load_config
from siamjax.export.onnx import search_onnx_model
from siamjax.models import build_model, init_variables
from siamjax.models.siamrpn import make_search_fn, make_template_fn
from siamjax.tracking.reduced_precision import quantize_search_model

CONFIGS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")


def crops(count: int, size: int, seed: int) -> np.ndarray:
    """Smooth random images (blurred noise with a bright square), float32 BGR 0-255."""
    import cv2

    rng = np.random.default_rng(seed)
    images = []
    for _ in range(count):
        image = cv2.GaussianBlur(rng.uniform(0, 255, (size, size, 3)).astype(np.float32), (0, 0), 4)
        side = size // 4
        corner = rng.integers(0, size - side, 2)
        image[corner[0] : corner[0] + side, corner[1] : corner[1] + side] += 60
        images.append(np.clip(image, 0, 255))
    return np.stack(images)


def median_ms(call, repeats: int) -> float:
    call()
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def foreground(scores) -> np.ndarray:
    scores = np.asarray(scores, np.float64)
    return 1.0 / (1.0 + np.exp(scores[..., 0] - scores[..., 1]))


def calibrated_variables(model, config, exemplar: int, instance: int):
    """Seeded weights whose BatchNorm running statistics are those of synthetic crops."""
    variables = init_variables(model, jax.random.key(0), exemplar, instance)
    template, search = crops(4, exemplar, 1), crops(4, instance, 2)
    _, updates = model.apply(variables, template, search, train=True, mutable=["batch_stats"])
    return {"params": variables["params"], "batch_stats": updates["batch_stats"]}


def run_config(name: str, repeats: int) -> list[str]:
    import onnxruntime

    config = load_config(os.path.join(CONFIGS_DIR, f"{name}.py"))
    exemplar, instance = int(config.track.exemplar_size), int(config.track.instance_size)
    model = build_model(config.model)
    variables = calibrated_variables(model, config, exemplar, instance)
    template_fn, search_fn = make_template_fn(model), make_search_fn(model)
    template = crops(1, exemplar, 3)
    features = jax.jit(template_fn)(variables, template)
    held_out = crops(1, instance, 4)
    rows = []

    search = jax.jit(search_fn)
    reference = jax.device_get(search(variables, features, held_out))
    f32_ms = median_ms(lambda: jax.block_until_ready(search(variables, features, held_out)),
                       repeats)  # fmt: skip
    rows.append((name, "jax float32", f32_ms, 0.0))
    to_bf16 = lambda tree: jax.tree_util.tree_map(lambda x: x.astype(jnp.bfloat16), tree)  # noqa: E731
    bf16_vars, bf16_features = to_bf16(variables), to_bf16(features)
    bf16_crop = jnp.asarray(held_out, jnp.bfloat16)
    out = jax.device_get(search(bf16_vars, bf16_features, bf16_crop))
    bf16_ms = median_ms(lambda: jax.block_until_ready(search(bf16_vars, bf16_features, bf16_crop)),
                        repeats)  # fmt: skip
    change = np.abs(foreground(out["scores"]) - foreground(reference["scores"])).max()
    rows.append((name, "jax bfloat16", bf16_ms, change))

    proto = search_onnx_model(model, variables, 1, exemplar, instance)
    feature_feeds = {f"template_{k}": np.asarray(v, np.float32) for k, v in features.items()}
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as folder:
        float_path, int8_path = os.path.join(folder, "f32.onnx"), os.path.join(folder, "i8.onnx")
        with open(float_path, "wb") as stream:
            stream.write(proto.SerializeToString())
        calibration = [{"search": crop[None], **feature_feeds} for crop in crops(8, instance, 5)]
        quantize_search_model(proto, int8_path, calibration)
        for label, path in (("onnxruntime float32", float_path), ("onnxruntime int8", int8_path)):
            session = onnxruntime.InferenceSession(path, options,
                                                   providers=["CPUExecutionProvider"])  # fmt: skip
            feeds = {"search": held_out, **feature_feeds}
            scores = session.run(["scores"], feeds)[0]
            ms = median_ms(lambda session=session, feeds=feeds: session.run(None, feeds), repeats)
            change = np.abs(foreground(scores) - foreground(reference["scores"])).max()
            rows.append((name, label, ms, change))
    return [f"| {n} | {label} | {ms:.0f} | {f32_ms / ms:.2f}× | {change:.2e} |"
            for n, label, ms, change in rows]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["siamrpn_alex_dwxcorr",
                        "siamrpn_mobilev2_l234_dwxcorr", "siamrpn_r50_l234_dwxcorr"])  # fmt: skip
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print("| config | mode | search ms | vs jax float32 | max abs Δ score |")
    print("| --- | --- | --- | --- | --- |")
    for name in args.configs:
        for row in run_config(name, args.repeats):
            print(row, flush=True)


if __name__ == "__main__":
    main()
