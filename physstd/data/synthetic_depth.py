"""The synthetic set's depth sensor: a physically plausible sensor depth Z (mm) for every raw frame.

The synthetic set poses 2D photos in-plane; its only 3D information is the weak-perspective fit of the 68-point
mean face to the posed landmarks (geometry.fit_weak_perspective). The scene is built from that fit:

- Live face: face distance Z0 ~ U(450, 800) mm per video (the depth of the face's nearest point); the scale is
  63 mm / the posed eye-centre distance in pixels; the mean face's relief is rasterised in mm over the face
  triangles (geometry.face_only_triangles), so Z = Z0 + relief behind the nearest point. Outside the face, a head
  ellipsoid (semi-axes HEAD_MARGIN times the landmarks' extent along the face axes) falls off from the face's edge
  to HEAD_FALL_OFF_MM further back at its outline; beyond it a wall at Z0 + U(300, 1200) mm.
- Each spoof type follows the RGB render's geometry (synthetic_traces returns the regions it drew):
  print       the whole frame a sheet at Z0 + U(-50, 50) mm tilted U(-15, 15) degrees about a random in-plane
              axis through the face centre; with probability 0.5 bent about the face's vertical axis with radius
              U(150, 600) mm (a parabola of that curvature), toward or away from the camera
  replay      a rigid screen plane at Z0 + U(-50, 50) mm tilted U(-10, 10) degrees; holes where the rendered
              glare saturates the screen image (the renderer's `saturated` region)
  paper_mask  inside the paper (the renderer's `paper` region, eye holes cut out): the face with its relief
              scaled by 1 - g, g ~ U(0.3, 0.7), about the nearest point, and U(1, 3) mm nearer; the eye holes
              keep the live face
  cosmetic    the live face (makeup has no geometry: its depth trace is exactly 0)
  paper_glasses  inside P a plane U(8, 20) mm in front of the brow (the mean depth of landmarks 17-26)
  partial_paper  inside P a plane U(3, 10) mm in front of the mouth and chin (their nearest landmark)
- The sensor, label-blind: one draw per video (noise constant c ~ U(1, 3)e-6 /mm, range Z_max ~ U(1100, 1500) mm,
  dropout fraction U(0, 0.03), RGB-depth misregistration of U(0, 2) RGB pixels in a random direction) and per frame
  (standard-normal noise field, uniform field, blob field), all from the video's own stream and shared by a spoof
  and its live twin. The scene is rendered at half the RGB resolution, blurred by a 1-pixel Gaussian, given noise
  of sigma = c Z^2 and quantised to 1 mm; holes beyond Z_max, on jump edges (|grad Z| > 15 mm per depth pixel,
  each dropped with probability 0.7) and in dropout blobs; then nearest-upsampled to the RGB resolution.

The spoof's and its live twin's depth differ by the attack's geometry only: their difference, where both are
measured, is the true depth trace (zero for cosmetic makeup).
"""
import dataclasses

import cv2
import numpy as np

from physstd.data import face_model, geometry, synthetic_traces
from physstd.data.sensor_depth import warp_depth_to_crop

EYE_DISTANCE_MM = 63.0
FACE_DISTANCE_MM = (450.0, 800.0)
WALL_OFFSET_MM = (300.0, 1200.0)
HEAD_FALL_OFF_MM = 80.0
HEAD_MARGIN = 1.15          # head ellipse / the ellipse through the outermost landmark
SENSOR_SCALE = 2            # RGB pixels per depth pixel
NOISE_C = (1e-6, 3e-6)      # noise sigma = c Z^2 (Z in mm)
MAX_RANGE_MM = (1100.0, 1500.0)
DROPOUT_FRACTION = (0.0, 0.03)
MISREGISTRATION_PX = 2.0    # at most, RGB pixels
BLUR_SIGMA = 1.0            # depth pixels
JUMP_EDGE_MM = 15.0         # mm per depth pixel
JUMP_EDGE_DROP = 0.7
BLOB_SIGMA = 2.0            # depth pixels: the size of dropout blobs
MASK_INSIDE = 0.5           # a soft mask (P, paper) holds the attack where it is at least this
SUBPIXEL_BITS = 4           # fixed-point bits of the triangle corners (rasterize_surface)
BROW = np.arange(17, 27)
MOUTH_AND_CHIN = np.concatenate([np.arange(48, 68), np.arange(5, 12)])


