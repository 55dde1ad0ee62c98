"""Protocol split builders on tiny fake datasets in each official naming scheme."""
import csv
import filecmp
import json
import os
import subprocess
import sys

import pytest

from physstd.data import datasets, protocols, spoof_types

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _touch_all(root, relatives):
    for rel in relatives:
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "wb").close()


def _same_tree(a, b):
    cmp = filecmp.dircmp(a, b)
    if cmp.left_only or cmp.right_only or filecmp.cmpfiles(a, b, cmp.common_files, shallow=False)[1:] != ([], []):
        return False
    return all(_same_tree(os.path.join(a, d), os.path.join(b, d)) for d in cmp.common_dirs)


# --- OULU-NPU: protocol files written in the official format ------------------------------------------
USERS = {"Train": range(1, 21), "Dev": range(21, 36), "Test": range(36, 56)}


def _oulu_entries(protocol, subset, fold):
    """The videos of one official protocol file, from the definitions of the OULU-NPU paper (Tab. 2)."""
    sessions = {1: {"Train": (1, 2), "Dev": (1, 2), "Test": (3,)}, 2: {"Train": (1, 2, 3), "Dev": (1, 2, 3), "Test": (1, 2, 3)},
                3: {"Train": (1, 2, 3), "Dev": (1, 2, 3), "Test": (1, 2, 3)}, 4: {"Train": (1, 2), "Dev": (1, 2), "Test": (3,)}}
    access = {1: (1, 2, 3, 4, 5), 3: (1, 2, 3, 4, 5)}.get(protocol, {"Train": (1, 2, 4), "Dev": (1, 2, 4),
                                                                   "Test": (1, 3, 5)}[subset])
    phones = range(1, 7)
    if protocol in (3, 4):
        phones = [fold] if subset == "Test" else [p for p in range(1, 7) if p != fold]
    for phone in phones:
        for session in sessions[protocol][subset]:
            for user in USERS[subset]:
                for a in access:
                    yield ("+1" if a == 1 else "-1" if a in (2, 3) or subset != "Test" else "-2",
                           f"{phone}_{session}_{user:02d}_{a}")


def _write_oulu_protocols(root):
    for protocol in (1, 2, 3, 4):
        folder = os.path.join(root, "Protocols", f"Protocol_{protocol}")
        os.makedirs(folder)
        for subset in ("Train", "Dev", "Test"):
            for fold in ([None] if protocol < 3 else range(1, 7)):
                name = f"{subset}.txt" if fold is None else f"{subset}_{fold}.txt"
                with open(os.path.join(folder, name), "w") as f:
                    f.writelines(f"{label},{video}\n" for label, video in _oulu_entries(protocol, subset, fold))


def _oulu_records():
    names = [f"{subset}_files/{phone}_{session}_{user:02d}_{a}.avi" for subset, users in USERS.items()
             for user in users for phone in range(1, 7) for session in (1, 2, 3) for a in range(1, 6)]
    return [datasets.parse_video_name("oulu_npu", n) for n in names]


def test_oulu_protocols_match_official_counts(tmp_path):
    _write_oulu_protocols(tmp_path)
    records = _oulu_records()
    assert len(records) == 4950
    out = tmp_path / "out"
    protocols.build_protocols("oulu_npu", records, str(out), oulu_protocol_files=str(tmp_path))
    split_dir = str(out / "oulu_npu")
    # Video counts of the OULU-NPU protocol table (train / dev / test per fold).
    expected = {"p1": (1200, 900, 600), "p2": (1080, 810, 1080), "p3": (1500, 1125, 300), "p4": (600, 450, 60)}
    users = {"train": set(USERS["Train"]), "dev": set(USERS["Dev"]), "test": set(USERS["Test"])}
    for protocol, counts in expected.items():
        folds = protocols.list_folds(split_dir, protocol)
        assert folds == ([] if protocol in ("p1", "p2") else [str(k) for k in range(1, 7)])
        for fold in folds or [None]:
            for subset, count in zip(("train", "dev", "test"), counts):
                ids = protocols.load_split(split_dir, protocol, subset, fold)
                assert len(ids) == count and ids == sorted(ids)
                assert {int(i.split("_")[2]) for i in ids} <= users[subset]
            if protocol in ("p3", "p4"):
                assert {i.split("_")[0] for i in protocols.load_split(split_dir, protocol, "test", fold)} == {fold}
    p4 = protocols.load_split(split_dir, "p4", "test", 2)
    assert {(i.split("_")[1], i.split("_")[3]) for i in p4} == {("3", "1"), ("3", "3"), ("3", "5")}
    info = protocols.protocol_info(split_dir, "p3")
    assert info["missing_entries"] == 0 and info["counts"]["4"]["test"] == {"videos": 300, "live": 60, "spoof": 240}


