"""LGSC networks ("Learning Generalized Spoof Cues for Face Anti-spoofing", Feng et al. 2020, Sec. 3.3-3.4, Fig. 2):
the spoof cue generator (a U-Net: ResNet-18 encoder E, decoder D) and the auxiliary classifier.

Layer structure at width 1 and n = 224 (n: the side of what the network is given, a training patch or a whole
face; every network here is fully convolutional up to the classifier's global pooling):

    input       x = 2 I - 1                                                        224^2 x 3
    encoder E   torchvision's resnet18 without its fc, BatchNorm:
                conv1 7x7/2 + bn1 + ReLU                                      E1   112^2 x 64
                max pool 3x3/2; layer1..layer4, 2 basic blocks each           E2..E5 56^2 x 64, 28^2 x 128,
                                                                                     14^2 x 256, 7^2 x 512
    decoder D   five Decoder Residual Blocks, InstanceNorm (affine) throughout; D_k:
                nearest x2, 2x2 conv + IN + ReLU (out 256/128/64/64/64), concatenated with E4/E3/E2/E1 (none
                for D5), then 2 basic blocks (out 256/128/64/64/3) plus a 1x1 conv + IN shortcut around them
                                                                              D1..D4 14^2 x 256 .. 112^2 x 64
                D5 -> tanh = the spoof cue C                                       224^2 x 3
    classifier  a second resnet18 (BatchNorm) on x + C, global average pooling, dropout 0.5, Dense(2)
                -> logits of (live, spoof)

Trainable parameters at width 1 (BatchNorm moving statistics excluded): E 11,176,512 (torchvision resnet18's
11,689,512 less its fc), D 5,146,071, classifier 11,177,538. The side n must be a multiple of 32 (five halvings).

What the paper fixes: a U-Net with an ImageNet ResNet-18 encoder of four Encoder Residual Blocks; five Decoder
Residual Blocks, each nearest-neighbour upsampling, a 2x2 convolution, concatenation with the symmetric encoder
feature and a residual block; tanh on the output, which has the input's [-1, 1] range; the classifier reads the
overlaid image S = x + C; the triplet features are E5..D4.
What the paper leaves out and the authors' released PaddlePaddle code (VIS-VAR/LGSC-for-FAS) chose, which we
follow: InstanceNorm (affine) in the decoder, BatchNorm in both ResNets; the 2x2 convolution padded by one
pixel at the bottom and right (TensorFlow's 'same' for an even kernel) and followed by IN + ReLU; the decoder
channels above; each Decoder Residual Block's residual part is two basic blocks (the first with its own 1x1 conv
+ IN shortcut where the channel count changes) with a further 1x1 conv + IN shortcut added around both (so D5,
like every block, ends in relu(...) + IN(conv1x1(...)) before the tanh); a resnet18 classifier with dropout 0.5
before its fc; no convolution bias before a normalisation.
The released training script (a FaceForensics configuration) normalises its input as (255 I - 100) / 80; we keep
the paper's x = 2I - 1 (Sec. 4.1), the range the tanh cue shares.
Our choices: the strided convolutions and the max pool pad symmetrically as PyTorch does (explicit padding, then
'valid'), so that torchvision weights see the pixels they were trained on (`load_torchvision_resnet18`); random
initialisation as torchvision's (He normal, fan_out, for convolutions; BatchNorm momentum 0.1 in PyTorch's
convention, epsilon 1e-5, also the IN epsilon). The released ResNet class has a norm_eval switch (BatchNorm
statistics frozen at the loaded ImageNet values); ours are trained, as the random initialisation we default to needs.
Width: hidden channels are max(8, round(base * width)); the cue keeps 3 channels (width 1 is the table above).

Mixed precision: the layers follow the Keras dtype policy; every output (cue, features, logits) is float32.
"""
import os

import keras
import numpy as np
import tensorflow as tf

from physstd.methods.lgsc.config import CUE_HEADS
from physstd.models.config import MIN_CHANNELS

