"""Official file naming of the face anti-spoofing datasets PhySTD is evaluated on.

`parse_video_name(dataset, relative_path)` turns the path of one video (relative to the dataset's own root,
as the dataset ships it) into a record:

    video_id     a unique id without slashes, stable across machines (the official stem where it is unique)
    label        0 bona fide, 1 attack
    spoof_type   a name from `spoof_types.NAMES` (PhySTD's coarse types: live, print, replay, SiW-M's 13)
    attack       the dataset's own attack species (ISO PAI species), e.g. 'cut_photo', 'replay_2'
    subject      subject id as a string (SiW-M names carry none: the video id stands in)
    split        'train' / 'dev' / 'test' where the dataset encodes it, else None
    ...          the dataset's own fields (phone, session, medium, device, ...)

Frame folders of a video (a path without a video extension) parse the same way as the video file.
Unknown names raise ValueError naming the path and the expected pattern.

Sources of the naming: OULU-NPU and SiW dataset pages; CASIA-FASD and Replay-Attack as documented by the
Idiap bob.db packages (bob.db.casia_fasd, bob.db.replay); MSU-MFSD file lists and subject lists shipped with
the dataset (train_sub_list.txt / test_sub_list.txt); SiW-M as used by the authors' STDN code (trainlist.txt);
WMCA as named by its release and Idiap's bob.pad.face WMCA interface (the file-id map of the PAIs); CASIA-SURF CeFA
as documented by its authors (github.com/liuajian/CASIA-FAS-Dataset). docs/data.md says which parts of the WMCA
and CeFA layouts are read from those sources and which are assumptions.
"""
import os
import re

from physstd.data import spoof_types

DATASETS = ("oulu_npu", "siw", "siw_m", "casia_fasd", "replay_attack", "msu_mfsd", "wmca", "cefa")
# Short spellings run_preprocess.py once used; still accepted, with a note naming the canonical name.
OLD_NAMES = {"oulu": "oulu_npu", "siwm": "siw_m", "casia": "casia_fasd", "replay": "replay_attack", "msu": "msu_mfsd"}


def canonical_name(name, flag="--dataset"):
    """The DATASETS name of `name`; an OLD_NAMES spelling is accepted with a deprecation note on stderr."""
    if name in OLD_NAMES:
        import sys
        print(f"note: {flag}={name} is deprecated; use {flag}={OLD_NAMES[name]} (the same name in every tool)",
              file=sys.stderr)
        return OLD_NAMES[name]
    return name
VIDEO_EXTENSIONS = (".avi", ".mov", ".mp4", ".mkv", ".m4v", ".wmv")


def _parts(relative_path):
    """Path components (POSIX or Windows separators) and the stem of the last one without its extension."""
    text = str(relative_path).replace("\\", "/").strip("/")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if not parts:
        raise ValueError(f"empty video path {relative_path!r}")
    last = parts[-1]
    stem, ext = os.path.splitext(last)
    if ext.lower() not in VIDEO_EXTENSIONS:
        stem = last
    return parts, stem


def _fail(dataset, relative_path, pattern, why=""):
    extra = f" ({why})" if why else ""
    raise ValueError(f"{dataset}: cannot parse {str(relative_path)!r}{extra}; expected {pattern}")


def _record(video_id, label, spoof_type, attack, subject, split, **fields):
    spoof_types.type_id(spoof_type)  # validates the name
    record = {"video_id": video_id, "label": int(label), "spoof_type": spoof_type, "attack": attack,
              "subject": str(subject), "split": split}
    record.update(fields)
    return record


# --- OULU-NPU ------------------------------------------------------------------------------------------
# Phone_Session_User_File: phone 1-6, session 1-3, user 01-55, file = access type 1 live, 2-3 print
# (printer 1, 2), 4-5 video replay (display 1, 2). Users 1-20 train, 21-35 dev, 36-55 test.
OULU_PATTERN = "<Train|Dev|Test>_files/<phone 1-6>_<session 1-3>_<user 01-55>_<access 1-5>.avi"
_OULU_RE = re.compile(r"^([1-6])_([1-3])_(\d{2})_([1-5])$")
_OULU_ATTACKS = {1: ("live", "live"), 2: ("print", "print_1"), 3: ("print", "print_2"),
                 4: ("replay", "replay_1"), 5: ("replay", "replay_2")}


