import matplotlib.tri
import numpy as np
import pytest
from matplotlib.path import Path
from scipy.optimize import least_squares
from scipy.spatial import ConvexHull
from scipy.spatial.transform import Rotation

from physstd.data import face_model, geometry


@pytest.mark.parametrize("euler, scale, shift", [((0, 0, 0), 1.0, (0, 0)), ((10, -25, 5), 80.0, (120, 130)),
                                                 ((-30, 40, -15), 3.5, (-7.5, 2.25))])
def test_fit_recovers_a_known_pose_exactly(euler, scale, shift):
    model = face_model.mean_face_68()
    rotation = Rotation.from_euler("xyz", euler, degrees=True).as_matrix()
    projected = (scale * model @ rotation.T)[:, :2] + np.array(shift)
    fit = geometry.fit_weak_perspective(projected)
    assert fit.scale == pytest.approx(scale, rel=1e-10)
    np.testing.assert_allclose(fit.rotation, rotation, atol=1e-10)
    np.testing.assert_allclose(fit.translation, shift, atol=1e-8 * scale)
    # The fitted shape is the model in image coordinates, z scaled by the same scale.
    np.testing.assert_allclose(fit.shape[:, :2], projected, atol=1e-8 * scale)
    np.testing.assert_allclose(fit.shape[:, 2], scale * (model @ rotation.T)[:, 2], atol=1e-8 * scale)


