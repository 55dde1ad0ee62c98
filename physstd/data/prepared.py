"""The prepared-dataset layout on disk (docs/data.md, "Preparing a dataset"): a writer and a reader.

    <root>/meta.json      {"format_version": 2, "dataset", "image_size": N, "depth_size": K, "num_landmarks": Q}
                          + "modalities": ["rgb", "sensor_depth"], "depth_units": "mm" | "uint8" (RGB-D sets)
    <root>/index.csv      one row per finished video: video_id,path,label,spoof_type,subject,num_frames,...
    <root>/<path>/frames/000000.png ...   N x N RGB crops (k-th kept frame)
    <root>/<path>/sensor_depth/000000.png ...   RGB-D sets: N x N sensor depth crops (uint16 mm or uint8, 0 = hole)
    <root>/<path>/arrays.npz              landmarks (F,Q,2) f32, depth (F,K,K) f32 (M0: 0 for spoof),
                                          face_depth (F,K,K) f32 (the fitted face, every frame),
                                          p0 (F,N,N) uint8, frame_numbers (F,) int32
    <root>/<path>/truth.npz               optional (synthetic set): trace, mask, content, live; RGB-D sets also
                                          sensor_depth_trace, sensor_depth_measured

A set without "modalities" in meta.json (every set written before RGB-D data, and every RGB-only set) has the
modalities ["rgb"].

Format versions: 2 added `face_depth`, the fitted face depth of spoof frames too (De-Spoof asks the
reconstructed live face of a spoof to have a face's shape, De-Spoof paper, Sec. 3.3). Version 1 data is still read:
its live frames' M0 is their face depth, and a spoof frame's is fitted again from its stored landmarks with
`geometry.face_depth`, the function the preprocessing used (a few ms per frame, once per cached video; equal
to what version 2 stores up to the float32 rounding of the stored landmarks, below 1e-5). A writer never adds
videos to a folder of another version.

A video is built in `<root>/.partial/<random>/`, swapped into place (files.swap_in_folder), and only then gets its
index row; index.csv itself is rewritten through a temporary file. So the index lists complete videos only,
whatever interrupts the writer, and a re-run skips the videos already listed (resume).
"""
import csv
import io
import json
import os
import re
import shutil
import uuid

import cv2
import numpy as np

from physstd import files
from physstd.config import DEPTH_DTYPES, ImageSizes
from physstd.data import face_model, geometry, spoof_types
from physstd.data.sensor_depth import UNITS as DEPTH_UNITS, DepthFormatError, read_depth_png, write_depth_png

FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
META_FILE = "meta.json"
INDEX_FILE = "index.csv"
ARRAYS_FILE = "arrays.npz"
TRUTH_FILE = "truth.npz"
FRAMES_DIR = "frames"
SENSOR_DEPTH_DIR = "sensor_depth"
RGB_MODALITIES = ("rgb",)
RGBD_MODALITIES = ("rgb", "sensor_depth")
PARTIAL_DIR = ".partial"
# How to get a dataset of this version, for the messages that refuse another one.
PREPARE_AGAIN = (f"prepare it again (run_preprocess.py, or python -m physstd.data.synthetic) into a new output "
                 f"folder to get format_version {FORMAT_VERSION}")
RESERVED_NAMES = (META_FILE, INDEX_FILE, PARTIAL_DIR, "protocols")
INDEX_COLUMNS = ("video_id", "path", "label", "spoof_type", "subject", "num_frames")
ARRAY_KEYS = ("landmarks", "depth", "face_depth", "p0", "frame_numbers")
# Per-frame trailing shape of each truth.npz array after (F, N, N). The sensor depth truth: the trace in mm (the
# spoof's depth minus its live twin's where both are measured, else 0) and where both are measured (1, else 0).
TRUTH_CHANNELS = {"trace": (3,), "mask": (), "content": (3,), "live": (3,), "sensor_depth_trace": (),
                  "sensor_depth_measured": ()}


class PreparedFormatError(ValueError):
    """A prepared dataset file is missing or does not match the layout; the message names the file."""


