"""The embedded synthetic FAS set (physstd.data.synthetic, synthetic_traces): ground truth, depth, the
physics of each trace, shared nuisance, protocols, determinism, the CLIs.

One tiny set (N = 64, 3 identities, 1 live video + 6 spoof videos each, 2 frames per video) is generated
once per session and shared by the tests."""
import functools
import glob
import os
import shutil
import subprocess
import sys
import types

import cv2
import numpy as np
import pytest
from scipy import stats
from scipy.spatial import Delaunay

from physstd.data import face_model, geometry, protocols, sensor_depth, synthetic, synthetic_traces
from physstd.data.prepared import PreparedDataset
from physstd.data.preprocess import FacePreprocessor, transform_points, warp_to_crop

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE = 64
LEVEL = 1.0 / 255


@pytest.fixture(scope="session")
def synthetic_set(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("synthetic") / "prepared")
    summary = synthetic.generate(root, SIZE, num_identities=3, frames_per_video=2, live_videos=1, seed=0,
                                 workers=1)
    dataset = PreparedDataset(root)
    raw_rows = {row["video_id"]: row for row in synthetic.read_raw_index(summary.raw_dir)}
    return types.SimpleNamespace(root=root, raw=summary.raw_dir, summary=summary, dataset=dataset,
                                 raw_rows=raw_rows)


@functools.lru_cache(maxsize=1)
def preprocessor():
    return FacePreprocessor(SIZE)


def videos_of(s, spoof_type):
    ids = [row["video_id"] for row in s.dataset.index if row["spoof_type"] == spoof_type]
    assert ids, f"no prepared {spoof_type} video"
    return ids


def frames_with_truth(s, video_id):
    """Yield (k, crop float [0,1], truth of frame k, raw truth, raw frame number, true landmarks in crop)."""
    frames = s.dataset.load_frames(video_id).astype(np.float32) / 255
    truth = s.dataset.load_truth(video_id)
    arrays = s.dataset.load_video(video_id)
    raw = synthetic.read_raw_truth(s.raw, s.raw_rows[video_id])
    for k, number in enumerate(arrays["frame_numbers"]):
        # The crop affine is not stored; dlib is deterministic, so the preprocessor finds it again.
        affine = preprocessor().process_frame(raw["frames"][number]).affine
        landmarks = transform_points(face_model.derive_landmarks(raw["landmarks"][number]), affine)
        yield k, frames[k], {key: v[k] for key, v in truth.items()}, raw, number, landmarks, affine


@pytest.mark.slow
def test_every_video_is_prepared_with_all_frames(synthetic_set):
    s = synthetic_set
    subjects = sorted({row["subject"] for row in s.raw_rows.values()})
    assert len(subjects) == 3 and {"astronaut", "grace_hopper"} <= set(subjects)
    # live_videos=1; the TRAIN_ONLY photos get one live video per spoof type: 6 + 6 + 1 lives, 3 x 6 spoofs.
    assert s.summary.prepared.ok and s.summary.videos == 13 + 3 * len(synthetic.SPOOF_TYPES)
    assert sorted(s.dataset.video_ids) == sorted(s.raw_rows)
    assert s.dataset.meta["image_size"] == SIZE and s.dataset.meta["dataset"] == "synthetic"
    kept = sum(row["num_frames"] for row in s.dataset.index)
    assert kept >= 0.9 * s.summary.raw_frames


@pytest.mark.slow
def test_truth_reproduces_the_saved_spoof_crop(synthetic_set):
    s = synthetic_set
    for row in s.dataset.index:
        frames = s.dataset.load_frames(row["video_id"]).astype(np.float64) / 255
        truth = {k: v.astype(np.float64) for k, v in s.dataset.load_truth(row["video_id"]).items()}
        mask = truth["mask"][..., None]
        rebuilt = (1 - mask) * (truth["live"] + truth["trace"]) + mask * truth["content"]
        assert np.abs(rebuilt - frames).max() <= 0.5 * LEVEL + 1e-6, row["video_id"]
        additive = truth["live"] + truth["trace"]
        assert additive.min() >= -1e-6 and additive.max() <= 1 + 1e-6
        assert truth["mask"].min() >= 0 and truth["mask"].max() <= 1
        if row["label"] == 0:
            assert not truth["trace"].any() and not truth["mask"].any()
            np.testing.assert_allclose(truth["live"], frames, atol=1e-6)


