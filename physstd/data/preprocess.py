"""Face preprocessing: detect, 68 landmarks, square crop resized to N, 140 landmarks in the crop,
3D fit, depth ground truth; reading videos and image folders; the loop that turns a list of videos into a
prepared dataset (prepared.py) with a per-video progress line and a summary.

Bad input a user can cause (unreadable video, no decodable frame, no face in any frame, a non-RGB image, a
landmark file of the wrong shape) fails that one video with an `InputError` naming the file; the run goes
on and lists it in the summary.
"""
import dataclasses
import multiprocessing
import os
import sys
import time

import cv2
import numpy as np

from physstd import files
from physstd.config import ImageSizes
from physstd.data import datasets, face_model, geometry, spoof_types
from physstd.data.detect import DETECT_MAX_SIDE, LandmarkDetector, dlib_models
from physstd.data.sensor_depth import DepthFormatError, check_depth, warp_depth_to_crop

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")


class InputError(ValueError):
    """A user-supplied file cannot be used; the message names the file and what was expected."""


@dataclasses.dataclass(frozen=True)
class PreparedFrame:
    """One preprocessed frame.

    crop (N, N, 3) uint8 RGB; landmarks (140, 2) float32 (x, y) in the crop; depth (K, K) float32 in [0, 1]
    (the fitted face, also for spoof frames: the writer stores M0 = 0 for spoof videos); affine (2, 3) the
    source-image -> crop map, so any other array of the source can be cropped identically with
    `warp_to_crop(array, frame.affine, N)`; frame_number: index of the frame in its source."""

    crop: np.ndarray
    landmarks: np.ndarray
    depth: np.ndarray
    affine: np.ndarray
    frame_number: int = 0


def crop_affine(points68, image_size):
    """(2, 3) map from source pixels to the N x N crop of `face_model.crop_box` (box corners -> 0 and N-1,
    the convention of `face_model.canonical_landmarks`)."""
    x0, y0, side = face_model.crop_box(points68)
    scale = (image_size - 1) / side
    return np.array([[scale, 0.0, -scale * x0], [0.0, scale, -scale * y0]])


def transform_points(points, affine):
    """Apply a (2, 3) affine map to (Q, 2) points."""
    points = np.asarray(points, dtype=np.float64)
    return points @ np.asarray(affine)[:, :2].T + np.asarray(affine)[:, 2]


def invert_affine(affine):
    """Inverse of a (2, 3) affine map."""
    return np.linalg.inv(np.vstack([affine, [0.0, 0.0, 1.0]]))[:2]


def source_landmarks(frame):
    """A prepared frame's 68 landmarks back in source-image pixels."""
    return transform_points(frame.landmarks[:face_model.NUM_DETECTED], invert_affine(frame.affine))


def warp_to_crop(image, affine, image_size, interpolation=cv2.INTER_LINEAR):
    """cv2.warpAffine of an (H, W[, C]) array into image_size x image_size, border replicated.

    When the crop shrinks the source more than 2x, the source is first block-averaged by the integer factor
    floor(1/scale) (cv2.INTER_AREA) and the map adjusted, so fine texture (moire, print dots) is averaged,
    not aliased. Pixel positions follow `affine` exactly either way."""
    affine = np.asarray(affine, dtype=np.float64)
    scale = np.sqrt(abs(np.linalg.det(affine[:, :2])))
    height, width = image.shape[:2]
    factor = min(int(1.0 / scale), height, width) if scale < 0.5 else 1
    if factor > 1 and interpolation != cv2.INTER_NEAREST:
        small_h, small_w = height // factor, width // factor
        image = cv2.resize(image[:small_h * factor, :small_w * factor], (small_w, small_h),
                           interpolation=cv2.INTER_AREA)
        # A small pixel at x_s averages source pixels factor*x_s .. factor*x_s + factor - 1.
        from_small = np.array([[factor, 0.0, (factor - 1) / 2.0], [0.0, factor, (factor - 1) / 2.0], [0, 0, 1]])
        affine = affine @ from_small
    return cv2.warpAffine(image, affine, (image_size, image_size), flags=interpolation,
                          borderMode=cv2.BORDER_REPLICATE)


