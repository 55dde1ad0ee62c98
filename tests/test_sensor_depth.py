"""Sensor depth frames (physstd.data.sensor_depth): the PNG round trip and the crop warp over valid pixels."""
import os
import stat

import cv2
import numpy as np
import pytest

from physstd.data import sensor_depth
from physstd.data.face_model import mean_face_68
from physstd.data.preprocess import crop_affine, warp_to_crop

N = 32


def test_png_round_trip_keeps_the_dtype_and_the_users_file_mode(tmp_path):
    rng = np.random.default_rng(0)
    for dtype, high in ((np.uint16, 65535), (np.uint8, 255)):
        depth = rng.integers(0, high, (5, 7), endpoint=True).astype(dtype)
        path = str(tmp_path / f"{np.dtype(dtype).name}.png")
        sensor_depth.write_depth_png(path, depth)
        read = sensor_depth.read_depth_png(path)
        assert read.dtype == dtype
        np.testing.assert_array_equal(read, depth)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~umask
    assert sorted(os.listdir(tmp_path)) == ["uint16.png", "uint8.png"]   # no temporary file left


def test_bad_depth_frames_are_refused_naming_the_file(tmp_path):
    with pytest.raises(sensor_depth.DepthFormatError, match="d.png: expected a 2-D uint16"):
        sensor_depth.write_depth_png(str(tmp_path / "d.png"), np.zeros((4, 4), np.float32))
    cv2.imwrite(str(tmp_path / "rgb.png"), np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(sensor_depth.DepthFormatError, match="rgb.png: expected a 2-D"):
        sensor_depth.read_depth_png(str(tmp_path / "rgb.png"))
    with pytest.raises(sensor_depth.DepthFormatError, match="missing.png: missing"):
        sensor_depth.read_depth_png(str(tmp_path / "missing.png"))


def test_bilinear_over_valid_pixels_by_hand():
    """Source [[100, 0], [200, 300]] (0 a hole). At (x, y) = (0.5, 0.5) the four weights are 1/4: three are valid
    (support 3/4), the value is (100 + 200 + 300) / 3 = 200. At (0.75, 0.25) the weights are 3/16 (100), 9/16 (the
    hole), 1/16 (200), 3/16 (300): support 7/16 < 1/2, a hole. At (0.25, 0.25): 9/16 (100), 3/16 (hole), 3/16
    (200), 1/16 (300): support 13/16, value (900 + 600 + 300) / 13 = 138.46 -> 138."""
    source = np.array([[100, 0], [200, 300]], np.uint16)
    for (x, y), expected in (((0.5, 0.5), 200), ((0.75, 0.25), 0), ((0.25, 0.25), 138)):
        affine = np.array([[1.0, 0.0, -x], [0.0, 1.0, -y]])   # crop pixel (0, 0) <- source (x, y)
        assert sensor_depth.warp_depth_to_crop(source, affine, 1)[0, 0] == expected, (x, y)


def test_a_constant_plane_stays_exact_and_holes_stay_holes():
    """A face crop of a 120 x 100 frame: constant depth with a hole block and the frame's outside. Every crop pixel
    whose bilinear support lies on the plane is exactly the plane's value; every crop pixel whose support lies in
    the hole block (or outside the frame) is a hole; no value other than the plane's and 0 appears."""
    depth = np.full((100, 120), 731, np.uint16)
    depth[40:60, 50:80] = 0
    points = mean_face_68()[:, :2] * 40 + (60, 45)
    affine = crop_affine(points, N)
    crop = sensor_depth.warp_depth_to_crop(depth, affine, N)
    assert crop.dtype == np.uint16 and crop.shape == (N, N)
    assert set(np.unique(crop)) == {0, 731}
    # Where the source is sampled: the crop pixel centres mapped back, with the hole block's and frame's reach.
    inverse = np.linalg.inv(np.vstack([affine, [0, 0, 1]]))[:2]
    ys, xs = np.mgrid[0:N, 0:N]
    source_x, source_y = inverse[0, 0] * xs + inverse[0, 2], inverse[1, 1] * ys + inverse[1, 2]
    deep_in_hole = (source_x > 50.5) & (source_x < 78.5) & (source_y > 40.5) & (source_y < 58.5)
    on_plane = ((source_x < 48.9) | (source_x > 80.1) | (source_y < 38.9) | (source_y > 60.1)) & \
        (source_x > 0.1) & (source_x < 118.9) & (source_y > 0.1) & (source_y < 98.9)
    assert deep_in_hole.sum() > 20 and on_plane.sum() > 200
    assert not crop[deep_in_hole].any()
    assert (crop[on_plane] == 731).all()
    outside = (source_x < -1) | (source_y < -1) | (source_x > 120) | (source_y > 100)
    assert not crop[outside].any()


def test_a_tilted_plane_matches_the_numpy_bilinear_reference_and_the_rgb_crop():
    """A plane z = 600 + 2.5 x - 1.5 y mm over a 120 x 100 frame without holes: the crop equals the exact bilinear
    value (numpy) within half a level plus OpenCV's 1/32-pixel positions, and equals preprocess.warp_to_crop of the
    same frame away from the border (where the RGB warp replicates and the depth warp leaves holes)."""
    ys, xs = np.mgrid[0:100, 0:120].astype(np.float64)
    plane = 600 + 2.5 * xs - 1.5 * ys
    depth = np.round(plane).astype(np.uint16)
    affine = np.array([[0.6, 0.1, -5.0], [-0.1, 0.6, 3.0]])   # scale 0.61: warp_to_crop does not pre-average
    crop = sensor_depth.warp_depth_to_crop(depth, affine, N).astype(np.float64)
    inverse = np.linalg.inv(np.vstack([affine, [0, 0, 1]]))[:2]
    cy, cx = np.mgrid[0:N, 0:N].astype(np.float64)
    sx = inverse[0, 0] * cx + inverse[0, 1] * cy + inverse[0, 2]
    sy = inverse[1, 0] * cx + inverse[1, 1] * cy + inverse[1, 2]
    inside = (sx >= 0) & (sx <= 119) & (sy >= 0) & (sy <= 99)
    x0, y0 = np.clip(np.floor(sx).astype(int), 0, 118), np.clip(np.floor(sy).astype(int), 0, 98)
    fx, fy = sx - x0, sy - y0
    d = depth.astype(np.float64)
    reference = ((1 - fx) * (1 - fy) * d[y0, x0] + fx * (1 - fy) * d[y0, x0 + 1] + (1 - fx) * fy * d[y0 + 1, x0]
                 + fx * fy * d[y0 + 1, x0 + 1])
    assert inside.sum() > 0.4 * N * N
    assert np.abs(crop - reference)[inside].max() <= 0.5 + (2.5 + 1.5) / 32
    rgb_like = warp_to_crop(depth.astype(np.float32), affine, N)
    assert np.abs(crop - rgb_like)[inside].max() <= 0.5 + 1e-3
    assert not crop[~inside & ((sx < -1) | (sy < -1))].any()   # beyond the frame: holes


def test_uint8_depth_keeps_its_dtype_and_never_rounds_a_measurement_to_a_hole():
    """Depth 1 in columns 0-5 of a 10 x 10 frame, holes right of it; crop pixel x samples source (x - 0.3) / 0.9:
    column 5 samples 5.22 (support 0.78, kept), column 6 samples 6.33 (all holes); pixel (0, 0) samples (-0.33,
    -0.33), whose support inside the frame is 0.67^2 = 0.44: a hole."""
    depth = np.zeros((10, 10), np.uint8)
    depth[:, :6] = 1
    crop = sensor_depth.warp_depth_to_crop(depth, np.array([[0.9, 0.0, 0.3], [0.0, 0.9, 0.3]]), 8)
    expected = np.zeros((8, 8), np.uint8)
    expected[:, :6] = 1
    expected[0, 0] = 0
    assert crop.dtype == np.uint8
    np.testing.assert_array_equal(crop, expected)