@pytest.mark.slow
def test_saved_crops_are_the_preprocessor_crops_of_the_raw_frames(synthetic_set):
    """Composing the crop from the cropped components changes it by at most one 8-bit level from what
    FacePreprocessor.process_frame makes of the raw frame, and the live truth is the crop of the raw twin."""
    s = synthetic_set
    for video_id in videos_of(s, "paper_glasses") + videos_of(s, "live")[:1]:
        for k, crop, truth, raw, number, _, affine in frames_with_truth(s, video_id):
            reference = preprocessor().process_frame(raw["frames"][number]).crop.astype(np.float32) / 255
            assert np.abs(reference - crop).max() <= LEVEL + 1e-6
            twin_crop = warp_to_crop(raw["live"][number], affine, SIZE).astype(np.float32) / 255
            assert np.abs(twin_crop - truth["live"]).max() <= LEVEL + 1e-6


@pytest.mark.slow
def test_the_set_is_rgbd_and_its_depth_truth_is_exact(synthetic_set):
    """The prepared set carries sensor depth in mm; each crop is the raw sensor depth warped with the frame's affine,
    and truth.npz holds the depth trace (crop minus the live twin's crop) where both are measured, and where that
    is. Cosmetic makeup's depth trace is exactly 0, a live video's too; every other type's is not."""
    s = synthetic_set
    assert s.dataset.modalities == ("rgb", "sensor_depth") and s.dataset.depth_units == "mm"
    assert synthetic.read_raw_meta(s.raw)["sensor_depth"] is True
    largest = {}
    for row in s.dataset.index:
        depth = s.dataset.load_sensor_depths(row["video_id"]).astype(np.float32)
        truth = s.dataset.load_truth(row["video_id"])
        measured, trace = truth["sensor_depth_measured"], truth["sensor_depth_trace"]
        assert depth.shape == (row["num_frames"], SIZE, SIZE) and 0.3 < measured.mean() < 1
        assert set(np.unique(measured)) <= {0, 1} and (depth[measured == 1] > 0).all()
        assert not trace[measured == 0].any()
        if row["label"] == 0:
            np.testing.assert_array_equal(measured, depth > 0)
        largest[row["spoof_type"]] = max(largest.get(row["spoof_type"], 0), float(np.abs(trace).max()))
    assert largest.pop("live") == 0 and largest.pop("cosmetic") == 0
    assert min(largest.values()) > 5, largest   # mm
    video_id = videos_of(s, "paper_mask")[0]
    raw = synthetic.read_raw_truth(s.raw, s.raw_rows[video_id], sensor_depth=True)
    for k, _, truth, _, number, _, affine in frames_with_truth(s, video_id):
        crop = s.dataset.load_sensor_depth(video_id, k)
        np.testing.assert_array_equal(crop, sensor_depth.warp_depth_to_crop(raw["sensor_depth"][number], affine, SIZE))
        twin = sensor_depth.warp_depth_to_crop(raw["sensor_depth_live"][number], affine, SIZE)
        both = (crop > 0) & (twin > 0)
        np.testing.assert_array_equal(truth["sensor_depth_measured"], both)
        np.testing.assert_array_equal(truth["sensor_depth_trace"], np.where(both, crop - twin.astype(np.float32), 0))
    assert raw["sensor_depth_mm_per_pixel"].shape == (s.raw_rows[video_id]["num_frames"],)
    assert 0.3 <= raw["sensor_depth_paper_mask_flatten"] <= 0.7 and 450 <= raw["sensor_depth_face_distance"] <= 800


