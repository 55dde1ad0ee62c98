"""De-Spoof networks (De-Spoof paper, Sec. 3.2-3.3, Tab. 1): DS-Net (spoof noise and 0\\1 map) and VQ-Net.

DQ-Net is the Auxiliary depth CNN (physstd.methods.auxiliary.network.AuxiliaryNet, Tab. 1 column "DQ Net").

DS-Net at width 1 and N = 256 (3x3 kernels, stride 1; every conv but the two output convs is conv + BN + ELU):

    input      concat[RGB, HSV]                                                    256^2 x 6
    encoder    conv1-0 c24, conv1-1 c20, conv1-2 c25, conv1-3 c20, pool1-1  -> 128^2 x 20
               conv1-4 c20, conv1-5 c25, conv1-6 c20, pool1-2               ->  64^2 x 20
               conv1-7 c20, conv1-8 c25, conv1-9 c20, pool1-3               ->  32^2 x 20
    short-cut  pool1-1, pool1-2, pool1-3 resized to N/8 and concatenated = F   32^2 x 60
    0\\1 map   conv1-10 c28, conv1-11 c16, conv1-12 c1 (bare)               ->  32^2 x 1
    decoder    F resized to N; conv2-1 c28, conv2-2 c24, conv2-3 c20, conv2-4 c20, conv2-5 c20, conv2-6 c16,
               conv2-7 c16, conv2-8 c6 (bare) -> tanh -> spoof noise N       256^2 x 6
    live       I_hat = I - N (on the 6 RGB+HSV channels, as Tab. 1's "image - conv2-8")

VQ-Net at width 1 (input N x N x 6: a real live face or a reconstruction I_hat):

    conv4-1 c24, conv4-2 c20, pool4-1, conv4-3 c20, conv4-4 c16, pool4-2, conv4-5 c12, conv4-6 c6, pool4-3
    -> (N/8)^2 x 6, vectorised; fc4-1 100 (+ ELU), dropout 0.2, fc4-2 2 -> logits of (real, synthetic)

What the paper leaves out or states inconsistently, and our choice:
- decoder input: the text feeds "F from conv1-12" (32 channels) to the decoder, Tab. 1 gives conv1-12 one
  channel and names the decoder input "pool1-1+pool1-2+pool1-3"; we follow the table: the decoder reads the
  60-channel short-cut F, and conv1-10..12 is the 0\\1 map head on the same F (the caption's "bottom-left part");
- "resize" of F to N: bilinear (the text stresses a plain resize instead of deconvolution); the short-cut
  resize to N/8 is an area resize, pools are 2x2 max pools (Tab. 1 gives only "/2");
- VQ-Net's convs: Tab. 1 writes "24/2" and "20/2" for conv4-1/4-2 but keeps the output at 256, and the pools
  halve; we use stride 1 everywhere (the output sizes of the table);
- the noise: a bare conv2-8 followed by tanh, so N lies in [-1, 1] like the PhySTD traces; the repetitive
  loss rewards a large spectral peak on spoofs, which an unbounded output could grow without limit;
- the 0\\1 map and depth outputs are bare convs (linear), compared with L1 to their 0/1 targets;
- conv -> BN -> ELU order, no conv bias before BN, N(0, 0.02) weights (see physstd.methods.auxiliary.network);
- fc4-1 has ELU and no BN; fc4-2's two logits go through a softmax, p(real) first.
- width: hidden channels scale as in physstd.methods.auxiliary.network.scaled_channels (width 1 is Tab. 1); the two
  output convs (6-channel noise, 1-channel map) and the fc sizes (100, 2) do not scale.
"""
import keras
import tensorflow as tf

from physstd.methods.auxiliary.network import (multiscale_features, pooled_blocks, scaled_channels,
                                              six_channel_input)
from physstd.models.config import ModelConfig, ModelConfigSerialization
from physstd.models.layers import ConvBlock, kernel_initializer, output_conv

