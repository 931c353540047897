"""jax2onnx against siamjax's own ONNX writer (``siamjax/export/onnx.py``), case by case.

    # jax2onnx 0.17 pins orbax-checkpoint < 0.11.37, so it lives in its own venv:
    python3 -m venv /tmp/j2o && /tmp/j2o/bin/pip install jax==0.10.2 jax2onnx==0.17.1 \\
        opencv-python-headless ml-collections
    PYTHONPATH=. /tmp/j2o/bin/python benchmarks/jax2onnx_trial.py [--out trial.json]

The cases of ``tests/onnx_test.py`` on the plain formulation: every released
architecture's template and search functions against pysot's golden outputs (2e-4 of
the largest magnitude, the test's tolerance) and against the JAX model; every registered
correlation function (1e-5); the correlation modules inside a model (1e-4 against JAX).
For the architectures, ONNX Runtime's search call is timed for both writers (median of
``--calls``, 2 threads). Each case reports 'pass', the largest error, or the exception.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import traceback

import jax
import numpy as np


def _session(proto, threads: int = 2):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(proto.SerializeToString(), options)


def _median_ms(session, feeds, calls: int) -> float:
    session.run(None, feeds)
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        session.run(None, feeds)
        times.append((time.perf_counter() - started) * 1e3)
    return statistics.median(times)


def _jax2onnx(function, examples: list[np.ndarray], name: str):
    from jax2onnx import to_onnx

    shapes = [jax.ShapeDtypeStruct(x.shape, x.dtype) for x in examples]
    return to_onnx(function, shapes, model_name=name)


def architecture_case(architecture: str, calls: int) -> dict:
    """One released architecture: both writers against pysot's golden outputs and timed."""
    from siamjax.backend import PLAIN
    from siamjax.config_loader import load_config
    from siamjax.export.onnx import tracker_onnx_models
    from siamjax.loading import build_configured_model
    from siamjax.models import make_search_fn, make_template_fn
    from siamjax.models.layout import to_pysot_layout
    from tests.conftest import config_path
    from tests.parity.golden_test import _load, _variables

    record = _load(f"network_{architecture}")
    config = load_config(config_path(str(record["experiment"])))
    model = build_configured_model(config).clone(formulation=PLAIN)
    template = record["input/template"].astype(np.float32)
    search = record["input/search"].astype(np.float32)
    variables = jax.tree_util.tree_map(
        np.asarray, _variables(record, model, template.shape[1], search.shape[1])
    )
    template_fn, search_fn = make_template_fn(model), make_search_fn(model)
    names = sorted(jax.eval_shape(lambda t: template_fn(variables, t), template))
    features = [np.asarray(v) for v in jax.device_get(
        [jax.jit(template_fn)(variables, template)[k] for k in names])]  # fmt: skip

    def template_outputs(template):
        return [template_fn(variables, template)[k] for k in names]

    def search_outputs(search, *levels):
        outputs = search_fn(variables, dict(zip(names, levels, strict=True)), search)
        return [outputs["scores"], outputs["deltas"]]

    result = {"case": f"architecture {architecture}"}
    try:
        template_proto = _jax2onnx(template_outputs, [template], "template")
        search_proto = _jax2onnx(search_outputs, [search, *features], "search")
        template_session, search_session = _session(template_proto), _session(search_proto)
        inputs = [i.name for i in template_session.get_inputs()]
        exported = template_session.run(None, dict(zip(inputs, [template], strict=True)))
        feeds = dict(zip([i.name for i in search_session.get_inputs()], [search, *exported],
                         strict=True))  # fmt: skip
        scores, deltas = search_session.run(None, feeds)
    except Exception as error:  # noqa: BLE001  (the trial reports every failure)
        result.update(status="fails", error=f"{type(error).__name__}: {error}"[:500],
                      where=traceback.format_exc().splitlines()[-3][:300])  # fmt: skip
        return result
    cls, loc = to_pysot_layout(scores, deltas)
    errors = {}
    for name, ours in (("cls", cls), ("loc", loc)):
        reference = record[f"output/{name}"]
        errors[name] = float(np.abs(ours - reference).max()) / max(1.0, float(
            np.abs(reference).max()))  # fmt: skip
    own_template, own_search, own_names = tracker_onnx_models(
        model, variables, 1, template.shape[1], search.shape[1]
    )
    own_session = _session(own_search)
    own_features = _session(own_template).run(None, {"template": template})
    own_feeds = {"search": search, **{f"template_{k}": v for k, v in zip(own_names,
                                                                      own_features)}}  # fmt: skip
    result.update(
        status="pass" if max(errors.values()) <= 2e-4 else "wrong values",
        error_vs_pysot=errors,
        search_ms={
            "jax2onnx": _median_ms(search_session, feeds, calls),
            "siamjax": _median_ms(own_session, own_feeds, calls),
        },  # fmt: skip
        nodes={"jax2onnx": len(search_proto.graph.node), "siamjax": len(own_search.graph.node)},
    )
    return result


