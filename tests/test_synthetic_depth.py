"""The synthetic set's depth sensor (physstd.data.synthetic_depth), on the mean face posed in a raw frame: each
type's geometry against its live twin, the planar print, the sensor's holes and noise, the label-blind draws,
and the RGB frames left as they were. No dlib, no set on disk: the set itself is tested in test_synthetic.py."""
import functools

import cv2
import numpy as np
import pytest

from physstd.data import face_model, synthetic, synthetic_depth, synthetic_traces

SIZE = 64
RAW = synthetic.raw_size(SIZE)          # 192: the raw frame of N = 64
SHAPE = (RAW, RAW)
SENSOR_KEYS = ("face_distance", "wall_offset", "noise_c", "max_range", "dropout", "misregister_x", "misregister_y")


@functools.lru_cache(maxsize=1)
def posed_landmarks():
    """The mean face's 68 landmarks, frontal, with a 128-pixel crop box centred in the raw frame."""
    return face_model.canonical_landmarks(128, face_model.NUM_DETECTED) + (RAW - 128) / 2


def spoof_render(kind, seed=0, brightness=0.6):
    """The RGB renderer's output for a flat scene: its P and regions are what the depth follows."""
    scene = np.full(SHAPE + (3,), brightness, np.float32)
    unit = face_model.crop_box(posed_landmarks())[2] / SIZE
    return synthetic_traces.RENDERERS[kind](scene, face_model.derive_landmarks(posed_landmarks()), unit,
                                            np.random.default_rng(seed))


def camera(kind, seed=3):
    return synthetic_depth.SensorDepthVideo(kind, SHAPE, np.random.default_rng(seed))


def grid(depth):
    """The depth-pixel grid of a nearest-upsampled sensor frame, as float."""
    return depth[::synthetic_depth.SENSOR_SCALE, ::synthetic_depth.SENSOR_SCALE].astype(np.float64)


def plane_residual(depth):
    """RMS residual (mm) of the least-squares plane through the measured pixels of a depth grid."""
    ys, xs = np.nonzero(depth > 0)
    basis = np.stack([xs, ys, np.ones_like(xs)], axis=1).astype(np.float64)
    values = depth[ys, xs]
    coefficients, *_ = np.linalg.lstsq(basis, values, rcond=None)
    return float(np.sqrt(np.mean((values - basis @ coefficients) ** 2)))


def expected_noise(depth, noise_c):
    """RMS of the sensor noise (sigma = c Z^2) and the 1 mm quantisation over the measured pixels."""
    z = depth[depth > 0]
    return float(np.sqrt(np.mean((noise_c * z ** 2) ** 2) + 1 / 12))


def test_cosmetic_depth_is_its_live_twin_and_every_other_type_differs():
    """Cosmetic makeup has no geometry: its depth trace is exactly 0 in every frame. Every other type's sensor
    depth differs from its live twin's, and the twin is exactly the depth a live video of the same stream gets."""
    live_video = camera("live")
    live_frames = [live_video.frame(posed_landmarks() + k)[0] for k in range(2)]
    differing = {}
    for kind in synthetic.SPOOF_TYPES:
        video, spoof = camera(kind), spoof_render(kind)
        for k in range(2):
            depth, twin = video.frame(posed_landmarks() + k, spoof)
            assert depth.dtype == np.uint16 and depth.shape == SHAPE
            np.testing.assert_array_equal(twin, live_frames[k])   # label-blind: one sensor draw for both
            both = (depth > 0) & (twin > 0)
            differing[kind] = np.mean(np.abs(depth.astype(np.int64) - twin)[both] > 2)
            if kind == "cosmetic":
                np.testing.assert_array_equal(depth, twin)
        assert all(video.params[key] == live_video.params[key] for key in SENSOR_KEYS)   # label-blind draws
    assert differing.pop("cosmetic") == 0
    # print and replay move the whole frame; the paper mask the face; glasses and partial paper their P only.
    assert differing["print"] > 0.5 and differing["replay"] > 0.5 and differing["paper_mask"] > 0.1
    assert differing["paper_glasses"] > 0.005 and differing["partial_paper"] > 0.02


