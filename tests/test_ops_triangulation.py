"""triangle_barycentrics + dense_offsets (Eq. 13-14) against per-pixel numpy solves, scipy's
LinearNDInterpolator and an exact affine warp."""
import numpy as np
import pytest
import tensorflow as tf
from scipy import ndimage
from scipy.interpolate import LinearNDInterpolator

from physstd.data import face_model
from physstd.ops import dense_offsets, dense_warp, triangle_barycentrics

N = 64
TRIANGLES = face_model.face_triangles()


def _pixels(size):
    """(size*size, 2) pixel centres (x, y), row-major."""
    rows, cols = np.mgrid[0:size, 0:size]
    return np.stack([cols.ravel(), rows.ravel()], axis=-1).astype(np.float64)


def _reference_barycentrics(landmarks, triangles, size):
    """Per triangle, a 3 x 3 solve [[x0 x1 x2], [y0 y1 y2], [1 1 1]] w = [x, y, 1] for every pixel;
    a pixel takes the last (highest-index) triangle whose weights are all >= 0."""
    points = np.concatenate([landmarks, face_model.border_anchors(size)])
    pixels = np.concatenate([_pixels(size), np.ones((size * size, 1))], axis=1)
    index = np.full(size * size, -1)
    weights = np.zeros((size * size, 3))
    for t, vertices in enumerate(triangles):
        system = np.concatenate([points[vertices].T, np.ones((1, 3))])
        w = np.linalg.solve(system, pixels.T).T
        inside = np.all(w >= -1e-9, axis=1)
        index[inside], weights[inside] = t, w[inside]
    return index.reshape(size, size), weights.reshape(size, size, 3)


def _perturbed_landmarks(seed, scale):
    rng = np.random.default_rng(seed)
    return face_model.canonical_landmarks(N) + rng.normal(0.0, scale, (face_model.NUM_LANDMARKS, 2))


def _offsets(dst, src, size=N, jit_compile=False):
    index, weights = triangle_barycentrics(dst, TRIANGLES, size)
    run = tf.function(dense_offsets, jit_compile=jit_compile)
    return run((index[None], weights[None]), dst[None].astype(np.float32), src[None].astype(np.float32),
               tf.constant(TRIANGLES)).numpy()[0]


@pytest.mark.parametrize("seed, noise", [(0, 0.0), (1, 0.3), (2, 2.0)])
def test_barycentrics_match_per_pixel_solves(seed, noise):
    # noise 2 px folds some triangles at N = 64 (shortest edge 0.4 px): overlaps resolve to the higher index.
    landmarks = _perturbed_landmarks(seed, noise)
    index, weights = triangle_barycentrics(landmarks, TRIANGLES, N)
    want_index, want_weights = _reference_barycentrics(landmarks, TRIANGLES, N)
    assert index.dtype == np.int32 and weights.dtype == np.float32
    np.testing.assert_array_equal(index, want_index)
    np.testing.assert_allclose(weights, want_weights, atol=1e-5, rtol=0)


def test_weights_sum_to_one_and_reconstruct_the_pixel():
    landmarks = _perturbed_landmarks(3, 0.3)
    index, weights = triangle_barycentrics(landmarks, TRIANGLES, N)
    assert np.all(index >= 0)       # landmarks inside the crop: the anchored triangulation covers it all
    points = np.concatenate([landmarks, face_model.border_anchors(N)])
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-6)
    assert weights.min() > -1e-6
    rebuilt = np.einsum("hwk,hwkd->hwd", weights.astype(np.float64), points[TRIANGLES[index]])
    np.testing.assert_allclose(rebuilt.reshape(-1, 2), _pixels(N), atol=1e-4, rtol=0)


