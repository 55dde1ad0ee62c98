"""LGSC ("Learning Generalized Spoof Cues for Face Anti-spoofing", Feng et al. 2020): network shapes and exact
parameter counts, every loss against a hand case, the seeded training patches and the torchvision weight loader."""
import math

import numpy as np
import pytest

N = 64
WIDTH = 0.25


@pytest.fixture(scope="module")
def quarter_width_networks():
    import keras
    import tensorflow as tf

    from physstd.methods.lgsc import networks

    keras.utils.set_random_seed(0)
    generator, classifier = networks.CueGenerator(WIDTH), networks.AuxiliaryClassifier(WIDTH)
    images = tf.random.uniform((2, N, N, 3), seed=1)
    cue, features = generator(images, training=True)
    logits = classifier(networks.overlaid_input(images, cue), training=True)
    return generator, classifier, images, cue, features, logits


# --- networks ---------------------------------------------------------------------------------------------
def test_cue_features_and_logits_have_the_u_net_shapes(quarter_width_networks):
    import tensorflow as tf

    generator, classifier, images, cue, features, logits = quarter_width_networks
    assert cue.shape == (2, N, N, 3) and cue.dtype == tf.float32
    assert float(tf.reduce_max(tf.abs(cue))) <= 1.0                       # tanh
    # E5, D1, D2, D3, D4 at width 1/4: 512/4 channels at N/32, then 256/4, 128/4, 64/4, 64/4 up to N/2.
    assert [tuple(f.shape) for f in features] == [(2, 2, 2, 128), (2, 4, 4, 64), (2, 8, 8, 32), (2, 16, 16, 16),
                                                  (2, 32, 32, 16)]
    assert logits.shape == (2, 2) and logits.dtype == tf.float32
    # Fully convolutional: the same networks take a 32 x 32 patch.
    patch_cue, patch_features = generator(images[:, :32, :32], training=False)
    assert patch_cue.shape == (2, 32, 32, 3) and patch_features[0].shape == (2, 1, 1, 128)


def test_quarter_width_parameter_counts(quarter_width_networks):
    from physstd.methods.lgsc.networks import trainable_parameters

    generator, classifier = quarter_width_networks[:2]
    assert trainable_parameters([generator]) == 1_025_751
    assert trainable_parameters([classifier]) == 702_354
    # BatchNorm moving statistics are weights but not trainable: the classifier's ResNet has 20 BatchNorms.
    assert classifier.count_params() > trainable_parameters([classifier])
    # The networks and their layers rebuild from their configs.
    for layer in (generator, classifier, generator.encoder, generator.decoder[0], generator.encoder.stages[1][0]):
        assert type(layer).from_config(layer.get_config()).get_config() == layer.get_config()


def test_conv_cue_head_counts_and_config():
    """--cue_head=conv at width 0.25: D5 keeps 16 channels (its two basic blocks 2 x 4,672 parameters, no 1x1 shortcut
    inside; its outer 1x1 conv + IN 288) instead of 3 (579 + 174 + 54), then 3x3 convs 16 -> 16 (2,320 with bias) and
    16 -> 3 (435)."""
    import tensorflow as tf

    from physstd.methods.lgsc.networks import CueGenerator, trainable_parameters

    generator = CueGenerator(0.25, "conv")
    cue, _ = generator(tf.zeros((2, 32, 32, 3)))
    assert cue.shape == (2, 32, 32, 3)
    assert trainable_parameters([generator]) == 1_025_751 - (579 + 174 + 54) + (2 * 4_672 + 288) + 2_320 + 435
    assert CueGenerator.from_config(generator.get_config()).cue_head == "conv"
    with pytest.raises(ValueError, match="^--cue_head must be one of released, conv, got 'mlp'$"):
        CueGenerator(0.25, "mlp")


