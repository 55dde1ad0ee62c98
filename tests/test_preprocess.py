import hashlib
import os
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest
import skimage.data

from physstd.data import face_model, preprocess, prepared, sensor_depth
from physstd.data.preprocess import InputError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Astronaut (skimage, 512 x 512): her face lies within x 160..290, y 60..200 (checked by eye on the image).
FACE_REGION = (160, 60, 290, 200)


@pytest.fixture(scope="module")
def astronaut():
    return skimage.data.astronaut()


@pytest.fixture(scope="module")
def astronaut_landmarks(astronaut):
    return preprocess.LandmarkDetector()(astronaut)


def test_detection_finds_the_astronaut_face(astronaut, astronaut_landmarks):
    points = astronaut_landmarks
    assert points.shape == (68, 2)
    x0, y0, x1, y1 = FACE_REGION
    assert (points[:, 0] > x0).all() and (points[:, 0] < x1).all()
    assert (points[:, 1] > y0).all() and (points[:, 1] < y1).all()
    detector = preprocess.LandmarkDetector()
    left, top, right, bottom = detector.detect_face(cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY))
    side = right - left
    nose = points[30]
    assert abs(nose[0] - (left + right) / 2) < 0.1 * side and abs(nose[1] - (top + bottom) / 2) < 0.15 * side
    # Anatomy: brows above eyes above the nose tip above the mouth above the chin; the image-left eye first.
    assert points[17:27, 1].mean() < points[36:48, 1].mean() < nose[1] < points[48:68, 1].mean() < points[8, 1]
    assert points[36:42, 0].mean() < nose[0] < points[42:48, 0].mean()


def test_tracking_window_gives_the_full_search_landmarks(astronaut, astronaut_landmarks, monkeypatch):
    detector = preprocess.LandmarkDetector()
    searched = []
    search = detector._search
    monkeypatch.setattr(detector, "_search", lambda gray, *args: searched.append(gray.shape) or search(gray, *args))
    tracked = detector(astronaut, previous=astronaut_landmarks + (6.0, -4.0))   # the face moved a little
    np.testing.assert_allclose(tracked, astronaut_landmarks, atol=3.0)
    assert len(searched) == 1 and searched[0] != astronaut.shape[:2]   # found in the window: no full-frame search
    monkeypatch.undo()
    # A stale hint far from the face (bottom-right corner, no face there) falls back to the full frame.
    stale = face_model.mean_face_68()[:, :2] * 40 + (470, 470)
    np.testing.assert_allclose(detector(astronaut, previous=stale), astronaut_landmarks)


def test_a_window_view_is_searched_as_its_own_pixels(astronaut):
    # The tracking window is a strided view of the frame; dlib's detector ignores strides, so without a
    # contiguous copy it searched other memory (no face, or a heap-dependent one) instead of the window.
    gray = cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)
    window = gray[40:260, 120:340]
    assert not window.flags["C_CONTIGUOUS"]
    box = preprocess.LandmarkDetector._search(window, 1.0, (0,))
    assert box is not None and box == preprocess.LandmarkDetector._search(window.copy(), 1.0, (0,))
    left, top, right, bottom = preprocess.LandmarkDetector().detect_face(gray)
    np.testing.assert_allclose(np.add(box, (120, 40, 120, 40)), (left, top, right, bottom), atol=6)


def test_no_face_gives_none():
    flat = np.full((240, 320, 3), 128, np.uint8)
    assert preprocess.FacePreprocessor(64).process_frame(flat) is None


def test_crop_affine_is_the_face_model_crop_rule():
    points = face_model.mean_face_68()[:, :2] * 150 + (400, 300)
    affine = preprocess.crop_affine(points, 64)
    np.testing.assert_allclose(preprocess.transform_points(points, affine),
                               face_model.canonical_landmarks(64, face_model.NUM_DETECTED), atol=1e-9)
    x0, y0, side = face_model.crop_box(points)
    np.testing.assert_allclose(preprocess.transform_points([[x0, y0], [x0 + side, y0 + side]], affine),
                               [[0, 0], [63, 63]], atol=1e-9)


def _marker(shape, x, y, sigma):
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]]
    return np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma ** 2)).astype(np.float32)


