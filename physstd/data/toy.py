"""Toy training data in the pipeline's formats (a tf.data batch, a prepared dataset on disk) for tests and
benchmarks.

Faces are the canonical mean-face landmarks with a seeded jitter (so the barycentric maps and the warps are
real); images are smooth random colour fields; each spoof is its live partner plus a fixed additive pattern
(a low-frequency colour cast and a high-frequency grid), so live and spoof are separable and a few train
steps measurably lower the losses. Depth: a centred bump is every frame's face depth (`face_depth`); the
target M0 (`depth`) is that bump for live and zeros for spoof; P0 for spoof is the image outside a centred
square (the 'outside_face' prior), zeros for live.
"""
import numpy as np

from physstd import files, ops
from physstd.config import ImageSizes
from physstd.data import face_model, prepared, spoof_types


def _smooth_field(rng, size, cells=4):
    coarse = rng.uniform(0.2, 0.8, (cells, cells, 3))
    index = np.minimum((np.arange(size) * cells) // size, cells - 1)
    return coarse[index][:, index]


def _sample(rng, size, num_landmarks, spoof):
    sizes = ImageSizes(size)
    landmarks = face_model.canonical_landmarks(size, num_landmarks) + rng.normal(0.0, size / 128, (num_landmarks, 2))
    landmarks = landmarks.astype(np.float32)
    bary_index, bary_weights = ops.triangle_barycentrics(landmarks, face_model.face_triangles(num_landmarks), size)
    image = _smooth_field(rng, size) + rng.normal(0.0, 0.02, (size, size, 3))
    k = sizes.depth_size
    yy, xx = np.mgrid[0:k, 0:k] / (k - 1) - 0.5
    face_depth = np.clip(1.0 - 4.0 * (xx ** 2 + yy ** 2), 0.0, 1.0)
    depth = face_depth
    p0 = np.zeros((size, size), np.float32)
    if spoof:
        grid = 0.08 * np.sign(np.sin(np.arange(size) * np.pi / 2))[:, None, None] * np.ones((1, size, 3))
        image = image + np.array([0.1, -0.05, 0.05]) + grid
        depth = np.zeros_like(depth)
        p0[:] = 1.0
        p0[size // 4: 3 * size // 4, size // 4: 3 * size // 4] = 0.0
    return {"image": np.clip(image, 0.0, 1.0).astype(np.float32), "landmarks": landmarks,
            "bary_index": np.asarray(bary_index, np.int32), "bary_weights": np.asarray(bary_weights, np.float32),
            "depth": depth[..., None].astype(np.float32), "face_depth": face_depth[..., None].astype(np.float32),
            "p0": p0[..., None],
            "spoof_type": np.int32(spoof_types.type_id("print") if spoof else 0), "label": np.int32(spoof)}


def toy_sensor_depth(size, spoof):
    """A toy normalised sensor depth (N, N, 1) in [0, 1]: a centred bump for a live face, flat for a spoof."""
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1) - 0.5
    bump = 0.5 + 0.4 * np.clip(1.0 - 4.0 * (xx ** 2 + yy ** 2), 0.0, 1.0)
    return np.full((size, size, 1), 0.5, np.float32) if spoof else bump[..., None].astype(np.float32)


def random_batch(image_size, pairs, seed=0, num_landmarks=face_model.NUM_LANDMARKS, as_tensors=True,
                 input_keys=("image",)):
    """{'live': sample, 'spoof': sample} with `pairs` samples each (the batch format of
    physstd.data.pipeline.train_dataset; with "sensor_depth" among input_keys, toy_sensor_depth too)."""
    rng = np.random.default_rng(seed)
    batch = {}
    for name, spoof in (("live", False), ("spoof", True)):
        samples = [_sample(rng, image_size, num_landmarks, spoof) for _ in range(pairs)]
        batch[name] = {key: np.stack([s[key] for s in samples]) for key in samples[0]}
        if "sensor_depth" in input_keys:
            batch[name]["sensor_depth"] = np.stack([toy_sensor_depth(image_size, spoof)] * pairs)
    if as_tensors:
        import tensorflow as tf

        batch = tf.nest.map_structure(tf.convert_to_tensor, batch)
    return batch


def random_dataset(image_size, pairs, num_pairs, seed=0, num_landmarks=face_model.NUM_LANDMARKS):
    """Endless tf.data.Dataset of `pairs`-pair batches cycling over `num_pairs` random pairs."""
    import tensorflow as tf

    pool = random_batch(image_size, num_pairs, seed, num_landmarks, as_tensors=False)
    return tf.data.Dataset.from_tensor_slices(pool).repeat().batch(pairs, drop_remainder=True)


def write_toy_dataset(root, image_size, videos_per_class=4, frames_per_video=2, seed=0, protocol="toy",
                      num_landmarks=face_model.NUM_LANDMARKS):
    """A tiny prepared dataset (the layout of physstd.data.prepared) of toy live/spoof videos under `root`, with split
    lists <root>/protocols/<protocol>/{train,dev}.txt (all videos in both, which its protocol.json allows).
    Returns the video ids."""
    import collections
    import os

    Frame = collections.namedtuple("Frame", "crop landmarks depth frame_number")
    writer = prepared.DatasetWriter(root, "toy", image_size, num_landmarks=num_landmarks)
    rng = np.random.default_rng(seed)
    ids = []
    for label, spoof_type in ((0, "live"), (1, "print")):
        for v in range(videos_per_class):
            video_id = f"{spoof_type}_{v}"
            frames = []
            for k in range(frames_per_video):
                sample = _sample(rng, image_size, num_landmarks, bool(label))
                frames.append(Frame((sample["image"] * 255).round().astype(np.uint8), sample["landmarks"],
                                    sample["face_depth"][..., 0], k))
            writer.write_video({"video_id": video_id, "path": video_id, "label": label, "spoof_type": spoof_type,
                                "subject": str(v)}, frames)
            ids.append(video_id)
    split_dir = os.path.join(root, "protocols", protocol)
    os.makedirs(split_dir, exist_ok=True)
    for subset in ("train", "dev"):
        with open(os.path.join(split_dir, f"{subset}.txt"), "w") as stream:
            stream.write("\n".join(ids) + "\n")
    # Every video in every subset: a smoke-test protocol that says so (physstd.data.protocols refuses overlap).
    files.write_json_atomic(os.path.join(split_dir, "protocol.json"),
                            {"definition": "toy: every video in every subset", "allow_split_overlap": True})
    return ids