def oulu_split_of_user(user):
    """OULU-NPU subject split: users 1-20 train, 21-35 dev, 36-55 test."""
    if 1 <= user <= 20:
        return "train"
    if 21 <= user <= 35:
        return "dev"
    if 36 <= user <= 55:
        return "test"
    raise ValueError(f"OULU-NPU user {user} outside 1..55")


def _parse_oulu(relative_path):
    parts, stem = _parts(relative_path)
    match = _OULU_RE.match(stem)
    if not match:
        _fail("oulu_npu", relative_path, OULU_PATTERN)
    phone, session, user, access = (int(g) for g in match.groups())
    if not 1 <= user <= 55:
        _fail("oulu_npu", relative_path, OULU_PATTERN, f"user {user} outside 01..55")
    split = oulu_split_of_user(user)
    for part in parts[:-1]:
        folder = part.lower()
        for name in ("train", "dev", "test"):
            if folder in (name, f"{name}_files") and name != split:
                _fail("oulu_npu", relative_path, OULU_PATTERN,
                      f"user {user:02d} belongs to {split} but the file is under {part}/")
    spoof_type, attack = _OULU_ATTACKS[access]
    return _record(stem, int(access != 1), spoof_type, attack, f"{user:02d}", split,
                   name=stem, phone=phone, session=session, access_type=access)


# --- SiW -----------------------------------------------------------------------------------------------
# SubjectID-SensorID-TypeID-MediumID-SessionID (the page writes '_' in the template, the files use '-').
# Type 1 live, 2 print, 3 replay. The train/test subject split (90/75) is the Train/Test folder.
SIW_PATTERN = "<Train|Test>/<live|spoof>/<subject>/<subject 001-165>-<sensor>-<type 1-3>-<medium>-<session>.mov"
_SIW_RE = re.compile(r"^(\d{3})[-_](\d+)[-_]([1-3])[-_](\d+)[-_](\d+)$")
_SIW_TYPES = {1: "live", 2: "print", 3: "replay"}
# Replay media of SiW (the 4 folds of its protocol 2), from the SiW paper.
SIW_REPLAY_MEDIA = {1: "iPad Pro", 2: "iPhone 7", 3: "Galaxy S8", 4: "Asus MB168B"}


def _parse_siw(relative_path):
    parts, stem = _parts(relative_path)
    match = _SIW_RE.match(stem)
    if not match:
        _fail("siw", relative_path, SIW_PATTERN)
    subject, sensor, type_id, medium, session = match.groups()
    type_id, medium = int(type_id), int(medium)
    spoof_type = _SIW_TYPES[type_id]
    folders = [p.lower() for p in parts[:-1]]
    split = "train" if "train" in folders else "test" if "test" in folders else None
    expected_folder = "live" if type_id == 1 else "spoof"
    for folder in folders:
        if folder in ("live", "spoof") and folder != expected_folder:
            _fail("siw", relative_path, SIW_PATTERN, f"type {type_id} ({spoof_type}) under {folder}/")
    attack = "live" if type_id == 1 else f"{spoof_type}_{medium}"
    return _record(stem.replace("_", "-"), int(type_id != 1), spoof_type, attack, subject, split,
                   sensor=int(sensor), type_id=type_id, medium=medium, session=int(session))


# --- SiW-M ---------------------------------------------------------------------------------------------
# Videos are named <Prefix>_<n> (e.g. Makeup_Co_2, Mask_Half_1, Paper_4, Replay_9, Live_3); the prefix is
# the attack species. Partial paper attacks come in two species, Partial_Eye and Partial_Mouth.
SIWM_PATTERN = ("<...>/<Prefix>_<n>.mov with Prefix one of " + ", ".join(
    ("Live", "Replay", "Paper", "Mask_Half", "Mask_Silicone", "Mask_Trans", "Mask_Paper", "Mask_Mann",
     "Makeup_Ob", "Makeup_Im", "Makeup_Co", "Partial_Funnyeye", "Partial_Paperglass", "Partial_Eye",
     "Partial_Mouth")) + " (or a bare <n> under a folder naming the species)")