@pytest.mark.slow
def test_without_the_depth_camera_the_rgb_set_is_byte_for_byte_the_same(tmp_path):
    """--nosensor_depth: the raw RGB files and truth arrays are the bytes of the RGB-D set of the same seed, there
    is no depth on disk, and the prepared set is an RGB set (meta.json as before depth existed)."""
    kwargs = dict(image_size=SIZE, num_identities=3, frames_per_video=1, live_videos=1,
                  spoof_type_names=("print", "paper_glasses"), workers=1, sources=synthetic.find_faces(3))
    outputs = {}
    for name, depth in (("rgbd", True), ("rgb", False)):
        synthetic.generate_raw(str(tmp_path / name), sensor_depth=depth, **kwargs)
        folder = tmp_path / name
        outputs[name] = {str(p.relative_to(folder)): p for p in sorted(folder.rglob("*")) if p.is_file()}
    rgb_files = [k for k in outputs["rgb"] if k.endswith(".png")]
    assert len(rgb_files) > 10 and not any("sensor_depth" in k for k in outputs["rgb"])
    assert all(outputs["rgb"][k].read_bytes() == outputs["rgbd"][k].read_bytes() for k in rgb_files)
    frames = sum("/frames/" in k for k in outputs["rgbd"])
    assert sum("/sensor_depth/" in k for k in outputs["rgbd"]) == frames   # one depth frame per frame
    assert sum("/sensor_depth_live/" in k for k in outputs["rgbd"]) == sum("/live/" in k for k in outputs["rgbd"])
    for key in (k for k in outputs["rgb"] if k.endswith("truth.npz")):
        rgb, rgbd = np.load(outputs["rgb"][key]), np.load(outputs["rgbd"][key])
        assert set(rgbd.files) - set(rgb.files) and all(name.startswith("sensor_depth_")
                                                        for name in set(rgbd.files) - set(rgb.files))
        for name in rgb.files:
            np.testing.assert_array_equal(rgb[name], rgbd[name])
    assert "sensor_depth" not in synthetic.read_raw_meta(str(tmp_path / "rgb"))
    summary = synthetic.prepare_synthetic(str(tmp_path / "rgb"), str(tmp_path / "prepared"), workers=1)
    assert summary.ok
    dataset = PreparedDataset(str(tmp_path / "prepared"))
    assert dataset.modalities == ("rgb",) and "modalities" not in dataset.meta
    assert not glob.glob(str(tmp_path / "prepared" / "*" / "*" / "sensor_depth"))


@pytest.mark.slow
def test_face_depth_peaks_at_the_nose_tip_and_is_zero_outside_the_face(synthetic_set):
    """The face depth of every frame, live or spoof (format 2); M0 is that depth for live and 0 for spoof."""
    s = synthetic_set
    assert s.dataset.meta["format_version"] == 2
    depth_size = s.dataset.depth_size
    ratio = depth_size / SIZE
    for video_id in videos_of(s, "live") + videos_of(s, "paper_mask") + videos_of(s, "replay"):
        arrays = s.dataset.load_video(video_id)
        for depth, landmarks in zip(arrays["face_depth"], arrays["landmarks"]):
            assert depth.max() > 0.8   # the nose tip itself falls between the K x K pixel centres
            peak = np.array(np.unravel_index(depth.argmax(), depth.shape))[::-1]
            nose = (landmarks[30] + 0.5) * ratio - 0.5
            if s.dataset.row(video_id)["label"] == 0:   # a spoof's fitted pose may tilt the nearest point off the tip
                assert np.linalg.norm(peak - nose) <= np.sqrt(2)   # a pixel next to the tip (diagonal)
            # Depth pixels whose centre lies outside the convex hull of the 140 landmarks are 0.
            ys, xs = np.mgrid[0:depth_size, 0:depth_size]
            centres = (np.stack([xs.ravel(), ys.ravel()], 1) + 0.5) / ratio - 0.5
            outside = (Delaunay(landmarks).find_simplex(centres) < 0).reshape(depth.shape)
            assert outside.sum() >= 4
            assert not depth[outside].any()
            assert depth[~outside].mean() > 0.3
    for row in s.dataset.index:
        arrays = s.dataset.load_video(row["video_id"])
        if row["label"] == 1:
            assert not arrays["depth"].any()
            # The stored face depth is the fit of the stored landmarks (up to their float32 rounding).
            for face_depth, landmarks in zip(arrays["face_depth"], arrays["landmarks"]):
                np.testing.assert_allclose(face_depth, geometry.face_depth(landmarks, SIZE, depth_size), atol=1e-5)
        else:
            np.testing.assert_array_equal(arrays["depth"], arrays["face_depth"])


@pytest.mark.slow
@pytest.mark.parametrize("spoof_type", ["print", "replay", "paper_mask", "cosmetic"])
def test_additive_attacks_have_no_inpainting_region(synthetic_set, spoof_type):
    for video_id in videos_of(synthetic_set, spoof_type):
        truth = synthetic_set.dataset.load_truth(video_id)
        assert not truth["mask"].any() and not truth["content"].any()
        assert np.abs(truth["trace"]).max() > 0.05


@pytest.mark.slow
def test_paper_glasses_cover_the_eyes_and_stay_out_of_p0(synthetic_set):
    for video_id in videos_of(synthetic_set, "paper_glasses"):
        for k, crop, truth, raw, number, landmarks, _ in frames_with_truth(synthetic_set, video_id):
            mask = truth["mask"]
            for eye in (slice(36, 42), slice(42, 48)):
                x, y = np.round(landmarks[eye].mean(0)).astype(int)
                assert mask[y, x] > 0.9
            p0 = geometry.preliminary_mask(landmarks, "lower_face", SIZE)
            assert p0.sum() > 0.3 * p0.size
            assert not mask[p0 == 1].any()
            # Outside P the glasses only cast a faint shadow; inside, the paper replaced the face.
            assert np.abs(truth["trace"][mask == 0]).mean() < 0.02
            assert np.abs(truth["content"] - crop)[mask > 0].max() < 1e-6