class FacePreprocessor:
    """Frame -> `PreparedFrame` at crop size N (depth size K = N/8 unless given); dlib loads on first use."""

    def __init__(self, image_size=256, depth_size=None, detect_max_side=DETECT_MAX_SIDE):
        self.image_size = int(image_size)
        self.depth_size = ImageSizes(self.image_size).depth_size if depth_size is None else int(depth_size)
        self.detector = LandmarkDetector(detect_max_side)

    def process_frame(self, rgb, frame_number=0, previous=None):
        """Detect the largest face and prepare it; None when no face is found. previous: the last frame's
        (68, 2) source landmarks (`source_landmarks`), to search near them first."""
        points = self.detector(rgb, previous)
        if points is None:
            return None
        return self.process_landmarks(rgb, points, frame_number)

    def process_landmarks(self, rgb, landmarks, frame_number=0):
        """Prepare a frame from given source-image landmarks: (68, 2) dlib order, or (140, 2) in the
        physstd layout (first 68 = dlib order; kept as given)."""
        landmarks = np.asarray(landmarks, dtype=np.float64)
        if landmarks.shape not in ((face_model.NUM_DETECTED, 2), (face_model.NUM_LANDMARKS, 2)):
            raise ValueError(f"expected (68, 2) or (140, 2) landmarks, got {landmarks.shape}")
        check_landmarks_in_image(landmarks, np.shape(rgb), "given landmarks")   # all-equal ones divide by 0
        points68 = landmarks[:face_model.NUM_DETECTED]
        affine = crop_affine(points68, self.image_size)
        crop = warp_to_crop(np.ascontiguousarray(rgb), affine, self.image_size)
        if len(landmarks) == face_model.NUM_DETECTED:
            landmarks = face_model.derive_landmarks(landmarks)
        in_crop = transform_points(landmarks, affine)
        depth = geometry.face_depth(in_crop, self.image_size, self.depth_size)
        return PreparedFrame(crop, in_crop.astype(np.float32), depth, affine, int(frame_number))


# --- reading ------------------------------------------------------------------------------------------

def check_rgb(image, path):
    """An OpenCV-decoded image must be 8-bit with 3 channels (BGR); returns it as RGB."""
    if image is None:
        raise InputError(f"{path}: not a readable image")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        kind = ("grayscale" if image.ndim == 2 or image.shape[2] == 1 else
                f"{image.shape[2]}-channel" if image.shape[2] != 3 else f"{image.dtype}")
        raise InputError(f"{path}: expected an 8-bit RGB image, got a {kind} image of shape {image.shape} "
                         f"{image.dtype}; convert it to 8-bit RGB")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_image(path):
    """(H, W, 3) uint8 RGB of an image file; grayscale, RGBA or 16-bit images raise `InputError`, and so does a
    file OpenCV will not decode (a header claiming more pixels than it allows raises cv2.error)."""
    try:
        image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    except cv2.error as error:
        reason = (str(error).strip().splitlines() or [""])[0].split("error: ", 1)[-1]
        raise InputError(f"{path}: not a readable image (OpenCV refuses it: {reason})") from None
    return check_rgb(image, path)


def read_landmarks(path):
    """(68, 2) or (140, 2) float64 landmarks from a .npy file (no pickles); other shapes raise `InputError`."""
    try:
        points = files.load_npy(path)
    except FileNotFoundError:
        raise InputError(f"{path}: landmark file missing (one .npy per frame image is expected)") from None
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: not a numeric .npy array ({error})") from None
    if points.shape not in ((face_model.NUM_DETECTED, 2), (face_model.NUM_LANDMARKS, 2)) \
            or not np.issubdtype(points.dtype, np.number):
        raise InputError(f"{path}: expected (68, 2) or (140, 2) (x, y) landmarks, got shape {points.shape} "
                         f"{points.dtype}")
    return points.astype(np.float64)


