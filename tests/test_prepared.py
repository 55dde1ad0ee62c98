import json
import os
import re
import shutil
import types

import cv2
import numpy as np
import pytest

from physstd.data import face_model, geometry, prepared

N, K = 32, 4


def _frames(count, seed=0):
    rng = np.random.default_rng(seed)
    base = face_model.canonical_landmarks(N)
    return [types.SimpleNamespace(crop=rng.integers(0, 256, (N, N, 3), dtype=np.uint8),
                                  landmarks=(base + rng.normal(0, 0.5, base.shape)).astype(np.float32),
                                  depth=rng.random((K, K), dtype=np.float32), frame_number=3 * k)
            for k in range(count)]


def _record(video_id, spoof_type="live", **extra):
    return dict(video_id=video_id, path=f"videos/{video_id}", label=int(spoof_type != "live"),
                spoof_type=spoof_type, subject="s1", **extra)


def test_round_trip_of_live_and_spoof_videos(tmp_path):
    writer = prepared.DatasetWriter(str(tmp_path), "unit", N)
    live, spoof = _frames(3, seed=1), _frames(2, seed=2)
    writer.write_video(_record("v_live", phone=2), live, "none")
    writer.write_video(_record("v_print", "print"), spoof)      # p0 region from the spoof type: 'whole'
    writer.write_video(_record("v_eye", "funny_eye"), spoof)    # 'lower_face'

    data = prepared.PreparedDataset(str(tmp_path))
    assert data.meta == {"format_version": 2, "dataset": "unit", "image_size": N, "depth_size": K,
                         "num_landmarks": 140}
    assert data.video_ids == ["v_live", "v_print", "v_eye"]
    assert data.row("v_live") == {"video_id": "v_live", "path": "videos/v_live", "label": 0, "spoof_type": "live",
                                  "subject": "s1", "num_frames": 3, "phone": "2"}
    assert data.row("v_print")["phone"] == ""
    arrays = data.load_video("v_live")
    np.testing.assert_array_equal(data.load_frames("v_live"), np.stack([f.crop for f in live]))   # PNG is lossless
    np.testing.assert_array_equal(arrays["landmarks"], np.stack([f.landmarks for f in live]))
    np.testing.assert_array_equal(arrays["depth"], np.stack([f.depth for f in live]))
    np.testing.assert_array_equal(arrays["face_depth"], arrays["depth"])
    np.testing.assert_array_equal(arrays["frame_numbers"], [0, 3, 6])
    assert arrays["frame_numbers"].dtype == np.int32
    np.testing.assert_array_equal(arrays["p0"], np.zeros((3, N, N)))
    spoof_arrays = data.load_video("v_print")
    np.testing.assert_array_equal(spoof_arrays["depth"], np.zeros((2, K, K)))   # M0 = 0 for spoof
    np.testing.assert_array_equal(spoof_arrays["face_depth"], np.stack([f.depth for f in spoof]))   # kept (v2)
    np.testing.assert_array_equal(spoof_arrays["p0"], np.ones((2, N, N)))
    eye = data.load_video("v_eye")
    for k, frame in enumerate(spoof):
        np.testing.assert_array_equal(eye["p0"][k], geometry.preliminary_mask(frame.landmarks, "lower_face", N))
    assert data.load_truth("v_live") is None


def test_truth_round_trip_and_shape_check(tmp_path):
    writer = prepared.DatasetWriter(str(tmp_path), "synthetic", N)
    frames = _frames(2)
    rng = np.random.default_rng(0)
    truth = {"trace": rng.normal(size=(2, N, N, 3)), "mask": rng.random((2, N, N)),
             "content": rng.random((2, N, N, 3)), "live": rng.random((2, N, N, 3))}
    writer.write_video(_record("a", "print"), frames, extra_truth=truth)
    loaded = prepared.PreparedDataset(str(tmp_path)).load_truth("a")
    for key, value in truth.items():
        assert loaded[key].dtype == np.float32
        np.testing.assert_allclose(loaded[key], value.astype(np.float32))
    with pytest.raises(ValueError, match=r"truth 'mask' must be \(2, 32, 32\)"):
        writer.write_video(_record("b", "print"), frames, extra_truth={"mask": np.zeros((2, N, N, 1))})
    assert not writer.is_done("b") and not os.path.exists(tmp_path / "videos" / "b")