def _centroid(image):
    ys, xs = np.mgrid[0:image.shape[0], 0:image.shape[1]]
    weights = image / image.sum()
    return np.array([(xs * weights).sum(), (ys * weights).sum()])


def test_cropped_landmarks_match_the_warped_marker(astronaut):
    frame = preprocess.FacePreprocessor(128).process_frame(astronaut, frame_number=7)
    assert frame.crop.shape == (128, 128, 3) and frame.crop.dtype == np.uint8 and frame.frame_number == 7
    assert frame.landmarks.shape == (140, 2) and frame.landmarks.dtype == np.float32
    inverse = np.linalg.inv(np.vstack([frame.affine, [0, 0, 1]]))[:2]
    source_points = preprocess.transform_points(frame.landmarks, inverse)
    for index in (30, 36, 8, 75):   # nose tip, an eye corner, chin, a derived forehead point
        marker = _marker(astronaut.shape, *source_points[index], sigma=4.0)
        warped = preprocess.warp_to_crop(marker, frame.affine, 128)
        np.testing.assert_allclose(_centroid(warped), frame.landmarks[index], atol=0.1)
    # The crop is the warped image itself.
    np.testing.assert_array_equal(frame.crop, preprocess.warp_to_crop(astronaut, frame.affine, 128))


def test_strong_downscaling_keeps_positions_and_averages_texture():
    # A 1-pixel checkerboard (Nyquist texture) with a marker: crop side 600 px -> 64 px (factor 9 averaging).
    height, width = 700, 900
    board = (np.indices((height, width)).sum(axis=0) % 2).astype(np.float32)
    affine = np.array([[63 / 600, 0, -63 / 600 * 150], [0, 63 / 600, -63 / 600 * 50]])
    warped = preprocess.warp_to_crop(board, affine, 64)
    assert np.abs(warped - 0.5).max() < 0.05     # plain bilinear sampling would give 0s and 1s
    marker = _marker((height, width), 432.0, 301.5, sigma=20.0)
    expected = preprocess.transform_points([[432.0, 301.5]], affine)[0]
    np.testing.assert_allclose(_centroid(preprocess.warp_to_crop(marker, affine, 64)), expected, atol=0.05)


def test_given_landmarks_skip_detection_and_keep_140_points(astronaut, astronaut_landmarks, monkeypatch):
    processor = preprocess.FacePreprocessor(64)
    monkeypatch.setattr(processor, "detector", None)   # any detection attempt would fail
    from_68 = processor.process_landmarks(astronaut, astronaut_landmarks)
    given_140 = face_model.derive_landmarks(astronaut_landmarks)
    given_140[100] += (3.0, -2.0)
    from_140 = processor.process_landmarks(astronaut, given_140)
    np.testing.assert_allclose(from_140.landmarks[:68], from_68.landmarks[:68])
    np.testing.assert_allclose(from_140.landmarks[100], from_68.landmarks[100]
                               + from_68.affine[:, :2] @ np.array([3.0, -2.0]), atol=1e-4)
    with pytest.raises(ValueError, match=r"\(68, 2\) or \(140, 2\)"):
        processor.process_landmarks(astronaut, astronaut_landmarks[:60])


def test_depth_of_the_astronaut_peaks_near_her_nose(astronaut):
    frame = preprocess.FacePreprocessor(256).process_frame(astronaut)
    assert frame.depth.shape == (32, 32) and frame.depth.max() > 0.9
    peak = np.array(np.unravel_index(np.argmax(frame.depth), frame.depth.shape))[::-1]
    nose_in_depth = (frame.landmarks[30] + 0.5) * 32 / 256 - 0.5
    assert np.abs(peak - nose_in_depth).max() <= 2
    assert frame.depth[0, 0] == 0 and frame.depth[-1, -1] == 0


# --- reading and bad input ------------------------------------------------------------------------------

def _write_video(path, frames, fps=10):
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


def _astronaut_frames(astronaut, count, size=256):
    small = cv2.resize(astronaut, (size, size), interpolation=cv2.INTER_AREA)
    return [np.roll(small, shift=2 * k, axis=1) for k in range(count)]


