"""WMCA reader (Idiap; "Biometric Face Presentation Attack Detection with Multi-Channel Convolutional Neural
Network", George et al. 2019): RGB frames and their sensor depth (Intel RealSense SR300), one job per recording for
the preprocessing loop (preprocess.preprocess_videos).

Two layouts of the release are read (docs/data.md, "WMCA", says which parts are taken from public sources and which
are assumptions):

- face-cropped (preprocessed) release, depth units `uint8`: `<root>/WMCA_preprocessed_RGB/<...>/<name>.hdf5` holds
  groups `Frame_<k>` with an `array` (3, H, W) uint8 RGB, and `<root>/WMCA_preprocessed_CDIT/<same path>` holds
  `Frame_<k>/array` (4, H, W) uint8: grey, depth, infrared, thermal. Depth is channel 1.
- raw recordings, depth units `mm`: `<root>/<...>/<name>.hdf5` with a `color` stream ((3, H, W) or (H, W, 3) uint8
  RGB frames) and a `depth` stream ((h, w) uint16 mm frames, 0 = no measurement), each one dataset (F, ...) or a group
  of one dataset (or `<frame>/array`) per frame, anywhere in the file. A depth stream of another size than the
  colour frames is registered to them with the SR300 calibration (`register_depth`, a calibration JSON file).

Recording names, labels and the attack categories are those of `datasets.parse_video_name("wmca", ...)`; makeup and
wig recordings are in no WMCA protocol (datasets.WMCA_EXCLUDED) and are not prepared. h5py is an optional dependency
(`pip install -e '.[wmca]'`), imported when a recording is read.
"""
import collections
import dataclasses
import os

import numpy as np

from physstd import files
from physstd.data import datasets
from physstd.data.preprocess import InputError, add_unique_job, prepare_video, relative_posix

PREPROCESSED_RGB = "WMCA_preprocessed_RGB"
PREPROCESSED_CDIT = "WMCA_preprocessed_CDIT"
CDIT_DEPTH_CHANNEL = 1   # grey, depth, infrared, thermal
COLOR_STREAM, DEPTH_STREAM = "color", "depth"
MAX_FOOTPRINT = 16   # colour pixels one registered depth pixel covers at most, per axis

Layout = collections.namedtuple("Layout", "kind rgb_root depth_root depth_units")


def release_layout(input_dir):
    """The layout of a WMCA copy: 'preprocessed' when `input_dir` holds WMCA_preprocessed_RGB/ and
    WMCA_preprocessed_CDIT/ (depth units uint8), else 'raw' (recordings with color and depth streams, units mm)."""
    if not os.path.isdir(input_dir):
        raise InputError(f"{input_dir}: input folder does not exist")
    rgb, cdit = os.path.join(input_dir, PREPROCESSED_RGB), os.path.join(input_dir, PREPROCESSED_CDIT)
    if os.path.isdir(rgb) != os.path.isdir(cdit):
        have, lack = (rgb, cdit) if os.path.isdir(rgb) else (cdit, rgb)
        raise InputError(f"{have}: the face-cropped WMCA release comes in two folders; {lack} is missing (its depth "
                         f"is channel {CDIT_DEPTH_CHANNEL} of the CDIT files)")
    if os.path.isdir(rgb):
        return Layout("preprocessed", rgb, cdit, "uint8")
    return Layout("raw", input_dir, input_dir, "mm")


def _h5py():
    try:
        import h5py
    except ImportError:
        raise InputError("reading WMCA needs h5py: pip install -e '.[wmca]'") from None
    return h5py


def _open(path):
    try:
        return _h5py().File(path, "r")
    except OSError as error:
        raise InputError(f"{path}: not a readable HDF5 file ({error})") from None


def _frame_keys(group, path):
    """Names of the per-frame members of an HDF5 group in natural order."""
    keys = sorted(group.keys(), key=files.natural_key)
    if not keys:
        raise InputError(f"{path}: {group.name} holds no frames")
    return keys