def correlation_case(name: str, kernel_channels: int) -> dict:
    from siamjax import registry

    correlation = registry.lookup("correlation", name)
    rng = np.random.default_rng(2)
    search = rng.normal(size=(2, 15, 15, 8)).astype(np.float32)
    kernel = rng.normal(size=(2, 5, 5, kernel_channels)).astype(np.float32)
    result = {"case": f"correlation {name}"}
    try:
        proto = _jax2onnx(lambda s, k: correlation(search=s, kernel=k), [search, kernel], name)
        session = _session(proto)
        feeds = dict(zip([i.name for i in session.get_inputs()], [search, kernel], strict=True))
        (ours,) = session.run(None, feeds)
    except Exception as error:  # noqa: BLE001
        result.update(status="fails", error=f"{type(error).__name__}: {error}"[:500])
        return result
    expected = np.asarray(correlation(search=search, kernel=kernel))
    error = float(np.abs(ours - expected).max()) / float(np.abs(expected).max())
    result.update(status="pass" if error <= 1e-5 else "wrong values", error_vs_jax=error)
    return result


def module_case(correlation: str) -> dict:
    from siamjax.backend import PLAIN
    from siamjax.config_loader import apply_overrides
    from siamjax.loading import build_configured_model
    from siamjax.models import init_variables, make_search_fn, make_template_fn
    from tests.train.helpers import tiny_config

    config = apply_overrides(tiny_config(), [f"model.rpn.correlation={correlation}"])
    model = build_configured_model(config).clone(formulation=PLAIN)
    variables = jax.device_get(init_variables(model, jax.random.key(6), 127, 255))
    rng = np.random.default_rng(3)
    template = rng.uniform(0, 255, (1, 127, 127, 3)).astype(np.float32)
    search = rng.uniform(0, 255, (1, 255, 255, 3)).astype(np.float32)
    template_fn, search_fn = make_template_fn(model), make_search_fn(model)
    features = jax.device_get(jax.jit(template_fn)(variables, template))
    names = sorted(features)
    expected = jax.device_get(jax.jit(search_fn)(variables, features, search))
    result = {"case": f"correlation module {correlation} in a model"}
    examples = [search, *[np.asarray(features[k]) for k in names]]
    try:
        proto = _jax2onnx(
            lambda s, *levels: [search_fn(variables, dict(zip(names, levels, strict=True)), s)[k]
                                for k in ("scores", "deltas")],
            examples, "search",
        )  # fmt: skip
        session = _session(proto)
        feeds = dict(zip([i.name for i in session.get_inputs()], examples, strict=True))
        scores, deltas = session.run(None, feeds)
    except Exception as error:  # noqa: BLE001
        result.update(status="fails", error=f"{type(error).__name__}: {error}"[:500])
        return result
    error = max(
        float(np.abs(ours - expected[key]).max()) / float(np.abs(expected[key]).max())
        for key, ours in (("scores", scores), ("deltas", deltas))
    )
    result.update(status="pass" if error <= 1e-4 else "wrong values", error_vs_jax=error)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20, help="timed search calls per writer")
    parser.add_argument("--out", help="write the cases to this JSON file")
    args = parser.parse_args(argv)
    from siamjax.pysot_reference import golden
    from tests.onnx_test import CORRELATION_KERNEL_CHANNELS, MODULE_CORRELATIONS

    cases = [architecture_case(name, args.calls) for name in sorted(golden.NETWORKS)]
    cases += [correlation_case(name, channels)
              for name, channels in sorted(CORRELATION_KERNEL_CHANNELS.items())]  # fmt: skip
    cases += [module_case(name) for name in MODULE_CORRELATIONS]
    for case in cases:
        print(json.dumps(case), flush=True)
    if args.out:
        with open(args.out, "w") as stream:
            json.dump(cases, stream, indent=1)
    failed = [case["case"] for case in cases if case["status"] != "pass"]
    print(f"{len(cases) - len(failed)} of {len(cases)} cases pass; not passing: {failed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
