"""Physically modelled spoof traces and the shared nuisance of the synthetic FAS set.

Pure numpy/OpenCV: every function takes an image and a seeded `numpy.random.Generator` and returns arrays.
A spoof renderer maps the posed bona fide scene X (H, W, 3) float32 in [0, 1] to `SpoofRender(image, mask,
params, regions)`: the spoof scene S in [0, 1], its inpainting region P (H, W) in [0, 1] (None for purely additive
attacks), the physical parameters drawn (floats, saved as raw ground truth) and the drawn regions other than P
that the attack's sensor depth follows (synthetic_depth): replay's `saturated` glare, paper mask's `paper`. Where
P > 0 the renderer has already composed S = (1 - P) * S_additive + P * content (PhySTD paper, Eq. 3, content = the
material's own image).

Sizes are given in *crop pixels* times `unit` (raw pixels per pixel of the N x N face crop), so a halftone
screen or a moire beat has the same period in the prepared crop whatever the raw resolution.

Nuisance (pose, light, sensor noise, JPEG) is drawn by `sample_nuisance` without knowing the label: live and
spoof videos draw from one distribution, and a spoof frame is captured with the very same noise field as
its bona fide counterpart, so the only difference between the two captured frames is the trace.
"""
import collections

import cv2
import numpy as np

from physstd.data import face_model, geometry

LUMA = np.array([0.299, 0.587, 0.114], np.float32)

# 68-point index groups (iBUG order).
JAW = np.arange(0, 17)
LEFT_BROW, RIGHT_BROW = np.arange(17, 22), np.arange(22, 27)
NOSE_TIP = 30
LEFT_EYE, RIGHT_EYE = np.arange(36, 42), np.arange(42, 48)
OUTER_LIPS, INNER_LIPS = np.arange(48, 60), np.arange(60, 68)
# Upper forehead row of the 140 layout (brows moved up 1.4 nose lengths), brow 17 .. 26.
UPPER_FOREHEAD = np.arange(78, 88)

SpoofRender = collections.namedtuple("SpoofRender", "image mask params regions", defaults=(None,))


# --- geometry helpers --------------------------------------------------------------------------------

def face_axes(landmarks):
    """(right, down) unit vectors of the face: down from the eye centre to the mouth centre (the axis of
    geometry.preliminary_mask, so regions drawn here respect P0 exactly), right perpendicular to it,
    toward the right eye (landmarks 42-47)."""
    landmarks = np.asarray(landmarks, np.float64)
    down = landmarks[48:68].mean(0) - landmarks[36:48].mean(0)
    down /= np.linalg.norm(down)
    right = np.array([-down[1], down[0]])
    if right @ (landmarks[RIGHT_EYE].mean(0) - landmarks[LEFT_EYE].mean(0)) < 0:
        right = -right
    return right, down


def face_outline(landmarks):
    """(21+, 2) polygon of the face: the jaw line and the upper forehead row (140-point layout)."""
    landmarks = np.asarray(landmarks, np.float64)
    return np.concatenate([landmarks[JAW], landmarks[UPPER_FOREHEAD][::-1]])


_SUBPIXEL_BITS = 4


def _fixed(points):
    return np.round(np.asarray(points, np.float64) * (1 << _SUBPIXEL_BITS)).astype(np.int32)


def polygon_mask(shape, polygons, feather=0.0):
    """(H, W) float32 in [0, 1]: filled polygons (anti-aliased, sub-pixel vertices), Gaussian-feathered."""
    mask = np.zeros(shape[:2], np.float32)
    cv2.fillPoly(mask, [_fixed(p) for p in polygons], 1.0, cv2.LINE_AA, _SUBPIXEL_BITS)
    return feather_mask(mask, feather)


def polyline_mask(shape, polylines, thickness, feather=0.0):
    """(H, W) float32: thick open polylines (e.g. brows, glasses arms), feathered."""
    mask = np.zeros(shape[:2], np.float32)
    cv2.polylines(mask, [_fixed(p) for p in polylines], False, 1.0, max(1, int(round(thickness))),
                  cv2.LINE_AA, _SUBPIXEL_BITS)
    return feather_mask(mask, feather)