SIZE_MULTIPLE = 32                     # the encoder halves the side five times
STEM_CHANNELS = 64                     # conv1 -> E1
RESNET_STAGES = (64, 128, 256, 512)    # layer1..layer4 -> E2..E5, 2 basic blocks each, layer2..4 start with stride 2
BLOCKS_PER_STAGE = 2
# D1..D5: (channels of the 2x2 conv, channels of the residual blocks); D5's residual output is the cue.
DECODER_STAGES = ((256, 256), (128, 128), (64, 64), (64, 64), (64, 3))
CUE_CHANNELS = 3
# The cue's last layers (config.CUE_HEADS): "released" = D5's residual output of 3 channels, its shortcut and last block ending in
# InstanceNorm (the released code); "conv" (ours, a diagnostic) = D5 at 64 channels, then 3x3 conv + ReLU and a 3x3
# conv with bias to 3 channels, no normalisation after them. Through "released", every face's cue channel leaves D5
# with the same per-face mean and spread (set by the IN affine parameters, shared by all faces), so mean |C| can
# hardly tell one face from another; "conv" lets the cue's size depend on the face.
CLASSIFIER_DROPOUT = 0.5
BATCH_NORM_MOMENTUM = 0.9   # torchvision's momentum 0.1 in Keras' convention
NORM_EPSILON = 1e-5          # torchvision's BatchNorm and PyTorch's InstanceNorm
NORMALIZATIONS = ("batch", "instance")


def check_input_size(size, flag="--image_size"):
    """`size` when it is a positive multiple of 32 (the side of a face or patch the networks can take); else one
    ValueError naming `flag`."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size <= 0 or size % SIZE_MULTIPLE:
        raise ValueError(f"{flag}: LGSC needs a positive multiple of {SIZE_MULTIPLE} (its encoder halves the side "
                         f"five times), got {size!r}")
    return int(size)


def _check_images(images, name):
    """Images (batch, n, n, 3) float32 with n a multiple of 32 (static shape checked at the boundary)."""
    images = tf.cast(tf.convert_to_tensor(images), tf.float32)
    shape = images.shape
    if shape.rank != 4 or shape[-1] != 3 or any(side is not None and side % SIZE_MULTIPLE for side in shape[1:3]):
        raise ValueError(f"{name} expects images (batch, n, n, 3) with n a multiple of {SIZE_MULTIPLE}, "
                         f"got shape {tuple(shape)}")
    return images


def network_input(images):
    """x = 2 I - 1: images in [0, 1] to the [-1, 1] range of the cue (Sec. 4.1)."""
    return 2.0 * tf.cast(images, tf.float32) - 1.0


def overlaid_input(images, cue):
    """The auxiliary classifier's input S = x + C (Sec. 3.4)."""
    return network_input(images) + tf.cast(cue, tf.float32)


def channels(base, width):
    """Hidden channel count at width `width` of a layer with `base` channels at width 1."""
    return max(MIN_CHANNELS, int(round(base * width)))


def _conv(filters, kernel_size, strides, policy, name):
    """A convolution without bias (a normalisation follows), torchvision's He normal (fan_out) initialisation;
    strided ones are 'valid' (the caller pads symmetrically), the others 'same'."""
    return keras.layers.Conv2D(
        filters, kernel_size, strides=strides, padding="valid" if strides > 1 else "same", use_bias=False,
        kernel_initializer=keras.initializers.VarianceScaling(2.0, "fan_out", "untruncated_normal"),
        dtype=policy, name=name)


