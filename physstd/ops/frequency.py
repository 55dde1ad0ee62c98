"""Frequency split of the input face (seeds/001 Eq. 9; DESIGN 4.1).

`lowpass(x, n)` is the paper's resize-down-and-back operator: bilinear resize to n x n and back to the input
size, without antialiasing (a plain resize, as the paper specifies). It keeps spatial frequencies below the
n-grid's Nyquist rate, up to the small leakage of bilinear interpolation; frequencies above it are not
removed but folded (aliased) to low ones, which is what a resize does.
"""
import tensorflow as tf


def lowpass(x, n):
    """Bilinear resize of NHWC `x` to n x n and back to its own size (the floor-bracket of Eq. 9)."""
    size = tf.shape(x)[-3:-1]
    small = tf.image.resize(x, (n, n), method="bilinear", antialias=False)
    return tf.image.resize(small, size, method="bilinear", antialias=False)


def decompose(image, n1, n2):
    """Eq. 9: (I_B, I_C, I_T) = (lowpass(I, n1), lowpass(I, n2) - lowpass(I, n1), I - lowpass(I, n2))."""
    low = lowpass(image, n1)
    mid = lowpass(image, n2)
    return low, mid - low, image - mid
