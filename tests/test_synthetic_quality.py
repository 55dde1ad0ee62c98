"""The sharpness statistic of the synthetic-quality experiment (physstd.eval.image_quality) on hand-computed
gratings, and the degraded copies of the original-photos experiment."""
import numpy as np
import pytest

from physstd.eval.image_quality import degraded_copies, high_frequency_rms

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


def test_original_photo_copies():
    """The original-photos experiment's copies of a 256-pixel (+40, -40) grating: the photo unchanged; blur 1
    (sigma 1 px at 256, cv2's 7-tap kernel) scales the period-2 grating by sum_k w_k (-1)^k = 0.0142, +-0.57
    levels, which the 8-bit rounding makes +-1; the noise (sigma 2 levels, JPEG 75) stays within a few levels;
    half size halves both sides."""
    image = np.broadcast_to(np.where(np.arange(256) % 2, 88, 168).astype(np.uint8)[None, :, None], (256, 256, 3))
    copies = degraded_copies(image, np.random.default_rng(0))
    assert copies["photo"] is image
    assert copies["half size"].shape == (128, 128, 3)
    sharp, blurred = high_frequency_rms(np.stack([image, copies["blur 1"]]))
    assert sharp == pytest.approx(40.0, rel=1e-3) and blurred == pytest.approx(1.0, abs=1e-3)
    difference = copies["noise+jpeg75"].astype(np.float64) - image
    assert 0.5 < np.sqrt(np.mean(difference ** 2)) < 20.0


def test_video_plan_balances_the_train_only_photos():
    """The TRAIN_ONLY photos get one live video per spoof type, the other identities --live_videos."""
    from physstd.data import synthetic

    rows = synthetic.video_plan(["astronaut", "lfw_000"], ("print", "replay", "cosmetic"), live_videos=2)
    lives = {s: [r["video_id"] for r in rows if r["subject"] == s and r["label"] == 0] for s in ("astronaut", "lfw_000")}
    assert lives == {"astronaut": ["astronaut_live_0", "astronaut_live_1", "astronaut_live_2"],
                     "lfw_000": ["lfw_000_live_0", "lfw_000_live_1"]}
    assert synthetic.live_video_count("grace_hopper", 8, ("print",)) == 8
