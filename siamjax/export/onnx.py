"""The tracker network as ONNX: template and search models, weights inside.

    template.onnx   template (N, 127, 127, 3) BGR float32 -> template features (named by level)
    search.onnx     those features + search (N, S, S, 3) -> scores (N, s, s, A, 2),
                    deltas (N, s, s, A, 4)   (siamjax's layout, models/layout.py)

Inputs are NHWC BGR 0-255, unnormalised, as siamjax's crops. The graphs come from the
*plain* formulation of the model (``backend.PLAIN``: standard convolutions, one grouped
convolution for the depthwise correlation, as pysot), traced to a jaxpr and written node
by node here: each JAX primitive the tracker network uses maps to ONNX operators
(``_CONVERTERS``). Subgraphs of constants (BatchNorm folding, kernel layouts) are
evaluated at export, so the files hold ready weights. A primitive without a mapping is
an ``OnnxExportError`` naming it (a correlation variant ONNX cannot express ends there).

The batch size is fixed per file (the grouped correlation's group count is batch ×
channels), as with ``siamjax export``'s jax artifacts.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from siamjax import fs
from siamjax.backend import PLAIN
from siamjax.export.jax_artifacts import search_sizes
from siamjax.models import build_model, make_search_fn, make_template_fn

OPSET = 18


class OnnxExportError(ValueError):
    """The network uses something this exporter cannot write as ONNX."""


@dataclasses.dataclass
class _Graph:
    """ONNX graph under construction: nodes, initializers and the name of each value."""

    nodes: list = dataclasses.field(default_factory=list)
    initializers: list = dataclasses.field(default_factory=list)
    names: dict = dataclasses.field(default_factory=dict)  # jax var -> onnx name
    constants: dict = dataclasses.field(default_factory=dict)  # jax var -> numpy value
    counter: int = 0

    def fresh(self, hint: str = "v") -> str:
        self.counter += 1
        return f"{hint}_{self.counter}"

    def node(self, op: str, inputs: list[str], hint: str = "v", **attributes) -> str:
        from onnx import helper

        output = self.fresh(hint)
        # Named after its output, so that profiles and optimised graphs name it too.
        self.nodes.append(helper.make_node(op, list(inputs), [output], name=output, **attributes))
        return output

    def constant(self, value: np.ndarray, hint: str = "c") -> str:
        from onnx import numpy_helper

        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name


def _value(graph: _Graph, var) -> str:
    """The ONNX name of a jaxpr input (materialising constants as initializers)."""
    if isinstance(var, jax.extend.core.Literal):
        return graph.constant(np.asarray(var.val, dtype=var.aval.dtype))
    if var in graph.names:
        return graph.names[var]
    if var in graph.constants:
        name = graph.constant(graph.constants[var])
        graph.names[var] = name
        return name
    raise OnnxExportError(f"value {var} has no producer")


class _Inputs:
    """An equation's input names, materialised on first use (so a converter that lays a
    constant out itself, like the convolution's kernel, leaves no unused initializer)."""

    def __init__(self, graph: _Graph, invars):
        self.graph, self.invars = graph, list(invars)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [_value(self.graph, var) for var in self.invars[index]]
        return _value(self.graph, self.invars[index])

    def __len__(self) -> int:
        return len(self.invars)

    def __iter__(self):
        return iter(self[:])


def _ints(values) -> np.ndarray:
    return np.asarray(list(values), np.int64)


# --------------------------------------------------------------------------- converters
# Each takes (graph, eqn, input names) and returns the output names.


def _elementwise(op: str):
    def convert(graph, eqn, inputs):
        return [graph.node(op, inputs)]

    return convert


def _rsqrt(graph, eqn, inputs):
    return [graph.node("Reciprocal", [graph.node("Sqrt", inputs)])]


def _integer_pow(graph, eqn, inputs):
    exponent = graph.constant(np.asarray(eqn.params["y"], eqn.invars[0].aval.dtype))
    return [graph.node("Pow", [inputs[0], exponent])]


def _reshape(graph, eqn, inputs):
    operand = inputs[0]
    if eqn.params.get("dimensions") is not None:  # reshape in this axis order
        operand = graph.node("Transpose", [operand], perm=list(eqn.params["dimensions"]))
    return [graph.node("Reshape", [operand, graph.constant(_ints(eqn.outvars[0].aval.shape))])]