def _depths(count, seed=0, dtype=np.uint16):
    rng = np.random.default_rng(seed)
    depths = rng.integers(0, np.iinfo(dtype).max, (count, N, N), endpoint=True).astype(dtype)
    depths[:, :4, :4] = 0   # holes
    return depths


@pytest.mark.parametrize("units, dtype", [("mm", np.uint16), ("uint8", np.uint8)])
def test_rgbd_round_trip_lists_the_modalities_and_the_units(tmp_path, units, dtype):
    root = str(tmp_path)
    writer = prepared.DatasetWriter(root, "rgbd", N, depth_units=units)
    frames, depths = _frames(3), _depths(3, dtype=dtype)
    writer.write_video(_record("a"), frames, sensor_depth=depths)
    with writer.open_video(_record("b", "print")) as video:   # streaming, one frame at a time
        video.add(frames[0], sensor_depth=depths[2])
    with open(os.path.join(root, prepared.META_FILE)) as f:
        assert json.load(f) == {"format_version": 2, "dataset": "rgbd", "image_size": N, "depth_size": K,
                                "num_landmarks": 140, "modalities": ["rgb", "sensor_depth"], "depth_units": units}
    data = prepared.PreparedDataset(root)
    assert data.modalities == ("rgb", "sensor_depth") and data.depth_units == units
    np.testing.assert_array_equal(data.load_sensor_depths("a"), depths)
    assert data.load_sensor_depth("b", 0).dtype == dtype
    np.testing.assert_array_equal(data.load_sensor_depth("b", 0), depths[2])
    assert data.sensor_depth_path("a", 1) == os.path.join(root, "videos", "a", "sensor_depth", "000001.png")
    np.testing.assert_array_equal(data.load_frames("a"), np.stack([f.crop for f in frames]))   # RGB as before

    os.remove(data.sensor_depth_path("a", 1))
    with pytest.raises(prepared.PreparedFormatError, match=r"a/sensor_depth/000001.png: missing"):
        data.load_sensor_depths("a")
    other = np.zeros((N, N), np.uint8 if dtype == np.uint16 else np.uint16)
    cv2.imwrite(data.sensor_depth_path("a", 1), other)
    with pytest.raises(prepared.PreparedFormatError, match=rf"000001.png: expected a 32x32 {np.dtype(dtype).name} "
                                                           rf"depth PNG \(depth_units {units}\)"):
        data.load_sensor_depth("a", 1)


def test_an_rgbd_writer_needs_every_depth_frame_and_an_rgb_writer_none(tmp_path):
    rgbd = prepared.DatasetWriter(str(tmp_path / "rgbd"), "rgbd", N, depth_units="mm")
    with pytest.raises(ValueError, match=r"every frame of an RGB-D set \(depth_units mm\) needs its sensor depth "
                                         r"crop, \(32, 32\) uint16; got none"):
        rgbd.write_video(_record("a"), _frames(2))
    with pytest.raises(ValueError, match=r"got \(32, 32\) uint8"):
        rgbd.write_video(_record("a"), _frames(2), sensor_depth=_depths(2, dtype=np.uint8))
    with pytest.raises(ValueError, match="2 frames but 3 sensor depth frames"):
        rgbd.write_video(_record("a"), _frames(2), sensor_depth=_depths(3))
    assert rgbd.rows == [] and not os.path.exists(tmp_path / "rgbd" / "videos")
    rgb = prepared.DatasetWriter(str(tmp_path / "rgb"), "rgb", N)
    with pytest.raises(ValueError, match="a sensor depth frame given to an RGB set's writer"):
        rgb.write_video(_record("a"), _frames(2), sensor_depth=_depths(2))
    with pytest.raises(ValueError, match="depth_units must be None"):
        prepared.DatasetWriter(str(tmp_path / "bad"), "rgbd", N, depth_units="metres")
    # An RGB set is not resumed as an RGB-D one, nor the other way round.
    rgb.write_video(_record("a"), _frames(1))
    with pytest.raises(prepared.PreparedFormatError, match="meta.json: the existing dataset has"):
        prepared.DatasetWriter(str(tmp_path / "rgb"), "rgb", N, depth_units="mm")
    with pytest.raises(prepared.PreparedFormatError, match="meta.json: the existing dataset has"):
        prepared.DatasetWriter(str(tmp_path / "rgbd"), "rgbd", N)