def ellipse_mask(shape, center, axes, angle_degrees, feather=0.0):
    """(H, W) float32: a filled ellipse (semi-axes `axes` in pixels), feathered."""
    mask = np.zeros(shape[:2], np.float32)
    scale = 1 << _SUBPIXEL_BITS
    cv2.ellipse(mask, tuple(int(v) for v in _fixed(center)), tuple(int(round(a * scale)) for a in axes),
                float(angle_degrees), 0.0, 360.0, 1.0, -1, cv2.LINE_AA, _SUBPIXEL_BITS)
    return feather_mask(mask, feather)


def feather_mask(mask, sigma):
    """Gaussian blur (truncated at 3 sigma, so the support grows by a known amount), clipped to [0, 1]."""
    if sigma <= 0:
        return np.clip(mask, 0.0, 1.0)
    radius = int(np.ceil(3 * sigma))
    return np.clip(cv2.GaussianBlur(mask, (2 * radius + 1, 2 * radius + 1), sigma), 0.0, 1.0)


def gaussian_blur(image, sigma):
    if sigma <= 0:
        return image
    radius = int(np.ceil(3 * sigma))
    return cv2.GaussianBlur(image, (2 * radius + 1, 2 * radius + 1), sigma)


def pixel_grid(shape):
    """(y, x) float32 pixel-centre coordinates of an (H, W) image."""
    return np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)


# --- shared physical pieces ------------------------------------------------------------------------

def print_appearance(scene, unit, rng):
    """A photo printed on paper: blur, gamut compression, a halftone screen, paper texture.

    Returns (image, params): chroma scaled by `chroma` toward the luminance, tones mapped into
    [paper_black, paper_white] with a warm paper tint; a rotated product-of-cosines screen of period
    `halftone_period` (crop px) modulating mid-tones; fibre noise of relative amplitude `texture`."""
    params = {"blur": rng.uniform(0.3, 0.7), "chroma": rng.uniform(0.55, 0.8),
              "paper_black": rng.uniform(0.05, 0.12), "paper_white": rng.uniform(0.85, 0.95),
              "halftone_period": rng.uniform(2.2, 3.0), "halftone_angle": rng.uniform(0.0, np.pi / 2),
              "halftone_amplitude": rng.uniform(0.03, 0.07), "texture": rng.uniform(0.01, 0.03)}
    tint = np.array([1.0, rng.uniform(0.96, 1.0), rng.uniform(0.9, 0.97)], np.float32)
    image = gaussian_blur(scene, params["blur"] * unit)
    gray = (image @ LUMA)[..., None]
    image = gray + params["chroma"] * (image - gray)
    image = params["paper_black"] + (params["paper_white"] * tint - params["paper_black"]) * image
    y, x = pixel_grid(scene.shape)
    period, angle = params["halftone_period"] * unit, params["halftone_angle"]
    u = x * np.cos(angle) + y * np.sin(angle)
    v = -x * np.sin(angle) + y * np.cos(angle)
    screen = (np.cos(2 * np.pi * u / period) * np.cos(2 * np.pi * v / period))[..., None]
    image = image + params["halftone_amplitude"] * 4.0 * image * (1.0 - image) * screen
    fibres = gaussian_blur(rng.standard_normal(scene.shape[:2]).astype(np.float32), 0.8 * unit)
    fibres /= max(float(fibres.std()), 1e-6)
    image = image * (1.0 + params["texture"] * fibres[..., None])
    return np.clip(image, 0.0, 1.0).astype(np.float32), params


def _signed_distance(region):
    """Signed distance (pixels) to the boundary of a boolean region: > 0 inside, < 0 outside."""
    inside = cv2.distanceTransform(region.astype(np.uint8), cv2.DIST_L2, 5)
    outside = cv2.distanceTransform((~region).astype(np.uint8), cv2.DIST_L2, 5)
    return inside - outside


# --- the spoof types (spoof_types names) ------------------------------------------------------------

