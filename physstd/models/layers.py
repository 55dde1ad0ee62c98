"""Building blocks shared by the networks (PhySTD paper, Fig. 4, STDN+ paper, Fig. 4; De-Spoof paper, Tab. 1).

Every hidden conv / transposed conv is followed by BatchNorm and LeakyReLU (ELU for the De-Spoof and Auxiliary
networks of the De-Spoof paper's Tab. 1); the last layer of each network is a bare conv followed by its output
nonlinearity. Kernels start from N(0, 0.02) (PhySTD paper, Sec. 4.1); seed them with `keras.utils.set_random_seed`.

BatchNorm built under a tf.distribute strategy with more than one replica (MirroredStrategy over several GPUs,
MultiWorkerMirroredStrategy) is Keras' synchronized BatchNormalization: the batch moments are all-reduced over
the replicas, so training normalises with the global batch's statistics, as one process with that batch would,
and every replica updates its copy of the moving statistics identically. Unsynchronised, each replica's moving
statistics would follow its own share of the data and the checkpoint would hold the chief's alone.
"""
import contextlib

import keras
import tensorflow as tf

LEAKY_SLOPE = 0.2
WEIGHT_STDDEV = 0.02
ACTIVATIONS = ("leaky_relu", "elu")


@contextlib.contextmanager
def dtype_policy(mixed_precision):
    """Layers built inside use 'mixed_float16' when asked (else float32); the global policy is restored after."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed_precision else "float32")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def kernel_initializer():
    """N(0, 0.02), the paper's initialisation (a fresh object per layer so layers draw different weights)."""
    return keras.initializers.RandomNormal(mean=0.0, stddev=WEIGHT_STDDEV)


def output_conv(filters, kernel_size=3, name=None):
    """The bare last conv of a network (with bias; no BatchNorm, no activation)."""
    return keras.layers.Conv2D(filters, kernel_size, padding="same", kernel_initializer=kernel_initializer(),
                               name=name)


def area_resize(x, size):
    """Average-pool NHWC `x` down to size x size (its side is an integer multiple of size)."""
    factor = x.shape[1] // size
    if factor == 1:
        return x
    return tf.nn.avg_pool2d(x, factor, factor, "VALID")


@keras.saving.register_keras_serializable(package="physstd")
class ConvBlock(keras.layers.Layer):
    """k x k conv (or stride-2 transposed conv) + BatchNorm + LeakyReLU(0.2) (or ELU), 'same' padding.

    With `resize`, the input is first enlarged x2 by nearest neighbour (resize-convolution upsampling: unlike a
    stride-2 transposed conv, its output has no built-in period-2 pattern)."""

    def __init__(self, filters, kernel_size=3, strides=1, transpose=False, synchronized=None,
                 activation="leaky_relu", resize=False, **kwargs):
        super().__init__(**kwargs)
        self.resize = bool(resize)
        if activation not in ACTIVATIONS:
            raise ValueError(f"ConvBlock activation must be one of {ACTIVATIONS}, got {activation!r}")
        self.filters, self.kernel_size, self.strides, self.transpose = filters, kernel_size, strides, transpose
        self.activation_name = activation
        if synchronized is None:  # the default: synchronised exactly when built for several replicas (module doc)
            synchronized = tf.distribute.get_strategy().num_replicas_in_sync > 1
        conv = keras.layers.Conv2DTranspose if transpose else keras.layers.Conv2D
        # No conv bias: the BatchNorm offset that follows plays its role.
        self.conv = conv(filters, kernel_size, strides=strides, padding="same", use_bias=False,
                         kernel_initializer=kernel_initializer(), dtype=self.dtype_policy, name="conv")
        self.norm = keras.layers.BatchNormalization(momentum=0.99, epsilon=1e-5, synchronized=bool(synchronized),
                                                    dtype=self.dtype_policy, name="bn")
        if activation == "elu":
            self.activation = keras.layers.ELU(dtype=self.dtype_policy)
        else:
            self.activation = keras.layers.LeakyReLU(negative_slope=LEAKY_SLOPE, dtype=self.dtype_policy)

    def call(self, x, training=False):
        if self.resize:
            x = tf.repeat(tf.repeat(x, 2, axis=1), 2, axis=2)
        return self.activation(self.norm(self.conv(x), training=training))

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size, strides=self.strides,
                      transpose=self.transpose, activation=self.activation_name, resize=self.resize)
        return config


@keras.saving.register_keras_serializable(package="physstd")
class SpatialAttention(keras.layers.Layer):
    """x * sigmoid(conv([mean_c x, max_c x])): the spatial attention of CBAM (PhySTD paper, ref. [56])."""

    def __init__(self, kernel_size=7, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size = kernel_size
        self.conv = keras.layers.Conv2D(1, kernel_size, padding="same", kernel_initializer=kernel_initializer(),
                                        dtype=self.dtype_policy, name="conv")

    def call(self, x):
        pooled = tf.concat([tf.reduce_mean(x, axis=-1, keepdims=True), tf.reduce_max(x, axis=-1, keepdims=True)],
                           axis=-1)
        return x * tf.sigmoid(self.conv(pooled))

    def get_config(self):
        config = super().get_config()
        config.update(kernel_size=self.kernel_size)
        return config