def test_rgb_sets_keep_their_meta_and_read_as_rgb_only(tmp_path):
    """An RGB set's meta.json is what it was before RGB-D data (no modalities key), and such a set, written by any
    version, reads with the modalities ('rgb',); asking it for sensor depth names its meta.json."""
    root = str(tmp_path)
    prepared.DatasetWriter(root, "rgb", N).write_video(_record("a"), _frames(2))
    with open(os.path.join(root, prepared.META_FILE)) as f:
        meta = json.load(f)
    assert meta == {"format_version": 2, "dataset": "rgb", "image_size": N, "depth_size": K, "num_landmarks": 140}
    assert not os.path.exists(os.path.join(root, "videos", "a", "sensor_depth"))
    data = prepared.PreparedDataset(root)
    assert data.modalities == ("rgb",) and data.depth_units is None
    with pytest.raises(prepared.PreparedFormatError, match=r"meta.json: the set has no sensor depth \(modalities "
                                                           r"rgb\)"):
        data.load_sensor_depth("a", 0)
    for listed in ({"modalities": ["rgb"]}, {}):   # an explicit RGB list reads the same
        with open(os.path.join(root, prepared.META_FILE), "w") as f:
            json.dump(dict(meta, **listed), f)
        assert prepared.PreparedDataset(root).modalities == ("rgb",)
    for bad in ({"modalities": ["rgb", "sensor_depth"]}, {"modalities": ["rgb", "sensor_depth"], "depth_units": "m"},
                {"depth_units": "mm"}, {"modalities": ["depth"], "depth_units": "mm"}):
        with open(os.path.join(root, prepared.META_FILE), "w") as f:
            json.dump(dict(meta, **bad), f)
        with pytest.raises(prepared.PreparedFormatError, match=r"meta.json: expected no \"modalities\" \(an RGB "
                                                               r"set\).*depth_units\" one of mm, uint8; got"):
            prepared.PreparedDataset(root)


def _visible_state(root):
    with open(os.path.join(root, prepared.INDEX_FILE)) as f:
        index = f.read()
    return index, sorted(os.listdir(root))


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_an_interrupted_video_leaves_nothing_visible(tmp_path, error):
    root = str(tmp_path)
    writer = prepared.DatasetWriter(root, "unit", N)
    writer.write_video(_record("done"), _frames(2))
    before = _visible_state(root)

    def frames_then_crash():
        yield from _frames(2)
        raise error("stopped mid-video")

    with pytest.raises(error):
        writer.write_video(_record("broken"), frames_then_crash())
    assert _visible_state(root) == before   # index unchanged, no video folder, no .partial left
    assert not os.path.exists(os.path.join(root, "videos", "broken"))
    assert not writer.is_done("broken")
    assert prepared.PreparedDataset(root).video_ids == ["done"]


def test_resume_skips_finished_videos_and_replaces_unindexed_leftovers(tmp_path):
    root = str(tmp_path)
    writer = prepared.DatasetWriter(root, "unit", N)
    writer.write_video(_record("a"), _frames(2))
    # A run stopped after moving the folder into place but before its index row.
    writer.write_video(_record("b"), _frames(3), register=False)
    os.makedirs(os.path.join(root, prepared.PARTIAL_DIR, "123-dead"))   # a killed worker's leftover

    resumed = prepared.DatasetWriter(root, "unit", N)
    assert not os.path.exists(os.path.join(root, prepared.PARTIAL_DIR))
    assert resumed.is_done("a") and not resumed.is_done("b")
    with pytest.raises(ValueError, match="already written"):
        resumed.write_video(_record("a"), _frames(1))
    resumed.write_video(_record("b"), _frames(1, seed=5))
    data = prepared.PreparedDataset(root)
    assert [r["num_frames"] for r in data.index] == [2, 1]
    assert len(os.listdir(os.path.join(root, "videos", "b", prepared.FRAMES_DIR))) == 1
    with pytest.raises(prepared.PreparedFormatError, match="meta.json.*another output folder"):
        prepared.DatasetWriter(root, "unit", 64)