def test_read_video_samples_every_k_th_frame(tmp_path, astronaut):
    path = tmp_path / "clip.avi"
    frames = _astronaut_frames(astronaut, 7, 64)
    _write_video(path, frames)
    read = list(preprocess.read_video(str(path), every_k=3))
    assert [n for n, _ in read] == [0, 3, 6]
    assert read[1][1].shape == (64, 64, 3)
    assert np.abs(read[1][1].astype(int) - frames[3]).mean() < 8   # MJPG is lossy; RGB order kept
    assert [n for n, _ in preprocess.read_video(str(path), every_k=2, max_frames=2)] == [0, 2]


def test_bad_inputs_raise_one_clear_error_naming_the_file(tmp_path):
    corrupt = tmp_path / "corrupt.avi"
    corrupt.write_bytes(b"RIFF not really a video" * 50)
    with pytest.raises(InputError, match="corrupt.avi: cannot open the video"):
        list(preprocess.read_video(str(corrupt)))
    gray = tmp_path / "gray.png"
    cv2.imwrite(str(gray), np.zeros((20, 20), np.uint8))
    with pytest.raises(InputError, match="gray.png: expected an 8-bit RGB image, got a grayscale image"):
        preprocess.read_image(str(gray))
    rgba = tmp_path / "rgba.png"
    cv2.imwrite(str(rgba), np.zeros((20, 20, 4), np.uint8))
    with pytest.raises(InputError, match="rgba.png: expected an 8-bit RGB image, got a 4-channel image"):
        preprocess.read_image(str(rgba))
    deep = tmp_path / "deep.png"
    cv2.imwrite(str(deep), np.zeros((20, 20, 3), np.uint16))
    with pytest.raises(InputError, match="deep.png: expected an 8-bit RGB image, got a uint16 image"):
        preprocess.read_image(str(deep))
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((68, 3)))
    with pytest.raises(InputError, match=r"wrong.npy: expected \(68, 2\) or \(140, 2\).*got shape \(68, 3\)"):
        preprocess.read_landmarks(str(wrong))
    pickled = tmp_path / "pickled.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="pickled.npy: not a numeric .npy array"):
        preprocess.read_landmarks(str(pickled))
    with pytest.raises(InputError, match="missing.npy: landmark file missing"):
        preprocess.read_landmarks(str(tmp_path / "missing.npy"))


