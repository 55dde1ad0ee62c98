"""Floating-point operation counts of a traced graph (the benchmarks divide them by step times and by this
machine's measured peak, benchmarks/flops.py).

Both counters walk the ops that can run: those an output, a control output (an optimizer's variable update) or a
stateful op depends on; an op nothing needs, such as the gradient of a network's input image that the gradient
of the first convolution also builds, is left out, as TensorFlow's graph optimizer prunes it before running. A
call of another function (a nested tf.function: PartitionedCall, StatefulPartitionedCall; the forward and
backward functions of its gradient) adds the FLOPs of that function's body; an If or Case adds its costliest
branch; a While adds its condition and body once (FLOPs per iteration: the trip count is not in the graph).
"""
import numpy as np

# Ops whose function attributes hold the bodies they run, and how the bodies' FLOPs combine.
_BRANCHING_OPS = ("If", "StatelessIf", "Case", "StatelessCase")   # one branch runs: the costliest one counts
_LOOP_OPS = ("While", "StatelessWhile")                           # condition and body, one iteration


def profiler_flops(graph):
    """FLOPs of TensorFlow's profiler: the flops statistics TensorFlow registers per op type (convolutions and
    their gradients, matmuls, element-wise arithmetic, reductions, pooling; tf.profiler's float_operation view
    sums the same), over the live ops of the graph and of the functions it calls."""
    from tensorflow.python.framework import ops
    from tensorflow.python.profiler import tfprof_logger  # noqa: F401 - registers the flops statistics

    def op_flops(op):
        try:
            return int(ops.get_stats_for_node_def(op.graph, op.node_def, "flops").value or 0)
        except ValueError:   # a shape the statistic needs is unknown (the profiler skips such ops too)
            return 0
    return graph_flops(graph, op_flops)


def convolution_flops(graph):
    """Analytic FLOPs of the graph's 2-D convolutions and their gradients: 2 k_h k_w C_in C_out per output pixel of
    the forward convolution, for the forward op (Conv2D), its input gradient (Conv2DBackpropInput, which is also a
    transposed convolution: per pixel of its input) and its filter gradient (Conv2DBackpropFilter). NHWC."""
    return graph_flops(graph, _convolution_op_flops)


def _convolution_op_flops(op):
    if op.type == "Conv2D":                   # inputs: image, filter; output: the forward output
        pixels, kernel = op.outputs[0].shape, op.inputs[1].shape
    elif op.type == "Conv2DBackpropInput":    # inputs: image shape, filter, gradient of the forward output
        pixels, kernel = op.inputs[2].shape, op.inputs[1].shape
    elif op.type == "Conv2DBackpropFilter":   # inputs: image, filter shape, gradient of the forward output
        pixels, kernel = op.inputs[2].shape, op.outputs[0].shape
    else:
        return 0
    return 2 * int(np.prod(pixels.as_list()[:3])) * int(np.prod(kernel.as_list()))


def graph_flops(graph, op_flops):
    """Sum of op_flops(op) over the live ops of `graph`, descending into the bodies of the functions they call
    (module docstring); each body is counted once per call, with only the outputs its caller uses as its own."""
    memo = {}

    def body_flops(name, used):
        if (name, used) not in memo:
            function = graph._get_function(name)   # the outermost graph's library holds every body it reaches
            if function is None:
                raise ValueError(f"function {name!r} is not in the graph's library")
            memo[name, used] = total(function.graph, used)
        return memo[name, used]

    def total(g, used):
        flops = 0
        live = _live_operations(g, used)
        for op in g.get_operations():
            if op.name not in live:
                continue
            flops += op_flops(op)
            bodies = [attr.func.name for attr in op.node_def.attr.values() if attr.HasField("func")]
            bodies += [f.name for attr in op.node_def.attr.values() if attr.HasField("list") for f in attr.list.func]
            if not bodies:
                continue
            # A loop feeds every output back into its body; a call's or a branch's outputs are the body's.
            op_used = None if op.type in _LOOP_OPS else tuple(
                i for i, t in enumerate(op.outputs) if any(c.name in live for c in t.consumers()))
            counts = [body_flops(name, op_used) for name in bodies]
            flops += max(counts) if op.type in _BRANCHING_OPS else sum(counts)
        return flops
    return total(graph, None)


def _live_operations(graph, used=None):
    """Names of the ops of `graph` that its outputs (those at the indices `used`; all when None), its control
    outputs or a stateful op depend on, and of those ops."""
    outputs = graph.outputs if used is None else [graph.outputs[i] for i in used]
    stack = [t.op for t in outputs] + list(getattr(graph, "control_outputs", []))
    stack += [op for op in graph.get_operations() if op._is_stateful]
    live = set()
    while stack:
        op = stack.pop()
        if op.name not in live:
            live.add(op.name)
            stack.extend(t.op for t in op.inputs)
            stack.extend(op.control_inputs)
    return live