def test_oulu_missing_videos_and_bad_files(tmp_path):
    _write_oulu_protocols(tmp_path)
    records = [r for r in _oulu_records() if r["phone"] != 6]     # e.g. dropped in preprocessing
    splits, info = protocols.build_oulu(records, "p1", str(tmp_path / "Protocols"))
    assert info["missing_entries"] == (1200 + 900 + 600) // 6
    assert len(splits[None]["test"]) == 500
    bad = tmp_path / "Protocols" / "Protocol_1" / "Dev.txt"
    bad.write_text("+1,1_1_21_1\n+1,1_1_21_2\n")
    with pytest.raises(ValueError, match="Dev.txt' line 2: label \\+1 disagrees with access type 2"):
        protocols.build_oulu(records, "p1", str(tmp_path))
    bad.write_text("1_1_21_1\n")
    with pytest.raises(ValueError, match="line 1: expected"):
        protocols.build_oulu(records, "p1", str(tmp_path))
    with pytest.raises(ValueError, match="no Protocol_1"):
        protocols.build_oulu(records, "p1", str(tmp_path / "Protocols" / "Protocol_1"))


# --- SiW ----------------------------------------------------------------------------------------------
def _siw_tree(root, train_subjects=(1, 2, 3), test_subjects=(91, 92)):
    files = []
    for split, subjects in (("Train", train_subjects), ("Test", test_subjects)):
        for s in subjects:
            for session in range(1, 5):
                files.append(f"{split}/live/{s:03d}/{s:03d}-1-1-1-{session}.mov")
            for medium in (1, 2):
                files.append(f"{split}/spoof/{s:03d}/{s:03d}-1-2-{medium}-1.mov")
            for medium in (1, 2, 3, 4):
                files += [f"{split}/spoof/{s:03d}/{s:03d}-{sensor}-3-{medium}-1.mov" for sensor in (1, 2)]
    _touch_all(root, files)


def test_siw_protocols(tmp_path):
    _siw_tree(tmp_path / "raw")
    records = datasets.scan_dataset("siw", str(tmp_path / "raw"))
    by_id = {r["video_id"]: r for r in records}
    protocols.build_protocols("siw", records, str(tmp_path / "out"))
    split_dir = str(tmp_path / "out" / "siw")
    assert protocols.list_folds(split_dir, "p1") == []
    assert protocols.protocol_info(split_dir, "p1")["train_frame_limit"] == 60
    assert len(protocols.load_split(split_dir, "p1", "train")) == 3 * 14
    assert len(protocols.load_split(split_dir, "p1", "test")) == 2 * 14
    with pytest.raises(ValueError, match="has subsets train, test"):
        protocols.load_split(split_dir, "p1", "dev")
    assert protocols.list_folds(split_dir, "p2") == ["1", "2", "3", "4"]
    for medium in range(1, 5):
        train = [by_id[i] for i in protocols.load_split(split_dir, "p2", "train", medium)]
        test = [by_id[i] for i in protocols.load_split(split_dir, "p2", "test", str(medium))]
        assert len(train) == 3 * (4 + 6) and len(test) == 2 * (4 + 2)
        assert all(r["spoof_type"] != "print" for r in train + test)
        assert {r["medium"] for r in train if r["label"]} == {1, 2, 3, 4} - {medium}
        assert {r["medium"] for r in test if r["label"]} == {medium}
        assert {r["subject"] for r in train}.isdisjoint({r["subject"] for r in test})
    assert protocols.list_folds(split_dir, "p3") == ["1", "2"]
    for fold, seen, unseen in ((1, "print", "replay"), (2, "replay", "print")):
        train = {by_id[i]["spoof_type"] for i in protocols.load_split(split_dir, "p3", "train", fold)}
        test = {by_id[i]["spoof_type"] for i in protocols.load_split(split_dir, "p3", "test", fold)}
        assert (train, test) == ({"live", seen}, {"live", unseen})
    with pytest.raises(ValueError, match="pass fold="):
        protocols.load_split(split_dir, "p2", "train")
    with pytest.raises(ValueError, match="no fold '5'"):
        protocols.load_split(split_dir, "p2", "train", 5)
    with pytest.raises(ValueError, match="no protocol 'p9'"):
        protocols.load_split(split_dir, "p9", "train")


