"""The disentanglement generator (PhySTD paper, Sec. 3.2, Fig. 4): encoder, spoof trace decoder, depth network.

Layer structure at width 1 and N = 256 ('k3c64s2' = 3x3 kernel, 64 channels, stride 2; every layer except the
two output convs is conv + BatchNorm + LeakyReLU):

    input   concat[I_B, 15 I_C, 25 I_T]                        256^2 x 9   (Eq. 9)
    stem    k3c64s1                                            256^2 x 64
    stage 1 k3c64s1, k3c64s1, k3c64s2                   -> F1  128^2 x 64
    stage 2 k3c96s1, k3c96s1, k3c96s2                   -> F2   64^2 x 96
    stage 3 k3c128s1, k3c128s1, k3c128s2                -> F3   32^2 x 128
    decoder up k3c64s2 (F3)                             -> U1   64^2 x 64   (transposed; --upsample=resize:
                                                                             nearest x2, then k3c64s1)
            up k3c64s2 (concat[U1, F2])                 -> U2  128^2 x 64
            up k3c64s2 (concat[U2, F1])                 -> U3  256^2 x 64
            k3c32s1, then output conv k3 (13 channels for 'physstd')
            -> B, C, T = tanh, P = sigmoid, I_P = sigmoid
    depth   spatial attention (k7) on F1, F2, F3, U3, each area-resized to K = 32, concatenated (352 ch)
            k3c64s1, k3c32s1, output conv k3c1 -> M = sigmoid     32^2 x 1

The paper gives the feature sizes F1-F3, the U-Net skips, the K x K depth output and the attention; the
number of convs per stage and the decoder/depth widths are our choice (after the ECCV20 STDN code: three convs
per stage, 64-channel transposed convs, a two-conv head), keeping the backbone the heaviest part.
"""
import keras
import tensorflow as tf

from physstd import ops
from physstd.config import DEFAULT_LOWPASS
from physstd.models.config import COMPONENT_CHANNELS, GeneratorOutput, ModelConfig, ModelConfigSerialization
from physstd.models.layers import ConvBlock, SpatialAttention, area_resize, output_conv

INPUT_GAINS = (1.0, 15.0, 25.0)  # amplification of I_B, I_C, I_T (Eq. 9 and the text below it)
ENCODER_CHANNELS = (64, 96, 128)  # F1, F2, F3 at width 1
STEM_CHANNELS = 64
DECODER_CHANNELS = 64
HEAD_CHANNELS = 32
DEPTH_CHANNELS = (64, 32)
ATTENTION_KERNEL = 7


def input_decomposition(image, sizes, lowpass=DEFAULT_LOWPASS):
    """Eq. 9: concat[I_B, 15 I_C, 25 I_T] with (I_B, I_C, I_T) = ops.decompose(image, n1, n2); (B,N,N,9)."""
    bands = ops.decompose(image, sizes.n1, sizes.n2, lowpass)
    return tf.concat([gain * band for gain, band in zip(INPUT_GAINS, bands)], axis=-1)


