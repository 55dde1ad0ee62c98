"""Sparse landmark offsets -> dense offsets by piecewise-affine interpolation over a fixed triangle list
(PhySTD paper, Eq. 13-14: the 3D warping layer).

Split in two so that training stays cheap: `triangle_barycentrics` rasterizes one face's triangulation in the
input pipeline (numpy, once per image); `dense_offsets` turns any pair of faces in a batch into dense offsets
with one in-graph gather. The triangle list is `physstd.data.face_model.face_triangles()`; it indexes the
Q landmarks followed by the 8 fixed `physstd.config.border_anchors`, so the triangulation covers the whole
crop and every anchor maps to itself: dense offsets are continuous and fall to zero at the image border.
"""
import numpy as np
import tensorflow as tf

from physstd.config import border_anchors

# A pixel on a shared edge or vertex belongs to every triangle touching it; this tolerance on the barycentric
# weights keeps such pixels "inside" despite float64 rounding (1e-9 of a weight is ~1e-7 px at N = 256).
_INSIDE_TOLERANCE = 1e-9
_NUM_ANCHORS = len(border_anchors(2))


def _check_landmarks(landmarks, triangles):
    if landmarks.ndim != 2 or landmarks.shape[1] != 2:
        raise ValueError(f"triangle_barycentrics: expected landmarks of shape (Q, 2) (x, y), got {landmarks.shape}")
    if triangles.ndim != 2 or triangles.shape[1] != 3:
        raise ValueError(f"triangle_barycentrics: expected triangles of shape (T, 3), got {triangles.shape}")
    if not np.all(np.isfinite(landmarks)):
        raise ValueError("triangle_barycentrics: landmarks contain NaN or inf")
    num_points = landmarks.shape[0] + _NUM_ANCHORS
    if triangles.size and (triangles.min() < 0 or triangles.max() >= num_points):
        raise ValueError(f"triangle_barycentrics: triangles index {landmarks.shape[0]} landmarks + 8 border "
                         f"anchors = {num_points} points, got indices in [{triangles.min()}, {triangles.max()}]")


def _ramps(lengths):
    """Concatenated aranges: [0..lengths[0]-1, 0..lengths[1]-1, ...]."""
    starts = np.cumsum(lengths) - lengths
    return np.arange(lengths.sum()) - np.repeat(starts, lengths)


def _row_spans(corners, y):
    """x-range where the horizontal line at height y crosses each triangle (corners (R, 3, 2)).

    Only slanted edges are intersected: a horizontal edge's ends are also ends of the other two edges.
    A row that misses its triangle (by rounding at a vertex) gets (inf, -inf), an empty span."""
    start = np.full(len(y), np.inf)
    end = np.full(len(y), -np.inf)
    for a, b in ((0, 1), (1, 2), (2, 0)):
        xa, ya = corners[:, a, 0], corners[:, a, 1]
        xb, yb = corners[:, b, 0], corners[:, b, 1]
        crosses = ((np.minimum(ya, yb) - 1e-9 <= y) & (y <= np.maximum(ya, yb) + 1e-9) & (ya != yb))
        x = xa + (y - ya) * (xb - xa) / np.where(crosses, yb - ya, 1.0)
        start = np.where(crosses, np.minimum(start, x), start)
        end = np.where(crosses, np.maximum(end, x), end)
    return start, end


