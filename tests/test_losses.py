import numpy as np
import pytest
import tensorflow as tf

from physstd.methods.physstd import losses
from physstd.methods.physstd.config import LossWeights
from physstd.models import GeneratorOutput


def _const(values):
    return tf.constant(values, tf.float32)


def _output(batch=1, size=2, **values):
    shapes = {"B": 3, "C": 3, "T": 3, "P": 1, "I_P": 3, "S": 3}
    fields = {name: tf.zeros((batch, size, size, channels)) for name, channels in shapes.items()}
    fields["M"] = tf.zeros((batch, 1, 1, 1))
    for name, value in values.items():
        fields[name] = tf.broadcast_to(tf.cast(value, tf.float32), fields[name].shape)
    return GeneratorOutput(**fields)


def test_loss_weights_are_the_papers():
    weights = LossWeights()
    assert (weights.depth, weights.adversarial, weights.inpainting_mask, weights.trace_regularizer,
            weights.synthesis, weights.hard_depth) == (100.0, 5.0, 1.0, 1e-4, 10.0, 1.0)
    assert LossWeights.from_dict({"synthesis": 2}) == LossWeights(synthesis=2.0)
    assert LossWeights.from_dict(weights.to_dict()) == weights
    with pytest.raises(ValueError, match="weights.json: unknown key 'alpha7'"):
        LossWeights.from_dict({"alpha7": 1.0}, "weights.json")


def test_depth_and_hard_depth_losses():
    depth = _const([[[[0.2], [0.8]], [[0.5], [0.0]]]])
    target = _const([[[[0.0], [1.0]], [[1.0], [0.0]]]])
    assert float(losses.depth_loss(depth, target)) == pytest.approx((0.2 + 0.2 + 0.5 + 0.0) / 4)
    assert float(losses.hard_depth_loss(depth)) == pytest.approx((0.2 + 0.8 + 0.5) / 4)


def test_lsgan_losses():
    half = tf.fill((2, 4, 4, 1), 0.5)
    ones = tf.ones((2, 2, 2, 1))
    zeros = tf.zeros((2, 1, 1, 1))
    # Eq. 17: (0.5 - 1)^2 + 0 + (0 - 1)^2.
    assert float(losses.generator_adversarial_loss([half, ones, zeros])) == pytest.approx(1.25)
    # Eq. 18: reals (ones -> 0, half -> 0.25), fakes (zeros -> 0, half -> 0.25, ones -> 1).
    assert float(losses.discriminator_loss([ones, half], [zeros, half, ones])) == pytest.approx(1.5)
    graded = _const([[[[0.0]], [[1.0]]]])  # a 2 x 1 map: mean over the map
    assert float(losses.discriminator_loss([graded], [graded])) == pytest.approx(0.5 + 0.5)


def test_inpainting_mask_loss_by_hand():
    # Sample 1: only pixel (0, 0) has an additive trace above beta (in its blue channel).
    mask = np.zeros((2, 2, 2, 1), np.float32)
    mask[0, 0, 0, 0], mask[0, 1, 0, 0] = 1.0, 0.5
    trace = np.zeros((2, 2, 2, 3), np.float32)
    trace[0, 0, 0, 2] = -0.3
    trace[0, 0, 1, 0] = 0.1  # not above beta = 0.1
    p0 = np.zeros((2, 2, 2, 1), np.float32)
    p0[0, 1] = 1.0  # the bottom row must not be inpainted
    # Sample 2: P = 0.2 everywhere, no trace, empty P0 (no negative term).
    mask[1] = 0.2
    positive_1, negative_1 = (0.0 + 0.0 + 0.25 + 0.0) / 4, 0.25 / 2
    positive_2 = 0.04
    expected = (positive_1 + negative_1 + positive_2) / 2
    result = losses.inpainting_mask_loss(_const(mask), _const(trace), _const(p0))
    assert float(result) == pytest.approx(expected)
    assert float(losses.inpainting_mask_loss(_const(mask), _const(trace), _const(p0), beta=0.5)) == pytest.approx(
        (0.25 + 0.25 / 4 + negative_1 + positive_2) / 2)


def test_trace_regularizer_loss():
    out = _output(B=0.5, C=-0.2, T=0.1, P=1.0, S=0.3, I_P=0.9)
    assert float(losses.trace_regularizer_loss(out)) == pytest.approx(0.25 + 0.04 + 0.01 + 1.0 + 0.09)


