"""Multi-scale PatchGAN discriminators (PhySTD paper, Sec. 3.4).

Four discriminators with the same structure and separate weights; D_k sees its input resized to
`ImageSizes.discriminator_sizes[k]` = (N/8, 3N/8, N, N). The resize happens inside the discriminator
(bilinear with antialiasing when shrinking), so callers pass full-size N x N images and real and fake inputs
of one D_k always meet the same resize. That alone does not make them comparable: I_low and I_mid are band
limited by Eq. 9's low-pass (physstd.ops.lowpass) before they get here, so the real live face must be band limited
the same way first (physstd.trace.discriminator_inputs does this).

Structure at width 1 (conv + BatchNorm + LeakyReLU except the last conv):
    k3c32s2, k3c64s2, k3c96s2, k3c96s1, output conv k3c1 -> sigmoid: a (size/8)^2 x 1 map in [0, 1]
    (1 = real, 0 = synthetic). Same layer plan as the ECCV20 STDN discriminator.
"""
import keras
import tensorflow as tf

from physstd import ops
from physstd.models.config import ModelConfig, ModelConfigSerialization
from physstd.models.layers import ConvBlock, output_conv

DISCRIMINATOR_CHANNELS = ((32, 2), (64, 2), (96, 2), (96, 1))  # (channels at width 1, stride)


def resize_for_discriminator(image, size):
    """tf.image.resize(image, (size, size), 'bilinear', antialias=True) for NHWC `image` with a static side.

    Written as two small matrix products (physstd.ops.resize_separable) because the antialiased resize op
    (ScaleAndTranslate) has no XLA kernel; identity when the image already has that size.
    """
    height, width = image.shape[1], image.shape[2]
    if height is None or width is None:
        raise ValueError(f"Discriminator needs a static image size, got shape {tuple(image.shape)}")
    if height == size and width == size:
        return image
    return ops.resize_separable(image, ops.triangle_matrix(height, size), ops.triangle_matrix(width, size))


@keras.saving.register_keras_serializable(package="physstd")
class Discriminator(ModelConfigSerialization, keras.Model):
    """D(I) -> (batch, ceil(size/8), ceil(size/8), 1) float32 in [0, 1]; any input side is resized to `size`."""

    def __init__(self, config=None, input_size=None, **kwargs):
        kwargs.setdefault("name", "discriminator")
        kwargs["autocast"] = False  # resize in float32, the layers cast to their own policy
        super().__init__(**kwargs)
        self.model_config = config if config is not None else ModelConfig()
        self.input_size = int(input_size if input_size is not None else self.model_config.image_size)
        if self.input_size < 1:
            raise ValueError(f"Discriminator input_size must be positive, got {input_size!r}")
        ch = self.model_config.discriminator_channels
        self.blocks = [ConvBlock(ch(base), strides=stride, dtype=self.dtype_policy, name=f"conv{i}")
                       for i, (base, stride) in enumerate(DISCRIMINATOR_CHANNELS, start=1)]
        self.out = output_conv(1, name="out")

    def call(self, image, training=False):
        x = resize_for_discriminator(tf.cast(image, tf.float32), self.input_size)
        for block in self.blocks:
            x = block(x, training=training)
        return tf.sigmoid(tf.cast(self.out(x), tf.float32))

    def get_config(self):
        return dict(super().get_config(), input_size=self.input_size)


def build_discriminators(config):
    """D1..D4 at ImageSizes.discriminator_sizes (N/8, 3N/8, N, N), separate weights, named d1..d4."""
    return [Discriminator(config, size, name=f"d{index}")
            for index, size in enumerate(config.sizes.discriminator_sizes, start=1)]
