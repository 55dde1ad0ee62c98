"""RGB to HSV in elementwise TensorFlow ops, the formula of TensorFlow's own RGBToHSV kernel.

tf.image.rgb_to_hsv is one fused op (RGBToHSV) that neither the LiteRT converter (no builtin) nor tf2onnx (no
handler) translates, so a network that calls it cannot leave TensorFlow. This is the same arithmetic in the ops
every runtime has (max, min, select, division); it matches tf.image.rgb_to_hsv to float32 rounding.
"""
import tensorflow as tf


def rgb_to_hsv(images):
    """(..., 3) RGB in [0, 1] -> (..., 3) HSV in [0, 1] (hue in turns), as tf.image.rgb_to_hsv.

    V = max(R, G, B); S = (V - min) / V (0 where V = 0); H from the channel that is the maximum (R first, then G),
    0 for a grey pixel, wrapped into [0, 1)."""
    red, green, blue = tf.unstack(images, axis=-1)
    value = tf.reduce_max(images, axis=-1)
    spread = value - tf.reduce_min(images, axis=-1)
    coloured = spread > 0
    # Reciprocals of a safe denominator: a grey pixel's hue and a black pixel's saturation are selected away, and
    # the unselected branch must not be inf or NaN (a NaN there would also poison gradients through tf.where).
    saturation = tf.where(value > 0, spread / tf.where(value > 0, value, 1.0), 0.0)
    norm = tf.math.reciprocal(tf.where(coloured, spread, 1.0)) * (1.0 / 6.0)
    hue = tf.where(tf.equal(red, value), norm * (green - blue),
                   tf.where(tf.equal(green, value), norm * (blue - red) + 2.0 / 6.0, norm * (red - green) + 4.0 / 6.0))
    hue = tf.where(coloured, hue, 0.0)
    hue = tf.where(hue < 0, hue + 1.0, hue)
    return tf.stack([hue, saturation, value], axis=-1)