def test_synthesis_component_loss_by_hand_and_without_gradient_into_its_target():
    target = _output(B=0.5, T=-0.2, P=[[[[1.0], [0.0]], [[0.0], [0.0]]]], I_P=0.8)
    out = _output(B=0.3, C=0.1, T=-0.2, P=0.5, I_P=0.2, S=-0.1)
    # |B|: 0.2, |C|: 0.1, |T|: 0, |P|: (0.5 + 3 * 0.5) / 4, |S|: 0.1, content: (1 * 0.6) / 4 over one pixel.
    expected = 0.2 + 0.1 + 0.0 + 0.5 + 0.1 + 0.6 / 4
    assert float(losses.synthesis_component_loss(out, target)) == pytest.approx(expected)

    target_t = tf.Variable(target.T)
    out_t = tf.Variable(out.T + 0.3)
    with tf.GradientTape(persistent=True) as tape:
        loss = losses.synthesis_component_loss(out._replace(T=out_t * 1.0), target._replace(T=target_t * 1.0))
    assert tape.gradient(loss, target_t) is None
    gradient = tape.gradient(loss, out_t)
    np.testing.assert_allclose(gradient.numpy(), np.full(out.T.shape, 1.0 / 12), rtol=1e-6)  # d mean|x| / dx


def test_synthesis_loss_compares_the_overall_effect_by_hand():
    from physstd.config import ImageSizes

    sizes = ImageSizes(16)  # n1 = 2, n2 = 8
    rng = np.random.default_rng(0)
    image = _const(rng.uniform(0.2, 0.8, (1, 16, 16, 3)))
    live = _const(rng.uniform(0.2, 0.8, (1, 16, 16, 3)))
    true_mask = np.zeros((1, 16, 16, 1), np.float32)
    true_mask[0, :4, :4] = 1.0
    p = np.full((1, 16, 16, 1), 0.25, np.float32)
    t = rng.uniform(-0.1, 0.1, (1, 16, 16, 3)).astype(np.float32)
    i_p = rng.uniform(0, 1, (1, 16, 16, 3)).astype(np.float32)
    out = _output(size=16, T=t, P=p, I_P=i_p)
    # Eq. 5 with B = C = 0: G removes (1 - P) T and replaces P of the image by I_P.
    reconstruction = (1 - p) * (image.numpy() - t) + p * i_p
    expected = np.abs(reconstruction - live.numpy()).mean() + np.abs(p - true_mask).mean()
    result = losses.synthesis_loss(image, out, live, _const(true_mask), sizes)
    assert float(result) == pytest.approx(expected, rel=1e-5)
    # Parts of B and C that their bands [.]n1, [.]n2 remove never reach the image and are not supervised:
    # a checkerboard at the pixel frequency averages out in every 8 x 8 (for B) and 2 x 2 (for C) cell.
    checker = np.indices((16, 16)).sum(axis=0) % 2 * 2.0 - 1.0
    invisible = np.broadcast_to(0.3 * checker[None, :, :, None], (1, 16, 16, 3)).astype(np.float32)
    hidden = out._replace(B=_const(invisible), C=_const(invisible))
    assert float(losses.synthesis_loss(image, hidden, live, _const(true_mask), sizes)) == pytest.approx(
        expected, rel=1e-5)
    # The per-component reading penalises them: 0.3 each for B and C.
    target = out._replace(P=_const(true_mask))
    assert float(losses.synthesis_component_loss(hidden, target)) - float(
        losses.synthesis_component_loss(out, target)) == pytest.approx(0.6, rel=1e-5)
    # A live face (image = true live, P = 0) with zero traces has zero loss; its target is zero effect.
    zero = _output(size=16, I_P=i_p)
    assert float(losses.synthesis_loss(live, zero, live, tf.zeros((1, 16, 16, 1)), sizes)) == pytest.approx(0.0)


def test_split_trace_regularizer_losses():
    """--live_trace_weight: Eq. 20 per half; the halves' mean is the paper's one-expectation L_R of the batch."""
    live, spoof = _output(B=0.5, P=1.0), _output(C=-0.2, T=0.1, S=0.3)
    split = losses.split_trace_regularizer_losses(live, spoof)
    assert float(split["live_trace_regularizer"]) == pytest.approx(0.25 + 1.0)
    assert float(split["trace_regularizer"]) == pytest.approx(0.04 + 0.01 + 0.09)
    both = GeneratorOutput(*(tf.concat([a, b], 0) for a, b in zip(live, spoof)))
    assert float(losses.trace_regularizer_loss(both)) == pytest.approx(
        (float(split["live_trace_regularizer"]) + float(split["trace_regularizer"])) / 2)
