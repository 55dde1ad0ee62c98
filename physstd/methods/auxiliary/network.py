"""The Auxiliary depth CNN: the depth-supervised network of Liu et al. (CVPR18) as De-Spoof's DQ-Net
(De-Spoof paper, Sec. 3.3, Tab. 1, column "DQ Net", layers conv3-*); "Auxiliary [18]" of the PhySTD paper's
Tab. 1-4, without its temporal module. Note the PhySTD paper's Sec. 4.5: the "Auxiliary" baseline row of its
Tab. 3 is PhySTD's own encoder and depth network trained on depth alone, and adding the Eq. 9 input
decomposition to it gives "Step1" (`--steps=1`). This module is the CNN of [18] in the layout of the De-Spoof
paper's Tab. 1: the same supervision (L1 to M0) and the same input-to-depth role, with that paper's layers.

Layer structure at width 1 and N = 256 (all kernels 3x3, stride 1; every conv but the last is conv +
BatchNorm + ELU; pools halve the side):

    input    concat[RGB, HSV]                                   256^2 x 6
    block 1  conv3-0 c64, conv3-1 c128, conv3-2 c196, conv3-3 c128, pool3-1      -> 128^2 x 128
    block 2  conv3-4 c128, conv3-5 c196, conv3-6 c128, pool3-2                   ->  64^2 x 128
    block 3  conv3-7 c128, conv3-8 c196, conv3-9 c128, pool3-3                   ->  32^2 x 128
    short-cut  pool3-1, pool3-2, pool3-3 each resized to K = N/8 = 32, concatenated  32^2 x 384
    head     conv3-10 c128, conv3-11 c64, conv3-12 c1 (bare conv)                ->  32^2 x 1  depth map

What the paper leaves out, and our choice:
- the order inside a layer: the caption says "ELU and batch normalization"; we use conv -> BN -> ELU, the
  project's ConvBlock order (no conv bias: the BN offset plays its role);
- the pooling: 2x2 max pooling, stride 2 (Tab. 1 gives only "/2");
- the resize of the short-cut: average pooling by the integer factor (area resize, as the PhySTD depth net);
- the output: conv3-12 is a bare 3x3 conv with bias and NO output nonlinearity (the depth target is in [0, 1]
  and the L1 loss needs no squashing); the Tab. 1 caption puts ELU + BN after every conv, which would make a
  depth output of an affine BN, so the last layer is left bare like every output layer of this project;
- weights: N(0, 0.02) (as the PhySTD networks); BN momentum 0.99, epsilon 1e-5 (layers.ConvBlock);
- width: hidden channels are round(base * width), never below min(base, 8) (`scaled_channels`), so width 1
  is Tab. 1 exactly.

A 3-channel RGB input gets its HSV channels here (physstd.ops.rgb_to_hsv: tf.image.rgb_to_hsv's formula in ops
that LiteRT and ONNX have); a 6-channel input is taken as RGB+HSV already (De-Spoof feeds its reconstructed
6-channel live image, De-Spoof paper, Tab. 1).
"""
import keras
import tensorflow as tf

from physstd.models.config import MIN_CHANNELS, ModelConfig, ModelConfigSerialization
from physstd.models.layers import ConvBlock, area_resize, output_conv
from physstd.ops import rgb_to_hsv

# conv3-0 .. conv3-9: (channels at width 1) per block; each block ends in a 2x2 pool.
DEPTH_BLOCKS = ((64, 128, 196, 128), (128, 196, 128), (128, 196, 128))
DEPTH_HEAD = (128, 64)  # conv3-10, conv3-11; conv3-12 is the 1-channel output


def scaled_channels(base, width):
    """round(base * width), never below min(base, MIN_CHANNELS): width 1 keeps every count of Tab. 1
    (including its 6- and 1-channel layers), smaller widths stop at 8 channels like ModelConfig.channels."""
    return max(min(base, MIN_CHANNELS), int(round(base * width)))


def rgb_hsv(image):
    """concat[RGB, HSV] (batch, N, N, 6) of RGB images in [0, 1] (De-Spoof's 6-channel input, its Sec. 3.2)."""
    image = tf.cast(image, tf.float32)
    return tf.concat([image, rgb_to_hsv(tf.clip_by_value(image, 0.0, 1.0))], axis=-1)


def six_channel_input(image, name, image_size):
    image = tf.cast(tf.convert_to_tensor(image), tf.float32)
    if image.shape.rank != 4 or image.shape[-1] not in (3, 6) or image.shape[1] not in (None, image_size):
        raise ValueError(f"{name} expects images (batch, {image_size}, {image_size}, 3 or 6), "
                         f"got shape {tuple(image.shape)}")
    return rgb_hsv(image) if image.shape[-1] == 3 else image


def pooled_blocks(blocks, x, training):
    """Run each block's conv layers, then a 2x2 max pool; returns the pooled output of every block."""
    pooled = []
    for block in blocks:
        for layer in block:
            x = layer(x, training=training)
        x = tf.nn.max_pool2d(x, 2, 2, "VALID")
        pooled.append(x)
    return pooled


def multiscale_features(pooled, size):
    """The short-cut of Tab. 1: the pooled maps area-resized to size x size and concatenated."""
    return tf.concat([area_resize(x, size) for x in pooled], axis=-1)


@keras.saving.register_keras_serializable(package="physstd")
class AuxiliaryNet(ModelConfigSerialization, keras.Model):
    """D(I) -> pseudo depth map (batch, K, K, 1) float32 for images (batch, N, N, 3 RGB or 6 RGB+HSV)."""

    def __init__(self, config=None, **kwargs):
        kwargs.setdefault("name", "auxiliary")
        kwargs["autocast"] = False  # HSV in float32; the layers cast to their own policy
        super().__init__(**kwargs)
        self.model_config = config if config is not None else ModelConfig()
        width, policy = self.model_config.width, self.dtype_policy
        self.blocks, index = [], 0
        for block in DEPTH_BLOCKS:
            layers = []
            for base in block:
                layers.append(ConvBlock(scaled_channels(base, width), activation="elu", dtype=policy,
                                        name=f"conv3_{index}"))
                index += 1
            self.blocks.append(layers)
        self.head = [ConvBlock(scaled_channels(base, width), activation="elu", dtype=policy, name=f"conv3_{i}")
                     for i, base in enumerate(DEPTH_HEAD, start=10)]
        self.depth_out = output_conv(1, name="conv3_12")

    def call(self, image, training=False):
        x = six_channel_input(image, "AuxiliaryNet", self.model_config.image_size)
        d = multiscale_features(pooled_blocks(self.blocks, x, training), self.model_config.sizes.depth_size)
        for layer in self.head:
            d = layer(d, training=training)
        return tf.cast(self.depth_out(d), tf.float32)