def render_print(scene, landmarks, unit, rng):
    """print: the whole frame is a printed photo (additive trace only, P = 0)."""
    image, params = print_appearance(scene, unit, rng)
    return SpoofRender(image, None, params)


def replay_moire_frequency(pitch_frequency, angle):
    """Moire of a screen grating sampled at the camera's pixel centres: the grating frequency vector
    f (cos a, sin a) (cycles per camera pixel) aliases to its distance from the nearest integer vector."""
    frequency = pitch_frequency * np.array([np.cos(angle), np.sin(angle)])
    return frequency - np.round(frequency)


GLARE_CORE = 0.5   # replay: the glare's core, where it is at least half its peak


def render_replay(scene, landmarks, unit, rng):
    """replay: a screen showing the face, filmed: display gamma and over-exposure (clipped highlights),
    black-level glow, moire from point-sampling the RGB-stripe subpixel grid, and a specular glare."""
    beat = rng.uniform(5.0, 10.0) * unit            # wanted moire period in raw pixels
    params = {"gamma": rng.uniform(0.75, 0.95), "exposure": rng.uniform(1.0, 1.25),
              "black_level": rng.uniform(0.02, 0.06), "moire_amplitude": rng.uniform(0.05, 0.12),
              "row_amplitude": rng.uniform(0.03, 0.08), "grid_angle": np.deg2rad(rng.uniform(-5.0, 5.0)),
              "pitch_frequency": 1.0 + rng.choice([-1.0, 1.0]) / beat,
              "glare_amplitude": rng.uniform(0.1, 0.3), "glare_sigma": rng.uniform(0.2, 0.4),
              "veil": rng.uniform(0.01, 0.04)}
    image = params["black_level"] + (1 - params["black_level"]) * np.clip(
        params["exposure"] * np.power(scene, params["gamma"]), 0.0, 1.0)
    y, x = pixel_grid(scene.shape)
    angle, f = params["grid_angle"], params["pitch_frequency"]
    u = x * np.cos(angle) + y * np.sin(angle)
    v = -x * np.sin(angle) + y * np.cos(angle)
    phase_u, phase_v = rng.uniform(0, 2 * np.pi, 2)
    # Channel c's stripe sits a third of a screen pixel after channel c-1: colour fringes in the moire.
    stripes = np.stack([np.cos(2 * np.pi * (f * u - c / 3.0) + phase_u) for c in range(3)], axis=-1)
    rows = np.cos(2 * np.pi * f * v + phase_v)[..., None]
    image = image * (1 + params["moire_amplitude"] * stripes) * (1 + params["row_amplitude"] * rows)
    # The aliased (moire) frequencies, cycles per raw pixel, of the stripes and of the pixel rows.
    moire, row_moire = replay_moire_frequency(f, angle), replay_moire_frequency(f, angle + np.pi / 2)
    params["moire_fx"], params["moire_fy"] = float(moire[0]), float(moire[1])
    params["row_moire_fx"], params["row_moire_fy"] = float(row_moire[0]), float(row_moire[1])
    landmarks = np.asarray(landmarks, np.float64)
    side = face_model.crop_box(landmarks[:68])[2]
    center = landmarks[:68].mean(0) + rng.uniform(-0.25, 0.25, 2) * side
    sigma = params["glare_sigma"] * side
    glare = np.exp(-((x - center[0]) ** 2 + (y - center[1]) ** 2) / (2 * sigma ** 2))[..., None]
    tint = np.array([1.0, 1.0, rng.uniform(0.9, 1.05)], np.float32)
    image = image + (params["glare_amplitude"] * glare + params["veil"]) * tint
    # Where the glare's core drives the screen image into saturation, a specular reflection blinds a depth
    # sensor too (synthetic_depth: holes there).
    saturated = (glare[..., 0] >= GLARE_CORE) & ((image @ LUMA) >= 1.0)
    return SpoofRender(np.clip(image, 0.0, 1.0).astype(np.float32), None, params, {"saturated": saturated})


