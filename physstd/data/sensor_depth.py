"""Sensor-depth frames on disk: `<video>/sensor_depth/NNNNNN.png`, uint16 in mm (0 = hole) or uint8 (UNITS).

Minimal stand-in with the agreed names (UNITS, read_depth_png, write_depth_png, warp_depth_to_crop); the data
side's module replaces it."""
import cv2
import numpy as np

UNITS = ("mm", "uint8")


def read_depth_png(path):
    """The depth PNG at `path` as stored (uint16 or uint8, (H, W)); None when it is missing or unreadable."""
    try:
        return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        return None


def write_depth_png(path, array):
    """Write a (H, W) uint16 or uint8 depth array as a PNG."""
    if not cv2.imwrite(str(path), np.asarray(array)):
        raise OSError(f"{path}: could not write the PNG")


def warp_depth_to_crop(depth, affine, image_size):
    """(H, W) depth -> (N, N) crop of the same dtype by the (2, 3) source -> crop map: bilinear over the valid
    pixels, the validity mask warped alongside; a pixel with less than half valid support is a hole (0)."""
    depth = np.asarray(depth)
    valid = (depth > 0).astype(np.float32)
    size = (int(image_size), int(image_size))
    warp = dict(flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    total = cv2.warpAffine(depth.astype(np.float32) * valid, np.asarray(affine, np.float64), size, **warp)
    support = cv2.warpAffine(valid, np.asarray(affine, np.float64), size, **warp)
    crop = np.where(support >= 0.5, total / np.maximum(support, 1e-6), 0.0)
    return np.round(crop).astype(depth.dtype)
