"""benchmarks.synthetic_quality's sharpness statistic on hand-computed gratings."""
import numpy as np
import pytest

from benchmarks.synthetic_quality import high_frequency_rms

SIZE = 32


def grating(pattern):
    """A (SIZE, SIZE, 3) uint8 grey image whose columns repeat `pattern` (8-bit levels about 128)."""
    column = 128 + np.resize(np.asarray(pattern, np.float64), SIZE)
    return np.repeat(np.broadcast_to(column, (SIZE, SIZE))[..., None], 3, axis=2).astype(np.uint8)


def test_high_band_rms_of_hand_computed_gratings():
    """Period 2 (+a, -a): the bilinear halving averages each pair to 128, so the whole grating is high band:
    RMS a. Period 4 (+a, +a, -a, -a): the halved grid alternates +-a, and bilinear upsampling puts +-a/2 back at
    every pixel away from the border (weights 3/4, 1/4), so the high band is +-a/2: RMS a/2. Constant: 0."""
    a = 20.0
    crops = np.stack([grating([a, -a]), grating([a, a, -a, -a]), np.full((SIZE, SIZE, 3), 90, np.uint8)])
    np.testing.assert_allclose(high_frequency_rms(crops), [a, a / 2, 0.0], rtol=1e-3, atol=1e-3)


def test_high_band_rms_ignores_the_crop_border():
    """Only the central 3/4 counts: one period of a (+a, -a) grating in the first two columns (its high band is
    +-a there and 0 elsewhere: the halving averages the pair to 128) scores 0."""
    image = np.full((SIZE, SIZE, 3), 128, np.uint8)
    image[:, :2] = grating([40, -40])[:, :2]
    assert high_frequency_rms(image[None])[0] == pytest.approx(0.0, abs=1e-3)