@pytest.mark.slow
def test_partial_paper_covers_the_mouth_below_the_nose(synthetic_set):
    for video_id in videos_of(synthetic_set, "partial_paper"):
        for k, crop, truth, raw, number, landmarks, _ in frames_with_truth(synthetic_set, video_id):
            mask = truth["mask"]
            x, y = np.round(landmarks[48:60].mean(0)).astype(int)
            assert mask[y, x] > 0.9
            p0 = geometry.preliminary_mask(landmarks, "upper_face", SIZE)
            assert not mask[p0 == 1].any()
            for eye in (slice(36, 42), slice(42, 48)):
                x, y = np.round(landmarks[eye].mean(0)).astype(int)
                assert mask[y, x] == 0


def _disc_union(points, radius, size):
    ys, xs = np.mgrid[0:size, 0:size]
    inside = np.zeros((size, size), bool)
    for x, y in points:
        inside |= (xs - x) ** 2 + (ys - y) ** 2 <= radius ** 2
    return inside


@pytest.mark.slow
def test_makeup_trace_lies_on_brows_lips_and_cheeks(synthetic_set):
    for video_id in videos_of(synthetic_set, "cosmetic"):
        for k, crop, truth, raw, number, landmarks, _ in frames_with_truth(synthetic_set, video_id):
            eye_gap = np.linalg.norm(landmarks[42:48].mean(0) - landmarks[36:42].mean(0))
            cheeks = [(landmarks[2] + landmarks[31]) / 2, (landmarks[14] + landmarks[35]) / 2]
            near = _disc_union(np.concatenate([landmarks[17:27], landmarks[48:60], cheeks]), 0.45 * eye_gap, SIZE)
            energy = np.abs(truth["trace"]).sum(-1)
            assert energy[near].sum() >= 0.9 * energy.sum()
            # Far from them (nose bridge, the frame's corners) nothing changed beyond JPEG noise.
            far = ~_disc_union(np.concatenate([landmarks[17:27], landmarks[48:60], cheeks]), 0.8 * eye_gap, SIZE)
            # Up to a few levels of codec response remain there (colour faces: 4:2:0 chroma, rounding per channel).
            assert np.abs(truth["trace"][far]).max() <= 4 * LEVEL
            # Lipstick reddens the lips: red rises relative to green.
            lips = truth["trace"][_disc_union(landmarks[48:60], 1.5, SIZE)]
            assert (lips[:, 0] - lips[:, 1]).mean() > 0.02


def _spectrum_peak(channel, exclude_radius):
    """(fx, fy) in cycles/pixel of the strongest non-DC Fourier component and its ratio to the median."""
    magnitude = np.abs(np.fft.fft2(channel - channel.mean()))
    frequencies = np.fft.fftfreq(channel.shape[0])
    fy, fx = np.meshgrid(frequencies, frequencies, indexing="ij")
    magnitude[np.hypot(fx, fy) < exclude_radius] = 0
    index = np.unravel_index(magnitude.argmax(), magnitude.shape)
    return np.array([fx[index], fy[index]]), magnitude.max() / np.median(magnitude)


def _near_alias(found, expected, tolerance):
    return min(np.linalg.norm(found - expected), np.linalg.norm(found + expected)) <= tolerance


@pytest.mark.slow
def test_replay_trace_has_the_predicted_moire_peak(synthetic_set):
    """The trace's strongest periodic component sits at the frequency the subpixel grid aliases to
    (synthetic_traces.replay_moire_frequency), in the raw frame and, scaled by the crop, in the crop."""
    for video_id in videos_of(synthetic_set, "replay"):
        for k, crop, truth, raw, number, landmarks, affine in frames_with_truth(synthetic_set, video_id):
            expected = [np.array([raw["trace_moire_fx"], raw["trace_moire_fy"]]),
                        np.array([raw["trace_row_moire_fx"], raw["trace_row_moire_fy"]])]
            raw_trace = (raw["frames"][number].astype(np.float32) - raw["live"][number]) / 255
            found, ratio = _spectrum_peak(raw_trace[..., 1], 0.03)
            assert ratio > 50
            assert any(_near_alias(found, f, 1.0 / raw_trace.shape[0]) for f in expected)
            scale = affine[0, 0]   # crop pixels per raw pixel
            found, ratio = _spectrum_peak(truth["trace"][..., 1], 0.07)
            assert ratio > 20
            assert any(_near_alias(found, f / scale, 1.5 / SIZE) for f in expected)
    # The frequency rule itself: a grating of 1.1 cycles/pixel sampled at integers is a 0.1 cycles/pixel wave.
    np.testing.assert_allclose(synthetic_traces.replay_moire_frequency(1.1, 0.0), [0.1, 0.0], atol=1e-12)
    x = np.arange(40)
    np.testing.assert_allclose(np.cos(2 * np.pi * 1.1 * x), np.cos(2 * np.pi * 0.1 * x), atol=1e-9)


