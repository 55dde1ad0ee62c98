"""Face geometry for data preparation, pure numpy/scipy: the weak-perspective fit of the mean
3D face to 68 landmarks, the depth ground truth M0 (PhySTD paper, Eq. 16) and the preliminary mask P0
(Eq. 19, Fig. 7).

Coordinates: (x, y) pixels with x right and y down; z toward the camera (larger z = nearer), the
convention of `face_model.mean_face_68()`.
"""
import collections

import numpy as np
from scipy.spatial import ConvexHull

from physstd.data import face_model

WeakPerspectiveFit = collections.namedtuple("WeakPerspectiveFit", "scale rotation translation shape")
WeakPerspectiveFit.__doc__ = """scale: float; rotation: (3, 3) proper rotation; translation: (2,) image shift;
shape: (Q, 3) fitted model in image coordinates, x, y = scale * (R X)[:2] + t and z = scale * (R X)[2]."""


def rotation_from_axis_angle(axis_angle):
    """Rodrigues' formula: (3,) axis * angle (radians) -> (3, 3) rotation matrix."""
    axis_angle = np.asarray(axis_angle, dtype=np.float64)
    angle = np.linalg.norm(axis_angle)
    if angle < 1e-15:
        return np.eye(3)
    kx, ky, kz = axis_angle / angle
    skew = np.array([[0.0, -kz, ky], [kz, 0.0, -kx], [-ky, kx, 0.0]])
    return np.eye(3) + np.sin(angle) * skew + (1.0 - np.cos(angle)) * skew @ skew


def project_weak_perspective(model, scale, rotation, translation):
    """(Q, 3) model -> (Q, 3) image coordinates: x, y = s (R X)[:2] + t; z = s (R X)[2] (z keeps the scale)."""
    rotated = scale * (np.asarray(model, dtype=np.float64) @ np.asarray(rotation).T)
    rotated[:, :2] += np.asarray(translation, dtype=np.float64)
    return rotated


def _initial_pose(points2d, model):
    """Closed-form start: the least-squares affine camera, projected to the nearest scaled rotation."""
    centred_2d = points2d - points2d.mean(axis=0)
    centred_3d = model - model.mean(axis=0)
    affine, *_ = np.linalg.lstsq(centred_3d, centred_2d, rcond=None)   # (3, 2): x ~ X @ affine
    u, singular, vt = np.linalg.svd(affine.T, full_matrices=False)     # affine.T = u diag(s) vt, (2, 3)
    rows = u @ vt
    rotation = np.vstack([rows, np.cross(rows[0], rows[1])])
    scale = float(singular.mean())
    translation = points2d.mean(axis=0) - scale * rotation[:2] @ model.mean(axis=0)
    return scale, rotation, translation


def fit_weak_perspective(points2d, model=None, iterations=30):
    """Least-squares weak-perspective fit min_{s,R,t} sum_i ||x_i - (s R[:2] X_i + t)||^2.

    points2d: (Q, 2) image landmarks; model: (Q, 3), default the 68-point mean face. Gauss-Newton on
    (s, a small rotation w applied as R <- exp([w]x) R, t) from the closed-form affine-camera start."""
    points2d = np.asarray(points2d, dtype=np.float64)
    model = face_model.mean_face_68() if model is None else np.asarray(model, dtype=np.float64)
    if points2d.ndim != 2 or points2d.shape[1] != 2 or model.shape != (points2d.shape[0], 3):
        raise ValueError(f"expected (Q, 2) landmarks and a (Q, 3) model, got {points2d.shape} and {model.shape}")
    scale, rotation, translation = _initial_pose(points2d, model)
    count = len(points2d)
    for _ in range(iterations):
        rotated = model @ rotation.T                     # Y_i = R X_i
        residual = points2d - (scale * rotated[:, :2] + translation)
        jacobian = np.zeros((count, 2, 6))
        jacobian[:, :, 0] = rotated[:, :2]               # d/ds
        # d(exp([w]x) Y)/dw at w = 0 is -[Y]x; keep the x and y rows.
        y0, y1, y2 = rotated[:, 0], rotated[:, 1], rotated[:, 2]
        jacobian[:, 0, 1:4] = scale * np.stack([np.zeros(count), y2, -y1], axis=1)
        jacobian[:, 1, 1:4] = scale * np.stack([-y2, np.zeros(count), y0], axis=1)
        jacobian[:, 0, 4] = 1.0
        jacobian[:, 1, 5] = 1.0
        step, *_ = np.linalg.lstsq(jacobian.reshape(-1, 6), residual.reshape(-1), rcond=None)
        scale += step[0]
        rotation = rotation_from_axis_angle(step[1:4]) @ rotation
        translation = translation + step[4:6]
        if np.abs(step).max() < 1e-12 * max(1.0, abs(scale)):
            break
    # Re-orthonormalise (accumulated products drift by ~1e-16 per step).
    u, _, vt = np.linalg.svd(rotation)
    rotation = u @ vt
    shape = project_weak_perspective(model, scale, rotation, translation)
    return WeakPerspectiveFit(float(scale), rotation, translation, shape)