@pytest.mark.slow
def test_width_one_parameter_counts_are_torchvision_resnet18_and_the_released_decoder():
    import tensorflow as tf

    from physstd.methods.lgsc.networks import AuxiliaryClassifier, CueGenerator, trainable_parameters

    generator, classifier = CueGenerator(1.0), AuxiliaryClassifier(1.0)
    cue, _ = generator(tf.zeros((1, 32, 32, 3)))
    classifier(cue)
    assert trainable_parameters([generator.encoder]) == 11_689_512 - (512 * 1000 + 1000) == 11_176_512
    assert trainable_parameters(generator.decoder) == 5_146_071
    assert trainable_parameters([classifier]) == 11_176_512 + 512 * 2 + 2 == 11_177_538


def test_mixed_precision_networks_return_float32():
    import keras
    import tensorflow as tf

    from physstd.methods.lgsc.networks import AuxiliaryClassifier, CueGenerator

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        generator, classifier = CueGenerator(0.125), AuxiliaryClassifier(0.125)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    cue, features = generator(tf.fill((1, 32, 32, 3), 0.5), training=True)
    assert generator.encoder.conv1.compute_dtype == "float16"
    assert cue.dtype == tf.float32 and all(f.dtype == tf.float32 for f in features)
    assert classifier(cue, training=True).dtype == tf.float32


def test_instance_normalization_against_numpy_and_group_normalization():
    import keras
    import tensorflow as tf

    from physstd.methods.lgsc.networks import NORM_EPSILON, InstanceNormalization

    rng = np.random.default_rng(0)
    x = (rng.normal(size=(2, 5, 6, 4)) * [0.5, 1.0, 2.0, 4.0] + [3.0, -1.0, 0.0, 10.0]).astype(np.float32)
    gamma, beta = np.array([1.0, 0.5, -2.0, 3.0], np.float32), np.array([0.0, 1.0, -0.5, 2.0], np.float32)
    mean, variance = x.mean(axis=(1, 2), keepdims=True), x.var(axis=(1, 2), keepdims=True)   # per face and channel
    expected = (x - mean) / np.sqrt(variance + NORM_EPSILON) * gamma + beta
    layer = InstanceNormalization(name="norm")
    layer.build(x.shape)
    layer.set_weights([gamma, beta])
    assert [variable.path for variable in layer.variables] == ["norm/gamma", "norm/beta"]   # GroupNorm's paths
    np.testing.assert_allclose(layer(x).numpy(), expected, atol=1e-5)
    group_norm = keras.layers.GroupNormalization(groups=-1, epsilon=NORM_EPSILON, name="norm")
    group_norm.build(x.shape)
    group_norm.set_weights([gamma, beta])
    assert [variable.path for variable in group_norm.variables] == ["norm/gamma", "norm/beta"]
    np.testing.assert_allclose(layer(x).numpy(), group_norm(x).numpy(), atol=1e-5)
    # Mixed precision: float32 variables, the moments of the float16 input in float32, a float16 output.
    half = InstanceNormalization(dtype="mixed_float16")
    half.build(x.shape)
    half.set_weights([gamma, beta])
    out = half(tf.constant(x, tf.float16))
    assert half.gamma.dtype == "float32" and out.dtype == tf.float16
    np.testing.assert_allclose(out.numpy(), expected, atol=2e-2)   # float16 rounding of inputs up to ~13

def test_sizes_must_be_multiples_of_32_naming_the_flag():
    import tensorflow as tf

    from physstd.methods.lgsc.networks import CueGenerator, check_input_size

    assert check_input_size(224, "--patch_size") == 224 and check_input_size(256) == 256
    with pytest.raises(ValueError, match=r"^--patch_size: LGSC needs a positive multiple of 32 .*got 200$"):
        check_input_size(200, "--patch_size")
    for bad in (100, 0, -32, 64.0, True):
        with pytest.raises(ValueError, match="^--image_size: "):
            check_input_size(bad)
    with pytest.raises(ValueError, match=r"CueGenerator expects images \(batch, n, n, 3\) with n a multiple of 32"):
        CueGenerator(0.125)(tf.zeros((1, 48, 48, 3)))


# --- losses -----------------------------------------------------------------------------------------------
HAND_FEATURES = [[1.0, 0.0], [0.0, 2.0], [2.0, 0.0], [-3.0, 0.0]]   # live, live, spoof, spoof
HAND_LABELS = [0, 0, 1, 1]