def eye_holes(shape, landmarks, feather):
    """Soft masks of the two eye openings (ellipses around each eye contour)."""
    landmarks = np.asarray(landmarks, np.float64)
    right, _ = face_axes(landmarks)
    angle = np.degrees(np.arctan2(right[1], right[0]))
    holes = np.zeros(shape[:2], np.float32)
    for eye in (LEFT_EYE, RIGHT_EYE):
        width = np.linalg.norm(landmarks[eye[3]] - landmarks[eye[0]])
        holes = np.maximum(holes, ellipse_mask(shape, landmarks[eye].mean(0), (0.7 * width, 0.4 * width),
                                               angle, feather))
    return holes


def render_paper_mask(scene, landmarks, unit, rng):
    """paper_mask: a printed face on paper worn over the face, eye holes cut out: a colour shift and
    flattened shading inside the face, dark edges along the paper's outline and the holes (P = 0)."""
    params = {"shift_r": rng.uniform(-0.12, 0.12), "shift_g": rng.uniform(-0.12, 0.12),
              "shift_b": rng.uniform(-0.12, 0.12), "offset": rng.uniform(-0.04, 0.04),
              "flatten": rng.uniform(0.2, 0.4), "edge_darkness": rng.uniform(0.2, 0.4),
              "edge_width": rng.uniform(0.8, 1.5)}
    feather = 0.7 * unit
    paper = polygon_mask(scene.shape, [face_outline(landmarks)])
    paper = np.clip(paper - eye_holes(scene.shape, landmarks, 0.0), 0.0, 1.0)
    gains = 1.0 + np.array([params["shift_r"], params["shift_g"], params["shift_b"]], np.float32)
    printed = scene * gains + params["offset"]
    printed = (1 - params["flatten"]) * printed + params["flatten"] * gaussian_blur(printed, 3.0 * unit)
    soft = feather_mask(paper, feather)[..., None]
    image = (1 - soft) * scene + soft * printed
    distance = _signed_distance(paper > 0.5)
    width = params["edge_width"] * unit
    edge = np.exp(-distance ** 2 / (2 * width ** 2)) * (np.abs(distance) < 3 * width + 1)
    image = image * (1 - params["edge_darkness"] * edge[..., None])
    return SpoofRender(np.clip(image, 0.0, 1.0).astype(np.float32), None, params, {"paper": paper})


def makeup_regions(shape, landmarks, unit):
    """Soft (H, W) alpha maps (brows, lips, cheeks) of cosmetic makeup, from the 68 landmarks."""
    landmarks = np.asarray(landmarks, np.float64)
    eye_gap = np.linalg.norm(landmarks[RIGHT_EYE].mean(0) - landmarks[LEFT_EYE].mean(0))
    feather = 0.8 * unit
    brows = polyline_mask(shape, [landmarks[LEFT_BROW], landmarks[RIGHT_BROW]], 0.12 * eye_gap, feather)
    lips = np.clip(polygon_mask(shape, [landmarks[OUTER_LIPS]], feather)
                   - polygon_mask(shape, [landmarks[INNER_LIPS]], feather), 0.0, 1.0)
    cheeks = np.zeros(shape[:2], np.float32)
    for jaw_point, nostril in ((2, 31), (14, 35)):
        center = 0.5 * (landmarks[jaw_point] + landmarks[nostril])
        cheeks = np.maximum(cheeks, ellipse_mask(shape, center, (0.22 * eye_gap, 0.16 * eye_gap), 0.0,
                                                 0.12 * eye_gap))
    return brows, lips, cheeks


