"""The accelerator chips' published figures, the roofline's denominators.

Every number is the vendor's own, from the page named in ``source``; none was measured
here. Bandwidths are bytes per second in *one direction* per chip: where a vendor quotes a
bidirectional figure (NVLink's 900 GB/s, the newer Cloud TPU pages' "bidirectional ICI
bandwidth") it is halved. FLOP rates are dense (NVIDIA's datasheets quote the tensor-core
rates "with sparsity", twice the dense rate: the dense one is used).

==========  ==========  ==========  ==========  ========  ==========  ===============  =========
chip        bf16        TF32        FP32        memory    memory bw   interconnect     between
            TFLOP/s     TFLOP/s     TFLOP/s               GB/s        GB/s (one way)   hosts
==========  ==========  ==========  ==========  ========  ==========  ===============  =========
TPU v4      275         (bf16)      (bf16)      32 GiB    1,200       300 (ICI)        ICI
TPU v5e     197         (bf16)      (bf16)      16 GiB    819         200 (ICI)        ICI
TPU v5p     459         (bf16)      (bf16)      95 GB     2,765       600 (ICI)        ICI
TPU v6e     918         (bf16)      (bf16)      32 GB     1,638       400 (ICI)        ICI
A100 80GB   312         156         19.5        80 GB     2,039       300 (NVLink 3)   25 (IB)
H100 SXM    989.4       494.7       67          80 GB     3,350       450 (NVLink 4)   50 (IB)
H200 SXM    989.4       494.7       67          141 GB    4,800       450 (NVLink 4)   50 (IB)
==========  ==========  ==========  ==========  ========  ==========  ===============  =========

TPUs have no TF32 or FP32 matrix unit: float32 matmuls run as bfloat16 passes on the
bf16 unit (``PASSES``). A TPU slice is one ICI network across its hosts; GPU nodes talk
over InfiniBand, one 400 Gb/s (H100, H200) or 200 Gb/s (A100) adapter per GPU in NVIDIA's
DGX/HGX reference systems.
"""

from __future__ import annotations

import dataclasses

GB = 10**9
GIB = 2**30
TERA = 10**12


@dataclasses.dataclass(frozen=True)
class Chip:
    """One accelerator chip's published figures (SI units: FLOP/s, bytes, bytes/s).

    Attributes:
      name: as reports print it.
      platform: 'tpu' or 'cuda' (``jax.export`` lowering names).
      bf16_flops: dense bfloat16 matrix-unit peak.
      tf32_flops / fp32_flops: a GPU's TF32 tensor-core and FP32 (CUDA-core) peaks; None on
        TPU, whose float32 matmuls are bfloat16 passes.
      memory_bytes: HBM capacity per chip.
      memory_bandwidth: HBM bytes/s.
      link_bandwidth: chip-to-chip bytes/s one way inside a slice / node (ICI, NVLink).
      host_link_bandwidth: bytes/s one way per chip between nodes (None: the slice's ICI
        spans hosts).
      source: where the figures come from.
    """

    name: str
    platform: str
    bf16_flops: float
    tf32_flops: float | None
    fp32_flops: float | None
    memory_bytes: int
    memory_bandwidth: float
    link_bandwidth: float
    host_link_bandwidth: float | None
    source: str


CHIPS = {
    "v4": Chip(
        "TPU v4",
        "tpu",
        275 * TERA,
        None,
        None,
        32 * GIB,
        1200 * GB,
        300 * GB,
        None,
        "cloud.google.com/tpu/docs/v4 (peak, HBM); ICI 2,400 Gb/s per chip: Jouppi et al., "
        "'TPU v4', ISCA 2023",
    ),
    "v5e": Chip(
        "TPU v5e",
        "tpu",
        197 * TERA,
        None,
        None,
        16 * GIB,
        819 * GB,
        200 * GB,
        None,
        "cloud.google.com/tpu/docs/v5e (400 GB/s bidirectional ICI per chip)",
    ),
    "v5p": Chip(
        "TPU v5p",
        "tpu",
        459 * TERA,
        None,
        None,
        95 * GB,
        2765 * GB,
        600 * GB,
        None,
        "cloud.google.com/tpu/docs/v5p (ICI 4,800 Gb/s per chip)",
    ),
    "v6e": Chip(
        "TPU v6e",
        "tpu",
        918 * TERA,
        None,
        None,
        32 * GB,
        1638 * GB,
        400 * GB,
        None,
        "cloud.google.com/tpu/docs/v6e (800 GB/s bidirectional ICI per chip)",
    ),
    "a100": Chip(
        "A100 SXM4 80GB",
        "cuda",
        312 * TERA,
        156 * TERA,
        19.5 * TERA,
        80 * GB,
        2039 * GB,
        300 * GB,
        25 * GB,
        "NVIDIA A100 datasheet (NVLink 600 GB/s bidirectional); DGX A100: 200 Gb/s HDR per GPU",
    ),
    "h100": Chip(
        "H100 SXM5 80GB",
        "cuda",
        989.4 * TERA,
        494.7 * TERA,
        67 * TERA,
        80 * GB,
        3350 * GB,
        450 * GB,
        50 * GB,
        "NVIDIA H100 datasheet (NVLink 900 GB/s bidirectional); DGX H100: 400 Gb/s NDR per GPU",
    ),
    "h200": Chip(
        "H200 SXM 141GB",
        "cuda",
        989.4 * TERA,
        494.7 * TERA,
        67 * TERA,
        141 * GB,
        4800 * GB,
        450 * GB,
        50 * GB,
        "NVIDIA H200 datasheet (NVLink 900 GB/s bidirectional); HGX H200: 400 Gb/s per GPU",
    ),
}

# bfloat16 passes a float32 matmul costs on a TPU's bf16 unit at each matmul precision.
TPU_PASSES = {"default": 1, "high": 3, "highest": 6}


def matmul_rate(chip: Chip, compute_dtype: str, matmul_precision: str) -> tuple[float, str]:
    """(FLOP/s, what it is) of ``chip``'s matrix units for a program computing in
    ``compute_dtype`` at ``matmul_precision`` ('default', 'high', 'highest').

    TPU: the bf16 peak over the passes (bfloat16 compute and float32 'default': 1, 'high':
    3, 'highest': 6). GPU: bfloat16 runs at the bf16 peak; float32 at 'default' and 'high'
    at the TF32 tensor-core peak (XLA's GPU backend allows TF32 for both), at 'highest' at
    the FP32 peak.
    """
    low_precision = str(compute_dtype) in ("bfloat16", "float16")
    if chip.platform == "tpu":
        passes = 1 if low_precision else TPU_PASSES[matmul_precision]
        label = "bf16 peak" if passes == 1 else f"bf16 peak / {passes} passes"
        return chip.bf16_flops / passes, label
    if low_precision:
        return chip.bf16_flops, "bf16 tensor-core peak"
    if matmul_precision == "highest":
        return chip.fp32_flops, "FP32 peak"
    return chip.tf32_flops, "TF32 tensor-core peak"
