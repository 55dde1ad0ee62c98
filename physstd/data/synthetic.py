"""The embedded synthetic face anti-spoofing set: real packaged face photos, shared nuisance,
physically modelled spoof traces with known ground truth, written in the prepared layout.

    python -m physstd.data.synthetic --output_dir=prepared/synthetic --image_size=64 --seed=0
    python run_preprocess.py --dataset=synthetic --input_dir=<raw> --output_dir=<prepared>   # raw -> prepared

What it is: a smoke test of the whole pipeline and a trace-recovery benchmark (the true additive trace T_A
and inpainting region P of every spoof frame are saved). What it is not: a substitute for SiW-M; the faces
are a few photos, the attacks are models of real instruments, and scores on it say nothing about real data.

Identities are the packaged photos in which dlib finds a face: skimage `astronaut`, matplotlib
`grace_hopper.jpg`, then the faces of skimage `lfw_subset` (25 x 25 grey, upscaled to 200 px, coloured with
one of five skin tones at unchanged luminance; each image is its own identity, the subset ships no names).
Every identity gets `live_videos` bona fide videos and one video per spoof type (synthetic_traces.RENDERERS:
print, replay, paper_mask, cosmetic, paper_glasses, partial_paper), each of `frames_per_video` frames whose nuisance (pose, light, noise, JPEG)
varies from frame to frame.

Raw layout (`generate_raw`; one folder per video, raw frames 1.5 N x 1.5 N with the face crop about N):

    <raw>/meta.json             generation parameters (format_version, seed, image_size, raw_size, ...)
    <raw>/videos.csv            video_id,path,label,spoof_type,subject,num_frames
    <raw>/<path>/frames/000000.png   the captured frame (RGB, what a camera recorded)
    <raw>/<path>/live/000000.png     spoof videos: the bona fide face under the same pose, light, sensor
                                     noise field and JPEG quality (what the camera would have recorded live)
    <raw>/<path>/mask/000000.png     spoof types with inpainting: P * 255 (8-bit grey)
    <raw>/<path>/sensor_depth/000000.png       the depth camera's frame: uint16 mm, 0 = hole (synthetic_depth)
    <raw>/<path>/sensor_depth_live/000000.png  spoof videos: the live twin's depth under the same sensor draw
    <raw>/<path>/truth.npz           landmarks (F,68,2) f32 of the posed source face; nuisance_<key> (F,);
                                     trace_<param> () the attack's physical parameters (synthetic_traces);
                                     sensor_depth_<param> () the depth scene's, sensor's and attack geometry's
                                     drawn parameters, sensor_depth_mm_per_pixel (F,) (synthetic_depth)

The depth camera is on by default (`--nosensor_depth`: an RGB set, whose RGB frames are byte for byte those of the
RGB-D set of the same seed: the camera draws from its own stream); a raw set with depth has "sensor_depth": true in
its meta.json, and its prepared set is RGB-D (depth_units "mm", prepared.py).

Ground truth, and why it is exact. A raw spoof frame S and its bona fide twin L are captured with the same
noise field and JPEG quality, so T_A := S - L (in 8-bit levels) holds the physical trace plus the codec's
response to it and nothing else, and live + T_A = S lies in [0, 1]. Inside P the paper replaces the face
(PhySTD paper, Eq. 3: T_P = I_spoof there), so content := S where P > 0. Then S = (1 - P)(L + T_A) + P content
for any P. `prepare_synthetic` runs the preprocess worker's `FacePreprocessor.process_frame` on the raw
frame (dlib landmarks, crop affine, depth), warps L, S and P with that frame's affine
(`preprocess.warp_to_crop`), rounds the warped L and S to 8-bit levels and sets trace = S_crop - L_crop,
mask = P_crop, content = S_crop * (mask > 0), live = L_crop. The saved frame PNG is S_crop, so truth.npz
reproduces it exactly: frame == (1 - mask)(live + trace) + mask content up to float32 arithmetic. S_crop
differs from the preprocessor's own 8-bit crop of S by at most one level (float vs fixed-point bilinear).

Protocols (`write_protocols`, under <prepared>/protocols/, read with protocols.load_split):
    identity             identities split 60/20/20 into train/dev/test (seeded), every type in each; the two
                         high-resolution photos (TRAIN_ONLY) always train
    leave_one_type_out   fold_<type>: train/dev = train/dev identities without that type; test = the test
                         identities' live videos and their videos of that type
"""
import collections
import csv
import dataclasses
import json
import multiprocessing
import os
import shutil
import sys
import time
import uuid
import zlib

import cv2
import numpy as np

from physstd import cli, files
from physstd.data import face_model, protocols, spoof_types, synthetic_depth, synthetic_traces
from physstd.data.detect import DETECT_MAX_SIDE, LandmarkDetector
from physstd.data.prepared import (INDEX_COLUMNS, SENSOR_DEPTH_DIR, DatasetWriter, PreparedDataset,
                                   check_output_root)
from physstd.data.preprocess import InputError, VideoResult, preprocess_videos, warp_to_crop
from physstd.data.sensor_depth import DepthFormatError, read_depth_png

