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
    a, b = _random((size, size)), _random((size, size))
    return _gflops(lambda: tf.linalg.matmul(a, b), 2.0 * size ** 3, repeats)


CONV_PEAK_BATCH, CONV_PEAK_CHANNELS = 8, 128


def convolution_peak(size, repeats, batch=CONV_PEAK_BATCH, channels=CONV_PEAK_CHANNELS):
    """GFLOP/s of a 3 x 3 float32 convolution, channels -> channels, 'SAME', on batch maps of size x size."""
    x, w = _random((batch, size, size, channels)), _random((3, 3, channels, channels))
    return _gflops(lambda: tf.nn.conv2d(x, w, strides=1, padding="SAME"),
                   2.0 * batch * size * size * 9 * channels * channels, repeats)


def _random(shape):
    return tf.constant(np.random.default_rng(0).standard_normal(shape, dtype=np.float32))


def _gflops(op, flops, repeats):
    """GFLOP/s of op() (flops floating-point operations) as a tf.function: median of repeats, result copied out."""
    function = tf.function(op)
    return flops / median_seconds(lambda: function().numpy(), repeats) / 1e9