SIWM_PREFIXES = {
    "Live": "live", "Replay": "replay", "Paper": "print",
    "Mask_Half": "half_mask", "Mask_Silicone": "silicone_mask", "Mask_Trans": "transparent_mask",
    "Mask_Paper": "paper_mask", "Mask_Mann": "mannequin",
    "Makeup_Ob": "obfuscation", "Makeup_Im": "impersonation", "Makeup_Co": "cosmetic",
    "Partial_Funnyeye": "funny_eye", "Partial_Paperglass": "paper_glasses",
    "Partial_Eye": "partial_paper", "Partial_Mouth": "partial_paper",
}
# Folder spellings seen in releases (SiW-M, SiW-Mv2 'Spoof/<Long_Name>'), normalised (lower case, no '_').
_SIWM_FOLDERS = {
    "live": "Live", "replay": "Replay", "paper": "Paper", "print": "Paper",
    "maskhalf": "Mask_Half", "maskhalfmask": "Mask_Half", "halfmask": "Mask_Half",
    "masksilicone": "Mask_Silicone", "silicone": "Mask_Silicone", "siliconemask": "Mask_Silicone",
    "masktrans": "Mask_Trans", "masktransparentmask": "Mask_Trans", "transparentmask": "Mask_Trans",
    "maskpaper": "Mask_Paper", "maskpapermask": "Mask_Paper", "papermask": "Mask_Paper",
    "maskmann": "Mask_Mann", "mannequin": "Mask_Mann", "mannequinhead": "Mask_Mann",
    "makeupob": "Makeup_Ob", "makeupobfuscation": "Makeup_Ob", "obfuscation": "Makeup_Ob",
    "makeupim": "Makeup_Im", "makeupimpersonation": "Makeup_Im", "impersonation": "Makeup_Im",
    "makeupco": "Makeup_Co", "makeupcosmetic": "Makeup_Co", "cosmetic": "Makeup_Co",
    "partialfunnyeye": "Partial_Funnyeye", "partialfunnyeyeglasses": "Partial_Funnyeye",
    "funnyeye": "Partial_Funnyeye", "funnyeyeglasses": "Partial_Funnyeye",
    "partialpaperglass": "Partial_Paperglass", "partialpaperglasses": "Partial_Paperglass",
    "paperglasses": "Partial_Paperglass",
    "partialeye": "Partial_Eye", "partialmouth": "Partial_Mouth",
}
_SIWM_RE = re.compile(r"^(" + "|".join(sorted(SIWM_PREFIXES, key=len, reverse=True)) + r")_(\d+)$")


def _parse_siwm(relative_path):
    parts, stem = _parts(relative_path)
    match = _SIWM_RE.match(stem)
    if match:
        prefix, number = match.group(1), int(match.group(2))
    elif stem.isdigit():
        prefix = None
        for part in reversed(parts[:-1]):
            prefix = _SIWM_FOLDERS.get(part.lower().replace("_", "").replace("-", "").replace(" ", ""))
            if prefix:
                break
        if prefix is None:
            _fail("siw_m", relative_path, SIWM_PATTERN, "no folder names the attack species")
        number = int(stem)
    else:
        _fail("siw_m", relative_path, SIWM_PATTERN)
    spoof_type = SIWM_PREFIXES[prefix]
    video_id = f"{prefix}_{number}"
    # SiW-M file names carry no subject id; each video is its own group.
    return _record(video_id, int(spoof_type != "live"), spoof_type, prefix, video_id, None, number=number)


# --- CASIA-FASD ----------------------------------------------------------------------------------------
# train_release/<subject 1-20>/ and test_release/<subject 1-30>/ each hold 12 videos: 1, 2, HR_1 genuine;
# 3, 4, HR_2 warped photo; 5, 6, HR_3 cut photo; 7, 8, HR_4 video replay; quality 1,3,5,7 normal,
# 2,4,6,8 low, HR_* high (bob.db.casia_fasd). Test subjects are numbered 21-50 so that ids are unique.
CASIA_PATTERN = "<train_release|test_release>/<subject>/<1..8 | HR_1..HR_4>.avi"
_CASIA_FILES = {
    "1": ("live", "normal"), "2": ("live", "low"), "HR_1": ("live", "high"),
    "3": ("warped_photo", "normal"), "4": ("warped_photo", "low"), "HR_2": ("warped_photo", "high"),
    "5": ("cut_photo", "normal"), "6": ("cut_photo", "low"), "HR_3": ("cut_photo", "high"),
    "7": ("video", "normal"), "8": ("video", "low"), "HR_4": ("video", "high"),
}
CASIA_SPOOF_TYPES = {"live": "live", "warped_photo": "print", "cut_photo": "print", "video": "replay"}