def render_makeup(scene, landmarks, unit, rng):
    """cosmetic: eyebrow pencil, lipstick and blush placed from the landmarks (P = 0)."""
    params = {"brow_alpha": rng.uniform(0.3, 0.6), "lip_alpha": rng.uniform(0.4, 0.7),
              "blush_alpha": rng.uniform(0.25, 0.45), "lip_r": rng.uniform(0.6, 0.9),
              "lip_g": rng.uniform(0.05, 0.25), "lip_b": rng.uniform(0.15, 0.35)}
    brows, lips, cheeks = makeup_regions(scene.shape, landmarks, unit)
    image = scene.copy()
    brow_colour = np.array([0.30, 0.22, 0.18], np.float32)
    a = params["brow_alpha"] * brows[..., None]
    image = (1 - a) * image + a * brow_colour * (0.5 + image)
    # Lipstick keeps the lips' shading: the colour is scaled by the local luminance relative to its mean.
    luminance = image @ LUMA
    region = lips > 0.5
    mean = float(luminance[region].mean()) if region.any() else 0.5
    shading = np.clip(luminance / max(mean, 1e-3), 0.0, 1.6)[..., None]
    lip_colour = np.array([params["lip_r"], params["lip_g"], params["lip_b"]], np.float32)
    a = params["lip_alpha"] * lips[..., None]
    image = (1 - a) * image + a * lip_colour * shading
    a = params["blush_alpha"] * cheeks[..., None]
    image = (1 - a) * image + a * image * np.array([1.0, 0.7, 0.75], np.float32)
    return SpoofRender(np.clip(image, 0.0, 1.0).astype(np.float32), None, params)


def lower_face_line(landmarks):
    """(point, down): the line below which P0 'lower_face' holds (halfway from the eye centre to the nose
    tip, perpendicular to the face axis; geometry.preliminary_mask)."""
    landmarks = np.asarray(landmarks, np.float64)
    eyes = landmarks[36:48].mean(0)
    _, down = face_axes(landmarks)
    return eyes + geometry.LOWER_FACE_FROM * (landmarks[NOSE_TIP] - eyes), down


def render_paper_glasses(scene, landmarks, unit, rng):
    """paper_glasses: opaque paper glasses with printed eyes over the eyes (inpainting region P), casting a
    soft shadow. The whole P stays above the 'lower_face' P0 line."""
    landmarks = np.asarray(landmarks, np.float64)
    params = {"lens_width": rng.uniform(0.85, 1.05), "lens_height": rng.uniform(0.55, 0.75),
              "lift": rng.uniform(0.2, 0.35),
              "rim": rng.uniform(0.12, 0.2), "shadow": rng.uniform(0.15, 0.3),
              "frame_r": rng.uniform(0.1, 0.9), "frame_g": rng.uniform(0.1, 0.9), "frame_b": rng.uniform(0.1, 0.9)}
    right, down = face_axes(landmarks)
    angle = np.degrees(np.arctan2(right[1], right[0]))
    line_point, line_down = lower_face_line(landmarks)
    feather = 0.5 * unit
    lenses, frame = np.zeros(scene.shape[:2], np.float32), np.zeros(scene.shape[:2], np.float32)
    centers, widths = [], []
    for eye in (LEFT_EYE, RIGHT_EYE):
        width = np.linalg.norm(landmarks[eye[3]] - landmarks[eye[0]])
        rim = params["rim"] * width
        # The lens sits a little above the eye (toward the brow), and its bottom edge plus rim and feather
        # support stays above the P0 line.
        center = landmarks[eye].mean(0) - down * params["lift"] * width
        room = (line_point - center) @ line_down
        half_height = min(params["lens_height"] * width, room - rim - 3 * feather - 2.0 * unit)
        axes = (params["lens_width"] * width, max(half_height, 0.2 * width))
        lenses = np.maximum(lenses, ellipse_mask(scene.shape, center, axes, angle))
        frame = np.maximum(frame, ellipse_mask(scene.shape, center, (axes[0] + rim, axes[1] + rim), angle))
        centers.append(center)
        widths.append(axes[0] + rim)
    bridge = [centers[0] + right * widths[0] * 0.9, centers[1] - right * widths[1] * 0.9]
    # Arms run level with the lenses out to the face contour (jaw points 0 and 16 projected on that level).
    arms = [[centers[0] - right * widths[0] * 0.9, centers[0] + right * ((landmarks[0] - centers[0]) @ right)],
            [centers[1] + right * widths[1] * 0.9, centers[1] + right * ((landmarks[16] - centers[1]) @ right)]]
    thickness = 0.12 * np.mean(widths)
    frame = np.maximum(frame, polyline_mask(scene.shape, [np.array(bridge)] + [np.array(a) for a in arms],
                                            thickness))
    mask = feather_mask(frame, feather)
    printed, print_params = print_appearance(scene, unit, rng)
    params.update({f"print_{k}": v for k, v in print_params.items()})
    frame_colour = np.array([params["frame_r"], params["frame_g"], params["frame_b"]], np.float32)
    content = lenses[..., None] * printed + (1 - lenses[..., None]) * frame_colour
    shift = np.array([[1.0, 0.0, 1.5 * unit * down[0]], [0.0, 1.0, 1.5 * unit * down[1]]], np.float32)
    shadow = feather_mask(cv2.warpAffine(frame, shift, frame.shape[::-1]), 2.0 * unit)
    additive = scene * (1 - params["shadow"] * shadow[..., None])
    image = (1 - mask[..., None]) * additive + mask[..., None] * content
    return SpoofRender(np.clip(image, 0.0, 1.0).astype(np.float32), mask, params)


