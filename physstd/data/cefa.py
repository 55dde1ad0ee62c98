"""CASIA-SURF CeFA reader ("CASIA-SURF CeFA: A Benchmark for Multi-modal Cross-ethnicity Face Anti-spoofing",
Liu et al. 2021): face-cropped frame folders `<video>/profile/NNNN.jpg` (RGB; `color/` in later copies) beside
`<video>/depth/NNNN.jpg` (8-bit depth, units `uint8`) and `<video>/ir/`, one job per video for the preprocessing loop.

A video is every folder holding a colour and a depth frame folder; its name gives label, attack and subject
(datasets.parse_video_name("cefa", ...)). Colour and depth frames pair by file name; a depth crop of another size
than its colour crop is resized to it (the release crops the modalities alike; docs/data.md lists this assumption).
"""
import dataclasses
import os

import cv2
import numpy as np

from physstd import files
from physstd.data import datasets
from physstd.data.preprocess import (IMAGE_EXTENSIONS, InputError, add_unique_job, prepare_video, read_image,
                                     relative_posix)

COLOR_FOLDERS = ("profile", "color")
DEPTH_FOLDER = "depth"
DEPTH_UNITS = "uint8"


def _images(folder):
    """{file stem: path} of the frame images of a folder."""
    return {os.path.splitext(n)[0]: os.path.join(folder, n) for n in os.listdir(folder)
            if os.path.splitext(n)[1].lower() in IMAGE_EXTENSIONS}


def color_folder(video_dir):
    """The colour frame folder of a video folder (profile/ or color/), or None."""
    for name in COLOR_FOLDERS:
        if os.path.isdir(os.path.join(video_dir, name)):
            return os.path.join(video_dir, name)
    return None


def read_depth_image(path):
    """(H, W) uint8 depth of an 8-bit depth image (grey, or grey stored in three channels)."""
    try:
        depth = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    except cv2.error:
        depth = None
    if depth is None:
        raise InputError(f"{path}: not a readable depth image")
    return depth


@dataclasses.dataclass(frozen=True)
class CefaJob:
    """One CeFA video folder for the preprocessing loop; faces are detected on the colour frames."""

    source: str
    record: dict
    p0_region: str = None
    landmark_files = False   # not a field: the faces are detected

    def pairs(self):
        """[(colour path, depth path)] of the video's frames in natural order of their names."""
        colour_dir = color_folder(self.source)
        if colour_dir is None:
            raise InputError(f"{self.source}: no {' or '.join(COLOR_FOLDERS)} frame folder")
        colour, depth = _images(colour_dir), _images(os.path.join(self.source, DEPTH_FOLDER))
        if not colour:
            raise InputError(f"{colour_dir}: no frame images ({', '.join(IMAGE_EXTENSIONS)})")
        unpaired = sorted(set(colour) ^ set(depth), key=files.natural_key)
        if unpaired:
            lacking = DEPTH_FOLDER if unpaired[0] in colour else os.path.basename(colour_dir)
            raise InputError(f"{self.source}: frame {unpaired[0]!r} has no image in {lacking}/ "
                             f"({len(unpaired)} unpaired); colour and depth frames pair by file name")
        return [(colour[name], depth[name]) for name in sorted(colour, key=files.natural_key)]

    def frames(self, every_k=1, max_frames=None):
        """Yield (frame_number, rgb (H, W, 3) uint8, None, sensor depth (H, W) uint8)."""
        pairs = self.pairs()
        for number in range(0, len(pairs), every_k)[:max_frames]:
            colour_path, depth_path = pairs[number]
            rgb, depth = read_image(colour_path), read_depth_image(depth_path)
            if depth.shape != rgb.shape[:2]:
                depth = cv2.resize(depth, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_NEAREST)
            yield number, rgb, None, np.ascontiguousarray(depth)

    def prepare(self, writer, preprocessor, every_k=1, max_frames=None):
        return prepare_video(self, writer, preprocessor, every_k, max_frames)


def cefa_jobs(input_dir):
    """(jobs, failures) for every video folder (a colour and a depth frame folder) under a CeFA copy, in path
    order; a folder whose name does not parse is a failure."""
    if not os.path.isdir(input_dir):
        raise InputError(f"{input_dir}: input folder does not exist")
    jobs, failures, seen = [], [], {}
    for directory, subdirs, _ in os.walk(input_dir):
        subdirs.sort()
        if color_folder(directory) is None or DEPTH_FOLDER not in subdirs:
            continue
        subdirs[:] = []   # a video folder holds frame folders, not further videos
        relative = relative_posix(directory, input_dir)
        try:
            record = datasets.parse_video_name("cefa", relative)
        except ValueError as error:
            failures.append((directory, f"{directory}: {error}"))
            continue
        record = dict(record, path=relative, source_path=relative)
        add_unique_job(jobs, failures, seen, CefaJob(directory, record))
    if not jobs and not failures:
        failures.append((input_dir, f"{input_dir}: no CeFA video folders (<video>/{COLOR_FOLDERS[0]}/ beside "
                                    f"<video>/{DEPTH_FOLDER}/)"))
    return jobs, failures