@pytest.mark.slow
def test_print_compresses_the_gamut(synthetic_set):
    for video_id in videos_of(synthetic_set, "print"):
        for k, crop, truth, raw, number, landmarks, _ in frames_with_truth(synthetic_set, video_id):
            face = geometry.face_hull_mask(landmarks, SIZE)

            def chroma_and_range(image):
                pixels = image[face]
                grey = pixels @ synthetic_traces.LUMA
                chroma = np.abs(pixels - grey[:, None]).mean()
                return chroma, np.percentile(grey, 99) - np.percentile(grey, 1)

            spoof_chroma, spoof_range = chroma_and_range(crop)
            live_chroma, live_range = chroma_and_range(truth["live"])
            assert spoof_range < 0.97 * live_range
            assert live_chroma > 0.02   # every live face has colour (lfw faces are skin-tinted)
            assert spoof_chroma < 0.9 * live_chroma


@pytest.mark.slow
def test_paper_mask_trace_is_inside_the_face_with_dark_edges(synthetic_set):
    for video_id in videos_of(synthetic_set, "paper_mask"):
        for k, crop, truth, raw, number, landmarks, _ in frames_with_truth(synthetic_set, video_id):
            paper = synthetic_traces.polygon_mask((SIZE, SIZE), [synthetic_traces.face_outline(landmarks)]) > 0.5
            luminance = truth["trace"] @ synthetic_traces.LUMA
            band = cv2.dilate(paper.astype(np.uint8), np.ones((3, 3), np.uint8)) \
                - cv2.erode(paper.astype(np.uint8), np.ones((3, 3), np.uint8))
            assert luminance[band == 1].mean() < -0.02
            # JPEG spreads a change over its 16 x 16 raw-pixel blocks (8 crop pixels here): keep 8 px away.
            far = cv2.dilate(paper.astype(np.uint8), np.ones((17, 17), np.uint8)) == 0
            assert far.sum() > 0.1 * far.size
            # Up to a few levels of codec response remain there (colour faces: 4:2:0 chroma, rounding per channel).
            assert np.abs(truth["trace"][far]).max() <= 4 * LEVEL
            assert np.abs(truth["trace"][paper]).mean() > 3 * np.abs(truth["trace"][far]).mean() + LEVEL


@pytest.mark.slow
def test_spoof_twin_is_a_live_video_under_the_same_nuisance(synthetic_set):
    """The bona fide twin of a spoof video is exactly what the live-video code path renders from the same
    video seed: live and spoof frames share pose, light, noise field and JPEG quality."""
    s = synthetic_set
    sources = {face.name: face for face in synthetic.find_faces(3)}
    for video_id in (videos_of(s, "replay")[0], videos_of(s, "paper_glasses")[0]):
        row = s.raw_rows[video_id]
        raw = synthetic.read_raw_truth(s.raw, row)
        raw_depth = synthetic.read_raw_truth(s.raw, row, sensor_depth=True)
        frames, nuisance, _ = synthetic.render_video(sources[row["subject"]], "live", row["num_frames"], SIZE,
                                                     synthetic.video_rng(0, video_id),
                                                     camera=synthetic.video_camera(0, video_id, "live", SIZE))
        np.testing.assert_array_equal(np.stack([f.frame for f in frames]), raw["live"])
        # ... and the depth sensor too: the twin's depth is what the live video's depth camera measures.
        np.testing.assert_array_equal(np.stack([f.sensor_depth for f in frames]), raw_depth["sensor_depth_live"])
        assert (raw_depth["sensor_depth_live"] != raw_depth["sensor_depth"]).mean() > 0.01
        for key in synthetic_traces.NUISANCE_KEYS:
            np.testing.assert_array_equal(nuisance[key], raw[f"nuisance_{key}"])