def check_landmarks_in_image(points, shape, path):
    """Given landmarks must be finite (x, y) pixels of their (H, W) image, give or take one image size, and span
    more than one pixel: landmarks in other units (normalised, or scaled by mistake) would crop a blank patch
    and write it as a valid face. Returns the points; raises InputError naming `path` otherwise."""
    height, width = shape[:2]
    if not np.isfinite(points).all():
        raise InputError(f"{path}: landmarks contain NaN or infinity")
    low, high = points.min(axis=0), points.max(axis=0)
    if low[0] < -width or low[1] < -height or high[0] > 2 * width or high[1] > 2 * height:
        raise InputError(f"{path}: landmarks must be (x, y) pixels of the {width}x{height} frame image, got x in "
                         f"[{low[0]:.6g}, {high[0]:.6g}], y in [{low[1]:.6g}, {high[1]:.6g}]")
    if np.min(high - low) < 1.0:
        raise InputError(f"{path}: the landmarks span less than one pixel ({high - low}); expected a face's")
    return points


def read_video(path, every_k=1, max_frames=None):
    """Yield (frame_number, rgb uint8) for frames 0, k, 2k, ... of a video file (at most max_frames)."""
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        raise InputError(f"{path}: cannot open the video (unreadable file or unsupported codec)")
    number = kept = 0
    try:
        while max_frames is None or kept < max_frames:
            if number % every_k:
                if not capture.grab():   # skipped frames are decoded but not converted
                    break
            else:
                ok, frame = capture.read()
                if not ok:
                    break
                kept += 1
                yield number, check_rgb(frame, f"{path} frame {number}")
            number += 1
    finally:
        capture.release()
    if number == 0:
        raise InputError(f"{path}: no frame could be decoded (empty or corrupt video)")


def list_images(folder):
    """Image files of a folder in natural order (the frame order: files.natural_key)."""
    names = [n for n in os.listdir(folder) if os.path.splitext(n)[1].lower() in IMAGE_EXTENSIONS]
    return [os.path.join(folder, n) for n in sorted(names, key=files.natural_key)]


@dataclasses.dataclass(frozen=True)
class VideoJob:
    """One video to prepare: `source` is a video file or a folder of frame images; `record` holds the index
    fields (video_id, path, label, spoof_type, subject, ...); landmark_files: each frame image has a
    <frame>.npy with its landmarks (STDN layout) and is cropped with them instead of detecting.

    `preprocess_videos` runs any job with `source`, `record`, `landmark_files` (False: the job detects faces, so
    dlib loads first) and `prepare(writer, preprocessor, every_k, max_frames)` -> VideoResult (the synthetic
    set's raw videos are such jobs, physstd.data.synthetic). A subclass reading RGB-D data yields each frame's
    sensor depth as a 4th element of `frames` (`prepare_video`)."""

    source: str
    record: dict
    p0_region: str = None
    landmark_files: bool = False

    def frames(self, every_k=1, max_frames=None):
        """Yield (frame_number, rgb, landmarks or None); an RGB-D job also a 4th element (prepare_video)."""
        if not os.path.isdir(self.source):
            for number, rgb in read_video(self.source, every_k, max_frames):
                yield number, rgb, None
            return
        images = list_images(self.source)
        if not images:
            raise InputError(f"{self.source}: no frame images ({', '.join(IMAGE_EXTENSIONS)}) in the folder")
        numbers = range(0, len(images), every_k)
        for number in numbers[:max_frames]:
            path = images[number]
            rgb = read_image(path)
            landmarks = None
            if self.landmark_files:
                landmark_path = os.path.splitext(path)[0] + ".npy"
                landmarks = check_landmarks_in_image(read_landmarks(landmark_path), rgb.shape, landmark_path)
            yield number, rgb, landmarks

    def prepare(self, writer, preprocessor, every_k=1, max_frames=None):
        return prepare_video(self, writer, preprocessor, every_k, max_frames)


