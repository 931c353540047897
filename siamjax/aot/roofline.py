"""A roofline bound on a program's time from the compiler's counts and the chip's figures.

    bound = max(FLOPs / matrix rate, bytes accessed / memory bandwidth,
                collective bytes sent / interconnect bandwidth)

The matrix rate is the chip's peak at the program's precision (``chips.matmul_rate``: a
TPU's bf16 peak over the passes a float32 precision costs; a GPU's bf16, TF32 or FP32
peak). Collective bytes are what each chip sends for its collectives under ring
algorithms (``hlo.collectives``), over the slowest link they cross (NVLink inside a GPU
node, InfiniBand between nodes, ICI across a TPU slice). The bound is a model, not a
prediction: a program cannot run faster than its binding term, and usually runs slower
(the terms overlap imperfectly, and no kernel reaches the peak); set it beside a device's
measurement whenever one is lent.
"""

from __future__ import annotations

import dataclasses

from siamjax.aot.chips import Chip, matmul_rate


@dataclasses.dataclass(frozen=True)
class Bound:
    """Seconds of each term, the largest and which term it is."""

    compute_seconds: float
    memory_seconds: float
    interconnect_seconds: float
    matmul_rate: float  # FLOP/s used for the compute term
    rate_label: str  # which peak that is
    link_bandwidth: float  # bytes/s used for the interconnect term

    @property
    def seconds(self) -> float:
        return max(self.compute_seconds, self.memory_seconds, self.interconnect_seconds)

    @property
    def binding(self) -> str:
        terms = {
            "compute": self.compute_seconds,
            "memory": self.memory_seconds,
            "interconnect": self.interconnect_seconds,
        }
        return max(terms, key=terms.get)

    def as_dict(self) -> dict:
        values = dataclasses.asdict(self)
        values.update(seconds=self.seconds, binding=self.binding)
        return values


def roofline(
    chip: Chip,
    flops: float,
    bytes_accessed: float,
    wire_bytes: float,
    compute_dtype: str,
    matmul_precision: str,
    hosts: int,
) -> Bound:
    """The bound of one program on one chip of a target with ``hosts`` hosts."""
    rate, label = matmul_rate(chip, compute_dtype, matmul_precision)
    link = chip.link_bandwidth
    if hosts > 1 and chip.host_link_bandwidth is not None:
        link = chip.host_link_bandwidth  # a ring over all chips crosses the nodes' network
    return Bound(
        compute_seconds=flops / rate,
        memory_seconds=bytes_accessed / chip.memory_bandwidth,
        interconnect_seconds=wire_bytes / link,
        matmul_rate=rate,
        rate_label=label,
        link_bandwidth=link,
    )
