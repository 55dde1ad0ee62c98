"""Deterministic train/dev/test split lists for the published protocols.

Layout written (and read by `load_split`):

    <out>/<dataset>/<protocol>/protocol.json                source, definition, folds, counts, frame limits
    <out>/<dataset>/<protocol>/[fold_<k>/]{train,dev,test}.txt   one video_id per line, sorted

`dev.txt` exists only where the protocol has a development set (OULU-NPU, Replay-Attack); elsewhere the
threshold comes from the training set (PhySTD paper, Sec. 4.1). A protocol directory is built in a temporary
folder and moved into place in one rename, so a reader never sees half a protocol.

Protocols (names are directory names):
    oulu_npu       p1 p2 p3(6 folds) p4(6 folds)   from the dataset's Protocols/Protocol_N/{Train,Dev,Test}[_k].txt
    siw            p1 (train frame limit 60), p2 (4 folds: replay medium left out), p3 (2 folds: print<->replay)
    siw_m          p1 (seeded 60/40), p2 (13 leave-one-type-out folds), p3 (13 open-set folds)
    casia_fasd, replay_attack, msu_mfsd   official (shipped split), cross_type (3 leave-one-attack-out folds)
    cross_dataset  casia_to_replay, replay_to_casia   (STDN+ paper, Tab. 3; each subset names its dataset)
                   siw_to_oulu_p1..p4 (LGSC paper, Tab. 4: train on SiW, test on each OULU-NPU protocol's test
                   split, its folds for p3 and p4); a run builds those whose datasets it is given
    wmca           grandtest (the release's train / validation / test lists), loo (7 leave-one-PAI-out folds)
    cefa           p1 (3 folds), p2 (2 folds), p4 (3 folds)   from the dataset's <p>@<k>_{train,dev_ref,test_res}.txt

CLI (video ids come from the prepared index, so videos dropped by preprocessing are not listed):
    python -m physstd.data.protocols --dataset=oulu_npu --index=<prepared>/index.csv \
        --oulu_protocols=<OULU-NPU>/Protocols --out=datasets
    python -m physstd.data.protocols --dataset=siw_m --raw_root=<SiW-M> --out=datasets   # from the raw tree
    python -m physstd.data.protocols --dataset=cross_dataset --index=casia_fasd=<c>/index.csv \
        --index=replay_attack=<r>/index.csv --out=datasets
    python -m physstd.data.protocols --dataset=cross_dataset --index=siw=<s>/index.csv \
        --index=oulu_npu=<o>/index.csv --oulu_protocols=<OULU-NPU>/Protocols --out=datasets
    python -m physstd.data.protocols --dataset=wmca --index=<prepared>/index.csv --wmca_lists=<grandtest lists>
    python -m physstd.data.protocols --dataset=cefa --index=<prepared>/index.csv --cefa_lists=<CeFA list folder>
"""
import csv
import json
import logging
import os
import re
import shutil
import zlib

import numpy as np

from physstd import cli, files
from physstd.data import datasets, prepared, spoof_types

SUBSETS = ("train", "dev", "test")
PROTOCOLS = {
    "oulu_npu": ("p1", "p2", "p3", "p4"),
    "siw": ("p1", "p2", "p3"),
    "siw_m": ("p1", "p2", "p3"),
    "casia_fasd": ("official", "cross_type"),
    "replay_attack": ("official", "cross_type"),
    "msu_mfsd": ("official", "cross_type"),
    "cross_dataset": ("casia_to_replay", "replay_to_casia", "siw_to_oulu_p1", "siw_to_oulu_p2", "siw_to_oulu_p3",
                      "siw_to_oulu_p4"),
    "wmca": ("grandtest", "loo"),
    "cefa": ("p1", "p2", "p4"),
}
# (source, target) dataset of each cross-dataset protocol.
CROSS_DATASETS = {"casia_to_replay": ("casia_fasd", "replay_attack"), "replay_to_casia": ("replay_attack", "casia_fasd"),
                  **{f"siw_to_oulu_p{k}": ("siw", "oulu_npu") for k in range(1, 5)}}
SIW_P1_TRAIN_FRAME_LIMIT = 60
SIWM_P1_TRAIN_FRACTION = 0.6   # PhySTD paper, Sec. 4.2
SIWM_P2_LIVE_TRAIN_FRACTION = 0.8   # PhySTD paper, Sec. 4.3
# Attack species left out in turn by the cross-type protocol, in the column order of the STDN+ paper's Tab. 4.
CROSS_TYPE_SPECIES = {
    "casia_fasd": ("video", "cut_photo", "warped_photo"),
    "replay_attack": ("video", "digital_photo", "print_photo"),
    "msu_mfsd": ("printed_photo", "hr_video", "mobile_video"),
}
# WMCA's leave-one-out folds: the PAI categories of the release's file-id map (makeup is in no protocol).
WMCA_LOO_CATEGORIES = ("fakehead", "flexiblemask", "glasses", "papermask", "prints", "replay", "rigidmask")
# WMCA list file names of each subset (any of .txt .lst .csv or no extension).
WMCA_LIST_NAMES = {"train": ("train",), "dev": ("validation", "dev", "devel"), "test": ("test", "eval")}
WMCA_LIST_EXTENSIONS = ("", ".txt", ".lst", ".csv")
# CeFA sub-protocols per protocol; list files <number>@<k>_<kind>.txt.
CEFA_FOLDS = {"p1": 3, "p2": 2, "p4": 3}
CEFA_LIST_KINDS = {"train": ("train",), "dev": ("dev_ref",), "test": ("test_ref", "test_res")}
CEFA_BONA_FIDE_LABEL = 1   # CeFA lists (the challenge release): 1 bona fide, 0 attack


# --- reading split lists ------------------------------------------------------------------------------
def _protocol_dir(split_dir, protocol):
    path = os.path.join(split_dir, protocol)
    if not os.path.isdir(path):
        have = sorted(d for d in os.listdir(split_dir)) if os.path.isdir(split_dir) else []
        raise ValueError(f"no protocol {protocol!r} under {split_dir!r} (found: {', '.join(have) or 'nothing'}); "
                         f"build it with `python -m physstd.data.protocols`")
    return path


