import os

import cv2
import numpy as np
import pytest
import skimage.data

from physstd.data import detect, face_model, geometry, prepared, preprocess, stdn_import

STDN_SIZE = 160   # STDN frames are face crops; ours are re-cropped from their landmarks


@pytest.fixture(scope="module")
def stdn_frame():
    """An STDN-style face crop of the astronaut and its 68 landmarks in the crop's pixels."""
    image = skimage.data.astronaut()
    points = detect.LandmarkDetector()(image)
    x0, y0 = points.min(axis=0) - 20
    side = float(np.ptp(points, axis=0).max() + 40)
    scale = STDN_SIZE / side
    affine = np.array([[scale, 0, -scale * x0], [0, scale, -scale * y0]])
    crop = cv2.warpAffine(image, affine, (STDN_SIZE, STDN_SIZE), flags=cv2.INTER_AREA)
    return crop, preprocess.transform_points(points, affine)


def _write_stdn_video(folder, crop, landmarks, frames=3):
    os.makedirs(folder)
    for k in range(1, frames + 1):   # STDN names frames 1.png, 2.png, ...
        shift = np.array([k - 1, 0])
        cv2.imwrite(os.path.join(folder, f"{k}.png"), cv2.cvtColor(np.roll(crop, k - 1, axis=1), cv2.COLOR_RGB2BGR))
        np.save(os.path.join(folder, f"{k}.npy"), landmarks + shift)


def test_stdn_import_crops_with_the_given_landmarks(tmp_path, stdn_frame, monkeypatch):
    crop, landmarks = stdn_frame
    raw = tmp_path / "stdn"
    _write_stdn_video(raw / "train" / "live" / "1", crop, landmarks, frames=3)
    _write_stdn_video(raw / "train" / "spoof" / "7", crop, landmarks, frames=2)
    # No detection may run on this path.
    monkeypatch.setattr(preprocess.LandmarkDetector, "__call__", lambda self, rgb: pytest.fail("detector ran"))
    summary = stdn_import.import_stdn(str(raw), str(tmp_path / "out"), image_size=64, spoof_type="funny_eye",
                                      log=lambda message: None)
    assert summary.ok and summary.done == 2 and summary.frames_written == 5

    data = prepared.PreparedDataset(str(tmp_path / "out"))
    assert data.meta["dataset"] == "stdn"
    rows = {r["video_id"]: r for r in data.index}
    assert rows["train_live_1"]["label"] == 0 and rows["train_live_1"]["path"] == "train/live/1"
    assert rows["train_spoof_7"]["spoof_type"] == "funny_eye" and rows["train_spoof_7"]["label"] == 1
    live = data.load_video("train_live_1")
    np.testing.assert_array_equal(live["frame_numbers"], [0, 1, 2])
    for k in range(3):
        given = face_model.derive_landmarks(landmarks + (k, 0))
        expected = preprocess.transform_points(given, preprocess.crop_affine(given[:68], 64))
        np.testing.assert_allclose(live["landmarks"][k], expected, atol=1e-4)
    np.testing.assert_allclose(expected[:68], _canonicalised(landmarks + (2, 0), 64), atol=1e-4)
    # Frame by frame the same as preparing the STDN image with its landmarks directly.
    direct = preprocess.FacePreprocessor(64).process_landmarks(
        preprocess.read_image(str(raw / "train" / "live" / "1" / "3.png")), landmarks + (2, 0))
    np.testing.assert_allclose(live["depth"][2], direct.depth)
    np.testing.assert_array_equal(data.load_frame("train_live_1", 2), direct.crop)
    assert live["depth"].max() > 0.5
    spoof = data.load_video("train_spoof_7")
    assert spoof["depth"].max() == 0
    np.testing.assert_array_equal(spoof["p0"][1], geometry.preliminary_mask(spoof["landmarks"][1], "lower_face", 64))


def _canonicalised(points68, size):
    """The crop rule written out: box of the landmarks, 1.5x its longer side, moved up 0.1x, to 0..size-1."""
    low, high = points68.min(axis=0), points68.max(axis=0)
    extent = (high - low).max()
    centre = (low + high) / 2 - (0, 0.1 * extent)
    return (points68 - (centre - 0.75 * extent)) * (size - 1) / (1.5 * extent)


def test_stdn_bad_landmark_files_fail_only_their_video(tmp_path, stdn_frame):
    crop, landmarks = stdn_frame
    raw = tmp_path / "stdn"
    _write_stdn_video(raw / "live" / "good", crop, landmarks, frames=2)
    _write_stdn_video(raw / "spoof" / "bad", crop, landmarks, frames=2)
    np.save(raw / "spoof" / "bad" / "2.npy", np.zeros((2, 68)))
    _write_stdn_video(raw / "spoof" / "missing", crop, landmarks, frames=1)
    os.remove(raw / "spoof" / "missing" / "1.npy")
    os.makedirs(raw / "spoof" / "empty")
    messages = []
    summary = stdn_import.import_stdn(str(raw), str(tmp_path / "out"), image_size=32, log=messages.append)
    assert summary.done == 1 and not summary.ok
    failed = "\n".join(m for _, m in summary.failures)
    assert "bad/2.npy: expected (68, 2) or (140, 2) (x, y) landmarks, got shape (2, 68)" in failed
    assert "missing/1.npy: landmark file missing" in failed
    assert "empty: STDN video folder without frame images" in failed
    assert any("FAILED" in m and "bad/2.npy" in m for m in messages)
    assert prepared.PreparedDataset(str(tmp_path / "out")).video_ids == ["live_good"]
    assert not os.path.exists(tmp_path / "out" / "spoof")


def test_stdn_jobs_reject_unknown_spoof_type(tmp_path):
    with pytest.raises(ValueError, match="spoof_type 'mask' must be one of replay, print"):
        stdn_import.stdn_jobs(str(tmp_path), "mask")
