"""Sensor depth as a network input: the one normalisation of raw depth crops, shared by the input pipeline
(physstd.data.pipeline), the SavedModel's raw-depth signature (physstd.export) and therefore prediction.

    mm     clip(0.5 + (Z_ref - Z) / 256 mm, 0, 1): nearer is brighter, the face's reference depth Z_ref at 0.5, a
           256 mm slab around it spread over [0, 1]; holes (Z = 0) are 0. Z_ref is the median of the valid Z inside
           the face hull (FACE_HULL); a crop without a valid pixel there is all 0.
    uint8  value / 255 (releases that ship 8-bit depth face crops have their own normalisation already).

Where the face is. The median is taken inside the convex hull of the 68 mean-face landmarks placed by the crop rule
(physstd.data.face_model.canonical_landmarks), one fixed polygon of the crop, not the hull of each frame's own
landmarks: a prepared crop maps the box of the frame's 68 landmarks onto the same square
(physstd.data.preprocess.crop_affine), so the face hull of every frame lies about where the canonical one does (a
pose turns and shifts it a little; the median stays on the face as long as most of the hull's valid pixels are face).
An export, which sees crops without landmarks, then normalises exactly as training did.
"""
import functools

import numpy as np
import tensorflow as tf

# The convex hull of physstd.data.face_model.canonical_landmarks(size, 68) (jaw 16..0, then the brows' top points
# 17, 18, 19, 24, 25, 26), as fractions u of the crop: pixel (x, y) = u * (N - 1). tests/test_sensor_depth_inputs.py
# checks it against the mean face.
FACE_HULL = np.array([
    (0.833333, 0.378030), (0.804936, 0.565900), (0.787277, 0.650320), (0.769196, 0.707246), (0.733662, 0.755473),
    (0.673547, 0.801832), (0.601292, 0.834857), (0.500556, 0.852255), (0.399641, 0.836310), (0.340949, 0.813040),
    (0.289418, 0.778943), (0.244781, 0.727987), (0.216013, 0.654743), (0.196256, 0.568815), (0.181034, 0.476494),
    (0.166667, 0.386029), (0.247474, 0.309007), (0.278307, 0.290855), (0.315047, 0.284305), (0.652150, 0.281078),
    (0.692400, 0.288142), (0.725977, 0.302388)])
MM_SPAN = 256.0   # the depth range (mm) spread over [0, 1] around Z_ref
# {units: the normalisation in words}, written into an export's info file.
NORMALISATION = {
    "mm": f"clip(0.5 + (Z_ref - Z) / {MM_SPAN:g} mm, 0, 1), Z_ref = the median valid Z inside the mean face's "
          f"landmark hull placed by the crop rule; holes (Z = 0) -> 0",
    "uint8": "value / 255",
}


@functools.lru_cache(maxsize=8)
def face_region(size):
    """(N, N) bool: the pixel centres inside FACE_HULL in an N x N crop."""
    corners = FACE_HULL * (size - 1)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    inside = np.ones((size, size), bool)
    # The corners run counter-clockwise in (x, y) taken as plain numbers (scipy's ConvexHull order): an inside point
    # has a non-negative cross product with every edge.
    for (x0, y0), (x1, y1) in zip(corners, np.roll(corners, -1, axis=0)):
        inside &= (x1 - x0) * (ys - y0) - (y1 - y0) * (xs - x0) >= -1e-9
    return inside


def check_units(units, where="depth units"):
    """`units` when it names a normalisation (NORMALISATION), else one ValueError naming `where`."""
    if units not in NORMALISATION:
        raise ValueError(f"{where}: expected one of {', '.join(NORMALISATION)}, got {units!r}")
    return units


def normalise_sensor_depth(depth, units):
    """Raw sensor-depth crops (..., N, N, 1) in `units` (any numeric dtype; 0 = hole) -> float32 in [0, 1] (module
    doc). Pure TensorFlow, so that it runs in tf.data and inside a SavedModel."""
    check_units(units)
    depth = tf.cast(depth, tf.float32)
    if units == "uint8":
        return depth / 255.0
    size = depth.shape[-2]
    region = np.flatnonzero(face_region(size))
    flat = tf.reshape(depth, [-1, size * size])
    inside = tf.gather(flat, region, axis=1)
    valid = inside > 0
    count = tf.reduce_sum(tf.cast(valid, tf.int32), axis=1)
    ordered = tf.sort(tf.where(valid, inside, np.inf), axis=1)   # the holes last
    lower = tf.gather(ordered, tf.maximum(count - 1, 0) // 2, batch_dims=1)
    upper = tf.gather(ordered, tf.minimum(count // 2, len(region) - 1), batch_dims=1)
    reference = tf.where(count > 0, (lower + upper) / 2.0, 0.0)[:, None]
    normalised = tf.clip_by_value(0.5 + (reference - flat) / MM_SPAN, 0.0, 1.0)
    normalised = tf.where((flat > 0) & (count > 0)[:, None], normalised, 0.0)
    return tf.reshape(normalised, tf.shape(depth))