@dataclasses.dataclass
class VideoResult:
    """What preparing one video gave: its index row (None: a video the job leaves out, not written, because no
    frame holds a face), the frames read and how many of them held no face."""

    row: dict
    frames_read: int
    frames_without_face: int


def prepare_video(job, writer, preprocessor, every_k=1, max_frames=None):
    """Prepare one video into `writer` (folder moved into place, not yet indexed: call writer.register).

    job.frames yields (frame_number, rgb, landmarks or None) or, from RGB-D data, (frame_number, rgb, landmarks
    or None, sensor_depth or None): the frame's (H, W) uint16 mm or uint8 depth registered to the RGB frame (the
    same pixel grid), cropped with the RGB crop's affine (sensor_depth.warp_depth_to_crop)."""
    read = without_face = 0
    previous = None   # the face of the last frame, where detection looks first
    with writer.open_video(job.record, job.p0_region, register=False) as video:
        for number, rgb, landmarks, *more in job.frames(every_k, max_frames):
            sensor_depth = more[0] if more else None
            read += 1
            if landmarks is None:
                frame = preprocessor.process_frame(rgb, number, previous)
            else:
                frame = preprocessor.process_landmarks(rgb, landmarks, number)
            if frame is None:
                without_face += 1
                previous = None
                continue
            previous = source_landmarks(frame)
            if sensor_depth is not None:
                sensor_depth = crop_sensor_depth(sensor_depth, rgb, frame.affine, writer.image_size,
                                                 f"{job.source} frame {number}")
            video.add(frame, sensor_depth=sensor_depth)
        if video.num_frames == 0:
            raise InputError(f"{job.source}: no face found in any of the {read} frames read")
    row = dict(video.row, frames_without_face=without_face)
    return VideoResult(row, read, without_face)


def crop_sensor_depth(sensor_depth, rgb, affine, image_size, where):
    """A frame's sensor depth cropped like its RGB frame; InputError naming `where` unless it is a 2-D uint16 or
    uint8 array of the RGB frame's height and width."""
    try:
        sensor_depth = check_depth(sensor_depth, f"{where}: sensor depth")
    except DepthFormatError as error:
        raise InputError(str(error)) from None
    if sensor_depth.shape != rgb.shape[:2]:
        raise InputError(f"{where}: the sensor depth is {sensor_depth.shape[1]}x{sensor_depth.shape[0]}, the RGB frame "
                         f"{rgb.shape[1]}x{rgb.shape[0]}; the depth must be registered to the RGB frame (one pixel "
                         f"grid)")
    return warp_depth_to_crop(sensor_depth, affine, image_size)


# --- the dataset loop ---------------------------------------------------------------------------------

@dataclasses.dataclass
class Summary:
    """What a preprocessing run did; `format()` is the text run_preprocess prints."""

    videos: int = 0
    done: int = 0
    skipped: int = 0
    failures: list = dataclasses.field(default_factory=list)       # (source, message)
    without_face: dict = dataclasses.field(default_factory=dict)   # video_id -> frames with no face
    left_out: list = dataclasses.field(default_factory=list)       # jobs left out: no face in any frame
    frames_read: int = 0
    frames_written: int = 0
    seconds: float = 0.0
    interrupted: bool = False

    @property
    def frames_per_second(self):
        return self.frames_read / self.seconds if self.seconds > 0 else 0.0

    @property
    def ok(self):
        return not self.failures and not self.interrupted

    def format(self):
        lines = [f"videos: {self.done} done, {self.skipped} skipped (already prepared), {len(self.failures)} failed"
                 f" of {self.videos}" + (" -- INTERRUPTED" if self.interrupted else ""),
                 f"frames: {self.frames_read} read, {self.frames_written} written, "
                 f"{sum(self.without_face.values())} without a face",
                 f"speed: {self.frames_per_second:.1f} frames/s ({self.seconds:.1f} s)"]
        if self.left_out:
            lines.append(f"left out (no face in any frame): {len(self.left_out)} videos")
        if self.without_face:
            lines.append("videos with frames without a face:")
            lines += [f"  {video_id}: {count}" for video_id, count in sorted(self.without_face.items())]
        if self.failures:
            lines.append("failed:")
            lines += [f"  {message}" for _, message in self.failures]
        return "\n".join(lines)


