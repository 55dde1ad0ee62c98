import json
import os
import types

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
    assert data.meta == {"format_version": 1, "dataset": "unit", "image_size": N, "depth_size": K,
                         "num_landmarks": 140}
    assert data.video_ids == ["v_live", "v_print", "v_eye"]
    assert data.row("v_live") == {"video_id": "v_live", "path": "videos/v_live", "label": 0, "spoof_type": "live",
                                  "subject": "s1", "num_frames": 3, "phone": "2"}
    assert data.row("v_print")["phone"] == ""
    arrays = data.load_video("v_live")
    np.testing.assert_array_equal(data.load_frames("v_live"), np.stack([f.crop for f in live]))   # PNG is lossless
    np.testing.assert_array_equal(arrays["landmarks"], np.stack([f.landmarks for f in live]))
    np.testing.assert_array_equal(arrays["depth"], np.stack([f.depth for f in live]))
    np.testing.assert_array_equal(arrays["frame_numbers"], [0, 3, 6])
    assert arrays["frame_numbers"].dtype == np.int32
    np.testing.assert_array_equal(arrays["p0"], np.zeros((3, N, N)))
    spoof_arrays = data.load_video("v_print")
    np.testing.assert_array_equal(spoof_arrays["depth"], np.zeros((2, K, K)))   # M0 = 0 for spoof
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
        json.dump({"format_version": 2, "dataset": "unit", "image_size": N, "depth_size": K, "num_landmarks": 140}, f)
    with pytest.raises(prepared.PreparedFormatError, match="meta.json: format_version 2 is not supported"):
        prepared.PreparedDataset(root)
