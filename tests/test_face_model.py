import numpy as np
import pytest

from physstd.data import face_model


def test_flip_is_an_involution_that_mirrors_the_mean_face():
    flip = face_model.FLIP_140
    np.testing.assert_array_equal(flip[flip], np.arange(face_model.NUM_LANDMARKS))
    # The mean face is symmetric about x = 0 to within 5% of its width (1.25): a wrong partner is off by ~1.
    face = face_model.mean_face_140()
    mirrored = face[flip] * np.array([-1.0, 1.0, 1.0])
    assert np.abs(mirrored - face).max() < 0.07


def test_flip_landmarks_in_pixels():
    size = 64
    points = face_model.canonical_landmarks(size)
    flipped = face_model.flip_landmarks(points, size)
    assert flipped[36, 0] == pytest.approx(size - 1 - points[45, 0])
    np.testing.assert_allclose(face_model.flip_landmarks(flipped, size), points)


def test_derivation_commutes_with_affine_maps():
    rng = np.random.default_rng(0)
    points3d = face_model.mean_face_68() + rng.normal(0, 0.01, (68, 3))
    projection = rng.normal(size=(2, 3))
    shift = rng.normal(size=2)
    projected_then_derived = face_model.derive_landmarks(points3d @ projection.T + shift)
    derived_then_projected = face_model.derive_landmarks(points3d) @ projection.T + shift
    np.testing.assert_allclose(projected_then_derived, derived_then_projected, atol=1e-12)
    assert projected_then_derived.shape == (140, 2)


def test_forehead_points_lie_above_the_brows_inside_the_crop():
    points = face_model.canonical_landmarks(256)
    brows_y = points[17:27, 1].min()
    forehead = points[68:88]
    assert (forehead[:, 1] < brows_y).all()
    assert (points >= 0).all() and (points <= 255).all()


def test_triangles_tile_the_whole_crop():
    triangles = face_model.face_triangles()
    unit = np.concatenate([face_model.canonical_landmarks(2.0), face_model.border_anchors(2.0)])
    assert triangles.min() == 0 and triangles.max() == len(unit) - 1
    corners = unit[triangles]
    area = 0.5 * np.abs(np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]))
    assert area.sum() == pytest.approx(1.0)   # the unit square, no overlaps, no holes
    assert (area > 0).all()


def test_crop_box_is_square_around_the_landmarks():
    points = face_model.mean_face_68()[:, :2] * 100 + 300
    x0, y0, side = face_model.crop_box(points)
    assert side == pytest.approx(face_model.CROP_SCALE * np.ptp(points, axis=0).max())
    assert x0 < points[:, 0].min() and x0 + side > points[:, 0].max()
    assert y0 < points[:, 1].min() and y0 + side > points[:, 1].max()


def test_wrong_landmark_count_raises():
    with pytest.raises(ValueError, match="68"):
        face_model.derive_landmarks(np.zeros((67, 2)))


def test_p0_region_follows_the_species_where_the_type_is_ambiguous():
    from physstd.data import spoof_types
    assert spoof_types.p0_region("print") == "whole"
    assert spoof_types.p0_region("partial_paper", "Partial_Eye") == "lower_face"
    assert spoof_types.p0_region("partial_paper", "Partial_Mouth") == "upper_face"
    assert spoof_types.p0_region("cosmetic", "Makeup_Co") == "outside_face"
    with pytest.raises(ValueError, match="unknown spoof type"):
        spoof_types.p0_region("poster")