def _broadcast_in_dim(graph, eqn, inputs):
    shape = eqn.params["shape"]
    dims = eqn.params["broadcast_dimensions"]
    operand_shape = eqn.invars[0].aval.shape
    expanded = [1] * len(shape)
    for operand_axis, axis in enumerate(dims):
        expanded[axis] = operand_shape[operand_axis]
    reshaped = graph.node("Reshape", [inputs[0], graph.constant(_ints(expanded))])
    return [graph.node("Expand", [reshaped, graph.constant(_ints(shape))])]


def _transpose(graph, eqn, inputs):
    return [graph.node("Transpose", inputs, perm=list(eqn.params["permutation"]))]


def _squeeze(graph, eqn, inputs):
    axes = graph.constant(_ints(eqn.params["dimensions"]))
    return [graph.node("Squeeze", [inputs[0], axes])]


def _expand_dims(graph, eqn, inputs):
    return [graph.node("Reshape", [inputs[0], graph.constant(_ints(eqn.outvars[0].aval.shape))])]


def _convert_element_type(graph, eqn, inputs):
    from onnx import helper

    dtype = np.dtype(eqn.params["new_dtype"])
    if dtype == eqn.invars[0].aval.dtype:
        return [graph.node("Identity", inputs)]
    return [graph.node("Cast", inputs, to=helper.np_dtype_to_tensor_dtype(dtype))]


def _slice(graph, eqn, inputs):
    starts = eqn.params["start_indices"]
    limits = eqn.params["limit_indices"]
    strides = eqn.params["strides"] or (1,) * len(starts)
    return [
        graph.node(
            "Slice",
            [
                inputs[0],
                graph.constant(_ints(starts)),
                graph.constant(_ints(limits)),
                graph.constant(_ints(range(len(starts)))),
                graph.constant(_ints(strides)),
            ],
        )  # fmt: skip
    ]


def _pad(graph, eqn, inputs):
    config = eqn.params["padding_config"]
    if any(interior for _, _, interior in config):
        raise OnnxExportError("pad with interior padding has no ONNX equivalent here")
    pads = [low for low, _, _ in config] + [high for _, high, _ in config]
    return [graph.node("Pad", [inputs[0], graph.constant(_ints(pads)), inputs[1]])]


def _concatenate(graph, eqn, inputs):
    return [graph.node("Concat", inputs, axis=int(eqn.params["dimension"]))]


def _stack(graph, eqn, inputs):
    axis = int(eqn.params["axis"])
    expanded = [graph.node("Unsqueeze", [name, graph.constant(_ints([axis]))]) for name in inputs]
    return [graph.node("Concat", expanded, axis=axis)]


def _select_n(graph, eqn, inputs):
    if len(inputs) != 3:
        raise OnnxExportError("select_n with more than two cases")
    predicate = inputs[0]
    if eqn.invars[0].aval.dtype != np.bool_:
        predicate = graph.node("Cast", [predicate], to=9)  # BOOL
    # select_n(p, a, b) is b where p else a.
    return [graph.node("Where", [predicate, inputs[2], inputs[1]])]


def _reduce(op: str):
    def convert(graph, eqn, inputs):
        axes = graph.constant(_ints(eqn.params["axes"]))
        return [graph.node(op, [inputs[0], axes], keepdims=0)]

    return convert


def _dot_general(graph, eqn, inputs):
    (lhs_contract, rhs_contract), (lhs_batch, rhs_batch) = eqn.params["dimension_numbers"]
    lhs_rank, rhs_rank = len(eqn.invars[0].aval.shape), len(eqn.invars[1].aval.shape)
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    lhs = [next(letters) for _ in range(lhs_rank)]
    rhs = [None] * rhs_rank
    for left, right in zip(lhs_contract, rhs_contract):
        rhs[right] = lhs[left]
    for left, right in zip(lhs_batch, rhs_batch):
        rhs[right] = lhs[left]
    rhs = [axis or next(letters) for axis in rhs]
    batch = [lhs[i] for i in lhs_batch]
    free_lhs = [a for i, a in enumerate(lhs) if i not in lhs_contract and i not in lhs_batch]
    free_rhs = [a for i, a in enumerate(rhs) if i not in rhs_contract and i not in rhs_batch]
    equation = f"{''.join(lhs)},{''.join(rhs)}->{''.join(batch + free_lhs + free_rhs)}"
    return [graph.node("Einsum", inputs, equation=equation)]