def check_output_root(root, input_dir=None, own_entries=()):
    """`root` if a DatasetWriter may write there (its docstring), else ValueError naming the folder."""
    root = files.check_output_dir(root)
    if input_dir:
        files.check_apart(root, input_dir)
    if os.path.isdir(root) and not os.path.exists(os.path.join(root, META_FILE)):
        foreign = sorted(set(os.listdir(root)) - set(own_entries))
        if foreign:
            raise PreparedFormatError(
                f"{root}: not empty ({', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}) and not a prepared "
                f"dataset (no {META_FILE}); a prepared dataset is written into a new or empty folder, or resumed in "
                f"its own")
    return root


def frame_filename(k):
    """File name of the k-th kept frame of a video."""
    return f"{k:06d}.png"


def read_meta(root):
    """meta.json of a prepared dataset, validated."""
    path = os.path.join(root, META_FILE)
    if not os.path.isfile(path):
        raise PreparedFormatError(f"{path}: missing; is {root!r} a prepared dataset (run_preprocess.py output)?")
    try:
        meta = files.read_json(path, "prepared dataset meta")
    except (OSError, ValueError) as error:
        raise PreparedFormatError(str(error) if str(error).startswith(path) else f"{path}: not readable JSON "
                                  f"({error})") from None
    expected = {"format_version": int, "dataset": str, "image_size": int, "depth_size": int, "num_landmarks": int}
    # bool is a subclass of int: `"image_size": true` would read as image size 1.
    if not isinstance(meta, dict) or any(not isinstance(meta.get(k), t) or isinstance(meta.get(k), bool)
                                         for k, t in expected.items()):
        raise PreparedFormatError(f"{path}: expected an object with {', '.join(f'{k} ({t.__name__})' for k, t in expected.items())}, "
                                  f"got {meta!r}")
    sizes = {k: meta[k] for k in ("image_size", "depth_size", "num_landmarks")}
    if any(value < 1 for value in sizes.values()):
        raise PreparedFormatError(f"{path}: image_size, depth_size and num_landmarks must be positive, got {sizes}")
    if meta["format_version"] not in READABLE_VERSIONS:
        raise PreparedFormatError(f"{path}: format_version {meta['format_version']} is not supported "
                                  f"(this code reads versions {', '.join(map(str, READABLE_VERSIONS))})")
    found = {key: meta[key] for key in ("modalities", "depth_units") if key in meta}
    if found and found != {"modalities": list(RGB_MODALITIES)} and (
            found.get("modalities") != list(RGBD_MODALITIES) or found.get("depth_units") not in DEPTH_UNITS):
        raise PreparedFormatError(f"{path}: expected no \"modalities\" (an RGB set), \"modalities\": "
                                  f"{json.dumps(list(RGB_MODALITIES))}, or \"modalities\": "
                                  f"{json.dumps(list(RGBD_MODALITIES))} with \"depth_units\" one of "
                                  f"{', '.join(DEPTH_UNITS)}; got {json.dumps(found)}")
    return meta


def modalities(meta):
    """The input modalities of a prepared set from its meta.json: ('rgb',) or ('rgb', 'sensor_depth')."""
    return tuple(meta.get("modalities", RGB_MODALITIES))


def read_index(root):
    """(rows, columns) of index.csv; label and num_frames as int, the other fields as strings."""
    path = os.path.join(root, INDEX_FILE)
    if not os.path.isfile(path):
        raise PreparedFormatError(f"{path}: missing")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as error:
        raise PreparedFormatError(f"{path}: not a readable UTF-8 CSV file ({error})") from None
    try:
        return _parse_index(path, text)
    except csv.Error as error:
        raise PreparedFormatError(f"{path}: not a valid CSV file ({error})") from None


