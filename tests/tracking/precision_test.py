"""Reduced-precision tracker modes: the CPU check on real /proc/cpuinfo blocks, the
weights fingerprint, the verdict gate, and the bfloat16 / int8 networks against float32."""

import json
import os

import jax
import numpy as np
import pytest

from siamjax import machine
from siamjax.config_loader import load_config
from siamjax.eval.precision_budget import calibration_pairs, generated_sequences, measure
from siamjax.loading import precision_networks
from siamjax.machine import cpu_flags as parse_cpu_flags  # unpatched, for the fixtures
from siamjax.models import build_model, init_variables
from siamjax.tracking import build_tracker
from siamjax.tracking import precision as modes

CPUINFO = os.path.join(os.path.dirname(__file__), "cpuinfo")


def real_flags(name: str) -> frozenset:
    with open(os.path.join(CPUINFO, name)) as stream:
        return parse_cpu_flags(stream.read())


@pytest.fixture(scope="module")
def tiny():
    """The quickstart's TinyNet, seeded weights with BatchNorm statistics of real crops
    (so activations are in a trained network's range, not blown up)."""
    config = load_config("configs/quickstart.py")
    model = build_model(config.model)
    variables = init_variables(model, jax.random.key(0))
    pairs = calibration_pairs(config, sequences=3, frames_per_sequence=2)(255)
    templates, searches = (np.stack(crops) for crops in zip(*pairs))
    statistics = jax.jit(
        lambda v, t, s: model.apply(v, t, s, train=True, mutable=["batch_stats"])[1]
    )
    updates = statistics(variables, templates, searches)
    variables = {"params": variables["params"], "batch_stats": updates["batch_stats"]}
    return config, jax.tree_util.tree_map(np.asarray, variables)


def test_cpu_check_reads_what_real_cpus_report():
    xeon, zen3 = real_flags("xeon_amx.txt"), real_flags("ryzen_zen3.txt")
    assert modes.cpu_instructions("bfloat16", xeon) == ["amx_bf16", "avx512_bf16"]
    assert modes.cpu_instructions("int8", xeon) == ["amx_int8", "avx512_vnni", "avx_vnni"]
    assert modes.cpu_instructions("float32", zen3) == []
    for precision in ("bfloat16", "int8"):
        with pytest.raises(modes.PrecisionUnavailable, match="this CPU has none of"):
            modes.cpu_instructions(precision, zen3)
    assert machine.cpu_flags("processor : 0\nFeatures : fp asimd\n") == frozenset()
    with pytest.raises(modes.PrecisionUnavailable, match="expected one of"):
        modes.cpu_instructions("float16", xeon)


def test_fingerprint_follows_every_value_and_not_dict_order(tiny):
    _, variables = tiny
    fingerprint = modes.weights_fingerprint(variables)
    reordered = {key: variables[key] for key in reversed(list(variables))}
    assert modes.weights_fingerprint(reordered) == fingerprint
    changed = jax.tree_util.tree_map(np.copy, variables)
    leaf = jax.tree_util.tree_leaves(changed)[3]
    leaf.reshape(-1)[0] += 1e-6
    assert modes.weights_fingerprint(changed) != fingerprint


def _verdict(precision, fingerprint, auc_change=0.0, sequences=20, frame_iou=0.95):
    return {
        "precision": precision,
        "weights_sha256": fingerprint,
        "sequences": sequences,
        "success_auc": {"float32": 0.6, precision: 0.6 + auc_change},
        "video": {"source": "v.mp4", "frame_by_frame": {"iou_mean": frame_iou}},
    }


def test_budget_and_gate(tmp_path):
    path = str(tmp_path / "verdict.json")
    with pytest.raises(modes.PrecisionUnavailable, match="no accuracy verdict"):
        modes.verify_verdict(path, "int8", "abc")
    passing = _verdict("int8", "abc", auc_change=-0.004)
    assert modes.budget_failures(passing) == []
    failing = _verdict("int8", "abc", auc_change=0.006, sequences=19, frame_iou=0.89)
    failures = modes.budget_failures(failing)
    assert len(failures) == 3
    assert "19 sequences" in failures[0] and "+0.0060" in failures[1] and "0.890" in failures[2]
    modes.write_verdict(path, {**failing, "passed": False, "failures": failures})
    with pytest.raises(modes.PrecisionUnavailable, match="missed the accuracy budget.*19 seq"):
        modes.verify_verdict(path, "int8", "abc")
    modes.write_verdict(path, {**passing, "passed": True, "failures": []})
    assert modes.verify_verdict(path, "int8", "abc")["passed"]
    with pytest.raises(modes.PrecisionUnavailable, match="other weights"):
        modes.verify_verdict(path, "int8", "abd")
    with pytest.raises(modes.PrecisionUnavailable, match="not a verdict for precision bfloat16"):
        modes.verify_verdict(path, "bfloat16", "abc")