def bent_print_seeds():
    """Seeds of a flat and of a bent print camera."""
    flat = next(seed for seed in range(100) if not camera("print", seed).attack["bent"])
    bent = next(seed for seed in range(100) if camera("print", seed).attack["bent"]
                and camera("print", seed).attack["bend_radius"] < 400)
    return flat, bent


def test_print_depth_is_planar_within_the_noise_and_the_live_face_is_not():
    """A flat print's measured depth fits a plane to within the sensor noise (c Z^2 and 1 mm steps); the live twin
    (the face's relief) and a bent print do not."""
    flat, bent = bent_print_seeds()
    video = camera("print", flat)
    depth, twin = (grid(d) for d in video.frame(posed_landmarks(), spoof_render("print")))
    noise = expected_noise(depth, video.params["noise_c"])
    assert 0.8 * noise < plane_residual(depth) < 1.2 * noise
    assert plane_residual(twin) > 10 * noise
    tilt = np.deg2rad(video.attack["tilt"])
    assert abs(np.median(depth[depth > 0]) - video.params["face_distance"] - video.attack["offset"]) < \
        abs(np.tan(tilt)) * 0.5 * RAW * video.mm_per_pixel[0] + 2   # the sheet passes Z0 + offset at the face
    bent_video = camera("print", bent)
    bent_depth = grid(bent_video.frame(posed_landmarks(), spoof_render("print"))[0])
    assert plane_residual(bent_depth) > 3 * expected_noise(bent_depth, bent_video.params["noise_c"])


def test_a_flat_print_loses_only_the_dropout_blobs():
    """A flat print is within range and has no jump edge: its holes are the dropout blobs, the drawn fraction."""
    flat, _ = bent_print_seeds()
    video = camera("print", flat)
    assert video.params["max_range"] > video.params["face_distance"] + 200
    depth = grid(video.frame(posed_landmarks(), spoof_render("print"))[0])
    assert video.params["dropout"] > 0.002
    assert (depth == 0).sum() == round(video.params["dropout"] * depth.size)


def test_replay_is_a_plane_with_holes_where_the_glare_saturates():
    video = camera("replay")
    render = spoof_render("replay")
    saturated = np.zeros(SHAPE, bool)
    saturated[40:80, 100:140] = True   # in RGB pixels: depth pixels 20-39, 50-69 (misregistration < 2 px)
    depth = grid(video.frame(posed_landmarks(), render._replace(regions={"saturated": saturated}))[0])
    assert not depth[21:39, 51:69].any()
    outside = np.ones(depth.shape, bool)
    outside[18:42, 48:72] = False
    assert 0.8 * plane_residual(np.where(outside, depth, 0)) < 1.2 * expected_noise(depth, video.params["noise_c"])
    # The renderer's own region: a bright screen saturates in the glare's core.
    bright = spoof_render("replay", brightness=0.95)
    assert bright.regions["saturated"].any()
    glare_depth = video.frame(posed_landmarks(), bright)[0]
    assert not glare_depth[bright.regions["saturated"] & (cv2.erode(bright.regions["saturated"].astype(np.uint8),
                                                                    np.ones((5, 5), np.uint8)) > 0)].any()