def test_nuisance_distribution_does_not_depend_on_the_label():
    """Per-video nuisance drawn for 200 live and 200 spoof video ids: two-sample KS test per parameter."""
    draws = {}
    for kind in ("live", "print"):
        samples = [synthetic_traces.sample_nuisance(synthetic.video_rng(0, f"s{i}_{kind}_0"), 1) for i in range(200)]
        draws[kind] = {key: np.array([d[key][0] for d in samples]) for key in synthetic_traces.NUISANCE_KEYS}
    for key in synthetic_traces.NUISANCE_KEYS:
        assert stats.ks_2samp(draws["live"][key], draws["print"][key]).pvalue > 1e-3, key
    # ... and it does vary: pose, light, noise and JPEG quality all spread.
    for key in ("angle", "scale", "gain", "temperature", "noise_sigma", "jpeg_quality"):
        assert draws["live"][key].std() > 0


@pytest.mark.slow
def test_identity_protocol_keeps_identities_apart(synthetic_set):
    s = synthetic_set
    split_dir = os.path.join(s.root, "protocols")
    by_id = {row["video_id"]: row for row in s.dataset.index}
    subsets = {subset: protocols.load_split(split_dir, "identity", subset) for subset in protocols.SUBSETS}
    subjects = {subset: {by_id[v]["subject"] for v in ids} for subset, ids in subsets.items()}
    assert all(subjects.values())
    assert not (subjects["train"] & subjects["test"]) and not (subjects["train"] & subjects["dev"]) \
        and not (subjects["dev"] & subjects["test"])
    assert sorted(sum(subsets.values(), [])) == sorted(by_id)
    for ids in subsets.values():
        assert {by_id[v]["spoof_type"] for v in ids} == {"live", *synthetic.SPOOF_TYPES}


@pytest.mark.slow
def test_leave_one_type_out_folds(synthetic_set):
    s = synthetic_set
    split_dir = os.path.join(s.root, "protocols")
    by_id = {row["video_id"]: row for row in s.dataset.index}
    assert sorted(protocols.list_folds(split_dir, "leave_one_type_out")) == sorted(synthetic.SPOOF_TYPES)
    test_identities = {by_id[v]["subject"] for v in protocols.load_split(split_dir, "identity", "test")}
    for held in synthetic.SPOOF_TYPES:
        train = protocols.load_split(split_dir, "leave_one_type_out", "train", held)
        dev = protocols.load_split(split_dir, "leave_one_type_out", "dev", held)
        test = protocols.load_split(split_dir, "leave_one_type_out", "test", held)
        assert held not in {by_id[v]["spoof_type"] for v in train + dev}
        assert {by_id[v]["spoof_type"] for v in train} == {"live", *synthetic.SPOOF_TYPES} - {held}
        assert {by_id[v]["spoof_type"] for v in test} == {"live", held}
        assert {by_id[v]["subject"] for v in test} == test_identities
        assert not {by_id[v]["subject"] for v in train} & test_identities


def test_identity_split_is_seeded_and_60_20_20():
    subjects = [f"id{i:02d}" for i in range(10)]
    first = synthetic.split_identities(subjects, seed=0)
    assert first == synthetic.split_identities(list(reversed(subjects)), seed=0)
    assert [len(first[s]) for s in ("train", "dev", "test")] == [6, 2, 2]
    assert sorted(sum(first.values(), [])) == subjects
    others = [synthetic.split_identities(subjects, seed=seed) for seed in range(1, 6)]
    assert any(other != first for other in others)
    with pytest.raises(ValueError, match="3 identities"):
        synthetic.split_identities(subjects[:2], seed=0)


def test_the_high_resolution_photos_always_train():
    subjects = ["astronaut", "grace_hopper"] + [f"lfw_{i:03d}" for i in range(8)]
    for seed in range(10):
        split = synthetic.split_identities(subjects, seed=seed)
        assert {"astronaut", "grace_hopper"} <= set(split["train"])
        assert [len(split[s]) for s in ("train", "dev", "test")] == [6, 2, 2]
        assert sorted(sum(split.values(), [])) == sorted(subjects)
    # Too few other identities to fill dev and test: every identity is drawn at random.
    tiny = synthetic.split_identities(["astronaut", "grace_hopper", "lfw_000"], seed=0)
    assert [len(tiny[s]) for s in ("train", "dev", "test")] == [1, 1, 1]


