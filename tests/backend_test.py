"""The backend policy: one table of XLA:CPU choices, resolved per platform, overridable
in ``config.backend``, declared by model parts (no isinstance on concrete classes)."""

import ml_collections
import pytest

from siamjax.backend import ACCELERATOR, CPU_TUNED, PLAIN, CpuTraits, resolve_policy, traits_of
from siamjax.config_defaults import base_config
from siamjax.config_loader import load_config
from siamjax.models import build_model
from tests.train.helpers import tiny_config


def _r50():
    return load_config("configs/siamrpn_r50_l234_dwxcorr_8gpu.py")


def test_cpu_gets_the_tuned_choices_and_accelerators_the_plain_ones():
    cpu = resolve_policy(base_config(), "cpu")
    assert cpu.formulation == CPU_TUNED
    assert (cpu.frozen_backbone, cpu.tracker_batch, cpu.remat) == (
        "by_sample", "map", "blocks_keep_convs")  # fmt: skip
    assert cpu.trim_host_memory and cpu.init_compiler_options() is not None
    for platform in ("cuda", "rocm", "tpu"):
        policy = resolve_policy(base_config(), platform)
        assert policy.formulation == ACCELERATOR
        assert ACCELERATOR == PLAIN.__class__(matmul_precision="highest")
        assert (policy.frozen_backbone, policy.tracker_batch, policy.remat) == (
            "batched", "vectorized", "none")  # fmt: skip
        assert not policy.trim_host_memory and policy.init_compiler_options() is None
        model = build_model(_r50().model, policy.formulation)
        assert policy.train_compiler_options(model, 0) is None  # no XLA:CPU flags
        assert policy.remat_parts(model, 0) == policy.remat_parts(model, 1) == ()


def test_config_overrides_each_choice_and_rejects_unknown_values():
    config = base_config()
    config.backend.conv = "xla"
    config.backend.tracker_batch = "vectorized"
    config.backend.trim_host_memory = "off"
    policy = resolve_policy(config, "cpu")
    assert policy.formulation.conv == "xla"
    assert policy.formulation.correlation == "taps"  # still auto
    assert policy.tracker_batch == "vectorized" and policy.trim_host_memory is False
    assert "conv=xla (config)" in policy.describe()
    config.backend.correlation = "taps"
    assert resolve_policy(config, "tpu").formulation.correlation == "taps"
    config.backend.depthwise_conv = "fft"
    with pytest.raises(ValueError, match="config.backend.depthwise_conv is 'fft'"):
        resolve_policy(config, "cpu")
    with pytest.raises(ValueError, match="unknown platform"):
        resolve_policy(base_config(), "quantum")
    config = base_config()
    config.backend.speed = "max"
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['speed'\]"):
        resolve_policy(config)


def test_parts_declare_what_recomputes_and_where_ynn_fusions_stay_on():
    r50 = build_model(_r50().model)
    cpu = resolve_policy(_r50(), "cpu")
    assert cpu.remat_parts(r50, 0) == ("neck", "rpn_head")
    assert cpu.remat_parts(r50, 1) == ("backbone",)
    recomputing = cpu.with_remat(r50, 1)
    assert recomputing.backbone.remat == "blocks_keep_convs" and recomputing.neck.remat == "none"
    # A frozen ResNet and AlexNet train faster without YNN fusions; other phases keep them.
    assert cpu.train_compiler_options(r50, 0) == {"xla_cpu_experimental_ynn_fusion_type": ""}
    assert cpu.train_compiler_options(r50, 1) is None
    # float64 (parity checks) keeps XLA's defaults: its float64 convolutions need them.
    assert cpu.train_compiler_options(r50, 0, "float64") is None
    alex = load_config("configs/siamrpn_alex_dwxcorr.py")
    alex_model = build_model(alex.model)
    assert cpu.train_compiler_options(alex_model, 1) is not None
    assert traits_of(alex_model.backbone).ynn_fusion_phases == ()
    # An undeclared part gets XLA's defaults.
    tiny = build_model(tiny_config().model)
    assert traits_of(tiny.backbone) == CpuTraits()
    assert cpu.train_compiler_options(tiny, 0) is None
    assert cpu.remat_parts(tiny, 0) == ("rpn_head",) and cpu.remat_parts(tiny, 1) == ()


def test_explicit_remat_on_a_model_that_recomputes_nothing_is_an_error():
    config = tiny_config()
    config.model.rpn = ml_collections.ConfigDict({"name": "up_channel_rpn", "feature_in": 8})
    model = build_model(config.model)
    assert resolve_policy(config, "cpu").with_remat(model, 1) is model  # auto: nothing to do
    config.backend.remat = "blocks"
    with pytest.raises(ValueError, match="config.backend.remat is 'blocks'"):
        resolve_policy(config, "cpu").with_remat(model, 1)


def test_build_model_uses_the_backend_formulation_by_default():
    model = build_model(tiny_config().model)
    assert model.formulation == CPU_TUNED  # the tests run on CPU
    assert build_model(tiny_config().model, PLAIN).formulation == PLAIN
