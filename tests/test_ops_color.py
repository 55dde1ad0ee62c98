"""rgb_to_hsv in elementwise ops: tf.image.rgb_to_hsv's values (the fused op neither LiteRT nor tf2onnx converts),
hand-computed pixels, and finite gradients where the fused formula divides by zero."""
import numpy as np
import pytest
import tensorflow as tf

from physstd.ops import rgb_to_hsv


def test_it_equals_tensorflow_s_fused_op_on_photos_greys_black_and_ties():
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (3, 32, 32, 3)).astype(np.float32)
    images[0, :4] = 0.5                                   # grey: hue 0, saturation 0
    images[0, 4:8] = 0.0                                  # black: value 0
    images[0, 8:12, :, 1] = images[0, 8:12, :, 0]         # R = G: ties decided R first
    images[1] = np.round(images[1] * 255) / 255           # 8-bit crops, as the networks get them
    images[2] = np.round(images[2] * 4) / 4               # many exact ties
    expected = tf.image.rgb_to_hsv(images).numpy()
    np.testing.assert_allclose(rgb_to_hsv(tf.constant(images)).numpy(), expected, atol=2e-7, rtol=0)


@pytest.mark.parametrize("rgb,hsv", [((1.0, 0.0, 0.0), (0.0, 1.0, 1.0)), ((0.0, 0.5, 0.0), (1 / 3, 1.0, 0.5)),
                                     ((0.0, 0.0, 1.0), (2 / 3, 1.0, 1.0)), ((1.0, 0.0, 0.5), (11 / 12, 1.0, 1.0)),
                                     ((0.4, 0.4, 0.4), (0.0, 0.0, 0.4)), ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0))])
def test_hand_computed_pixels(rgb, hsv):
    # (1, 0, 0.5): red is the maximum, hue = (G - B) / (6 spread) = -1/12, wrapped to 11/12.
    np.testing.assert_allclose(rgb_to_hsv(tf.constant([rgb], tf.float32)).numpy()[0], hsv, atol=1e-7)


def test_gradients_are_finite_on_grey_and_black_pixels():
    images = tf.constant([[[0.0, 0.0, 0.0], [0.3, 0.3, 0.3], [0.2, 0.5, 0.9]]], tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(images)
        total = tf.reduce_sum(rgb_to_hsv(images))
    assert np.all(np.isfinite(tape.gradient(total, images).numpy()))