def test_uncovered_pixels_and_overlap_rule_on_a_hand_made_case():
    # Q = 3 landmarks; triangle 0 = (0, 1, 2), triangle 1 = (0, 1, 3) where point 3 is the first border
    # anchor (0, 0). They share the edge y = 2, 2 <= x <= 6, which goes to the higher index, 1.
    # Triangle 0 holds x, y >= 2 with (x - 2) + (y - 2) <= 4; triangle 1 lies between y = x / 3 and y = x.
    landmarks = np.array([[2.0, 2.0], [6.0, 2.0], [2.0, 6.0]])
    triangles = np.array([[0, 1, 2], [0, 1, 3]])
    index, weights = triangle_barycentrics(landmarks, triangles, 8)
    want = np.full((8, 8), -1)
    want[0, 0] = want[1, 1:4] = want[2, 2:7] = 1
    for y in range(3, 7):
        want[y, 2:2 + 7 - y] = 0
    np.testing.assert_array_equal(index, want)
    np.testing.assert_allclose(weights[2, 4], [0.5, 0.5, 0.0], atol=1e-7)   # middle of the shared edge
    np.testing.assert_allclose(weights[4, 2], [0.5, 0.0, 0.5], atol=1e-7)
    np.testing.assert_allclose(weights[1, 3], [0.0, 0.5, 0.5], atol=1e-7)   # (3, 1) = ((6, 2) + (0, 0)) / 2
    assert np.all(weights[index == -1] == 0)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match=r"\(Q, 2\)"):
        triangle_barycentrics(np.zeros((140, 3)), TRIANGLES, N)
    with pytest.raises(ValueError, match="148 points"):
        triangle_barycentrics(np.zeros((140, 2)), TRIANGLES + 1, N)
    with pytest.raises(ValueError, match="NaN"):
        triangle_barycentrics(np.full((140, 2), np.nan), TRIANGLES, N)


def test_offsets_match_linear_nd_interpolator():
    # On the canonical layout scipy's Delaunay is exactly face_triangles (checked here), so
    # LinearNDInterpolator of the sparse offsets src - dst (anchors: 0) is Eq. 14's Tri(p0, s, ds).
    dst = face_model.canonical_landmarks(N)
    points = np.concatenate([dst, face_model.border_anchors(N)])
    interpolator = LinearNDInterpolator(points, np.zeros((len(points), 2)))
    simplices = np.sort(interpolator.tri.simplices, axis=1)
    np.testing.assert_array_equal(simplices[np.lexsort(simplices.T[::-1])], TRIANGLES)

    src = _perturbed_landmarks(4, 1.5)
    sparse = np.concatenate([src - dst, np.zeros((8, 2))])
    want_xy = LinearNDInterpolator(points, sparse)(_pixels(N))
    got = _offsets(dst, src)
    assert got.shape == (N, N, 2) and got.dtype == np.float32
    np.testing.assert_allclose(got[..., ::-1].reshape(-1, 2), want_xy, atol=1e-4, rtol=0)
    np.testing.assert_allclose(_offsets(dst, src, jit_compile=True), got, atol=1e-5, rtol=0)


def test_offsets_vanish_on_the_border_and_when_shapes_agree():
    dst = _perturbed_landmarks(5, 0.3)
    src = _perturbed_landmarks(6, 1.5)
    offsets = _offsets(dst, src)
    assert np.abs(offsets).max() > 1.0
    border = np.ones((N, N), bool)
    border[1:-1, 1:-1] = False
    assert np.abs(offsets[border]).max() < 1e-4
    np.testing.assert_array_equal(_offsets(dst, dst), 0.0)


def test_uncovered_pixels_get_zero_offset():
    # With only the triangles between landmarks, pixels outside the face hull are uncovered (index -1).
    face_triangles = TRIANGLES[np.all(TRIANGLES < face_model.NUM_LANDMARKS, axis=1)]
    dst = face_model.canonical_landmarks(N)
    src = dst + 5.0
    index, weights = triangle_barycentrics(dst, face_triangles, N)
    assert 0.2 < np.mean(index == -1) < 0.8
    offsets = dense_offsets((index[None], weights[None]), dst[None], src[None], face_triangles).numpy()[0]
    np.testing.assert_array_equal(offsets[index == -1], 0.0)
    np.testing.assert_allclose(offsets[index >= 0], 5.0, atol=1e-4)   # a pure shift inside