def test_triplet_hand_case():
    """Normalised: live a = (1,0), b = (0,1); spoof n1 = (1,0), n2 = (-1,0). Triplets (a,b,n1): sqrt2 - 0 + 0.5;
    (a,b,n2): sqrt2 - 2 + 0.5 < 0; (b,a,n1) and (b,a,n2): sqrt2 - sqrt2 + 0.5. Three positive terms."""
    import tensorflow as tf

    from physstd.methods.lgsc import losses

    features = tf.constant(HAND_FEATURES)
    terms, valid = losses.triplet_terms(features, HAND_LABELS)
    assert int(tf.reduce_sum(tf.cast(valid, tf.int32))) == 4
    expected = [math.sqrt(2) + 0.5, 0.0, 0.5, 0.5]                         # (a,p,n) = (0,1,2) (0,1,3) (1,0,2) (1,0,3)
    np.testing.assert_allclose(tf.boolean_mask(terms, valid).numpy(), expected, atol=1e-6)
    np.testing.assert_allclose(expected, [1.914214, 0.0, 0.5, 0.5], atol=1e-6)
    loss = losses.triplet_loss(features, HAND_LABELS)
    assert abs(float(loss) - (math.sqrt(2) + 1.5) / 3) < 1e-6 and abs(float(loss) - 0.971405) < 1e-6
    # The labels may come in any order.
    order = [3, 0, 2, 1]
    shuffled = losses.triplet_loss(tf.gather(features, order), [HAND_LABELS[i] for i in order])
    assert abs(float(shuffled) - float(loss)) < 1e-6


def test_triplet_gradients_stay_finite_at_zero_distance_and_a_separated_batch_gives_zero():
    import tensorflow as tf

    from physstd.methods.lgsc import losses

    features = tf.Variable(HAND_FEATURES)              # d(a, n1) = 0: the floor keeps the square root's slope finite
    with tf.GradientTape() as tape:
        loss = losses.triplet_loss(features, HAND_LABELS)
    gradient = tape.gradient(loss, features)
    assert np.isfinite(gradient.numpy()).all() and float(tf.reduce_max(tf.abs(gradient))) > 0
    separated = tf.Variable([[1.0, 0.0], [1.0, 0.01], [-1.0, 0.0], [-1.0, -0.01]])
    with tf.GradientTape() as tape:
        loss = losses.triplet_loss(separated, HAND_LABELS)
    assert float(loss) == 0.0
    assert np.array_equal(tape.gradient(loss, separated).numpy(), np.zeros((4, 2), np.float32))
    assert float(losses.triplet_loss(separated, [0, 1, 1, 1])) == 0.0          # one live sample: no triplet


def test_multiscale_triplet_loss_pools_each_map():
    import tensorflow as tf

    from physstd.methods.lgsc import losses

    vectors = tf.constant(HAND_FEATURES)
    # Each map's spatial mean is the hand vector; a zero-mean checkerboard on top leaves the pooled features alone.
    maps = [vectors[:, None, None, :]]
    for size in (2, 4):
        checkerboard = tf.constant(np.indices((size, size)).sum(0) % 2 - 0.5, tf.float32)[None, :, :, None]
        maps.append(tf.tile(vectors[:, None, None, :], (1, size, size, 1)) + checkerboard)
    assert abs(float(losses.multiscale_triplet_loss(maps, HAND_LABELS)) - 3 * 0.971405) < 1e-5


def test_cue_regression_hand_case():
    import tensorflow as tf

    from physstd.methods.lgsc import losses

    cue = tf.constant([0.2, 0.0, 0.9])[:, None, None, None] * tf.ones((3, 4, 4, 3))
    cue = cue * tf.constant([1.0, -1.0] * 8, shape=(1, 4, 4, 1))           # signs alternate: |C| counts
    assert abs(float(losses.cue_regression_loss(cue, [0, 0, 1])) - 0.1) < 1e-7        # (0.2 + 0) / 2 live samples
    assert float(losses.cue_regression_loss(cue[2:], [1])) == 0.0                      # no live sample
    half = tf.constant([0.2, 0.0, 0.5])[:, None, None, None] * tf.ones((3, 4, 4, 3))
    # Tab. 5 "RL on live and spoof": the spoof cue is regressed to 1 too: (0.2 + 0 + 0.5) / 3.
    assert abs(float(losses.cue_regression_loss(half, [0, 0, 1], spoof_target=1.0)) - 0.7 / 3) < 1e-7
    np.testing.assert_allclose(losses.cue_magnitude(cue).numpy(), [0.2, 0.0, 0.9], atol=1e-7)