@keras.saving.register_keras_serializable(package="physstd.lgsc")
class InstanceNormalization(keras.layers.Layer):
    """PyTorch's InstanceNorm2d(affine=True): each face's channel less its mean over the image axes (1, 2), divided
    by sqrt(biased variance + epsilon), times a per-channel scale `gamma`, plus an offset `beta`; computed in float32
    whatever the policy. The same variables and output as keras.layers.GroupNormalization(groups=-1), which
    reshapes to 5-D and averages over axes (1, 2, 4): LiteRT runs that mean 35-70x slower than this 4-D one."""

    def __init__(self, epsilon=NORM_EPSILON, **kwargs):
        super().__init__(**kwargs)
        self.autocast = False   # float16 inputs are normalised in float32, not rounded first
        self.epsilon = epsilon

    def build(self, input_shape):
        shape = (input_shape[-1],)
        self.gamma = self.add_weight(shape=shape, name="gamma", initializer="ones", autocast=False)
        self.beta = self.add_weight(shape=shape, name="beta", initializer="zeros", autocast=False)

    def call(self, x):
        x = tf.cast(x, tf.float32)
        centred = x - tf.reduce_mean(x, axis=(1, 2), keepdims=True)
        # centred * centred, not tf.square or tf.nn.moments' squared difference: LiteRT's int8 kernels for those
        # two run outside XNNPACK, and the squared difference then took half of the int8 file's time.
        variance = tf.reduce_mean(centred * centred, axis=(1, 2), keepdims=True)
        scale = tf.math.rsqrt(variance + self.epsilon) * self.gamma
        return tf.cast(centred * scale + self.beta, self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


def _normalization(kind, policy, name):
    """BatchNorm as torchvision's (synchronised over replicas when built under a multi-replica strategy, as
    physstd.models.layers.ConvBlock), or InstanceNormalization."""
    if kind == "batch":
        return keras.layers.BatchNormalization(
            momentum=BATCH_NORM_MOMENTUM, epsilon=NORM_EPSILON,
            synchronized=tf.distribute.get_strategy().num_replicas_in_sync > 1, dtype=policy, name=name)
    return InstanceNormalization(NORM_EPSILON, dtype=policy, name=name)


def _pad(x, size):
    """Zero padding of `size` pixels on each side of the image axes (PyTorch's symmetric padding)."""
    return tf.pad(x, [[0, 0], [size, size], [size, size], [0, 0]])


def downsample_pairs(block):
    """torchvision's names of a residual block's shortcut convolution and norm, if it has them."""
    if block.downsample_conv is None:
        return []
    return [("downsample.0", block.downsample_conv), ("downsample.1", block.downsample_norm)]


def torchvision_layers(network):
    """[(torchvision state-dict prefix, layer)] of every convolution and BatchNorm of a ResNet (conv1, bn1, then
    `stages` of blocks that name their own layers with `torchvision_pairs()`), in torchvision's order."""
    pairs = [("conv1", network.conv1), ("bn1", network.bn1)]
    for index, blocks in enumerate(network.stages, start=1):
        for number, block in enumerate(blocks):
            pairs += [(f"layer{index}.{number}.{name}", layer) for name, layer in block.torchvision_pairs()]
    return pairs


class _ArgumentsConfig:
    """get_config of a layer = Keras' own plus the constructor arguments it keeps in `self.arguments`."""

    def get_config(self):
        return {**super().get_config(), **self.arguments}


@keras.saving.register_keras_serializable(package="physstd.lgsc")
class BasicBlock(_ArgumentsConfig, keras.layers.Layer):
    """torchvision's basic block: relu(norm2(conv2(relu(norm1(conv1(x))))) + shortcut(x)), 3x3 convolutions; the
    shortcut is a 1x1 convolution + norm ('downsample') where the stride or the channel count changes."""

    def __init__(self, in_channels, filters, strides=1, normalization="batch", **kwargs):
        super().__init__(**kwargs)
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"BasicBlock normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
        self.arguments = dict(in_channels=in_channels, filters=filters, strides=strides, normalization=normalization)
        self.strides = strides
        policy = self.dtype_policy
        self.conv1 = _conv(filters, 3, strides, policy, "conv1")
        self.norm1 = _normalization(normalization, policy, "norm1")
        self.conv2 = _conv(filters, 3, 1, policy, "conv2")
        self.norm2 = _normalization(normalization, policy, "norm2")
        self.downsample_conv = self.downsample_norm = None
        if strides != 1 or in_channels != filters:
            self.downsample_conv = _conv(filters, 1, strides, policy, "downsample_conv")
            self.downsample_norm = _normalization(normalization, policy, "downsample_norm")

    def torchvision_pairs(self):
        """[(torchvision name inside the block, layer)] of its convolutions and norms."""
        return [("conv1", self.conv1), ("bn1", self.norm1), ("conv2", self.conv2), ("bn2", self.norm2),
                *downsample_pairs(self)]

    def call(self, x, training=False):
        y = self.conv1(_pad(x, 1) if self.strides > 1 else x)
        y = tf.nn.relu(self.norm1(y, training=training))
        y = self.norm2(self.conv2(y), training=training)
        shortcut = x
        if self.downsample_conv is not None:   # a 1x1 stride-2 convolution needs no padding
            shortcut = self.downsample_norm(self.downsample_conv(x), training=training)
        return tf.nn.relu(y + shortcut)


@keras.saving.register_keras_serializable(package="physstd.lgsc")
class ResNet18(_ArgumentsConfig, keras.layers.Layer):
    """torchvision's resnet18 without its fc, BatchNorm: x (batch, n, n, 3) -> [E1 .. E5] at n/2, n/4 .. n/32."""

    def __init__(self, width=1.0, **kwargs):
        super().__init__(**kwargs)
        self.width = width
        self.arguments = dict(width=width)
        policy = self.dtype_policy
        stem = channels(STEM_CHANNELS, width)
        self.conv1 = _conv(stem, 7, 2, policy, "conv1")
        self.bn1 = _normalization("batch", policy, "bn1")
        self.stages, previous = [], stem
        for index, base in enumerate(RESNET_STAGES, start=1):
            filters, blocks = channels(base, width), []
            for block in range(BLOCKS_PER_STAGE):
                strides = 2 if index > 1 and block == 0 else 1
                blocks.append(BasicBlock(previous, filters, strides, "batch", dtype=policy,
                                         name=f"layer{index}_{block}"))
                previous = filters
            self.stages.append(blocks)

    def call(self, x, training=False):
        x = tf.nn.relu(self.bn1(self.conv1(_pad(x, 3)), training=training))
        features = [x]
        # Zero padding equals PyTorch's -inf padding here: the inputs are ReLU outputs, never below 0.
        x = tf.nn.max_pool2d(_pad(x, 1), 3, 2, "VALID")
        for blocks in self.stages:
            for block in blocks:
                x = block(x, training=training)
            features.append(x)
        return features

    def torchvision_layers(self):
        return torchvision_layers(self)


@keras.saving.register_keras_serializable(package="physstd.lgsc")
class DecoderStage(_ArgumentsConfig, keras.layers.Layer):
    """One Decoder Residual Block: nearest x2, 2x2 'same' conv + IN + ReLU, concatenation with the encoder feature
    of that size (none for D5), two basic blocks (IN) plus a 1x1 conv + IN shortcut around them."""

    def __init__(self, up_channels, skip_channels, filters, **kwargs):
        super().__init__(**kwargs)
        self.arguments = dict(up_channels=up_channels, skip_channels=skip_channels, filters=filters)
        policy = self.dtype_policy
        self.up_conv = _conv(up_channels, 2, 1, policy, "up_conv")
        self.up_norm = _normalization("instance", policy, "up_norm")
        merged = up_channels + skip_channels
        self.blocks = [BasicBlock(merged, filters, 1, "instance", dtype=policy, name="block0"),
                       BasicBlock(filters, filters, 1, "instance", dtype=policy, name="block1")]
        self.shortcut_conv = _conv(filters, 1, 1, policy, "shortcut_conv")
        self.shortcut_norm = _normalization("instance", policy, "shortcut_norm")

    def call(self, x, skip=None, training=False):
        x = tf.repeat(tf.repeat(x, 2, axis=1), 2, axis=2)
        x = tf.nn.relu(self.up_norm(self.up_conv(x)))
        if skip is not None:
            x = tf.concat([x, tf.cast(skip, x.dtype)], axis=-1)
        y = x
        for block in self.blocks:
            y = block(y, training=training)
        return y + self.shortcut_norm(self.shortcut_conv(x))


class _WidthSerialization:
    """get_config / from_config of a network built from its width (and the cue generator's head) alone (mixed in
    before keras.Model)."""

    def get_config(self):
        return {"name": self.name, "width": self.width,
                **({"cue_head": self.cue_head} if getattr(self, "cue_head", "released") != "released" else {})}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package="physstd.lgsc")
