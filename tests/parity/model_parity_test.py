"""Network parity with pysot (docs/parity.md §13) on random, BN-calibrated weights.

Runs only when SIAMJAX_PYSOT_DIR points at a pysot checkout and torch is importable.
For each model: pysot's state_dict is saved with ``torch.save``, read back by siamjax's
torch-free reader and converted; weights must round-trip bitwise; every backbone stage,
neck level and the final cls/loc must match within the tolerances in each test.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

from siamjax.config_loader import load_config
from siamjax.models import build_model
from siamjax.models.convert import flax_to_pysot, normalize_state_dict, pysot_to_flax
from siamjax.models.layout import to_pysot_layout
from siamjax.models.pth import load_pth
from siamjax.models.siamrpn import SiamRPN
from tests.conftest import config_path
from tests.parity.reference_runner import (
    build_pysot_model,
    calibrate_batch_norm,
    nchw,
    real_crops,
    require_pysot,
)

pytestmark = pytest.mark.parity

# (pysot experiment, siamjax config, hooked pysot backbone modules -> siamjax stage names)
CASES = {
    "r50": ("siamrpn_r50_l234_dwxcorr", "siamrpn_r50_l234_dwxcorr",
            {"relu": "stage0", "layer1": "stage1", "layer2": "stage2", "layer3": "stage3",
             "layer4": "stage4"}),
    "r50_lt": ("siamrpn_r50_l234_dwxcorr_lt", "siamrpn_r50_l234_dwxcorr_lt",
               {"relu": "stage0", "layer1": "stage1", "layer2": "stage2", "layer3": "stage3",
                "layer4": "stage4"}),
    "alex": ("siamrpn_alex_dwxcorr", "siamrpn_alex_dwxcorr",
             {"features.3": "stage1", "features.7": "stage2", "features.10": "stage3",
              "features.13": "stage4", "features.15": "stage5"}),
    "mbv2": ("siamrpn_mobilev2_l234_dwxcorr", "siamrpn_mobilev2_l234_dwxcorr",
             {f"layer{i}": f"stage{i}" for i in range(8)}),
}  # fmt: skip

MEASURED: dict[str, dict[str, float]] = {}


def _relative_error(ours: np.ndarray, reference: np.ndarray) -> float:
    scale = max(float(np.abs(reference).max()), 1e-12)
    return float(np.abs(ours - reference).max()) / scale


def _capture(torch_model, names):
    captured = {}

    def hook(name):
        def store(_module, _inputs, output):
            captured[name] = output.detach().numpy().copy()

        return store

    handles = [torch_model.get_submodule(n).register_forward_hook(hook(n)) for n in names]
    return captured, handles


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request, tmp_path_factory):
    torch = require_pysot()
    experiment, config_name, backbone_hooks = CASES[request.param]
    torch_model, cfg = build_pysot_model(experiment, seed=1)
    exemplar, instance = cfg.TRACK.EXEMPLAR_SIZE, cfg.TRACK.INSTANCE_SIZE
    calibrate_batch_norm(torch_model, exemplar, instance)
    path = tmp_path_factory.mktemp(request.param) / "model.pth"
    torch.save({"state_dict": torch_model.state_dict(), "epoch": 3}, str(path))

    template = real_crops(2, exemplar, seed=101)
    search = real_crops(2, instance, seed=202)
    reference = {}
    neck_names = []
    if cfg.ADJUST.ADJUST:
        neck_names = [n for n, _ in torch_model.neck.named_children()]
    for branch, images in (("template", template), ("search", search)):
        names = [f"backbone.{n}" for n in backbone_hooks] + [f"neck.{n}" for n in neck_names]
        captured, handles = _capture(torch_model, names)
        with torch.no_grad():
            backbone_features = torch_model.backbone(nchw(images))
            if neck_names:
                torch_model.neck(backbone_features)
        for handle in handles:
            handle.remove()
        reference[branch] = captured
    with torch.no_grad():
        torch_model.template(nchw(template))
        outputs = torch_model.track(nchw(search))
    reference["cls"] = outputs["cls"].numpy()
    reference["loc"] = outputs["loc"].numpy()

    config = load_config(config_path(config_name))
    model = build_model(config.model)
    shapes = jax.eval_shape(model.init, jax.random.key(0), template[:1], search[:1])
    checkpoint = load_pth(str(path))
    variables = pysot_to_flax(checkpoint, shapes)
    return dict(
        name=request.param,
        model=model,
        variables=variables,
        state_dict={k: v.numpy() for k, v in torch_model.state_dict().items()},
        checkpoint=checkpoint,
        template=template,
        search=search,
        reference=reference,
        backbone_hooks=backbone_hooks,
        neck_names=neck_names,
    )


def test_converted_weights_are_bitwise_equal(case):
    expected = normalize_state_dict(case["state_dict"])
    round_trip = flax_to_pysot(case["variables"])
    assert list(round_trip) == list(expected) or set(round_trip) == set(expected)
    for key, value in expected.items():
        assert round_trip[key].shape == value.shape, key
        assert round_trip[key].tobytes() == value.astype(np.float32).tobytes(), key


def test_backbone_stages_and_neck_levels_match(case):
    model: SiamRPN = case["model"]
    errors = MEASURED.setdefault(case["name"], {})
    for branch in ("template", "search"):
        images = case[branch]
        features, state = model.apply(
            case["variables"], images, method=SiamRPN.embed_template, mutable=["intermediates"]
        )
        stages = {k: v[0] for k, v in state["intermediates"]["backbone"].items()}
        for torch_name, stage in case["backbone_hooks"].items():
            ours = np.asarray(stages[stage]).transpose(0, 3, 1, 2)
            reference = case["reference"][branch][f"backbone.{torch_name}"]
            assert ours.shape == reference.shape, (branch, stage)
            error = _relative_error(ours, reference)
            errors[f"{branch} {stage}"] = error
            assert error <= 1e-4, (branch, stage, error)
        for position, neck_name in enumerate(case["neck_names"]):
            key = sorted(features, key=lambda k: int(k[5:]))[position]
            ours = np.asarray(features[key]).transpose(0, 3, 1, 2)
            reference = case["reference"][branch][f"neck.{neck_name}"]
            assert ours.shape == reference.shape, (branch, neck_name)
            error = _relative_error(ours, reference)
            errors[f"{branch} neck {neck_name}"] = error
            assert error <= 1e-4, (branch, neck_name, error)


def test_head_outputs_match(case):
    model: SiamRPN = case["model"]
    outputs = jax.jit(model.apply)(case["variables"], case["template"], case["search"])
    cls, loc = to_pysot_layout(outputs["scores"], outputs["deltas"])
    errors = MEASURED.setdefault(case["name"], {})
    for name, ours in (("cls", cls), ("loc", loc)):
        reference = case["reference"][name]
        assert ours.shape == reference.shape
        error = float(np.abs(ours - reference).max())
        errors[f"{name} max-abs"] = error
        errors[f"{name} scale"] = float(np.abs(reference).max())
        assert error <= 1e-4, (name, error)


def test_report_measured_differences(case):
    """Prints the measured maxima (pytest -s) so they can be quoted."""
    assert MEASURED.get(case["name"]), "the comparison tests did not record anything"
    print(f"\n{case['name']}:")
    for key, value in MEASURED[case["name"]].items():
        print(f"  {key:<28} {value:.3g}")
