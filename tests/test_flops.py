"""FLOP counts (physstd.flops) behind the benchmarks' 'fraction of peak', against counts worked out by hand."""
import tensorflow as tf

from physstd.flops import convolution_flops, profiler_flops


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


# A 3 x 3 conv, 2 -> 4 channels, stride 2 'SAME' on 2 x 6 x 6: 2 x 3 x 3 output pixels, 2 * 9 * 2 * 4 = 144 FLOPs
# each; its input gradient and its filter gradient cost the same again each (one multiply-add per kernel tap
# per channel pair per output pixel).
_CONV_SHAPE, _FORWARD = (2, 6, 6, 2), 2 * 3 * 3 * 144
_W = tf.ones((3, 3, 2, 4))


def _conv(x):
    return tf.nn.conv2d(x, _W, strides=2, padding="SAME")


def _gradient_graph(forward, sources):
    """The traced graph of forward(x) and, for a given output gradient, its gradients to `sources` (x, w)."""
    def step(x, output_gradient):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch([x, _W])
            y = forward(x)
        return y, tape.gradient(y, [{"x": x, "w": _W}[s] for s in sources], output_gradients=output_gradient)
    return tf.function(step).get_concrete_function(
        tf.TensorSpec(_CONV_SHAPE, tf.float32), tf.TensorSpec((2, 3, 3, 4), tf.float32)).graph


def test_a_convolution_and_both_its_gradients_cost_three_forward_passes():
    graph = _gradient_graph(_conv, ["x", "w"])
    assert {"Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter"} <= {op.type for op in graph.get_operations()}
    assert convolution_flops(graph) == 3 * _FORWARD
    assert profiler_flops(graph) == 3 * _FORWARD   # nothing else in the graph does arithmetic


def test_a_gradient_nobody_uses_is_not_counted():
    # Asked for the filter gradient only, TensorFlow still builds the input gradient (Conv2D's gradient function
    # makes both); nothing consumes it, so it never runs and is not counted, as a network's image gradient.
    graph = _gradient_graph(_conv, ["w"])
    assert "Conv2DBackpropInput" in {op.type for op in graph.get_operations()}
    assert convolution_flops(graph) == 2 * _FORWARD
    assert profiler_flops(graph) == 2 * _FORWARD


def test_the_counts_descend_into_nested_functions_and_their_gradients():
    graph = _gradient_graph(tf.function(_conv), ["x", "w"])
    # The convolution and its gradients sit in the bodies of the called forward and backward functions.
    assert not {"Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter"} & {op.type for op in graph.get_operations()}
    assert convolution_flops(graph) == 3 * _FORWARD
    # The profiler also counts the backward function's AddN of two terms into each gradient (an add per element).
    assert profiler_flops(graph) == 3 * _FORWARD + 2 * 6 * 6 * 2 + 3 * 3 * 2 * 4


def test_a_conditional_counts_its_costlier_branch():
    # After the conv, the true branch runs a 3 x 3 conv 4 -> 4, stride 2 (2 x 2 x 2 pixels, 2 * 9 * 4 * 4 = 288
    # FLOPs each: 2304), the false branch a 1 x 1 one (2 * 4 * 4 = 32 each: 256); only one of them runs.
    w_true, w_false = tf.ones((3, 3, 4, 4)), tf.ones((1, 1, 4, 4))

    def branches(x):
        y = _conv(x)
        return tf.cond(tf.reduce_max(x) > 0.0, lambda: tf.nn.conv2d(y, w_true, strides=2, padding="SAME"),
                       lambda: tf.nn.conv2d(y, w_false, strides=2, padding="SAME"))
    assert convolution_flops(_graph(branches, _CONV_SHAPE)) == _FORWARD + 8 * 288


def test_a_train_step_costs_three_forward_passes_less_the_image_gradient():
    """The Auxiliary CNN's train step (benchmarks.train_step counts the same graph): every convolution runs
    forward, back to its input and back to its filter, except the first one's gradient to the image, which no
    update needs."""
    from physstd.models import ModelConfig
    from physstd.methods.auxiliary.network import scaled_channels
    from physstd.methods.auxiliary.trainer import AuxiliaryTrainer
    from physstd.train.config import TrainConfig
    from physstd.data.toy import random_batch

    size, batch = 32, 4
    trainer = AuxiliaryTrainer(ModelConfig(image_size=size, width=0.25), TrainConfig(method="auxiliary",
                                                                                      batch_size=batch))
    step = trainer.train_step.get_concrete_function(random_batch(size, batch // 2)).graph
    forward = _graph(lambda x: trainer.network(x, training=True), (batch, size, size, 3))
    # conv3-0: RGB + HSV (6 channels) -> 16 channels, 3 x 3, on batch x N^2 pixels.
    first = 2 * batch * size * size * 9 * 6 * scaled_channels(64, 0.25)
    assert convolution_flops(step) == 3 * convolution_flops(forward) - first