def face_only_triangles(num_landmarks=face_model.NUM_LANDMARKS):
    """Rows of `face_model.face_triangles` that use no border anchor: the triangulated face surface."""
    triangles = face_model.face_triangles(num_landmarks)
    return triangles[(triangles < num_landmarks).all(axis=1)]


def render_depth(vertices, image_size, depth_size, triangles=None):
    """Depth ground truth M0 (PhySTD paper, Eq. 16): z-buffer rasterisation of a triangulated face at K x K.

    vertices: (Q, 3) (x, y) pixels in the N x N crop and z toward the camera (any unit). Inside each
    triangle z is linear (barycentric); where triangles overlap the nearest (largest z) wins. Normalised so
    the nearest vertex is 1 and the farthest face vertex 0; pixels outside the face are 0."""
    vertices = np.asarray(vertices, dtype=np.float64)
    triangles = face_only_triangles(len(vertices)) if triangles is None else np.asarray(triangles)
    used = vertices[np.unique(triangles)]
    z_near, z_far = used[:, 2].max(), used[:, 2].min()
    depth = np.zeros((depth_size, depth_size), dtype=np.float64)
    if z_near - z_far <= 0:
        return depth.astype(np.float32)
    # Crop pixel centres at 0..N-1 -> depth-map pixel centres at 0..K-1 (the same area, K/N the size).
    ratio = depth_size / image_size
    xy = (vertices[:, :2] + 0.5) * ratio - 0.5
    z = (vertices[:, 2] - z_far) / (z_near - z_far)
    corners, values = xy[triangles], z[triangles]                       # (T, 3, 2), (T, 3)
    (ax, ay), (bx, by), (cx, cy) = corners[:, 0].T, corners[:, 1].T, corners[:, 2].T
    twice_area = (bx - ax) * (cy - ay) - (cx - ax) * (by - ay)
    keep = np.abs(twice_area) > 1e-12                                   # degenerate triangles cover nothing
    # Barycentric weights and z are affine in the pixel position p = (x, y, 1): w = coefficients @ p.
    w_a = np.stack([by - cy, cx - bx, bx * cy - cx * by], axis=1)[keep] / twice_area[keep, None]
    w_b = np.stack([cy - ay, ax - cx, cx * ay - ax * cy], axis=1)[keep] / twice_area[keep, None]
    values = values[keep]
    z_plane = (w_a * (values[:, 0:1] - values[:, 2:3]) + w_b * (values[:, 1:2] - values[:, 2:3])
               + np.array([0.0, 0.0, 1.0]) * values[:, 2:3])
    # Candidate pixels: centres inside the face's bounding box; triangles in chunks to bound memory.
    low = np.clip(np.ceil(xy.min(axis=0)), 0, depth_size).astype(int)
    high = np.clip(np.floor(xy.max(axis=0)) + 1, 0, depth_size).astype(int)
    ys, xs = np.mgrid[low[1]:high[1], low[0]:high[0]].astype(np.float64)
    pixels = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)])      # (3, P)
    zbuffer = np.full(xs.size, -np.inf)
    chunk = max(1, 4_000_000 // max(1, xs.size))
    for first in range(0, len(values), chunk):
        part = slice(first, first + chunk)
        weight_a, weight_b = w_a[part] @ pixels, w_b[part] @ pixels    # (t, P)
        inside = (weight_a >= -1e-9) & (weight_b >= -1e-9) & (weight_a + weight_b <= 1 + 1e-9)
        pixel_z = np.where(inside, z_plane[part] @ pixels, -np.inf)
        zbuffer = np.maximum(zbuffer, pixel_z.max(axis=0))             # z-buffer: the nearest surface wins
    region = zbuffer.reshape(xs.shape)
    depth[low[1]:high[1], low[0]:high[0]] = np.where(np.isfinite(region), np.clip(region, 0.0, 1.0), 0.0)
    return depth.astype(np.float32)


def face_depth(landmarks, image_size, depth_size):
    """The fitted face's depth map (K, K) float32 in [0, 1] for (140, 2) crop landmarks: the mean
    face fitted to the 68 detected points gives each vertex its z; the vertices keep the landmarks' own (x, y),
    so the map follows this face's outline. M0 of a live frame (PhySTD paper, Eq. 16); De-Spoof's DQ-Net target
    for the reconstructed live face of every frame (De-Spoof paper, Sec. 3.3)."""
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if landmarks.shape != (face_model.NUM_LANDMARKS, 2):
        raise ValueError(f"expected ({face_model.NUM_LANDMARKS}, 2) landmarks, got {landmarks.shape}")
    fit = fit_weak_perspective(landmarks[:face_model.NUM_DETECTED])
    z = face_model.derive_landmarks(fit.shape)[:, 2:]
    return render_depth(np.concatenate([landmarks, z], axis=1), image_size, depth_size)


# P0 boundaries along the face's vertical axis (eye centre -> mouth centre), in units of landmarks, so they
# follow in-plane rotation: attacks over the eyes (funny eye, paper glasses) leave the face below the line
# halfway between the eye centre and the nose tip untouched; attacks over the mouth (partial paper) leave
# everything above the nose tip untouched.
_EYES = slice(36, 48)
_MOUTH = slice(48, 68)
_NOSE_TIP = 30
LOWER_FACE_FROM = 0.5   # fraction of the way from the eye centre to the nose tip
P0_REGIONS = ("none", "whole", "outside_face", "lower_face", "upper_face")


def face_hull_mask(landmarks, size):
    """(N, N) bool: pixels inside the convex hull of the landmarks (jaw, forehead and all inner points)."""
    points = np.asarray(landmarks, dtype=np.float64)[:, :2]
    hull = ConvexHull(points)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    grid = np.stack([xs.ravel(), ys.ravel()], axis=1)
    # hull.equations rows (n_x, n_y, c): n . p + c <= 0 for every point inside.
    inside = (grid @ hull.equations[:, :2].T + hull.equations[:, 2] <= 1e-9).all(axis=1)
    return inside.reshape(size, size)


def _below_line(landmarks, size, through):
    """(N, N) bool: pixels on the chin side of the line through `through`, perpendicular to the face axis."""
    landmarks = np.asarray(landmarks, dtype=np.float64)
    down = landmarks[_MOUTH].mean(axis=0) - landmarks[_EYES].mean(axis=0)
    down /= np.linalg.norm(down)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    return (xs - through[0]) * down[0] + (ys - through[1]) * down[1] > 0


def preliminary_mask(landmarks, region, size):
    """Preliminary mask P0 (PhySTD paper, Eq. 19, Fig. 7): (N, N) uint8, 1 = must not be inpainted.

    region (spoof_types p0_region): 'whole' (print, replay) all ones; 'outside_face' (masks, makeup) ones
    outside the face hull; 'lower_face' (attacks over the eyes) ones below a line between the eyes and the
    nose tip; 'upper_face' (attacks over the mouth) ones above the nose tip; 'none' (live, no inpainting
    prior; L_P is a spoof-only loss) all zeros."""
    if region == "none":
        return np.zeros((size, size), np.uint8)
    if region == "whole":
        return np.ones((size, size), np.uint8)
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if region == "outside_face":
        return (~face_hull_mask(landmarks, size)).astype(np.uint8)
    eyes, tip = landmarks[_EYES].mean(axis=0), landmarks[_NOSE_TIP]
    if region == "lower_face":
        return _below_line(landmarks, size, eyes + LOWER_FACE_FROM * (tip - eyes)).astype(np.uint8)
    if region == "upper_face":
        return (~_below_line(landmarks, size, tip)).astype(np.uint8)
    raise ValueError(f"unknown P0 region {region!r}; expected one of {', '.join(P0_REGIONS)}")