def _parse_casia(relative_path):
    parts, stem = _parts(relative_path)
    if len(parts) < 3 or stem not in _CASIA_FILES:
        _fail("casia_fasd", relative_path, CASIA_PATTERN)
    release, subject = parts[-3].lower(), parts[-2]
    if release not in ("train_release", "test_release") or not subject.isdigit():
        _fail("casia_fasd", relative_path, CASIA_PATTERN)
    split = release.split("_")[0]
    local = int(subject)
    limit = 20 if split == "train" else 30
    if not 1 <= local <= limit:
        _fail("casia_fasd", relative_path, CASIA_PATTERN, f"{release} subjects are 1..{limit}")
    attack, quality = _CASIA_FILES[stem]
    return _record(f"{split}_{local}_{stem}", int(attack != "live"), CASIA_SPOOF_TYPES[attack], attack,
                   str(local if split == "train" else local + 20), split, quality=quality)


# --- Replay-Attack -------------------------------------------------------------------------------------
# <train|devel|test>/real/client<id>_session01_webcam_authenticate_<light>_<take>.mov
# <train|devel|test>/attack/<fixed|hand>/attack_<print|mobile|highdef>_client<id>_session01_<highdef|mobile>
#     _<photo|video>_<light>.mov       (enroll/<split>/client<id>_session01_enroll_<light>.mov: enrolment)
# Attack species (STDN+ paper, Tab. 4): print photo (attack_print), digital photo (photo on a mobile/highdef
# screen), video (video on a mobile/highdef screen).
REPLAY_PATTERN = ("<train|devel|test>/real/client<id>_session<nn>_webcam_<authenticate|enroll>_<light>[_<take>].mov"
                  " or <train|devel|test>/attack/<fixed|hand>/attack_<print|mobile|highdef>_client<id>_session<nn>"
                  "_<highdef|mobile>_<photo|video>_<adverse|controlled>.mov")
_REPLAY_REAL_RE = re.compile(r"^client(\d+)_session(\d+)_(\w+?)_(authenticate|enroll)_(adverse|controlled)(?:_(\d+))?$")
_REPLAY_ATTACK_RE = re.compile(
    r"^attack_(print|mobile|highdef)_client(\d+)_session(\d+)_(highdef|mobile)_(photo|video)_(adverse|controlled)$")
_REPLAY_SPLITS = {"train": "train", "devel": "dev", "dev": "dev", "test": "test"}


def _parse_replay(relative_path):
    parts, stem = _parts(relative_path)
    folders = [p.lower() for p in parts[:-1]]
    split = next((_REPLAY_SPLITS[f] for f in folders if f in _REPLAY_SPLITS), None)
    real = _REPLAY_REAL_RE.match(stem)
    if real:
        client, session, camera, purpose, light, take = real.groups()
        tag = "enroll" if purpose == "enroll" else "real"
        video_id = f"{split or 'none'}_{tag}_{stem}"
        return _record(video_id, 0, "live", "live", str(int(client)), split, purpose=purpose,
                       light=light, session=int(session), support="none", attack_device="none",
                       sample_type="none", sample_device=camera, take=int(take) if take else 1)
    attack = _REPLAY_ATTACK_RE.match(stem)
    if not attack:
        _fail("replay_attack", relative_path, REPLAY_PATTERN)
    device, client, session, sample_device, sample_type, light = attack.groups()
    support = next((f for f in folders if f in ("fixed", "hand")), None)
    if support is None:
        _fail("replay_attack", relative_path, REPLAY_PATTERN, "attack videos lie under attack/fixed or attack/hand")
    if device == "print":
        species, spoof_type = "print_photo", "print"
    else:
        species, spoof_type = ("digital_photo" if sample_type == "photo" else "video"), "replay"
    video_id = f"{split or 'none'}_{support}_{stem}"
    return _record(video_id, 1, spoof_type, species, str(int(client)), split, purpose="attack", light=light,
                   session=int(session), support=support, attack_device=device, sample_type=sample_type,
                   sample_device=sample_device, take=1)