def rasterize_surface(points, z, triangles, shape):
    """(h, w) float64 depth of a triangulated surface at the pixel centres, NaN where it does not reach: vertices
    at (Q, 2) pixel positions `points` with depths `z` (mm, larger = farther), linear inside each (T, 3) triangle.
    Painter's algorithm: the triangles are filled (OpenCV, 1/16-pixel vertices) from the farthest to the nearest,
    so where two overlap the nearer is seen, and each pixel takes the plane of its triangle."""
    corners, depths = np.asarray(points, np.float64)[triangles], np.asarray(z, np.float64)[triangles]
    ids = np.full(shape, -1, np.int32)
    fixed = np.round(corners * (1 << SUBPIXEL_BITS)).astype(np.int32)
    for t in np.argsort(-depths.mean(axis=1)):
        cv2.fillConvexPoly(ids, fixed[t], int(t), cv2.LINE_8, SUBPIXEL_BITS)
    # Each triangle's depth as a plane z = c0 x + c1 y + c2 through its three corners.
    rows = np.concatenate([corners, np.ones(corners.shape[:2] + (1,))], axis=2)           # (T, 3, 3)
    values = depths.copy()
    degenerate = np.abs(np.linalg.det(rows)) < 1e-12
    # A triangle without area fills at most its outline: there, its mean depth.
    rows[degenerate] = np.eye(3)
    values[degenerate] = np.stack([np.zeros(degenerate.sum()), np.zeros(degenerate.sum()),
                                   depths[degenerate].mean(axis=1)], axis=1)
    planes = np.linalg.solve(rows, values[..., None])[..., 0]
    covered = ids >= 0
    ys, xs = np.nonzero(covered)
    plane = planes[ids[covered]]
    surface = np.full(shape, np.nan)
    surface[covered] = plane[:, 0] * xs + plane[:, 1] * ys + plane[:, 2]
    return surface


def sample_attack(spoof_type, rng):
    """The attack instrument's geometry, {name: float} (empty for cosmetic and live)."""
    if spoof_type == "print":
        return {"offset": rng.uniform(-50.0, 50.0), "tilt": rng.uniform(-15.0, 15.0),
                "tilt_direction": rng.uniform(0.0, 2 * np.pi), "bent": float(rng.random() < 0.5),
                "bend_radius": rng.uniform(150.0, 600.0), "bend_sign": rng.choice([-1.0, 1.0])}
    if spoof_type == "replay":
        return {"offset": rng.uniform(-50.0, 50.0), "tilt": rng.uniform(-10.0, 10.0),
                "tilt_direction": rng.uniform(0.0, 2 * np.pi)}
    if spoof_type == "paper_mask":
        return {"flatten": rng.uniform(0.3, 0.7), "lift": rng.uniform(1.0, 3.0)}
    if spoof_type == "paper_glasses":
        return {"offset": rng.uniform(8.0, 20.0)}
    if spoof_type == "partial_paper":
        return {"offset": rng.uniform(3.0, 10.0)}
    return {}


@dataclasses.dataclass(frozen=True)
class FrameScene:
    """One frame's live scene on the depth grid: z (h, w) mm, the 140 landmarks (x, y) in depth pixels and their
    depth (mm), the face's centre and (right, down) axes, and the scale in mm per depth pixel."""

    z: np.ndarray
    landmarks: np.ndarray
    landmark_z: np.ndarray
    center: np.ndarray
    axes: tuple
    mm_per_depth_pixel: float