def test_records_are_validated(tmp_path):
    writer = prepared.DatasetWriter(str(tmp_path), "unit", N)
    with pytest.raises(ValueError, match="disagree"):
        writer.write_video(dict(_record("x"), label=1), _frames(1))
    with pytest.raises(ValueError, match="must be relative"):
        writer.write_video(dict(_record("x"), path="../x"), _frames(1))
    with pytest.raises(ValueError, match="lacks subject"):
        writer.write_video({k: v for k, v in _record("x").items() if k != "subject"}, _frames(1))
    with pytest.raises(ValueError, match=r"crop must be \(32, 32, 3\) uint8"):
        bad = _frames(1)[0]
        bad.crop = bad.crop.astype(np.float32)
        writer.write_video(_record("x"), [bad])
    with pytest.raises(ValueError, match="no frames"):
        writer.write_video(_record("x"), [])
    assert writer.rows == []


def test_reader_errors_name_the_file(tmp_path):
    root = str(tmp_path)
    with pytest.raises(prepared.PreparedFormatError, match="meta.json: missing"):
        prepared.PreparedDataset(root)
    writer = prepared.DatasetWriter(root, "unit", N)
    writer.write_video(_record("a"), _frames(2))
    video_dir = os.path.join(root, "videos", "a")

    arrays_path = os.path.join(video_dir, prepared.ARRAYS_FILE)
    good = dict(np.load(arrays_path))
    np.savez(arrays_path, **dict(good, depth=np.zeros((2, K + 1, K), np.float32)))
    with pytest.raises(prepared.PreparedFormatError, match=r"arrays.npz: depth must be \(2, 4, 4\) float32"):
        prepared.PreparedDataset(root).load_video("a")
    np.savez(arrays_path, **dict(good, landmarks=np.array([{"x": 1}, None], dtype=object)))
    with pytest.raises(prepared.PreparedFormatError, match="arrays.npz: not a readable .npz"):
        prepared.PreparedDataset(root).load_video("a")   # object arrays need pickles: refused

    os.remove(os.path.join(video_dir, prepared.FRAMES_DIR, prepared.frame_filename(1)))
    with pytest.raises(prepared.PreparedFormatError, match="000001.png: missing"):
        prepared.PreparedDataset(root).load_frames("a")

    index_path = os.path.join(root, prepared.INDEX_FILE)
    with open(index_path, "a") as f:
        f.write("b,videos/b,2,print,s1,1\n")
    with pytest.raises(prepared.PreparedFormatError, match="index.csv line 3: expected label 0/1"):
        prepared.PreparedDataset(root)

    with open(os.path.join(root, prepared.META_FILE), "w") as f:
        json.dump({"format_version": 3, "dataset": "unit", "image_size": N, "depth_size": K, "num_landmarks": 140}, f)
    with pytest.raises(prepared.PreparedFormatError, match="meta.json: format_version 3 is not supported "
                                                           r"\(this code reads versions 1, 2\)"):
        prepared.PreparedDataset(root)