DATASET_NAME = "synthetic"
FORMAT_VERSION = 1
RAW_META_FILE = "meta.json"
RAW_INDEX_FILE = "videos.csv"
RAW_TRUTH_FILE = "truth.npz"
GENERATION_FILE = "synthetic.json"   # the raw meta, copied next to the prepared meta.json
DEFAULT_RAW_DIR = "raw"              # generate(): the raw videos under <output_dir>/raw
SENSOR_DEPTH_LIVE_DIR = "sensor_depth_live"   # a raw spoof video's live twin under the same depth sensor draw
DEPTH_STREAM = 1                     # video_rng stream of the depth camera (the RGB frames draw from stream 0)
RAW_SCALE = 1.5                      # raw canvas side / nominal face crop side (raw_face_side)
MIN_RAW_FACE = 128                   # smallest nominal face crop in raw pixels (dlib's HOG needs ~80 px faces)
LFW_SIZE = 200                       # lfw_subset's 25 x 25 faces are upscaled to this side
# Relative RGB reflectance of five skin tones, light to dark, cycled over the grey lfw faces (skin_tinted).
SKIN_TONES = ((1.00, 0.82, 0.72), (1.00, 0.78, 0.64), (0.95, 0.72, 0.56), (0.86, 0.62, 0.46), (0.70, 0.50, 0.38))
SPOOF_TYPES = synthetic_traces.SPOOF_TYPES
DEFAULT_NUM_IDENTITIES = 10
DEFAULT_FRAMES_PER_VIDEO = 4
DEFAULT_LIVE_VIDEOS = 2
TRAIN_FRACTION, DEV_FRACTION = 0.6, 0.2
# The two sharp, high-resolution colour photos always train: every other identity is a 25 x 25 lfw face blown up
# 8x, so as a dev or test identity either would measure a resolution shift seen in one training identity at
# most (a sharp live face then scores as a spoof, whose traces are the only other fine detail in the set).
TRAIN_ONLY = ("astronaut", "grace_hopper")
# ...and get as many live videos as spoof videos: with two lives against six spoofs, fresh renders
# of these two unlike-any-other faces scored as attacks half the time (the detector had memorised their few live
# frames), and so did their original photos, blurred, noised or JPEG-compressed alike (experiments/original_photos.py).


class SyntheticFormatError(ValueError):
    """A raw synthetic folder is missing a file or does not match; the message names the file."""


# --- identities: packaged photos with a face ---------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class SourceFace:
    """A packaged photo used as one identity: (H, W, 3) uint8 RGB and its dlib 68 landmarks (x, y)."""

    name: str
    image: np.ndarray
    landmarks: np.ndarray


def packaged_photos():
    """Yield (name, RGB uint8) for every packaged photo, in identity order: astronaut, grace_hopper,
    lfw_000 .. lfw_199 (upscaled to LFW_SIZE, skin-tinted)."""
    import matplotlib.cbook
    import skimage.data
    import skimage.util

    yield "astronaut", skimage.data.astronaut()
    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    yield "grace_hopper", cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    for i, face in enumerate(skimage.data.lfw_subset()):
        grey = cv2.resize(skimage.util.img_as_ubyte(face), (LFW_SIZE, LFW_SIZE),
                          interpolation=cv2.INTER_CUBIC)
        yield f"lfw_{i:03d}", skin_tinted(grey, SKIN_TONES[i % len(SKIN_TONES)])


def skin_tinted(grey, tone):
    """(H, W, 3) uint8: a grey photo coloured with one skin tone at unchanged luminance (Rec. 601 luma).

    Without it every colour in a live lfw frame would come from the light alone, and a network could learn
    "colour = spoof" from the grey lfw lives and the colour astronaut / grace_hopper lives."""
    tone = np.asarray(tone, np.float32) / float(np.dot(tone, synthetic_traces.LUMA))
    return np.clip(np.round(grey[..., None].astype(np.float32) * tone), 0, 255).astype(np.uint8)


def find_faces(count=None, detector=None):
    """The first `count` packaged photos (all when None) in which dlib finds a face, as `SourceFace`s."""
    if detector is None:
        detector = LandmarkDetector()
    faces = []
    for name, image in packaged_photos():
        if count is not None and len(faces) == count:
            break
        points = detector(image)
        if points is not None:
            faces.append(SourceFace(name, image, points))
    if count is not None and len(faces) < count:
        raise ValueError(f"asked for {count} identities, but dlib finds a face in only {len(faces)} of the "
                         f"packaged photos (astronaut, grace_hopper, lfw_subset)")
    return faces


def count_packaged_faces():
    """{'astronaut': 0/1, 'grace_hopper': 0/1, 'lfw_subset': faces found, 'lfw_total': 200}."""
    import skimage.data

    found = {face.name for face in find_faces()}
    return {"astronaut": int("astronaut" in found), "grace_hopper": int("grace_hopper" in found),
            "lfw_subset": sum(name.startswith("lfw_") for name in found), "lfw_total": len(skimage.data.lfw_subset())}


# --- the raw videos -----------------------------------------------------------------------------------

def raw_face_side(image_size):
    """Nominal side (raw pixels) of the face crop box in a raw frame: N, but at least MIN_RAW_FACE so that
    dlib finds the faces of small N sets (the crop then shrinks the raw frame, like real videos)."""
    return max(int(image_size), MIN_RAW_FACE)


def raw_size(image_size):
    """Side of the raw frames for crop size N: 1.5 x the nominal face crop, rounded up to a multiple of 8."""
    return int(8 * np.ceil(RAW_SCALE * raw_face_side(image_size) / 8))


def live_video_count(subject, live_videos, spoof_type_names):
    """Live videos of one subject: `live_videos`, or one per spoof type for the TRAIN_ONLY photos if that is more."""
    return max(live_videos, len(spoof_type_names)) if subject in TRAIN_ONLY else live_videos


def video_plan(subjects, spoof_type_names=SPOOF_TYPES, live_videos=DEFAULT_LIVE_VIDEOS):
    """Index rows (without num_frames) of every video: per subject `live_video_count` live videos and one per
    spoof type. video_id = <subject>_<type>_<k>; path = <type>/<video_id>."""
    rows = []
    for subject in subjects:
        lives = live_video_count(subject, live_videos, spoof_type_names)
        kinds = [("live", k) for k in range(lives)] + [(name, 0) for name in spoof_type_names]
        for kind, k in kinds:
            video_id = f"{subject}_{kind}_{k}"
            rows.append({"video_id": video_id, "path": f"{kind}/{video_id}", "label": int(kind != "live"),
                         "spoof_type": kind, "subject": subject})
    return rows


def video_rng(seed, video_id, stream=0):
    """The seeded generator of one video: independent of which other videos exist and in which order."""
    return np.random.default_rng([int(seed), zlib.crc32(video_id.encode()), stream])


