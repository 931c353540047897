"""Turns some of an ONNX model's graph inputs into constants (initializers).

The tracker's search model takes the template's features as inputs, so ONNX Runtime
sees the depthwise correlations' kernels and the heads' template branch as run-time
values: it recomputes the template branch every frame and runs the correlations as
grouped convolutions with run-time weights, outside its blocked (NCHWc) layout. With the
features as initializers it folds the template branch once, when the session is built,
and treats the correlations as ordinary constant-weight convolutions.
"""

from __future__ import annotations

import numpy as np


def inputs_as_constants(model, values: dict):
    """A copy of ``model`` where each graph input named in ``values`` is an initializer
    holding that array (its dtype and shape must match the input's).

    Raises ValueError naming an input that the graph does not have, or whose declared
    shape or element type the array does not match.
    """
    import onnx
    from onnx import helper, numpy_helper

    result = onnx.ModelProto()
    result.CopyFrom(model)
    inputs = {value.name: value for value in result.graph.input}
    for name, array in values.items():
        if name not in inputs:
            raise ValueError(f"{name!r} is not an input of graph {result.graph.name!r}")
        tensor_type = inputs[name].type.tensor_type
        expected = tuple(dim.dim_value if dim.HasField("dim_value") else None
                         for dim in tensor_type.shape.dim)  # fmt: skip
        array = np.asarray(array)
        dtype = helper.tensor_dtype_to_np_dtype(tensor_type.elem_type)
        shape_fits = len(expected) == array.ndim and all(
            want is None or want == got for want, got in zip(expected, array.shape)
        )
        if array.dtype != dtype or not shape_fits:
            raise ValueError(
                f"input {name!r}: expected {dtype} {expected}, got {array.dtype} {array.shape}"
            )
    kept = [value for value in result.graph.input if value.name not in values]
    del result.graph.input[:]
    result.graph.input.extend(kept)
    result.graph.initializer.extend(
        numpy_helper.from_array(np.ascontiguousarray(array), name) for name, array in values.items()
    )
    return result
