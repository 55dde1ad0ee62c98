"""Official file naming of OULU-NPU, SiW, SiW-M, CASIA-FASD, Replay-Attack and MSU-MFSD."""
import os

import pytest

from physstd.data import datasets, spoof_types
from physstd.data.datasets import parse_video_name


def test_oulu_fields_and_split_by_user():
    r = parse_video_name("oulu_npu", "Train_files/3_2_07_5.avi")
    assert r == {"video_id": "3_2_07_5", "label": 1, "spoof_type": "replay", "attack": "replay_2",
                 "subject": "07", "split": "train", "name": "3_2_07_5", "phone": 3, "session": 2, "access_type": 5}
    expected = {1: ("live", 0), 2: ("print", 1), 3: ("print", 1), 4: ("replay", 1), 5: ("replay", 1)}
    for access, (kind, label) in expected.items():
        r = parse_video_name("oulu_npu", f"6_3_40_{access}.avi")
        assert (r["spoof_type"], r["label"], r["split"]) == (kind, label, "test")
    assert parse_video_name("oulu_npu", "Dev_files/1_1_21_1")["split"] == "dev"   # a frame folder
    assert parse_video_name("oulu_npu", "1_1_20_1.avi")["split"] == "train"
    assert parse_video_name("oulu_npu", "1_1_35_1.avi")["split"] == "dev"
    assert parse_video_name("oulu_npu", "1_1_36_1.avi")["split"] == "test"


@pytest.mark.parametrize("bad", ["7_1_01_1.avi", "1_4_01_1.avi", "1_1_1_1.avi", "1_1_01_6.avi", "1_1_56_1.avi",
                                 "Train_files/1_1_40_1.avi", "clip.avi"])
def test_oulu_rejects_unknown_names(bad):
    with pytest.raises(ValueError, match="oulu_npu.*expected .*phone"):
        parse_video_name("oulu_npu", bad)


def test_siw_fields():
    r = parse_video_name("siw", "Train/spoof/006/006-2-3-4-1.mov")
    assert (r["video_id"], r["subject"], r["sensor"], r["type_id"], r["medium"], r["session"]) == (
        "006-2-3-4-1", "006", 2, 3, 4, 1)
    assert (r["label"], r["spoof_type"], r["attack"], r["split"]) == (1, "replay", "replay_4", "train")
    r = parse_video_name("siw", "Test/live/101/101-1-1-1-2.mov")
    assert (r["label"], r["spoof_type"], r["split"]) == (0, "live", "test")
    assert parse_video_name("siw", "Test/spoof/120/120-1-2-2-1.mp4")["attack"] == "print_2"
    assert parse_video_name("siw", "120-1-2-2-1.mov")["split"] is None
    with pytest.raises(ValueError, match="under live/"):
        parse_video_name("siw", "Train/live/006/006-2-3-4-1.mov")
    with pytest.raises(ValueError, match="siw: cannot parse"):
        parse_video_name("siw", "Train/live/006/006-2-4-1-1.mov")


def test_siwm_prefixes_cover_all_thirteen_types():
    assert set(datasets.SIWM_PREFIXES.values()) == {"live", *spoof_types.SIWM_TYPES}
    r = parse_video_name("siw_m", "Makeup_Co_41.mov")
    assert (r["video_id"], r["spoof_type"], r["attack"], r["label"], r["number"]) == (
        "Makeup_Co_41", "cosmetic", "Makeup_Co", 1, 41)
    assert parse_video_name("siw_m", "Live/Live_3.mov")["label"] == 0
    assert parse_video_name("siw_m", "Spoof/Partial_Eye/Partial_Eye_5.mov")["spoof_type"] == "partial_paper"
    assert parse_video_name("siw_m", "Partial_Mouth_5")["spoof_type"] == "partial_paper"
    # A bare number under a folder that names the species (SiW-Mv2 long folder names).
    r = parse_video_name("siw_m", "Spoof/Mask_TransparentMask/12.mov")
    assert (r["video_id"], r["spoof_type"]) == ("Mask_Trans_12", "transparent_mask")
    assert parse_video_name("siw_m", "Partial/FunnyeyeGlasses/7.mov")["spoof_type"] == "funny_eye"
    with pytest.raises(ValueError, match="no folder names"):
        parse_video_name("siw_m", "Spoof/Unknown/7.mov")
    with pytest.raises(ValueError, match="siw_m: cannot parse"):
        parse_video_name("siw_m", "Mask_Gold_1.mov")


def test_casia_twelve_videos_per_subject():
    names = ["1", "2", "HR_1", "3", "4", "HR_2", "5", "6", "HR_3", "7", "8", "HR_4"]
    species = [parse_video_name("casia_fasd", f"train_release/4/{n}.avi")["attack"] for n in names]
    assert species == ["live"] * 3 + ["warped_photo"] * 3 + ["cut_photo"] * 3 + ["video"] * 3
    qualities = [parse_video_name("casia_fasd", f"train_release/4/{n}.avi")["quality"] for n in names]
    assert qualities == ["normal", "low", "high"] * 4
    r = parse_video_name("casia_fasd", "CASIA/test_release/30/HR_4.avi")
    assert (r["video_id"], r["subject"], r["split"], r["spoof_type"]) == ("test_30_HR_4", "50", "test", "replay")
    assert parse_video_name("casia_fasd", "train_release/20/5.avi")["spoof_type"] == "print"
    for bad in ("train_release/21/1.avi", "test_release/31/1.avi", "train_release/1/9.avi", "release/1/1.avi"):
        with pytest.raises(ValueError, match="casia_fasd"):
            parse_video_name("casia_fasd", bad)