@pytest.mark.slow
def test_raw_generation_is_deterministic_given_the_seed(tmp_path):
    kwargs = dict(image_size=SIZE, num_identities=3, frames_per_video=1, live_videos=1,
                  spoof_type_names=("replay", "paper_glasses"), workers=1)
    sources = synthetic.find_faces(3)
    outputs = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        synthetic.generate_raw(str(tmp_path / name), seed=seed, sources=sources, **kwargs)
        folder = tmp_path / name
        outputs[name] = {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
                         and p.name != "meta.json"}
    assert outputs["a"].keys() == outputs["b"].keys()
    assert all(outputs["a"][k] == outputs["b"][k] for k in outputs["a"])
    pngs = [k for k in outputs["a"] if k.endswith(".png")]
    assert sum(outputs["a"][k] != outputs["c"][k] for k in pngs) == len(pngs)


@pytest.mark.slow
def test_user_errors_name_the_file(tmp_path):
    with pytest.raises(synthetic.SyntheticFormatError, match="meta.json"):
        synthetic.prepare_synthetic(str(tmp_path / "missing"), str(tmp_path / "out"))
    with pytest.raises(ValueError, match="num_identities"):
        synthetic.generate_raw(str(tmp_path / "raw"), num_identities=2)
    sources = synthetic.find_faces(3)
    raw = str(tmp_path / "raw")
    synthetic.generate_raw(raw, SIZE, num_identities=3, frames_per_video=1, live_videos=1,
                           spoof_type_names=("print",), sources=sources, workers=1)
    with pytest.raises(synthetic.SyntheticFormatError, match="other|generated with"):
        synthetic.generate_raw(raw, SIZE, num_identities=3, frames_per_video=1, live_videos=1,
                               spoof_type_names=("print",), seed=5, sources=sources, workers=1)
    with open(os.path.join(raw, "videos.csv"), "w") as f:
        f.write("video_id,path\nx,y\n")
    with pytest.raises(synthetic.SyntheticFormatError, match="videos.csv"):
        synthetic.prepare_synthetic(raw, str(tmp_path / "out"))


@pytest.mark.slow
def test_videos_without_a_face_are_counted_in_one_line(synthetic_set, tmp_path):
    """A raw video in none of whose frames dlib finds a face is left out and counted in one summary line per
    run (per type), not reported as a failure; every other video is prepared as before."""
    s = synthetic_set
    raw = str(tmp_path / "raw")
    shutil.copytree(s.raw, raw)
    rows = sorted(s.raw_rows.values(), key=lambda row: row["video_id"])
    blank = [next(row for row in rows if row["spoof_type"] == kind) for kind in ("live", "print", "replay")]
    blank.append(next(row for row in rows if row["spoof_type"] == "print" and row not in blank))
    for row in blank:
        for path in glob.glob(os.path.join(raw, row["path"], "frames", "*.png")):
            cv2.imwrite(path, np.full((synthetic.raw_size(SIZE),) * 2 + (3,), 128, np.uint8))
    summary = synthetic.prepare_synthetic(raw, str(tmp_path / "prepared"), workers=1)
    assert summary.ok and not summary.failures
    assert sorted(row["video_id"] for row in summary.no_face) == sorted(row["video_id"] for row in blank)
    assert summary.done == len(rows) - 4
    assert sorted(PreparedDataset(str(tmp_path / "prepared")).video_ids) == \
        sorted(set(s.raw_rows) - {row["video_id"] for row in blank})
    text = summary.format()
    assert "failed" not in text.replace("0 failed", "")
    identities = len({row["subject"] for row in blank})
    assert [line for line in text.splitlines() if "no face" in line] == [
        f"  left out: 4 videos of {identities} identities in which dlib finds no face in any frame "
        f"(expected, as with real videos) - live 1, print 2, replay 1"]
    assert f"4 without a face, 0 failed of {len(rows)}" in text


@pytest.mark.slow
def test_preparing_the_raw_set_again_gives_the_same_prepared_set(synthetic_set, tmp_path):
    """write_synthetic_dataset(input_dir=raw), the run_preprocess.py --dataset=synthetic entry, reproduces
    the prepared set from the raw folder alone."""
    s = synthetic_set
    out = str(tmp_path / "prepared")
    summary = synthetic.write_synthetic_dataset(out, SIZE, input_dir=s.raw, workers=1, log=lambda message: None)
    assert summary.ok and summary.frames_written == sum(row["num_frames"] for row in s.dataset.index)
    again = PreparedDataset(out)
    assert sorted(again.video_ids) == sorted(s.dataset.video_ids)
    video_id = videos_of(s, "partial_paper")[0]
    np.testing.assert_array_equal(again.load_frames(video_id), s.dataset.load_frames(video_id))
    np.testing.assert_array_equal(again.load_truth(video_id)["trace"], s.dataset.load_truth(video_id)["trace"])
    for subset in ("train", "test"):
        assert protocols.load_split(os.path.join(out, "protocols"), "identity", subset) == \
            protocols.load_split(os.path.join(s.root, "protocols"), "identity", subset)
    # A second run resumes: every video is already prepared.
    assert synthetic.write_synthetic_dataset(out, SIZE, input_dir=s.raw, workers=1, log=lambda m: None).skipped \
        == len(s.dataset.index)