def test_siw_needs_train_test_folders():
    records = [datasets.parse_video_name("siw", "001-1-1-1-1.mov")]
    with pytest.raises(ValueError, match="has no 'split'"):
        protocols.build_siw(records, "p1")


def test_subject_crossing_is_refused(tmp_path):
    records = [datasets.parse_video_name("siw", "Train/live/001/001-1-1-1-1.mov"),
               datasets.parse_video_name("siw", "Test/live/001/001-1-1-1-2.mov")]
    with pytest.raises(ValueError, match=r"subjects \['001'\] are in both train and test"):
        protocols.build_protocols("siw", records, str(tmp_path), ["p1"])
    assert not os.path.exists(tmp_path / "siw" / "p1")


# --- SiW-M --------------------------------------------------------------------------------------------
def _siwm_records(per_species=10, live=20):
    names = [f"Live/Live_{i}.mov" for i in range(1, live + 1)]
    names += [f"Spoof/{p}/{p}_{i}.mov" for p in datasets.SIWM_PREFIXES if p != "Live" for i in range(1, per_species + 1)]
    return [datasets.parse_video_name("siw_m", n) for n in names]


def test_siwm_protocols(tmp_path):
    records = _siwm_records()
    kind = {r["video_id"]: r["spoof_type"] for r in records}
    species = {r["video_id"]: r["attack"] for r in records}
    protocols.build_protocols("siw_m", records, str(tmp_path / "a"), seed=3)
    split_dir = str(tmp_path / "a" / "siw_m")
    p1_train = protocols.load_split(split_dir, "p1", "train")
    p1_test = protocols.load_split(split_dir, "p1", "test")
    for s in datasets.SIWM_PREFIXES:   # 60/40 within every species
        n = 20 if s == "Live" else 10
        assert sum(species[i] == s for i in p1_train) == round(0.6 * n)
        assert sum(species[i] == s for i in p1_test) == n - round(0.6 * n)
    folds = protocols.list_folds(split_dir, "p2")
    assert len(folds) == 13 and set(folds) == set(spoof_types.SIWM_TYPES)
    live_train = None
    for t in folds:
        train = protocols.load_split(split_dir, "p2", "train", t)
        test = protocols.load_split(split_dir, "p2", "test", t)
        assert t not in {kind[i] for i in train} and {kind[i] for i in test} == {"live", t}
        assert {kind[i] for i in train} == {"live", *spoof_types.SIWM_TYPES} - {t}
        lt = sorted(i for i in train if kind[i] == "live")
        assert len(lt) == 16 and sum(kind[i] == "live" for i in test) == 4
        assert live_train in (None, lt)
        live_train = lt
        assert len(test) == 4 + (20 if t == "partial_paper" else 10)   # Partial_Eye + Partial_Mouth
    assert len(protocols.list_folds(split_dir, "p3")) == 13
    for t in protocols.list_folds(split_dir, "p3"):
        train = protocols.load_split(split_dir, "p3", "train", t)
        test = protocols.load_split(split_dir, "p3", "test", t)
        assert set(train) == {i for i in p1_train if kind[i] != t}
        assert set(test) == set(p1_test) | {i for i in kind if kind[i] == t}
    # Deterministic for a seed, different for another; a species' split does not depend on the others.
    protocols.build_protocols("siw_m", records, str(tmp_path / "b"), seed=3)
    assert _same_tree(str(tmp_path / "a"), str(tmp_path / "b"))
    protocols.build_protocols("siw_m", records, str(tmp_path / "c"), ["p1"], seed=4)
    assert protocols.load_split(str(tmp_path / "c" / "siw_m"), "p1", "train") != p1_train
    fewer = [r for r in records if r["attack"] != "Replay"]
    protocols.build_protocols("siw_m", fewer, str(tmp_path / "d"), seed=3)
    d = str(tmp_path / "d" / "siw_m")
    assert protocols.load_split(d, "p1", "train") == [i for i in p1_train if species[i] != "Replay"]
    assert "replay" not in protocols.list_folds(d, "p2")
    assert protocols.protocol_info(d, "p2")["skipped_folds"] == ["replay"]


# --- CASIA-FASD, Replay-Attack, MSU-MFSD --------------------------------------------------------------
CASIA_FILES = ["1", "2", "HR_1", "3", "4", "HR_2", "5", "6", "HR_3", "7", "8", "HR_4"]


def _casia_tree(root):
    _touch_all(root, [f"{rel}_release/{s}/{n}.avi" for rel, subjects in (("train", (1, 2)), ("test", (1, 2, 3)))
                      for s in subjects for n in CASIA_FILES])


