"""lowpass / decompose (Eq. 9): exact sum, hand-derivable fixed points, and the spectra of the three bands.

Spectra are measured with np.fft on a natural photo (skimage's astronaut, bundled with scikit-image) and on
white noise, at N = 128 (n1 = 16, n2 = 64). Energies exclude each channel's mean (DC would dominate every
ratio). A "band above n" is max(|kx|, |ky|) > n / 2 cycles per image: the Nyquist limit of the n x n grid
(the resize is separable, so its pass band is a square).
"""
import cv2
import numpy as np
import pytest
import skimage.data
import tensorflow as tf
from scipy import integrate

from physstd.config import ImageSizes
from physstd.ops import decompose, lowpass

SIZES = ImageSizes(128)
N, N1, N2 = SIZES.image_size, SIZES.n1, SIZES.n2


def _photo():
    return cv2.resize(skimage.data.astronaut(), (N, N), interpolation=cv2.INTER_AREA).astype(np.float32) / 255


def _noise():
    return np.random.default_rng(0).random((N, N, 3)).astype(np.float32)


def _energy(image, low=-1.0, high=np.inf):
    """Spectral energy of an (H, W, C) image in the square band low < max(|kx|, |ky|) <= high."""
    image = image - image.mean(axis=(0, 1))
    power = np.abs(np.fft.fft2(image, axes=(0, 1))) ** 2
    k = np.abs(np.fft.fftfreq(image.shape[0]) * image.shape[0])
    radius = np.maximum(k[:, None], k[None, :])
    return power[(radius > low) & (radius <= high)].sum()


def _bands(image):
    return [band.numpy()[0] for band in decompose(image[None], N1, N2)]


def test_bands_sum_back_to_the_image():
    images = np.stack([_photo(), _noise()])
    low, mid, high = decompose(images, N1, N2)
    np.testing.assert_allclose((low + mid + high).numpy(), images, atol=1e-6, rtol=0)
    np.testing.assert_allclose(low.numpy(), lowpass(images, N1).numpy(), atol=0)
    np.testing.assert_allclose(high.numpy(), images - lowpass(images, N2).numpy(), atol=1e-7)


@pytest.mark.parametrize("n", [N1, N2, 5])
def test_lowpass_keeps_constant_images(n):
    image = np.ones((2, N, N, 3), np.float32) * np.array([0.2, 0.5, 0.9], np.float32)
    np.testing.assert_allclose(lowpass(image, n).numpy(), image, atol=1e-6, rtol=0)


def test_lowpass_keeps_linear_ramps_away_from_the_border():
    # Bilinear down- and up-sampling reproduce a linear function exactly, except where upsampling clamps to
    # the outermost low-resolution sample: within N / (2 n) - 1/2 pixels of the border (half-pixel centres).
    rows, cols = np.mgrid[0:N, 0:N].astype(np.float32)
    image = np.stack([rows / N, cols / N, 0.3 * rows / N - 0.2 * cols / N], axis=-1)[None]
    for n in (N1, N2):
        margin = int(np.ceil(N / (2 * n) - 0.5))
        out = lowpass(image, n).numpy()
        inner = (slice(None), slice(margin, N - margin), slice(margin, N - margin))
        np.testing.assert_allclose(out[inner], image[inner], atol=1e-5, rtol=0)
        assert np.abs(out - image).max() > 1e-3          # ... and the border does differ


def test_low_band_has_little_energy_above_the_n1_cut():
    # Upsampling an n1 x n1 image bilinearly convolves with a triangle kernel, |H(f)|^2 = sinc^4(f / n1):
    # for a white low-resolution image the energy above the n1 cut is 1 - p^2 (2D, separable) with p the
    # in-band share of sinc^4 in 1D, about 0.10. Noise aliases into a white n1 image, so it meets that
    # bound; a natural photo is dominated by low frequencies and leaks less.
    in_band = integrate.quad(lambda f: np.sinc(f) ** 4, -0.5, 0.5)[0] / (2.0 / 3.0)
    white_leak = 1.0 - in_band ** 2
    low_noise, _, _ = _bands(_noise())
    low_photo, _, _ = _bands(_photo())
    noise_leak = _energy(low_noise, N1 / 2) / _energy(low_noise)
    photo_leak = _energy(low_photo, N1 / 2) / _energy(low_photo)
    assert abs(noise_leak - white_leak) < 0.015   # nearest-neighbour upsampling would leak ~0.4
    assert photo_leak < 0.75 * white_leak
    # It keeps most of the photo's lowest frequencies (the resize without antialiasing also folds some
    # higher frequencies down, which is why this is a share and not a bound on a ratio).
    assert 0.8 < _energy(low_photo, high=N1 / 4) / _energy(_photo(), high=N1 / 4) < 1.1


def test_high_band_has_little_energy_at_low_frequencies():
    # lowpass(., n2) is a factor-2 down/up resize; at f = n1 / 2 = N / 16 its response is about 0.96, so
    # I_T = I - lowpass(I, n2) keeps ~(1 - 0.96)^2 = 0.15% of the image energy below the n1 cut, plus the
    # little that aliasing folds down from near N / 2 (a natural photo has little there; noise has a lot).
    image = _photo()
    _, _, high = _bands(image)
    assert _energy(high, high=N1 / 2) / _energy(image, high=N1 / 2) < 0.003
    assert _energy(high, high=N2 / 4) / _energy(image, high=N2 / 4) < 0.01
    noise = _noise()
    _, _, high_noise = _bands(noise)
    assert _energy(high_noise, high=N1 / 2) / _energy(noise, high=N1 / 2) < 0.05
    # Half of the high band's energy sits above the n2 cut, where the other two bands have almost none.
    assert _energy(high, N2 / 2) / _energy(high) > 0.4