@pytest.mark.slow
def test_depth_figure_shows_every_type(tmp_path):
    """python -m physstd.data.synthetic --figure=PATH alone writes the figure (3 rows: RGB, sensor depth, depth
    trace; a column per type) and nothing else."""
    path = tmp_path / "depth.png"
    result = subprocess.run([sys.executable, "-m", "physstd.data.synthetic", f"--figure={path}",
                             f"--image_size={SIZE}"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert os.listdir(tmp_path) == ["depth.png"]
    image = cv2.imread(str(path))
    assert image.shape == (700, int(2.2 * (1 + len(synthetic.SPOOF_TYPES)) * 100), 3)
    result = subprocess.run([sys.executable, "-m", "physstd.data.synthetic"], cwd=REPO, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 2 and "--output_dir is required (or --figure alone)" in result.stderr


@pytest.mark.slow
def test_module_cli_generates_a_set(tmp_path):
    out = str(tmp_path / "set")
    result = subprocess.run([sys.executable, "-m", "physstd.data.synthetic", f"--output_dir={out}",
                             f"--image_size={SIZE}", "--num_identities=3", "--frames_per_video=1",
                             "--live_videos=1", "--spoof_types=print,partial_paper", "--seed=3"],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    dataset = PreparedDataset(out)
    assert len(dataset.index) == 3 * 2 + (2 + 2 + 1)   # 2 spoof types each; lives: 2 + 2 (TRAIN_ONLY photos) + 1
    assert synthetic.read_raw_meta(os.path.join(out, "raw"))["seed"] == 3
    assert protocols.list_folds(os.path.join(out, "protocols"), "leave_one_type_out") == ["partial_paper", "print"]


def test_skin_tint_keeps_luminance_and_gives_skin_colour():
    grey = np.arange(0, 200, 7, dtype=np.uint8).reshape(1, -1)
    for tone in synthetic.SKIN_TONES:
        coloured = synthetic.skin_tinted(grey, tone).astype(np.float64)
        np.testing.assert_allclose(coloured @ synthetic_traces.LUMA, grey, atol=1.0)
        red, green, blue = coloured[0, -1]
        assert red > green > blue   # skin reflects red most, blue least


def test_without_light_variation_every_video_has_one_light_and_the_same_other_draws():
    varied = synthetic_traces.sample_nuisance(synthetic.video_rng(0, "s1_print_0"), 4)
    fixed = synthetic_traces.sample_nuisance(synthetic.video_rng(0, "s1_print_0"), 4, light_variation=False)
    for key, value in synthetic_traces.FIXED_LIGHT.items():
        np.testing.assert_array_equal(fixed[key], np.full(4, value))
        assert np.ptp(varied[key]) > 0 or key == "contrast"   # the varied set drifts per frame
    for key in set(varied) - set(synthetic_traces.FIXED_LIGHT):
        np.testing.assert_array_equal(fixed[key], varied[key])   # pose, noise and JPEG are unchanged
    # A neutral light leaves the scene as it is (up to clipping).
    scene = np.random.default_rng(0).random((8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(synthetic_traces.illuminate(scene, fixed, 0), scene, atol=1e-6)


def test_a_set_without_light_variation_records_it_and_is_not_mixed_with_a_varied_one(tmp_path):
    kwargs = dict(image_size=SIZE, num_identities=3, frames_per_video=1, live_videos=1,
                  spoof_type_names=("replay",), workers=1, sources=synthetic.find_faces(3))
    synthetic.generate_raw(str(tmp_path / "fixed"), light_variation=False, **kwargs)
    assert synthetic.read_raw_meta(str(tmp_path / "fixed"))["light_variation"] is False
    with pytest.raises(synthetic.SyntheticFormatError, match="light_variation"):
        synthetic.generate_raw(str(tmp_path / "fixed"), **kwargs)   # the varied set into the fixed one's folder