class CueGenerator(_WidthSerialization, keras.Model):
    """G(I) -> (cue C (batch, n, n, 3) in [-1, 1], (E5, D1, D2, D3, D4) feature maps), all float32, for images
    (batch, n, n, 3) in [0, 1], n a multiple of 32. The features are those the triplet loss reads (Sec. 3.3)."""

    def __init__(self, width=1.0, cue_head="released", **kwargs):
        kwargs.setdefault("name", "cue_generator")
        kwargs["autocast"] = False   # x = 2I - 1 in float32; the layers cast to their own policy
        super().__init__(**kwargs)
        if cue_head not in CUE_HEADS:
            raise ValueError(f"--cue_head must be one of {', '.join(CUE_HEADS)}, got {cue_head!r}")
        self.width, self.cue_head = width, cue_head
        policy = self.dtype_policy
        self.encoder = ResNet18(width, dtype=policy, name="encoder")
        skips = [channels(base, width) for base in (RESNET_STAGES[2], RESNET_STAGES[1], RESNET_STAGES[0],
                                                    STEM_CHANNELS)] + [0]   # E4, E3, E2, E1, none
        self.decoder = []
        for index, ((up, out), skip) in enumerate(zip(DECODER_STAGES, skips), start=1):
            last = index == len(DECODER_STAGES)
            filters = CUE_CHANNELS if last and cue_head == "released" else channels(out if not last else 64, width)
            self.decoder.append(DecoderStage(channels(up, width), skip, filters, dtype=policy, name=f"decoder{index}"))
        self.head = []
        if cue_head == "conv":
            self.head = [keras.layers.Conv2D(channels(64, width), 3, padding="same", activation="relu", dtype=policy,
                                             name="head_conv1"),
                         keras.layers.Conv2D(CUE_CHANNELS, 3, padding="same", dtype=policy, name="head_conv2")]

    def call(self, images, training=False):
        x = network_input(_check_images(images, "CueGenerator"))
        e1, e2, e3, e4, e5 = self.encoder(x, training=training)
        decoded, d = [], e5
        for stage, skip in zip(self.decoder, (e4, e3, e2, e1, None)):
            d = stage(d, skip, training=training)
            decoded.append(d)
        out = decoded[-1]
        for layer in self.head:
            out = layer(out)
        cue = tf.tanh(tf.cast(out, tf.float32))
        return cue, tuple(tf.cast(feature, tf.float32) for feature in (e5, *decoded[:-1]))


