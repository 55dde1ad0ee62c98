"""Networks of the multi-modal disentanglement network ("Learning Polysemantic Spoof Trace: A Multi-Modal
Disentanglement Network for Face Anti-spoofing", Li et al. 2023, Sec. 3, Fig. 1-3): the two-stream spoof trace
generator with its cross-modality fusion (Eq. 2-5), the trace classifier phi and the PatchGAN discriminators.

Layer structure at width 1 and N = 256 (m in {rgb, depth}; the depth's one channel is repeated x3 for the stem):

    encoder E_m     torchvision's resnet50 stem and layer1..layer3 (the stride on the bottleneck's 3x3 conv, no
                    conv bias, BatchNorm): F1 64^2 x 256, F2 32^2 x 512, F3 16^2 x 1024      8,543,296 per stream
    fusion          after layer1, layer2, layer3 (Eq. 2-5), its outputs replacing both streams'
                    features: W_m = sigmoid(MLP_m(GAP(F_rgb || F_dep))), MLP = Dense(2C/16, ReLU), Dense(C);
                    F'_m = W_m F_m; F_depth^rec = F'_rgb + F_depth, F_rgb^rec = F'_depth + F_rgb;
                    (A_rgb, A_depth) = per-pixel softmax of a 1x1 conv (2 outputs) on F_rgb^rec || F_depth^rec;
                    F''_m = A_m F_m^rec                                         50,754 / 199,810 / 792,834
    head psi_m      GAP(F3'') -> Dense(1): the encoder's spoof logit (Eq. 11)                     1,025
    decoder G_m     1x1 256, residual block, 4x4/2 deconv 128; || F2'' -> 1x1 128, residual, deconv 64;
                    || F1'' -> 1x1 64, residual, deconv 64 (its GAP: the centre-loss feature x_m, Eq. 10);
                    residual, deconv 32; 3x3 conv (bias) -> tanh -> T_m 256^2 x 3 (rgb) or x 1 (depth)
                                                                        2,744,611 (rgb), 2,744,033 (depth)
    phi             on T_rgb || T_depth: k3 convs c32/2, c64/2, c96/2, c96/1, then k3 c1 (bias) + sigmoid
                    -> 32^2 x 1                                                                   159,265
    discriminators  per modality D_L (live vs reconstructed live) and D_S (spoof vs synthesised spoof), each a
                    PatchGAN at N, N/2, N/4: k3 c64/1 (bias, LeakyReLU), c64/2, c128/1, c128/2, c256/1, c256/2
                    (BatchNorm + LeakyReLU(0.2)), k3 c1 (bias, no activation: least squares)
                                                    1,148,545 (rgb) / 1,147,393 (depth) each, 12 in all 13,775,628

Generator side (encoders, fusion, heads, decoders, phi) 23,779,949 trainable parameters at width 1.
Every hidden conv and deconv has no bias and is followed by BatchNorm and, except a residual block's second conv,
LeakyReLU(0.2) (physstd.models.layers.ConvBlock); a residual block is conv-BN-LReLU, conv-BN, plus its input, then
LeakyReLU. Width: hidden channels are max(8, round(base * width)), the MLP's hidden units max(1, 2C/16); the
traces keep their 3 and 1 channels. One modality ("RGB Only" / "DEP Only" of the paper's Tab. 4): one stream, no
fusion, phi on that stream's trace.

Mixed precision: the layers follow the Keras dtype policy; every output is float32.
"""
import keras
import tensorflow as tf

from physstd.methods.lgsc.networks import (NORM_EPSILON, _ArgumentsConfig, _conv, _normalization, _pad, channels,
                                           downsample_pairs, load_torchvision_weights, torchvision_layers)
from physstd.models.layers import ConvBlock, area_resize, output_conv