def _parse_index(path, text):
    """Rows and columns of the index.csv text `text` read from `path` (see read_index)."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = list(reader.fieldnames or [])
    missing = [c for c in INDEX_COLUMNS if c not in columns]
    if missing:
        raise PreparedFormatError(f"{path}: header lacks column(s) {', '.join(missing)}; "
                                  f"expected {','.join(INDEX_COLUMNS)},...")
    rows, seen, folders = [], set(), {}
    for line, row in enumerate(reader, start=2):
        if None in row or any(v is None for v in row.values()):
            raise PreparedFormatError(f"{path} line {line}: expected {len(columns)} fields")
        try:
            row["label"], row["num_frames"] = int(row["label"]), int(row["num_frames"])
        except ValueError:
            raise PreparedFormatError(f"{path} line {line}: label and num_frames must be integers, "
                                      f"got {row['label']!r}, {row['num_frames']!r}") from None
        if row["label"] not in (0, 1) or row["spoof_type"] not in spoof_types.NAMES:
            raise PreparedFormatError(f"{path} line {line}: expected label 0/1 and a spoof type in "
                                      f"{', '.join(spoof_types.NAMES)}, got {row['label']}, {row['spoof_type']!r}")
        if row["num_frames"] < 1:
            raise PreparedFormatError(f"{path} line {line}: num_frames must be >= 1, got {row['num_frames']}")
        try:
            row["path"] = _video_path(row["path"], f"{path} line {line}")
        except ValueError as error:   # a path climbing out of the root is never followed
            raise PreparedFormatError(str(error)) from None
        if row["video_id"] in seen:
            raise PreparedFormatError(f"{path} line {line}: video_id {row['video_id']!r} listed twice")
        if row["path"] in folders:   # one folder read as two videos (of two subsets, say)
            raise PreparedFormatError(f"{path} line {line}: video {row['video_id']!r} has the folder "
                                      f"{row['path']!r} of video {folders[row['path']]!r}; each video has its own")
        if (row["label"] == 0) != (row["spoof_type"] == "live"):
            raise PreparedFormatError(f"{path} line {line}: video {row['video_id']!r} has label {row['label']} and "
                                      f"spoof type {row['spoof_type']!r}; live is label 0, every spoof type label 1")
        seen.add(row["video_id"])
        folders[row["path"]] = row["video_id"]
        rows.append(row)
    return rows, columns


def _check_record(record):
    """The index fields a caller supplies (everything but num_frames), validated."""
    missing = [k for k in INDEX_COLUMNS[:-1] if k not in record]
    if missing:
        raise ValueError(f"video record {record!r} lacks {', '.join(missing)}")
    label, spoof_type = record["label"], record["spoof_type"]
    if label not in (0, 1) or spoof_type not in spoof_types.NAMES or (label == 0) != (spoof_type == "live"):
        raise ValueError(f"video {record['video_id']!r}: label {label!r} and spoof_type {spoof_type!r} disagree "
                         f"(live is label 0; spoof types: {', '.join(spoof_types.NAMES[1:])})")
    return dict(record, path=_video_path(record["path"], f"video {record['video_id']!r}"), label=int(label))


def _video_path(path, where):
    """`path` (a video folder relative to the dataset root, '/'-separated) checked to stay inside the root."""
    path = str(path).replace("\\", "/")
    parts = path.split("/")
    if (not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts)
            or parts[0] in RESERVED_NAMES or re.match(r"^[A-Za-z]:", path)):
        raise ValueError(f"{where}: path {path!r} must be relative, without '..', and not start with "
                         f"{', '.join(RESERVED_NAMES)}")
    return path


class DatasetWriter:
    """Writes a prepared dataset under `root`, one complete video at a time; resumes an existing one.

    `write_video(record, frames, p0_region)` or, streaming frames, `with writer.open_video(...) as video:
    video.add(frame)`. A frame is anything with `crop` (N,N,3) uint8 RGB, `landmarks` (Q,2), `depth` (K,K)
    (the fitted face depth; the writer stores zeros for spoof videos, PhySTD paper, Sec. 3.6) and
    `frame_number`; it is stored as `face_depth` for every frame. One writer process per root: a new writer
    deletes leftovers of interrupted ones.

    depth_units None writes an RGB set (meta.json as before RGB-D data existed); 'mm' or 'uint8' an RGB-D set,
    whose every frame comes with its sensor depth crop (`video.add(frame, sensor_depth=...)`, (N, N) uint16 for
    mm, uint8 for uint8; physstd.data.sensor_depth).

    The root must be new, empty or a prepared dataset (meta.json), and apart from `input_dir` (the raw data it
    is made from): a writer replaces video folders and removes `.partial/`, which must never hit someone's files.
    `own_entries`: names the caller itself put in a new root (the synthetic generator's `raw/`)."""

    def __init__(self, root, dataset, image_size, depth_size=None, num_landmarks=face_model.NUM_LANDMARKS,
                 input_dir=None, own_entries=(), depth_units=None):
        depth_size = ImageSizes(image_size).depth_size if depth_size is None else int(depth_size)
        if depth_units is not None and depth_units not in DEPTH_UNITS:
            raise ValueError(f"depth_units must be None (an RGB set) or one of {', '.join(DEPTH_UNITS)}, "
                             f"got {depth_units!r}")
        self.root = check_output_root(root, input_dir, own_entries)
        self.meta = {"format_version": FORMAT_VERSION, "dataset": dataset, "image_size": int(image_size),
                     "depth_size": depth_size, "num_landmarks": int(num_landmarks)}
        if depth_units is not None:
            self.meta.update(modalities=list(RGBD_MODALITIES), depth_units=depth_units)
        os.makedirs(root, exist_ok=True)
        if os.path.exists(os.path.join(root, META_FILE)):
            existing = read_meta(root)
            if existing["format_version"] != FORMAT_VERSION:
                raise PreparedFormatError(f"{os.path.join(root, META_FILE)}: the existing dataset has format_version "
                                          f"{existing['format_version']}, this run writes {FORMAT_VERSION}; use a new "
                                          f"output folder")
            if existing != self.meta:
                raise PreparedFormatError(f"{os.path.join(root, META_FILE)}: the existing dataset has {existing}, "
                                          f"this run writes {self.meta}; use another output folder")
        else:
            files.write_text_atomic(os.path.join(root, META_FILE), json.dumps(self.meta, indent=1) + "\n")
        if os.path.exists(os.path.join(root, INDEX_FILE)):
            self._rows, self._columns = read_index(root)
        else:
            self._rows, self._columns = [], list(INDEX_COLUMNS)
        self._done = {row["video_id"] for row in self._rows}
        shutil.rmtree(os.path.join(root, PARTIAL_DIR), ignore_errors=True)

    @property
    def image_size(self):
        return self.meta["image_size"]

    @property
    def depth_size(self):
        return self.meta["depth_size"]

    @property
    def depth_units(self):
        """'mm' or 'uint8' for an RGB-D set, None for an RGB set."""
        return self.meta.get("depth_units")

    @property
    def rows(self):
        """Index rows written so far (including those of earlier runs)."""
        return list(self._rows)

    def is_done(self, video_id):
        """True when the video is already in the index (complete on disk)."""
        return video_id in self._done

    def open_video(self, record, p0_region=None, register=True):
        """A `VideoWriter` context; p0_region defaults to the spoof type's (spoof_types.SPOOF_TYPES)."""
        return VideoWriter(self, record, p0_region, register)

    def write_video(self, record, frames, p0_region=None, extra_truth=None, register=True, sensor_depth=None):
        """Write one video from a list of frames; returns its index row. extra_truth: dict of (F, ...) arrays
        saved as truth.npz (TRUTH_CHANNELS: trace (F,N,N,3), mask (F,N,N), ...). sensor_depth: the frames'
        sensor depth crops, one per frame (an RGB-D writer), or None."""
        with self.open_video(record, p0_region, register) as video:
            for k, frame in enumerate(frames):
                depth = sensor_depth[k] if sensor_depth is not None and k < len(sensor_depth) else None
                video.add(frame, sensor_depth=depth)
            if sensor_depth is not None and len(sensor_depth) != video.num_frames:
                raise ValueError(f"video {video.record['video_id']!r}: {video.num_frames} frames but "
                                 f"{len(sensor_depth)} sensor depth frames")
            video.truth = extra_truth
        return video.row

    def register(self, row):
        """Append a finished video's row to index.csv (rewritten atomically)."""
        if row["video_id"] in self._done:
            raise ValueError(f"video_id {row['video_id']!r} is already in {os.path.join(self.root, INDEX_FILE)}")
        for key in row:
            if key not in self._columns:
                self._columns.append(key)
        rows = self._rows + [row]
        files.write_text_atomic(os.path.join(self.root, INDEX_FILE), files.csv_text(rows, self._columns))
        self._rows = rows
        self._done.add(row["video_id"])


class VideoWriter:
    """Context manager building one video in a private folder; on a clean exit the folder is moved into
    place and (with register) indexed; on an exception it is deleted and nothing becomes visible."""

    def __init__(self, writer, record, p0_region, register):
        self.record = _check_record(record)
        if writer.is_done(self.record["video_id"]):
            raise ValueError(f"video {self.record['video_id']!r} is already written under {writer.root}")
        self.p0_region = (spoof_types.p0_region(self.record["spoof_type"], self.record.get("attack"))
                          if p0_region is None else p0_region)
        if self.p0_region not in geometry.P0_REGIONS:
            raise ValueError(f"unknown P0 region {self.p0_region!r}; expected one of {', '.join(geometry.P0_REGIONS)}")
        self.writer, self.register, self.truth, self.row = writer, register, None, None
        self._landmarks, self._depth, self._frame_numbers = [], [], []
        self._temp = None

    @property
    def num_frames(self):
        return len(self._landmarks)

    def __enter__(self):
        partial = os.path.join(self.writer.root, PARTIAL_DIR)
        self._temp = os.path.join(partial, f"{os.getpid()}-{uuid.uuid4().hex}")
        for attempt in range(10):
            try:
                os.makedirs(os.path.join(self._temp, FRAMES_DIR))
                break
            except FileNotFoundError:   # another worker removed the empty .partial/ between our two mkdirs
                if attempt == 9:
                    raise
        if self.writer.depth_units is not None:
            os.mkdir(os.path.join(self._temp, SENSOR_DEPTH_DIR))
        return self

    def add(self, frame, sensor_depth=None):
        """Write one frame's crop (and, in an RGB-D set, its sensor depth crop) now; keep its landmarks, depth and
        frame number for arrays.npz."""
        self._check_sensor_depth(sensor_depth)
        size, depth_size, count = self.writer.image_size, self.writer.depth_size, self.writer.meta["num_landmarks"]
        crop, landmarks, depth = np.asarray(frame.crop), np.asarray(frame.landmarks), np.asarray(frame.depth)
        if crop.shape != (size, size, 3) or crop.dtype != np.uint8:
            raise ValueError(f"video {self.record['video_id']!r}: crop must be ({size}, {size}, 3) uint8, "
                             f"got {crop.shape} {crop.dtype}")
        if landmarks.shape != (count, 2) or depth.shape != (depth_size, depth_size):
            raise ValueError(f"video {self.record['video_id']!r}: expected landmarks ({count}, 2) and depth "
                             f"({depth_size}, {depth_size}), got {landmarks.shape} and {depth.shape}")
        path = os.path.join(self._temp, FRAMES_DIR, frame_filename(self.num_frames))
        if not cv2.imwrite(path, cv2.cvtColor(crop, cv2.COLOR_RGB2BGR)):
            raise OSError(f"{path}: could not write the PNG")
        if sensor_depth is not None:
            write_depth_png(os.path.join(self._temp, SENSOR_DEPTH_DIR, frame_filename(self.num_frames)),
                            sensor_depth)
        self._landmarks.append(landmarks.astype(np.float32))
        self._depth.append(depth.astype(np.float32))
        self._frame_numbers.append(int(frame.frame_number))

    def _check_sensor_depth(self, sensor_depth):
        """A sensor depth crop in an RGB-D set, of the set's dtype and N x N; none in an RGB set."""
        units, size, video_id = self.writer.depth_units, self.writer.image_size, self.record["video_id"]
        if units is None:
            if sensor_depth is not None:
                raise ValueError(f"video {video_id!r}: a sensor depth frame given to an RGB set's writer; write "
                                 f"RGB-D data with DatasetWriter(..., depth_units='mm' or 'uint8')")
            return
        dtype = np.dtype(DEPTH_DTYPES[units])
        if sensor_depth is None or np.shape(sensor_depth) != (size, size) or np.asarray(sensor_depth).dtype != dtype:
            found = "none" if sensor_depth is None else f"{np.shape(sensor_depth)} {np.asarray(sensor_depth).dtype}"
            raise ValueError(f"video {video_id!r}: every frame of an RGB-D set (depth_units {units}) needs its sensor "
                             f"depth crop, ({size}, {size}) {dtype.name}; got {found}")

    def __exit__(self, exc_type, exc, traceback):
        try:
            if exc_type is None:
                self._commit()
        finally:
            if self._temp is not None and os.path.exists(self._temp):
                shutil.rmtree(self._temp, ignore_errors=True)
            try:
                os.rmdir(os.path.dirname(self._temp))   # .partial/, when no other video is in progress
            except OSError:
                pass
        return False

    def _commit(self):
        video_id, size = self.record["video_id"], self.writer.image_size
        frames = self.num_frames
        if frames == 0:
            raise ValueError(f"video {video_id!r}: no frames to write")
        landmarks = np.stack(self._landmarks)
        face_depth = np.stack(self._depth)
        # M0 = 0 for spoof (PhySTD paper, Eq. 16)
        depth = np.zeros_like(face_depth) if self.record["label"] == 1 else face_depth
        p0 = np.stack([geometry.preliminary_mask(points, self.p0_region, size) for points in landmarks])
        np.savez_compressed(os.path.join(self._temp, ARRAYS_FILE), landmarks=landmarks, depth=depth,
                            face_depth=face_depth, p0=p0, frame_numbers=np.asarray(self._frame_numbers, np.int32))
        if self.truth is not None:
            truth = {}
            for key, value in self.truth.items():
                value = np.asarray(value, dtype=np.float32)
                expected = (frames, size, size) + TRUTH_CHANNELS.get(key, value.shape[3:])
                if value.shape != expected:
                    raise ValueError(f"video {video_id!r}: truth {key!r} must be {expected}, got {value.shape}")
                truth[key] = value
            np.savez_compressed(os.path.join(self._temp, TRUTH_FILE), **truth)
        final = os.path.join(self.writer.root, self.record["path"])
        os.makedirs(os.path.dirname(final), exist_ok=True)
        # A folder already there was left by a run stopped between this move and the index row: replaced.
        files.swap_in_folder(self._temp, final, old=self._temp + ".old")
        self.row = dict(self.record, num_frames=frames)
        if self.register:
            self.writer.register(self.row)


def _check_array_values(path, arrays, size, label):
    """The values of arrays.npz within their documented ranges: landmarks finite, inside the crop give or take
    one crop width (the derived forehead points may leave it), not all equal, and in a face's layout
    (face_model.face_shape_residual); depth M0 and face_depth in [0, 1], M0 all zero for a spoof video (label 1);
    P0 0/1."""
    landmarks, depth, p0 = arrays["landmarks"], arrays["depth"], arrays["p0"]
    if not np.all(np.isfinite(landmarks)) or landmarks.size and (landmarks.min() < -size or landmarks.max() > 2 * size):
        finite = landmarks[np.isfinite(landmarks)]
        found = f"values in [{finite.min():.6g}, {finite.max():.6g}]" if finite.size else "no finite value"
        raise PreparedFormatError(f"{path}: landmarks must be finite pixel coordinates of the {size}x{size} crop "
                                  f"(within [-{size}, {2 * size}]), got {found}"
                                  f"{' and NaN/inf' if finite.size < landmarks.size else ''}")
    spread = np.ptp(landmarks, axis=1).min(axis=-1) if landmarks.size else np.ones(1)
    if np.any(spread < 1.0):
        frame = int(np.argmax(spread < 1.0))
        raise PreparedFormatError(f"{path}: the landmarks of frame {frame} span less than one pixel; expected a "
                                  f"face's landmarks")
    if landmarks.shape[-2] in (face_model.NUM_DETECTED, face_model.NUM_LANDMARKS):
        residual = face_model.face_shape_residual(landmarks)
        if np.any(residual > face_model.MAX_FACE_SHAPE_RESIDUAL):
            frame = int(np.argmax(residual))
            raise PreparedFormatError(f"{path}: the landmarks of frame {frame} are not in a face's layout (residual "
                                      f"{residual[frame]:.2f} from an affine image of the mean face; a face, in "
                                      f"any pose, is below {face_model.MAX_FACE_SHAPE_RESIDUAL}): expected the "
                                      f"68 (+72 derived) landmarks in their order")
    for key, name in (("depth", "depth (M0)"), ("face_depth", "face_depth")):
        value = arrays.get(key, np.zeros(0))
        if not np.all(np.isfinite(value)) or value.size and (value.min() < 0.0 or value.max() > 1.0):
            finite = value[np.isfinite(value)]
            found = f"values in [{finite.min():.6g}, {finite.max():.6g}]" if finite.size else "no finite value"
            raise PreparedFormatError(f"{path}: {name} must lie in [0, 1], got {found}"
                                      f"{' and NaN/inf' if finite.size < value.size else ''}")
    if label == 1 and np.any(arrays["depth"]):
        frame = int(np.argmax(np.any(arrays["depth"].reshape(len(arrays["depth"]), -1), axis=1)))
        raise PreparedFormatError(f"{path}: depth (M0) of frame {frame} is not zero, but the index labels the video "
                                  f"a spoof (label 1); a spoof's depth target M0 is 0 (its face depth is "
                                  f"face_depth)")
    if p0.size and p0.max() > 1:
        raise PreparedFormatError(f"{path}: p0 must be 0/1, got values up to {p0.max()}")


class PreparedDataset:
    """Reader of a prepared dataset: `.meta`, `.index` (rows as dicts), `load_video`, `load_frames`, and in an
    RGB-D set `load_sensor_depth` / `sensor_depth_path`."""

    def __init__(self, root):
        self.root = root
        self.meta = read_meta(root)
        self.index, self.columns = read_index(root)
        self._by_id = {row["video_id"]: row for row in self.index}
        self._video_dirs = {}

    @property
    def image_size(self):
        return self.meta["image_size"]

    @property
    def depth_size(self):
        return self.meta["depth_size"]

    @property
    def modalities(self):
        """('rgb',) or ('rgb', 'sensor_depth'); a set written before RGB-D data existed is ('rgb',)."""
        return modalities(self.meta)

    @property
    def depth_units(self):
        """'mm' (uint16 frames) or 'uint8' for an RGB-D set, None for an RGB set."""
        return self.meta.get("depth_units")

    @property
    def video_ids(self):
        return [row["video_id"] for row in self.index]

    def row(self, video_id):
        try:
            return self._by_id[video_id]
        except KeyError:
            raise KeyError(f"video {video_id!r} is not in {os.path.join(self.root, INDEX_FILE)}") from None

    def video_dir(self, video_id):
        """The folder of a video; one that resolves (through a symlink) outside the dataset root is refused."""
        path = self._video_dirs.get(video_id)
        if path is None:
            path = os.path.join(self.root, self.row(video_id)["path"])
            real_root = os.path.realpath(self.root)
            if os.path.commonpath([real_root, os.path.realpath(path)]) != real_root:
                raise PreparedFormatError(f"{path}: the folder of video {video_id!r} leads outside the dataset root "
                                          f"{self.root} (to {os.path.realpath(path)}); a prepared set holds its "
                                          f"videos")
            self._video_dirs[video_id] = path
        return path

    def _load_npz(self, path, expected):
        if not os.path.isfile(path):
            raise PreparedFormatError(f"{path}: missing")
        try:
            arrays = files.load_npz(path)
        except Exception as error:  # noqa: BLE001 - a damaged zip fails in many ways (BadZipFile, EOFError, zlib)
            raise PreparedFormatError(f"{path}: not a readable .npz ({type(error).__name__}: {error})") from None
        for key, (shape, dtype) in expected.items():
            if key not in arrays:
                raise PreparedFormatError(f"{path}: lacks array {key!r} (has {', '.join(arrays) or 'none'})")
            if arrays[key].shape != shape or arrays[key].dtype != dtype:
                raise PreparedFormatError(f"{path}: {key} must be {shape} {np.dtype(dtype).name}, "
                                          f"got {arrays[key].shape} {arrays[key].dtype}")
        return arrays

    def load_video(self, video_id):
        """arrays.npz of a video: landmarks (F,Q,2) f32, depth (F,K,K) f32, face_depth (F,K,K) f32,
        p0 (F,N,N) uint8, frame_numbers (F,) int32, shapes checked against meta.json and index.csv
        (face_depth of version 1 data fitted on read, see the module doc)."""
        frames, size, depth = self.row(video_id)["num_frames"], self.image_size, self.depth_size
        expected = {"landmarks": ((frames, self.meta["num_landmarks"], 2), np.float32),
                    "depth": ((frames, depth, depth), np.float32),
                    "face_depth": ((frames, depth, depth), np.float32),
                    "p0": ((frames, size, size), np.uint8),
                    "frame_numbers": ((frames,), np.int32)}
        if self.meta["format_version"] == 1:
            del expected["face_depth"]
        path = os.path.join(self.video_dir(video_id), ARRAYS_FILE)
        arrays = {key: value for key, value in self._load_npz(path, expected).items() if key in expected}
        _check_array_values(path, arrays, size, self.row(video_id)["label"])
        if "face_depth" not in arrays:
            arrays["face_depth"] = self._fitted_face_depth(path, self.row(video_id)["label"], arrays)
        return {key: arrays[key] for key in ARRAY_KEYS}

    def _fitted_face_depth(self, path, label, arrays):
        """face_depth of a version 1 video: M0 for live, fitted from the stored landmarks for spoof."""
        if label == 0:
            return arrays["depth"]
        if self.meta["num_landmarks"] != face_model.NUM_LANDMARKS:
            raise PreparedFormatError(f"{path}: format_version 1 data stores no face depth for spoof frames, and "
                                      f"it can be fitted only from {face_model.NUM_LANDMARKS} landmarks (this set has "
                                      f"{self.meta['num_landmarks']}); {PREPARE_AGAIN}")
        try:
            return np.stack([geometry.face_depth(points, self.image_size, self.depth_size)
                             for points in arrays["landmarks"]])
        except (ValueError, np.linalg.LinAlgError) as error:
            raise PreparedFormatError(f"{path}: cannot fit the face depth of format_version 1 spoof frames to "
                                      f"their landmarks ({error}); {PREPARE_AGAIN}") from None

    def load_truth(self, video_id):
        """truth.npz arrays (synthetic set) as float32, or None when the video has none."""
        path = os.path.join(self.video_dir(video_id), TRUTH_FILE)
        if not os.path.exists(path):
            return None
        frames, size = self.row(video_id)["num_frames"], self.image_size
        arrays = self._load_npz(path, {})
        for key, value in arrays.items():
            expected = (frames, size, size) + TRUTH_CHANNELS.get(key, value.shape[3:])
            if value.shape != expected or value.dtype != np.float32:
                raise PreparedFormatError(f"{path}: {key} must be {expected} float32, got {value.shape} {value.dtype}")
        return arrays

    def frame_path(self, video_id, k):
        return os.path.join(self.video_dir(video_id), FRAMES_DIR, frame_filename(k))

    def load_frame(self, video_id, k):
        """The k-th kept frame, (N, N, 3) uint8 RGB."""
        path = self.frame_path(video_id, k)
        try:
            image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        except cv2.error:   # a header claiming more pixels than OpenCV decodes
            image = None
        size = self.image_size
        if image is None:
            raise PreparedFormatError(f"{path}: missing or not a readable PNG")
        if image.shape != (size, size, 3) or image.dtype != np.uint8:
            raise PreparedFormatError(f"{path}: expected a {size}x{size} 8-bit RGB PNG, got {image.shape} {image.dtype}")
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)

    def load_frames(self, video_id):
        """All kept frames of a video, (F, N, N, 3) uint8 RGB."""
        return np.stack([self.load_frame(video_id, k) for k in range(self.row(video_id)["num_frames"])])

    def sensor_depth_path(self, video_id, k):
        """The k-th kept frame's sensor depth PNG (an RGB-D set: `depth_units` is not None)."""
        return os.path.join(self.video_dir(video_id), SENSOR_DEPTH_DIR, frame_filename(k))

    def load_sensor_depth(self, video_id, k):
        """The k-th kept frame's sensor depth crop, (N, N) uint16 mm or uint8 (the set's depth_units), 0 = hole.
        PreparedFormatError naming meta.json for an RGB set, naming the PNG when it is missing or not N x N of
        that dtype."""
        units = self.depth_units
        if units is None:
            raise PreparedFormatError(f"{os.path.join(self.root, META_FILE)}: the set has no sensor depth "
                                      f"(modalities {', '.join(self.modalities)}); prepare it from RGB-D data")
        path = self.sensor_depth_path(video_id, k)
        try:
            depth = read_depth_png(path)
        except DepthFormatError as error:
            raise PreparedFormatError(str(error)) from None
        size, dtype = self.image_size, np.dtype(DEPTH_DTYPES[units])
        if depth.shape != (size, size) or depth.dtype != dtype:
            raise PreparedFormatError(f"{path}: expected a {size}x{size} {dtype.name} depth PNG "
                                      f"(depth_units {units}), got {depth.shape} {depth.dtype}")
        return depth

    def load_sensor_depths(self, video_id):
        """All kept frames' sensor depth crops of a video, (F, N, N) uint16 or uint8."""
        return np.stack([self.load_sensor_depth(video_id, k) for k in range(self.row(video_id)["num_frames"])])
