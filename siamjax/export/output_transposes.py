"""Moves a graph's final ``Transpose`` nodes out of an ONNX model, to numpy on the host.

The search model ends with a 5-D ``Transpose`` per output (the heads' channels, ordered
(2, A) and (4, A) as in pysot, to scores (N, S, S, A, 2) and deltas (N, S, S, A, 4)).
ONNX Runtime's CPU transpose takes about 1 ms for each of these 6-20 thousand values on
the 2-core development machine, numpy's a few microseconds (benchmarks/README.md).
"""

from __future__ import annotations

import numpy as np


def host_output_transposes(model) -> tuple:
    """``(model without them, perms)``: where a graph output is written by a ``Transpose``
    (directly or through an ``Identity``) that nothing else reads, the Transpose is
    dropped; ``perms`` maps each output name to the permutation (``np.transpose``) that
    gives the original output, None where there is none."""
    import onnx

    result = onnx.ModelProto()
    result.CopyFrom(model)
    nodes = list(result.graph.node)
    producers = {name: node for node in nodes for name in node.output}
    readers: dict[str, int] = {}
    for node in nodes:
        for name in node.input:
            readers[name] = readers.get(name, 0) + 1
    perms, dropped = {}, set()
    for output in result.graph.output:
        perms[output.name] = None
        writer = producers.get(output.name)
        if writer is not None and writer.op_type == "Identity":
            if readers.get(output.name) or readers.get(writer.input[0]) != 1:
                continue
            transpose = producers.get(writer.input[0])
        else:
            transpose, writer = writer, None
            if readers.get(output.name):
                continue
        if transpose is None or transpose.op_type != "Transpose":
            continue
        perms[output.name] = tuple(next(a.ints for a in transpose.attribute if a.name == "perm"))
        dropped.add(id(transpose))
        if writer is not None:  # the Identity now passes the Transpose's input through
            writer.input[0] = transpose.input[0]
        else:
            nodes.append(onnx.helper.make_node("Identity", [transpose.input[0]], [output.name]))
        output.type.tensor_type.ClearField("shape")
    if not dropped:
        return model, perms
    del result.graph.node[:]
    result.graph.node.extend(node for node in nodes if id(node) not in dropped)
    del result.graph.value_info[:]
    return result, perms


class HostTransposedSession:
    """An ONNX Runtime session of a model from ``host_output_transposes`` that returns the
    original model's outputs (``run(names, feeds)`` as ``InferenceSession.run``)."""

    def __init__(self, session, perms: dict):
        self.session, self.perms = session, perms

    def run(self, names, feeds):
        names = list(names) if names is not None else [o.name for o in self.session.get_outputs()]
        outputs = self.session.run(names, feeds)
        return [np.ascontiguousarray(np.transpose(value, self.perms[name]))
                if self.perms.get(name) else value
                for name, value in zip(names, outputs)]  # fmt: skip