@dataclasses.dataclass
class RawFrame:
    """One rendered frame: the captured frame, its bona fide twin, P (or None), posed landmarks (68, 2), and with
    a depth camera the sensor depth of the frame and of its twin ((H, W) uint16 mm, 0 = hole; else None)."""

    frame: np.ndarray
    live: np.ndarray
    mask: np.ndarray
    landmarks: np.ndarray
    sensor_depth: np.ndarray = None
    sensor_depth_live: np.ndarray = None


def render_video(source, spoof_type, num_frames, image_size, rng, light_variation=True, camera=None):
    """Render one video of `source` (a SourceFace): (list of RawFrame, nuisance dict, trace params dict).

    Pose: the source's crop box (face_model.crop_box) is mapped onto an N-pixel box centred in the
    1.5 N canvas, then rotated/scaled/shifted by the frame's nuisance. The spoof renderer's random draws
    come from one seed per video, so the attack instrument is the same in every frame. light_variation: see
    synthetic_traces.sample_nuisance. camera: a synthetic_depth.SensorDepthVideo of this video's type, drawing
    from its own stream (`rng` is not touched by it, so the RGB frames are those of a render without it), that
    gives every frame its sensor depth; None renders RGB only."""
    size, face_side = raw_size(image_size), raw_face_side(image_size)
    x0, y0, side = face_model.crop_box(source.landmarks)
    # Resample the photo once so that the per-frame warp is close to 1:1 (no aliasing when shrinking).
    factor = face_side / side
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC
    photo = cv2.resize(source.image, None, fx=factor, fy=factor, interpolation=interpolation)
    points = (source.landmarks + 0.5) * factor - 0.5
    center = (np.array([x0, y0]) + side / 2 + 0.5) * factor - 0.5
    nuisance = synthetic_traces.sample_nuisance(rng, num_frames, light_variation)
    trace_seed = int(rng.integers(2 ** 63))
    renderer = synthetic_traces.RENDERERS.get(spoof_type)
    frames, params = [], {}
    for k in range(num_frames):
        target = np.array([size / 2 - 0.5 + nuisance["shift_x"][k] * face_side,
                           size / 2 - 0.5 + nuisance["shift_y"][k] * face_side])
        affine = synthetic_traces.pose_affine(center, target, nuisance["angle"][k], nuisance["scale"][k])
        posed = cv2.warpAffine(photo, affine, (size, size), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE).astype(np.float32) / 255.0
        landmarks = points @ affine[:, :2].T + affine[:, 2]
        noise = rng.standard_normal(posed.shape).astype(np.float32)
        live = synthetic_traces.capture(synthetic_traces.illuminate(posed, nuisance, k), noise, nuisance, k)
        if renderer is None:
            depth, _ = camera.frame(landmarks) if camera is not None else (None, None)
            frames.append(RawFrame(live, live, None, landmarks, depth, depth))
            continue
        unit = face_model.crop_box(landmarks)[2] / image_size
        spoof = renderer(posed, face_model.derive_landmarks(landmarks), unit, np.random.default_rng(trace_seed))
        params = spoof.params
        frame = synthetic_traces.capture(synthetic_traces.illuminate(spoof.image, nuisance, k), noise, nuisance, k)
        depth, live_depth = camera.frame(landmarks, spoof) if camera is not None else (None, None)
        frames.append(RawFrame(frame, live, spoof.mask, landmarks, depth, live_depth))
    return frames, nuisance, params