def _conv(graph, eqn, inputs):
    params = eqn.params
    if any(d != 1 for d in params["lhs_dilation"]) or params["batch_group_count"] != 1:
        raise OnnxExportError("transposed or batch-grouped convolutions are not exported")
    numbers = params["dimension_numbers"]
    lhs_spec, rhs_spec, out_spec = numbers.lhs_spec, numbers.rhs_spec, numbers.out_spec
    lhs_var, rhs_var = eqn.invars
    # ONNX convolutions are NCHW / OIHW: lay the operands out so, then back.
    if lhs_var in graph.constants:
        lhs = graph.constant(np.transpose(graph.constants[lhs_var], lhs_spec))
    else:
        lhs = graph.node("Transpose", [inputs[0]], perm=list(lhs_spec))
    if rhs_var in graph.constants:
        rhs = graph.constant(np.transpose(graph.constants[rhs_var], rhs_spec), "kernel")
    else:
        rhs = graph.node("Transpose", [inputs[1]], perm=list(rhs_spec))
    padding = params["padding"]
    pads = [low for low, _ in padding] + [high for _, high in padding]
    if any(p < 0 for p in pads):
        raise OnnxExportError("negative convolution padding is not exported")
    out = graph.node(
        "Conv",
        [lhs, rhs],
        strides=list(params["window_strides"]),
        dilations=list(params["rhs_dilation"]),
        pads=pads,
        group=int(params["feature_group_count"]),
    )
    inverse = list(np.argsort(out_spec))
    return [graph.node("Transpose", [out], perm=inverse)]


def _reduce_window_max(graph, eqn, inputs):
    params = eqn.params
    window = params["window_dimensions"]
    strides = params["window_strides"]
    if any(d != 1 for d in params["base_dilation"]) or any(
        d != 1 for d in params["window_dilation"]
    ):
        raise OnnxExportError("dilated max pooling is not exported")
    spatial = [axis for axis, size in enumerate(window) if size != 1 or strides[axis] != 1]
    rank = len(window)
    others = [axis for axis in range(rank) if axis not in spatial]
    if len(others) != 2:
        raise OnnxExportError("max pooling over other than two spatial axes is not exported")
    layout = others + spatial  # (batch, channels, spatial...)
    moved = graph.node("Transpose", inputs, perm=layout)
    padding = [params["padding"][axis] for axis in spatial]
    pooled = graph.node(
        "MaxPool",
        [moved],
        kernel_shape=[window[axis] for axis in spatial],
        strides=[strides[axis] for axis in spatial],
        pads=[low for low, _ in padding] + [high for _, high in padding],
    )
    return [graph.node("Transpose", [pooled], perm=list(np.argsort(layout)))]


_CONVERTERS: dict[str, Callable] = {
    "add": _elementwise("Add"),
    "sub": _elementwise("Sub"),
    "mul": _elementwise("Mul"),
    "div": _elementwise("Div"),
    "max": _elementwise("Max"),
    "min": _elementwise("Min"),
    "pow": _elementwise("Pow"),
    "exp": _elementwise("Exp"),
    "log": _elementwise("Log"),
    "neg": _elementwise("Neg"),
    "sqrt": _elementwise("Sqrt"),
    "tanh": _elementwise("Tanh"),
    "logistic": _elementwise("Sigmoid"),
    "abs": _elementwise("Abs"),
    "copy": _elementwise("Identity"),
    "copy_p": _elementwise("Identity"),
    "stop_gradient": _elementwise("Identity"),
    "erf": _elementwise("Erf"),
    "square": lambda graph, eqn, inputs: [graph.node("Mul", [inputs[0], inputs[0]])],
    "rsqrt": _rsqrt,
    "integer_pow": _integer_pow,
    "reshape": _reshape,
    "broadcast_in_dim": _broadcast_in_dim,
    "transpose": _transpose,
    "squeeze": _squeeze,
    "expand_dims": _expand_dims,
    "convert_element_type": _convert_element_type,
    "slice": _slice,
    "pad": _pad,
    "concatenate": _concatenate,
    "stack": _stack,
    "select_n": _select_n,
    "reduce_sum": _reduce("ReduceSum"),
    "reduce_max": _reduce("ReduceMax"),
    "reduce_min": _reduce("ReduceMin"),
    "dot_general": _dot_general,
    "conv_general_dilated": _conv,
    "reduce_window_max": _reduce_window_max,
}
# Calls whose body is inlined.
_INLINED = {"pjit", "jit", "closed_call", "core_call", "custom_jvp_call", "custom_vjp_call",
            "remat", "checkpoint", "custom_vjp_call_jaxpr"}  # fmt: skip


