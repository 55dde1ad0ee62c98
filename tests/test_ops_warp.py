"""dense_warp (Eq. 15) against scipy.ndimage.map_coordinates(order=1, mode='nearest') and finite differences."""
import numpy as np
import pytest
import tensorflow as tf
from scipy import ndimage

from physstd.ops import dense_warp

# Non-square and odd-sized so that swapped axes or an off-by-one at the last row/column show up.
BATCH, HEIGHT, WIDTH, CHANNELS = 2, 13, 17, 3


def _reference(image, offsets):
    """scipy per image and channel; positions (y + dy, x + dx) in float64."""
    grid = np.mgrid[0:image.shape[1], 0:image.shape[2]].astype(np.float64)
    out = np.empty(image.shape, dtype=np.float64)
    for b in range(image.shape[0]):
        coordinates = grid + np.moveaxis(offsets[b].astype(np.float64), -1, 0)
        for c in range(image.shape[3]):
            out[b, :, :, c] = ndimage.map_coordinates(image[b, :, :, c].astype(np.float64), coordinates,
                                                      order=1, mode="nearest")
    return out


def _random_case(seed, spread=4.0, height=HEIGHT, width=WIDTH, dtype=np.float32):
    rng = np.random.default_rng(seed)
    image = rng.random((BATCH, height, width, CHANNELS)).astype(dtype)
    # Spread 4 px on a 13 x 17 image: a good share of the positions leave the image on every side.
    offsets = rng.normal(0.0, spread, (BATCH, height, width, 2)).astype(dtype)
    return image, offsets


def _off_grid_offsets(seed, shape=(BATCH, HEIGHT, WIDTH), dtype=np.float64):
    """Offsets whose positions are at least 0.2 px away from every integer (no kink of the bilinear weights
    or of the clamp within the finite-difference step), some inside and some outside the image."""
    rng = np.random.default_rng(seed)
    height, width = shape[1:]
    grid = np.stack(np.mgrid[0:height, 0:width], axis=-1).astype(np.float64)
    whole = np.floor(rng.uniform([-3.0, -3.0], [height + 2.0, width + 2.0], shape + (2,)))
    positions = whole + rng.uniform(0.2, 0.8, shape + (2,))
    return (positions - grid).astype(dtype)


def test_matches_scipy_map_coordinates_including_positions_outside():
    image, offsets = _random_case(0)
    positions = offsets + np.stack(np.mgrid[0:HEIGHT, 0:WIDTH], axis=-1)
    outside = (positions[..., 0] < 0) | (positions[..., 0] > HEIGHT - 1) | (positions[..., 1] < 0) | (
        positions[..., 1] > WIDTH - 1)
    assert 0.2 < outside.mean() < 0.8
    out = dense_warp(image, offsets).numpy()
    assert out.dtype == np.float32 and out.shape == image.shape
    np.testing.assert_allclose(out, _reference(image, offsets), atol=1e-5, rtol=0)


def test_exact_positions_far_from_the_origin():
    # Large image and offsets that are integers plus a fraction: the result must not lose the fraction to
    # float32 rounding of (index + offset). Also hits exact integer positions and the last row/column.
    rng = np.random.default_rng(1)
    image = rng.random((1, 300, 300, 1)).astype(np.float32)
    offsets = (rng.integers(-310, 310, (1, 300, 300, 2)) + rng.choice([0.0, 0.25, 0.5, 0.999], (1, 300, 300, 2)))
    offsets = offsets.astype(np.float32)
    np.testing.assert_allclose(dense_warp(image, offsets).numpy(), _reference(image, offsets), atol=1e-5, rtol=0)