# --- MSU-MFSD ------------------------------------------------------------------------------------------
# real/real_client<id>_<android|laptop>_SD_scene01.<mp4|mov>
# attack/attack_client<id>_<android|laptop>_SD_<ipad_video|iphone_video|printed_photo>_scene01.<mp4|mov>
# Attack species (STDN+ paper, Tab. 4): printed photo, HR video (recorded in HD, replayed on an iPad),
# mobile video (recorded and replayed on an iPhone). The 35 subjects are split by the lists shipped with
# the dataset (train_sub_list.txt: 15 subjects, test_sub_list.txt: 20 subjects).
MSU_PATTERN = ("[scene01/]real/real_client<id>_<android|laptop>_SD_scene01.<mp4|mov> or "
               "[scene01/]attack/attack_client<id>_<android|laptop>_SD_<ipad_video|iphone_video|printed_photo>"
               "_scene01.<mp4|mov>")
MSU_TRAIN_SUBJECTS = (2, 3, 5, 6, 7, 8, 9, 11, 12, 21, 22, 34, 53, 54, 55)
MSU_TEST_SUBJECTS = (1, 13, 14, 23, 24, 26, 28, 29, 30, 32, 33, 35, 36, 37, 39, 42, 48, 49, 50, 51)
_MSU_RE = re.compile(r"^(real|attack)_client(\d{3})_(android|laptop)_SD_(?:(ipad_video|iphone_video|printed_photo)_)?"
                     r"(scene\d+)$")
_MSU_ATTACKS = {None: ("live", "live"), "printed_photo": ("printed_photo", "print"),
                "ipad_video": ("hr_video", "replay"), "iphone_video": ("mobile_video", "replay")}


def _parse_msu(relative_path):
    parts, stem = _parts(relative_path)
    match = _MSU_RE.match(stem)
    if not match or (match.group(1) == "real") != (match.group(4) is None):
        _fail("msu_mfsd", relative_path, MSU_PATTERN)
    presentation, client, device, instrument, scene = match.groups()
    client = int(client)
    split = ("train" if client in MSU_TRAIN_SUBJECTS else "test" if client in MSU_TEST_SUBJECTS else None)
    if split is None:
        _fail("msu_mfsd", relative_path, MSU_PATTERN, f"client {client:03d} is in neither shipped subject list")
    species, spoof_type = _MSU_ATTACKS[instrument]
    return _record(stem, int(presentation == "attack"), spoof_type, species, str(client), split,
                   device=device, scene=scene)


# --- WMCA ----------------------------------------------------------------------------------------------
# One HDF5 file per recording, <client>_<session>_<presenter>_<type>_<PAI>.hdf5 (e.g. face-station/12.02.18/
# 100_03_015_2_10.hdf5); type 0 bona fide, 1-5 attacks; (type, PAI) names the instrument. The release's file-id map
# (bob.pad.face lists/batl/idiap_converter_v2.json) gives each (type, PAI) a category, the names of the
# leave-one-out protocols: WMCA_PAI restates it as (category, kind of instrument).
WMCA_PATTERN = "<...>/<client>_<session>_<presenter>_<type 0-5>_<PAI>.hdf5 (or .h5)"
_WMCA_RE = re.compile(r"^(\d+)_(\d+)_(\d+)_([0-5])_(\d+)$")
WMCA_EXTENSIONS = (".hdf5", ".h5")
_WMCA_INSTRUMENTS = (   # (type, PAI ids, category, kind of instrument)
    (0, (0, 1, 2), "bonafide", "bona fide"),   # 1: own medical glasses, 2: unisex glasses
    (1, (1, 4, 5, 6, 7), "glasses", "funny eyes glasses"),
    (1, (3,), "glasses", "glasses (unassigned in the map)"),
    (1, (15, 16), "glasses", "paper glasses"),
    (1, (2,), "rigidmask", "plastic halloween mask"),
    (1, (13, 14), "rigidmask", "transparent mask"),
    (1, range(8, 13), "wig", "wig"),
    (2, range(1, 8), "fakehead", "mannequin"),
    (2, range(8, 12), "papermask", "paper craft mask"),
    (2, range(12, 18), "rigidmask", "custom wearable mask"),
    (2, (18, *range(75, 100)), "flexiblemask", "flexible silicone mask"),
    (3, (1, 2, 3, 4, 6, 7, 8, 9, 11, 12, 13, 14), "prints", "printed photo"),
    (3, (5, 10, 15), "replay", "photo on a display"),
    (4, range(1, 19), "replay", "video on a display"),
    (5, range(1, 140), "makeup", "makeup"))
