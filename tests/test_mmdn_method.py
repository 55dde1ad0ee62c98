"""The multi-modal disentanglement network ("Learning Polysemantic Spoof Trace: A Multi-Modal Disentanglement
Network for Face Anti-spoofing", Li et al. 2023): its fusion against numpy, its losses on hand-computed cases, its
parameter counts block by block, and (slow) a few training steps through the real loop on a tiny RGB-D set and the
two-input export reloaded with TensorFlow alone."""
import math

import numpy as np
import pytest
import tensorflow as tf

from physstd.methods.lgsc.networks import trainable_parameters
from physstd.methods.mmdn import losses
from physstd.methods.mmdn import networks


# --- the fusion (Eq. 2-5) by hand ----------------------------------------------------------------------------------
def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_the_fusion_matches_eq_2_to_5_by_hand():
    """C = 2, 1x1 maps, one hidden unit, fixed weights: every step of Eq. 2-5 in numpy."""
    fusion = networks.CrossModalityFusion(2, hidden_units=1)
    f_rgb = np.array([[[[1.0, -2.0]]]], np.float32)
    f_depth = np.array([[[[0.5, 3.0]]]], np.float32)
    fusion(f_rgb, f_depth)
    rng = np.random.default_rng(0)
    weights = {}
    for m in networks.MODALITIES:
        hidden, out = fusion.gates[m]
        weights[m] = (rng.normal(size=(4, 1)), rng.normal(size=(1,)), rng.normal(size=(1, 2)), rng.normal(size=(2,)))
        hidden.set_weights([weights[m][0].astype(np.float32), weights[m][1].astype(np.float32)])
        out.set_weights([weights[m][2].astype(np.float32), weights[m][3].astype(np.float32)])
    kernel, bias = rng.normal(size=(1, 1, 4, 2)), rng.normal(size=(2,))
    fusion.spatial.set_weights([kernel.astype(np.float32), bias.astype(np.float32)])
    rgb, depth = (np.asarray(x)[0, 0, 0] for x in fusion(f_rgb, f_depth))

    x_rgb, x_depth = f_rgb[0, 0, 0].astype(np.float64), f_depth[0, 0, 0].astype(np.float64)
    pooled = np.concatenate([x_rgb, x_depth])
    gate = {m: _sigmoid(np.maximum(pooled @ w[0] + w[1], 0) @ w[2] + w[3]) for m, w in weights.items()}
    rgb_rec, depth_rec = x_rgb + gate["depth"] * x_depth, x_depth + gate["rgb"] * x_rgb
    logits = np.concatenate([rgb_rec, depth_rec]) @ kernel[0, 0] + bias
    attention = np.exp(logits) / np.exp(logits).sum()
    np.testing.assert_allclose(rgb, rgb_rec * attention[0], rtol=1e-5)
    np.testing.assert_allclose(depth, depth_rec * attention[1], rtol=1e-5)


# --- the losses by hand --------------------------------------------------------------------------------------------
LIVE_SPOOF = np.array([0, 1])


def test_intensity_loss_weights_the_spoof_traces_by_lambda_t():
    traces = {"rgb": np.stack([np.full((4, 4, 3), 0.1), np.full((4, 4, 3), -0.5)]).astype(np.float32)}
    assert float(losses.intensity_loss(traces, LIVE_SPOOF)) == pytest.approx(0.1 + 1e-4 * 0.5, rel=1e-6)


def test_trace_classification_loss_is_the_distance_of_phi_to_the_label():
    spoof_map = np.stack([np.full((2, 2, 1), 0.2), np.full((2, 2, 1), 0.7)]).astype(np.float32)
    assert float(losses.trace_classification_loss(spoof_map, LIVE_SPOOF)) == pytest.approx(0.5, rel=1e-6)
    assert float(losses.trace_score(spoof_map)[1]) == pytest.approx(0.7, rel=1e-6)


def test_centre_loss_and_the_centre_update_by_hand():
    features = {"rgb": np.array([[1.0, 0.0], [3.0, 0.0]], np.float32)}
    centres = tf.zeros((2, 2))
    live = np.array([0, 0])
    assert float(losses.centre_loss(features, live, {"rgb": centres})) == pytest.approx(2.5)
    sums, counts = losses.centre_update_sums(features["rgb"], live, centres)
    updated = np.asarray(losses.updated_centres(centres, sums, counts))
    np.testing.assert_allclose(updated, [[2.0 / 3.0, 0.0], [0.0, 0.0]], rtol=1e-6)


def test_a_perfect_generator_gives_zero_consistency_and_logit_zero_costs_ln_2():
    targets = {"rgb": np.random.default_rng(1).normal(size=(2, 4, 4, 3)).astype(np.float32)}
    assert float(losses.consistency_loss(targets, targets)) == 0.0
    assert float(losses.consistency_loss({"rgb": targets["rgb"] + 0.5}, targets)) == pytest.approx(0.25)
    assert float(losses.binary_cross_entropy(np.zeros(2, np.float32), LIVE_SPOOF)) == pytest.approx(math.log(2))
    logits = {"rgb": np.zeros(2, np.float32), "depth": np.zeros(2, np.float32)}
    assert float(losses.encoder_classification_loss(logits, LIVE_SPOOF)) == pytest.approx(2 * math.log(2))