def _write_png(path, rgb_or_grey):
    image = rgb_or_grey if rgb_or_grey.ndim == 2 else cv2.cvtColor(rgb_or_grey, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(path, image):
        raise OSError(f"{path}: could not write the PNG")


def write_raw_video(raw_dir, row, frames, nuisance, params, camera=None):
    """Write one raw video folder (built under <raw>/.partial/, moved into place in one rename). camera: the
    video's synthetic_depth.SensorDepthVideo, whose drawn parameters go into truth.npz, or None."""
    temp = os.path.join(raw_dir, ".partial", f"{os.getpid()}-{uuid.uuid4().hex}")
    try:
        depth = frames[0].sensor_depth is not None
        folders = (["frames"] + (["live"] if row["label"] else []) + (["mask"] if frames[0].mask is not None else [])
                   + ([SENSOR_DEPTH_DIR] if depth else [])
                   + ([SENSOR_DEPTH_LIVE_DIR] if depth and row["label"] else []))
        for folder in folders:
            os.makedirs(os.path.join(temp, folder))
        for k, frame in enumerate(frames):
            name = f"{k:06d}.png"
            _write_png(os.path.join(temp, "frames", name), frame.frame)
            if row["label"]:
                _write_png(os.path.join(temp, "live", name), frame.live)
            if frame.mask is not None:
                _write_png(os.path.join(temp, "mask", name), np.round(frame.mask * 255).astype(np.uint8))
            if depth:   # uint16: a 16-bit grey PNG
                _write_png(os.path.join(temp, SENSOR_DEPTH_DIR, name), frame.sensor_depth)
                if row["label"]:
                    _write_png(os.path.join(temp, SENSOR_DEPTH_LIVE_DIR, name), frame.sensor_depth_live)
        truth = {"landmarks": np.stack([f.landmarks for f in frames]).astype(np.float32)}
        truth.update({f"nuisance_{k}": np.asarray(v, np.float64) for k, v in nuisance.items()})
        truth.update({f"trace_{k}": np.float64(v) for k, v in params.items()})
        truth.update(camera.truth() if camera is not None else {})
        np.savez(os.path.join(temp, RAW_TRUTH_FILE), **truth)
        final = os.path.join(raw_dir, row["path"])
        os.makedirs(os.path.dirname(final), exist_ok=True)
        files.swap_in_folder(temp, final, old=temp + ".old")
    finally:
        shutil.rmtree(temp, ignore_errors=True)


_CONTEXT = {}


def video_camera(seed, video_id, spoof_type, image_size):
    """The depth camera of one video (synthetic_depth.SensorDepthVideo), drawing from the video's stream 1: the
    RGB frames (stream 0) are the same with or without it."""
    size = raw_size(image_size)
    return synthetic_depth.SensorDepthVideo(spoof_type, (size, size), video_rng(seed, video_id, DEPTH_STREAM))


def _render_job(row):
    context = _CONTEXT
    source = context["sources"][row["subject"]]
    rng = video_rng(context["seed"], row["video_id"])
    camera = (video_camera(context["seed"], row["video_id"], row["spoof_type"], context["image_size"])
              if context["sensor_depth"] else None)
    frames, nuisance, params = render_video(source, row["spoof_type"], context["frames_per_video"],
                                            context["image_size"], rng, context["light_variation"], camera)
    write_raw_video(context["raw_dir"], row, frames, nuisance, params, camera)
    return dict(row, num_frames=len(frames))


def _map(function, items, workers):
    """map over items, in a fork pool of `workers` processes when > 1 (results in input order)."""
    if workers > 1 and len(items) > 1:
        with multiprocessing.get_context("fork").Pool(min(workers, len(items))) as pool:
            return pool.map(function, items, chunksize=1)
    return [function(item) for item in items]


def default_workers():
    return max(1, min(2, os.cpu_count() or 1))


def generate_raw(raw_dir, image_size=64, num_identities=DEFAULT_NUM_IDENTITIES,
                 frames_per_video=DEFAULT_FRAMES_PER_VIDEO, live_videos=DEFAULT_LIVE_VIDEOS,
                 spoof_type_names=SPOOF_TYPES, seed=0, workers=None, sources=None, light_variation=True,
                 sensor_depth=True):
    """Render the raw videos into raw_dir (layout in the module docstring); returns the videos.csv rows.
    light_variation=False renders every video under one light (synthetic_traces.sample_nuisance): a control
    set in which a tone or colour map cannot hide inside the live videos' own variation. sensor_depth=False
    renders no depth camera (an RGB set; its RGB frames are byte for byte those of the RGB-D set).

    A raw_dir already generated with the same parameters is completed (videos in videos.csv are kept);
    one generated with other parameters, or a non-empty folder that is not a raw synthetic set, raises
    SyntheticFormatError."""
    if num_identities < 3:
        raise ValueError(f"num_identities must be >= 3 (train, dev and test identities), got {num_identities}")
    if frames_per_video < 1 or live_videos < 1:
        raise ValueError(f"frames_per_video and live_videos must be >= 1, got {frames_per_video}, {live_videos}")
    unknown = [t for t in spoof_type_names if t not in synthetic_traces.RENDERERS]
    if unknown or not spoof_type_names:
        raise ValueError(f"unknown synthetic spoof types {unknown}; expected some of {', '.join(SPOOF_TYPES)}")
    meta_path = os.path.join(files.check_output_dir(raw_dir), RAW_META_FILE)
    if os.path.isdir(raw_dir) and os.listdir(raw_dir) and not os.path.exists(meta_path):
        # its video folders would be replaced: refused before minutes of rendering
        raise SyntheticFormatError(f"{raw_dir}: not empty and not a raw synthetic set (no {RAW_META_FILE}); "
                                   f"generate into a new or empty folder")
    sources = find_faces(num_identities) if sources is None else list(sources)[:num_identities]
    meta = {"format_version": FORMAT_VERSION, "generator": "physstd.data.synthetic", "seed": int(seed),
            "image_size": int(image_size), "raw_size": raw_size(image_size),
            "num_identities": int(num_identities), "frames_per_video": int(frames_per_video),
            "live_videos": int(live_videos), "balanced_live_subjects": list(TRAIN_ONLY),
            "spoof_types": list(spoof_type_names),
            "subjects": [s.name for s in sources]}
    if not light_variation:  # only written when off, so that sets generated before the option still match
        meta["light_variation"] = False
    if sensor_depth:   # only written when on: an RGB set generated before depth existed still matches an RGB run
        meta["sensor_depth"] = True
    os.makedirs(raw_dir, exist_ok=True)
    done = {}
    if os.path.exists(meta_path):
        existing = read_raw_meta(raw_dir)
        if existing != meta:
            raise SyntheticFormatError(f"{meta_path}: {raw_dir!r} holds a synthetic set generated with "
                                       f"{existing}, this run asks for {meta}; use another folder")
        if os.path.exists(os.path.join(raw_dir, RAW_INDEX_FILE)):
            done = {row["video_id"]: row for row in read_raw_index(raw_dir)}
    else:
        files.write_text_atomic(meta_path, json.dumps(meta, indent=1) + "\n")
    shutil.rmtree(os.path.join(raw_dir, ".partial"), ignore_errors=True)
    plan = video_plan([s.name for s in sources], spoof_type_names, live_videos)
    todo = [row for row in plan if row["video_id"] not in done]
    _CONTEXT.update(sources={s.name: s for s in sources}, seed=seed, frames_per_video=frames_per_video,
                    image_size=image_size, raw_dir=raw_dir, light_variation=light_variation,
                    sensor_depth=sensor_depth)
    made = {row["video_id"]: row for row in _map(_render_job, todo, workers or default_workers())}
    rows = [done.get(row["video_id"]) or made[row["video_id"]] for row in plan]
    files.write_text_atomic(os.path.join(raw_dir, RAW_INDEX_FILE), files.csv_text(rows, list(INDEX_COLUMNS)))
    return rows


def read_raw_meta(raw_dir):
    """meta.json of a raw synthetic folder."""
    path = os.path.join(raw_dir, RAW_META_FILE)
    if not os.path.exists(path):
        raise SyntheticFormatError(f"{path}: missing; is {raw_dir!r} a raw synthetic set "
                                   f"(python -m physstd.data.synthetic)?")
    try:
        meta = files.read_json(path, "raw synthetic set meta")
    except ValueError as error:
        raise SyntheticFormatError(str(error)) from None
    if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
        raise SyntheticFormatError(f"{path}: expected a synthetic meta.json with format_version {FORMAT_VERSION}")
    return meta


def read_raw_index(raw_dir):
    """videos.csv rows of a raw synthetic folder (label, num_frames as int), checked."""
    path = os.path.join(raw_dir, RAW_INDEX_FILE)
    if not os.path.isfile(path):
        raise SyntheticFormatError(f"{path}: missing; is {raw_dir!r} a raw synthetic set?")
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in INDEX_COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise SyntheticFormatError(f"{path}: header lacks {', '.join(missing)}; expected "
                                       f"{','.join(INDEX_COLUMNS)}")
        rows = []
        for line, row in enumerate(reader, start=2):
            try:
                row["label"], row["num_frames"] = int(row["label"]), int(row["num_frames"])
            except (TypeError, ValueError):
                raise SyntheticFormatError(f"{path} line {line}: label and num_frames must be integers") from None
            if row["spoof_type"] not in spoof_types.NAMES or row["label"] != int(row["spoof_type"] != "live"):
                raise SyntheticFormatError(f"{path} line {line}: spoof_type {row['spoof_type']!r} and label "
                                           f"{row['label']} do not match a spoof_types name")
            rows.append(row)
    return rows


def read_raw_truth(raw_dir, row, sensor_depth=False):
    """The raw ground truth of one video: {'frames', 'live', 'mask'} (F, ...) uint8 arrays (mask None when
    the type has no inpainting), with sensor_depth also {'sensor_depth', 'sensor_depth_live'} (F, H, W) uint16
    (for a live video its own depth twice), and the truth.npz arrays (landmarks, nuisance_*, trace_*,
    sensor_depth_*)."""
    folder = os.path.join(raw_dir, row["path"])
    names = [f"{k:06d}.png" for k in range(row["num_frames"])]

    def read(sub, flags):
        images = []
        for name in names:
            path = os.path.join(folder, sub, name)
            try:
                image = cv2.imread(path, flags)
            except cv2.error:   # a header claiming more pixels than OpenCV decodes
                image = None
            if image is None:
                raise SyntheticFormatError(f"{path}: missing or not a readable PNG")
            images.append(image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        return np.stack(images)

    def read_depth(sub):
        try:
            return np.stack([read_depth_png(os.path.join(folder, sub, name)) for name in names])
        except DepthFormatError as error:
            raise SyntheticFormatError(str(error)) from None

    frames = read("frames", cv2.IMREAD_COLOR)
    live = read("live", cv2.IMREAD_COLOR) if row["label"] else frames
    mask = read("mask", cv2.IMREAD_GRAYSCALE) if os.path.isdir(os.path.join(folder, "mask")) else None
    depths = {}
    if sensor_depth:
        depths["sensor_depth"] = read_depth(SENSOR_DEPTH_DIR)
        depths["sensor_depth_live"] = read_depth(SENSOR_DEPTH_LIVE_DIR) if row["label"] else depths["sensor_depth"]
    path = os.path.join(folder, RAW_TRUTH_FILE)
    try:
        arrays = files.load_npz(path)
    except (OSError, ValueError) as error:
        raise SyntheticFormatError(f"{path}: missing or not a readable .npz ({error})") from None
    return dict(arrays, frames=frames, live=live, mask=mask, **depths)


# --- raw -> prepared, through the preprocessing code path ---------------------------------------------

def crop_truth(frame, live, mask, affine, image_size):
    """Ground truth of one frame under the crop `affine` (module docstring: exact by construction).

    frame, live: (H, W, 3) uint8 raw spoof and bona fide frames; mask: (H, W) uint8 P * 255 or None.
    Returns (crop uint8, {'trace', 'mask', 'content', 'live'} float32) with
    crop / 255 == (1 - mask)(live + trace) + mask * content."""
    def crop(image):
        return warp_to_crop(image.astype(np.float32), affine, image_size)

    spoof_crop = np.clip(np.round(crop(frame)), 0, 255)
    live_crop = np.clip(np.round(crop(live)), 0, 255) / 255.0
    spoof = spoof_crop / 255.0
    if mask is None:
        p = np.zeros((image_size, image_size), np.float32)
    else:
        p = np.clip(crop(mask) / 255.0, 0.0, 1.0)
    truth = {"trace": spoof - live_crop, "mask": p, "content": spoof * (p > 0)[..., None], "live": live_crop}
    return spoof_crop.astype(np.uint8), {k: v.astype(np.float32) for k, v in truth.items()}


def prepare_raw_video(raw_dir, row, preprocessor, sensor_depth=False):
    """(PreparedFrames with the composed crop, truth dict of (F, ...) arrays, frames without a face, sensor depth
    crops (F, N, N) uint16 or None) of one raw video: process_frame on each raw frame (landmarks, depth, affine
    from dlib), crop_truth with its affine, and with sensor_depth the frame's and its twin's depth cropped with it
    (synthetic_depth.crop_depth_truth). Frames where no face is found are left out (as real preprocessing does)."""
    raw = read_raw_truth(raw_dir, row, sensor_depth)
    frames, truths, depths = [], [], []
    for k in range(row["num_frames"]):
        prepared = preprocessor.process_frame(raw["frames"][k], k)
        if prepared is None:
            continue
        mask = None if raw["mask"] is None else raw["mask"][k]
        crop, truth = crop_truth(raw["frames"][k], raw["live"][k], mask, prepared.affine,
                                 preprocessor.image_size)
        if sensor_depth:
            depth, depth_truth = synthetic_depth.crop_depth_truth(raw["sensor_depth"][k], raw["sensor_depth_live"][k],
                                                                  prepared.affine, preprocessor.image_size)
            truth.update(depth_truth)
            depths.append(depth)
        frames.append(dataclasses.replace(prepared, crop=crop))
        truths.append(truth)
    stacked = {key: np.stack([t[key] for t in truths]) for key in truths[0]} if truths else None
    return frames, stacked, row["num_frames"] - len(frames), depths if sensor_depth else None


@dataclasses.dataclass(frozen=True)
class RawVideoJob:
    """One raw video to prepare, a job of the preprocessing loop (preprocess.preprocess_videos): faces detected
    in every frame as in a real video, the truth cropped with each frame's affine (prepare_raw_video). A video in
    none of whose frames dlib finds a face is left out, not failed (PrepareSummary.ok)."""

    raw_dir: str
    row: dict
    sensor_depth: bool = False   # the raw set has a depth camera (prepared as an RGB-D set)
    landmark_files = False   # not a field: the faces are detected

    @property
    def source(self):
        return os.path.join(self.raw_dir, self.row["path"])

    @property
    def record(self):
        return {k: self.row[k] for k in ("video_id", "path", "label", "spoof_type", "subject")}

    def prepare(self, writer, preprocessor, every_k=1, max_frames=None):
        """The preprocessing loop's call; every raw frame is prepared (every_k and max_frames are 1 and None)."""
        try:
            frames, truth, missed, depths = prepare_raw_video(self.raw_dir, self.row, preprocessor, self.sensor_depth)
        except SyntheticFormatError as error:
            raise InputError(str(error)) from None
        if not frames:
            return VideoResult(None, self.row["num_frames"], missed)
        row = writer.write_video(dict(self.record, frames_without_face=missed), frames, extra_truth=truth,
                                 register=False, sensor_depth=depths)
        return VideoResult(row, self.row["num_frames"], missed)


@dataclasses.dataclass
class PrepareSummary:
    videos: int = 0
    done: int = 0
    skipped: int = 0
    frames_read: int = 0
    frames_written: int = 0
    failures: list = dataclasses.field(default_factory=list)
    no_face: list = dataclasses.field(default_factory=list)   # raw index rows of the videos left out: no face
    seconds: float = 0.0

    @property
    def ok(self):
        """No video failed. A video in which dlib finds no face in any frame (a small lfw face after pose and
        light, or an attack covering it) is left out, as the preprocessing leaves out such real videos: it is
        counted in `no_face`, not a failure."""
        return not self.failures

    def format(self):
        lines = [f"videos: {self.done} done, {self.skipped} skipped (already prepared), {len(self.no_face)} "
                 f"without a face, {len(self.failures)} failed of {self.videos}",
                 f"frames: {self.frames_read} read, {self.frames_written} written, "
                 f"{self.frames_read - self.frames_written} without a face ({self.seconds:.1f} s)"]
        if self.no_face:
            lines.append(no_face_summary(self.no_face))
        lines += [f"  failed: {message}" for message in self.failures]
        return "\n".join(lines)


def no_face_summary(rows):
    """One line counting the videos (raw index rows) left out because dlib finds no face in any of their frames,
    per type in the order live, SPOOF_TYPES."""
    counts = collections.Counter(row["spoof_type"] for row in rows)
    per_type = ", ".join(f"{name} {counts[name]}" for name in ("live", *SPOOF_TYPES) if counts[name])
    identities = len({row["subject"] for row in rows})
    return (f"  left out: {len(rows)} videos of {identities} identities in which dlib finds no face in any frame "
            f"(expected, as with real videos) - {per_type}")


def prepare_synthetic(raw_dir, output_dir, image_size=None, workers=None, detect_max_side=None, seed=None,
                      log=None):
    """Raw synthetic videos -> the prepared layout (physstd.data.prepared) with truth.npz, plus the protocols.
    A raw set with a depth camera (its meta.json has "sensor_depth": true) becomes an RGB-D set in mm.

    image_size defaults to the raw set's; seed (protocol split) to the raw set's seed. Videos already in
    output_dir's index are skipped (resume). output_dir must be apart from raw_dir, except that generate() keeps
    its raw videos in <output_dir>/raw. Returns a PrepareSummary."""
    meta = read_raw_meta(raw_dir)
    rows = read_raw_index(raw_dir)
    image_size = int(meta["image_size"] if image_size is None else image_size)
    seed = int(meta["seed"] if seed is None else seed)
    own_raw = _is_default_raw(raw_dir, output_dir)
    sensor_depth = bool(meta.get("sensor_depth"))
    writer = DatasetWriter(output_dir, DATASET_NAME, image_size, input_dir=None if own_raw else raw_dir,
                           own_entries=(DEFAULT_RAW_DIR,) if own_raw else (),
                           depth_units="mm" if sensor_depth else None)
    generation_path = os.path.join(output_dir, GENERATION_FILE)
    if os.path.exists(generation_path):
        try:
            existing = files.read_json(generation_path, "synthetic generation record")
        except ValueError as error:
            raise SyntheticFormatError(str(error)) from None
        if existing != meta:
            raise SyntheticFormatError(f"{generation_path}: {output_dir!r} was prepared from another synthetic "
                                       f"set ({existing}); use another output folder")
    else:
        files.write_text_atomic(generation_path, json.dumps(meta, indent=1) + "\n")
    result = preprocess_videos([RawVideoJob(raw_dir, row, sensor_depth) for row in rows], writer,
                               workers=workers or default_workers(),
                               detect_max_side=detect_max_side or DETECT_MAX_SIDE, log=log or _quiet)
    if result.interrupted:
        raise KeyboardInterrupt
    summary = PrepareSummary(videos=len(rows), done=result.done, skipped=result.skipped,
                             frames_read=result.frames_read, frames_written=result.frames_written,
                             failures=[message for _, message in result.failures],
                             no_face=[job.row for job in result.left_out], seconds=result.seconds)
    write_protocols(output_dir, seed)
    return summary


def _quiet(message):
    del message


# --- protocols ----------------------------------------------------------------------------------------

def split_identities(subjects, seed, train_fraction=TRAIN_FRACTION, dev_fraction=DEV_FRACTION):
    """{'train', 'dev', 'test'}: sorted subject lists, a seeded permutation split 60/20/20 (dev and test get
    at least one identity each). The TRAIN_ONLY photos go to train whenever the others can fill dev and test."""
    subjects = sorted(set(subjects))
    if len(subjects) < 3:
        raise ValueError(f"need >= 3 identities for train/dev/test, got {len(subjects)}")
    n_dev = max(1, int(round(dev_fraction * len(subjects))))
    n_test = max(1, int(round((1 - train_fraction - dev_fraction) * len(subjects))))
    fixed = [s for s in subjects if s in TRAIN_ONLY]
    if len(subjects) - len(fixed) < n_dev + n_test:
        fixed = []
    others = [s for s in subjects if s not in fixed]
    order = np.random.default_rng([int(seed), zlib.crc32(b"identity")]).permutation(len(others))
    shuffled = [others[i] for i in order]
    n_train = len(others) - n_dev - n_test
    return {"train": sorted(fixed + shuffled[:n_train]), "dev": sorted(shuffled[n_train:n_train + n_dev]),
            "test": sorted(shuffled[n_train + n_dev:])}


def protocol_splits(rows, seed):
    """{protocol: {fold or None: {subset: [video_id]}}} for the index rows of a synthetic set."""
    groups = split_identities([row["subject"] for row in rows], seed)
    subset_of = {subject: subset for subset, subjects in groups.items() for subject in subjects}

    def ids(subset, keep):
        return sorted(r["video_id"] for r in rows if subset_of[r["subject"]] == subset and keep(r))

    identity = {None: {subset: ids(subset, lambda r: True) for subset in groups}}
    attack_types = sorted({row["spoof_type"] for row in rows if row["label"] == 1})
    leave_one_out = {}
    for held in attack_types:
        leave_one_out[held] = {"train": ids("train", lambda r, h=held: r["spoof_type"] != h),
                               "dev": ids("dev", lambda r, h=held: r["spoof_type"] != h),
                               "test": ids("test", lambda r, h=held: r["spoof_type"] in ("live", h))}
    return {"identity": identity, "leave_one_type_out": leave_one_out}, groups


def write_protocols(prepared_root, seed):
    """Write the 'identity' and 'leave_one_type_out' protocols under <prepared_root>/protocols/."""
    dataset = PreparedDataset(prepared_root)
    rows = dataset.index
    by_id = {row["video_id"]: row for row in rows}
    splits, groups = protocol_splits(rows, seed)
    definitions = {
        "identity": "identities split 60/20/20 into train/dev/test by a seeded permutation; all types in each",
        "leave_one_type_out": "fold_<type>: train/dev identities without that type; test = test identities' "
                              "live videos and their videos of that type",
    }
    out = os.path.join(prepared_root, "protocols")
    for name, folds in splits.items():
        info = {"dataset": DATASET_NAME, "source": "physstd.data.synthetic", "definition": definitions[name],
                "seed": int(seed), "identities": groups}
        protocols.write_protocol(out, name, folds, info, by_id=by_id, subject_disjoint=True)
    return out


# --- one call: raw + prepared + protocols -------------------------------------------------------------

@dataclasses.dataclass
class GenerationSummary:
    raw_dir: str
    output_dir: str
    identities: int
    videos: int
    raw_frames: int
    prepared: PrepareSummary
    seconds_raw: float
    seconds_total: float

    @property
    def ok(self):
        return self.prepared.ok

    def format(self):
        return (f"synthetic set: {self.identities} identities, {self.videos} videos, {self.raw_frames} raw frames "
                f"in {self.raw_dir} ({self.seconds_raw:.1f} s)\n{self.prepared.format()}\n"
                f"total {self.seconds_total:.1f} s -> {self.output_dir}")


def generate(output_dir, image_size=64, num_identities=DEFAULT_NUM_IDENTITIES,
             frames_per_video=DEFAULT_FRAMES_PER_VIDEO, seed=0, live_videos=DEFAULT_LIVE_VIDEOS,
             spoof_type_names=SPOOF_TYPES, raw_dir=None, workers=None, log=None, light_variation=True,
             sensor_depth=True):
    """Generate the synthetic set: raw videos (default <output_dir>/raw), the prepared layout in output_dir
    (through FacePreprocessor, with truth.npz) and its protocols. Returns a GenerationSummary.
    light_variation, sensor_depth: generate_raw."""
    start = time.monotonic()
    raw_dir = os.path.join(output_dir, DEFAULT_RAW_DIR) if raw_dir is None else raw_dir
    own_raw = _is_default_raw(raw_dir, output_dir)
    if not own_raw:
        files.check_apart(output_dir, raw_dir, "--output_dir", "--raw_dir")
    check_output_root(output_dir, own_entries=(DEFAULT_RAW_DIR,) if own_raw else ())   # before minutes of rendering
    rows = generate_raw(raw_dir, image_size, num_identities, frames_per_video, live_videos, spoof_type_names,
                        seed, workers, light_variation=light_variation, sensor_depth=sensor_depth)
    seconds_raw = time.monotonic() - start
    if log:
        log(f"raw: {len(rows)} videos, {sum(r['num_frames'] for r in rows)} frames in {seconds_raw:.1f} s")
    prepared = prepare_synthetic(raw_dir, output_dir, image_size, workers=workers, seed=seed, log=log)
    return GenerationSummary(raw_dir, output_dir, num_identities, len(rows), sum(r["num_frames"] for r in rows),
                             prepared, seconds_raw, time.monotonic() - start)


def _is_default_raw(raw_dir, output_dir):
    """Whether raw_dir is generate()'s own <output_dir>/raw (symbolic links resolved)."""
    return os.path.realpath(raw_dir) == os.path.join(os.path.realpath(output_dir), DEFAULT_RAW_DIR)


def write_synthetic_dataset(output_dir, image_size=64, seed=0, input_dir=None, workers=None, detect_max_side=None,
                            log=None):
    """Entry point of `run_preprocess.py --dataset=synthetic`: prepare `input_dir` (a raw synthetic set) into
    output_dir, or, with no input_dir, generate the default set there (raw under <output_dir>/raw).
    Returns a summary with .ok and .format()."""
    log = _log_stderr if log is None else log
    if input_dir:
        return prepare_synthetic(input_dir, output_dir, image_size, workers=workers,
                                 detect_max_side=detect_max_side, log=log)
    return generate(output_dir, image_size, seed=seed, workers=workers, log=log)


def _log_stderr(message):
    print(message, file=sys.stderr, flush=True)


# The figure's shared colour scales, mm: sensor depth from the nearest measurement on (near = bright; farther
# is the darkest colour) and depth trace (spoof - live twin).
FIGURE_DEPTH_SPAN = 300.0
FIGURE_TRACE_RANGE = 60.0


def write_depth_figure(path, image_size=64, seed=0, spoof_type_names=SPOOF_TYPES):
    """A PNG figure of the first identity's first frame in every type: the RGB frame, the sensor depth (holes
    black) and the depth trace (the sensor depth minus the live twin's, where both are measured). Returns path."""
    import io

    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot

    source = find_faces(1)[0]
    kinds = ("live", *spoof_type_names)
    figure, axes = pyplot.subplots(3, len(kinds), figsize=(2.2 * len(kinds), 7.0), squeeze=False)
    depth_map, trace_map = matplotlib.colormaps["viridis_r"].copy(), matplotlib.colormaps["coolwarm"].copy()
    depth_map.set_bad("black")
    trace_map.set_bad("black")
    frames = []
    for kind in kinds:
        video_id = f"{source.name}_{kind}_0"
        frames.append(render_video(source, kind, 1, image_size, video_rng(seed, video_id),
                                   camera=video_camera(seed, video_id, kind, image_size))[0][0])
    nearest = min(frame.sensor_depth[frame.sensor_depth > 0].min() for frame in frames)
    for column, (kind, frame) in enumerate(zip(kinds, frames)):
        depth, live = frame.sensor_depth.astype(np.float64), frame.sensor_depth_live.astype(np.float64)
        trace = np.where((depth > 0) & (live > 0), depth - live, np.nan)
        axes[0, column].imshow(frame.frame)
        shown = axes[1, column].imshow(np.where(depth > 0, depth, np.nan), cmap=depth_map, vmin=nearest,
                                       vmax=nearest + FIGURE_DEPTH_SPAN)
        shown_trace = axes[2, column].imshow(trace, cmap=trace_map, vmin=-FIGURE_TRACE_RANGE, vmax=FIGURE_TRACE_RANGE)
        axes[0, column].set_title(kind, fontsize=10)
        for row in range(3):
            axes[row, column].set_xticks([])
            axes[row, column].set_yticks([])
    for row, label, image in ((0, "RGB", None), (1, "sensor depth (mm)", shown), (2, "depth trace (mm)", shown_trace)):
        axes[row, 0].set_ylabel(label)
        if image is not None:
            figure.colorbar(image, ax=list(axes[row]), fraction=0.02, pad=0.01)
    figure.suptitle(f"synthetic set: sensor depth per type ({source.name}, seed {seed}; holes black)")
    buffer = io.BytesIO()
    figure.savefig(buffer, format=os.path.splitext(path)[1][1:] or "png", dpi=100)
    pyplot.close(figure)
    files.write_bytes_atomic(path, buffer.getvalue())
    return path


def _define_flags():
    from absl import flags
    flags.DEFINE_string("output_dir", None, "Prepared dataset root to write (raw videos go to --raw_dir).")
    flags.DEFINE_string("raw_dir", None, "Where the raw videos go (default <output_dir>/raw).")
    flags.DEFINE_integer("image_size", 64, "Crop size N (multiple of 8); raw frames are 1.5 N.", lower_bound=16)
    flags.DEFINE_integer("num_identities", DEFAULT_NUM_IDENTITIES, "Identities (packaged photos with a face).",
                         lower_bound=3)
    flags.DEFINE_integer("frames_per_video", DEFAULT_FRAMES_PER_VIDEO, "Frames per video.", lower_bound=1)
    flags.DEFINE_integer("live_videos", DEFAULT_LIVE_VIDEOS, "Live videos per identity.", lower_bound=1)
    flags.DEFINE_list("spoof_types", list(SPOOF_TYPES), "Spoof types to render (spoof_types names).")
    flags.DEFINE_integer("seed", 0, "Seed of every random choice (nuisance, traces, protocol split).")
    flags.DEFINE_integer("workers", default_workers(), "Processes rendering / preparing videos.", lower_bound=1)
    flags.DEFINE_bool("light_variation", True, "Vary gain, contrast, colour temperature and the light gradient "
                      "per video (--nolight_variation: one light for every video, a control set).")
    flags.DEFINE_bool("sensor_depth", True, "Render the depth camera: an RGB-D set (--nosensor_depth: an RGB set, "
                      "its RGB frames byte for byte those of the RGB-D set).")
    flags.DEFINE_string("figure", None, "Write a figure of every type's RGB frame, sensor depth and depth trace "
                        "(first identity) to this PNG file; alone, without --output_dir, nothing else is generated.")
    flags.register_multi_flags_validator(["output_dir", "figure"], lambda values: bool(values["output_dir"] or
                                                                                       values["figure"]),
                                         message="--output_dir is required (or --figure alone)")
    cli.register_ranges({"seed": cli.Range(0, 2 ** 32 - 1)})   # the other numeric flags have their lower_bound
    return flags.FLAGS


def main(argv):
    del argv
    flags_values = FLAGS
    try:
        if flags_values.figure:
            print(f"figure: {write_depth_figure(flags_values.figure, flags_values.image_size, flags_values.seed)}")
            if not flags_values.output_dir:
                return 0
        summary = generate(flags_values.output_dir, flags_values.image_size, flags_values.num_identities,
                           flags_values.frames_per_video, flags_values.seed, flags_values.live_videos,
                           tuple(flags_values.spoof_types), flags_values.raw_dir, flags_values.workers,
                           log=_log_stderr, light_variation=flags_values.light_variation,
                           sensor_depth=flags_values.sensor_depth)
    except (SyntheticFormatError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(summary.format())
    return 0 if summary.ok else 1


if __name__ == "__main__":
    FLAGS = _define_flags()
    cli.run(main)