def test_mid_band_drops_the_lowest_and_highest_frequencies():
    # I_C = lowpass(I, n2) - lowpass(I, n1): both responses are ~1 near f = 0, so the lowest frequencies
    # cancel; above the n2 cut only the two upsamplers' small leakage remains.
    image = _photo()
    _, mid, _ = _bands(image)
    assert _energy(mid, high=N1 / 8) / _energy(image, high=N1 / 8) < 0.06
    assert _energy(mid, N2 / 2) / _energy(mid) < 0.03
    assert _energy(mid, N1 / 2, N2 / 4) / _energy(image, N1 / 2, N2 / 4) > 0.4


def test_decompose_under_xla_matches_eager():
    image = np.stack([_photo(), _noise()])
    eager = decompose(image, N1, N2)
    compiled = tf.function(lambda x: decompose(x, N1, N2), jit_compile=True)(tf.constant(image))
    for got, want in zip(compiled, eager):
        np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-5, rtol=0)


# --- the averaging low-pass (default) against the former point sampler ----------------------------------------------
def _checkerboard(size):
    rows, cols = np.mgrid[0:size, 0:size]
    return np.repeat(((-1.0) ** (rows + cols))[None, ..., None], 3, axis=-1).astype(np.float32)


@pytest.mark.parametrize("n", [N1, N2])
def test_box_lowpass_removes_the_finest_checkerboard(n):
    # A period-2 checkerboard at N: every n x n cell averages as many +1 as -1 pixels.
    board = 0.5 + 0.25 * _checkerboard(N)
    np.testing.assert_allclose(lowpass(board, n).numpy(), np.full_like(board, 0.5), atol=1e-6, rtol=0)


def test_point_lowpass_aliases_a_pattern_of_the_cell_period():
    # Lines 2 pixels wide every 8 pixels (mean 1/4). From N to n1 = N / 8 the bilinear sampler reads pixels
    # 8i + 3 and 8i + 4 of each cell, exactly the lines: the pattern folds onto a constant 1. Averaging keeps its
    # mean, 1/4, the only part of it below the n1 cut.
    lines = np.zeros((1, N, N, 3), np.float32)
    lines[:, (np.arange(N) % 8 == 3) | (np.arange(N) % 8 == 4)] = 1.0
    np.testing.assert_allclose(lowpass(lines, N1, "point").numpy(), 1.0, atol=1e-6)
    np.testing.assert_allclose(lowpass(lines, N1).numpy(), 0.25, atol=1e-6)
    # At a factor of 2 (n2) the bilinear sampler reads both pixels of each cell: the two readings agree.
    image = np.stack([_photo(), _noise()])
    np.testing.assert_allclose(lowpass(image, N2, "point").numpy(), lowpass(image, N2).numpy(), atol=1e-5)


def test_box_lowpass_averages_blocks_exactly():
    # With N a multiple of n, the n x n image is the mean of each (N / n)^2 block (numpy reference), so every
    # input pixel counts; the point sampler's n1 image depends on a quarter of the pixels per axis.
    from physstd.ops import shrink
    image = np.random.default_rng(1).random((2, N, N, 3)).astype(np.float32)
    factor = N // N1
    blocks = image.reshape(2, N1, factor, N1, factor, 3).mean(axis=(2, 4))
    np.testing.assert_allclose(shrink(image, N1).numpy(), blocks, atol=1e-6, rtol=0)
    gradient = tf.function(lambda x: tf.gradients(tf.reduce_sum(shrink(x, N1, "point")), x)[0])(image).numpy()
    assert 0.05 < (gradient[0, :, :, 0] != 0).mean() <= 0.07      # 2 of 8 per axis: 1/16 of the pixels
    gradient = tf.function(lambda x: tf.gradients(tf.reduce_sum(shrink(x, N1)), x)[0])(image).numpy()
    assert (gradient != 0).all()


def test_box_shrink_matches_opencv_area_for_uneven_sizes():
    from physstd.ops import shrink
    image = _photo()
    for size in (5, 48, 100):
        want = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
        np.testing.assert_allclose(shrink(image[None], size).numpy()[0], want, atol=2e-5, rtol=0)


@pytest.mark.parametrize("n", [N1, N2, 5])
def test_point_lowpass_is_the_former_bilinear_resize(n):
    image = np.stack([_photo(), _noise()])
    small = tf.image.resize(image, (n, n), method="bilinear", antialias=False)
    want = tf.image.resize(small, (N, N), method="bilinear", antialias=False).numpy()
    np.testing.assert_allclose(lowpass(image, n, "point").numpy(), want, atol=1e-5, rtol=0)
    np.testing.assert_allclose(lowpass(image, n).numpy(),
                               tf.image.resize(tf.image.resize(image, (n, n), method="area"), (N, N),
                                               method="bilinear").numpy(), atol=1e-5, rtol=0)


def test_box_lowpass_rejects_an_unknown_mode():
    with pytest.raises(ValueError, match="lowpass mode"):
        lowpass(np.zeros((1, N, N, 3), np.float32), N1, "gaussian")
