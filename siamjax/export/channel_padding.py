"""Zero-pads a convolutional ONNX graph's channel counts to a multiple of the CPU's block.

ONNX Runtime runs a convolution in its blocked NCHWc layout (MLAS; 16 channels a block
with AVX-512, 8 with AVX2) only when its channel counts are multiples of the block; other
convolutions run in plain NCHW with layout reorders around them. MobileNetV2 at width 1.4
has such counts almost everywhere (44, 22, 132, 33, 198, ... channels): padding them with
zero channels puts the whole backbone in the blocked layout (benchmarks/README.md).

``pad_channels(model, multiple)`` rewrites a model so that every convolution with constant
weights whose output channel count is not a multiple of ``multiple`` writes a multiple
instead: the extra output channels have zero weights and zero bias. The padding travels
through what cannot mix channels (layout transposes, ``Relu``, ``Clip``, sums of two
tensors padded alike, depthwise convolutions, which get zero filters for the extra
channels) and is absorbed by the next ordinary convolution (zero weights for the extra
input channels). Wherever anything else reads a padded tensor, and at the graph's
outputs, a ``Slice`` cuts the extra channels off again. The real channels' values are
the same sums as before (plus exact zeros), so outputs change only by float32 rounding
of a different summation order.
"""

from __future__ import annotations

import numpy as np

# Nodes that act on each channel on its own, with no constant input along channels.
_CHANNELWISE = ("Relu", "Clip")


def _pad_axis(array: np.ndarray, axis: int, size: int) -> np.ndarray:
    widths = [(0, 0)] * array.ndim
    widths[axis] = (0, size - array.shape[axis])
    return np.pad(array, widths)


def pad_channels(model, multiple: int):
    """A copy of ``model`` (an ``onnx.ModelProto``) with convolution channel counts padded
    to multiples of ``multiple`` as described above; ``model`` itself when nothing needs
    padding or ``multiple`` < 2."""
    import onnx
    from onnx import helper, numpy_helper

    if multiple < 2:
        return model
    constants = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}

    def rounded(count: int) -> int:
        return -(-count // multiple) * multiple

    # name -> (channel axis, real channel count, padded count) of each padded tensor.
    padded: dict[str, tuple[int, int, int]] = {}
    nodes, slices = [], {}

    def unpadded(name: str) -> str:
        """``name``, or a Slice of it without the extra channels when it is padded."""
        if name not in padded:
            return name
        if name not in slices:
            axis, real, _ = padded[name]
            bounds = [f"{name}_unpad_{part}" for part in ("starts", "ends", "axes")]
            for bound, value in zip(bounds, (0, real, axis)):
                constants[bound] = np.asarray([value], np.int64)
            slices[name] = f"{name}_unpadded"
            nodes.append(helper.make_node("Slice", [name, *bounds], [slices[name]]))
        return slices[name]

    for node in model.graph.node:
        node = onnx.NodeProto.FromString(node.SerializeToString())
        inputs = list(node.input)
        source = padded.get(inputs[0]) if inputs else None
        if node.op_type == "Conv" and len(inputs) >= 2 and inputs[1] in constants:
            attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            group = int(attributes.get("group", 1))
            weight = constants[inputs[1]]
            bias = constants[inputs[2]] if len(inputs) > 2 else None
            depthwise = group > 1 and weight.shape[1] == 1 and weight.shape[0] == group
            if source is not None and source[0] != 1:
                inputs[0], source = unpadded(inputs[0]), None
            if depthwise:
                if source is None:  # its channels are its input's: nothing to change
                    nodes.append(node)
                    continue
                channels = source[2]
                weight = _pad_axis(weight, 0, channels)
                bias = _pad_axis(bias, 0, channels) if bias is not None else None
                for attribute in node.attribute:
                    if attribute.name == "group":
                        attribute.i = channels
                output = (1, source[1], channels)
            elif group == 1:
                if source is not None:
                    weight = _pad_axis(weight, 1, source[2])
                real = weight.shape[0]
                output = (1, real, rounded(real)) if real % multiple else None
                if output is not None:
                    weight = _pad_axis(weight, 0, output[2])
                    bias = _pad_axis(bias, 0, output[2]) if bias is not None else None
            else:  # grouped, not depthwise: its groups must keep their channels
                inputs[0] = unpadded(inputs[0])
                node.input[0] = inputs[0]
                nodes.append(node)
                continue
            if source is None and output is None:
                nodes.append(node)
                continue
            names = [f"{node.output[0]}_padded_weight", f"{node.output[0]}_padded_bias"]
            constants[names[0]] = weight
            new_inputs = [inputs[0], names[0]]
            if bias is not None:
                constants[names[1]] = bias
                new_inputs.append(names[1])
            del node.input[:]
            node.input.extend(new_inputs)
            if output is not None:
                padded[node.output[0]] = output
        elif node.op_type == "Transpose" and source is not None:
            perm = list(next(a.ints for a in node.attribute if a.name == "perm"))
            padded[node.output[0]] = (perm.index(source[0]), source[1], source[2])
        elif (node.op_type in _CHANNELWISE and source is not None
              and all(name in constants for name in inputs[1:])):  # fmt: skip
            padded[node.output[0]] = source
        elif (node.op_type in ("Add", "Sub", "Mul") and len(inputs) == 2 and source is not None
              and padded.get(inputs[1]) == source):  # fmt: skip
            padded[node.output[0]] = source
        else:
            for index, name in enumerate(inputs):
                node.input[index] = unpadded(name)
        nodes.append(node)

    if not padded:
        return model
    outputs = {value.name for value in model.graph.output}
    renamed = {name: f"{name}_with_padding" for name in outputs if name in padded}
    for node in nodes:
        for index, name in enumerate(node.output):
            if name in renamed:
                node.output[index] = renamed[name]
        for index, name in enumerate(node.input):
            if name in renamed:
                node.input[index] = renamed[name]
    for name, inner in renamed.items():
        padded[inner] = padded.pop(name)
        slices.pop(name, None)
        cut = unpadded(inner)
        nodes.append(helper.make_node("Identity", [cut], [name]))
    result = onnx.ModelProto()
    result.CopyFrom(model)
    del result.graph.node[:]
    result.graph.node.extend(nodes)
    del result.graph.initializer[:]
    used = {name for node in nodes for name in node.input}
    result.graph.initializer.extend(
        numpy_helper.from_array(value, name) for name, value in constants.items() if name in used
    )
    del result.graph.value_info[:]  # shapes of renamed / padded values no longer hold
    return result