class SensorDepthVideo:
    """The depth camera of one video: `frame(landmarks, spoof)` -> (sensor depth, live twin's sensor depth), both
    (H, W) uint16 mm with 0 = hole, for a raw frame of shape `rgb_shape` whose posed source landmarks are
    `landmarks` (68, 2) and whose spoof render is `spoof` (synthetic_traces.SpoofRender, None for a live video).

    Every draw comes from `rng` in the same order whatever the type (the attack's from a seed drawn from it), so
    the scene and the sensor are label-blind. `params` holds the drawn scalars, `mm_per_pixel` the per-frame
    scale (mm per RGB pixel)."""

    def __init__(self, spoof_type, rgb_shape, rng):
        self.spoof_type = spoof_type
        self.rgb_shape = tuple(rgb_shape[:2])
        self.shape = (self.rgb_shape[0] // SENSOR_SCALE, self.rgb_shape[1] // SENSOR_SCALE)
        if self.rgb_shape != (self.shape[0] * SENSOR_SCALE, self.shape[1] * SENSOR_SCALE):
            raise ValueError(f"the raw frame size {self.rgb_shape} must be a multiple of {SENSOR_SCALE}")
        shift, direction = rng.uniform(0.0, MISREGISTRATION_PX), rng.uniform(0.0, 2 * np.pi)
        self.params = {"face_distance": rng.uniform(*FACE_DISTANCE_MM), "wall_offset": rng.uniform(*WALL_OFFSET_MM),
                       "noise_c": rng.uniform(*NOISE_C), "max_range": rng.uniform(*MAX_RANGE_MM),
                       "dropout": rng.uniform(*DROPOUT_FRACTION), "misregister_x": shift * np.cos(direction),
                       "misregister_y": shift * np.sin(direction)}
        attack = sample_attack(spoof_type, np.random.default_rng(int(rng.integers(2 ** 63))))
        self.params.update({f"{spoof_type}_{key}": value for key, value in attack.items()})
        self.attack = attack
        self.rng = rng
        # RGB pixel p -> depth pixel (p + 0.5 - misregistration) / SENSOR_SCALE - 0.5.
        offset = [(0.5 - self.params["misregister_x"]) / SENSOR_SCALE - 0.5,
                  (0.5 - self.params["misregister_y"]) / SENSOR_SCALE - 0.5]
        self.to_grid = np.array([[1.0 / SENSOR_SCALE, 0.0, offset[0]], [0.0, 1.0 / SENSOR_SCALE, offset[1]]])
        self.mm_per_pixel = []
        self.reference = None   # the first frame's live scene (live_scene)

    def truth(self):
        """The drawn parameters as raw truth.npz arrays: sensor_depth_<name> () float64, and
        sensor_depth_mm_per_pixel (F,) the scale of each frame rendered so far (mm per RGB pixel)."""
        truth = {f"sensor_depth_{key}": np.float64(value) for key, value in self.params.items()}
        truth["sensor_depth_mm_per_pixel"] = np.asarray(self.mm_per_pixel, np.float64)
        return truth

    def frame(self, landmarks, spoof=None):
        """The next frame's (sensor depth, live twin's sensor depth) (class doc)."""
        fields = self._sensor_fields()
        scene = self.live_scene(landmarks)
        self.mm_per_pixel.append(scene.mm_per_depth_pixel / SENSOR_SCALE)
        live = self.sense(scene.z, fields)
        if spoof is None:
            return live, live
        z, blind = self.attack_depth(scene, spoof)
        return self.sense(z, fields, blind), live

    def _sensor_fields(self):
        """One frame's random fields, shared by a spoof and its twin: noise, jump-edge drops, and the dropout blobs
        (the top `dropout` fraction of a smoothed noise field)."""
        noise = self.rng.standard_normal(self.shape)
        drop = self.rng.random(self.shape)
        field = synthetic_traces.gaussian_blur(self.rng.standard_normal(self.shape), BLOB_SIGMA)
        count = int(round(self.params["dropout"] * field.size))
        blobs = field > np.partition(field.ravel(), field.size - count - 1)[field.size - count - 1]
        return noise, drop, blobs

    def to_depth_grid(self, mask):
        """A soft (H, W) RGB-frame mask on the depth grid (bilinear; 2 x 2 block means without misregistration)."""
        return cv2.warpAffine(np.asarray(mask, np.float32), self.to_grid, self.shape[::-1], flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)

    def live_scene(self, landmarks):
        """The live face, head and wall of one frame on the depth grid (module doc). The pose is in-plane (rotation,
        scale, shift), under which the weak-perspective fit is equivariant: the relief in mm is the same in every
        frame. So the first frame's scene is built (`build_scene`) and every later frame's is that scene moved by the
        similarity between the two frames' landmarks (bilinear)."""
        landmarks = np.asarray(landmarks, np.float64)
        points = face_model.derive_landmarks(landmarks) @ self.to_grid[:, :2].T + self.to_grid[:, 2]
        eyes = landmarks[synthetic_traces.RIGHT_EYE].mean(0) - landmarks[synthetic_traces.LEFT_EYE].mean(0)
        mm_per_depth_pixel = EYE_DISTANCE_MM / np.linalg.norm(eyes) * SENSOR_SCALE
        if self.reference is None:
            self.reference = self.build_scene(landmarks, points, mm_per_depth_pixel)
            return self.reference
        first = self.reference.landmarks[:face_model.NUM_DETECTED]
        basis = np.concatenate([first, np.ones((len(first), 1))], axis=1)
        move = np.linalg.lstsq(basis, points[:face_model.NUM_DETECTED], rcond=None)[0].T   # (2, 3), exact here
        z = cv2.warpAffine(self.reference.z, move, self.shape[::-1], flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=self.params["face_distance"]
                           + self.params["wall_offset"])
        return FrameScene(z, points, self.reference.landmark_z, points[:face_model.NUM_DETECTED].mean(0),
                          synthetic_traces.face_axes(points), mm_per_depth_pixel)

    def build_scene(self, landmarks, points, mm_per_depth_pixel):
        """The live scene of a frame with posed landmarks (68, 2) (RGB pixels), `points` their 140 on the depth
        grid: the mean face fitted and rasterised, the head and the wall around it."""
        fit = geometry.fit_weak_perspective(landmarks)
        toward_camera = face_model.derive_landmarks(fit.shape)[:, 2]
        landmark_z = (self.params["face_distance"]
                      + (toward_camera.max() - toward_camera) * mm_per_depth_pixel / SENSOR_SCALE)
        face = rasterize_surface(points, landmark_z, geometry.face_only_triangles(len(points)), self.shape)
        inside = np.isfinite(face)
        wall = self.params["face_distance"] + self.params["wall_offset"]
        right, down = synthetic_traces.face_axes(points)
        ys, xs = np.mgrid[0:self.shape[0], 0:self.shape[1]].astype(np.float64)
        u_points, v_points = points @ right, points @ down
        center = (np.array([u_points.min() + u_points.max(), v_points.min() + v_points.max()]) / 2)
        center = center[0] * right + center[1] * down
        half_u, half_v = np.ptp(u_points) / 2, np.ptp(v_points) / 2
        radius_points = np.hypot((u_points - center @ right) / half_u, (v_points - center @ down) / half_v).max()
        a, b = half_u * radius_points * HEAD_MARGIN, half_v * radius_points * HEAD_MARGIN
        u = (xs - center[0]) * right[0] + (ys - center[1]) * right[1]
        v = (xs - center[0]) * down[0] + (ys - center[1]) * down[1]
        radius = np.hypot(u / a, v / b)
        # Outside the face: the depth and elliptical radius of the face's edge, continued smoothly outward (a
        # normalised Gaussian average of the edge pixels reaching every head pixel), from which the head falls off
        # along an ellipsoid profile to HEAD_FALL_OFF_MM at its outline.
        edge = inside & ~cv2.erode(inside.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        reach = cv2.distanceTransform((~inside).astype(np.uint8), cv2.DIST_L2, 5)[(radius < 1.0) & ~inside]
        sigma = max(float(reach.max(initial=0.0)) / 3.0, 1.0)
        weight = synthetic_traces.gaussian_blur(edge.astype(np.float64), sigma)
        edge_z = synthetic_traces.gaussian_blur(np.where(edge, face, 0.0), sigma) / np.maximum(weight, 1e-300)
        edge_radius = synthetic_traces.gaussian_blur(np.where(edge, radius, 0.0), sigma) / np.maximum(weight, 1e-300)
        fall = np.clip((radius - edge_radius) / np.maximum(1.0 - edge_radius, 1e-6), 0.0, 1.0)
        head = edge_z + HEAD_FALL_OFF_MM * (1.0 - np.sqrt(1.0 - fall ** 2))
        z = np.where(inside, face, np.where((radius < 1.0) & inside.any(), head, wall))
        return FrameScene(z, points, landmark_z, points[:face_model.NUM_DETECTED].mean(0), (right, down),
                          mm_per_depth_pixel)

    def attack_depth(self, scene, spoof):
        """(Z of the spoof scene (h, w) mm, pixels the sensor cannot measure or None) for this video's type."""
        kind, attack, z = self.spoof_type, self.attack, scene.z
        ys, xs = np.mgrid[0:self.shape[0], 0:self.shape[1]].astype(np.float64)
        right, _ = scene.axes
        # mm from the face centre along the image axes
        x_mm = (xs - scene.center[0]) * scene.mm_per_depth_pixel
        y_mm = (ys - scene.center[1]) * scene.mm_per_depth_pixel
        if kind in ("print", "replay"):
            along = x_mm * np.cos(attack["tilt_direction"]) + y_mm * np.sin(attack["tilt_direction"])
            plane = self.params["face_distance"] + attack["offset"] + np.tan(np.deg2rad(attack["tilt"])) * along
            if kind == "replay":
                return plane, self.to_depth_grid(spoof.regions["saturated"]) >= MASK_INSIDE
            across = x_mm * right[0] + y_mm * right[1]
            return plane + attack["bent"] * attack["bend_sign"] * across ** 2 / (2 * attack["bend_radius"]), None
        if kind == "paper_mask":
            nearest = self.params["face_distance"]
            paper = self.to_depth_grid(spoof.regions["paper"]) >= MASK_INSIDE
            flattened = nearest + (1.0 - attack["flatten"]) * (z - nearest) - attack["lift"]
            return np.where(paper, flattened, z), None
        if kind in ("paper_glasses", "partial_paper"):
            anchor = (scene.landmark_z[BROW].mean() if kind == "paper_glasses"
                      else scene.landmark_z[MOUTH_AND_CHIN].min())
            region = self.to_depth_grid(spoof.mask) >= MASK_INSIDE
            return np.where(region, anchor - attack["offset"], z), None
        return z, None   # cosmetic

    def sense(self, z, fields, blind=None):
        """The sensor's reading of a scene Z (h, w) mm: (H, W) uint16 mm, 0 = hole (module doc)."""
        noise, drop, blobs = fields
        gradient = np.hypot(*np.gradient(z))   # central differences, mm per depth pixel
        blurred = synthetic_traces.gaussian_blur(z, BLUR_SIGMA)
        measured = np.round(blurred + self.params["noise_c"] * blurred ** 2 * noise)
        holes = (blurred > self.params["max_range"]) | ((gradient > JUMP_EDGE_MM) & (drop < JUMP_EDGE_DROP)) | blobs
        if blind is not None:
            holes |= blind
        depth = np.where(holes, 0, np.clip(measured, 1, np.iinfo(np.uint16).max)).astype(np.uint16)
        return np.repeat(np.repeat(depth, SENSOR_SCALE, axis=0), SENSOR_SCALE, axis=1)


def crop_depth_truth(sensor_depth, live_sensor_depth, affine, image_size):
    """One frame's sensor depth crop and its truth under the RGB crop `affine` (sensor_depth.warp_depth_to_crop).

    Returns (crop (N, N) uint16, {'sensor_depth_trace', 'sensor_depth_measured'} (N, N) float32): where both the
    crop and the live twin's crop are measured, measured = 1 and trace = crop - twin's crop (mm); elsewhere both 0.
    So the twin's crop is crop - trace wherever measured is 1. (The twin's crop itself is not stored: dense float32
    depth compresses slowly, and it would add a tenth to the generation time at N = 256.)"""
    spoof = warp_depth_to_crop(sensor_depth, affine, image_size)
    live = warp_depth_to_crop(live_sensor_depth, affine, image_size)
    both = (spoof > 0) & (live > 0)
    trace = np.where(both, spoof.astype(np.float32) - live.astype(np.float32), 0.0)
    return spoof, {"sensor_depth_trace": trace.astype(np.float32), "sensor_depth_measured": both.astype(np.float32)}