def test_hand_computed_sample():
    image = np.arange(12, dtype=np.float32).reshape(1, 3, 4, 1)      # value = 4 y + x
    offsets = np.zeros((1, 3, 4, 2), np.float32)
    offsets[0, 0, 0] = [1.5, 2.25]      # (0, 0) samples (1.5, 2.25): 4 * 1.5 + 2.25 = 8.25
    offsets[0, 2, 3] = [5.0, -10.0]     # (2, 3) samples (7, -7) -> clamped to (2, 0): 8
    offsets[0, 1, 1] = [-0.5, 0.5]      # (1, 1) samples (0.5, 1.5): 3.5
    out = dense_warp(image, offsets).numpy()[0, ..., 0]
    assert out[0, 0] == pytest.approx(8.25)
    assert out[2, 3] == pytest.approx(8.0)
    assert out[1, 1] == pytest.approx(3.5)


def test_zero_offset_is_identity():
    image, offsets = _random_case(2)
    np.testing.assert_array_equal(dense_warp(image, np.zeros_like(offsets)).numpy(), image)


def test_xla_matches_eager():
    image, offsets = _random_case(3)
    eager = dense_warp(image, offsets).numpy()
    compiled = tf.function(dense_warp, jit_compile=True)(tf.constant(image), tf.constant(offsets)).numpy()
    np.testing.assert_allclose(compiled, eager, atol=1e-6, rtol=0)


def test_gradients_match_finite_differences():
    shape = (1, 6, 7)          # small: compute_gradient perturbs one element at a time
    rng = np.random.default_rng(4)
    image = tf.constant(rng.random(shape + (2,)))
    offsets = tf.constant(_off_grid_offsets(5, shape))
    warp = tf.function(dense_warp)
    # The warp is linear in the image and, per offset element, linear within a cell: central differences
    # with a step below the 0.2 px margin are exact up to float64 rounding.
    theoretical, numerical = tf.test.compute_gradient(lambda i: warp(i, offsets), [image], delta=1e-3)
    np.testing.assert_allclose(theoretical[0], numerical[0], atol=1e-8)
    theoretical, numerical = tf.test.compute_gradient(lambda o: warp(image, o), [offsets], delta=1e-3)
    np.testing.assert_allclose(theoretical[0], numerical[0], atol=1e-8)


def test_offset_gradient_is_zero_exactly_where_the_position_is_clamped():
    rng = np.random.default_rng(8)
    image = tf.constant(rng.random((BATCH, HEIGHT, WIDTH, CHANNELS)))
    offsets = tf.constant(_off_grid_offsets(9))
    with tf.GradientTape() as tape:
        tape.watch(offsets)
        loss = tf.reduce_sum(dense_warp(image, offsets))
    gradient = tape.gradient(loss, offsets).numpy()
    positions = offsets.numpy() + np.stack(np.mgrid[0:HEIGHT, 0:WIDTH], axis=-1)
    clamped = (positions < 0) | (positions > np.array([HEIGHT - 1, WIDTH - 1]))
    assert 0.1 < clamped.mean() < 0.9
    assert np.all(gradient[clamped] == 0)
    assert np.mean(np.abs(gradient[~clamped]) > 1e-3) > 0.9    # inside, the offset moves the output


def _gradients(image, offsets, weights, jit_compile):
    @tf.function(jit_compile=jit_compile)
    def run(image, offsets):
        with tf.GradientTape() as tape:
            tape.watch([image, offsets])
            loss = tf.reduce_sum(weights * dense_warp(image, offsets))
        return tape.gradient(loss, [image, offsets])
    return [g.numpy() for g in run(tf.constant(image), tf.constant(offsets))]


def test_float32_and_xla_gradients_match_float64():
    rng = np.random.default_rng(6)
    image = rng.random((BATCH, HEIGHT, WIDTH, CHANNELS))
    offsets = _off_grid_offsets(7)
    weights64 = rng.normal(size=image.shape)
    reference = _gradients(image, offsets, tf.constant(weights64), jit_compile=False)
    for jit_compile in (False, True):
        grads = _gradients(image.astype(np.float32), offsets.astype(np.float32),
                           tf.constant(weights64, tf.float32), jit_compile)
        for got, want in zip(grads, reference):
            assert got.dtype == np.float32
            np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)