WMCA_PAI = {(type_id, pai): (category, kind) for type_id, pais, category, kind in _WMCA_INSTRUMENTS for pai in pais}
# Categories in no WMCA protocol: the grandtest protocol leaves out wigs, every protocol makeup (bob.pad.face).
WMCA_EXCLUDED = ("makeup", "wig")
# WMCA category -> spoof type (glasses: paper glasses or funny eyes, by the instrument).
_WMCA_SPOOF_TYPES = {"bonafide": "live", "fakehead": "mannequin", "flexiblemask": "silicone_mask",
                     "papermask": "paper_mask", "prints": "print", "replay": "replay", "rigidmask": "rigid_mask",
                     "makeup": "obfuscation"}


def wmca_name(relative_path):
    """(stem, (client, session, presenter, type, PAI) ints) of a WMCA recording path; ValueError if it is not one."""
    name = str(relative_path).replace("\\", "/").rstrip("/").split("/")[-1]
    stem, ext = os.path.splitext(name)
    if ext.lower() not in WMCA_EXTENSIONS:
        stem = name
    match = _WMCA_RE.match(stem)
    if not match:
        _fail("wmca", relative_path, WMCA_PATTERN)
    return stem, tuple(int(g) for g in match.groups())


def _parse_wmca(relative_path):
    stem, (client, session, presenter, type_id, pai_id) = wmca_name(relative_path)
    if (type_id, pai_id) not in WMCA_PAI:
        _fail("wmca", relative_path, WMCA_PATTERN, f"type {type_id} PAI {pai_id} is not in the release's file-id map")
    category, kind = WMCA_PAI[(type_id, pai_id)]
    if category == "wig":
        _fail("wmca", relative_path, WMCA_PATTERN, "a wig recording (type 1, PAI 8-12), in no WMCA protocol")
    spoof_type = ("paper_glasses" if kind == "paper glasses" else "funny_eye") if category == "glasses" \
        else _WMCA_SPOOF_TYPES[category]
    return _record(stem, int(category != "bonafide"), spoof_type, category, stem.split("_")[0], None, client=client,
                   session=session, presenter=presenter, type_id=type_id, pai_id=pai_id, instrument=kind)


# --- CASIA-SURF CeFA -----------------------------------------------------------------------------------
# A video is a folder of frame folders <video>/profile|depth|ir/NNNN.jpg. Its name (the dataset authors' readme):
#   ethnic sets   <race 1 AF, 2 CA, 3 EA>_<subject 000-599>_<device 1-4>_<session 1-3>_<PAI 1 real, 2 cloth, 3 photo,
#                 4 screen>, e.g. AF/AF-012-198006250024/3_012_1_1_1
#   masks         <1 3D print mask | 2 silicone mask>_<id>_<dresses 0/1>_<glasses 0/1>_<device 1-2>_<session 1-2>
#                 _<lighting 1-4>, e.g. 3D-Mask/073/1_073_1_0_2_1_2
CEFA_PATTERN = ("<...>/<race 1-3>_<subject>_<device 1-4>_<session 1-3>_<PAI 1-4>[/profile|/depth|/ir[/NNNN.jpg]] or "
                "<...>/<mask 1-2>_<id>_<dresses 0-1>_<glasses 0-1>_<device 1-2>_<session 1-2>_<lighting 1-4>")