MODALITIES = ("rgb", "depth")
MODALITY_CHANNELS = {"rgb": 3, "depth": 1}   # of the input and of the trace T_m
STEM_CHANNELS = 64
# layer1..layer3 of torchvision's resnet50: (bottleneck width, blocks, stride of the first block); out = 4 x width.
RESNET50_STAGES = ((64, 3, 1), (128, 4, 2), (256, 6, 2))
EXPANSION = 4
FUSION_REDUCTION = 16                        # the MLP's hidden units: 2C / 16
# The decoder's three stages after F3, F2, F1: (1x1 channels, deconv channels), then the last residual + deconv.
DECODER_STAGES = ((256, 128), (128, 64), (64, 64))
DECODER_LAST = 32
DECONV_KERNEL = 4
CLASSIFIER_CHANNELS = ((32, 2), (64, 2), (96, 2), (96, 1))   # phi: (channels, stride), then k3 c1 + sigmoid
DISCRIMINATOR_CHANNELS = ((64, 1), (64, 2), (128, 1), (128, 2), (256, 1), (256, 2))
DISCRIMINATOR_SCALES = (1, 2, 4)             # N / scale
STEM = -1                                    # Encoder part: the stem (conv1, bn1, max pool)
LEAKY_SLOPE = 0.2


def parse_modalities(text, flag="--mmdn_modalities"):
    """('rgb',), ('depth',) or ('rgb', 'depth') of 'rgb', 'depth' or 'rgb,depth' (any order; one ValueError
    naming the flag otherwise)."""
    given = [part.strip() for part in str(text).split(",")]
    if not given or any(part not in MODALITIES for part in given) or len(set(given)) != len(given):
        raise ValueError(f"{flag}={text}: expected rgb, depth or rgb,depth")
    return tuple(m for m in MODALITIES if m in given)


def network_input(image):
    """x = 2 I - 1 of an input in [0, 1]; the depth's one channel repeated x3 for the stem."""
    x = 2.0 * tf.cast(image, tf.float32) - 1.0
    return tf.tile(x, [1, 1, 1, 3]) if x.shape[-1] == 1 else x


@keras.saving.register_keras_serializable(package="physstd.mmdn")
class Bottleneck(_ArgumentsConfig, keras.layers.Layer):
    """torchvision's resnet50 bottleneck: relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x))))))) + shortcut(x)), the
    stride on the 3x3 conv2; the shortcut a 1x1 conv + BN ('downsample') where the stride or channels change."""

    def __init__(self, in_channels, width, strides=1, **kwargs):
        super().__init__(**kwargs)
        self.arguments = dict(in_channels=in_channels, width=width, strides=strides)
        self.strides, out = strides, EXPANSION * width
        policy = self.dtype_policy
        self.conv1, self.bn1 = _conv(width, 1, 1, policy, "conv1"), _normalization("batch", policy, "bn1")
        self.conv2, self.bn2 = _conv(width, 3, strides, policy, "conv2"), _normalization("batch", policy, "bn2")
        self.conv3, self.bn3 = _conv(out, 1, 1, policy, "conv3"), _normalization("batch", policy, "bn3")
        self.downsample_conv = self.downsample_norm = None
        if strides != 1 or in_channels != out:
            self.downsample_conv = _conv(out, 1, strides, policy, "downsample_conv")
            self.downsample_norm = _normalization("batch", policy, "downsample_norm")

    def torchvision_pairs(self):
        """[(torchvision name inside the block, layer)] of its convolutions and norms."""
        return [(f"{kind}{k}", getattr(self, f"{kind}{k}")) for k in (1, 2, 3) for kind in ("conv", "bn")] + \
            downsample_pairs(self)

    def call(self, x, training=False):
        y = tf.nn.relu(self.bn1(self.conv1(x), training=training))
        y = tf.nn.relu(self.bn2(self.conv2(_pad(y, 1) if self.strides > 1 else y), training=training))
        y = self.bn3(self.conv3(y), training=training)
        shortcut = x
        if self.downsample_conv is not None:
            shortcut = self.downsample_norm(self.downsample_conv(x), training=training)
        return tf.nn.relu(y + shortcut)