def test_classification_hand_case_and_total():
    import tensorflow as tf

    from physstd.methods.lgsc import losses

    logits = tf.constant([[0.0, 0.0], [2.0, 0.0]])
    loss = losses.auxiliary_classification_loss(logits, [0, 1])    # (log 2 + log(1 + e^2)) / 2
    assert abs(float(loss) - (math.log(2) + math.log(1 + math.e ** 2)) / 2) < 1e-6
    assert abs(float(loss) - 1.410038) < 1e-6
    np.testing.assert_allclose(losses.spoof_probability(logits).numpy(), [0.5, 1 / (1 + math.e ** 2)], atol=1e-7)
    weights = losses.LGSCWeights()
    assert weights.to_dict() == {"regression": 5.0, "triplet": 1.0, "classification": 5.0}
    total = losses.lgsc_total_loss({"regression": 0.1, "triplet": 0.971405, "classification": 1.410038}, weights)
    assert abs(float(total) - (0.5 + 0.971405 + 7.05019)) < 1e-6


# --- patches ----------------------------------------------------------------------------------------------
def test_random_patches_are_seeded_and_inside_the_face():
    import tensorflow as tf

    from physstd.methods.lgsc.patches import random_patches

    rows, columns = np.meshgrid(np.arange(N), np.arange(N), indexing="ij")
    faces = tf.constant(np.tile(np.stack([rows, columns, rows * 0], -1)[None], (16, 1, 1, 1)), tf.float32)
    patches = random_patches(faces, 32, tf.constant([3, 7]))
    assert patches.shape == (16, 32, 32, 3)
    top, left = patches[:, 0, 0, 0].numpy(), patches[:, 0, 0, 1].numpy()
    assert ((top >= 0) & (top <= N - 32) & (left >= 0) & (left <= N - 32)).all()
    window = np.arange(32, dtype=np.float32)
    for k in range(16):       # a contiguous, unresized window of the face
        np.testing.assert_array_equal(patches[k, :, :, 0].numpy(), np.repeat((top[k] + window)[:, None], 32, 1))
        np.testing.assert_array_equal(patches[k, :, :, 1].numpy(), np.repeat((left[k] + window)[None], 32, 0))
    assert len(set(zip(top, left))) > 8                                    # each face its own position
    np.testing.assert_array_equal(random_patches(faces, 32, tf.constant([3, 7])).numpy(), patches.numpy())
    assert not np.array_equal(random_patches(faces, 32, tf.constant([3, 8])).numpy(), patches.numpy())
    np.testing.assert_array_equal(random_patches(faces, N, tf.constant([3, 7])).numpy(), faces.numpy())
    with pytest.raises(ValueError, match=r"^--patch_size=96 is larger than the faces \(64 x 64, --image_size\)$"):
        random_patches(faces, 96, tf.constant([0, 0]))
    with pytest.raises(ValueError, match="^--patch_size: LGSC needs a positive multiple of 32"):
        random_patches(faces, 48, tf.constant([0, 0]))


# --- torchvision weights ----------------------------------------------------------------------------------
def _fake_state_dict(encoder, rng):
    """A state dict in torchvision's layout (OIHW kernels, BatchNorm buffers, plus keys the loader ignores) with
    the shapes of `encoder`."""
    state = {"fc.weight": rng.normal(size=(1000, 512)).astype(np.float32), "fc.bias": np.zeros(1000, np.float32),
             "bn1.num_batches_tracked": np.array(7)}
    for prefix, layer in encoder.torchvision_layers():
        if hasattr(layer, "kernel"):
            state[f"{prefix}.weight"] = rng.normal(size=np.array(layer.kernel.shape)[[3, 2, 0, 1]]).astype(np.float32)
        else:
            size = layer.gamma.shape[0]
            state.update({f"{prefix}.weight": rng.uniform(0.5, 1.5, size), f"{prefix}.bias": rng.normal(size=size),
                          f"{prefix}.running_mean": rng.normal(size=size),
                          f"{prefix}.running_var": rng.uniform(0.5, 2.0, size)})
    return {key: np.asarray(value, np.float32) if value.dtype == np.float64 else value for key, value in state.items()}


