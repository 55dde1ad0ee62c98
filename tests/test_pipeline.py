"""tf.data pipelines on a tiny prepared dataset written here with numpy/cv2 (the prepared layout of docs/data.md)."""
import collections
import csv
import json
import os

import cv2
import numpy as np
import pytest

from physstd.data import face_model, spoof_types

N, K, Q = 32, 4, face_model.NUM_LANDMARKS
# video_id -> (spoof_type, number of frames)
VIDEOS = {"live_a": ("live", 4), "live_b": ("live", 3), "live_c": ("live", 5),
          "print_a": ("print", 3), "print_b": ("print", 4), "replay_a": ("replay", 2), "mask_a": ("half_mask", 3)}


def _landmarks(rng):
    """The mean face under a small random similarity: a valid, non-folded mesh."""
    angle, scale = rng.uniform(-0.1, 0.1), rng.uniform(0.9, 1.05)
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    center = (N - 1) / 2.0
    points = (face_model.canonical_landmarks(N) - center) @ rotation.T + center + rng.uniform(-1, 1, 2)
    return points.astype(np.float32)


def write_fixture(root, with_truth=()):
    rng = np.random.default_rng(0)
    os.makedirs(root)
    with open(os.path.join(root, "meta.json"), "w") as f:
        json.dump({"format_version": 2, "dataset": "fixture", "image_size": N, "depth_size": K,
                   "num_landmarks": Q}, f)
    rows = []
    for video_id, (kind, frames) in VIDEOS.items():
        path = f"videos/{video_id}"
        os.makedirs(os.path.join(root, path, "frames"))
        for k in range(frames):
            image = rng.integers(0, 256, (N, N, 3), dtype=np.uint8)
            cv2.imwrite(os.path.join(root, path, "frames", f"{k:06d}.png"), image[:, :, ::-1])
        face_depth = rng.uniform(0, 1, (frames, K, K)).astype(np.float32)
        np.savez(os.path.join(root, path, "arrays.npz"),
                 landmarks=np.stack([_landmarks(rng) for _ in range(frames)]),
                 depth=face_depth * (kind == "live"), face_depth=face_depth,
                 p0=rng.integers(0, 2, (frames, N, N), dtype=np.uint8),
                 frame_numbers=(np.arange(frames) * 2).astype(np.int32))
        if video_id in with_truth:
            np.savez(os.path.join(root, path, "truth.npz"),
                     trace=rng.uniform(-1, 1, (frames, N, N, 3)).astype(np.float32),
                     mask=rng.uniform(0, 1, (frames, N, N)).astype(np.float32))
        rows.append({"video_id": video_id, "path": path, "label": int(kind != "live"), "spoof_type": kind,
                     "subject": video_id[-1], "num_frames": frames})
    with open(os.path.join(root, "index.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return str(root)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return write_fixture(str(tmp_path_factory.mktemp("prepared") / "set"), with_truth=("print_a", "print_b", "replay_a"))


def _raw(root, video_id, k):
    image = cv2.imread(os.path.join(root, "videos", video_id, "frames", f"{k:06d}.png"))[:, :, ::-1]
    with np.load(os.path.join(root, "videos", video_id, "arrays.npz")) as data:
        return image, {key: data[key][k] for key in data.files}


def _take(dataset, batches):
    return [{side: {key: value.numpy() for key, value in sample.items()} for side, sample in batch.items()}
            for batch in dataset.take(batches)]


def test_train_batch_shapes_dtypes_and_labels(root):
    from physstd.data import pipeline
    batch = _take(pipeline.train_dataset(root, list(VIDEOS), N, batch_pairs=4, seed=1), 1)[0]
    expected = {"image": ((4, N, N, 3), np.float32), "landmarks": ((4, Q, 2), np.float32),
                "bary_index": ((4, N, N), np.int32), "bary_weights": ((4, N, N, 3), np.float32),
                "depth": ((4, K, K, 1), np.float32), "face_depth": ((4, K, K, 1), np.float32),
                "p0": ((4, N, N, 1), np.float32), "spoof_type": ((4,), np.int32), "label": ((4,), np.int32)}
    for side in ("live", "spoof"):
        assert set(batch[side]) == set(expected)
        for key, (shape, dtype) in expected.items():
            assert batch[side][key].shape == shape and batch[side][key].dtype == dtype, (side, key)
        assert 0.0 <= batch[side]["image"].min() and batch[side]["image"].max() <= 1.0
        assert set(np.unique(batch[side]["p0"])) <= {0.0, 1.0}
    assert list(batch["live"]["label"]) == [0] * 4 and list(batch["live"]["spoof_type"]) == [0] * 4
    assert list(batch["spoof"]["label"]) == [1] * 4
    assert set(batch["spoof"]["spoof_type"]) <= {spoof_types.type_id(t) for t in ("print", "replay", "half_mask")}
    assert np.all(batch["spoof"]["depth"] == 0)
    assert np.all(batch["spoof"]["face_depth"].reshape(4, -1).max(axis=1) > 0.5)   # spoof frames keep their face


def test_balance_and_equal_spoof_type_sampling(root):
    from physstd.data import pipeline
    batches = _take(pipeline.train_dataset(root, list(VIDEOS), N, batch_pairs=3, seed=5, with_ids=True), 40)
    types = np.concatenate([b["spoof"]["spoof_type"] for b in batches])
    live_labels = np.concatenate([b["live"]["label"] for b in batches])
    assert len(types) == len(live_labels) == 120 and not live_labels.any()
    # Each block of 3 consecutive pairs holds each of the 3 types once; so 40 of each.
    assert collections.Counter(types.tolist()) == {spoof_types.type_id(t): 40 for t in ("print", "replay", "half_mask")}
    for block in types.reshape(-1, 3):
        assert len(set(block)) == 3
    assert len({tuple(block) for block in types.reshape(-1, 3)}) > 1          # the order varies
    spoof_ids = collections.Counter(i.decode() for b in batches for i in b["spoof"]["video_id"])
    live_ids = collections.Counter(i.decode() for b in batches for i in b["live"]["video_id"])
    assert set(live_ids) == {"live_a", "live_b", "live_c"} and min(live_ids.values()) > 20
    assert spoof_ids["print_a"] + spoof_ids["print_b"] == 40 and min(spoof_ids["print_a"], spoof_ids["print_b"]) > 8
    frames = {(b["live"]["video_id"][j].decode(), b["live"]["frame"][j]) for b in batches for j in range(3)}
    assert {f for v, f in frames if v == "live_c"} == set(range(5))
    flips = np.concatenate([b["live"]["flipped"] for b in batches])
    assert 0.3 < flips.mean() < 0.7


def test_flip_mirrors_image_and_reorders_landmarks(root):
    from physstd import ops
    from physstd.data import pipeline
    for flip in (1.0, 0.0):
        batch = _take(pipeline.train_dataset(root, list(VIDEOS), N, batch_pairs=4, seed=2, flip_probability=flip,
                                             max_brightness_delta=0.0, with_ids=True), 1)[0]
        for side in ("live", "spoof"):
            s = batch[side]
            for j in range(4):
                assert s["flipped"][j] == bool(flip)
                image, arrays = _raw(root, s["video_id"][j].decode(), s["frame"][j])
                landmarks = arrays["landmarks"]
                face_depth = arrays["face_depth"]
                if flip:
                    image, depth, p0 = image[:, ::-1], arrays["depth"][:, ::-1], arrays["p0"][:, ::-1]
                    face_depth = face_depth[:, ::-1]
                    # Landmark i of the flipped face is the mirror image of its semantic partner FLIP_140[i].
                    expected = np.stack([(N - 1) - landmarks[face_model.FLIP_140, 0],
                                         landmarks[face_model.FLIP_140, 1]], axis=1)
                else:
                    depth, p0, expected = arrays["depth"], arrays["p0"], landmarks
                np.testing.assert_allclose(s["image"][j], image / 255.0, atol=1e-6)
                np.testing.assert_allclose(s["landmarks"][j], expected, atol=1e-5)
                np.testing.assert_array_equal(s["depth"][j, ..., 0], depth)
                np.testing.assert_array_equal(s["face_depth"][j, ..., 0], face_depth)
                np.testing.assert_array_equal(s["p0"][j, ..., 0], p0)
                if flip:   # outer eye corners 36 (image left) and 45 swap sides
                    assert s["landmarks"][j, 36, 0] == pytest.approx(N - 1 - landmarks[45, 0], abs=1e-5)
                    assert s["landmarks"][j, 36, 0] < s["landmarks"][j, 45, 0]
                index, weights = ops.triangle_barycentrics(expected, face_model.face_triangles(), N)
                np.testing.assert_array_equal(s["bary_index"][j], index)
                np.testing.assert_allclose(s["bary_weights"][j], weights, atol=1e-6)
                # The barycentric map reproduces every pixel from the landmarks it was built on.
                points = np.concatenate([expected, face_model.border_anchors(N)])
                inside = s["bary_index"][j] >= 0
                corners = points[face_model.face_triangles()[s["bary_index"][j][inside]]]
                rebuilt = np.einsum("pk,pkd->pd", s["bary_weights"][j][inside], corners)
                ys, xs = np.nonzero(inside)
                np.testing.assert_allclose(rebuilt, np.stack([xs, ys], axis=1), atol=1e-3)
                assert inside.mean() > 0.99


def test_brightness_jitter_is_one_offset_per_image(root):
    from physstd.data import pipeline
    batch = _take(pipeline.train_dataset(root, list(VIDEOS), N, batch_pairs=4, seed=3, flip_probability=0.0,
                                         with_ids=True), 1)[0]
    deltas = []
    for side in ("live", "spoof"):
        for j in range(4):
            image, _ = _raw(root, batch[side]["video_id"][j].decode(), batch[side]["frame"][j])
            base = image / 255.0
            diff = batch[side]["image"][j] - base
            unclipped = (batch[side]["image"][j] > 0) & (batch[side]["image"][j] < 1)
            delta = np.median(diff[unclipped])
            np.testing.assert_allclose(diff[unclipped], delta, atol=1e-5)
            np.testing.assert_allclose(batch[side]["image"][j], np.clip(base + delta, 0, 1), atol=1e-5)
            deltas.append(delta)
    assert max(np.abs(deltas)) <= 0.25 and len(set(np.round(deltas, 4))) == 8


def test_deterministic_for_a_seed(root):
    from physstd.data import pipeline
    def run(seed, parallel):
        return _take(pipeline.train_dataset(root, list(VIDEOS), N, batch_pairs=2, seed=seed, with_ids=True,
                                            num_parallel_calls=parallel), 3)
    a, b, c = run(11, None), run(11, 1), run(12, None)
    for x, y in zip(a, b):
        for side in x:
            for key in x[side]:
                np.testing.assert_array_equal(x[side][key], y[side][key])
    assert any(not np.array_equal(x["spoof"]["image"], z["spoof"]["image"]) for x, z in zip(a, c))


def test_frame_limit_keeps_leading_frames(root):
    from physstd.data import pipeline
    batches = _take(pipeline.train_dataset(root, list(VIDEOS), N, batch_pairs=4, seed=0, frame_limit=3,
                                           with_ids=True), 10)
    # frame_numbers are 0, 2, 4, ...: numbers below 3 are the kept frames 0 and 1.
    frames = {f for b in batches for side in b.values() for f in side["frame"]}
    assert frames == {0, 1}


def test_frames_per_video_trains_on_frames_spread_evenly(root):
    from physstd.data import pipeline
    batches = _take(pipeline.train_dataset(root, list(VIDEOS), N, batch_pairs=4, seed=0, frames_per_video=2,
                                           with_ids=True), 40)
    seen = {}
    for batch in batches:
        for side in batch.values():
            for video, frame in zip(side["video_id"], side["frame"]):
                seen.setdefault(video.decode(), set()).add(int(frame))
    # The middle frame of each of 2 equal runs of n frames: 4 frames -> 1, 3; 3 -> 0, 2 (floor 0.75, 2.25);
    # 5 -> 1, 3; a video of 2 frames keeps both.
    expected = {"live_a": {1, 3}, "live_b": {0, 2}, "live_c": {1, 3}, "print_a": {0, 2}, "print_b": {1, 3},
                "replay_a": {0, 1}, "mask_a": {0, 2}}
    assert seen == expected
    with pytest.raises(ValueError, match="frames_per_video must be >= 0"):
        pipeline.train_dataset(root, list(VIDEOS), N, batch_pairs=4, seed=0, frames_per_video=-1)


def test_eval_covers_every_frame_once(root):
    from physstd.data import pipeline
    ids = ["print_a", "live_b", "replay_a", "print_b", "live_a"]
    seen = []
    for batch in pipeline.eval_dataset(root, ids, N, batch_size=4, include_truth=True):
        assert batch["image"].shape[1:] == (N, N, 3) and batch["true_mask"].shape[1:] == (N, N, 1)
        for j in range(batch["image"].shape[0]):
            video, frame = batch["video_id"][j].numpy().decode(), int(batch["frame"][j])
            seen.append((video, frame))
            image, arrays = _raw(root, video, frame)
            np.testing.assert_allclose(batch["image"][j].numpy(), image / 255.0, atol=1e-6)
            np.testing.assert_allclose(batch["landmarks"][j].numpy(), arrays["landmarks"])
            np.testing.assert_array_equal(batch["depth"][j, ..., 0].numpy(), arrays["depth"])
            np.testing.assert_array_equal(batch["face_depth"][j, ..., 0].numpy(), arrays["face_depth"])
            assert int(batch["frame_number"][j]) == arrays["frame_numbers"] == 2 * frame
            assert int(batch["label"][j]) == int(VIDEOS[video][0] != "live")
            assert int(batch["spoof_type"][j]) == spoof_types.type_id(VIDEOS[video][0])
            if video in ("print_a", "print_b", "replay_a"):
                with np.load(os.path.join(root, "videos", video, "truth.npz")) as truth:
                    np.testing.assert_array_equal(batch["true_trace"][j].numpy(), truth["trace"][frame])
                    np.testing.assert_array_equal(batch["true_mask"][j, ..., 0].numpy(), truth["mask"][frame])
            elif video.startswith("live"):
                assert not batch["true_trace"][j].numpy().any()
    expected = [(v, f) for v in ids for f in range(VIDEOS[v][1])]
    assert seen == expected          # every frame once, in order


def test_errors_name_the_problem(root, tmp_path):
    from physstd.data import pipeline
    with pytest.raises(ValueError, match="not in .*index.csv.*'nope'"):
        pipeline.train_dataset(root, ["live_a", "nope"], N, 2, 0)
    with pytest.raises(ValueError, match="prepared at image_size 32, asked for 64"):
        pipeline.eval_dataset(root, ["live_a"], 64, 2)
    with pytest.raises(ValueError, match="needs live and spoof videos"):
        pipeline.train_dataset(root, ["live_a", "live_b"], N, 2, 0)
    with pytest.raises(ValueError, match="mask_a.*has no truth.npz"):
        pipeline.eval_dataset(root, ["mask_a"], N, 2, include_truth=True)
    with pytest.raises(ValueError, match="meta.json"):
        pipeline.eval_dataset(str(tmp_path), ["x"], N, 2)