def list_folds(split_dir, protocol):
    """Fold names of a protocol ('1'..'6', 'half_mask', ...), naturally sorted (files.natural_key); [] for a single
    split."""
    path = _protocol_dir(split_dir, protocol)
    folds = [d[len("fold_"):] for d in os.listdir(path)
             if d.startswith("fold_") and os.path.isdir(os.path.join(path, d))]
    return sorted(folds, key=files.natural_key)


def protocol_info(split_dir, protocol):
    """The protocol.json of a protocol ({} when the folder has none, e.g. hand-made lists)."""
    path = os.path.join(_protocol_dir(split_dir, protocol), "protocol.json")
    if not os.path.exists(path):
        return {}
    info = files.read_json(path, "protocol description")
    if not isinstance(info, dict):
        raise ValueError(f"{path}: expected a JSON object (python -m physstd.data.protocols writes it), got "
                         f"{type(info).__name__}")
    return info


class SubsetMissing(ValueError):
    """The protocol (fold) has no list of the asked subset (a protocol without a dev list, say)."""


# protocol.json key of a protocol whose subsets are meant to share videos or identities (none of the papers'
# protocols; the toy set of the tests is one): leakage is then not refused.
ALLOW_OVERLAP_KEY = "allow_split_overlap"
# Subset pairs that must share no identity: the test subjects are unseen in training and in calibration.
IDENTITY_DISJOINT = (("train", "test"), ("dev", "test"))