def test_dataset_jobs_use_the_official_names(tmp_path):
    for name in ("Train_files/1_1_01_1.avi", "Train_files/1_1_01_4.avi", "Train_files/notes.avi",
                 "Train_files/readme.txt"):
        os.makedirs(tmp_path / os.path.dirname(name), exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    jobs, failures = preprocess.dataset_jobs(str(tmp_path), "oulu")
    assert [j.record["video_id"] for j in jobs] == ["1_1_01_1", "1_1_01_4"]
    live, replay = (j.record for j in jobs)
    assert (live["label"], live["spoof_type"], live["subject"]) == (0, "live", "01")
    assert (replay["label"], replay["spoof_type"]) == (1, "replay")
    assert replay["path"] == "Train_files/1_1_01_4" and replay["source_path"] == "Train_files/1_1_01_4.avi"
    assert len(failures) == 1 and "notes.avi" in failures[0][1] and "oulu_npu" in failures[0][1]


def test_folder_jobs_and_unknown_type_folders(tmp_path):
    for name in ("live/a.avi", "print/subject7/b.mp4", "replay/c/000.png", "paper/d.avi"):
        os.makedirs(tmp_path / os.path.dirname(name), exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    jobs, failures = preprocess.folder_jobs(str(tmp_path))
    records = {j.record["video_id"]: j.record for j in jobs}
    assert sorted(records) == ["live_a", "print_subject7_b", "replay_c"]
    assert records["print_subject7_b"]["subject"] == "subject7" and records["print_subject7_b"]["label"] == 1
    assert records["replay_c"]["path"] == "replay/c" and records["live_a"]["subject"] == "live_a"
    assert len(failures) == 1 and "paper: folder name is not a spoof type" in failures[0][1]


class _InterruptedJob(preprocess.VideoJob):
    def frames(self, every_k=1, max_frames=None):
        image = skimage.data.astronaut()
        points = face_model.mean_face_68()[:, :2] * 100 + (225, 140)
        yield 0, image, points
        yield 1, image, points
        raise KeyboardInterrupt


def test_ctrl_c_mid_video_stops_the_run_and_indexes_nothing_of_that_video(tmp_path):
    root = str(tmp_path)
    writer = prepared.DatasetWriter(root, "unit", 32)
    record = dict(video_id="v", path="v", label=0, spoof_type="live", subject="s")
    messages = []
    summary = preprocess.preprocess_videos([_InterruptedJob("fake", record, landmark_files=True)], writer,
                                           log=messages.append)
    assert summary.interrupted and not summary.ok and summary.done == 0
    assert "INTERRUPTED" in summary.format()
    assert sorted(os.listdir(root)) == ["meta.json"]   # no index row, no video folder, no .partial
    assert not prepared.DatasetWriter(root, "unit", 32).is_done("v")


class _DepthJob(preprocess.VideoJob):
    """An RGB-D reader's job: frames with given landmarks and a sensor depth registered to them (4-tuples)."""

    def frames(self, every_k=1, max_frames=None):
        image = skimage.data.astronaut()
        points = face_model.mean_face_68()[:, :2] * 100 + (225, 140)
        for number, depth in enumerate(self.record["depths"]):
            yield number, image, points, depth


def test_a_job_yielding_sensor_depth_gets_it_cropped_with_the_rgb_affine(tmp_path):
    ys, xs = np.mgrid[0:512, 0:512]
    depth = (600 + xs // 4 + ys // 8).astype(np.uint16)
    depth[150:260, 200:260] = 0   # a hole over the face
    depths = [depth, depth // 2, np.zeros((10, 10), np.uint16)]
    root = str(tmp_path / "rgbd")
    writer = prepared.DatasetWriter(root, "unit", 32, depth_units="mm")
    record = dict(video_id="v", path="v", label=0, spoof_type="live", subject="s")
    jobs = [_DepthJob("fake", dict(record, depths=depths[:2])),
            _DepthJob("small", dict(record, video_id="w", path="w", depths=depths[2:]))]
    summary = preprocess.preprocess_videos(jobs, writer, log=lambda message: None)
    assert summary.done == 1 and [source for source, _ in summary.failures] == ["small"]
    assert "small frame 0: the sensor depth is 10x10, the RGB frame 512x512" in summary.failures[0][1]
    data = prepared.PreparedDataset(root)
    affine = preprocess.crop_affine(face_model.mean_face_68()[:, :2] * 100 + (225, 140), 32)
    crops = data.load_sensor_depths("v")
    for crop, source in zip(crops, depths):
        np.testing.assert_array_equal(crop, sensor_depth.warp_depth_to_crop(source, affine, 32))
    assert (crops[0] == 0).sum() > 20 and (crops[0] > 600).sum() > 500   # the hole and the plane both kept
    # A job yielding 3-tuples (every RGB reader) prepares an RGB set as before.
    rgb = prepared.DatasetWriter(str(tmp_path / "rgb"), "unit", 32)
    summary = preprocess.preprocess_videos([_RgbJob("rgb", record, landmark_files=True)], rgb, log=lambda m: None)
    assert summary.done == 1 and not summary.failures
    np.testing.assert_array_equal(prepared.PreparedDataset(str(tmp_path / "rgb")).load_frames("v"),
                                  data.load_frames("v"))


class _RgbJob(preprocess.VideoJob):
    def frames(self, every_k=1, max_frames=None):
        for number in range(2):
            yield number, skimage.data.astronaut(), face_model.mean_face_68()[:, :2] * 100 + (225, 140)


# Prints one md5 per frame of a video preprocessed with tracking, as run_preprocess and predict.py do;
# argv: video, crop size, number of arrays to allocate and free first (another heap layout).
VIDEO_DIGESTS = """
import hashlib, sys
import numpy as np
from physstd.data import preprocess
junk = [np.ones(1000 * (k + 1), np.uint8) for k in range(int(sys.argv[3]))]
del junk
processor, previous = preprocess.FacePreprocessor(int(sys.argv[2])), None
for number, rgb in preprocess.read_video(sys.argv[1]):
    frame = processor.process_frame(rgb, number, previous)
    previous = preprocess.source_landmarks(frame)
    print(hashlib.md5(frame.crop.tobytes() + frame.landmarks.tobytes()).hexdigest())
"""


@pytest.mark.slow
def test_a_video_preprocesses_to_the_same_bytes_in_every_process(tmp_path, astronaut):
    path = tmp_path / "clip.avi"
    _write_video(path, [np.roll(astronaut, shift, axis=1) for shift in (0, 6, 12)])   # as test_predict's clip
    processor, previous, expected = preprocess.FacePreprocessor(32), None, []
    for number, rgb in preprocess.read_video(str(path)):
        frame = processor.process_frame(rgb, number, previous)
        previous = preprocess.source_landmarks(frame)
        expected.append(frame)
    outputs = []
    for seed, junk in (("1", 0), ("2", 7)):
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=REPO)
        run = subprocess.run([sys.executable, "-c", VIDEO_DIGESTS, str(path), "32", str(junk)],
                             capture_output=True, text=True, env=env, timeout=120)
        assert run.returncode == 0, run.stderr
        outputs.append(run.stdout.split())
    assert outputs[0] == outputs[1] == [hashlib.md5(f.crop.tobytes() + f.landmarks.tobytes()).hexdigest()
                                        for f in expected]


# --- the command line, end to end ------------------------------------------------------------------------

def _run_cli(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, os.path.join(REPO, "run_preprocess.py"), *args],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=120)


@pytest.mark.slow
def test_run_preprocess_end_to_end_with_bad_inputs_and_resume(tmp_path, astronaut):
    raw, out = tmp_path / "raw", tmp_path / "out"
    for folder in ("live", "print", "replay/gray_frames", "replay/blank_frames"):
        os.makedirs(raw / folder)
    _write_video(raw / "live" / "astro.avi", _astronaut_frames(astronaut, 6))
    _write_video(raw / "live" / "astro2.avi", _astronaut_frames(astronaut, 3)[::-1])
    (raw / "print" / "corrupt.avi").write_bytes(b"\x00garbage" * 64)
    cv2.imwrite(str(raw / "replay" / "gray_frames" / "0.png"), np.zeros((64, 64), np.uint8))
    for k in range(3):
        cv2.imwrite(str(raw / "replay" / "blank_frames" / f"{k}.png"), np.full((96, 96, 3), 90, np.uint8))

    result = _run_cli("--dataset=folder", f"--input_dir={raw}", f"--output_dir={out}", "--image_size=64",
                      "--every_k=2", "--workers=2")
    assert result.returncode == 1, result.stderr
    assert "live_astro: 3 frames written, 0 without a face |" in result.stderr
    assert "frames/s" in result.stderr
    summary = result.stdout
    assert "videos: 2 done, 0 skipped (already prepared), 3 failed of 5" in summary
    assert "corrupt.avi: cannot open the video" in summary
    assert "gray_frames/0.png: expected an 8-bit RGB image, got a grayscale image" in summary
    assert "blank_frames: no face found in any of the 2 frames read" in summary   # frames 0 and 2
    assert "frames: 5 read, 5 written, 0 without a face" in summary
    assert re.search(r"speed: [0-9.]+ frames/s", summary)

    data = prepared.PreparedDataset(str(out))
    assert sorted(data.video_ids) == ["live_astro", "live_astro2"]
    assert data.row("live_astro2")["num_frames"] == 2
    arrays = data.load_video("live_astro")
    np.testing.assert_array_equal(arrays["frame_numbers"], [0, 2, 4])
    assert data.load_frames("live_astro").shape == (3, 64, 64, 3)
    assert not os.path.exists(out / "replay") and not os.path.exists(out / prepared.PARTIAL_DIR)

    again = _run_cli("--dataset=folder", f"--input_dir={raw}", f"--output_dir={out}", "--image_size=64",
                     "--every_k=2")
    assert "videos: 0 done, 2 skipped (already prepared), 3 failed of 5" in again.stdout
    assert again.returncode == 1
    assert sorted(prepared.PreparedDataset(str(out)).video_ids) == ["live_astro", "live_astro2"]