def _replay_tree(root):
    files = []
    for split, clients in (("train", (1, 2)), ("devel", (3,)), ("test", (4, 5))):
        for c in clients:
            files += [f"{split}/real/client{c:03d}_session01_webcam_authenticate_{light}_{t}.mov"
                      for light in ("adverse", "controlled") for t in (1, 2)]
            files.append(f"enroll/{split}/client{c:03d}_session01_webcam_enroll_adverse.mov")
            for support in ("fixed", "hand"):
                for device, sample, kind in (("print", "highdef", "photo"), ("mobile", "mobile", "photo"),
                                             ("highdef", "highdef", "photo"), ("mobile", "mobile", "video"),
                                             ("highdef", "highdef", "video")):
                    files.append(f"{split}/attack/{support}/attack_{device}_client{c:03d}_session01_{sample}_{kind}"
                                 f"_adverse.mov")
    _touch_all(root, files)


def _msu_tree(root):
    files = []
    for c in (2, 3, 1, 13):
        for device, ext in (("android", "mp4"), ("laptop", "mov")):
            files.append(f"scene01/real/real_client{c:03d}_{device}_SD_scene01.{ext}")
            files += [f"scene01/attack/attack_client{c:03d}_{device}_SD_{k}_scene01.{ext}"
                      for k in ("ipad_video", "iphone_video", "printed_photo")]
    _touch_all(root, files)


@pytest.mark.parametrize("dataset,make,counts", [
    ("casia_fasd", _casia_tree, {"train": 24, "test": 36}),
    ("replay_attack", _replay_tree, {"train": 28, "dev": 14, "test": 28}),
    ("msu_mfsd", _msu_tree, {"train": 16, "test": 16})])
def test_official_and_cross_type(tmp_path, dataset, make, counts):
    make(tmp_path / "raw")
    records = datasets.scan_dataset(dataset, str(tmp_path / "raw"))
    by_id = {r["video_id"]: r for r in records}
    protocols.build_protocols(dataset, records, str(tmp_path / "out"))
    split_dir = str(tmp_path / "out" / dataset)
    for subset, n in counts.items():
        ids = protocols.load_split(split_dir, "official", subset)
        assert len(ids) == n and all(by_id[i].get("purpose") != "enroll" for i in ids)
    folds = protocols.list_folds(split_dir, "cross_type")
    assert sorted(folds) == sorted(protocols.CROSS_TYPE_SPECIES[dataset])
    for left_out in folds:
        train = [by_id[i] for i in protocols.load_split(split_dir, "cross_type", "train", left_out)]
        test = [by_id[i] for i in protocols.load_split(split_dir, "cross_type", "test", left_out)]
        assert {r["attack"] for r in train} == {"live"} | set(folds) - {left_out}
        assert {r["attack"] for r in test} == {"live", left_out}
        assert {r["split"] for r in train} == {"train"} and {r["split"] for r in test} == {"test"}
        assert sum(r["label"] == 0 for r in test) == sum(by_id[i]["label"] == 0
                                                        for i in protocols.load_split(split_dir, "official", "test"))
        if dataset == "replay_attack":
            dev = [by_id[i] for i in protocols.load_split(split_dir, "cross_type", "dev", left_out)]
            assert {r["attack"] for r in dev} == {"live"} | set(folds) - {left_out}


