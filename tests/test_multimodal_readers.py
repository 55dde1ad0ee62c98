"""WMCA and CeFA readers and protocols on small fixtures written here in the releases' formats (docs/data.md): what
the jobs' frames() yield (RGB and sensor depth pairs), the depth registration of raw WMCA recordings, the grandtest
and leave-one-out folds with hand-counted sizes, the CeFA sub-protocols, and the refusals (leakage, bad lists)."""
import json
import os

import cv2
import numpy as np
import pytest

from physstd.data import cefa, datasets, protocols, wmca
from physstd.data.preprocess import InputError

h5py = pytest.importorskip("h5py")

SIZE = 12   # face-cropped frames are small here; the readers do not look at the content


def _frame(seed, shape, dtype=np.uint8, high=255):
    return np.random.default_rng(seed).integers(0, high, shape, endpoint=True).astype(dtype)


# --- WMCA fixtures ----------------------------------------------------------------------------------------------
def write_preprocessed_recording(root, relative, frames, cdit_frames=None):
    """A face-cropped recording: WMCA_preprocessed_RGB/<relative> with Frame_<k>/array (3, H, W) and the CDIT twin
    with (4, H, W) grey, depth, infrared, thermal; depth plane k of frame k is filled with 10 k + 1."""
    seed = sum(map(ord, relative))
    rgb = {f"Frame_{k}": _frame(seed + k, (3, SIZE, SIZE)) for k in range(frames)}
    cdit = {f"Frame_{k}": np.stack([_frame(seed + 100 + k, (SIZE, SIZE)), np.full((SIZE, SIZE), 10 * k + 1, np.uint8),
                                    _frame(seed + 200 + k, (SIZE, SIZE)), _frame(seed + 300 + k, (SIZE, SIZE))])
            for k in range(frames if cdit_frames is None else cdit_frames)}
    for folder, planes in ((wmca.PREPROCESSED_RGB, rgb), (wmca.PREPROCESSED_CDIT, cdit)):
        path = os.path.join(root, folder, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with h5py.File(path, "w") as f:
            for key, array in planes.items():
                f.create_group(key).create_dataset("array", data=array)
    return rgb, cdit


def test_wmca_names_map_to_the_project_types_and_keep_wmca_categories():
    cases = {"001_01_000_0_01": ("live", "bonafide", 0), "002_01_003_3_01": ("print", "prints", 1),
             "002_01_003_3_05": ("replay", "replay", 1), "002_01_003_4_02": ("replay", "replay", 1),
             "002_01_003_2_01": ("mannequin", "fakehead", 1), "002_01_003_2_08": ("paper_mask", "papermask", 1),
             "002_01_003_2_80": ("silicone_mask", "flexiblemask", 1), "002_01_003_2_12": ("rigid_mask", "rigidmask", 1),
             "002_01_003_1_13": ("rigid_mask", "rigidmask", 1), "002_01_003_1_04": ("funny_eye", "glasses", 1),
             "002_01_003_1_15": ("paper_glasses", "glasses", 1)}
    for stem, expected in cases.items():
        record = datasets.parse_video_name("wmca", f"face-station/12.02.18/{stem}.hdf5")
        assert (record["spoof_type"], record["attack"], record["label"]) == expected, stem
        assert (record["video_id"], record["subject"]) == (stem, "001" if stem[:3] == "001" else "002")
    with pytest.raises(ValueError, match="a wig recording"):
        datasets.parse_video_name("wmca", "001_01_000_1_09.hdf5")
    with pytest.raises(ValueError, match="not in the release's file-id map"):
        datasets.parse_video_name("wmca", "001_01_000_3_40.hdf5")
    with pytest.raises(ValueError, match="wmca: cannot parse"):
        datasets.parse_video_name("wmca", "001_01_000_6_01.hdf5")


def test_preprocessed_wmca_frames_pair_rgb_and_cdit_depth(tmp_path):
    relative = "WMCA/face-station/12.02.18/100_03_015_2_10.hdf5"
    rgb, _ = write_preprocessed_recording(str(tmp_path), relative, frames=12)
    assert wmca.release_layout(str(tmp_path)).depth_units == "uint8"
    jobs, failures = wmca.wmca_jobs(str(tmp_path))
    assert failures == [] and len(jobs) == 1
    job = jobs[0]
    assert job.record["path"] == "WMCA/face-station/12.02.18/100_03_015_2_10"
    assert (job.record["video_id"], job.record["spoof_type"], job.record["attack"]) == (
        "100_03_015_2_10", "paper_mask", "papermask")
    # Frames in natural order (Frame_10 after Frame_2), every 4th, at most 3: frames 0, 4, 8.
    frames = list(job.frames(every_k=4, max_frames=3))
    assert [f[0] for f in frames] == [0, 4, 8]
    for number, image, landmarks, depth in frames:
        assert landmarks is None and image.dtype == np.uint8 and image.shape == (SIZE, SIZE, 3)
        np.testing.assert_array_equal(image, rgb[f"Frame_{number}"].transpose(1, 2, 0))
        assert depth.dtype == np.uint8 and depth.shape == (SIZE, SIZE) and np.all(depth == 10 * number + 1)
    assert [f[0] for f in job.frames()][-3:] == [9, 10, 11]


def test_wmca_jobs_leave_out_makeup_and_wigs_and_report_bad_recordings(tmp_path):
    root = str(tmp_path)
    for stem in ("001_01_000_0_00", "002_01_001_5_03", "002_01_001_1_09", "003_01_000_3_01"):
        write_preprocessed_recording(root, f"WMCA/site/{stem}.hdf5", frames=2)
    write_preprocessed_recording(root, "WMCA/site/not_a_recording.hdf5", frames=1)
    write_preprocessed_recording(root, "WMCA/site/004_01_000_3_02.hdf5", frames=2)
    os.remove(os.path.join(root, wmca.PREPROCESSED_CDIT, "WMCA/site/004_01_000_3_02.hdf5"))
    write_preprocessed_recording(root, "WMCA/site/005_01_000_4_01.hdf5", frames=3, cdit_frames=2)
    jobs, failures = wmca.wmca_jobs(root)
    assert [j.record["video_id"] for j in jobs] == ["001_01_000_0_00", "003_01_000_3_01", "005_01_000_4_01"]
    assert len(failures) == 2
    assert "004_01_000_3_02.hdf5: no depth twin" in failures[0][1]
    assert "not_a_recording.hdf5: wmca: cannot parse" in failures[1][1]
    with pytest.raises(InputError, match="hold different frames .*Frame_2"):
        list(jobs[2].frames())
    os.rename(os.path.join(root, wmca.PREPROCESSED_CDIT), os.path.join(root, "elsewhere"))
    with pytest.raises(InputError, match="WMCA_preprocessed_CDIT is missing"):
        wmca.wmca_jobs(root)


# --- raw WMCA and the depth registration ---------------------------------------------------------------------------
def _calibration(depth_fx=100.0, color_fx=100.0, translation=(0.0, 0.0, 0.0), depth_c=(3.5, 3.5),
                 color_c=(3.5, 3.5)):
    return {"depth_intrinsics": {"fx": depth_fx, "fy": depth_fx, "cx": depth_c[0], "cy": depth_c[1]},
            "color_intrinsics": {"fx": color_fx, "fy": color_fx, "cx": color_c[0], "cy": color_c[1]},
            "rotation": np.eye(3), "translation_mm": np.asarray(translation, float)}


def test_register_depth_by_hand():
    depth = np.zeros((8, 8), np.uint16)
    depth[2:6, 2:6] = 1000
    depth[3, 3] = 0   # a hole stays a hole
    # Identity calibration: every pixel onto itself.
    np.testing.assert_array_equal(wmca.register_depth(depth, _calibration(), (8, 8)), depth)
    # The colour camera 20 mm to the left of the depth camera (P_color = P_depth + (20, 0, 0)): at Z = 1000 mm with
    # f = 100 px a point moves by f * 20 / 1000 = 2 px to the right.
    moved = wmca.register_depth(depth, _calibration(translation=(20, 0, 0)), (8, 8))
    np.testing.assert_array_equal(moved[:, 2:], depth[:, :-2])
    assert np.all(moved[:, :2] == 0)
    # A colour camera of twice the resolution: each depth pixel covers 2 x 2 colour pixels, no gaps.
    full = np.full((4, 4), 800, np.uint16)
    up = wmca.register_depth(full, _calibration(color_fx=200.0, depth_c=(1.5, 1.5), color_c=(3.5, 3.5)), (8, 8))
    np.testing.assert_array_equal(up, np.full((8, 8), 800))
    # Occlusion: two depth pixels land on one colour pixel; the nearer one wins. Pixel (0, 1) at 1000 mm moves 2 px,
    # pixel (0, 2) at 2000 mm moves 1 px: both onto colour column 3.
    pair = np.zeros((2, 8), np.uint16)
    pair[0, 1], pair[0, 2] = 1000, 2000
    landed = wmca.register_depth(pair, _calibration(translation=(20, 0, 0), depth_c=(3.5, 0.5), color_c=(3.5, 0.5)),
                                 (2, 8))
    assert landed[0, 3] == 1000 and np.count_nonzero(landed) == 1


def test_raw_wmca_streams_are_read_and_registered(tmp_path):
    root = str(tmp_path)
    path = os.path.join(root, "face-station", "26.02.18", "001_01_000_0_00.hdf5")
    os.makedirs(os.path.dirname(path))
    colour = [_frame(k, (SIZE, SIZE, 3)) for k in range(3)]
    depth = np.zeros((3, SIZE // 2, SIZE // 2), np.uint16)
    depth[:, 1:5, 1:5] = 900
    with h5py.File(path, "w") as f:
        stream = f.create_group("data/sr300/color")
        for k, image in enumerate(colour):
            stream.create_dataset(f"09_35_{k:02d}", data=image)
        f.create_dataset("data/sr300/depth", data=depth)
    assert wmca.release_layout(root).depth_units == "mm"
    jobs, failures = wmca.wmca_jobs(root)
    assert failures == [] and jobs[0].depth_source == jobs[0].source
    with pytest.raises(InputError, match=r"depth \(6, 6\) differs from the colour frames \(12, 12\).*--wmca_calib"):
        next(jobs[0].frames())
    calibration = _calibration(depth_fx=100.0, color_fx=200.0, depth_c=(2.5, 2.5), color_c=(5.5, 5.5))
    calibration_file = tmp_path / "calibration.json"
    calibration_file.write_text(json.dumps({key: value.tolist() if isinstance(value, np.ndarray) else value
                                            for key, value in calibration.items()}))
    jobs, _ = wmca.wmca_jobs(root, str(calibration_file))
    frames = list(jobs[0].frames(every_k=2))
    assert [f[0] for f in frames] == [0, 2]
    np.testing.assert_array_equal(frames[1][1], colour[2])
    expected = np.zeros((SIZE, SIZE), np.uint16)
    expected[2:10, 2:10] = 900   # the 4 x 4 valid block at twice the resolution
    np.testing.assert_array_equal(frames[1][3], expected)
    calibration_file.write_text(json.dumps({"rotation": [[1, 0, 0]]}))
    with pytest.raises(InputError, match="calibration.json: expected depth_intrinsics"):
        wmca.wmca_jobs(root, str(calibration_file))


# --- WMCA protocols ---------------------------------------------------------------------------------------------
# Clients 1-3 train, 4-5 dev, 6-8 test. Per list: its recordings (stems), makeup and wig ones included as the
# release lists them.
WMCA_LISTS = {
    "train": ["001_01_000_0_00", "002_01_000_0_01", "003_01_000_0_02", "001_01_010_3_01", "002_01_010_3_06",
              "003_01_010_4_01", "001_01_010_2_01", "002_01_010_1_04", "003_01_010_2_08", "001_02_010_2_80",
              "002_02_010_2_12", "003_02_010_5_01"],
    "validation": ["004_01_000_0_00", "005_01_000_0_00", "004_01_010_3_02", "005_01_010_3_05", "004_01_010_1_05",
                   "005_01_010_1_13"],
    "test": ["006_01_000_0_00", "007_01_000_0_00", "008_01_000_0_01", "006_01_010_3_11", "007_01_010_3_12",
             "006_01_010_4_03", "007_01_010_3_10", "008_01_010_2_02", "006_02_010_1_15", "007_02_010_2_09",
             "008_02_010_2_90", "006_03_010_1_02", "007_03_010_2_13", "008_03_010_5_07", "006_04_010_1_10"],
}
# Hand-counted (videos, live) per subset: makeup (train 1, test 1) and the wig (test) are in no protocol.
WMCA_COUNTS = {
    "grandtest": {"train": (11, 3), "dev": (6, 2), "test": (13, 3)},
    "prints": {"train": (9, 3), "dev": (5, 2), "test": (5, 3)},
    "replay": {"train": (10, 3), "dev": (5, 2), "test": (5, 3)},
    "fakehead": {"train": (10, 3), "dev": (6, 2), "test": (4, 3)},
    "glasses": {"train": (10, 3), "dev": (5, 2), "test": (4, 3)},
    "papermask": {"train": (10, 3), "dev": (6, 2), "test": (4, 3)},
    "flexiblemask": {"train": (10, 3), "dev": (6, 2), "test": (4, 3)},
    "rigidmask": {"train": (10, 3), "dev": (5, 2), "test": (5, 3)},
}


def _wmca_records(lists):
    stems = {stem for names in lists.values() for stem in names}
    return [datasets.parse_video_name("wmca", stem) for stem in sorted(stems)
            if datasets.WMCA_PAI[tuple(datasets.wmca_name(stem)[1][3:])][0] not in datasets.WMCA_EXCLUDED]


def _write_wmca_lists(folder, lists, header=True):
    os.makedirs(folder, exist_ok=True)
    for name, stems in lists.items():
        lines = (["PATH,CLIENT"] if header else []) + [f"WMCA/face-station/01.01.18/{s}.hdf5,{s[:3]}" for s in stems]
        with open(os.path.join(folder, f"{name}.csv"), "w") as f:
            f.write("\n".join(lines) + "\n")


def test_wmca_grandtest_and_leave_one_out_folds_by_hand(tmp_path):
    lists = str(tmp_path / "lists")
    _write_wmca_lists(lists, WMCA_LISTS)
    records = _wmca_records(WMCA_LISTS)
    out = str(tmp_path / "datasets")
    protocols.build_protocols("wmca", records, out, lists_dir=lists)
    split_dir = os.path.join(out, "wmca")
    assert protocols.list_folds(split_dir, "loo") == sorted(protocols.WMCA_LOO_CATEGORIES)
    info = protocols.protocol_info(split_dir, "grandtest")
    assert (info["excluded_entries"], info["missing_entries"]) == (3, 0)
    kind = {r["video_id"]: r for r in records}
    for name, expected in WMCA_COUNTS.items():
        protocol, fold = ("grandtest", None) if name == "grandtest" else ("loo", name)
        subsets = protocols.load_fold(split_dir, protocol, fold)
        counts = {s: (len(ids), sum(kind[i]["label"] == 0 for i in ids)) for s, ids in subsets.items()}
        assert counts == expected, name
        if fold:
            assert all(kind[i]["attack"] != fold for s in ("train", "dev") for i in subsets[s])
            assert {kind[i]["attack"] for i in subsets["test"]} == {"bonafide", fold}
        saved = protocols.protocol_info(split_dir, protocol)["counts"][fold or "all"]
        assert {s: (c["videos"], c["live"]) for s, c in saved.items()} == expected


def test_wmca_lists_refuse_leakage_and_bad_lines(tmp_path):
    records = _wmca_records(WMCA_LISTS)
    out = str(tmp_path / "datasets")
    # A test recording listed in train too, a dev subject in test, a test list given twice, a line that is no
    # recording: each is refused, naming what is wrong.
    for change, message in ((lambda l: l["train"].append("006_01_000_0_00"), "videos in both train and test"),
                            (lambda l: l["test"].append("004_01_010_3_09"), r"subjects \['004'\] are in both dev and "
                                                                            "test"),
                            (lambda l: l.update(eval=l["test"]), r"expected one test list <test\|eval>"),
                            (lambda l: l["validation"].insert(2, "a_recording"), "line 4: 'WMCA/face-station/01.01.18"
                                                                                "/a_recording.hdf5' is not a WMCA")):
        lists = {k: list(v) for k, v in WMCA_LISTS.items()}
        change(lists)
        folder = str(tmp_path / f"lists_{len(os.listdir(tmp_path))}")
        _write_wmca_lists(folder, lists)
        extra = _wmca_records(lists) if "subjects" in message else records
        with pytest.raises(ValueError, match=message):
            protocols.build_protocols("wmca", extra, out, protocols=["grandtest"], lists_dir=folder)
    with pytest.raises(ValueError, match="--wmca_lists"):
        protocols.build_protocols("wmca", records, out)


# --- CeFA -------------------------------------------------------------------------------------------------------
def write_cefa_video(root, relative, frames=3, depth_size=None, colour="profile"):
    video = os.path.join(root, relative)
    for folder in (colour, "depth", "ir"):
        os.makedirs(os.path.join(video, folder))
    seed = sum(map(ord, relative))
    for k in range(1, frames + 1):
        cv2.imwrite(os.path.join(video, colour, f"{k:04d}.jpg"), _frame(seed + k, (SIZE, SIZE, 3)))
        side = depth_size or SIZE
        cv2.imwrite(os.path.join(video, "depth", f"{k:04d}.jpg"), np.full((side, side, 3), 20 * k, np.uint8))
        cv2.imwrite(os.path.join(video, "ir", f"{k:04d}.jpg"), np.zeros((SIZE, SIZE), np.uint8))
    return video


def test_cefa_frames_pair_colour_and_depth_by_name(tmp_path):
    root = str(tmp_path)
    write_cefa_video(root, "AF/AF-012-198006250024/1_012_1_1_1", frames=11)
    write_cefa_video(root, "EA/EA-300-199001010015/3_300_2_2_4", frames=2, depth_size=SIZE // 2, colour="color")
    write_cefa_video(root, "3D-Mask/073/1_073_1_0_2_1_2", frames=2)
    write_cefa_video(root, "AF/AF-013-1/not_a_name", frames=1)
    jobs, failures = cefa.cefa_jobs(root)
    assert [j.record["video_id"] for j in jobs] == ["1_073_1_0_2_1_2", "1_012_1_1_1", "3_300_2_2_4"]
    assert [(j.record["spoof_type"], j.record["attack"], j.record["subject"]) for j in jobs] == [
        ("rigid_mask", "3d_print_mask", "3d_print_mask_073"), ("live", "real", "AF_012"), ("replay", "screen", "EA_300")]
    assert len(failures) == 1 and "not_a_name: cefa: cannot parse" in failures[0][1]
    live = list(jobs[1].frames(every_k=5))
    assert [f[0] for f in live] == [0, 5, 10]
    for number, image, landmarks, depth in live:
        assert landmarks is None and image.shape == (SIZE, SIZE, 3) and depth.dtype == np.uint8
        assert depth.shape == (SIZE, SIZE) and np.all(np.abs(depth.astype(int) - 20 * (number + 1)) <= 1)   # JPEG
    screen = list(jobs[2].frames())
    assert screen[0][3].shape == (SIZE, SIZE)   # a smaller depth crop is resized to the colour crop
    os.remove(os.path.join(jobs[1].source, "depth", "0007.jpg"))
    with pytest.raises(InputError, match="frame '0007' has no image in depth/"):
        list(jobs[1].frames())


# Sub-protocol k trains and validates on ethnicity k, tests on the others (and the masks).
CEFA_VIDEOS = {1: ["1_000_1_1_1", "1_000_1_1_3", "1_001_1_1_1", "1_001_1_1_4"], 2: ["2_000_1_1_1", "2_000_1_1_2"],
               3: ["3_300_1_1_1", "3_300_1_1_4"], "mask": ["2_001_1_0_2_1_3"]}
CEFA_DEV = {1: ["1_200_1_1_1", "1_200_1_1_3"], 2: ["2_200_1_1_1", "2_200_1_1_4"], 3: ["3_200_1_1_1", "3_200_1_1_3"]}


def _line(name, label=True, frame=False):
    path = f"{'mask' if len(name.split('_')) == 7 else 'set'}/{name}" + ("/profile/0001.jpg" if frame else "")
    bona_fide = name.split("_")[-1] == "1" and len(name.split("_")) == 5
    return path + (f" {int(bona_fide)}" if label else "")


def _write_cefa_lists(folder, number=1, folds=3):
    os.makedirs(folder, exist_ok=True)
    for k in range(1, folds + 1):
        others = [v for race, names in CEFA_VIDEOS.items() if race != k for v in names]
        files = {"train": [_line(v, frame=True) for v in CEFA_VIDEOS[k] for _ in range(2)],
                 "dev_ref": [_line(v) for v in CEFA_DEV[k]], "test_res": [_line(v, label=False) for v in others]}
        for kind, lines in files.items():
            with open(os.path.join(folder, f"{number}@{k}_{kind}.txt"), "w") as f:
                f.write("\n".join(lines) + "\n")


def test_cefa_sub_protocols_by_hand(tmp_path):
    lists = str(tmp_path / "lists")
    _write_cefa_lists(lists)
    names = [v for group in (CEFA_VIDEOS, CEFA_DEV) for videos in group.values() for v in videos]
    records = [datasets.parse_video_name("cefa", name) for name in names]
    out = str(tmp_path / "datasets")
    protocols.build_protocols("cefa", records, out, protocols=["p1"], lists_dir=lists)
    split_dir = os.path.join(out, "cefa")
    assert protocols.list_folds(split_dir, "p1") == ["1", "2", "3"]
    label = {r["video_id"]: r["label"] for r in records}
    # (videos, live) by hand: train lists name frames, two per video, so a video counts once.
    expected = {"1": {"train": (4, 2), "dev": (2, 1), "test": (5, 2)},
                "2": {"train": (2, 1), "dev": (2, 1), "test": (7, 3)},
                "3": {"train": (2, 1), "dev": (2, 1), "test": (7, 3)}}
    for fold, counts in expected.items():
        subsets = protocols.load_fold(split_dir, "p1", fold)
        assert {s: (len(ids), sum(label[i] == 0 for i in ids)) for s, ids in subsets.items()} == counts
    # A list label against the video's name (the other label convention) is refused, naming the line.
    with open(os.path.join(lists, "1@2_dev_ref.txt"), "w") as f:
        f.write("set/2_200_1_1_1 0\n")
    with pytest.raises(ValueError, match=r"1@2_dev_ref.txt line 1: label 0 disagrees with 2_200_1_1_1 \(real\)"):
        protocols.build_protocols("cefa", records, out, protocols=["p1"], lists_dir=lists)
    with pytest.raises(ValueError, match="no CeFA list 2@1_train.txt"):
        protocols.build_protocols("cefa", records, out, protocols=["p2"], lists_dir=lists)
