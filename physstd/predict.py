"""Spoof scores of raw images and videos with an export of any method and format (a SavedModel folder of
physstd.export, a .tflite or .onnx file of physstd.deploy): detect, crop, score, figures.

Each image (or each kept frame of a video) goes through physstd.data.preprocess.FacePreprocessor at the export's
crop size N (dlib face detection, 68 landmarks, the training crop rule), then the export (physstd.deploy.runtime: the
SavedModel's uint8 signature; a converted file on crops / 255). A format keeps every output of the SavedModel, so the
figures are the same.
The largest face of each image is scored; frames without a face are reported and skipped. A video's score is the
mean of its frame scores (as run_test.py scores videos), its decision that mean against the saved threshold.

Sensor depth. An export of a method that takes sensor depth (its info file lists the input "depth") needs
`depth`: a depth image (for one input image) or a folder of them, registered to the colour frames (same size) and
stored in the export's depth_units (uint16 mm, 0 = hole; or uint8). The folder's images, in natural order, pair one
by one with the input images, or with the frames of one input video (`depth_pairs`); another count is refused
before anything is scored. The crop found on each RGB frame is applied to its depth (the same affine map,
physstd.data.sensor_depth.warp_depth_to_crop), and the export's uint8 signature normalises it as training did.

Files written by `predict_paths` into the output folder:
    predictions.csv          source,frame,score,decision     (frame = -1: the video's mean score)
    NNN_<name>_traces.png        the method's trace figure (Method.trace_figure), one row per scored face:
                                 PhySTD Fig. 8 (input, B, C, T, P, live reconstruction), De-Spoof input, noise N,
                                 0\\1 map, depth of I_hat, I_hat
    NNN_<name>_live.png          Fig. 9 layout: input, overall trace I - I_live, live reconstruction (any method
                                 whose export has a `live` output)
(each row of a figure titled with the face's frame for a video, its score and its decision). A method without a
trace (Auxiliary) draws neither.
"""
import csv
import dataclasses
import io
import os
import re

import numpy as np

import cv2

from physstd import files, methods, viz
from physstd.data import pipeline, preprocess, sensor_depth
from physstd.deploy import runtime

VIDEO_FRAME = -1
PREDICTION_COLUMNS = ("source", "frame", "score", "decision")


@dataclasses.dataclass
class FacePrediction:
    """One scored face: its source, frame number (0 for an image), crop (N, N, 3) uint8 and the export's outputs."""

    source: str
    frame: int
    crop: np.ndarray
    outputs: dict

    @property
    def score(self):
        return float(self.outputs["score"])

    @property
    def decision(self):
        return int(self.outputs["decision"])


@dataclasses.dataclass
class SourceResult:
    """The faces of one input file; `failure` says why nothing was scored. Video-level score = mean frame score."""

    source: str
    faces: list
    is_video: bool
    frames_read: int = 0
    failure: str = ""

    def mean_score(self):
        return float(np.mean([face.score for face in self.faces])) if self.faces else float("nan")