def test_replay_attack_species_and_supports():
    r = parse_video_name("replay_attack", "devel/real/client003_session01_webcam_authenticate_controlled_2.mov")
    assert (r["label"], r["split"], r["subject"], r["light"], r["take"], r["purpose"]) == (
        0, "dev", "3", "controlled", 2, "authenticate")
    cases = {"attack_print_client101_session01_highdef_photo_adverse": ("print_photo", "print"),
             "attack_mobile_client101_session01_mobile_photo_adverse": ("digital_photo", "replay"),
             "attack_highdef_client101_session01_highdef_photo_controlled": ("digital_photo", "replay"),
             "attack_mobile_client101_session01_mobile_video_adverse": ("video", "replay"),
             "attack_highdef_client101_session01_highdef_video_adverse": ("video", "replay")}
    for stem, (species, kind) in cases.items():
        r = parse_video_name("replay_attack", f"test/attack/fixed/{stem}.mov")
        assert (r["attack"], r["spoof_type"], r["label"], r["subject"], r["split"]) == (species, kind, 1, "101", "test")
    fixed = parse_video_name("replay_attack", "train/attack/fixed/attack_print_client001_session01_highdef_photo_adverse.mov")
    hand = parse_video_name("replay_attack", "train/attack/hand/attack_print_client001_session01_highdef_photo_adverse.mov")
    assert fixed["video_id"] != hand["video_id"] and (fixed["support"], hand["support"]) == ("fixed", "hand")
    enroll = parse_video_name("replay_attack", "enroll/train/client001_session01_webcam_enroll_adverse.mov")
    assert (enroll["purpose"], enroll["split"], enroll["label"]) == ("enroll", "train", 0)
    with pytest.raises(ValueError, match="attack/fixed or attack/hand"):
        parse_video_name("replay_attack", "train/attack/attack_print_client001_session01_highdef_photo_adverse.mov")
    with pytest.raises(ValueError, match="replay_attack: cannot parse"):
        parse_video_name("replay_attack", "train/attack/fixed/attack_paper_client001_session01_highdef_photo_adverse.mov")


def test_msu_species_and_shipped_subject_split():
    assert len(datasets.MSU_TRAIN_SUBJECTS) == 15 and len(datasets.MSU_TEST_SUBJECTS) == 20
    assert not set(datasets.MSU_TRAIN_SUBJECTS) & set(datasets.MSU_TEST_SUBJECTS)
    r = parse_video_name("msu_mfsd", "scene01/real/real_client002_android_SD_scene01.mp4")
    assert (r["label"], r["split"], r["device"], r["subject"], r["attack"]) == (0, "train", "android", "2", "live")
    species = {"ipad_video": "hr_video", "iphone_video": "mobile_video", "printed_photo": "printed_photo"}
    for token, name in species.items():
        r = parse_video_name("msu_mfsd", f"attack/attack_client001_laptop_SD_{token}_scene01.mov")
        assert (r["attack"], r["split"], r["label"]) == (name, "test", 1)
    for bad in ("real/real_client004_android_SD_scene01.mp4",           # not in either list
                "real/real_client002_android_SD_printed_photo_scene01.mp4",
                "attack/attack_client002_android_SD_scene01.mp4"):
        with pytest.raises(ValueError, match="msu_mfsd"):
            parse_video_name("msu_mfsd", bad)


def test_unknown_dataset():
    with pytest.raises(ValueError, match="unknown dataset 'oulu'"):
        parse_video_name("oulu", "1_1_01_1.avi")


def _touch(root, relative):
    path = os.path.join(root, relative)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "wb").close()


def test_scan_dataset_walks_tree(tmp_path):
    for rel in ("train_release/1/1.avi", "train_release/1/HR_3.avi", "test_release/2/7.avi", "readme.txt"):
        _touch(tmp_path, rel)
    records = datasets.scan_dataset("casia_fasd", str(tmp_path))
    assert [r["video_id"] for r in records] == ["test_2_7", "train_1_1", "train_1_HR_3"]
    assert records[1]["source_path"] == "train_release/1/1.avi"
    _touch(tmp_path, "train_release/1/extra.avi")
    with pytest.raises(ValueError, match="extra.avi"):
        datasets.scan_dataset("casia_fasd", str(tmp_path))
    assert len(datasets.scan_dataset("casia_fasd", str(tmp_path), skip_unknown=True)) == 3
    _touch(tmp_path, "copy/train_release/1/1.avi")
    with pytest.raises(ValueError, match="same video_id 'train_1_1'"):
        datasets.scan_dataset("casia_fasd", str(tmp_path), skip_unknown=True)
