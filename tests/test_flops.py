"""FLOP counts behind the inference benchmark's 'fraction of peak', against counts worked out by hand."""
import tensorflow as tf

from benchmarks.flops import convolution_flops, profiler_flops


def _graph(function, shape):
    return tf.function(function).get_concrete_function(tf.TensorSpec(shape, tf.float32)).graph


def test_convolution_flops_match_hand_counts():
    # A 3 x 3 conv, 2 -> 4 channels, stride 2 'SAME' on 1 x 6 x 6: 3 x 3 output pixels,
    # 2 * 9 (kernel) * 2 * 4 (channels) = 144 FLOPs each, 1296 in all.
    w_conv = tf.ones((3, 3, 2, 4))
    # A 3 x 3 transposed conv, 4 -> 5 channels, stride 2 from those 3 x 3 pixels back to 6 x 6: every *input* pixel
    # is spread over a kernel, 2 * 9 * 4 * 5 = 360 FLOPs each, 9 * 360 = 3240 in all.
    w_transposed = tf.ones((3, 3, 5, 4))   # [k, k, out channels, in channels]

    def network(x):
        y = tf.nn.conv2d(x, w_conv, strides=2, padding="SAME")
        return tf.nn.conv2d_transpose(y, w_transposed, output_shape=(1, 6, 6, 5), strides=2, padding="SAME")

    graph = _graph(network, (1, 6, 6, 2))
    assert convolution_flops(graph) == 1296 + 3240
    # TensorFlow's profiler counts the same two ops the same way (it is what the benchmark divides by).
    assert profiler_flops(graph) == 1296 + 3240


def test_convolution_flops_ignore_other_ops_and_scale_with_the_batch():
    w = tf.ones((1, 1, 3, 3))
    graph = _graph(lambda x: tf.nn.relu(tf.nn.conv2d(x, w, strides=1, padding="VALID")) + 1.0, (4, 5, 5, 3))
    assert convolution_flops(graph) == 4 * 25 * 2 * 3 * 3
