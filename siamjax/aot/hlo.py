"""What a compiled program's HLO text says: collectives, convolution and GEMM FLOPs in
library calls, and anything that would leave the device.

XLA's cost analysis (``Compiled.cost_analysis()``) comes from the backend's compiler: libtpu
answers for TPU programs, but a GPU program compiled without a GPU answers nothing. Its
counts are then taken from the optimised module itself: XLA's generic ``HloCostAnalysis``
(run by the CPU client over the GPU module) counts every fused and elementwise op, but
gives each ``custom-call`` no FLOPs; the custom calls that matter here are cuDNN
convolutions and cuBLAS GEMMs, and ``library_calls`` counts them from their shapes, the
convolution's window and dimension labels or the GEMM's contracting dimensions.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re

DTYPE_BYTES = {
    "pred": 1,
    "s4": 0.5,
    "u4": 0.5,
    "s8": 1,
    "u8": 1,
    "f8e4m3fn": 1,
    "f8e5m2": 1,
    "s16": 2,
    "u16": 2,
    "f16": 2,
    "bf16": 2,
    "s32": 4,
    "u32": 4,
    "f32": 4,
    "s64": 8,
    "u64": 8,
    "f64": 8,
    "c64": 8,
    "c128": 16,
}
_ARRAY = re.compile(r"\b([a-z][a-z0-9]*)\[([0-9,]*)\]")
_HEADER = re.compile(r"^\s*(?:ENTRY\s+)?%?([\w.\-]+)\s*\(.*\)\s*->\s*.*\{\s*$")
_NAME = re.compile(r"^\s*(?:ROOT\s+)?%?([\w.\-]+)\s*=\s*")
COLLECTIVES = (
    "all-reduce",
    "all-gather",
    "reduce-scatter",
    "all-to-all",
    "ragged-all-to-all",
    "collective-permute",
    "collective-broadcast",
)
# Bytes each chip sends per byte of the buffer, ring algorithms over a group of n.
_WIRE_FACTOR = {
    "all-reduce": lambda n: 2 * (n - 1) / n,
    "all-gather": lambda n: (n - 1) / n,
    "reduce-scatter": lambda n: (n - 1) / n,
    "all-to-all": lambda n: (n - 1) / n,
    "ragged-all-to-all": lambda n: (n - 1) / n,
    "collective-permute": lambda n: 1.0,
    "collective-broadcast": lambda n: 1.0,
}
HOST_CALLBACK_TARGETS = ("callback", "host_compute", "HostExecute")
HOST_OPCODES = ("send", "send-done", "recv", "recv-done", "infeed", "outfeed")


def arrays(shape_text: str) -> list[tuple[str, tuple[int, ...]]]:
    """[(dtype, dims)] of every array in an HLO shape ('f32[2,3]{1,0}', tuples too)."""
    return [
        (dtype, tuple(int(d) for d in dims.split(",") if d))
        for dtype, dims in _ARRAY.findall(shape_text)
        if dtype in DTYPE_BYTES
    ]


def array_bytes(dtype: str, dims) -> float:
    return DTYPE_BYTES[dtype] * math.prod(dims)


def shape_bytes(shape_text: str) -> float:
    return sum(array_bytes(dtype, dims) for dtype, dims in arrays(shape_text))


@dataclasses.dataclass(frozen=True)
class Instruction:
    """One HLO instruction: its computation, name, result shape text, opcode, operand
    names and the attribute text after the operands."""

    computation: str
    name: str
    shape: str
    opcode: str
    operands: tuple[str, ...]
    attributes: str


def _split_shape(rest: str) -> tuple[str, str]:
    """'(f32[2], s32[]) all-reduce(...)' -> ('(f32[2], s32[])', 'all-reduce(...)')."""
    if rest.startswith("("):
        depth = 0
        for index, char in enumerate(rest):
            depth += {"(": 1, ")": -1}.get(char, 0)
            if depth == 0:
                return rest[: index + 1], rest[index + 1 :].lstrip()
    shape, _, tail = rest.partition(" ")
    return shape, tail


def _split_operands(tail: str) -> tuple[str, tuple[str, ...], str]:
    opcode, _, after = tail.partition("(")
    depth, end = 1, len(after)
    for index, char in enumerate(after):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0:
            end = index
            break
    names = tuple(re.findall(r"%([\w.\-]+)", after[:end]))
    return opcode.strip(), names, after[end + 1 :]


def instructions(hlo_text: str) -> list[Instruction]:
    """Every instruction of an HLO module's text, with the computation it belongs to."""
    found, computation = [], ""
    for line in hlo_text.splitlines():
        header = _HEADER.match(line)
        if header and " = " not in line.split("(")[0]:
            computation = header.group(1)
            continue
        named = _NAME.match(line)
        if not named:
            continue
        shape, tail = _split_shape(line[named.end() :])
        opcode, operands, attributes = _split_operands(tail)
        found.append(Instruction(computation, named.group(1), shape, opcode, operands, attributes))
    return found