def _read_list(file):
    """Video ids of one split list file; a video listed twice is refused (it would count twice)."""
    try:
        with open(file, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except UnicodeDecodeError as error:
        raise ValueError(f"{file}: not a UTF-8 list of video ids ({error})") from None
    ids, first_line = [], {}
    for number, line in enumerate(lines, start=1):
        video = line.strip()
        if not video or video.startswith("#"):
            continue
        if video in first_line:
            raise ValueError(f"{file} lines {first_line[video]} and {number}: video {video!r} is listed twice; a "
                             f"split lists each video once")
        first_line[video] = number
        ids.append(video)
    return ids


def _fold_folder(split_dir, protocol, fold):
    path = _protocol_dir(split_dir, protocol)
    folds = list_folds(split_dir, protocol)
    if fold is None and folds:
        raise ValueError(f"protocol {protocol!r} under {split_dir!r} has folds {', '.join(folds)}; pass fold=")
    if fold is not None:
        if str(fold) not in folds:
            raise ValueError(f"protocol {protocol!r} under {split_dir!r} has no fold {str(fold)!r} "
                             f"(folds: {', '.join(folds) or 'none'})")
        path = os.path.join(path, f"fold_{fold}")
    return path


def allows_overlap(split_dir, protocol):
    """Whether the protocol's protocol.json declares subsets that are meant to overlap (ALLOW_OVERLAP_KEY)."""
    return protocol_info(split_dir, protocol).get(ALLOW_OVERLAP_KEY) is True


def load_fold(split_dir, protocol, fold=None):
    """{subset: video ids} of every list a protocol (fold) has, checked for leakage: no list names a video twice,
    and no video is in two subsets (a dev list equal to the test list, a test list that is the train list...)
    unless protocol.json allows overlap. A ValueError names the two lists and an example video."""
    folder = _fold_folder(split_dir, protocol, fold)
    files_of = {s: os.path.join(folder, f"{s}.txt") for s in SUBSETS}
    files_of = {s: file for s, file in files_of.items() if os.path.isfile(file)}
    subsets = {s: _read_list(file) for s, file in files_of.items()}
    if allows_overlap(split_dir, protocol):
        return subsets
    for k, first in enumerate(SUBSETS):
        for second in SUBSETS[k + 1:]:
            if first not in subsets or second not in subsets:
                continue
            shared = set(subsets[first]) & set(subsets[second])
            if shared:
                what = ("list the same videos" if set(subsets[first]) == set(subsets[second])
                        else f"share {len(shared)} videos")
                raise ValueError(f"{files_of[first]} and {files_of[second]} {what}, e.g. {sorted(shared)[0]!r}: a "
                                 f"video in two subsets leaks it into the result (protocol.json "
                                 f'"{ALLOW_OVERLAP_KEY}": true declares a protocol meant to overlap)')
    return subsets


def load_split(split_dir, protocol, subset, fold=None):
    """Video ids of one subset ('train', 'dev', 'test') of a protocol (and fold) under split_dir; the whole fold
    is checked for leakage first (load_fold). A missing subset raises SubsetMissing."""
    if subset not in SUBSETS:
        raise ValueError(f"unknown subset {subset!r}; expected one of {', '.join(SUBSETS)}")
    subsets = load_fold(split_dir, protocol, fold)
    if subset not in subsets:
        file = os.path.join(_fold_folder(split_dir, protocol, fold), f"{subset}.txt")
        raise SubsetMissing(f"{file!r} does not exist: protocol {protocol!r} has subsets {', '.join(subsets)}")
    return subsets[subset]


def check_identities(split_dir, protocol, fold, data_root):
    """Refuse (ValueError) a protocol (fold) whose test subjects also appear in its train or dev list (every
    protocol here keeps subjects apart; protocol.json may allow overlap), or whose videos of different subsets
    are one folder on disk (two index.csv rows, or a symlink, pointing at one video folder).

    Subjects come from the prepared index.csv of `data_root` (its `subject` column; empty = unknown). Subsets
    drawn from two datasets (cross_dataset's `subset_datasets`) are not compared: their subject ids are
    unrelated."""
    subsets = load_fold(split_dir, protocol, fold)
    info = protocol_info(split_dir, protocol)
    if info.get(ALLOW_OVERLAP_KEY) is True:
        return
    rows = {row["video_id"]: row for row in prepared.read_index(data_root)[0]}
    index = os.path.join(data_root, prepared.INDEX_FILE)
    folder = _fold_folder(split_dir, protocol, fold)
    datasets_of = info.get("subset_datasets") or {}
    owner = {}   # real video folder -> (subset, video id)
    real_root = os.path.realpath(data_root)
    for subset, ids in subsets.items():
        for video in ids:
            if video not in rows:
                continue   # the reader of that subset names it
            real = os.path.realpath(os.path.join(data_root, rows[video]["path"]))
            if os.path.commonpath([real_root, real]) != real_root:
                raise ValueError(f"{os.path.join(data_root, rows[video]['path'])}: the folder of video {video!r} "
                                 f"({subset}) leads outside the dataset root {data_root} (to {real}); a prepared "
                                 f"set holds its videos")
            other = owner.setdefault(real, (subset, video))
            if other[1] != video:
                raise ValueError(f"{index}: videos {other[1]!r} ({other[0]}) and {video!r} ({subset}) are one folder "
                                 f"on disk ({real}); each video of a protocol needs its own folder")
    for first, second in IDENTITY_DISJOINT:
        if first not in subsets or second not in subsets:
            continue
        if datasets_of.get(first, "") != datasets_of.get(second, ""):
            continue
        subjects = {}
        for video in subsets[first]:
            if video in rows and rows[video]["subject"]:
                subjects.setdefault(rows[video]["subject"], video)
        for video in subsets[second]:
            subject = rows[video]["subject"] if video in rows else ""
            if subject and subject in subjects:
                raise ValueError(f"{os.path.join(folder, first + '.txt')} and {os.path.join(folder, second + '.txt')}"
                                 f" share subject {subject!r} (index {index}: e.g. {subjects[subject]!r} and "
                                 f"{video!r}); the protocol keeps subjects apart (protocol.json "
                                 f'"{ALLOW_OVERLAP_KEY}": true declares a protocol meant to overlap)')


# --- writing ------------------------------------------------------------------------------------------
def _counts(ids, by_id):
    labels = [int(by_id[i]["label"]) for i in ids]
    return {"videos": len(ids), "live": labels.count(0), "spoof": labels.count(1)}


def write_protocol(out_dir, protocol, splits, info, by_id=None, subject_disjoint=True):
    """Write one protocol: splits = {fold or None: {subset: [video_id, ...]}} under out_dir/protocol.

    Checks that no video is in two subsets of a fold and, if subject_disjoint, that no test subject is in train or
    dev (IDENTITY_DISJOINT), as load_fold and check_identities check them when the protocol is read.
    The folder is assembled in a temporary directory and swapped in (files.swap_in_folder)."""
    info = dict(info)
    info["folds"] = [str(k) for k in splits if k is not None]
    info["counts"] = {}
    for fold, subsets in splits.items():
        if not subsets.get("train") or not subsets.get("test"):
            raise ValueError(f"{protocol} fold {fold}: empty train or test subset")
        for k, first in enumerate(SUBSETS):
            for second in SUBSETS[k + 1:]:
                shared = set(subsets.get(first, ())) & set(subsets.get(second, ()))
                if shared:
                    raise ValueError(f"{protocol} fold {fold}: {len(shared)} videos in both {first} and {second}, "
                                     f"e.g. {sorted(shared)[0]!r}")
        for first, second in IDENTITY_DISJOINT if subject_disjoint and by_id is not None else ():
            crossing = ({by_id[i]["subject"] for i in subsets.get(first, ())}
                        & {by_id[i]["subject"] for i in subsets.get(second, ())})
            if crossing:
                raise ValueError(f"{protocol} fold {fold}: subjects {sorted(crossing)[:5]} are in both {first} "
                                 f"and {second}; the protocol keeps subjects apart")
        if by_id is not None:
            info["counts"][str(fold) if fold is not None else "all"] = {
                s: _counts(ids, by_id) for s, ids in subsets.items()}
    os.makedirs(files.check_output_dir(out_dir), exist_ok=True)
    final = os.path.join(out_dir, protocol)
    foreign = _foreign_files(final)
    if foreign:
        raise ValueError(f"{final}: holds files a protocol writer does not write ({', '.join(foreign[:3])}); "
                         f"move them away or write the protocol to another --output_dir")
    staging = files.make_temporary_dir(out_dir, protocol)   # the umask's folder mode, unlike mkdtemp's 0700
    try:
        for fold, subsets in splits.items():
            folder = staging if fold is None else os.path.join(staging, f"fold_{fold}")
            os.makedirs(folder, exist_ok=True)
            for subset, ids in subsets.items():
                with open(os.path.join(folder, f"{subset}.txt"), "w") as f:
                    f.writelines(f"{i}\n" for i in sorted(ids))
        with open(os.path.join(staging, "protocol.json"), "w") as f:
            json.dump(info, f, indent=1, sort_keys=True)
            f.write("\n")
        files.swap_in_folder(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def _foreign_files(folder):
    """Paths under an existing protocol folder that write_protocol does not write (it writes protocol.json, the
    subset lists <subset>.txt and fold_<k>/ folders of lists); [] when the folder does not exist. Replacing the
    folder would delete them."""
    if not os.path.lexists(folder):
        return []
    if not os.path.isdir(folder) or os.path.islink(folder):
        return [folder]
    foreign = []
    for directory, folders, names in os.walk(folder):
        depth = os.path.relpath(directory, folder).count(os.sep) + (directory != folder)
        for name in folders:
            if depth > 0 or not name.startswith("fold_") or os.path.islink(os.path.join(directory, name)):
                foreign.append(os.path.relpath(os.path.join(directory, name), folder))
        for name in names:
            path = os.path.join(directory, name)
            expected = name.endswith(".txt") or (depth == 0 and name == "protocol.json")
            if not expected or os.path.islink(path):
                foreign.append(os.path.relpath(path, folder))
    return sorted(foreign)


# --- records -------------------------------------------------------------------------------------------
def records_from_index(index_path, dataset):
    """Rows of a prepared index.csv as record dicts; dataset fields missing from the csv are re-derived by
    parsing `source_path` (if the column exists) or the video_id with `datasets.parse_video_name`."""
    if not os.path.exists(index_path):
        raise ValueError(f"index file {index_path!r} does not exist")
    with open(index_path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or "video_id" not in rows[0]:
        raise ValueError(f"{index_path!r}: expected a csv with a header row including video_id,label,spoof_type,"
                         f"subject")
    records = []
    for line, row in enumerate(rows, start=2):
        record = {k: (v if v != "" else None) for k, v in row.items()}
        try:
            parsed = datasets.parse_video_name(dataset, row.get("source_path") or row["video_id"])
        except ValueError:
            parsed = {}
        for key, value in parsed.items():
            if record.get(key) is None:
                record[key] = value
        for key in ("label", "spoof_type", "subject"):
            if record.get(key) is None:
                raise ValueError(f"{index_path!r} line {line}: column {key!r} is empty or missing")
        record["label"] = int(record["label"])
        records.append(record)
    return records


def _need(record, key, where):
    value = record.get(key)
    if value is None:
        raise ValueError(f"{where}: video {record['video_id']!r} has no {key!r}; use an index written with "
                         f"physstd.data.datasets.parse_video_name fields, or --raw_root")
    return value


def _ids(records, predicate):
    return sorted(r["video_id"] for r in records if predicate(r))


def _seeded_fraction(ids, fraction, seed, group):
    """Split sorted ids into (first, rest) with round(fraction * n) in first; a permutation seeded by
    (seed, crc32(group)) so each group's split does not depend on which other groups exist."""
    ids = sorted(ids)
    rng = np.random.default_rng([int(seed), zlib.crc32(group.encode())])
    order = rng.permutation(len(ids))
    n_first = int(round(fraction * len(ids)))
    first = sorted(ids[i] for i in order[:n_first])
    rest = sorted(ids[i] for i in order[n_first:])
    return first, rest


# --- OULU-NPU ------------------------------------------------------------------------------------------
_OULU_LINE = re.compile(r"^\s*([+-]?\d+)\s*,\s*(\S+)\s*$")


def read_oulu_protocol_file(path):
    """(label, name) pairs of an official OULU-NPU protocol file (lines '+1,1_1_01_1', '-1,...', '-2,...')."""
    if not os.path.exists(path):
        raise ValueError(f"OULU-NPU protocol file {path!r} does not exist; expected the dataset's "
                         f"Protocols/Protocol_<n>/<Train|Dev|Test>[_<k>].txt")
    entries = []
    with open(path) as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            match = _OULU_LINE.match(line)
            if not match:
                raise ValueError(f"{path!r} line {number}: expected '<+1|-1|-2>,<phone>_<session>_<user>_<file>', "
                                 f"got {line.strip()!r}")
            label, name = int(match.group(1)), match.group(2)
            record = datasets.parse_video_name("oulu_npu", name)
            if (label > 0) != (record["label"] == 0):
                raise ValueError(f"{path!r} line {number}: label {label:+d} disagrees with access type "
                                 f"{record['access_type']} of {name}")
            entries.append((label, name))
    return entries


def _oulu_protocol_root(path):
    for candidate in (path, os.path.join(path, "Protocols")):
        if os.path.isdir(os.path.join(candidate, "Protocol_1")):
            return candidate
    raise ValueError(f"{path!r} holds no Protocol_1/ folder; pass the OULU-NPU 'Protocols' directory")


def build_oulu(records, protocol, protocol_files):
    """OULU-NPU P1-P4 from the shipped protocol files (P3, P4: six folds, Train_k/Dev_k/Test_k).

    Source: OULU-NPU Protocols/Protocol_N; PhySTD paper, Tab. 1. P1 sessions, P2 attack instruments, P3 leave
    one phone out, P4 all three. Videos listed by the file but absent from `records` are counted as missing."""
    number = int(protocol[1:])
    root = os.path.join(_oulu_protocol_root(protocol_files), f"Protocol_{number}")
    by_name = {}
    for r in records:
        by_name[str(r.get("name") or r["video_id"])] = r["video_id"]
    folds = [None] if number in (1, 2) else list(range(1, 7))
    splits, missing = {}, 0
    for fold in folds:
        subsets = {}
        for subset, file in (("train", "Train"), ("dev", "Dev"), ("test", "Test")):
            name = f"{file}.txt" if fold is None else f"{file}_{fold}.txt"
            ids = []
            for _, video in read_oulu_protocol_file(os.path.join(root, name)):
                if video in by_name:
                    ids.append(by_name[video])
                else:
                    missing += 1
            subsets[subset] = sorted(set(ids))
        splits[fold] = subsets
    if missing:
        logging.warning("oulu_npu %s: %d protocol entries are not in the given videos", protocol, missing)
    descriptions = {1: "unseen environment (sessions)", 2: "unseen attack instruments",
                    3: "leave one phone out (6 folds)", 4: "unseen sessions, instruments and phones (6 folds)"}
    info = {"definition": f"OULU-NPU protocol {number}: {descriptions[number]}",
            "source": f"OULU-NPU Protocols/Protocol_{number}/*.txt; PhySTD paper, Tab. 1",
            "missing_entries": missing}
    return splits, info


# --- SiW -----------------------------------------------------------------------------------------------
def build_siw(records, protocol):
    """SiW P1 (first 60 frames of each training video), P2 (leave one replay medium out, 4 folds), P3
    (print <-> replay, 2 folds). Subjects: Train/ (90) vs Test/ (75) folders. Source: SiW dataset page and
    paper (Liu et al. CVPR 2018, Sec. 5); PhySTD paper, Tab. 2."""
    where = f"siw {protocol}"
    for r in records:
        _need(r, "split", where)
    train = [r for r in records if r["split"] == "train"]
    test = [r for r in records if r["split"] == "test"]
    info = {"source": "SiW protocols (Liu et al., CVPR 2018, Sec. 5); PhySTD paper, Tab. 2",
            "train_frame_limit": None}
    if protocol == "p1":
        splits = {None: {"train": _ids(train, lambda r: True), "test": _ids(test, lambda r: True)}}
        info.update(definition="train on all training videos, first 60 frames of each; test on all test videos",
                    train_frame_limit=SIW_P1_TRAIN_FRAME_LIMIT)
        return splits, info
    if protocol == "p2":
        splits = {}
        for medium in sorted(datasets.SIW_REPLAY_MEDIA):
            def replay(r, keep):
                return r["spoof_type"] == "replay" and (int(_need(r, "medium", where)) == medium) == keep
            splits[medium] = {
                "train": _ids(train, lambda r: r["label"] == 0 or replay(r, False)),
                "test": _ids(test, lambda r: r["label"] == 0 or replay(r, True))}
        info.update(definition="fold k: train on live + replay media other than k, test on live + replay medium k "
                               "(print excluded)",
                    fold_descriptions={str(k): f"{v} left out" for k, v in datasets.SIW_REPLAY_MEDIA.items()})
        return splits, info
    if protocol == "p3":
        splits = {}
        for fold, (seen, unseen) in ((1, ("print", "replay")), (2, ("replay", "print"))):
            splits[fold] = {
                "train": _ids(train, lambda r: r["spoof_type"] in ("live", seen)),
                "test": _ids(test, lambda r: r["spoof_type"] in ("live", unseen))}
        info.update(definition="fold 1: train live + print, test live + replay; fold 2: the reverse",
                    fold_descriptions={"1": "print -> replay", "2": "replay -> print"})
        return splits, info
    raise ValueError(f"unknown SiW protocol {protocol!r}; expected p1, p2 or p3")


# --- SiW-M ---------------------------------------------------------------------------------------------
def _siwm_p1(records, seed):
    train, test = [], []
    for species in sorted({r["attack"] for r in records}):
        first, rest = _seeded_fraction(_ids(records, lambda r: r["attack"] == species),
                                       SIWM_P1_TRAIN_FRACTION, seed, species)
        train += first
        test += rest
    return sorted(train), sorted(test)


def build_siwm(records, protocol, seed=0):
    """SiW-M P-I (seeded 60/40 split of every species), P-II (13 leave-one-type-out folds: 12 types + 80%
    of live vs the left-out type + 20% of live), P-III (open set: P-I split with one type removed from
    training; test on the P-I test split plus every video of that type). Source: PhySTD paper, Sec. 4.2-4.3,
    Tab. 3-5 (P-II from the SiW-M paper, Liu et al. CVPR 2019)."""
    for r in records:
        _need(r, "attack", f"siw_m {protocol}")
    info = {"seed": int(seed), "source": "PhySTD paper, Sec. 4.2-4.3, Tab. 3 (P-I), Tab. 4 (P-II), Tab. 5 (P-III)"}
    present = {r["spoof_type"] for r in records}
    types = [t for t in spoof_types.SIWM_TYPES if t in present]
    skipped = [t for t in spoof_types.SIWM_TYPES if t not in present]
    if protocol == "p1":
        train, test = _siwm_p1(records, seed)
        info["definition"] = ("random 60/40 train/test split of every attack species and of live, seeded; the "
                              "paper's own draw is not published with its live videos")
        return {None: {"train": train, "test": test}}, info
    if protocol == "p2":
        live_train, live_test = _seeded_fraction(_ids(records, lambda r: r["label"] == 0),
                                                 SIWM_P2_LIVE_TRAIN_FRACTION, seed, "live")
        splits = {}
        for left_out in types:
            splits[left_out] = {
                "train": sorted(live_train + _ids(records, lambda r: r["label"] == 1 and r["spoof_type"] != left_out)),
                "test": sorted(live_test + _ids(records, lambda r: r["spoof_type"] == left_out))}
        info.update(definition="fold t: train on the 12 other types + 80% of live, test on type t + the other "
                               "20% of live (one seeded live split shared by all folds)", skipped_folds=skipped)
        return splits, info
    if protocol == "p3":
        p1_train, p1_test = _siwm_p1(records, seed)
        kind = {r["video_id"]: r["spoof_type"] for r in records}
        splits = {}
        for unknown in types:
            splits[unknown] = {
                "train": [i for i in p1_train if kind[i] != unknown],
                "test": sorted(set(p1_test) | {i for i in kind if kind[i] == unknown})}
        info.update(definition="fold t: the P-I train split without type t; test on the P-I test split plus all "
                               "videos of type t", skipped_folds=skipped)
        return splits, info
    raise ValueError(f"unknown SiW-M protocol {protocol!r}; expected p1, p2 or p3")


# --- WMCA ----------------------------------------------------------------------------------------------
def _wmca_list_file(folder, subset):
    found = [os.path.join(folder, name + ext) for name in WMCA_LIST_NAMES[subset] for ext in WMCA_LIST_EXTENSIONS
             if os.path.isfile(os.path.join(folder, name + ext))]
    if len(found) != 1:
        names = "|".join(WMCA_LIST_NAMES[subset])
        what = "none" if not found else ", ".join(os.path.basename(f) for f in found)
        raise ValueError(f"{folder}: expected one {subset} list <{names}>[.txt|.lst|.csv] of the WMCA grandtest "
                         f"protocol, found {what}")
    return found[0]


def read_wmca_list(path):
    """Recording names (stems) of one WMCA list file: the first field of each line (comma or blank separated) is a
    recording path or name; a first line that is not one is a header and skipped; '#' lines are comments."""
    stems = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            fields = re.split(r"[,\s]+", line.strip())
            if not fields[0] or fields[0].startswith("#"):
                continue
            try:
                stems.append(datasets.wmca_name(fields[0])[0])
            except ValueError:
                if number == 1:
                    continue
                raise ValueError(f"{path} line {number}: {fields[0]!r} is not a WMCA recording; expected "
                                 f"{datasets.WMCA_PATTERN}") from None
    return stems


def build_wmca(records, protocol, lists_dir):
    """WMCA grandtest (the release's train / validation / test lists; validation is our dev) and the seven
    leave-one-out folds (fold c: train and dev without PAI category c, test = category c + bona fide), as bob.pad.face's
    WMCA interface defines them; makeup and wig recordings are in no protocol. Source: "Biometric Face Presentation
    Attack Detection with Multi-Channel Convolutional Neural Network" (George et al. 2019)."""
    if lists_dir is None:
        raise ValueError("wmca protocols need the grandtest lists of the release (--wmca_lists=<folder>)")
    by_id = {r["video_id"]: r for r in records}
    subsets, missing, excluded = {}, 0, 0
    for subset in SUBSETS:
        ids = set()
        for stem in read_wmca_list(_wmca_list_file(lists_dir, subset)):
            _, (_, _, _, type_id, pai_id) = datasets.wmca_name(stem)
            if datasets.WMCA_PAI.get((type_id, pai_id), ("",))[0] in datasets.WMCA_EXCLUDED:
                excluded += 1
            elif stem in by_id:
                ids.add(stem)
            else:
                missing += 1
        subsets[subset] = sorted(ids)
    if missing:
        logging.warning("wmca %s: %d list entries are not in the given videos", protocol, missing)
    info = {"source": "WMCA (George et al. 2019) grandtest lists; leave-one-out folds as bob.pad.face's WMCA "
                      "interface derives them", "missing_entries": missing, "excluded_entries": excluded,
            "excluded_categories": list(datasets.WMCA_EXCLUDED)}
    if protocol == "grandtest":
        info["definition"] = "the release's grandtest train / validation (dev) / test lists, makeup and wigs excluded"
        return {None: subsets}, info
    if protocol == "loo":
        category = {i: by_id[i]["attack"] for ids in subsets.values() for i in ids}
        splits, skipped = {}, []
        for left_out in WMCA_LOO_CATEGORIES:
            if not any(category[i] == left_out for i in subsets["test"]):
                skipped.append(left_out)
                continue
            splits[left_out] = {
                "train": [i for i in subsets["train"] if category[i] != left_out],
                "dev": [i for i in subsets["dev"] if category[i] != left_out],
                "test": [i for i in subsets["test"] if category[i] in ("bonafide", left_out)]}
        info.update(definition="fold c (WMCA's LOO_<c>): grandtest train and dev without PAI category c; test = the "
                               "grandtest test videos of category c and the bona fide ones", skipped_folds=skipped)
        return splits, info
    raise ValueError(f"unknown WMCA protocol {protocol!r}; expected grandtest or loo")


# --- CASIA-SURF CeFA -----------------------------------------------------------------------------------
def read_cefa_list(path):
    """[(video name, label or None)] of one CeFA list file: lines '<video path> [<label>]', the path a video folder or
    one of its frames (<video>/profile/0001.jpg: the train lists name frames; a video is listed once); label 1 bona
    fide, 0 attack (CEFA_BONA_FIDE_LABEL). A label that disagrees with the video's name is refused."""
    entries, seen = [], set()
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            if len(fields) > 2 or (len(fields) == 2 and fields[1] not in ("0", "1")):
                raise ValueError(f"{path} line {number}: expected '<video path> [0|1]', got {line.strip()!r}")
            try:
                record = datasets.parse_video_name("cefa", fields[0])
            except ValueError as error:
                raise ValueError(f"{path} line {number}: {error}") from None
            label = None if len(fields) == 1 else int(fields[1])
            if label is not None and (label == CEFA_BONA_FIDE_LABEL) != (record["label"] == 0):
                raise ValueError(f"{path} line {number}: label {label} disagrees with {record['video_id']} "
                                 f"({record['attack']}); CeFA lists use {CEFA_BONA_FIDE_LABEL} for bona fide, "
                                 f"{1 - CEFA_BONA_FIDE_LABEL} for attacks")
            if record["video_id"] not in seen:
                seen.add(record["video_id"])
                entries.append((record["video_id"], label))
    return entries


def _cefa_list_file(folder, number, fold, subset):
    names = [f"{number}@{fold}_{kind}.txt" for kind in CEFA_LIST_KINDS[subset]]
    for name in names:
        if os.path.isfile(os.path.join(folder, name)):
            return os.path.join(folder, name)
    raise ValueError(f"{folder}: no CeFA list {' or '.join(names)}")


def build_cefa(records, protocol, lists_dir):
    """CeFA protocols 1 (cross-ethnicity, 3 sub-protocols), 2 (cross-PAI, 2) and 4 (cross-ethnicity and PAI, 3), one
    fold per sub-protocol, from the dataset's lists <n>@<k>_train.txt, _dev_ref.txt, _test_res.txt (or a labelled
    _test_ref.txt). Protocol 3 (cross-modality) is not built: it trains on other modalities than it tests. Source:
    "CASIA-SURF CeFA: A Benchmark for Multi-modal Cross-ethnicity Face Anti-spoofing" (Liu et al. 2021)."""
    if protocol not in CEFA_FOLDS:
        raise ValueError(f"unknown CeFA protocol {protocol!r}; expected {', '.join(CEFA_FOLDS)}")
    if lists_dir is None:
        raise ValueError("cefa protocols need the dataset's list files (--cefa_lists=<folder>)")
    number = int(protocol[1:])
    present = {r["video_id"] for r in records}
    splits, missing = {}, 0
    for fold in range(1, CEFA_FOLDS[protocol] + 1):
        subsets = {}
        for subset in SUBSETS:
            ids = [video for video, _ in read_cefa_list(_cefa_list_file(lists_dir, number, fold, subset))]
            missing += sum(video not in present for video in ids)
            subsets[subset] = sorted(video for video in ids if video in present)
        splits[fold] = subsets
    if missing:
        logging.warning("cefa %s: %d list entries are not in the given videos", protocol, missing)
    descriptions = {"p1": "cross-ethnicity", "p2": "cross-PAI (print <-> replay)",
                    "p4": "cross-ethnicity and cross-PAI"}
    info = {"definition": f"CeFA protocol {number} ({descriptions[protocol]}), one fold per sub-protocol "
                          f"{number}@k", "source": f"CeFA lists {number}@<k>_train/dev_ref/test_res.txt",
            "missing_entries": missing}
    return splits, info


# --- CASIA-FASD, Replay-Attack, MSU-MFSD ----------------------------------------------------------------
def _presentation_records(records):
    # Replay-Attack enrolment videos are for face verification, not for PAD protocols.
    return [r for r in records if r.get("purpose") != "enroll"]


def build_official(records, dataset):
    """The split the dataset ships: CASIA train/test releases, Replay-Attack train/devel/test (grandtest),
    MSU-MFSD train/test subject lists."""
    records = _presentation_records(records)
    for r in records:
        _need(r, "split", f"{dataset} official")
    subsets = {s: _ids(records, lambda r, s=s: r["split"] == s) for s in SUBSETS}
    subsets = {s: ids for s, ids in subsets.items() if ids or s != "dev"}
    info = {"definition": "the train/(dev)/test split shipped with the dataset, all attack species",
            "source": {"casia_fasd": "CASIA-FASD train_release / test_release",
                       "replay_attack": "Replay-Attack train / devel / test (grandtest, enrolment excluded)",
                       "msu_mfsd": "MSU-MFSD train_sub_list.txt / test_sub_list.txt"}[dataset]}
    return {None: subsets}, info


def build_cross_type(records, dataset):
    """Leave one attack species out (STDN+ paper, Tab. 4, protocol of DTN, Liu et al. CVPR 2019): fold t trains
    on the training split's live + the two other species (dev likewise where the dataset has one) and tests
    on the test split's live + species t."""
    records = _presentation_records(records)
    for r in records:
        _need(r, "split", f"{dataset} cross_type")
    species_all = CROSS_TYPE_SPECIES[dataset]
    splits = {}
    for left_out in species_all:
        known = lambda r: r["label"] == 0 or r["attack"] != left_out   # noqa: E731
        subsets = {"train": _ids(records, lambda r: r["split"] == "train" and known(r)),
                   "dev": _ids(records, lambda r: r["split"] == "dev" and known(r)),
                   "test": _ids(records, lambda r: r["split"] == "test" and (r["label"] == 0 or r["attack"] == left_out))}
        if not subsets["dev"]:
            del subsets["dev"]
        splits[left_out] = subsets
    info = {"definition": "fold t: train on live + the other attack species, test on live + species t (AUC)",
            "source": "STDN+ paper, Tab. 4", "fold_order": list(species_all)}
    return splits, info


def build_cross_dataset(records_by_dataset, protocol, oulu_protocol_files=None):
    """Train on one dataset, test on another; protocol.json names the dataset of every subset.

    casia_to_replay, replay_to_casia (STDN+ paper, Tab. 3, HTER): train on the source's training split; the
    threshold set (dev) is the source's dev split, or its test split for CASIA (which has no dev); test on the
    target's test split.
    siw_to_oulu_p1..p4 (LGSC paper, Tab. 4, ACER): train on every SiW training video (all frames: the paper states
    no frame limit), threshold on SiW's test split (SiW has no dev; never the target), test on the test split of
    OULU-NPU protocol k (one fold per OULU fold for p3 and p4, read from the official protocol files)."""
    source, target = CROSS_DATASETS[protocol]
    for name in (source, target):
        if name not in records_by_dataset:
            raise ValueError(f"cross_dataset {protocol} needs the videos of {name} (--index={name}=<index.csv>)")
    src = _presentation_records(records_by_dataset[source])
    for r in src:
        _need(r, "split", f"cross_dataset {protocol}")
    dev_split = "dev" if any(r["split"] == "dev" for r in src) else "test"
    train = {"train": _ids(src, lambda r: r["split"] == "train"), "dev": _ids(src, lambda r: r["split"] == dev_split)}
    if target == "oulu_npu":
        if oulu_protocol_files is None:
            raise ValueError(f"cross_dataset {protocol} needs OULU-NPU's Protocols folder (--oulu_protocols)")
        oulu_protocol = protocol.rsplit("_", 1)[1]
        oulu_splits, oulu_info = build_oulu(records_by_dataset[target], oulu_protocol, oulu_protocol_files)
        splits = {fold: dict(train, test=subsets["test"]) for fold, subsets in oulu_splits.items()}
        info = {"definition": f"train on {source} train, threshold on {source} {dev_split}, ACER on the test split "
                              f"of OULU-NPU {oulu_protocol}" + (" (each of its folds)" if None not in splits else ""),
                "source": "LGSC paper, Tab. 4", "missing_entries": oulu_info["missing_entries"]}
    else:
        tgt = _presentation_records(records_by_dataset[target])
        for r in tgt:
            _need(r, "split", f"cross_dataset {protocol}")
        splits = {None: dict(train, test=_ids(tgt, lambda r: r["split"] == "test"))}
        info = {"definition": f"train on {source} train, threshold on {source} {dev_split}, HTER on {target} test",
                "source": "STDN+ paper, Tab. 3"}
    info["subset_datasets"] = {"train": source, "dev": source, "test": target}
    return splits, info


def default_cross_protocols(records_by_dataset):
    """The cross-dataset protocols whose two datasets are given; a ValueError naming what the first one lacks
    when there is none."""
    complete = [p for p, pair in CROSS_DATASETS.items() if set(pair) <= set(records_by_dataset)]
    if not complete:
        first = PROTOCOLS["cross_dataset"][0]
        missing = [name for name in CROSS_DATASETS[first] if name not in records_by_dataset][0]
        raise ValueError(f"cross_dataset {first} needs the videos of {missing} (--index={missing}=<index.csv>); "
                         f"the pairs: {', '.join(sorted({' and '.join(pair) for pair in CROSS_DATASETS.values()}))}")
    return complete


# --- driver --------------------------------------------------------------------------------------------
def build_protocols(dataset, records, out, protocols=None, seed=0, oulu_protocol_files=None, lists_dir=None):
    """Build and write protocols of one dataset (records: list of record dicts, or for 'cross_dataset' a dict
    dataset -> records; lists_dir: the dataset's own list files for wmca and cefa). Returns the written protocol
    directories."""
    if dataset not in PROTOCOLS:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {', '.join(PROTOCOLS)}")
    if not protocols and dataset == "cross_dataset":
        protocols = default_cross_protocols(records)
    protocols = list(protocols or PROTOCOLS[dataset])
    for p in protocols:
        if p not in PROTOCOLS[dataset]:
            raise ValueError(f"unknown protocol {p!r} for {dataset}; expected one of {', '.join(PROTOCOLS[dataset])}")
    if dataset == "cross_dataset":
        by_id = {r["video_id"]: r for recs in records.values() for r in recs}
    else:
        by_id = {r["video_id"]: r for r in records}
        if len(by_id) != len(records):
            raise ValueError(f"{dataset}: duplicate video ids in the given records")
    written = []
    for protocol in protocols:
        subject_disjoint = True
        if dataset == "oulu_npu":
            if oulu_protocol_files is None:
                raise ValueError("oulu_npu protocols need the dataset's Protocols folder (--oulu_protocols)")
            splits, info = build_oulu(records, protocol, oulu_protocol_files)
        elif dataset == "siw":
            splits, info = build_siw(records, protocol)
        elif dataset == "siw_m":
            splits, info = build_siwm(records, protocol, seed)
        elif dataset == "cross_dataset":
            splits, info = build_cross_dataset(records, protocol, oulu_protocol_files)
            subject_disjoint = False   # subject ids of two datasets are unrelated
        elif dataset == "wmca":
            splits, info = build_wmca(records, protocol, lists_dir)
        elif dataset == "cefa":
            splits, info = build_cefa(records, protocol, lists_dir)
        elif protocol == "official":
            splits, info = build_official(records, dataset)
        else:
            splits, info = build_cross_type(records, dataset)
        info.update(dataset=dataset, protocol=protocol)
        written.append(write_protocol(os.path.join(out, dataset), protocol, splits, info, by_id, subject_disjoint))
    return written


def _named_paths(values, dataset):
    """'--index=path' (one dataset) or '--index=<dataset>=path' (cross_dataset) into {dataset: path}."""
    result = {}
    for value in values or ():
        name, sep, path = value.partition("=")
        if sep and name in datasets.DATASETS:
            result[name] = path
        elif dataset == "cross_dataset":
            raise ValueError(f"cross_dataset needs <dataset>=<path>, got {value!r}")
        else:
            result[dataset] = value
    return result


def main(argv):
    del argv
    from absl import flags
    FLAGS = flags.FLAGS
    dataset = datasets.canonical_name(FLAGS.dataset)
    indexes = _named_paths(FLAGS.index, dataset)
    raws = _named_paths(FLAGS.raw_root, dataset)
    if dataset == "cross_dataset":   # the datasets the chosen protocols need, else those given
        needed = sorted({name for p in FLAGS.protocols for name in CROSS_DATASETS.get(p, ())}) if FLAGS.protocols \
            else sorted(set(indexes) | set(raws))
    else:
        needed = [dataset]
    records = {}
    for name in needed:
        if name in indexes:
            records[name] = records_from_index(indexes[name], name)
        elif name in raws and name in ("wmca", "cefa"):
            raise ValueError(f"--raw_root={raws[name]}: {name} protocols are built from the prepared index "
                             f"(--index=<prepared>/index.csv); its recordings are not video files")
        elif name in raws:
            records[name] = datasets.scan_dataset(name, raws[name], skip_unknown=FLAGS.skip_unknown)
        else:
            raise ValueError(f"give --index or --raw_root for {name}")
    written = build_protocols(dataset, records if dataset == "cross_dataset" else records[dataset], FLAGS.out,
                              FLAGS.protocols, FLAGS.seed, FLAGS.oulu_protocols,
                              FLAGS.wmca_lists if dataset == "wmca" else FLAGS.cefa_lists)
    for path in written:
        info = protocol_info(os.path.dirname(path), os.path.basename(path))
        print(f"{path}: folds {info['folds'] or ['-']}; counts {json.dumps(info['counts'])}")


def _define_flags():
    from absl import flags
    flags.DEFINE_enum("dataset", None, list(PROTOCOLS) + list(datasets.OLD_NAMES),
                      "dataset whose protocols to build (the old spellings oulu/siwm/casia/replay/msu are accepted "
                      "with a note)")
    flags.DEFINE_multi_string("index", None, "prepared index.csv (for cross_dataset: <dataset>=<index.csv>, twice)")
    flags.DEFINE_multi_string("raw_root", None, "raw dataset root instead of an index (<dataset>=<root> for "
                              "cross_dataset); video ids are then those of parse_video_name")
    flags.DEFINE_string("oulu_protocols", None, "OULU-NPU 'Protocols' folder (oulu_npu and cross_dataset "
                                                "siw_to_oulu_p*)")
    flags.DEFINE_string("wmca_lists", None, "folder of the WMCA grandtest lists train, validation, test "
                        "(.txt/.lst/.csv; wmca only)")
    flags.DEFINE_string("cefa_lists", None, "folder of the CeFA lists <p>@<k>_train.txt, _dev_ref.txt, "
                        "_test_res.txt (cefa only)")
    flags.DEFINE_list("protocols", None, "protocols to build (default: all of the dataset)")
    flags.DEFINE_string("out", "datasets", "output folder; lists go to <out>/<dataset>/<protocol>/")
    flags.DEFINE_integer("seed", 0, "seed of the random splits (SiW-M)")
    flags.DEFINE_bool("skip_unknown", False, "with --raw_root: skip video files whose names do not parse")
    flags.mark_flag_as_required("dataset")
    cli.register_ranges({"seed": cli.Range(0, 2 ** 32 - 1)})


if __name__ == "__main__":
    _define_flags()
    cli.run(main)