def render_partial_paper(scene, landmarks, unit, rng):
    """partial_paper: a cut-out print of the lower face held over the mouth and chin (inpainting region P),
    slightly misregistered, with a white paper margin. The whole P stays below the nose-tip line
    ('upper_face' P0)."""
    landmarks = np.asarray(landmarks, np.float64)
    params = {"top": rng.uniform(0.25, 0.45), "widen": rng.uniform(0.8, 1.0), "bottom": rng.uniform(0.0, 0.15),
              "margin": rng.uniform(1.0, 3.0), "misregister_x": rng.uniform(-2.0, 2.0),
              "misregister_y": rng.uniform(-2.0, 2.0)}
    right, down = face_axes(landmarks)
    tip = landmarks[NOSE_TIP]
    mouth = landmarks[OUTER_LIPS].mean(0)
    feather = 0.5 * unit
    height = (landmarks[8] - tip) @ down
    top = tip + down * max(params["top"] * ((mouth - tip) @ down), 3 * feather + 2.0 * unit)
    bottom = landmarks[8] + down * params["bottom"] * height
    half_width = 0.5 * params["widen"] * (landmarks[12] - landmarks[4]) @ right
    center_x = (landmarks[4] + landmarks[12]) / 2 @ right
    # Cut edges: each top corner independently a little lower (a hand-cut patch), never higher.
    drops = rng.uniform(0.0, 0.1, 2) * height
    base = lambda along, point: right * (along - point @ right) + point
    corners = np.array([base(center_x - half_width, top) + down * drops[0],
                        base(center_x + half_width, top) + down * drops[1],
                        base(center_x + half_width, bottom), base(center_x - half_width, bottom)])
    mask = polygon_mask(scene.shape, [corners], feather)
    shift = np.array([[1.0, 0.0, params["misregister_x"] * unit], [0.0, 1.0, params["misregister_y"] * unit]],
                     np.float32)
    moved = cv2.warpAffine(scene, shift, scene.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)
    printed, print_params = print_appearance(moved, unit, rng)
    params.update({f"print_{k}": v for k, v in print_params.items()})
    inner = polygon_mask(scene.shape, [corners], 0.0)
    margin = _signed_distance(inner > 0.5) < params["margin"] * unit
    content = np.where(margin[..., None], np.float32(print_params["paper_white"]), printed)
    image = (1 - mask[..., None]) * scene + mask[..., None] * content
    return SpoofRender(np.clip(image, 0.0, 1.0).astype(np.float32), mask, params)


RENDERERS = {
    "print": render_print,
    "replay": render_replay,
    "paper_mask": render_paper_mask,
    "cosmetic": render_makeup,
    "paper_glasses": render_paper_glasses,
    "partial_paper": render_partial_paper,
}
SPOOF_TYPES = tuple(RENDERERS)


# --- nuisance shared by live and spoof --------------------------------------------------------------

NUISANCE_KEYS = ("angle", "scale", "shift_x", "shift_y", "gain", "contrast", "temperature", "gradient",
                 "gradient_direction", "noise_sigma", "shot_noise", "jpeg_quality")


