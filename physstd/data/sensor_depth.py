"""Sensor depth frames: the second input modality (an RGB-D camera's depth, registered to the RGB frame).

Not to be confused with `depth` (M0, the depth *label* of the prepared arrays) or `face_depth` (the fitted mean
face): sensor depth is what a depth camera measured, spoofs included. A frame is a 2-D array, 0 = hole (no
measurement), in one of two units:

    mm      uint16 millimetres (a raw depth camera, the synthetic set)
    uint8   8-bit values of a release that ships depth as face-cropped 8-bit images (their scale is the release's)

Frames are stored as single-channel PNGs (16-bit for mm). `warp_depth_to_crop` crops a depth frame with the RGB
frame's crop affine (preprocess.crop_affine): bilinear over the valid pixels, the validity mask warped alongside,
so that holes stay holes and no hole value (0) is averaged into a measurement.
"""
import os

import cv2
import numpy as np

from physstd import config, files

UNITS = tuple(config.DEPTH_DTYPES)   # "mm" (uint16), "uint8" (uint8)
# A crop pixel is a measurement when at least this fraction of its bilinear support is valid, else a hole.
MIN_VALID_SUPPORT = 0.5


class DepthFormatError(ValueError):
    """A depth file or array is not a 2-D uint16 / uint8 image; the message names the file."""


def check_depth(array, where):
    """`array` if it is a 2-D uint16 or uint8 depth frame, else DepthFormatError naming `where`."""
    array = np.asarray(array)
    if array.ndim != 2 or array.dtype not in (np.uint16, np.uint8):
        raise DepthFormatError(f"{where}: expected a 2-D uint16 (mm) or uint8 depth frame, got shape {array.shape} "
                               f"{array.dtype}")
    return array


def read_depth_png(path):
    """(H, W) uint16 or uint8 depth frame of a single-channel PNG (any image OpenCV reads unchanged)."""
    try:
        image = cv2.imread(os.fspath(path), cv2.IMREAD_UNCHANGED)
    except cv2.error:   # a header claiming more pixels than OpenCV decodes
        image = None
    if image is None:
        raise DepthFormatError(f"{path}: missing or not a readable depth image")
    return check_depth(image, path)


def write_depth_png(path, array):
    """Write a uint16 or uint8 depth frame as a single-channel PNG at `path`, atomically, with the file mode a
    normal file gets (files.write_bytes_atomic)."""
    array = check_depth(array, path)
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(array))
    if not ok:
        raise OSError(f"{path}: could not encode the depth PNG")
    files.write_bytes_atomic(path, encoded.tobytes())


def warp_depth_to_crop(depth, affine, image_size):
    """Crop a depth frame with a (2, 3) source -> crop affine (the RGB frame's, preprocess.crop_affine): the same
    dtype, (image_size, image_size).

    Bilinear over the valid pixels, the validity mask warped alongside: output = warped(depth * valid) /
    warped(valid) where warped(valid), the valid fraction of the pixel's bilinear support, is >= MIN_VALID_SUPPORT,
    else 0 (a hole); pixels outside the frame are holes. So a constant depth stays exact, a plane stays a plane (up
    to OpenCV's 1/32-pixel bilinear positions), and a crop pixel between a measurement and a hole keeps the
    measurement only when it lies mostly on it."""
    depth = check_depth(depth, "depth frame")
    affine = np.asarray(affine, np.float64)
    if affine.shape != (2, 3):
        raise ValueError(f"expected a (2, 3) affine map, got shape {affine.shape}")
    valid = (depth > 0).astype(np.float32)

    def warp(image):
        return cv2.warpAffine(image, affine, (image_size, image_size), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)

    support = warp(valid)
    total = warp(depth.astype(np.float32))   # holes are 0: depth * valid == depth
    inside = support >= MIN_VALID_SUPPORT
    # A weighted mean of values >= 1 is >= 1: a measurement never rounds to the hole value.
    mean = total / np.where(inside, support, 1.0)
    return np.where(inside, np.clip(np.round(mean), 1, np.iinfo(depth.dtype).max), 0).astype(depth.dtype)