ENCODER_BLOCKS = ((24, 20, 25, 20), (20, 25, 20), (20, 25, 20))  # conv1-0 .. conv1-9, each block then pooled
ZERO_ONE_HEAD = (28, 16)                                        # conv1-10, conv1-11; conv1-12 is the map
DECODER_CHANNELS = (28, 24, 20, 20, 20, 16, 16)                  # conv2-1 .. conv2-7; conv2-8 is the noise
NOISE_CHANNELS = 6                                              # RGB + HSV
VQ_BLOCKS = ((24, 20), (20, 16), (12, 6))                       # conv4-1 .. conv4-6, each pair then pooled
VQ_HIDDEN = 100                                                 # fc4-1
VQ_DROPOUT = 0.2


def _elu_blocks(bases, width, policy, name, first_index):
    return [ConvBlock(scaled_channels(base, width), activation="elu", dtype=policy, name=f"{name}_{i}")
            for i, base in enumerate(bases, start=first_index)]


@keras.saving.register_keras_serializable(package="physstd")
class DSNet(ModelConfigSerialization, keras.Model):
    """DS(I) -> (noise N (batch, N, N, 6) in [-1, 1], 0\\1 map (batch, N/8, N/8, 1)), float32.

    Images: (batch, N, N, 3) RGB (HSV is added here) or (batch, N, N, 6) RGB+HSV, in [0, 1].
    """

    def __init__(self, config=None, **kwargs):
        kwargs.setdefault("name", "ds_net")
        kwargs["autocast"] = False
        super().__init__(**kwargs)
        self.model_config = config if config is not None else ModelConfig()
        width, policy = self.model_config.width, self.dtype_policy
        self.encoder_blocks, index = [], 0
        for block in ENCODER_BLOCKS:
            self.encoder_blocks.append(_elu_blocks(block, width, policy, "conv1", index))
            index += len(block)
        self.zero_one_head = _elu_blocks(ZERO_ONE_HEAD, width, policy, "conv1", 10)
        self.zero_one_out = output_conv(1, name="conv1_12")
        self.decoder = _elu_blocks(DECODER_CHANNELS, width, policy, "conv2", 1)
        self.noise_out = output_conv(NOISE_CHANNELS, name="conv2_8")

    def call(self, image, training=False):
        config = self.model_config
        x = six_channel_input(image, "DSNet", config.image_size)
        features = multiscale_features(pooled_blocks(self.encoder_blocks, x, training), config.sizes.depth_size)

        z = features
        for layer in self.zero_one_head:
            z = layer(z, training=training)
        zero_one_map = tf.cast(self.zero_one_out(z), tf.float32)

        d = tf.image.resize(features, (config.image_size, config.image_size), method="bilinear")
        for layer in self.decoder:
            d = layer(d, training=training)
        noise = tf.tanh(tf.cast(self.noise_out(d), tf.float32))
        return noise, zero_one_map


@keras.saving.register_keras_serializable(package="physstd")
class VQNet(ModelConfigSerialization, keras.Model):
    """VQ(I) -> logits (batch, 2) of (real, synthetic) for 6-channel RGB+HSV images (batch, N, N, 6)."""

    def __init__(self, config=None, **kwargs):
        kwargs.setdefault("name", "vq_net")
        kwargs["autocast"] = False
        super().__init__(**kwargs)
        self.model_config = config if config is not None else ModelConfig()
        width = self.model_config.discriminator_width or self.model_config.width
        policy = self.dtype_policy
        self.blocks = [_elu_blocks(pair, width, policy, "conv4", 2 * i + 1) for i, pair in enumerate(VQ_BLOCKS)]
        self.hidden = keras.layers.Dense(VQ_HIDDEN, activation="elu", kernel_initializer=kernel_initializer(),
                                         dtype=policy, name="fc4_1")
        self.dropout = keras.layers.Dropout(VQ_DROPOUT, dtype=policy)
        self.logits = keras.layers.Dense(2, kernel_initializer=kernel_initializer(), name="fc4_2")

    def call(self, image, training=False):
        x = pooled_blocks(self.blocks, six_channel_input(image, "VQNet", self.model_config.image_size), training)[-1]
        x = tf.reshape(x, (-1, x.shape[1] * x.shape[2] * x.shape[3]))
        x = self.dropout(self.hidden(x), training=training)
        return tf.cast(self.logits(x), tf.float32)