def triangle_barycentrics(landmarks, triangles, size):
    """Eq. 14 (rasterization half): per pixel of a size x size crop, the containing triangle and its weights.

    landmarks (Q, 2) (x, y) pixels without anchors; `border_anchors(size)` is appended here and `triangles`
    (T, 3) indexes the Q + 8 points. Pixel (x, y) has its centre at integer coordinates (x, y).
    Returns (triangle_index (size, size) int32, -1 outside every triangle; weights (size, size, 3) float32,
    0 where the index is -1), with pixel = sum_k weights[..., k] * points[triangles[index, k]].

    Where triangles overlap (a fold on an extreme pose) the triangle with the highest index in `triangles`
    wins; pixels on a shared edge likewise go to the higher index (both give the same interpolation there).
    Vectorized scanline rasterization over all triangles at once; no Python loop over triangles or pixels.
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    triangles = np.asarray(triangles, dtype=np.int64)
    _check_landmarks(landmarks, triangles)
    points = np.concatenate([landmarks, border_anchors(size)])
    corners = points[triangles]                                       # (T, 3, 2)

    # Barycentrics from the inverse of the 2 x 2 edge matrix [v1 - v0, v2 - v0]; skip degenerate triangles.
    edge1 = corners[:, 1] - corners[:, 0]
    edge2 = corners[:, 2] - corners[:, 0]
    determinant = edge1[:, 0] * edge2[:, 1] - edge1[:, 1] * edge2[:, 0]
    area_scale = np.maximum(np.abs(edge1).max(1), np.abs(edge2).max(1)) ** 2
    valid = np.abs(determinant) > 1e-12 * area_scale

    # Scanline rasterization, vectorized: one entry per (triangle, pixel row it spans), then one per
    # (triangle, pixel) candidate on that row. Candidates cover the row's exact span widened by one pixel on
    # each side; the barycentric test below decides what is inside.
    top = np.clip(np.ceil(corners[:, :, 1].min(axis=1) - 1e-9), 0, size - 1).astype(np.int64)
    bottom = np.clip(np.floor(corners[:, :, 1].max(axis=1) + 1e-9), 0, size - 1).astype(np.int64)
    num_rows = np.where(valid, bottom - top + 1, 0).clip(min=0)
    triangle_of_row = np.repeat(np.arange(len(triangles)), num_rows)
    row_y = top[triangle_of_row] + _ramps(num_rows)
    row_start, row_end = _row_spans(corners[triangle_of_row], row_y)
    row_start = np.clip(np.floor(row_start) - 1, 0, size - 1).astype(np.int64)
    row_end = np.clip(np.ceil(row_end) + 1, 0, size - 1).astype(np.int64)
    row_length = np.maximum(row_end - row_start + 1, 0)

    triangle_of = np.repeat(triangle_of_row, row_length)
    py = np.repeat(row_y, row_length)
    px = np.repeat(row_start, row_length) + _ramps(row_length)

    inverse_determinant = np.zeros_like(determinant)
    inverse_determinant[valid] = 1.0 / determinant[valid]
    dx = px - corners[triangle_of, 0, 0]
    dy = py - corners[triangle_of, 0, 1]
    scale = inverse_determinant[triangle_of]
    weight1 = (dx * edge2[triangle_of, 1] - dy * edge2[triangle_of, 0]) * scale
    weight2 = (dy * edge1[triangle_of, 0] - dx * edge1[triangle_of, 1]) * scale
    weight0 = 1.0 - weight1 - weight2
    inside = ((weight0 >= -_INSIDE_TOLERANCE) & (weight1 >= -_INSIDE_TOLERANCE)
              & (weight2 >= -_INSIDE_TOLERANCE))

    # Overlaps (shared edges, folds) are resolved deterministically: the highest triangle index wins.
    pixel = py * size + px
    triangle_index = np.full(size * size, -1, dtype=np.int32)
    np.maximum.at(triangle_index, pixel[inside], triangle_of[inside].astype(np.int32))
    chosen = inside & (triangle_of == triangle_index[pixel])
    weights = np.zeros((size * size, 3), dtype=np.float32)
    weights[pixel[chosen]] = np.stack([weight0[chosen], weight1[chosen], weight2[chosen]], axis=-1)
    return triangle_index.reshape(size, size), weights.reshape(size, size, 3)


def dense_offsets(bary, dst_landmarks, src_landmarks, triangles):
    """Eq. 14: dense (B,H,W,2) (dy, dx) offsets from destination pixels to their source positions.

    bary = (triangle_index (B,H,W) int32, weights (B,H,W,3) float32) from `triangle_barycentrics` of the
    *destination* landmarks; landmarks (B,Q,2) (x, y) without anchors (the anchors are appended here, with
    offset 0 since they are fixed).
    Each pixel interpolates the sparse offsets src - dst of its triangle's vertices, so that
    p + offset(p) = sum_k w_k src[v_k] inside the destination triangulation; pixels with index -1 get 0.
    Anchors are fixed, so offsets are 0 at the border and continuous. `dense_warp(src_image, offsets)` then
    moves source content onto the destination geometry (Eq. 15).
    """
    triangle_index, weights = bary
    triangle_index = tf.convert_to_tensor(triangle_index, tf.int32)
    weights = tf.convert_to_tensor(weights, tf.float32)
    shape = tf.shape(triangle_index)
    batch, height, width = shape[0], shape[1], shape[2]
    # Sparse offsets (B, Q+8, 2) (x, y) of the Q landmarks followed by the anchors, which never move.
    landmark_offsets = tf.cast(src_landmarks, tf.float32) - tf.cast(dst_landmarks, tf.float32)
    sparse_offsets = tf.pad(landmark_offsets, [[0, 0], [0, _NUM_ANCHORS], [0, 0]])

    covered = triangle_index >= 0
    vertices = tf.gather(tf.convert_to_tensor(triangles, tf.int32), tf.maximum(triangle_index, 0))  # (B,H,W,3)
    vertex_offsets = tf.gather(sparse_offsets, tf.reshape(vertices, [batch, -1]), batch_dims=1)
    vertex_offsets = tf.reshape(vertex_offsets, [batch, height, width, 3, 2])
    offsets_xy = tf.reduce_sum(weights[..., None] * vertex_offsets, axis=3)
    offsets_xy = tf.where(covered[..., None], offsets_xy, tf.zeros_like(offsets_xy))
    return tf.reverse(offsets_xy, axis=[-1])                                     # (dx, dy) -> (dy, dx)