@keras.saving.register_keras_serializable(package="physstd.mmdn")
class Encoder(_ArgumentsConfig, keras.layers.Layer):
    """E_m: torchvision's resnet50 stem and layer1..layer3, run part by part (`encoder(x, part=STEM)`, then
    `encoder(x, part=k)` for layer k + 1) so that the fusion can sit between them; `encoder(x)` runs them all and
    returns [F1, F2, F3]. Every part runs through the layer's own call, so its variables are named under it."""

    def __init__(self, width=1.0, **kwargs):
        super().__init__(**kwargs)
        self.width = width
        self.arguments = dict(width=width)
        policy = self.dtype_policy
        stem = channels(STEM_CHANNELS, width)
        self.conv1, self.bn1 = _conv(stem, 7, 2, policy, "conv1"), _normalization("batch", policy, "bn1")
        self.stages, previous = [], stem
        for index, (base, blocks, stride) in enumerate(RESNET50_STAGES, start=1):
            hidden, stage = channels(base, width), []
            for block in range(blocks):
                stage.append(Bottleneck(previous, hidden, stride if block == 0 else 1, dtype=policy,
                                        name=f"layer{index}_{block}"))
                previous = EXPANSION * hidden
            self.stages.append(stage)
        self.feature_channels = tuple(EXPANSION * channels(base, width) for base, _, _ in RESNET50_STAGES)

    def call(self, x, part=None, training=False):
        if part is None:
            x = self(x, part=STEM, training=training)
            features = []
            for index in range(len(self.stages)):
                x = self(x, part=index, training=training)
                features.append(x)
            return features
        if part == STEM:
            x = tf.nn.relu(self.bn1(self.conv1(_pad(x, 3)), training=training))
            return tf.nn.max_pool2d(_pad(x, 1), 3, 2, "VALID")   # zero padding = -inf padding after a ReLU
        for block in self.stages[part]:
            x = block(x, training=training)
        return x

    def torchvision_layers(self):
        return torchvision_layers(self)


@keras.saving.register_keras_serializable(package="physstd.mmdn")
class CrossModalityFusion(_ArgumentsConfig, keras.layers.Layer):
    """Eq. 2-5 on (F_rgb, F_depth) (batch, h, w, C) -> (F''_rgb, F''_depth) (module doc)."""

    def __init__(self, feature_channels, hidden_units=None, **kwargs):
        super().__init__(**kwargs)
        hidden = hidden_units or max(1, 2 * feature_channels // FUSION_REDUCTION)
        self.arguments = dict(feature_channels=feature_channels, hidden_units=hidden)
        policy = self.dtype_policy
        # Flat containers of layers: Keras tracks a layer inside a dict of lists for its weights but not for saving.
        self.gate_hidden = {m: keras.layers.Dense(hidden, activation="relu", dtype=policy, name=f"mlp_{m}_hidden")
                            for m in MODALITIES}
        self.gate_out = {m: keras.layers.Dense(feature_channels, dtype=policy, name=f"mlp_{m}_out")
                         for m in MODALITIES}
        self.spatial = keras.layers.Conv2D(2, 1, dtype=policy, name="spatial")

    def call(self, f_rgb, f_depth):
        pooled = tf.reduce_mean(tf.concat([f_rgb, f_depth], -1), axis=(1, 2))
        filtered = {}
        for m, feature in (("rgb", f_rgb), ("depth", f_depth)):
            weights = tf.sigmoid(self.gate_out[m](self.gate_hidden[m](pooled)))   # Eq. 2
            filtered[m] = weights[:, None, None, :] * feature           # Eq. 3
        rgb_rec, depth_rec = f_rgb + filtered["depth"], f_depth + filtered["rgb"]   # Eq. 4, both ways
        attention = tf.nn.softmax(self.spatial(tf.concat([rgb_rec, depth_rec], -1)), axis=-1)
        return rgb_rec * attention[..., :1], depth_rec * attention[..., 1:]       # Eq. 5


@keras.saving.register_keras_serializable(package="physstd.mmdn")
class ResidualBlock(_ArgumentsConfig, keras.layers.Layer):
    """LeakyReLU(x + BN(conv3x3(ConvBlock(x)))), the channels kept."""

    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.arguments = dict(filters=filters)
        self.block = ConvBlock(filters, 3, dtype=self.dtype_policy, name="block")
        self.conv = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, dtype=self.dtype_policy,
                                        name="conv")
        self.norm = keras.layers.BatchNormalization(momentum=0.99, epsilon=NORM_EPSILON, dtype=self.dtype_policy,
                                                    name="bn")

    def call(self, x, training=False):
        y = self.norm(self.conv(self.block(x, training=training)), training=training)
        return tf.nn.leaky_relu(x + y, LEAKY_SLOPE)


