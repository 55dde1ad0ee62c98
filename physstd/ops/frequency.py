"""Frequency split of the input face (Eq. 9 of "Physics-Guided Spoof Trace Disentanglement", 2022).

`lowpass(x, n)` is Eq. 9's bracket [x]n, which the paper calls a low-pass filter: shrink to n x n and enlarge
back. How it shrinks decides what it is:

- "box" (default): each of the n x n samples is the average of the input pixels its cell covers (an area
  resize; with N a multiple of n, the mean of an (N/n) x (N/n) block), then bilinear back up. Every input pixel
  counts, and the finest pattern of the input (a checkerboard of period 2) vanishes. The authors' released code
  averages too.
- "point": a bilinear resize down without antialiasing, then bilinear back up (the former reading). From N to
  N/8 it reads 2 of every 8 pixels per axis, so [x]n1 depends on about 1/16 of x's pixels and frequencies above
  the n-grid's Nyquist rate are folded onto low ones instead of removed. Kept behind `--lowpass=point` for
  comparison and for runs trained with it.

Both shrink with separable matrix products (XLA compiles them; the antialiased resize op has no XLA kernel);
`triangle_matrix` also gives the discriminators' antialiased resize (physstd.methods.physstd.discriminator).
"""
import functools

import numpy as np
import tensorflow as tf

from physstd.config import DEFAULT_LOWPASS, LOWPASS_MODES


@functools.lru_cache(maxsize=64)
def area_matrix(in_size, out_size):
    """(out, in) weights of an area resize along one axis: output cell i covers [i, i + 1) * in / out of the
    input, and each input pixel is weighted by the length of its overlap with that cell (rows sum to 1)."""
    scale = in_size / out_size
    edges = np.arange(in_size + 1, dtype=np.float64)
    start = np.arange(out_size)[:, None] * scale
    overlap = np.clip(np.minimum(edges[None, 1:], start + scale) - np.maximum(edges[None, :-1], start), 0, None)
    return (overlap / overlap.sum(axis=1, keepdims=True)).astype(np.float32)


@functools.lru_cache(maxsize=64)
def triangle_matrix(in_size, out_size, antialias=True):
    """(out, in) weights of tf.image.resize(bilinear) along one axis, half-pixel centres, rows normalised to 1:
    a triangle kernel, widened by in / out when shrinking with `antialias` (otherwise the two nearest pixels)."""
    scale = out_size / in_size
    width = max(1.0 / scale, 1.0) if antialias else 1.0
    centres = np.clip((np.arange(out_size) + 0.5) / scale - 0.5, 0, in_size - 1)
    weights = np.maximum(0.0, 1.0 - np.abs(np.arange(in_size)[None, :] - centres[:, None]) / width)
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def resize_separable(x, rows, cols):
    """Apply (out_h, H) `rows` and (out_w, W) `cols` weight matrices to NHWC `x`."""
    rows = tf.constant(rows, dtype=x.dtype)
    cols = tf.constant(cols, dtype=x.dtype)
    return tf.einsum("xw,bywc->byxc", cols, tf.einsum("yh,bhwc->bywc", rows, x))


def _static_side(x):
    height, width = x.shape[-3], x.shape[-2]
    if height is None or width is None:
        raise ValueError(f"lowpass needs a static image size, got shape {tuple(x.shape)}")
    return int(height), int(width)


def shrink(x, size, mode=DEFAULT_LOWPASS):
    """NHWC `x` resized down to size x size: "box" averages the covered pixels (area), "point" is a bilinear
    resize without antialiasing; identity when x already has that size."""
    x = tf.convert_to_tensor(x)
    height, width = _static_side(x)
    if (height, width) == (size, size):
        return x
    if mode == "box":
        return resize_separable(x, area_matrix(height, size), area_matrix(width, size))
    if mode == "point":
        return resize_separable(x, triangle_matrix(height, size, False), triangle_matrix(width, size, False))
    raise ValueError(f"lowpass mode must be one of {LOWPASS_MODES}, got {mode!r}")


def lowpass(x, n, mode=DEFAULT_LOWPASS):
    """[x]n of Eq. 9: NHWC `x` shrunk to n x n (`mode`, module doc) and enlarged back bilinearly."""
    x = tf.convert_to_tensor(x)
    height, width = _static_side(x)
    small = shrink(x, n, mode)
    return resize_separable(small, triangle_matrix(n, height), triangle_matrix(n, width))


def decompose(image, n1, n2, mode=DEFAULT_LOWPASS):
    """Eq. 9: (I_B, I_C, I_T) = ([I]n1, [I]n2 - [I]n1, I - [I]n2)."""
    low = lowpass(image, n1, mode)
    mid = lowpass(image, n2, mode)
    return low, mid - low, image - mid