def test_least_squares_gan_losses_take_real_as_one():
    ones, zeros, halves = np.ones((1, 2, 2, 1), np.float32), np.zeros((1, 2, 2, 1), np.float32), \
        np.full((1, 2, 2, 1), 0.5, np.float32)
    assert float(losses.discriminator_loss({"d": [ones]}, {"d": [zeros]})) == 0.0
    assert float(losses.discriminator_loss({"d": [zeros]}, {"d": [ones]})) == 2.0
    assert float(losses.generator_adversarial_loss({"d": [ones, ones]})) == 0.0
    # Averaged over scales, summed over discriminators: (0.25 + 1) / 2 + 0.25.
    assert float(losses.generator_adversarial_loss({"a": [halves, zeros], "b": [halves]})) == pytest.approx(0.875)


def test_the_generator_loss_weights_are_eq_13_s():
    weights = losses.MMDNWeights()
    named = {name: tf.constant(1.0) for name in losses.GENERATOR_TERMS if name != "identity"}
    assert float(losses.weighted_generator_loss(named, weights)) == pytest.approx(0.25 + 100 + 1 + 1 + 10)
    assert float(losses.weighted_generator_loss(dict(named, identity=tf.constant(1.0)), weights)) == \
        pytest.approx(212.25)


# --- shapes and parameter counts ----------------------------------------------------------------------------------
def _built(width, size, modalities=networks.MODALITIES):
    """(generator, phi, discriminators, outputs) built on one zero face of side `size`."""
    generator = networks.SpoofTraceGenerator(modalities, width)
    classifier = networks.TraceClassifier(width)
    inputs = {m: tf.zeros((1, size, size, networks.MODALITY_CHANNELS[m])) for m in modalities}
    out = generator(inputs)
    spoof_map = classifier(tf.concat([out["trace"][m] for m in modalities], -1))
    discriminators = networks.build_discriminators(modalities, width)
    for (_, m), scales in discriminators.items():
        for d in scales:
            d(inputs[m])
    return generator, classifier, discriminators, dict(out, spoof_map=spoof_map)


def _bottleneck(inputs, width, downsample):
    """Trainable parameters of a torchvision bottleneck by hand: 1x1, 3x3, 1x1 (x4) convs, three BatchNorms."""
    out = 4 * width
    return (inputs * width + 9 * width * width + width * out + 2 * (2 * width + out)
            + (inputs * out + 2 * out if downsample else 0))


@pytest.mark.slow
def test_the_blocks_count_the_issue_s_parameters_at_width_one():
    """Width 1 built on 32-pixel faces (the counts do not depend on N): the encoder is torchvision's resnet50 less
    layer4 and fc, the fusion stages Eq. 2-5's MLPs and 1x1 conv, the totals those of the layout."""
    generator, classifier, discriminators, _ = _built(1.0, 32)
    stem = 7 * 7 * 3 * 64 + 2 * 64
    stages = [(64, 64, 3), (256, 128, 4), (512, 256, 6)]
    encoder = stem + sum(_bottleneck(inputs, width, True) + (blocks - 1) * _bottleneck(4 * width, width, False)
                         for inputs, width, blocks in stages)
    assert encoder == 8_543_296 == trainable_parameters([generator.encoders["rgb"]])

    def fusion(c):
        hidden = 2 * c // 16
        return 2 * ((2 * c + 1) * hidden + (hidden + 1) * c) + (2 * c + 1) * 2

    assert [trainable_parameters([f]) for f in generator.fusions] == [fusion(256), fusion(512), fusion(1024)] == \
        [50_754, 199_810, 792_834]
    assert trainable_parameters([generator, classifier]) == 23_779_949
    per_discriminator = {m: 9 * c * 64 + 64 + 9 * 64 * 64 + 9 * 64 * 128 + 9 * 128 * 128 + 9 * 128 * 256
                         + 9 * 256 * 256 + 2 * (64 + 128 + 128 + 256 + 256) + 9 * 256 + 1
                         for m, c in networks.MODALITY_CHANNELS.items()}
    assert trainable_parameters([d for scales in discriminators.values() for d in scales]) == \
        6 * sum(per_discriminator.values()) == 13_775_628


def test_shapes_and_counts_at_quarter_width():
    """The issue's counts at width 0.25 (N = 64 there; the counts do not depend on N: built here on N = 32)."""
    generator, classifier, discriminators, out = _built(0.25, 32)
    assert trainable_parameters([generator, classifier]) == 1_505_765
    assert trainable_parameters([d for scales in discriminators.values() for d in scales]) == 872_652
    assert out["trace"]["rgb"].shape == (1, 32, 32, 3) and out["trace"]["depth"].shape == (1, 32, 32, 1)
    assert out["spoof_map"].shape == (1, 4, 4, 1) and out["logit"]["rgb"].shape == (1,)
    assert out["centre_feature"]["depth"].shape == (1, 16)
    assert [d(tf.zeros((1, 32, 32, 1))).shape[1] for d in discriminators[("S", "depth")]] == [4, 2, 1]


def test_one_modality_is_one_stream_without_fusion():
    generator = networks.SpoofTraceGenerator(("depth",), 0.125)
    out = generator({"depth": tf.zeros((1, 32, 32, 1))})
    assert generator.fusions == [] and set(generator.encoders) == {"depth"} and set(out["trace"]) == {"depth"}
    assert set(networks.build_discriminators(("depth",), 0.125)) == {("L", "depth"), ("S", "depth")}
    assert networks.parse_modalities("depth,rgb") == ("rgb", "depth")
    with pytest.raises(ValueError, match="--mmdn_modalities=ir: expected rgb, depth or rgb,depth"):
        networks.parse_modalities("ir")
