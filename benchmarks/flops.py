"""This machine's measured float32 peak (a square matmul and a 3 x 3 convolution), the denominator of the
benchmarks' fraction of peak; the FLOP counts of a graph are physstd.flops."""
import numpy as np
import tensorflow as tf

from benchmarks.timing import median_seconds


def matmul_peak(size, repeats):
    """GFLOP/s of a size x size float32 matmul (median of repeats)."""
    a, b = _random((size, size)), _random((size, size))
    return _gflops(lambda: tf.linalg.matmul(a, b), 2.0 * size ** 3, repeats)


CONV_PEAK_BATCH, CONV_PEAK_CHANNELS = 8, 128
MATMUL_PEAK_SIZE, CONV_PEAK_SIZE = 4096, 64   # the defaults of measured_peak


def convolution_peak(size, repeats, batch=CONV_PEAK_BATCH, channels=CONV_PEAK_CHANNELS):
    """GFLOP/s of a 3 x 3 float32 convolution, channels -> channels, 'SAME', on batch maps of size x size."""
    x, w = _random((batch, size, size, channels)), _random((3, 3, channels, channels))
    return _gflops(lambda: tf.nn.conv2d(x, w, strides=1, padding="SAME"),
                   2.0 * batch * size * size * 9 * channels * channels, repeats)


def measured_peak(matmul_size=MATMUL_PEAK_SIZE, conv_size=CONV_PEAK_SIZE, repeats=5):
    """This machine's float32 peak in GFLOP/s: the higher of a matmul_size^2 matmul and a 3 x 3 convolution on
    conv_size^2 maps (on a CPU, TensorFlow's oneDNN convolutions can beat its matmul). Returns (peak, {what:
    GFLOP/s}) so that both measurements can be printed."""
    peaks = {f"{matmul_size}^2 matmul": matmul_peak(matmul_size, repeats),
             f"3x3 conv {CONV_PEAK_CHANNELS} ch on {CONV_PEAK_BATCH} x {conv_size}^2":
                 convolution_peak(conv_size, repeats)}
    return max(peaks.values()), peaks


def describe_peak(peak, peaks):
    """One line naming the peak and the measurements it is the higher of."""
    return (f"float32 peak: {peak:.1f} GFLOP/s, the higher of "
            + ", ".join(f"{gflops:.1f} ({name})" for name, gflops in peaks.items()))


def _random(shape):
    return tf.constant(np.random.default_rng(0).standard_normal(shape, dtype=np.float32))


def _gflops(op, flops, repeats):
    """GFLOP/s of op() (flops floating-point operations) as a tf.function: median of repeats, result copied out."""
    function = tf.function(op)
    return flops / median_seconds(lambda: function().numpy(), repeats) / 1e9