@keras.saving.register_keras_serializable(package="physstd.mmdn")
class TraceDecoder(_ArgumentsConfig, keras.layers.Layer):
    """G_m: (F1'', F2'', F3'') -> (T_m (batch, N, N, c) in [-1, 1], x_m (batch, C) the centre-loss feature)."""

    def __init__(self, trace_channels, width=1.0, **kwargs):
        super().__init__(**kwargs)
        self.arguments = dict(trace_channels=trace_channels, width=width)
        policy = self.dtype_policy
        self.squeezes = [ConvBlock(channels(squeeze, width), 1, dtype=policy, name=f"squeeze{index}")
                         for index, (squeeze, _) in enumerate(DECODER_STAGES, start=1)]
        self.residuals = [ResidualBlock(channels(squeeze, width), dtype=policy, name=f"residual{index}")
                          for index, (squeeze, _) in enumerate(DECODER_STAGES, start=1)]
        self.deconvs = [ConvBlock(channels(up, width), DECONV_KERNEL, 2, transpose=True, dtype=policy,
                                  name=f"deconv{index}") for index, (_, up) in enumerate(DECODER_STAGES, start=1)]
        last = channels(DECODER_STAGES[-1][1], width)
        self.centre_channels = last   # of x_m, the GAP after the third up-sampling
        self.last_residual = ResidualBlock(last, dtype=policy, name="residual4")
        self.last_deconv = ConvBlock(channels(DECODER_LAST, width), DECONV_KERNEL, 2, transpose=True, dtype=policy,
                                     name="deconv4")
        self.out = output_conv(trace_channels, name="out")

    def call(self, features, training=False):
        f1, f2, f3 = features
        x = f3
        for squeeze, residual, deconv, skip in zip(self.squeezes, self.residuals, self.deconvs, (None, f2, f1)):
            if skip is not None:
                x = tf.concat([x, skip], -1)
            x = deconv(residual(squeeze(x, training=training), training=training), training=training)
        centre_feature = tf.reduce_mean(tf.cast(x, tf.float32), axis=(1, 2))   # after the 3rd up-sampling (Eq. 10)
        x = self.last_deconv(self.last_residual(x, training=training), training=training)
        return tf.tanh(tf.cast(self.out(x), tf.float32)), centre_feature


class _WidthModel:
    """get_config / from_config of a network built from a few arguments kept in `self.arguments`."""

    def get_config(self):
        return {"name": self.name, **self.arguments}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package="physstd.mmdn")
class SpoofTraceGenerator(_WidthModel, keras.Model):
    """The two-stream generator: {modality: input (batch, N, N, 3 or 1) in [0, 1]} -> {'trace': {m: T_m},
    'logit': {m: psi_m (batch,)}, 'centre_feature': {m: x_m (batch, C)}}, all float32."""

    def __init__(self, modalities=MODALITIES, width=1.0, **kwargs):
        kwargs.setdefault("name", "spoof_trace_generator")
        kwargs["autocast"] = False
        super().__init__(**kwargs)
        self.modalities = tuple(modalities)
        self.arguments = dict(modalities=list(self.modalities), width=width)
        policy = self.dtype_policy
        self.encoders = {m: Encoder(width, dtype=policy, name=f"encoder_{m}") for m in self.modalities}
        feature_channels = self.encoders[self.modalities[0]].feature_channels
        self.fusions = [CrossModalityFusion(c, dtype=policy, name=f"fusion{k}")
                        for k, c in enumerate(feature_channels, start=1)] if len(self.modalities) == 2 else []
        self.heads = {m: keras.layers.Dense(1, dtype=policy, name=f"head_{m}") for m in self.modalities}
        self.decoders = {m: TraceDecoder(MODALITY_CHANNELS[m], width, dtype=policy, name=f"decoder_{m}")
                         for m in self.modalities}

    def call(self, inputs, training=False):
        x = {m: self.encoders[m](network_input(inputs[m]), part=STEM, training=training) for m in self.modalities}
        features = {m: [] for m in self.modalities}
        for index in range(len(RESNET50_STAGES)):
            x = {m: self.encoders[m](x[m], part=index, training=training) for m in self.modalities}
            if self.fusions:   # the fused features replace both streams
                x["rgb"], x["depth"] = self.fusions[index](x["rgb"], x["depth"])
            for m in self.modalities:
                features[m].append(x[m])
        out = {"trace": {}, "logit": {}, "centre_feature": {}}
        for m in self.modalities:
            pooled = tf.reduce_mean(features[m][-1], axis=(1, 2))
            out["logit"][m] = tf.cast(self.heads[m](pooled), tf.float32)[:, 0]
            out["trace"][m], out["centre_feature"][m] = self.decoders[m](features[m], training=training)
        return out


