"""The landmark layout every part of physstd shares: the mean 3D face, the 140-point layout, the crop rule,
the horizontal-flip permutation and the fixed triangle list.

PhySTD warps traces with 140 3DMM vertices (PhySTD paper, Sec. 3.5). We detect dlib's 68 landmarks and derive
72 more as fixed *affine* combinations of the 68 (rows of DERIVED_WEIGHTS sum to 1). Because the
combinations are affine, deriving commutes with any affine map: deriving on the fitted 3D shape and then
projecting gives the same 2D points as projecting and then deriving. The 72 are: 20 forehead points
moved upward from the brows, 16 jaw-line midpoints, 8 brow midpoints, 12 eye-contour midpoints,
3 nose-bridge midpoints, 4 nostril-line midpoints and 9 cheek/chin points.
"""
import functools
import os

import numpy as np
from scipy.spatial import Delaunay

from physstd.config import border_anchors

NUM_DETECTED = 68
NUM_DERIVED = 72
NUM_LANDMARKS = NUM_DETECTED + NUM_DERIVED

_MEANFACE_CSV = os.path.join(os.path.dirname(__file__), "meanface_68.csv")

# Mirror partner of each dlib/iBUG-68 landmark under a horizontal flip.
FLIP_68 = np.array(
    list(range(16, -1, -1))                      # jaw 0..16
    + list(range(26, 16, -1))                    # brows 17..26
    + [27, 28, 29, 30]                           # nose bridge
    + [35, 34, 33, 32, 31]                       # nostrils
    + [45, 44, 43, 42, 47, 46]                   # right eye (36..41) <-> left eye
    + [39, 38, 37, 36, 41, 40]                   # left eye (42..47)
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]   # outer lips 48..59
    + [64, 63, 62, 61, 60, 67, 66, 65],          # inner lips 60..67
    dtype=np.int64)

# Forehead rows: brow point b moved up along the nose direction: b + f * (p27 - p30) (top minus tip of the
# nose bridge, a difference of points, so the row stays affine).
_FOREHEAD_FACTORS = (0.7, 1.4)
_NOSE_TOP, _NOSE_TIP = 27, 30


def _segment_midpoints(indices, closed=False):
    pairs = list(zip(indices[:-1], indices[1:]))
    if closed:
        pairs.append((indices[-1], indices[0]))
    return pairs


def _build_derived_weights():
    rows = []

    def pair(i, j):
        row = np.zeros(NUM_DETECTED)
        row[i] += 0.5
        row[j] += 0.5
        rows.append(row)

    for factor in _FOREHEAD_FACTORS:
        for brow in range(17, 27):
            row = np.zeros(NUM_DETECTED)
            row[brow] += 1.0
            row[_NOSE_TOP] += factor
            row[_NOSE_TIP] -= factor
            rows.append(row)
    for i, j in _segment_midpoints(list(range(0, 17))):                      # jaw: 16
        pair(i, j)
    for i, j in _segment_midpoints(list(range(17, 22))) + _segment_midpoints(list(range(22, 27))):
        pair(i, j)                                                            # brows: 8
    for i, j in (_segment_midpoints(list(range(36, 42)), closed=True)
                 + _segment_midpoints(list(range(42, 48)), closed=True)):
        pair(i, j)                                                            # eyes: 12
    for i, j in _segment_midpoints([27, 28, 29, 30]) + _segment_midpoints(list(range(31, 36))):
        pair(i, j)                                                            # nose: 3 + 4
    for i, j in ((1, 36), (2, 31), (3, 48), (4, 48), (15, 45), (14, 35), (13, 54), (12, 54), (8, 57)):
        pair(i, j)                                                            # cheeks, chin: 9
    weights = np.stack(rows)
    assert weights.shape == (NUM_DERIVED, NUM_DETECTED)
    return weights


DERIVED_WEIGHTS = _build_derived_weights()


def _build_flip_140():
    full = np.concatenate([np.eye(NUM_DETECTED), DERIVED_WEIGHTS])
    mirrored = full[:, FLIP_68]   # row r of the mirrored face, written in the original point order
    flip = np.empty(NUM_LANDMARKS, dtype=np.int64)
    for r in range(NUM_LANDMARKS):
        match = np.flatnonzero(np.all(np.abs(full - mirrored[r]) < 1e-12, axis=1))
        assert match.size == 1, r
        flip[r] = match[0]
    return flip


FLIP_140 = _build_flip_140()