# The light of a video without light variation: neutral gain, contrast and colour, no gradient.
FIXED_LIGHT = {"gain": 1.0, "contrast": 1.0, "temperature": 0.0, "gradient": 0.0}


def sample_nuisance(rng, num_frames, light_variation=True):
    """Per-frame nuisance of one video, {key: (F,) float64}: a per-video draw plus a small per-frame drift.

    angle (degrees, in-plane), scale (x nominal), shift_x/y (fraction of the crop side), gain, contrast
    (about mid-grey), temperature (-1 warm .. 1 cold), gradient (relative light fall-off across the
    frame) and its direction (radians), read noise sigma and shot-noise factor (intensity units) and JPEG
    quality. The label is not an input: live and spoof share the distribution. Without light_variation the
    light keys are FIXED_LIGHT in every frame (the random draws are made all the same, so pose, noise and the
    traces match the varied set's)."""
    base = {"angle": rng.uniform(-8.0, 8.0), "scale": rng.uniform(0.92, 1.08),
            "shift_x": rng.uniform(-0.04, 0.04), "shift_y": rng.uniform(-0.04, 0.04),
            "gain": rng.uniform(0.75, 1.15), "contrast": rng.uniform(0.8, 1.15),
            "temperature": rng.uniform(-1.0, 1.0), "gradient": rng.uniform(0.0, 0.3),
            "gradient_direction": rng.uniform(0.0, 2 * np.pi), "noise_sigma": rng.uniform(0.5, 3.0) / 255,
            "shot_noise": rng.uniform(0.0, 2.0) / 255, "jpeg_quality": float(rng.integers(60, 96))}
    drift = {"angle": 1.5, "scale": 0.015, "shift_x": 0.01, "shift_y": 0.01, "gain": 0.03, "contrast": 0.0,
             "temperature": 0.05, "gradient": 0.02, "gradient_direction": 0.1, "noise_sigma": 0.0,
             "shot_noise": 0.0, "jpeg_quality": 0.0}
    nuisance = {key: base[key] + drift[key] * rng.uniform(-1.0, 1.0, num_frames) for key in NUISANCE_KEYS}
    if not light_variation:
        nuisance.update({key: np.full(num_frames, value) for key, value in FIXED_LIGHT.items()})
    return nuisance


def pose_affine(center, target, angle, scale):
    """(2, 3) similarity: rotate by `angle` degrees and scale about `center`, then move center to target."""
    affine = cv2.getRotationMatrix2D((float(center[0]), float(center[1])), float(angle), float(scale))
    affine[:, 2] += np.asarray(target, np.float64) - np.asarray(center, np.float64)
    return affine


def illuminate(scene, nuisance, k):
    """Frame k's light: contrast about mid-grey, gain, colour temperature and a linear light gradient."""
    t = nuisance["temperature"][k]
    white = np.array([1.0 - 0.08 * t, 1.0, 1.0 + 0.08 * t], np.float32)
    y, x = pixel_grid(scene.shape)
    height, width = scene.shape[:2]
    direction = nuisance["gradient_direction"][k]
    ramp = ((x - width / 2) * np.cos(direction) + (y - height / 2) * np.sin(direction)) / max(height, width)
    light = (nuisance["gain"][k] * (1.0 + nuisance["gradient"][k] * ramp))[..., None] * white
    lit = (0.5 + nuisance["contrast"][k] * (scene - 0.5)) * light
    return np.clip(lit, 0.0, 1.0).astype(np.float32)


def capture(radiance, noise_field, nuisance, k):
    """Sensor + codec: read and shot noise from a given standard-normal field, 8-bit quantisation, JPEG at
    the frame's quality; returns (H, W, 3) uint8 RGB (the decoded frame)."""
    sigma = np.sqrt(nuisance["noise_sigma"][k] ** 2 + nuisance["shot_noise"][k] ** 2 * radiance)
    pixels = np.clip(np.round((radiance + sigma * noise_field) * 255.0), 0, 255).astype(np.uint8)
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, int(nuisance["jpeg_quality"][k])])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return cv2.cvtColor(cv2.imdecode(encoded, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