@keras.saving.register_keras_serializable(package="physstd")
class Generator(ModelConfigSerialization, keras.Model):
    """G(I) -> GeneratorOutput(B, C, T, P, I_P, M, S) for images (batch, N, N, 3) float32 in [0, 1].

    Mixed precision: hidden layers follow the Keras dtype policy; the input decomposition and the output
    nonlinearities run in float32, and every output is float32.
    """

    def __init__(self, config=None, **kwargs):
        kwargs.setdefault("name", "generator")
        # The image is decomposed in float32 (I_T is amplified 25x); the layers inside cast to their policy.
        kwargs["autocast"] = False
        super().__init__(**kwargs)
        self.model_config = config if config is not None else ModelConfig()
        ch = self.model_config.channels
        policy = self.dtype_policy

        self.stem = ConvBlock(ch(STEM_CHANNELS), dtype=policy, name="stem")
        self.encoder_stages = []
        for index, base in enumerate(ENCODER_CHANNELS, start=1):
            self.encoder_stages.append([
                ConvBlock(ch(base), dtype=policy, name=f"stage{index}_conv1"),
                ConvBlock(ch(base), dtype=policy, name=f"stage{index}_conv2"),
                ConvBlock(ch(base), strides=2, dtype=policy, name=f"stage{index}_down"),
            ])
        if self.model_config.upsample == "resize":
            self.upsample = [ConvBlock(ch(DECODER_CHANNELS), resize=True, dtype=policy, name=f"up{i}")
                             for i in (1, 2, 3)]
        else:
            self.upsample = [ConvBlock(ch(DECODER_CHANNELS), strides=2, transpose=True, dtype=policy, name=f"up{i}")
                             for i in (1, 2, 3)]
        self.trace_head = ConvBlock(ch(HEAD_CHANNELS), dtype=policy, name="trace_head")
        self.trace_out = output_conv(sum(COMPONENT_CHANNELS[c] for c in self.model_config.components),
                                     name="trace_out")
        self.attention = [SpatialAttention(ATTENTION_KERNEL, dtype=policy, name=f"attention_{name}")
                          for name in ("f1", "f2", "f3", "u3")]
        self.depth_convs = [ConvBlock(ch(base), dtype=policy, name=f"depth_conv{i}")
                            for i, base in enumerate(DEPTH_CHANNELS, start=1)]
        self.depth_out = output_conv(1, name="depth_out")

    def call(self, image, training=False):
        config = self.model_config
        sizes = config.sizes
        image = tf.cast(tf.convert_to_tensor(image), tf.float32)
        if image.shape.rank != 4 or image.shape[-1] != 3 or image.shape[1] not in (None, config.image_size):
            raise ValueError(f"Generator expects images (batch, {config.image_size}, {config.image_size}, 3), "
                             f"got shape {tuple(image.shape)}")
        x = self.stem(input_decomposition(image, sizes, config.lowpass), training=training)

        features = []
        for stage in self.encoder_stages:
            for block in stage:
                x = block(x, training=training)
            features.append(x)
        f1, f2, f3 = features

        u1 = self.upsample[0](f3, training=training)
        u2 = self.upsample[1](tf.concat([u1, f2], axis=-1), training=training)
        u3 = self.upsample[2](tf.concat([u2, f1], axis=-1), training=training)
        raw = tf.cast(self.trace_out(self.trace_head(u3, training=training)), tf.float32)

        k = sizes.depth_size
        attended = [area_resize(attention(feature), k)
                    for attention, feature in zip(self.attention, (f1, f2, f3, u3))]
        d = tf.concat(attended, axis=-1)
        for block in self.depth_convs:
            d = block(d, training=training)
        depth = tf.sigmoid(tf.cast(self.depth_out(d), tf.float32))

        return self._split_traces(raw, image, depth)

    def _split_traces(self, raw, image, depth):
        """Output nonlinearities (float32) per component; zeros for components the form does not predict."""
        names = self.model_config.components
        pieces = tf.split(raw, [COMPONENT_CHANNELS[name] for name in names], axis=-1)
        values = {}
        for name, piece in zip(names, pieces):
            values[name] = tf.sigmoid(piece) if name in ("P", "I_P") else tf.tanh(piece)
        rgb_zeros = tf.zeros_like(image)
        for name in COMPONENT_CHANNELS:
            if name not in values:
                values[name] = rgb_zeros if COMPONENT_CHANNELS[name] == 3 else rgb_zeros[..., :1]
        return GeneratorOutput(M=depth, **values)

    def parameter_breakdown(self):
        """Trainable + non-trainable parameter counts of encoder, trace decoder and depth network."""
        def count(layers):
            return int(sum(layer.count_params() for layer in layers))
        return {
            "encoder": count([self.stem] + [block for stage in self.encoder_stages for block in stage]),
            "trace_decoder": count(self.upsample + [self.trace_head, self.trace_out]),
            "depth_network": count(self.attention + self.depth_convs + [self.depth_out]),
        }
