"""Time the 3D warping layer's pieces at the paper's size: dense_warp (Eq. 15) against scipy, its gradient,
and triangle_barycentrics (Eq. 14, input pipeline).

    .venv/bin/python -m benchmarks.dense_warp [--image_size 256 --batch_size 8 --repeats 10]

Every figure is the median over --repeats timed calls after one untimed warm-up call (tracing, XLA
compilation). TF timings include copying the result to numpy, so they are complete on a GPU too.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402
from scipy import ndimage  # noqa: E402

from physstd.data import face_model  # noqa: E402
from physstd.ops import dense_warp, triangle_barycentrics  # noqa: E402
from benchmarks.timing import median_seconds  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("image_size", 256, "N: images are N x N.")
flags.DEFINE_integer("batch_size", 8, "Images per dense_warp call.")
flags.DEFINE_integer("channels", 3, "Channels per image.")
flags.DEFINE_integer("repeats", 10, "Timed calls per measurement (median reported).")
flags.DEFINE_float("offset_scale", 8.0, "Largest offset magnitude in pixels, per axis.")
flags.DEFINE_integer("seed", 0, "Seed for the random images, offsets and landmark noise.")


def median_ms(function, repeats):
    """Median wall time of function() in milliseconds, after one untimed warm-up call."""
    return 1e3 * median_seconds(function, repeats)


def smooth_offsets(rng, batch, size, scale):
    """Random (B, N, N, 2) offsets, Gaussian-smoothed over ~N/16 px, rescaled to at most `scale` px."""
    noise = rng.normal(size=(batch, size, size, 2))
    smooth = ndimage.gaussian_filter(noise, sigma=(0, size / 16, size / 16, 0))
    return (scale * smooth / np.abs(smooth).max()).astype(np.float32)


def scipy_warp(image, offsets):
    """The same work as dense_warp with scipy, looping over images and channels."""
    grid = np.mgrid[0:image.shape[1], 0:image.shape[2]].astype(np.float32)
    out = np.empty_like(image)
    for b in range(image.shape[0]):
        coordinates = grid + np.moveaxis(offsets[b], -1, 0)
        for c in range(image.shape[3]):
            out[b, :, :, c] = ndimage.map_coordinates(image[b, :, :, c], coordinates, order=1, mode="nearest")
    return out


def warp_with_gradient(image, offsets):
    with tf.GradientTape() as tape:
        tape.watch([image, offsets])
        loss = tf.reduce_sum(tf.square(dense_warp(image, offsets)))
    return tape.gradient(loss, [image, offsets])


def main(argv):
    del argv
    size, batch, repeats = FLAGS.image_size, FLAGS.batch_size, FLAGS.repeats
    rng = np.random.default_rng(FLAGS.seed)
    image_np = rng.random((batch, size, size, FLAGS.channels), dtype=np.float32)
    offsets_np = smooth_offsets(rng, batch, size, FLAGS.offset_scale)
    image, offsets = tf.constant(image_np), tf.constant(offsets_np)
    device = tf.config.list_logical_devices("GPU")
    print(f"device: {device[0].name if device else 'CPU'}; N={size} batch={batch} channels={FLAGS.channels}; "
          f"median of {repeats}")

    forward = {name: tf.function(dense_warp, jit_compile=jit) for name, jit in (("tf.function", False),
                                                                                ("XLA", True))}
    backward = {name: tf.function(warp_with_gradient, jit_compile=jit) for name, jit in (("tf.function", False),
                                                                                         ("XLA", True))}
    scipy_ms = median_ms(lambda: scipy_warp(image_np, offsets_np), repeats)
    forward_ms = {name: median_ms(lambda f=f: f(image, offsets).numpy(), repeats) for name, f in forward.items()}
    backward_ms = {name: median_ms(lambda f=f: [g.numpy() for g in f(image, offsets)], repeats)
                   for name, f in backward.items()}

    for name, ms in forward_ms.items():
        print(f"dense_warp forward  {name:<11s} {ms:8.2f} ms/call | scipy map_coordinates {scipy_ms:8.2f} ms/call"
              f" | scipy / {name} = {scipy_ms / ms:.1f}x")
    for name, ms in backward_ms.items():
        print(f"dense_warp fwd+grad {name:<11s} {ms:8.2f} ms/call (d/d image and d/d offsets) | "
              f"{ms / forward_ms[name]:.1f}x its forward")

    landmarks = face_model.canonical_landmarks(size) + rng.normal(0.0, size / 256, (face_model.NUM_LANDMARKS, 2))
    triangles = face_model.face_triangles()
    bary_ms = median_ms(lambda: triangle_barycentrics(landmarks, triangles, size), repeats)
    print(f"triangle_barycentrics N={size}: {bary_ms:.2f} ms/image ({len(triangles)} triangles)")


if __name__ == "__main__":
    app.run(main)