def _member_array(member):
    """A frame: a dataset, or a group holding an `array` dataset (the layout bob writes)."""
    if hasattr(member, "keys"):
        member = member["array"] if "array" in member else None
    return None if member is None else np.asarray(member)


def _find_stream(h5file, name, path):
    """The group or dataset called `name` nearest the file's root; one line naming both when two are as near."""
    found = []
    h5file.visit(lambda key: found.append(key) if key.split("/")[-1] == name else None)
    if not found:
        raise InputError(f"{path}: no {name!r} stream (expected a dataset or group named {name!r})")
    depth = min(key.count("/") for key in found)
    nearest = sorted(key for key in found if key.count("/") == depth)
    if len(nearest) > 1:
        raise InputError(f"{path}: {len(nearest)} streams named {name!r} ({', '.join(nearest[:2])}); expected one")
    return h5file[nearest[0]]


class _Stream:
    """The frames of one stream: one (F, ...) dataset or a group of per-frame members."""

    def __init__(self, node, path):
        self.node, self.path = node, path
        self.keys = None if not hasattr(node, "keys") else _frame_keys(node, path)

    def __len__(self):
        return len(self.keys) if self.keys is not None else int(self.node.shape[0])

    def __getitem__(self, k):
        frame = _member_array(self.node[self.keys[k]]) if self.keys is not None else np.asarray(self.node[k])
        if frame is None:
            raise InputError(f"{self.path}: {self.node.name}/{self.keys[k]} holds no `array` dataset")
        return frame


def _rgb(frame, where):
    """An (H, W, 3) uint8 RGB frame from (3, H, W) planes (bob's layout) or (H, W, 3)."""
    frame = np.asarray(frame)
    if frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[0] == 3 and frame.shape[2] != 3:
        frame = frame.transpose(1, 2, 0)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise InputError(f"{where}: expected an RGB frame, (3, H, W) or (H, W, 3) uint8, got {frame.shape} "
                         f"{frame.dtype}")
    return np.ascontiguousarray(frame)


def _checked_depth(depth, dtype, where):
    depth = np.asarray(depth)
    if depth.ndim != 2 or depth.dtype != dtype:
        raise InputError(f"{where}: expected a 2-D {np.dtype(dtype).name} depth frame, got {depth.shape} "
                         f"{depth.dtype}")
    return depth


# --- registering raw depth to the colour frames ------------------------------------------------------------------
def read_calibration(path):
    """The SR300 calibration JSON of raw WMCA recordings (docs/data.md gives the schema):
    {"depth_intrinsics": {"fx", "fy", "cx", "cy"}, "color_intrinsics": {...}, "rotation": 3x3,
    "translation_mm": [3]}, the map from depth-camera to colour-camera coordinates (P_color = R P_depth + t)."""
    try:
        record = files.read_json(path, "WMCA depth-to-colour calibration")
    except ValueError as error:
        raise InputError(str(error)) from None
    try:
        intrinsics = {key: {name: float(record[key][name]) for name in ("fx", "fy", "cx", "cy")}
                      for key in ("depth_intrinsics", "color_intrinsics")}
        rotation = np.asarray(record["rotation"], np.float64)
        translation = np.asarray(record["translation_mm"], np.float64)
    except (KeyError, TypeError, ValueError) as error:
        raise InputError(f"{path}: expected depth_intrinsics and color_intrinsics {{fx, fy, cx, cy}}, rotation "
                         f"(3x3) and translation_mm (3) ({type(error).__name__}: {error})") from None
    if rotation.shape != (3, 3) or translation.shape != (3,) or not np.all(np.isfinite(rotation)) \
            or not np.all(np.isfinite(translation)):
        raise InputError(f"{path}: rotation must be a finite 3x3 matrix and translation_mm 3 finite numbers")
    return dict(intrinsics, rotation=rotation, translation_mm=translation)