def _group_size(attributes: str, devices: int) -> int:
    """Devices in one replica group of a collective (all of them when unstated)."""
    iota = re.search(r"replica_groups=\[(\d+),(\d+)\]<=", attributes)
    if iota:
        return int(iota.group(2))
    listed = re.search(r"replica_groups=\{\{([0-9,]*)\}", attributes)
    if listed:
        return len([x for x in listed.group(1).split(",") if x])
    mesh = re.search(r"replica_groups=mesh\[([^\]]*)\]\s*\{([^}]*)\}", attributes)
    if mesh:
        sizes = dict(re.findall(r"'([^']+)'=(\d+)", mesh.group(1)))
        axes = re.findall(r"'([^']+)'", mesh.group(2))
        return math.prod(int(sizes[axis]) for axis in axes if axis in sizes) or devices
    pairs = re.search(r"source_target_pairs=\{(.*?)\}\s*(?:,|$)", attributes)
    if pairs:
        return 2
    return devices


def _collective_kind(opcode: str) -> str | None:
    base = opcode.removesuffix("-start")
    return base if base in COLLECTIVES else None


def _collective_buffer(kind: str, opcode: str, shape: str, group: int) -> float:
    """Bytes of the whole buffer a collective works on, from its result shape."""
    sizes = [array_bytes(dtype, dims) for dtype, dims in arrays(shape)]
    if not sizes:
        return 0.0
    if opcode.endswith("-start") and kind in ("all-gather", "collective-permute"):
        return max(sizes)  # (operand, result[, contexts]): the result is the largest
    if kind == "reduce-scatter":
        return sum(sizes) * group
    return sum(sizes)


@dataclasses.dataclass
class Collective:
    """The collectives of one kind: how many, the buffers' bytes and the bytes each chip
    sends for them (ring algorithms)."""

    kind: str
    count: int = 0
    bytes: float = 0.0
    wire_bytes: float = 0.0
    group_sizes: set = dataclasses.field(default_factory=set)

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "count": self.count,
            "bytes": self.bytes,
            "wire_bytes": self.wire_bytes,
            "group_sizes": sorted(self.group_sizes),
        }


def collectives(program: list[Instruction], devices: int) -> list[Collective]:
    """Collectives by kind (async pairs counted once, at their start). Static counts: an
    op inside a loop body counts once."""
    found: dict[str, Collective] = {}
    for op in program:
        kind = _collective_kind(op.opcode)
        if kind is None:
            continue
        group = _group_size(op.attributes, devices)
        buffer = _collective_buffer(kind, op.opcode, op.shape, group)
        entry = found.setdefault(kind, Collective(kind))
        entry.count += 1
        entry.bytes += buffer
        entry.wire_bytes += buffer * (_WIRE_FACTOR[kind](group) if group > 1 else 0.0)
        entry.group_sizes.add(group)
    return sorted(found.values(), key=lambda c: -c.bytes)


def _custom_target(op: Instruction) -> str:
    match = re.search(r'custom_call_target="([^"]*)"', op.attributes)
    return match.group(1) if match else ""