CEFA_MODALITY_FOLDERS = ("profile", "color", "depth", "ir")
CEFA_RACES = {1: "AF", 2: "CA", 3: "EA"}
_CEFA_RE = re.compile(r"^([1-3])_(\d{3})_([1-4])_([1-3])_([1-4])$")
_CEFA_MASK_RE = re.compile(r"^([12])_(\d{3})_([01])_([01])_([12])_([12])_([1-4])$")
_CEFA_PAIS = {1: ("real", "live"), 2: ("cloth", "print"), 3: ("photo", "print"), 4: ("screen", "replay")}
_CEFA_MASKS = {1: ("3d_print_mask", "rigid_mask"), 2: ("silicone_mask", "silicone_mask")}


def cefa_video_path(relative_path):
    """The video folder of a CeFA path: a frame path (<video>/profile/0001.jpg) or modality folder loses those parts."""
    parts = [p for p in str(relative_path).replace("\\", "/").split("/") if p not in ("", ".")]
    if parts and os.path.splitext(parts[-1])[1].lower() in (".jpg", ".jpeg", ".png", ".bmp"):
        parts = parts[:-1]
    if parts and parts[-1].lower() in CEFA_MODALITY_FOLDERS:
        parts = parts[:-1]
    return "/".join(parts)


def _parse_cefa(relative_path):
    video = cefa_video_path(relative_path)
    name = video.split("/")[-1] if video else ""
    ethnic, mask = _CEFA_RE.match(name), _CEFA_MASK_RE.match(name)
    if ethnic:
        race, subject, device, session, pai = (int(g) for g in ethnic.groups())
        attack, spoof_type = _CEFA_PAIS[pai]
        return _record(name, int(pai != 1), spoof_type, attack, f"{CEFA_RACES[race]}_{subject:03d}", None,
                       ethnicity=CEFA_RACES[race], device=device, session=session, pai=pai)
    if mask:
        kind, number, dresses, glasses, device, session, lighting = (int(g) for g in mask.groups())
        attack, spoof_type = _CEFA_MASKS[kind]
        return _record(name, 1, spoof_type, attack, f"{attack}_{number:03d}", None, ethnicity=None, device=device,
                       session=session, dresses=dresses, glasses=glasses, lighting=lighting)
    _fail("cefa", relative_path, CEFA_PATTERN)


_PARSERS = {"oulu_npu": _parse_oulu, "siw": _parse_siw, "siw_m": _parse_siwm, "casia_fasd": _parse_casia,
            "wmca": _parse_wmca, "cefa": _parse_cefa,
            "replay_attack": _parse_replay, "msu_mfsd": _parse_msu}
PATTERNS = {"oulu_npu": OULU_PATTERN, "siw": SIW_PATTERN, "siw_m": SIWM_PATTERN, "casia_fasd": CASIA_PATTERN,
            "wmca": WMCA_PATTERN, "cefa": CEFA_PATTERN,
            "replay_attack": REPLAY_PATTERN, "msu_mfsd": MSU_PATTERN}


def parse_video_name(dataset, relative_path):
    """Parse one video path (relative to the dataset root, official naming) into a record dict (see module doc)."""
    try:
        parser = _PARSERS[dataset]
    except KeyError:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}") from None
    return parser(relative_path)


def scan_dataset(dataset, root, skip_unknown=False):
    """Records of every video file under a raw dataset tree, sorted by video_id.

    Files without a video extension are ignored; a video whose name does not parse raises (or is skipped
    with `skip_unknown`). Two files with the same video_id raise."""
    records = {}
    for directory, _, files in os.walk(root):
        for name in sorted(files):
            if os.path.splitext(name)[1].lower() not in VIDEO_EXTENSIONS:
                continue
            relative = os.path.relpath(os.path.join(directory, name), root).replace(os.sep, "/")
            try:
                record = parse_video_name(dataset, relative)
            except ValueError:
                if skip_unknown:
                    continue
                raise
            record["source_path"] = relative
            if record["video_id"] in records:
                raise ValueError(f"{dataset}: {relative!r} and {records[record['video_id']]['source_path']!r} "
                                 f"map to the same video_id {record['video_id']!r}")
            records[record["video_id"]] = record
    if not records:
        raise ValueError(f"{dataset}: no video files ({', '.join(VIDEO_EXTENSIONS)}) under {root!r}")
    return [records[k] for k in sorted(records)]