def _log_stderr(message):
    print(message, file=sys.stderr, flush=True)


_CONTEXT = {}   # module state so that forked workers find the writer and the preprocessor


def _set_context(writer, detect_max_side, every_k, max_frames):
    _CONTEXT.update(writer=writer, preprocessor=FacePreprocessor(writer.image_size, writer.depth_size,
                                                                 detect_max_side),
                    every_k=every_k, max_frames=max_frames)


def _run_job(job):
    """('done', job, VideoResult) or ('failed', job, message); runs in a worker process or in-process."""
    try:
        result = job.prepare(_CONTEXT["writer"], _CONTEXT["preprocessor"], _CONTEXT["every_k"], _CONTEXT["max_frames"])
        return "done", job, result
    except InputError as error:
        return "failed", job, str(error)
    except Exception as error:   # one broken video must not end a run of thousands; it is reported
        return "failed", job, f"{job.source}: {type(error).__name__}: {error}"


def preprocess_videos(jobs, writer, every_k=1, max_frames=None, workers=1, failures=(),
                      detect_max_side=DETECT_MAX_SIDE, log=_log_stderr):
    """Prepare every job (VideoJob or alike) not yet in writer's index, in order; returns a `Summary`. The one
    preprocessing loop: run_preprocess, the STDN import and the synthetic set all prepare their videos here.
    `failures`: (source, message) pairs found before (e.g. unparsable names), carried into the summary. Videos are
    indexed in the jobs' order, whatever the number of workers. Ctrl-C stops the run: the video being written is
    discarded (never indexed) and the summary says INTERRUPTED."""
    if every_k < 1 or (max_frames is not None and max_frames < 1):
        raise ValueError(f"every_k and max_frames must be >= 1, got {every_k}, {max_frames}")
    summary = Summary(videos=len(jobs) + len(failures), failures=list(failures))
    for source, message in failures:
        log(f"FAILED {message}")
    todo = [job for job in jobs if not writer.is_done(job.record["video_id"])]
    summary.skipped = len(jobs) - len(todo)
    if summary.skipped:
        log(f"{summary.skipped} videos already prepared in {writer.root}: skipped")
    if any(not job.landmark_files for job in todo):
        dlib_models()   # load before the clock starts; forked workers inherit the loaded models
    start = time.monotonic()
    _set_context(writer, detect_max_side, every_k, max_frames)
    pool = None
    try:
        if workers > 1 and len(todo) > 1:
            # fork: workers inherit the writer, the context and the loaded dlib models. Only this process
            # writes index.csv; a worker moves its finished video folder into place.
            pool = multiprocessing.get_context("fork").Pool(min(workers, len(todo)))
            outcomes = pool.imap(_run_job, todo)
        else:
            outcomes = map(_run_job, todo)
        for count, (status, job, result) in enumerate(outcomes, start=1):
            summary.seconds = time.monotonic() - start
            prefix = f"[{count}/{len(todo)}]"
            if status == "failed":
                summary.failures.append((job.source, result))
                log(f"{prefix} FAILED {result}")
                continue
            summary.frames_read += result.frames_read
            if result.row is None:
                summary.left_out.append(job)
                log(f"{prefix} {job.record['video_id']}: no face in any of its {result.frames_read} frames, left out")
                continue
            writer.register(result.row)
            summary.done += 1
            summary.frames_written += result.row["num_frames"]
            if result.frames_without_face:
                summary.without_face[job.record["video_id"]] = result.frames_without_face
            log(f"{prefix} {job.record['video_id']}: {result.row['num_frames']} frames written, "
                f"{result.frames_without_face} without a face | {summary.frames_per_second:.1f} frames/s")
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        if pool is not None:
            # Workers still writing are killed; their half-built folders stay under .partial/, unindexed.
            pool.terminate()
            pool.join()
        summary.seconds = time.monotonic() - start
    return summary


