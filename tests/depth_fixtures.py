"""Shared test data of the sensor-depth tests: depth frames added to a tiny prepared set, and the normalisation
computed by hand with numpy (the reference physstd.ops.depth is checked against).

`add_sensor_depth` writes `<video>/sensor_depth/NNNNNN.png` for every frame of every video of a prepared set and
adds the "modalities" and "depth_units" keys to its meta.json, as a set prepared with a depth stream has them. Live
frames are a face-like bump 30 mm nearer than its rim at 500-700 mm, spoof frames a plane tilted across the crop;
about 3% of the pixels are holes (0), and the crop's corners are a wall 400 mm behind the face.
"""
import json
import os

import numpy as np
from scipy.spatial import ConvexHull

from physstd.data import face_model, prepared, sensor_depth


def face_hull(size):
    """(N, N) bool: the pixel centres inside the convex hull of the mean face's 68 landmarks placed by the crop rule
    (computed here from the landmarks, apart from physstd.ops.depth)."""
    points = face_model.canonical_landmarks(size, face_model.NUM_DETECTED)
    equations = ConvexHull(points).equations
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    grid = np.stack([xs.ravel(), ys.ravel()], axis=1)
    return ((grid @ equations[:, :2].T + equations[:, 2]) <= 1e-9).all(axis=1).reshape(size, size)


def reference_normalise(raw, units):
    """The normalisation of one (N, N) raw depth crop, by hand: mm -> clip(0.5 + (Z_ref - Z) / 256, 0, 1) with
    Z_ref = numpy's median of the valid Z inside the face hull, holes 0; uint8 -> value / 255."""
    raw = np.asarray(raw, np.float64)
    if units == "uint8":
        return raw / 255.0
    inside = raw[face_hull(raw.shape[0]) & (raw > 0)]
    if inside.size == 0:
        return np.zeros_like(raw)
    return np.where(raw > 0, np.clip(0.5 + (np.median(inside) - raw) / 256.0, 0.0, 1.0), 0.0)


def depth_frame(rng, size, label, units):
    """One raw depth crop (N, N) in `units` (module doc)."""
    ys, xs = np.mgrid[0:size, 0:size] / (size - 1) - 0.5
    z0 = rng.uniform(500, 700)
    if label == 0:
        z = z0 - 30.0 * np.clip(1.0 - 5.0 * (xs ** 2 + ys ** 2), 0.0, 1.0)
    else:
        z = z0 + rng.uniform(-60, 60) * xs + rng.uniform(-60, 60) * ys
    z = np.where(np.abs(xs) + np.abs(ys) > 0.8, z0 + 400.0, z + rng.normal(0.0, 1.0, z.shape))
    z[rng.uniform(size=z.shape) < 0.03] = 0.0
    if units == "uint8":   # an 8-bit release: nearer is brighter, the face around 128
        return np.where(z > 0, np.clip(128 + (z0 - z) * 2.0, 1, 255), 0).round().astype(np.uint8)
    return z.round().astype(np.uint16)


def add_sensor_depth(root, units="mm", seed=0):
    """Write a depth frame for every frame of every video of the prepared set `root` and mark its meta.json (module
    doc); returns {video_id: (F, N, N) raw depth as stored}."""
    dataset = prepared.PreparedDataset(root)
    rng = np.random.default_rng(seed)
    stored = {}
    for row in dataset.index:
        folder = os.path.join(dataset.video_dir(row["video_id"]), "sensor_depth")
        os.makedirs(folder, exist_ok=True)
        frames = [depth_frame(rng, dataset.image_size, row["label"], units) for _ in range(row["num_frames"])]
        for k, frame in enumerate(frames):
            sensor_depth.write_depth_png(os.path.join(folder, prepared.frame_filename(k)), frame)
        stored[row["video_id"]] = np.stack(frames)
    path = os.path.join(root, prepared.META_FILE)
    with open(path) as stream:
        meta = json.load(stream)
    with open(path, "w") as stream:
        json.dump(dict(meta, modalities=["rgb", "sensor_depth"], depth_units=units), stream, indent=1)
    return stored