def test_cross_dataset_and_index_input(tmp_path):
    _casia_tree(tmp_path / "casia")
    _replay_tree(tmp_path / "replay")
    casia = datasets.scan_dataset("casia_fasd", str(tmp_path / "casia"))
    # An index.csv as the preprocessing writes it (video_id,path,label,spoof_type,subject,num_frames,<fields>).
    index = tmp_path / "replay_index.csv"
    replay = datasets.scan_dataset("replay_attack", str(tmp_path / "replay"))
    columns = ["video_id", "path", "label", "spoof_type", "subject", "num_frames"] + sorted(
        {k for r in replay for k in r} - {"video_id", "label", "spoof_type", "subject"})
    with open(index, "w", newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        for r in replay:
            writer.writerow(dict(r, path=r["video_id"], num_frames=3, split=r["split"] or ""))
    from_index = protocols.records_from_index(str(index), "replay_attack")
    assert [r["video_id"] for r in from_index] == [r["video_id"] for r in replay]
    protocols.build_protocols("cross_dataset", {"casia_fasd": casia, "replay_attack": from_index}, str(tmp_path / "out"))
    split_dir = str(tmp_path / "out" / "cross_dataset")
    c2r = protocols.protocol_info(split_dir, "casia_to_replay")
    assert c2r["subset_datasets"] == {"train": "casia_fasd", "dev": "casia_fasd", "test": "replay_attack"}
    assert protocols.load_split(split_dir, "casia_to_replay", "test") == sorted(
        r["video_id"] for r in replay if r["split"] == "test" and r["purpose"] != "enroll")
    assert len(protocols.load_split(split_dir, "replay_to_casia", "train")) == 28
    assert len(protocols.load_split(split_dir, "casia_to_replay", "dev")) == 36           # CASIA test release
    assert len(protocols.load_split(split_dir, "replay_to_casia", "dev")) == 14           # Replay devel
    assert len(protocols.load_split(split_dir, "replay_to_casia", "test")) == 36
    with pytest.raises(ValueError, match="needs the videos of replay_attack"):
        protocols.build_protocols("cross_dataset", {"casia_fasd": casia}, str(tmp_path / "x"))
    bad = tmp_path / "bad.csv"
    bad.write_text("video_id,label,spoof_type,subject\nv1,,live,3\n")
    with pytest.raises(ValueError, match="bad.csv' line 2: column 'label'"):
        protocols.records_from_index(str(bad), "replay_attack")


def test_siw_to_oulu_trains_on_siw_and_tests_each_oulu_fold(tmp_path):
    """LGSC paper, Tab. 4: SiW train (every training video), threshold on SiW's test split, test = the OULU-NPU
    protocol's test split of each fold; a run given casia and replay builds only their two protocols."""
    _siw_tree(tmp_path / "siw")
    _write_oulu_protocols(tmp_path)
    siw = datasets.scan_dataset("siw", str(tmp_path / "siw"))
    records = {"siw": siw, "oulu_npu": _oulu_records()}
    written = protocols.build_protocols("cross_dataset", records, str(tmp_path / "out"),
                                        oulu_protocol_files=str(tmp_path))
    assert [os.path.basename(p) for p in written] == [f"siw_to_oulu_p{k}" for k in range(1, 5)]
    split_dir = str(tmp_path / "out" / "cross_dataset")
    oulu_test = {"p1": 600, "p2": 1080, "p3": 300, "p4": 60}   # the official test counts per fold
    for k in range(1, 5):
        name = f"siw_to_oulu_p{k}"
        info = protocols.protocol_info(split_dir, name)
        assert info["subset_datasets"] == {"train": "siw", "dev": "siw", "test": "oulu_npu"}
        folds = protocols.list_folds(split_dir, name)
        assert folds == ([] if k < 3 else [str(f) for f in range(1, 7)])
        for fold in folds or [None]:
            assert len(protocols.load_split(split_dir, name, "train", fold)) == 3 * 14      # SiW Train/, all videos
            assert len(protocols.load_split(split_dir, name, "dev", fold)) == 2 * 14        # SiW Test/
            test = protocols.load_split(split_dir, name, "test", fold)
            assert len(test) == oulu_test[f"p{k}"]
            if fold is not None:
                assert {i.split("_")[0] for i in test} == {fold}                         # that fold's phone
    with pytest.raises(ValueError, match="siw_to_oulu_p1 needs OULU-NPU's Protocols folder"):
        protocols.build_protocols("cross_dataset", records, str(tmp_path / "x"), ["siw_to_oulu_p1"])
    with pytest.raises(ValueError, match="siw_to_oulu_p2 needs the videos of oulu_npu"):
        protocols.build_protocols("cross_dataset", {"siw": siw}, str(tmp_path / "x"), ["siw_to_oulu_p2"])


@pytest.mark.slow
def test_cli_from_raw_tree(tmp_path):
    raw = tmp_path / "raw"
    _touch_all(raw, [f"Spoof/{p}/{p}_{i}.mov" for p in ("Replay", "Paper", "Mask_Half") for i in range(1, 6)]
               + [f"Live/Live_{i}.mov" for i in range(1, 11)])
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "physstd.data.protocols", "--dataset=siw_m", f"--raw_root={raw}",
                          f"--out={out}", "--protocols=p1,p2", "--seed=7"], cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    info = json.loads((out / "siw_m" / "p2" / "protocol.json").read_text())
    assert info["seed"] == 7 and info["folds"] == ["replay", "print", "half_mask"]
    assert info["counts"]["half_mask"]["test"] == {"videos": 7, "live": 2, "spoof": 5}
    assert not (out / "siw_m" / "p3").exists()
    assert [p for p in os.listdir(out / "siw_m") if p.startswith(".")] == []