@keras.saving.register_keras_serializable(package="physstd.mmdn")
class TraceClassifier(_WidthModel, keras.Model):
    """phi: the traces T_rgb || T_depth (batch, N, N, c) -> the spoof map (batch, N/8, N/8, 1) in [0, 1]."""

    def __init__(self, width=1.0, **kwargs):
        kwargs.setdefault("name", "trace_classifier")
        kwargs["autocast"] = False
        super().__init__(**kwargs)
        self.arguments = dict(width=width)
        self.blocks = [ConvBlock(channels(base, width), 3, stride, dtype=self.dtype_policy, name=f"conv{k}")
                       for k, (base, stride) in enumerate(CLASSIFIER_CHANNELS, start=1)]
        self.out = output_conv(1, name="out")

    def call(self, traces, training=False):
        x = tf.cast(traces, tf.float32)
        for block in self.blocks:
            x = block(x, training=training)
        return tf.sigmoid(tf.cast(self.out(x), tf.float32))


@keras.saving.register_keras_serializable(package="physstd.mmdn")
class PatchDiscriminator(_WidthModel, keras.Model):
    """A PatchGAN on its input average-pooled to N / scale: (batch, N, N, c) -> (batch, N / 8 scale, N / 8 scale, 1)
    float32, unbounded (least squares: real = 1, fake = 0)."""

    def __init__(self, scale=1, width=1.0, **kwargs):
        kwargs.setdefault("name", "discriminator")
        kwargs["autocast"] = False
        super().__init__(**kwargs)
        self.scale = scale
        self.arguments = dict(scale=scale, width=width)
        (first, _), *hidden = DISCRIMINATOR_CHANNELS
        self.first = keras.layers.Conv2D(channels(first, width), 3, padding="same", dtype=self.dtype_policy,
                                         name="conv1")
        self.blocks = [ConvBlock(channels(base, width), 3, stride, dtype=self.dtype_policy, name=f"conv{k}")
                       for k, (base, stride) in enumerate(hidden, start=2)]
        self.out = output_conv(1, name="out")

    def call(self, image, training=False):
        x = tf.cast(image, tf.float32)
        x = area_resize(x, x.shape[1] // self.scale)
        x = tf.nn.leaky_relu(self.first(x), LEAKY_SLOPE)
        for block in self.blocks:
            x = block(x, training=training)
        return tf.cast(self.out(x), tf.float32)


def build_discriminators(modalities, width):
    """{(kind, modality): [D at N, N/2, N/4]} for kind L (live vs reconstructed live) and S (spoof vs synthesised
    spoof), separate weights."""
    return {(kind, m): [PatchDiscriminator(scale, width, name=f"d_{kind.lower()}_{m}_{scale}")
                        for scale in DISCRIMINATOR_SCALES]
            for m in modalities for kind in ("L", "S")}


def load_torchvision_resnet50(path, encoder):
    """Fill an Encoder (width 1) from a torchvision resnet50 state dict saved as .npz (conv1.weight, bn1.*,
    layer1.0.conv1.weight, ...; layer4.* and fc.* ignored): physstd.methods.lgsc.networks' loader, with its checks
    (one ValueError naming the file and each missing or mis-shaped key before anything is assigned)."""
    return load_torchvision_weights(path, encoder, "resnet50")