def _conv_flops(op: Instruction, shapes: dict, target: str) -> float:
    """FLOPs of a cuDNN convolution call: 2 x output elements x window x input features
    per group, with (input, kernel, output) of the forward convolution it describes."""
    labels = re.search(r"dim_labels=([0-9a-z]+)_([0-9a-z]+)->([0-9a-z]+)", op.attributes)
    result = arrays(op.shape)
    operands = [arrays(shapes.get(name, "")) for name in op.operands]
    if not labels or not result or len(operands) < 2 or not operands[0] or not operands[1]:
        return 0.0
    first, second, out = operands[0][0][1], operands[1][0][1], result[0][1]
    if target.endswith("convBackwardInput"):
        output, kernel = first, second
    elif target.endswith("convBackwardFilter"):
        output, kernel = second, out
    else:
        output, kernel = out, second
    kernel_labels = labels.group(2)
    window = math.prod(kernel[i] for i, c in enumerate(kernel_labels) if c.isdigit())
    input_features = kernel[kernel_labels.index("i")]
    return 2.0 * math.prod(output) * window * input_features


def _gemm_flops(op: Instruction, shapes: dict) -> float:
    """FLOPs of a cuBLAS GEMM call: 2 x output elements x contracted size."""
    result = arrays(op.shape)
    lhs = arrays(shapes.get(op.operands[0], "")) if op.operands else []
    config = re.search(r"backend_config=(\{.*\})\s*$", op.attributes)
    if not result or not lhs or not config:
        return 0.0
    try:
        numbers = json.loads(config.group(1))["gemm_backend_config"]["dot_dimension_numbers"]
    except (ValueError, KeyError):
        return 0.0
    contracted = math.prod(lhs[0][1][int(d)] for d in numbers["lhs_contracting_dimensions"])
    return 2.0 * math.prod(result[0][1]) * contracted


@dataclasses.dataclass(frozen=True)
class LibraryCalls:
    """cuDNN convolution and cuBLAS GEMM calls: how many, their FLOPs, and the bytes they
    read and write (operands and result, without the workspace)."""

    convolutions: int
    gemms: int
    flops: float
    bytes: float


def library_calls(program: list[Instruction]) -> LibraryCalls:
    shapes = {(op.computation, op.name): op.shape for op in program}
    convolutions = gemms = 0
    flops = bytes_accessed = 0.0
    for op in program:
        if op.opcode != "custom-call":
            continue
        target = _custom_target(op)
        local = {name: shapes.get((op.computation, name), "") for name in op.operands}
        if target.startswith("__cudnn$conv"):
            convolutions += 1
            flops += _conv_flops(op, local, target)
        elif target.startswith("__cublas$"):
            gemms += 1
            flops += _gemm_flops(op, local)
        else:
            continue
        result = arrays(op.shape)
        bytes_accessed += sum(shape_bytes(local[name]) for name in op.operands)
        bytes_accessed += array_bytes(*result[0]) if result else 0.0
    return LibraryCalls(convolutions, gemms, flops, bytes_accessed)


@dataclasses.dataclass(frozen=True)
class Checks:
    """What would make the program leave the device or compute in float64."""

    host_callbacks: int  # Python / host callbacks (custom calls)
    host_transfers: int  # send / recv / infeed / outfeed, host-memory-space buffers
    float64_values: int  # instructions with a float64 result
    while_loops: int  # loops (their bodies are counted once)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def checks(program: list[Instruction], hlo_text: str) -> Checks:
    callbacks = sum(
        1
        for op in program
        if op.opcode == "custom-call"
        and any(word in _custom_target(op) for word in HOST_CALLBACK_TARGETS)
    )
    transfers = sum(1 for op in program if op.opcode in HOST_OPCODES)
    transfers += len(re.findall(r"\bS\(5\)", hlo_text))  # the host memory space
    float64 = sum(1 for op in program if any(dtype == "f64" for dtype, _ in arrays(op.shape)))
    loops = sum(1 for op in program if op.opcode == "while")
    return Checks(callbacks, transfers, float64, loops)