class Predictor:
    """A loaded export of any format (physstd.deploy.runtime: a SavedModel folder, a .tflite or a .onnx file) plus a
    face preprocessor at its crop size."""

    def __init__(self, export_dir, batch_size=16, detect_max_side=None):
        self.model = runtime.load(export_dir)
        self.info = self.model.info
        self.method = methods.get(self.info["method"], export_dir)
        # The figures need the maps the method names for its trace figure, and the live reconstruction for Fig. 9.
        outputs = set(self.info["outputs"])
        self.draws_traces = bool(self.method.figure_outputs) and set(self.method.figure_outputs) <= outputs
        self.draws_live = "live" in outputs
        self.export_dir = export_dir
        self.takes_depth = "depth" in self.info.get("inputs", {})
        self.depth_units = self.info.get("depth_units")
        kwargs = {} if detect_max_side is None else {"detect_max_side": detect_max_side}
        self.preprocessor = preprocess.FacePreprocessor(int(self.info["image_size"]), **kwargs)
        self.threshold = float(self.info["threshold"])
        self.batch_size = int(batch_size)

    def score_crops(self, crops, depths=None):
        """Export outputs (dict of numpy arrays, one entry per crop) of (F, N, N, 3) uint8 crops (and, for a
        two-input export, their (F, N, N) raw depth crops in its depth_units)."""
        crops = np.asarray(crops, np.uint8)
        depths = None if depths is None else np.asarray(depths)[..., None]
        parts = [self.model.run(crops[start:start + self.batch_size],
                                None if depths is None else depths[start:start + self.batch_size])
                 for start in range(0, len(crops), self.batch_size)]
        return {key: np.concatenate([np.asarray(part[key]) for part in parts]) for key in parts[0]}

    def _predict_frames(self, source, frames, depth_paths=None):
        """(frame_number, rgb) pairs -> list of FacePrediction (frames without a face skipped), frames read.
        depth_paths: the depth image of each frame number, for a two-input export."""
        crops, depths, numbers, previous, read = [], [], [], None, 0
        for number, rgb in frames:
            read += 1
            prepared = self.preprocessor.process_frame(rgb, number, previous)
            if prepared is None:
                continue
            previous = preprocess.source_landmarks(prepared)
            crops.append(prepared.crop)
            numbers.append(number)
            if depth_paths is not None:
                depth = read_depth(depth_paths[number], rgb.shape, self.depth_units)
                depths.append(sensor_depth.warp_depth_to_crop(depth, prepared.affine, prepared.crop.shape[0]))
        if not crops:
            return [], read
        outputs = self.score_crops(np.stack(crops), np.stack(depths) if depth_paths is not None else None)
        faces = [FacePrediction(source, numbers[i], crops[i], {k: v[i] for k, v in outputs.items()})
                 for i in range(len(crops))]
        return faces, read

    def predict_rgb(self, source, rgb):
        """FacePrediction of the largest face of an (H, W, 3) uint8 RGB array named `source`, or None."""
        faces, _ = self._predict_frames(source, [(0, rgb)])
        return faces[0] if faces else None

    def predict_image(self, path, depth_paths=None):
        """SourceResult of one image file (its largest face); depth_paths: [its depth image] (two-input export)."""
        try:
            rgb = preprocess.read_image(path)
            faces, read = self._predict_frames(path, [(0, rgb)], depth_paths)
        except preprocess.InputError as error:
            return SourceResult(path, [], False, 0, str(error))
        return SourceResult(path, faces, False, read, "" if faces else f"{path}: no face found")

    def predict_video(self, path, every_k=1, max_frames=None, depth_paths=None):
        """SourceResult of frames 0, k, 2k, ... of a video file (at most max_frames of them); depth_paths: the
        depth image of every frame (two-input export)."""
        try:
            faces, read = self._predict_frames(path, preprocess.read_video(path, every_k, max_frames), depth_paths)
        except preprocess.InputError as error:
            return SourceResult(path, [], True, 0, str(error))
        return SourceResult(path, faces, True, read, "" if faces else f"{path}: no face found in {read} frames")


def expand_inputs(paths):
    """Image files, videos, and the images of folders (each image on its own), in order; missing paths raise."""
    expanded = []
    for path in paths:
        if os.path.isdir(path):
            images = preprocess.list_images(path)
            if not images:
                raise ValueError(f"{path}: no images ({', '.join(preprocess.IMAGE_EXTENSIONS)}) in the folder")
            expanded += images
        elif os.path.isfile(path):
            expanded.append(path)
        else:
            raise ValueError(f"{path}: no such file or folder (expected images, videos or folders of images)")
    return expanded


def is_image(path):
    return os.path.splitext(path)[1].lower() in preprocess.IMAGE_EXTENSIONS


def count_video_frames(path):
    """The number of frames of a video file (every frame grabbed, none decoded into an image)."""
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        raise preprocess.InputError(f"{path}: cannot open the video (unreadable file or unsupported codec)")
    count = 0
    try:
        while capture.grab():
            count += 1
    finally:
        capture.release()
    return count


def depth_pairs(inputs, depth):
    """The depth image paths of each input (a list per input, indexed by its frame numbers) from `depth` (module
    doc): a file for one input image, or a folder whose images, in natural order, pair one by one with the input
    images or with the frames of one input video. Any other count or mix is one ValueError naming --depth."""
    if os.path.isfile(depth):
        paths = [depth]
    elif os.path.isdir(depth):
        paths = preprocess.list_images(depth)
        if not paths:
            raise ValueError(f"--depth={depth}: no depth images ({', '.join(preprocess.IMAGE_EXTENSIONS)}) in the "
                             f"folder")
    else:
        raise ValueError(f"--depth={depth}: no such file or folder (expected a depth image or a folder of them)")
    videos = [path for path in inputs if not is_image(path)]
    if not videos:
        if len(paths) != len(inputs):
            raise ValueError(f"--depth={depth}: {len(paths)} depth images for {len(inputs)} input images; give one "
                             f"per image, in the same (natural) order")
        return [[path] for path in paths]
    if len(inputs) > 1:
        raise ValueError(f"--depth={depth}: depth pairs with input images or with the frames of one video; got "
                         f"{len(inputs)} inputs, {len(videos)} of them videos")
    frames = count_video_frames(videos[0])
    if frames != len(paths):
        raise ValueError(f"--depth={depth}: {len(paths)} depth images for the {frames} frames of {videos[0]}; give "
                         f"one per frame, in order")
    return [paths]