def test_face_depth_errors_name_the_file(tmp_path):
    root = str(tmp_path)
    prepared.DatasetWriter(root, "unit", N).write_video(_record("a", "print"), _frames(2))
    arrays_path = os.path.join(root, "videos", "a", prepared.ARRAYS_FILE)
    good = dict(np.load(arrays_path))
    cases = [({k: v for k, v in good.items() if k != "face_depth"}, "lacks array 'face_depth'"),
             (dict(good, face_depth=good["face_depth"][:, :, :2]), r"face_depth must be \(2, 4, 4\) float32"),
             (dict(good, face_depth=good["face_depth"].astype(np.float64)), r"face_depth must be \(2, 4, 4\) float32"),
             (dict(good, face_depth=good["face_depth"] * 1e6), r"face_depth must lie in \[0, 1\]"),
             (dict(good, face_depth=np.full_like(good["face_depth"], np.nan)), r"face_depth must lie in \[0, 1\]")]
    for arrays, message in cases:
        np.savez(arrays_path, **arrays)
        with pytest.raises(prepared.PreparedFormatError, match=re.escape(arrays_path) + ": " + message):
            prepared.PreparedDataset(root).load_video("a")


# --- face_depth (format 2) and version 1 data ---------------------------------------------------------------
FACE_N = 64   # K = 8: enough pixels for a face-shaped depth map


def _fitted_frames(count, seed=0):
    """PreparedFrames made the way run_preprocess.py makes them, from given landmarks of a rotated face."""
    from physstd.data.preprocess import FacePreprocessor

    rng = np.random.default_rng(seed)
    processor = FacePreprocessor(FACE_N)
    frames = []
    for k in range(count):
        angle = rng.uniform(-0.2, 0.2)
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        points = face_model.canonical_landmarks(100, face_model.NUM_DETECTED) @ rotation.T + rng.uniform(20, 40, 2)
        image = rng.integers(0, 256, (160, 160, 3), dtype=np.uint8)
        frames.append(processor.process_landmarks(image, points + rng.normal(0, 0.5, points.shape), k))
    return frames


def _reference_face_depth(landmarks, size, depth_size):
    """The fitted face's depth composed here from the fit and the rasteriser: the detected (x, y) of all
    140 points with the z of the mean face fitted to the first 68."""
    fit = geometry.fit_weak_perspective(np.asarray(landmarks, np.float64)[:face_model.NUM_DETECTED])
    z = face_model.derive_landmarks(fit.shape)[:, 2]
    return geometry.render_depth(np.column_stack([landmarks, z]), size, depth_size)


@pytest.fixture(scope="module")
def fitted_set(tmp_path_factory):
    """A format-2 set of one live and one spoof video of fitted frames, and those frames."""
    root = str(tmp_path_factory.mktemp("fitted"))
    frames = _fitted_frames(3)
    writer = prepared.DatasetWriter(root, "unit", FACE_N)
    writer.write_video(_record("live"), frames)
    writer.write_video(_record("spoof", "replay"), frames)
    return root, frames


def test_spoof_face_depth_is_the_fitted_face(fitted_set):
    root, frames = fitted_set
    data = prepared.PreparedDataset(root)
    live, spoof = data.load_video("live"), data.load_video("spoof")
    k = FACE_N // 8
    for f, frame in enumerate(frames):
        # What the preprocessing fitted (from its float64 landmarks) is stored unchanged.
        np.testing.assert_array_equal(spoof["face_depth"][f], frame.depth)
        reference = _reference_face_depth(frame.landmarks.astype(np.float64), FACE_N, k)
        np.testing.assert_allclose(spoof["face_depth"][f], reference, atol=1e-5)
        # A face: nearest (1) at the nose tip's depth pixel, background 0 in the corners.
        tip = np.round((frame.landmarks[30] + 0.5) * k / FACE_N - 0.5).astype(int)
        assert spoof["face_depth"][f].max() == pytest.approx(1.0, abs=0.15)
        assert spoof["face_depth"][f][tip[1], tip[0]] >= spoof["face_depth"][f].max() - 0.15
        assert spoof["face_depth"][f][0, 0] == spoof["face_depth"][f][-1, -1] == 0.0
    np.testing.assert_array_equal(spoof["depth"], 0.0)                          # M0 stays 0 for spoof
    np.testing.assert_array_equal(live["depth"], spoof["face_depth"])          # the same face, live or spoof
    np.testing.assert_array_equal(live["face_depth"], live["depth"])