def test_paper_mask_is_nearer_inside_the_paper_and_leaves_the_rest_of_the_face():
    video, render = camera("paper_mask"), spoof_render("paper_mask")
    depth, twin = (grid(d).astype(np.float64) for d in video.frame(posed_landmarks(), render))
    paper = video.to_depth_grid(render.regions["paper"]) >= 0.5
    inner = cv2.erode(paper.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    far = cv2.dilate(paper.astype(np.uint8), np.ones((9, 9), np.uint8)) == 0
    both = (depth > 0) & (twin > 0)
    trace = depth - twin
    assert inner[both].sum() > 100 and far[both].sum() > 100
    assert trace[inner & both].max() <= 1 and trace[inner & both].mean() < -video.attack["lift"]
    assert not trace[far & both].any()   # beyond the blur's reach, the face (and the eye holes' kind) is live


@pytest.mark.parametrize("kind", ["paper_glasses", "partial_paper"])
def test_paper_over_the_eyes_or_mouth_is_a_plane_in_front_of_the_face(kind):
    """Inside P: a plane `offset` mm in front of the brow (glasses) or of the nearest mouth and chin point."""
    video, render = camera(kind), spoof_render(kind)
    depth = grid(video.frame(posed_landmarks(), render)[0])
    scene = video.live_scene(posed_landmarks())
    anchor = (scene.landmark_z[synthetic_depth.BROW].mean() if kind == "paper_glasses"
              else scene.landmark_z[synthetic_depth.MOUTH_AND_CHIN].min())
    region = cv2.erode((video.to_depth_grid(render.mask) >= 0.5).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    measured = depth[region & (depth > 0)]
    assert measured.size >= 8
    assert abs(np.median(measured) - (anchor - video.attack["offset"])) <= 1.0
    assert np.all(measured < scene.z[region & (depth > 0)])   # in front of the face it covers


def test_live_face_scale_range_and_head():
    """The nearest face point is at Z0; the relief is the mean face's (63 mm between the eye centres); beyond
    Z_max everything is a hole; the wall lies behind the head."""
    video = camera("live")
    scene = video.live_scene(posed_landmarks())
    eyes = posed_landmarks()[42:48].mean(0) - posed_landmarks()[36:42].mean(0)
    assert video.mm_per_pixel == [] and scene.mm_per_depth_pixel == pytest.approx(63 / np.linalg.norm(eyes) * 2)
    assert scene.landmark_z.min() == pytest.approx(video.params["face_distance"])
    assert 50 < np.ptp(scene.landmark_z) < 150   # nose tip to the face's outline, mm
    wall = video.params["face_distance"] + video.params["wall_offset"]
    assert scene.z.max() == pytest.approx(wall) and scene.z[0, 0] == wall
    head = (scene.z < wall) & (scene.z > scene.landmark_z.max())
    assert head.any() and scene.z[head].max() <= scene.landmark_z.max() + synthetic_depth.HEAD_FALL_OFF_MM
    far = camera("live")
    far.params["face_distance"] = far.params["max_range"] + 1
    assert not far.frame(posed_landmarks())[0].any()


def test_crop_depth_truth_by_hand():
    spoof = np.array([[500, 0, 700], [520, 530, 0]], np.uint16).repeat(4, 0).repeat(4, 1)
    live = np.array([[510, 600, 0], [520, 500, 0]], np.uint16).repeat(4, 0).repeat(4, 1)
    affine = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])   # the crop is the frame's top-left 8 x 8
    crop, truth = synthetic_depth.crop_depth_truth(spoof, live, affine, 8)
    np.testing.assert_array_equal(crop, spoof[:8, :8])
    expected = np.array([[-10, 0], [0, 30]], np.float32).repeat(4, 0).repeat(4, 1)
    np.testing.assert_array_equal(truth["sensor_depth_trace"], expected)
    measured = np.array([[1, 0], [1, 1]], np.float32).repeat(4, 0).repeat(4, 1)
    np.testing.assert_array_equal(truth["sensor_depth_measured"], measured)


def test_the_depth_camera_leaves_the_rgb_frames_as_they_were():
    """render_video draws the same RGB frames with and without the depth camera (its own stream)."""
    image = cv2.resize(np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8), (200, 200))
    source = synthetic.SourceFace("grid", image, face_model.canonical_landmarks(150, face_model.NUM_DETECTED) + 25)
    for kind in ("live", "replay", "partial_paper"):
        video_id = f"grid_{kind}_0"
        plain = synthetic.render_video(source, kind, 2, SIZE, synthetic.video_rng(0, video_id))
        with_depth = synthetic.render_video(source, kind, 2, SIZE, synthetic.video_rng(0, video_id),
                                            camera=synthetic.video_camera(0, video_id, kind, SIZE))
        for a, b in zip(plain[0], with_depth[0]):
            for field in ("frame", "live", "mask", "landmarks"):
                np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
            assert a.sensor_depth is None and b.sensor_depth.shape == (RAW, RAW)
        assert plain[2] == with_depth[2]   # the attack's parameters
        for key, value in plain[1].items():   # the nuisance
            np.testing.assert_array_equal(value, with_depth[1][key])