def read_depth(path, shape, units):
    """(H, W) raw depth of the depth image paired with an RGB frame of `shape`: stored in `units` (uint16 for mm,
    uint8) and registered to the frame (its size); preprocess.InputError naming the file otherwise."""
    try:
        return pipeline.read_depth_frame(path, units, shape)
    except ValueError as error:
        raise preprocess.InputError(f"{error}; depth is registered to its colour frame, in the model's units") from None


def figure_name(path, index):
    """A file-name stem for the figures of input `index`: its base name, made safe, prefixed by the index."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", os.path.splitext(os.path.basename(path))[0]) or "input"
    return f"{index:03d}_{stem}"


def face_title(face, is_video):
    """The row title of a scored face in the figures: its frame (videos), score and decision."""
    where = f"frame {face.frame}\n" if is_video else ""
    return f"{where}score {face.score:.3f}\n{'ATTACK' if face.decision else 'bona fide'}"


def write_figures(result, output_dir, stem, predictor, max_faces=8):
    """The trace figure of the predictor's method and the Fig. 9 grid of the first `max_faces` faces of a
    SourceResult, each row titled with its score and decision (face_title); returns the written paths (none for a
    method that draws neither)."""
    faces = result.faces[:max_faces]
    images = np.stack([face.crop for face in faces]).astype(np.float32) / 255.0
    arrays = {key: np.stack([face.outputs[key] for face in faces]) for key in faces[0].outputs}
    size = images.shape[1]
    rows = [face_title(face, result.is_video) for face in faces]
    paths = []
    if predictor.draws_traces:
        grid, columns = predictor.method.trace_figure(images, arrays, predictor.info["model"])
        paths.append(os.path.join(output_dir, f"{stem}_traces.png"))
        viz.save_png(paths[-1], grid, columns, size, row_titles=rows)
    if predictor.draws_live:
        paths.append(os.path.join(output_dir, f"{stem}_live.png"))
        viz.save_png(paths[-1], viz.disentanglement_grid(images, arrays["live"]), viz.FIG9_COLUMNS, size,
                     row_titles=rows)
    return paths


def predict_paths(export_dir, paths, output_dir, every_k=1, max_frames=None, figures=True, batch_size=16,
                  log=print, depth=None):
    """Score every input; print one line per face (and per video); write predictions.csv and the figures.
    depth: the sensor depth of the inputs, for a two-input export (module doc).

    Returns the list of SourceResult.
    """
    inputs = expand_inputs(paths)   # a wrong path fails before the model loads
    files.check_output_dir(output_dir)
    takes_depth = "depth" in runtime.read_info(export_dir).get("inputs", {})
    if takes_depth and depth is None:
        raise ValueError(f"{export_dir}: the model takes sensor depth next to the images; pass "
                         f"--depth=<a depth image or a folder of them>, registered to the inputs")
    if depth is not None and not takes_depth:
        raise ValueError(f"--depth={depth}: the model {export_dir} takes images only")
    pairs = depth_pairs(inputs, depth) if takes_depth else [None] * len(inputs)
    predictor = Predictor(export_dir, batch_size)
    if figures and not (predictor.draws_traces or predictor.draws_live):
        log(f"no figures: method {predictor.method.name!r} outputs no spoof trace or live reconstruction")
    os.makedirs(output_dir, exist_ok=True)
    results, rows = [], []
    for index, (path, depth_paths) in enumerate(zip(inputs, pairs)):
        if is_image(path):
            result = predictor.predict_image(path, depth_paths)
        else:
            result = predictor.predict_video(path, every_k, max_frames, depth_paths)
        results.append(result)
        if result.failure:
            log(f"{path}: skipped ({result.failure})")
            continue
        for face in result.faces:
            where = f" frame {face.frame}" if result.is_video else ""
            log(f"{path}{where}: score {face.score:.4f} -> {'ATTACK' if face.decision else 'bona fide'}")
            rows.append([path, face.frame, repr(face.score), face.decision])
        if result.is_video:
            mean = result.mean_score()
            decision = int(mean >= predictor.threshold)
            log(f"{path}: video score {mean:.4f} over {len(result.faces)} of {result.frames_read} frames -> "
                f"{'ATTACK' if decision else 'bona fide'}")
            rows.append([path, VIDEO_FRAME, repr(mean), decision])
        if figures:
            for figure in write_figures(result, output_dir, figure_name(path, index), predictor):
                log(f"  figure: {figure}")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(PREDICTION_COLUMNS)
    writer.writerows(rows)
    files.write_text_atomic(os.path.join(output_dir, "predictions.csv"), buffer.getvalue())
    return results