def _reference_stem(image, state):
    """E1 as PyTorch computes it: conv1 (7x7, stride 2, zero padding 3 on every side), bn1 in inference, ReLU."""
    padded = np.pad(image, ((3, 3), (3, 3), (0, 0)))
    kernel = state["conv1.weight"]                                 # (out, in, 7, 7)
    side = image.shape[0] // 2
    out = np.zeros((side, side, kernel.shape[0]))
    for i in range(side):
        for j in range(side):
            out[i, j] = np.einsum("hwc,ochw->o", padded[2 * i:2 * i + 7, 2 * j:2 * j + 7], kernel)
    bn = {name: state[f"bn1.{name}"] for name in ("weight", "bias", "running_mean", "running_var")}
    out = (out - bn["running_mean"]) / np.sqrt(bn["running_var"] + 1e-5) * bn["weight"] + bn["bias"]
    return np.maximum(out, 0.0)


def test_torchvision_state_dict_loads_and_a_bad_one_is_refused_whole(tmp_path):
    import tensorflow as tf

    from physstd.methods.lgsc.networks import ResNet18, load_torchvision_resnet18

    encoder = ResNet18(WIDTH)
    image = np.random.default_rng(0).uniform(-1, 1, (32, 32, 3)).astype(np.float32)
    encoder(tf.constant(image[None]))
    state = _fake_state_dict(encoder, np.random.default_rng(1))
    path = tmp_path / "resnet18.npz"
    np.savez(path, **state)
    names = [prefix for prefix, _ in encoder.torchvision_layers()]   # 20 convolutions and their 20 BatchNorms
    assert len(names) == 40 and names[:4] == ["conv1", "bn1", "layer1.0.conv1", "layer1.0.bn1"]
    assert "layer2.0.downsample.0" in names and "layer1.0.downsample.0" not in names
    assert load_torchvision_resnet18(str(path), encoder) == 20 + 4 * 20      # 20 convs, 20 BatchNorms x 4 arrays
    np.testing.assert_array_equal(encoder.stages[1][0].conv1.kernel.numpy(),
                                  np.transpose(state["layer2.0.conv1.weight"], (2, 3, 1, 0)))
    np.testing.assert_array_equal(encoder.stages[3][0].downsample_norm.moving_variance.numpy(),
                                  state["layer4.0.downsample.1.running_var"])
    # The stem sees the pixels PyTorch's symmetric padding gives it.
    stem = encoder(tf.constant(image[None]), training=False)[0][0].numpy()
    np.testing.assert_allclose(stem, _reference_stem(image, state), rtol=1e-4, atol=1e-4)

    before = encoder.conv1.kernel.numpy()
    bad = dict(state, **{"conv1.weight": state["conv1.weight"] + 1.0,
                         "layer1.0.conv1.weight": np.zeros((16, 16, 3, 2), np.float32)})
    del bad["bn1.running_var"]
    np.savez(tmp_path / "bad.npz", **bad)
    with pytest.raises(ValueError) as error:
        load_torchvision_resnet18(str(tmp_path / "bad.npz"), encoder)
    assert str(error.value) == (
        f"--backbone_weights={tmp_path / 'bad.npz'}: not a torchvision resnet18 state dict: missing keys "
        "bn1.running_var; mis-shaped keys layer1.0.conv1.weight (16, 16, 3, 2) (expected (16, 16, 3, 3)) "
        "(torchvision's resnet18 has width 1, this encoder 0.25)")
    np.testing.assert_array_equal(encoder.conv1.kernel.numpy(), before)       # nothing half-loaded
    with pytest.raises(ValueError, match=r"^--backbone_weights=.*missing\.npz: no such file$"):
        load_torchvision_resnet18(str(tmp_path / "missing.npz"), encoder)
