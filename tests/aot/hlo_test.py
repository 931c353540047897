"""HLO text analysis on handwritten modules: shapes, collectives, library-call FLOPs, checks."""
# ruff: noqa: E501 (HLO lines are as XLA prints them)

import pytest

from siamjax.aot import hlo
from siamjax.aot.chips import CHIPS
from siamjax.aot.roofline import roofline

MODULE = """HloModule jit_step, entry_computation_layout={()}

%add (x: f32[], y: f32[]) -> f32[] {
  %x = f32[] parameter(0)
  %y = f32[] parameter(1)
  ROOT %sum = f32[] add(%x, %y)
}

ENTRY %main.9 (p0: f32[8,32,32,64], p1: f32[3,3,64,64], p2: f32[8,128]) -> f32[64] {
  %p0 = f32[8,32,32,64]{3,2,1,0} parameter(0)
  %p1 = f32[3,3,64,64]{3,2,1,0} parameter(1)
  %p2 = f32[8,128]{1,0} parameter(2)
  %conv = (f32[8,32,32,64]{3,2,1,0}, u8[0]{0}) custom-call(%p0, %p1), window={size=3x3 pad=1_1x1_1}, dim_labels=b01f_01io->b01f, custom_call_target="__cudnn$convForward", backend_config={"x":1}
  %filter = (f32[3,3,64,64]{3,2,1,0}, u8[0]{0}) custom-call(%p0, %p0), window={size=3x3 pad=1_1x1_1}, dim_labels=b01f_01io->b01f, custom_call_target="__cudnn$convBackwardFilter"
  %gemm = (f32[8,256]{1,0}, s8[1024]{0}) custom-call(%p2, %p2), custom_call_target="__cublas$gemm", backend_config={"gemm_backend_config":{"dot_dimension_numbers":{"lhs_contracting_dimensions":["1"],"rhs_contracting_dimensions":["0"],"lhs_batch_dimensions":[],"rhs_batch_dimensions":[]}}}
  %ar = (f32[64]{0}, f32[16]{0}) all-reduce-start(%p1, %p1), channel_id=1, replica_groups=[1,8]<=[8], to_apply=%add
  %ard = (f32[64]{0}, f32[16]{0}) all-reduce-done(%ar)
  %ag = f32[8,64]{1,0} all-gather(%p1), replica_groups={{0,1,2,3},{4,5,6,7}}, dimensions={0}
  %rs = f32[4]{0} reduce-scatter(%p1), replica_groups=mesh['axis_0'=8,'axis_1'=1] {'axis_0'}, to_apply=%add
  %cb = f32[4]{0} custom-call(%p2), custom_call_target="xla_ffi_python_gpu_callback"
  %wide = f64[2]{0} convert(%p2)
  ROOT %out = f32[64]{0} get-tuple-element(%ard), index=0
}
"""


def test_shapes_and_instructions():
    assert hlo.shape_bytes("(f32[64]{0}, bf16[2,3]{1,0}, s32[])") == 64 * 4 + 6 * 2 + 4
    ops = hlo.instructions(MODULE)
    by_name = {op.name: op for op in ops}
    assert by_name["sum"].computation == "add"
    assert by_name["conv"].computation == "main.9"
    assert by_name["conv"].operands == ("p0", "p1")
    assert by_name["ar"].opcode == "all-reduce-start"
    assert by_name["ar"].shape == "(f32[64]{0}, f32[16]{0})"


def test_collectives_by_kind_with_group_sizes_and_ring_bytes():
    found = {c.kind: c for c in hlo.collectives(hlo.instructions(MODULE), devices=8)}
    assert set(found) == {"all-reduce", "all-gather", "reduce-scatter"}  # -done not counted
    assert found["all-reduce"].count == 1
    assert found["all-reduce"].bytes == (64 + 16) * 4
    assert found["all-reduce"].wire_bytes == pytest.approx((64 + 16) * 4 * 2 * 7 / 8)
    assert found["all-gather"].group_sizes == {4}
    assert found["all-gather"].wire_bytes == pytest.approx(8 * 64 * 4 * 3 / 4)
    assert found["reduce-scatter"].group_sizes == {8}
    assert found["reduce-scatter"].bytes == 4 * 4 * 8  # the whole buffer, not the shard


def test_cudnn_convolution_and_cublas_gemm_flops():
    calls = hlo.library_calls(hlo.instructions(MODULE))
    assert (calls.convolutions, calls.gemms) == (2, 1)
    conv = 2 * (8 * 32 * 32 * 64) * 9 * 64  # output x window x input features
    gemm = 2 * (8 * 256) * 128
    # The filter gradient describes the same convolution (output: its second operand).
    assert calls.flops == 2 * conv + gemm
    assert calls.bytes > 0


def test_checks_find_callbacks_float64_and_no_transfers():
    ops = hlo.instructions(MODULE)
    found = hlo.checks(ops, MODULE)
    assert found.host_callbacks == 1
    assert found.float64_values == 1
    assert found.host_transfers == 0
    assert found.while_loops == 0


def test_the_bound_names_its_binding_term():
    v5e = CHIPS["v5e"]
    compute = roofline(v5e, 197e12, 1e9, 0.0, "bfloat16", "highest", hosts=1)
    assert compute.binding == "compute" and compute.seconds == pytest.approx(1.0)
    # float32 at 'highest' on a TPU: six bf16 passes.
    assert roofline(v5e, 197e12, 0, 0, "float32", "highest", 1).seconds == pytest.approx(6.0)
    memory = roofline(v5e, 1e9, 819e9 * 2, 0.0, "float32", "default", hosts=1)
    assert memory.binding == "memory" and memory.seconds == pytest.approx(2.0)
    h100 = CHIPS["h100"]
    within = roofline(h100, 0, 0, 450e9, "float32", "default", hosts=1)
    across = roofline(h100, 0, 0, 450e9, "float32", "default", hosts=2)
    assert within.seconds == pytest.approx(1.0)  # NVLink inside a node
    assert across.seconds == pytest.approx(9.0)  # InfiniBand between nodes
    assert across.binding == "interconnect"
