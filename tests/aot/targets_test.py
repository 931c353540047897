"""Target names -> chips, hosts and the topology the plugins take (no plugin needed)."""

import pytest

from siamjax.aot.chips import CHIPS, matmul_rate
from siamjax.aot.targets import TargetError, parse_target


@pytest.mark.parametrize(
    "name, chips, hosts, topology",
    [
        ("v5p-8", 4, 1, "v5p:2x2x1"),  # v5p names count TensorCores: 8 cores, 4 chips
        ("v5p-16", 8, 2, "v5p:2x2x2"),
        ("v4-8", 4, 1, "v4:2x2x1"),
        ("v4-128", 64, 16, "v4:4x4x4"),
        ("v4-512", 256, 64, "v4:4x8x8"),
        ("v5e-4", 4, 1, "v5e:2x2"),
        ("v5e-8", 8, 1, "v5e:2x4"),  # v5e names count chips; 8 chips on one host
        ("v5litepod-16", 16, 4, "v5e:4x4"),
        ("v5e-256", 256, 64, "v5e:16x16"),
        ("v6e-8", 8, 1, "v6e:2x4"),
        ("h100x8", 8, 1, "1x1x8"),
        ("h200x8", 8, 1, "1x1x8"),
        ("a100x8", 8, 1, "1x1x8"),
        ("h100x8x2", 16, 2, "1x2x8"),
    ],
)
def test_target_names_resolve_as_cloud_tpu_and_nvidia_name_them(name, chips, hosts, topology):
    target = parse_target(name)
    assert (target.chips, target.hosts, target.topology) == (chips, hosts, topology)
    assert target.chips_per_host * target.hosts == target.chips


def test_megacore_and_wraparound_options():
    options = dict(parse_target("v5p-128").options)
    assert options["chip_config_name"] == "megacore"
    assert options["wrap"] == (True, True, True)  # a full 4x4x4 cube is a torus
    assert dict(parse_target("v5p-8").options)["wrap"] == (False, False, False)
    v5e = dict(parse_target("v5e-256").options)
    assert v5e["chip_config_name"] == "default"
    assert v5e["wrap"] == (True, True, False)
    assert v5e["chips_per_host_bounds"] == (2, 2, 1)
    assert dict(parse_target("v5e-8").options)["chips_per_host_bounds"] == (2, 4, 1)


@pytest.mark.parametrize(
    "name, words",
    [
        ("v5p-6", "power-of-two"),
        ("v4-4", "at least 8"),
        ("v5e-12", "v5e-1, v5e-4, v5e-8"),
        ("h100x9", "1 to 8 GPUs"),
        ("tpu-v9", "unknown target"),
    ],
)
def test_bad_target_names_are_one_line(name, words):
    with pytest.raises(TargetError, match=words) as raised:
        parse_target(name)
    assert "\n" not in str(raised.value)


def test_precision_passes_and_gpu_peaks():
    v5e, h100 = CHIPS["v5e"], CHIPS["h100"]
    assert matmul_rate(v5e, "bfloat16", "highest")[0] == v5e.bf16_flops
    assert matmul_rate(v5e, "float32", "default")[0] == v5e.bf16_flops
    assert matmul_rate(v5e, "float32", "high")[0] == pytest.approx(v5e.bf16_flops / 3)
    assert matmul_rate(v5e, "float32", "highest")[0] == pytest.approx(v5e.bf16_flops / 6)
    assert matmul_rate(h100, "bfloat16", "highest")[0] == h100.bf16_flops
    assert matmul_rate(h100, "float32", "default")[0] == h100.tf32_flops
    assert matmul_rate(h100, "float32", "high")[0] == h100.tf32_flops
    assert matmul_rate(h100, "float32", "highest")[0] == h100.fp32_flops


def test_the_documented_compile_table_matches_the_kept_reports():
    import importlib.util
    import os

    from tests.conftest import REPO_ROOT

    path = os.path.join(REPO_ROOT, "benchmarks", "compile_table.py")
    spec = importlib.util.spec_from_file_location("compile_table", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    expected = module.table(os.path.join(REPO_ROOT, "benchmarks", "compile"))
    assert expected.count("\n") >= 3  # the header and some reports
    for document in module.DOCUMENTS:
        assert module.documented_table(document) == expected, (
            f"{document}: run python benchmarks/compile_table.py --write"
        )
