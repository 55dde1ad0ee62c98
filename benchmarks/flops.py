"""Floating-point operation counts of a traced graph and this machine's measured float32 peak (no flags, so that
tests can import it next to other benchmarks)."""
import numpy as np
import tensorflow as tf

from benchmarks.timing import median_seconds


def profiler_flops(graph):
    """Float operations of a graph by TensorFlow's profiler (ops with registered flops statistics)."""
    from tensorflow.python.profiler import model_analyzer, option_builder

    options = option_builder.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return int(model_analyzer.profile(graph, options=options).total_float_ops)


def convolution_flops(graph):
    """Analytic FLOPs of the graph's convolutions: 2 k_h k_w C_in C_out per output (conv) / input (transposed) pixel."""
    total = 0
    for op in graph.get_operations():
        if op.type == "Conv2D":
            pixels = np.prod(op.outputs[0].shape.as_list()[:3])
            kh, kw, c_in, c_out = op.inputs[1].shape.as_list()
        elif op.type == "Conv2DBackpropInput":   # a transposed conv; inputs: output shape, filter, its input
            pixels = np.prod(op.inputs[2].shape.as_list()[:3])
            kh, kw, c_out, c_in = op.inputs[1].shape.as_list()
        else:
            continue
        total += 2 * int(pixels) * kh * kw * c_in * c_out
    return total


def matmul_peak(size, repeats):
    """GFLOP/s of a size x size float32 matmul (median of repeats)."""
    rng = np.random.default_rng(0)
    a = tf.constant(rng.standard_normal((size, size), dtype=np.float32))
    b = tf.constant(rng.standard_normal((size, size), dtype=np.float32))
    matmul = tf.function(lambda: tf.linalg.matmul(a, b))
    seconds = median_seconds(lambda: matmul().numpy(), repeats)
    return 2.0 * size ** 3 / seconds / 1e9


def convolution_peak(size, repeats, batch=8, channels=128):
    """GFLOP/s of a 3 x 3 float32 convolution, channels -> channels, 'SAME', on batch maps of size x size."""
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((batch, size, size, channels), dtype=np.float32))
    w = tf.constant(rng.standard_normal((3, 3, channels, channels), dtype=np.float32))
    conv = tf.function(lambda: tf.nn.conv2d(x, w, strides=1, padding="SAME"))
    seconds = median_seconds(lambda: conv().numpy(), repeats)
    return 2.0 * batch * size * size * 9 * channels * channels / seconds / 1e9