# --- finding the videos of a raw dataset --------------------------------------------------------------

# Short names accepted by run_preprocess for the dataset names of physstd.data.datasets.
def relative_posix(path, root):
    return os.path.relpath(path, root).replace(os.sep, "/")


def add_unique_job(jobs, failures, seen, job):
    """Append a job unless its video_id was already taken (then record a failure naming both sources)."""
    video_id = job.record["video_id"]
    if video_id in seen:
        failures.append((job.source, f"{job.source}: video_id {video_id!r} is also produced by {seen[video_id]}"))
        return
    seen[video_id] = job.source
    jobs.append(job)


def dataset_jobs(input_dir, dataset):
    """(jobs, failures) for every video file of an official dataset tree, named by
    `physstd.data.datasets.parse_video_name`; a name that does not parse is a failure, not an abort."""
    dataset = datasets.OLD_NAMES.get(dataset, dataset)
    if not os.path.isdir(input_dir):
        raise InputError(f"{input_dir}: input folder does not exist")
    jobs, failures, seen = [], [], {}
    for directory, subdirs, files in os.walk(input_dir):
        subdirs.sort()
        for name in sorted(files):
            if os.path.splitext(name)[1].lower() not in datasets.VIDEO_EXTENSIONS:
                continue
            source = os.path.join(directory, name)
            relative = relative_posix(source, input_dir)
            try:
                record = datasets.parse_video_name(dataset, relative)
            except ValueError as error:
                failures.append((source, f"{source}: {error}"))
                continue
            record = dict(record, path=os.path.splitext(relative)[0], source_path=relative)
            add_unique_job(jobs, failures, seen, VideoJob(source, record))
    return jobs, failures


def folder_jobs(input_dir):
    """(jobs, failures) for a generic tree `<input_dir>/<spoof type>/...`, the top folders named after
    `spoof_types.NAMES` (live, print, replay, ...). Below them every video file, and every folder holding
    frame images, is one video. Subject: the first folder under the type folder when there is one, else
    the video itself."""
    if not os.path.isdir(input_dir):
        raise InputError(f"{input_dir}: input folder does not exist")
    jobs, failures, seen = [], [], {}
    for type_name in sorted(os.listdir(input_dir)):
        type_dir = os.path.join(input_dir, type_name)
        if not os.path.isdir(type_dir):
            continue
        if type_name not in spoof_types.NAMES:
            failures.append((type_dir, f"{type_dir}: folder name is not a spoof type; expected one of "
                                       f"{', '.join(spoof_types.NAMES)}"))
            continue
        for directory, subdirs, files in os.walk(type_dir):
            subdirs.sort()
            sources = [os.path.join(directory, n) for n in sorted(files)
                       if os.path.splitext(n)[1].lower() in datasets.VIDEO_EXTENSIONS]
            if directory != type_dir and any(os.path.splitext(n)[1].lower() in IMAGE_EXTENSIONS for n in files):
                sources.append(directory)
            for source in sources:
                relative = relative_posix(source, input_dir)
                path = relative if os.path.isdir(source) else os.path.splitext(relative)[0]
                parts = path.split("/")
                video_id = "_".join(parts)
                subject = parts[1] if len(parts) > 2 else video_id
                record = {"video_id": video_id, "path": path, "label": int(type_name != "live"),
                          "spoof_type": type_name, "subject": subject, "source_path": relative}
                add_unique_job(jobs, failures, seen, VideoJob(source, record))
    if not jobs and not failures:
        failures.append((input_dir, f"{input_dir}: no videos or image folders under <spoof type>/ folders "
                                    f"({', '.join(spoof_types.NAMES)})"))
    return jobs, failures