def test_measure_of_a_tracker_against_itself_is_exact(tiny):
    config, variables = tiny
    reference_network, _ = precision_networks(config, variables, "float32")
    reference = build_tracker(config, reference_network)
    twin = build_tracker(config, reference_network)
    sequence = generated_sequences(1, seed=3)[0]
    figures = measure(reference, twin, "int8", list(sequence.frames[:6]), sequence.gt[0],
                      "generated", sequences=2, progress=False)  # fmt: skip
    assert figures["success_auc"]["float32"] == figures["success_auc"]["int8"]
    assert figures["auc_change_stderr"] == 0.0
    for kind in ("frame_by_frame", "free_run"):
        assert figures["video"][kind]["iou_min"] == pytest.approx(1.0)


@pytest.mark.parametrize("precision", ["bfloat16", "int8"])
def test_reduced_precision_networks_stay_near_float32(tiny, precision):
    """Same crops through both networks: the score maps keep their shape (correlation)
    and the foreground probabilities move little; a mis-calibrated int8 network fails."""
    pytest.importorskip("openvino" if precision == "bfloat16" else "onnxruntime")
    if not set(modes.REQUIRED_INSTRUCTIONS[precision]) & machine.cpu_flags():
        # Not offered there: bfloat16 would fall back to float32, and int8 kernels without
        # VNNI may saturate (ONNX Runtime's quantisation notes).
        pytest.skip(f"this CPU has none of {modes.REQUIRED_INSTRUCTIONS[precision]}")
    config, variables = tiny
    reference, candidate = precision_networks(config, variables, precision)
    pairs = calibration_pairs(config, sequences=2, frames_per_sequence=2)(255)
    template, search = pairs[-1]
    outputs = []
    for network in (reference, candidate):
        features = network.template(template[None])
        scores, deltas = network.search(features, search[None])
        outputs.append((np.asarray(scores, np.float64), np.asarray(deltas, np.float64)))
    (ref_scores, ref_deltas), (scores, deltas) = outputs
    # Measured: correlation 0.99999 (bfloat16) / 0.9999 (int8), largest foreground change
    # 0.02 / 0.11, deltas 0.7 % / 1.8 % of their range.
    assert _agreement(ref_scores, ref_deltas, scores, deltas) == (True, True, True)


def _foreground(scores):
    return 0.5 * (1 + np.tanh((scores[..., 1] - scores[..., 0]) / 2))


def _agreement(ref_scores, ref_deltas, scores, deltas):
    ref_fg, fg = _foreground(np.asarray(ref_scores)), _foreground(np.asarray(scores))
    correlation = np.corrcoef(ref_fg.ravel(), fg.ravel())[0, 1]
    relative = np.abs(np.asarray(deltas) - ref_deltas).max() / np.abs(ref_deltas).max()
    return correlation > 0.99, np.abs(fg - ref_fg).max() < 0.25, relative < 0.05


def test_int8_calibrated_on_blank_crops_is_caught(tiny):
    """The check above can fail: ranges from blank crops clip real activations
    (measured: correlation 0.23, foreground change 0.58, deltas 99 %)."""
    config, variables = tiny
    reference, candidate = precision_networks(config, variables, "int8")
    real = calibration_pairs(config, sequences=2, frames_per_sequence=2)(255)
    candidate.calibration = lambda size: [(np.zeros_like(t), np.zeros_like(s)) for t, s in real]
    template, search = real[-1]
    ref_scores, ref_deltas = reference.search(reference.template(template[None]), search[None])
    scores, deltas = candidate.search(candidate.template(template[None]), search[None])
    assert _agreement(ref_scores, ref_deltas, scores, deltas) == (False, False, False)


def test_verdict_file_round_trips_as_json(tmp_path):
    path = str(tmp_path / "v.json")
    modes.write_verdict(path, {"precision": "int8", "passed": True})
    assert json.loads(open(path).read()) == {"precision": "int8", "passed": True}