def _as_version_1(root):
    """Turn a format-2 set into what the version 1 writer made: no face_depth, meta format_version 1."""
    meta_path = os.path.join(root, prepared.META_FILE)
    with open(meta_path) as f:
        meta = json.load(f)
    with open(meta_path, "w") as f:
        json.dump(dict(meta, format_version=1), f)
    for row in prepared.read_index(root)[0]:
        path = os.path.join(root, row["path"], prepared.ARRAYS_FILE)
        arrays = dict(np.load(path))
        del arrays["face_depth"]
        np.savez_compressed(path, **arrays)


def test_version_1_data_gets_face_depth_fitted_from_its_landmarks(fitted_set, tmp_path):
    root = str(tmp_path / "v1")
    shutil.copytree(fitted_set[0], root)
    _as_version_1(root)
    version_2 = prepared.PreparedDataset(fitted_set[0])
    data = prepared.PreparedDataset(root)
    assert data.meta["format_version"] == 1
    for video in ("live", "spoof"):
        arrays, expected = data.load_video(video), version_2.load_video(video)
        assert set(arrays) == set(prepared.ARRAY_KEYS) and arrays["face_depth"].dtype == np.float32
        for key in ("landmarks", "depth", "p0", "frame_numbers"):
            np.testing.assert_array_equal(arrays[key], expected[key])
        # Fitted again from the float32 landmarks: equal up to their rounding.
        np.testing.assert_allclose(arrays["face_depth"], expected["face_depth"], atol=1e-5)
    np.testing.assert_array_equal(data.load_video("live")["face_depth"], version_2.load_video("live")["depth"])
    # The writer adds no version 2 video to a version 1 folder.
    with pytest.raises(prepared.PreparedFormatError, match="has format_version 1, this run writes 2; use a new"):
        prepared.DatasetWriter(root, "unit", FACE_N)


def test_version_1_data_without_140_landmarks_is_refused_clearly(tmp_path):
    root = str(tmp_path)
    points = face_model.canonical_landmarks(N, face_model.NUM_DETECTED).astype(np.float32)
    frames = [types.SimpleNamespace(crop=np.zeros((N, N, 3), np.uint8), landmarks=points,
                                    depth=np.zeros((K, K), np.float32), frame_number=0)]
    writer = prepared.DatasetWriter(root, "unit", N, num_landmarks=face_model.NUM_DETECTED)
    writer.write_video(_record("live"), frames)
    writer.write_video(_record("spoof", "print"), frames)
    _as_version_1(root)
    data = prepared.PreparedDataset(root)
    assert data.load_video("live")["face_depth"].shape == (1, K, K)   # live: its M0
    with pytest.raises(prepared.PreparedFormatError) as error:
        data.load_video("spoof")
    message = str(error.value)
    assert message.startswith(os.path.join(root, "videos", "spoof", prepared.ARRAYS_FILE) + ": format_version 1")
    assert "only from 140 landmarks (this set has 68)" in message and "run_preprocess.py" in message
    assert "\n" not in message


def test_toy_data_keeps_the_face_depth_of_its_spoof_frames(tmp_path):
    from physstd.data.toy import random_batch, write_toy_dataset

    write_toy_dataset(str(tmp_path), N, videos_per_class=1, frames_per_video=1)
    data = prepared.PreparedDataset(str(tmp_path))
    live, spoof = data.load_video("live_0"), data.load_video("print_0")
    yy, xx = np.mgrid[0:K, 0:K] / (K - 1) - 0.5
    bump = np.clip(1.0 - 4.0 * (xx ** 2 + yy ** 2), 0.0, 1.0).astype(np.float32)   # toy_data's face depth
    np.testing.assert_array_equal(live["depth"][0], bump)
    np.testing.assert_array_equal(spoof["face_depth"][0], bump)   # the same centred bump
    np.testing.assert_array_equal(spoof["depth"], 0.0)
    batch = random_batch(N, 2, as_tensors=False)
    np.testing.assert_array_equal(batch["spoof"]["face_depth"], batch["live"]["depth"])
    np.testing.assert_array_equal(batch["spoof"]["depth"], 0.0)