def _sub_jaxpr(eqn):
    for key in ("jaxpr", "call_jaxpr", "fun_jaxpr"):
        if key in eqn.params:
            sub = eqn.params[key]
            return sub.jaxpr if hasattr(sub, "jaxpr") else sub, getattr(sub, "consts", ())
    raise OnnxExportError(f"{eqn.primitive.name}: no inner jaxpr found")


def _alias(graph: _Graph, source, target) -> None:
    """Makes ``target`` (a var of an inlined call's boundary) stand for ``source``."""
    if isinstance(source, jax.extend.core.Literal):
        graph.constants[target] = np.asarray(source.val)
    elif source in graph.constants:
        graph.constants[target] = graph.constants[source]
    else:
        graph.names[target] = graph.names[source]


def _emit(graph: _Graph, jaxpr, consts) -> None:
    for var, value in zip(jaxpr.constvars, consts):
        graph.constants[var] = np.asarray(value)
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        if name in _INLINED:
            inner, inner_consts = _sub_jaxpr(eqn)
            for inner_var, outer_var in zip(inner.invars, eqn.invars):
                _alias(graph, source=outer_var, target=inner_var)
            _emit(graph, inner, inner_consts)
            for inner_var, outer_var in zip(inner.outvars, eqn.outvars):
                _alias(graph, source=inner_var, target=outer_var)
            continue
        known = [isinstance(v, jax.extend.core.Literal) or v in graph.constants for v in eqn.invars]
        if all(known):  # a constant subgraph (BatchNorm folding, layouts): evaluate it now
            values = [
                v.val if isinstance(v, jax.extend.core.Literal) else graph.constants[v]
                for v in eqn.invars
            ]
            results = eqn.primitive.bind(*values, **eqn.params)
            results = results if eqn.primitive.multiple_results else [results]
            for var, value in zip(eqn.outvars, results):
                graph.constants[var] = np.asarray(value)
            continue
        if name not in _CONVERTERS:
            raise OnnxExportError(f"the JAX primitive {name!r} has no ONNX mapping here")
        outputs = _CONVERTERS[name](graph, eqn, _Inputs(graph, eqn.invars))
        for var, output in zip(eqn.outvars, outputs):
            graph.names[var] = output


def _scalar_constant(constants: dict, name: str):
    """The float value of a one-element initializer ``name``, else None."""
    value = constants.get(name)
    return float(value.reshape(())) if value is not None and value.size == 1 else None


def _clip_activations(nodes: list, constants: dict) -> list:
    """``Min(Max(x, low), high)`` with constant bounds (``jnp.clip``, i.e. ReLU6) as one
    ``Clip(x, low, high)``: ONNX Runtime fuses a Clip into the convolution before it and
    keeps its blocked layout, where the Max / Min pair cost a pass each over the tensor
    and two layout reorders (benchmarks/README.md, MobileNetV2)."""
    from onnx import helper

    consumers: dict[str, int] = {}
    for node in nodes:
        for name in node.input:
            consumers[name] = consumers.get(name, 0) + 1
    producers = {node.output[0]: node for node in nodes if node.output}

    def split(node):  # (variable input, constant value) of a binary Min / Max, else None
        if len(node.input) != 2:
            return None
        for variable, constant in (node.input, reversed(node.input)):
            value = _scalar_constant(constants, constant)
            if value is not None and variable not in constants:
                return variable, value
        return None

    removed, counter = set(), 0
    for position, node in enumerate(nodes):
        upper = split(node) if node.op_type == "Min" else None
        lower = producers.get(upper[0]) if upper else None
        bound = split(lower) if lower is not None and lower.op_type == "Max" else None
        if bound is None or bound[1] > upper[1] or consumers.get(lower.output[0]) != 1:
            continue
        counter += 1
        bounds = (f"clip_low_{counter}", f"clip_high_{counter}")
        constants[bounds[0]] = np.asarray(bound[1], np.float32)
        constants[bounds[1]] = np.asarray(upper[1], np.float32)
        nodes[position] = helper.make_node("Clip", [bound[0], *bounds], list(node.output))
        removed.add(id(lower))
    return [node for node in nodes if id(node) not in removed]