def _covered(corner0, corner1, centre):
    """First and last colour pixel (integer centres) inside [low corner, high corner); a footprint narrower than a
    pixel covers the pixel of its centre."""
    first = np.ceil(np.minimum(corner0, corner1))
    last = np.ceil(np.maximum(corner0, corner1)) - 1
    small = last < first
    first[small] = last[small] = np.round(centre[small])
    return first, last


def register_depth(depth, calibration, color_shape):
    """Depth (h, w) uint16 mm of the depth camera -> (H, W) uint16 mm on the colour camera's pixel grid.

    Each valid depth pixel is back-projected with its own Z, moved into the colour camera (R, t) and projected; it
    covers the colour pixels whose centres fall inside the projection of its pixel square (at least the pixel of
    its centre), so upsampling leaves no gaps. Where several land on one pixel the nearest wins (occlusion); pixels
    nothing lands on are 0 (holes), as are the holes of the input."""
    depth = np.asarray(depth)
    height, width = color_shape[:2]
    d, c = calibration["depth_intrinsics"], calibration["color_intrinsics"]
    rotation, translation = calibration["rotation"], calibration["translation_mm"]
    rows, cols = np.nonzero(depth > 0)
    z = depth[rows, cols].astype(np.float64)

    def project(du, dv):
        points = np.stack([(cols + du - d["cx"]) / d["fx"] * z, (rows + dv - d["cy"]) / d["fy"] * z, z])
        moved = rotation @ points + translation[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            return c["fx"] * moved[0] / moved[2] + c["cx"], c["fy"] * moved[1] / moved[2] + c["cy"], moved[2]

    centre_x, centre_y, centre_z = project(0.0, 0.0)
    corner_x0, corner_y0, _ = project(-0.5, -0.5)
    corner_x1, corner_y1, _ = project(0.5, 0.5)
    keep = (centre_z > 0) & np.all(np.isfinite([centre_x, centre_y, corner_x0, corner_y0, corner_x1, corner_y1]), 0)
    first_x, last_x = _covered(corner_x0[keep], corner_x1[keep], centre_x[keep])
    first_y, last_y = _covered(corner_y0[keep], corner_y1[keep], centre_y[keep])
    z = centre_z[keep]
    nearest = np.full(height * width, np.inf)
    # A pixel seen at a grazing angle would cover a long strip; it is cut at MAX_FOOTPRINT colour pixels.
    last_x, last_y = np.minimum(last_x, first_x + MAX_FOOTPRINT - 1), np.minimum(last_y, first_y + MAX_FOOTPRINT - 1)
    span_x, span_y = int(np.max(last_x - first_x, initial=0)) + 1, int(np.max(last_y - first_y, initial=0)) + 1
    for dy in range(span_y):
        for dx in range(span_x):
            x, y = first_x + dx, first_y + dy
            inside = (x <= last_x) & (y <= last_y) & (x >= 0) & (y >= 0) & (x < width) & (y < height)
            np.minimum.at(nearest, (y[inside] * width + x[inside]).astype(np.int64), z[inside])
    nearest[~np.isfinite(nearest)] = 0
    return np.clip(np.round(nearest), 0, np.iinfo(np.uint16).max).astype(np.uint16).reshape(height, width)


# --- jobs ---------------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class WmcaJob:
    """One WMCA recording for the preprocessing loop: `source` the RGB (or raw) HDF5 file, `depth_source` the file
    holding its depth (the CDIT twin; the same file for raw recordings); faces are detected on the RGB frames."""

    source: str
    depth_source: str
    record: dict
    layout: str
    calibration: dict = None
    p0_region: str = None
    landmark_files = False   # not a field: the faces are detected

    def frames(self, every_k=1, max_frames=None):
        """Yield (frame_number, rgb (H, W, 3) uint8, None, sensor depth (H, W): uint8 or uint16 mm)."""
        with _open(self.source) as rgb_file, _open(self.depth_source) as depth_file:
            if self.layout == "preprocessed":
                colour = _Stream(rgb_file, self.source)
                depth = _Stream(depth_file, self.depth_source)
                if colour.keys != depth.keys:
                    missing = sorted(set(colour.keys) ^ set(depth.keys), key=files.natural_key)[0]
                    raise InputError(f"{self.source} and {self.depth_source}: the RGB and CDIT files hold different "
                                     f"frames (e.g. {missing}); expected the same Frame_<k> in both")
            else:
                colour = _Stream(_find_stream(rgb_file, COLOR_STREAM, self.source), self.source)
                depth = _Stream(_find_stream(depth_file, DEPTH_STREAM, self.depth_source), self.depth_source)
                if len(colour) != len(depth):
                    raise InputError(f"{self.source}: {len(colour)} colour frames but {len(depth)} depth frames; "
                                     f"expected one depth frame per colour frame")
            for number in range(0, len(colour), every_k)[:max_frames]:
                rgb = _rgb(colour[number], f"{self.source} frame {number}")
                yield number, rgb, None, self._depth(depth[number], rgb.shape[:2], number)

    def _depth(self, frame, shape, number):
        """The sensor depth of one frame on the RGB frame's pixel grid."""
        where = f"{self.depth_source} frame {number}"
        if self.layout == "preprocessed":
            frame = np.asarray(frame)
            if frame.ndim != 3 or frame.shape[0] <= CDIT_DEPTH_CHANNEL:
                raise InputError(f"{where}: expected CDIT planes (4, H, W) uint8, got {frame.shape} {frame.dtype}")
            frame = _checked_depth(frame[CDIT_DEPTH_CHANNEL], np.uint8, where)
            if frame.shape != shape:
                raise InputError(f"{where}: depth {frame.shape} and RGB {shape} crops differ in size; the face-cropped "
                                 f"release crops both alike")
            return frame
        frame = _checked_depth(frame, np.uint16, where)
        if self.calibration is not None:
            return register_depth(frame, self.calibration, shape)
        if frame.shape != shape:
            raise InputError(f"{where}: depth {frame.shape} differs from the colour frames {shape}; register it with "
                             f"the SR300 calibration (run_preprocess.py --wmca_calibration=<file.json>)")
        return frame

    def prepare(self, writer, preprocessor, every_k=1, max_frames=None):
        return prepare_video(self, writer, preprocessor, every_k, max_frames)


def wmca_jobs(input_dir, calibration_file=None):
    """(jobs, failures) for every recording of a WMCA copy (release_layout), in path order. A name that does not
    parse is a failure; makeup and wig recordings are left out (in no protocol)."""
    layout = release_layout(input_dir)
    if calibration_file and layout.kind != "raw":
        raise InputError(f"{calibration_file}: a depth calibration is for raw recordings; the face-cropped release "
                         f"under {input_dir} is registered already")
    calibration = read_calibration(calibration_file) if calibration_file else None
    jobs, failures, seen = [], [], {}
    for directory, subdirs, names in os.walk(layout.rgb_root):
        subdirs.sort()
        for name in sorted(names):
            if os.path.splitext(name)[1].lower() not in datasets.WMCA_EXTENSIONS:
                continue
            source = os.path.join(directory, name)
            relative = relative_posix(source, layout.rgb_root)
            try:
                _, (_, _, _, type_id, pai_id) = datasets.wmca_name(relative)
                if datasets.WMCA_PAI.get((type_id, pai_id), ("",))[0] in datasets.WMCA_EXCLUDED:
                    continue
                record = datasets.parse_video_name("wmca", relative)
            except ValueError as error:
                failures.append((source, f"{source}: {error}"))
                continue
            depth_source = os.path.join(layout.depth_root, relative)
            if not os.path.isfile(depth_source):
                failures.append((source, f"{source}: no depth twin {depth_source} (the CDIT file of the recording)"))
                continue
            record = dict(record, path=os.path.splitext(relative)[0], source_path=relative)
            add_unique_job(jobs, failures, seen, WmcaJob(source, depth_source, record, layout.kind, calibration))
    if not jobs and not failures:
        failures.append((input_dir, f"{input_dir}: no WMCA recordings ({datasets.WMCA_PATTERN})"))
    return jobs, failures