def test_fit_reaches_the_least_squares_optimum_on_noisy_points():
    model = face_model.mean_face_68()
    rotation = Rotation.from_euler("xyz", (5, 20, -10), degrees=True).as_matrix()
    rng = np.random.default_rng(3)
    noisy = (60.0 * model @ rotation.T)[:, :2] + (40.0, 50.0) + rng.normal(0, 1.5, (68, 2))
    fit = geometry.fit_weak_perspective(noisy)

    def residual(p):
        return (noisy - geometry.project_weak_perspective(model, p[0], Rotation.from_rotvec(p[1:4]).as_matrix(),
                                                          p[4:6])[:, :2]).ravel()

    start = np.r_[50.0, Rotation.from_matrix(rotation).as_rotvec() + 0.1, 35.0, 55.0]
    reference = least_squares(residual, start, xtol=1e-14, ftol=1e-14, gtol=1e-14)
    ours = np.r_[fit.scale, Rotation.from_matrix(fit.rotation).as_rotvec(), fit.translation]
    assert np.sum(residual(ours) ** 2) <= np.sum(reference.fun ** 2) * (1 + 1e-9)
    np.testing.assert_allclose(ours, reference.x, atol=1e-5)
    np.testing.assert_allclose(fit.rotation @ fit.rotation.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(fit.rotation) == pytest.approx(1.0)


def test_fit_rejects_wrong_shapes():
    with pytest.raises(ValueError, match=r"\(Q, 2\)"):
        geometry.fit_weak_perspective(np.zeros((67, 2)))


def test_rotation_from_axis_angle_matches_scipy():
    for rotvec in ([0.3, -0.2, 0.9], [0, 0, 0], [1e-3, 2.0, -1.0]):
        np.testing.assert_allclose(geometry.rotation_from_axis_angle(rotvec),
                                   Rotation.from_rotvec(rotvec).as_matrix(), atol=1e-14)


def _frontal_vertices(size):
    return np.concatenate([face_model.canonical_landmarks(size), face_model.mean_face_140()[:, 2:]], axis=1)


def test_depth_of_the_frontal_mean_face_peaks_at_the_nose_tip_and_is_zero_outside():
    size = depth_size = 64
    vertices = _frontal_vertices(size)
    depth = geometry.render_depth(vertices, size, depth_size)
    assert depth.dtype == np.float32 and depth.shape == (depth_size, depth_size)
    assert depth.min() == 0.0 and 0.97 < depth.max() <= 1.0
    peak_y, peak_x = np.unravel_index(np.argmax(depth), depth.shape)
    tip_x, tip_y = vertices[30, :2]
    assert abs(peak_x - tip_x) <= 1 and abs(peak_y - tip_y) <= 1
    # Outside the landmark hull (pixel centres more than half a pixel out) the map is background.
    ys, xs = np.mgrid[0:size, 0:size]
    centres = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(float)
    hull = ConvexHull(vertices[:, :2])
    distance_out = (centres @ hull.equations[:, :2].T + hull.equations[:, 2]).max(axis=1)
    assert (depth.ravel()[distance_out > 0.5] == 0).all()
    assert (depth.ravel()[distance_out < -2] > 0).mean() > 0.97   # and the face itself is covered


def test_depth_is_linear_inside_triangles_like_matplotlib_interpolation():
    # Frontal face: triangles do not overlap, so the z-buffer reduces to piecewise-linear interpolation.
    size, depth_size = 64, 16
    vertices = _frontal_vertices(size)
    triangles = geometry.face_only_triangles()
    depth = geometry.render_depth(vertices, size, depth_size)
    z = vertices[:, 2]
    z = (z - z[np.unique(triangles)].min()) / (z[np.unique(triangles)].max() - z[np.unique(triangles)].min())
    grid = (vertices[:, :2] + 0.5) * depth_size / size - 0.5
    interpolator = matplotlib.tri.LinearTriInterpolator(
        matplotlib.tri.Triangulation(grid[:, 0], grid[:, 1], triangles), z)
    ys, xs = np.mgrid[0:depth_size, 0:depth_size].astype(float)
    reference = interpolator(xs, ys)
    inside = ~np.ma.getmaskarray(reference)
    assert inside.sum() > 60
    np.testing.assert_allclose(depth[inside], reference[inside].astype(np.float64), atol=1e-5)
    assert (depth[~inside] == 0).all()


def test_depth_keeps_the_nearest_of_overlapping_triangles():
    # A far triangle over the whole 8x8 map (z = 0.5), a near one over the top-left (z = 1), a hidden one
    # under it (z = 0.2), and a farthest one off the map that only fixes the normalisation (z = 0).
    vertices = np.array([[-1, -1, 0.5], [20, -1, 0.5], [-1, 20, 0.5],
                         [-0.5, -0.5, 1.0], [4.5, -0.5, 1.0], [-0.5, 4.5, 1.0],
                         [-0.5, -0.5, 0.2], [3.5, -0.5, 0.2], [-0.5, 3.5, 0.2],
                         [100, 100, 0.0], [101, 100, 0.0], [100, 101, 0.0]])
    triangles = np.arange(12).reshape(4, 3)
    depth = geometry.render_depth(vertices, 8, 8, triangles)
    near = np.add.outer(np.arange(8), np.arange(8)) <= 4   # pixel centres with x + y <= 4 (edge included)
    np.testing.assert_allclose(depth[near], 1.0)
    np.testing.assert_allclose(depth[~near], 0.5)          # the far triangle covers every other centre


def test_preliminary_mask_whole_none_and_outside_face():
    size = 64
    landmarks = face_model.canonical_landmarks(size)
    np.testing.assert_array_equal(geometry.preliminary_mask(landmarks, "whole", size), np.ones((size, size)))
    np.testing.assert_array_equal(geometry.preliminary_mask(landmarks, "none", size), np.zeros((size, size)))
    outside = geometry.preliminary_mask(landmarks, "outside_face", size)
    assert outside.dtype == np.uint8
    assert outside[0, 0] == 1 and outside[size - 1, size - 1] == 1
    tip = np.round(landmarks[30]).astype(int)
    assert outside[tip[1], tip[0]] == 0
    # Against matplotlib's point-in-polygon on the hull, away from the outline.
    hull = ConvexHull(landmarks)
    path = Path(landmarks[hull.vertices])
    ys, xs = np.mgrid[0:size, 0:size]
    centres = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(float)
    inside_ref = path.contains_points(centres)
    margin = np.abs((centres @ hull.equations[:, :2].T + hull.equations[:, 2]).max(axis=1)) > 0.25
    np.testing.assert_array_equal(outside.ravel()[margin], (~inside_ref[margin]).astype(np.uint8))


def _axis_landmarks(eyes, tip, mouth):
    """Landmarks where only the eye centre, the nose tip and the mouth centre matter."""
    points = np.zeros((face_model.NUM_LANDMARKS, 2))
    points[36:48], points[30], points[48:68] = eyes, tip, mouth
    return points


def test_preliminary_mask_lower_and_upper_face_for_an_upright_face():
    size = 64
    landmarks = _axis_landmarks(eyes=(32, 20), tip=(32, 30), mouth=(32, 44))
    rows = np.arange(size)[:, None] * np.ones((1, size))
    lower = geometry.preliminary_mask(landmarks, "lower_face", size)
    np.testing.assert_array_equal(lower, (rows > 25).astype(np.uint8))     # below y = (20 + 30) / 2
    upper = geometry.preliminary_mask(landmarks, "upper_face", size)
    np.testing.assert_array_equal(upper, (rows <= 30).astype(np.uint8))    # down to the nose tip


def test_preliminary_mask_follows_in_plane_rotation():
    # The face lying on its side, chin to the left: "below the eyes" means x smaller than the boundary.
    size = 64
    landmarks = _axis_landmarks(eyes=(40, 32), tip=(30, 32), mouth=(16, 32))
    columns = np.ones((size, 1)) * np.arange(size)[None, :]
    np.testing.assert_array_equal(geometry.preliminary_mask(landmarks, "lower_face", size),
                                  (columns < 35).astype(np.uint8))
    np.testing.assert_array_equal(geometry.preliminary_mask(landmarks, "upper_face", size),
                                  (columns >= 30).astype(np.uint8))


def test_preliminary_mask_unknown_region_raises():
    with pytest.raises(ValueError, match="upper_face"):
        geometry.preliminary_mask(face_model.canonical_landmarks(32), "eyes", 32)