def derive_landmarks(points68):
    """(..., 68, D) -> (..., 140, D): the 68 detected points followed by the 72 derived ones."""
    points68 = np.asarray(points68)
    if points68.shape[-2] != NUM_DETECTED:
        raise ValueError(f"expected (..., 68, D) landmarks, got shape {points68.shape}")
    derived = np.einsum("kj,...jd->...kd", DERIVED_WEIGHTS, points68)
    return np.concatenate([points68, derived.astype(points68.dtype)], axis=-2)


def flip_landmarks(landmarks, size):
    """Horizontal flip of (..., Q, 2) (x, y) pixel landmarks in a size x size crop, re-ordered so that
    index i keeps its semantic meaning (left eye stays 'left eye' of the flipped face)."""
    landmarks = np.asarray(landmarks)
    permutation = FLIP_140 if landmarks.shape[-2] == NUM_LANDMARKS else FLIP_68
    flipped = landmarks[..., permutation, :].copy()
    flipped[..., 0] = (size - 1) - flipped[..., 0]
    return flipped


@functools.lru_cache(maxsize=1)
def mean_face_68():
    """The 68 x 3 mean face (x right, y down, z toward the camera; arbitrary unit scale)."""
    table = np.loadtxt(_MEANFACE_CSV, delimiter=",", comments="#", skiprows=5, dtype=np.float64)
    return table


def mean_face_140():
    """The 140 x 3 mean face with derived vertices."""
    return derive_landmarks(mean_face_68())


# A face's 68 landmarks lie within this relative residual of an affine image of the mean face (face_shape_residual):
# the projection of the mean face turned 90 degrees and tilted 45 degrees is at 0.61, random points and shuffled
# landmarks at 0.98, points on a circle or a grid at 0.85.
MAX_FACE_SHAPE_RESIDUAL = 0.75


def face_shape_residual(points):
    """(...,) how far (..., Q, 2) landmarks (Q = 68 or 140: the first 68 are dlib's) are from a face's shape: the
    RMS residual of the best affine map of the mean face's (x, y) onto them, over their RMS spread. 0 for the
    mean face under any affine map, about 1 for points without a face's layout; pose alone stays below 0.62."""
    points = np.asarray(points, np.float64)[..., :NUM_DETECTED, :]
    if points.shape[-2] != NUM_DETECTED:
        raise ValueError(f"expected (..., 68 or 140, 2) landmarks, got shape {points.shape}")
    basis = np.concatenate([mean_face_68()[:, :2], np.ones((NUM_DETECTED, 1))], axis=1)
    fitted = basis @ (np.linalg.pinv(basis) @ points)
    residual = ((points - fitted) ** 2).sum(axis=(-2, -1))
    spread = ((points - points.mean(axis=-2, keepdims=True)) ** 2).sum(axis=(-2, -1))
    return np.sqrt(residual / np.maximum(spread, 1e-12))


# Crop rule: a square centred on the box of the 68 landmarks, CROP_SCALE times its longer side, moved up by
# CROP_SHIFT of that side so that the forehead (where the derived forehead points lie) fits.
CROP_SCALE = 1.5
CROP_SHIFT = 0.1


def crop_box(points68, scale=CROP_SCALE, shift=CROP_SHIFT):
    """Square crop (x0, y0, side) in the source image for (68, 2) landmarks."""
    points68 = np.asarray(points68, dtype=np.float64)
    low, high = points68.min(axis=0), points68.max(axis=0)
    extent = float(np.max(high - low))
    side = scale * extent
    center = (low + high) / 2.0 - np.array([0.0, shift * extent])
    return float(center[0] - side / 2), float(center[1] - side / 2), float(side)


def canonical_landmarks(size, num_landmarks=NUM_LANDMARKS):
    """The frontal mean face as (Q, 2) pixel landmarks in a size x size crop made by `crop_box`."""
    points = mean_face_68()[:, :2]
    x0, y0, side = crop_box(points)
    points = (points - np.array([x0, y0])) * ((size - 1) / side)
    if num_landmarks == NUM_DETECTED:
        return points
    return derive_landmarks(points)


@functools.lru_cache(maxsize=4)
def face_triangles(num_landmarks=NUM_LANDMARKS):
    """Fixed (T, 3) int32 triangle list over `num_landmarks` landmarks followed by the 8 border anchors.

    Delaunay over the mean layout in a unit crop; every face shares this one topology."""
    unit = 2.0  # a "2-pixel" crop: pixel coordinates run over [0, 1]
    points = np.concatenate([canonical_landmarks(unit, num_landmarks), border_anchors(unit)])
    triangles = Delaunay(points).simplices.astype(np.int32)
    # A stable order (sorted vertex triples) so the list does not depend on qhull's internals.
    triangles = np.sort(triangles, axis=1)
    return triangles[np.lexsort(triangles.T[::-1])]