def _fold_affine_into_convolutions(nodes: list, initializers: list) -> tuple[list, list]:
    """Rewrites the emitted graph so ONNX Runtime can fuse it: inference BatchNorm after a
    convolution (``Conv -> Transpose -> Sub/Mul/Add`` by constants, per channel) is
    folded into the convolution's weights and bias, ``Min(Max(x, low), high)`` (ReLU6)
    becomes ``Clip`` and ``Max(x, 0)`` becomes ``Relu``. Values are unchanged up to float32
    rounding of the folded weights."""
    from onnx import helper, numpy_helper

    constants = {t.name: numpy_helper.to_array(t) for t in initializers}
    nodes = _clip_activations(list(nodes), constants)
    for position, node in enumerate(nodes):
        if node.op_type == "Max" and len(node.input) == 2 and node.input[1] in constants:
            zero = constants[node.input[1]]
            if zero.size == 1 and not zero.any():
                nodes[position] = helper.make_node("Relu", [node.input[0]], list(node.output))
    counter = 0
    changed = True
    while changed:
        changed = False
        consumers: dict[str, list] = {}
        for node in nodes:
            for name in node.input:
                consumers.setdefault(name, []).append(node)
        for conv in nodes:
            if conv.op_type != "Conv" or conv.input[1] not in constants:
                continue
            after = consumers.get(conv.output[0], [])
            if len(after) != 1 or after[0].op_type != "Transpose":
                continue
            transpose = after[0]
            affine = consumers.get(transpose.output[0], [])
            if len(affine) != 1 or affine[0].op_type not in ("Sub", "Mul", "Add"):
                continue
            affine = affine[0]
            if affine.input[0] != transpose.output[0] or affine.input[1] not in constants:
                continue
            kernel = constants[conv.input[1]]
            channels = kernel.shape[0]
            perm = list(next(a.ints for a in transpose.attribute if a.name == "perm"))
            value = constants[affine.input[1]]
            shape = [1] * (len(perm) - value.ndim) + list(value.shape)
            channel_axis = perm.index(1)
            if len(shape) != len(perm) or any(
                size != 1 for axis, size in enumerate(shape) if axis != channel_axis
            ):
                continue
            vector = np.broadcast_to(value.reshape(-1), (channels,)).astype(np.float64)
            bias = constants[conv.input[2]] if len(conv.input) > 2 else np.zeros(channels)
            bias = bias.astype(np.float64)
            if affine.op_type == "Sub":
                bias = bias - vector
            elif affine.op_type == "Add":
                bias = bias + vector
            else:
                kernel = kernel * vector.reshape(-1, *([1] * (kernel.ndim - 1)))
                bias = bias * vector
            counter += 1
            names = (f"folded_kernel_{counter}", f"folded_bias_{counter}")
            constants[names[0]] = np.asarray(kernel, np.float32)
            constants[names[1]] = np.asarray(bias, np.float32)
            data = conv.input[0]
            del conv.input[:]
            conv.input.extend([data, *names])
            old, new = affine.output[0], transpose.output[0]
            nodes = [node for node in nodes if node is not affine]
            for node in nodes:
                for index, name in enumerate(node.input):
                    if name == old:
                        node.input[index] = new
            changed = True
            break
    used = {name for node in nodes for name in node.input}
    initializers = [numpy_helper.from_array(constants[n], n) for n in constants if n in used]
    return nodes, initializers


def function_to_onnx(function, example_inputs: dict, output_names: list[str], graph_name: str):
    """An ONNX model of ``function(**example_inputs)`` -> flat outputs named
    ``output_names``; inputs keep their dict names, with the examples' shapes and dtypes.

    Constants the function closes over (the weights) become initializers.
    """
    import onnx
    from onnx import helper

    names = list(example_inputs)

    def flat(*args):
        outputs = function(**dict(zip(names, args)))
        return jax.tree_util.tree_leaves(outputs)

    closed = jax.make_jaxpr(flat)(*(example_inputs[n] for n in names))
    graph = _Graph()
    inputs = []
    for name, var in zip(names, closed.jaxpr.invars):
        graph.names[var] = name
        dtype = helper.np_dtype_to_tensor_dtype(var.aval.dtype)
        inputs.append(helper.make_tensor_value_info(name, dtype, list(var.aval.shape)))
    _emit(graph, closed.jaxpr, closed.consts)
    outputs = []
    if len(output_names) != len(closed.jaxpr.outvars):
        raise OnnxExportError(f"{len(closed.jaxpr.outvars)} outputs, {len(output_names)} names")
    for name, var in zip(output_names, closed.jaxpr.outvars):
        graph.nodes.append(helper.make_node("Identity", [_value(graph, var)], [name]))
        dtype = helper.np_dtype_to_tensor_dtype(var.aval.dtype)
        outputs.append(helper.make_tensor_value_info(name, dtype, list(var.aval.shape)))
    nodes, initializers = _fold_affine_into_convolutions(graph.nodes, graph.initializers)
    model = helper.make_model(
        helper.make_graph(nodes, graph_name, inputs, outputs, initializers),
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="siamjax",
    )
    onnx.checker.check_model(model)
    return model