@keras.saving.register_keras_serializable(package="physstd.lgsc")
class AuxiliaryClassifier(_WidthSerialization, keras.Model):
    """A(S) -> logits (batch, 2) float32 of (live, spoof) for S = x + C (`overlaid_input`), (batch, n, n, 3)."""

    def __init__(self, width=1.0, **kwargs):
        kwargs.setdefault("name", "auxiliary_classifier")
        kwargs["autocast"] = False
        super().__init__(**kwargs)
        self.width = width
        self.backbone = ResNet18(width, dtype=self.dtype_policy, name="backbone")
        self.fc = keras.layers.Dense(2, dtype="float32", name="fc")

    def call(self, overlaid, training=False):
        x = self.backbone(_check_images(overlaid, "AuxiliaryClassifier"), training=training)[-1]
        pooled = tf.reduce_mean(x, axis=(1, 2))
        if training:   # tf.nn.dropout, not keras' Dropout: its seed-generator variable's path changes per instance,
            pooled = tf.nn.dropout(pooled, CLASSIFIER_DROPOUT)   # and the checkpoints key variables by path
        return tf.cast(self.fc(pooled), tf.float32)


def trainable_parameters(layers):
    """Number of trainable parameters of `layers` (BatchNorm moving statistics are not trainable)."""
    return int(sum(np.prod(weight.shape) for layer in layers for weight in layer.trainable_weights))


def load_torchvision_resnet18(path, encoder):
    """Fill `encoder` (a built ResNet18, width 1) from a torchvision resnet18 state dict saved as .npz (keys
    conv1.weight, bn1.{weight, bias, running_mean, running_var}, layer1.0.conv1.weight, ...; convolutions OIHW,
    transposed here to Keras' HWIO). fc.* and num_batches_tracked are ignored. Every key is checked before any
    weight is assigned: one ValueError naming the file and each missing or mis-shaped key. Returns the number
    of arrays loaded."""
    return load_torchvision_weights(path, encoder, "resnet18")


def load_torchvision_weights(path, encoder, architecture):
    """load_torchvision_resnet18 for any encoder with `torchvision_layers()` and `width` (a torchvision
    `architecture` such as resnet50; keys the encoder does not hold, e.g. layer4.*, are ignored)."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError) as error:
        reason = "no such file" if not os.path.exists(path) else f"not a readable .npz ({error})"
        raise ValueError(f"--backbone_weights={path}: {reason}") from None
    assignments, missing, misshaped = [], [], []
    for prefix, layer in encoder.torchvision_layers():
        if isinstance(layer, keras.layers.Conv2D):
            targets = [("weight", layer.kernel, (3, 2, 0, 1))]    # Keras HWIO shown in torch's OIHW
        else:
            targets = [("weight", layer.gamma, None), ("bias", layer.beta, None),
                       ("running_mean", layer.moving_mean, None), ("running_var", layer.moving_variance, None)]
        for name, variable, torch_order in targets:
            key = f"{prefix}.{name}"
            expected = tuple(variable.shape) if torch_order is None else tuple(
                variable.shape[axis] for axis in torch_order)
            if key not in arrays:
                missing.append(key)
            elif tuple(arrays[key].shape) != expected:
                misshaped.append(f"{key} {tuple(arrays[key].shape)} (expected {expected})")
            else:
                value = arrays[key] if torch_order is None else np.transpose(arrays[key], (2, 3, 1, 0))
                assignments.append((variable, value))
    if missing or misshaped:
        problems = ([f"missing keys {', '.join(missing)}"] if missing else []) + (
            [f"mis-shaped keys {'; '.join(misshaped)}"] if misshaped else [])
        hint = "" if encoder.width == 1 else f" (torchvision's {architecture} has width 1, this encoder {encoder.width})"
        raise ValueError(f"--backbone_weights={path}: not a torchvision {architecture} state dict: "
                         f"{'; '.join(problems)}{hint}")
    for variable, value in assignments:
        variable.assign(value.astype(variable.dtype))
    return len(assignments)