def test_affine_landmarks_give_the_affine_warp_inside_the_face():
    # src = A dst + t on the landmarks (anchors stay fixed). Inside any triangle of landmarks only, the
    # piecewise-affine map is that affine map, so the warp equals sampling src_image at A p + t.
    angle = np.deg2rad(8.0)
    matrix = 1.1 * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    shift = np.array([2.0, -1.5])
    dst = _perturbed_landmarks(7, 0.2)
    src = dst @ matrix.T + shift
    offsets = _offsets(dst, src)

    pixels = _pixels(N)
    mapped = pixels @ matrix.T + shift
    index, _ = triangle_barycentrics(dst, TRIANGLES, N)
    face_only = np.all(TRIANGLES[index] < face_model.NUM_LANDMARKS, axis=-1).ravel()
    assert face_only.mean() > 0.3
    np.testing.assert_allclose(offsets[..., ::-1].reshape(-1, 2)[face_only], (mapped - pixels)[face_only],
                               atol=1e-4, rtol=0)

    rng = np.random.default_rng(8)
    src_image = ndimage.gaussian_filter(rng.random((N, N, 3)), sigma=(2, 2, 0)).astype(np.float32)
    warped = dense_warp(src_image[None], offsets[None]).numpy()[0].reshape(-1, 3)
    coordinates = mapped[:, ::-1].T               # (y, x) rows for map_coordinates
    want = np.stack([ndimage.map_coordinates(src_image[..., c], coordinates, order=1, mode="nearest")
                     for c in range(3)], axis=-1)
    np.testing.assert_allclose(warped[face_only], want[face_only], atol=1e-4, rtol=0)


def test_dense_offsets_pairs_faces_within_a_batch():
    # Batched call = per-example calls; each example uses its own barycentric map and landmarks.
    dst = np.stack([_perturbed_landmarks(9, 0.3), _perturbed_landmarks(10, 0.3)])
    src = np.stack([_perturbed_landmarks(11, 1.0), _perturbed_landmarks(12, 1.0)])
    bary = [triangle_barycentrics(d, TRIANGLES, N) for d in dst]
    batched = dense_offsets((np.stack([b[0] for b in bary]), np.stack([b[1] for b in bary])),
                            dst.astype(np.float32), src.astype(np.float32), TRIANGLES).numpy()
    for b in range(2):
        np.testing.assert_allclose(batched[b], _offsets(dst[b], src[b]), atol=1e-6, rtol=0)


def test_dense_offsets_and_warp_trace_with_unknown_batch_size():
    # The input pipeline may deliver batches of unknown size; the graph must not need static B.
    dst = _perturbed_landmarks(13, 0.3)
    src = _perturbed_landmarks(14, 1.0)
    index, weights = triangle_barycentrics(dst, TRIANGLES, N)
    image = np.random.default_rng(15).random((1, N, N, 3)).astype(np.float32)

    @tf.function(input_signature=[tf.TensorSpec([None, N, N], tf.int32), tf.TensorSpec([None, N, N, 3]),
                                  tf.TensorSpec([None, None, 2]), tf.TensorSpec([None, None, 2]),
                                  tf.TensorSpec([None, N, N, 3])])
    def synthesize(index, weights, dst, src, image):
        return dense_warp(image, dense_offsets((index, weights), dst, src, TRIANGLES))

    got = synthesize(index[None], weights[None], dst[None].astype(np.float32), src[None].astype(np.float32), image)
    want = dense_warp(image, _offsets(dst, src)[None])
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-6, rtol=0)