def _plain(model, variables):
    return model.clone(formulation=PLAIN), jax.tree_util.tree_map(jnp.asarray, variables)


def template_onnx_model(model, variables, batch: int, exemplar: int):
    """``(template_model, feature_names)``: the plain formulation's template function at
    one batch size; outputs ``template_<level>``."""
    plain, variables = _plain(model, variables)
    template_fn = make_template_fn(plain)
    template = np.zeros((batch, exemplar, exemplar, 3), np.float32)
    feature_names = sorted(jax.eval_shape(lambda t: template_fn(variables, t), template))
    proto = function_to_onnx(
        lambda template: [template_fn(variables, template)[k] for k in feature_names],
        {"template": template},
        [f"template_{k}" for k in feature_names],
        "siamjax_template",
    )
    return proto, feature_names


def search_onnx_model(model, variables, batch: int, exemplar: int, instance: int):
    """The plain formulation's search function at one batch size and search size:
    inputs ``search`` and ``template_<level>``, outputs ``scores`` and ``deltas``."""
    plain, variables = _plain(model, variables)
    template = np.zeros((batch, exemplar, exemplar, 3), np.float32)
    features = jax.eval_shape(lambda t: make_template_fn(plain)(variables, t), template)
    feature_names = sorted(features)
    search_fn = make_search_fn(plain)

    def search_outputs(search, **template_features):
        features = {k: template_features[f"template_{k}"] for k in feature_names}
        outputs = search_fn(variables, features, search)
        return [outputs["scores"], outputs["deltas"]]

    example = {f"template_{k}": np.zeros(features[k].shape, features[k].dtype)
               for k in feature_names}  # fmt: skip
    search = np.zeros((batch, instance, instance, 3), np.float32)
    return function_to_onnx(
        search_outputs, {"search": search, **example}, ["scores", "deltas"], "siamjax_search"
    )


def tracker_onnx_models(model, variables, batch: int, exemplar: int, instance: int):
    """``(template_model, search_model, feature_names)`` at one batch size and search size."""
    template, feature_names = template_onnx_model(model, variables, batch, exemplar)
    search = search_onnx_model(model, variables, batch, exemplar, instance)
    return template, search, feature_names


def _io_specs(values) -> list:
    from onnx import helper

    return [
        {"name": value.name,
         "shape": [d.dim_value for d in value.type.tensor_type.shape.dim],
         "dtype": str(helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type))}
        for value in values
    ]  # fmt: skip


def export_onnx(config, variables, out: str, batch_sizes=(1,)) -> dict:
    """Writes ``template_b{N}.onnx`` and ``search_b{N}_x{X}.onnx`` (every search size the
    configured tracker uses) and ``manifest.json`` to ``out``; returns the manifest."""
    model = build_model(config.model)  # written in the plain formulation whatever the policy
    exemplar = int(config.track.exemplar_size)
    fs.makedirs(out)
    artifacts = []
    for batch in batch_sizes:
        files = [(f"template_b{batch}.onnx", template_onnx_model(model, variables, batch,
                                                                 exemplar)[0])]  # fmt: skip
        files += [
            (f"search_b{batch}_x{instance}.onnx",
             search_onnx_model(model, variables, batch, exemplar, instance))
            for instance in search_sizes(config)
        ]  # fmt: skip
        for name, proto in files:
            with fs.open_file(fs.join(out, name), "wb") as stream:
                stream.write(proto.SerializeToString())
            artifacts.append({"file": name, "batch": batch,
                              "inputs": _io_specs(proto.graph.input),
                              "outputs": _io_specs(proto.graph.output)})  # fmt: skip
    manifest = {
        "config": config.name,
        "format": "onnx",
        "opset": OPSET,
        "layout": "inputs NHWC BGR float32 0-255; scores (N,S,S,A,2), deltas (N,S,S,A,4)",
        "artifacts": artifacts,
    }
    fs.write_text(fs.join(out, "manifest.json"), json.dumps(manifest, indent=2))
    return manifest
