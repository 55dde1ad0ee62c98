"""Training input pipeline throughput vs. what one training step consumes (`python -m benchmarks.pipeline`).

Writes a prepared dataset at N = 256 with the project's own writer (PNG crops, compressed arrays.npz) in a
temporary folder, then measures `pipeline.train_dataset` in samples/s (one pair = 2 samples) with an empty
cache (every frame decoded and every barycentric map built anew: the large-dataset case) and with a warm
cache (small sets). The consumption rate is 8 samples per step divided by the time of one generator
forward + backward pass at batch 8 (physstd.models.Generator; a lower bound of the full three-step train
step, so the ratio below is conservative). Goal: pipeline >= 3x consumption.
"""
import os
import sys
import tempfile
import time
import types

import numpy as np
from absl import app, flags

flags.DEFINE_integer("image_size", 256, "crop size N")
flags.DEFINE_integer("videos", 12, "videos in the temporary dataset (half live, half spoof of 3 types)")
flags.DEFINE_integer("frames", 8, "frames per video")
flags.DEFINE_integer("batches", 40, "timed batches of 4 pairs (paper batch 8)")
flags.DEFINE_integer("model_steps", 3, "timed generator forward+backward passes")
FLAGS = flags.FLAGS

BATCH_PAIRS = 4   # the PhySTD paper's batch 8, half live, half spoof


def write_dataset(root, size, videos, frames, seed=0):
    """A prepared dataset of random-texture faces (mean face under small similarity transforms)."""
    from physstd.config import ImageSizes
    from physstd.data import face_model, prepared
    rng = np.random.default_rng(seed)
    writer = prepared.DatasetWriter(root, "benchmark", size)
    base = face_model.canonical_landmarks(size)
    center = (size - 1) / 2.0
    kinds = ["live"] * (videos // 2) + ["print", "replay", "half_mask"] * (videos - videos // 2)
    depth = ImageSizes(size).depth_size
    for v, kind in enumerate(kinds[:videos]):
        record = {"video_id": f"v{v:03d}", "path": f"v{v:03d}", "label": int(kind != "live"), "spoof_type": kind,
                  "subject": str(v)}
        items = []
        for k in range(frames):
            angle, scale = rng.uniform(-0.15, 0.15), rng.uniform(0.9, 1.05)
            rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
            landmarks = (base - center) @ rotation.T + center + rng.uniform(-4, 4, 2)
            crop = rng.integers(0, 256, (size // 8, size // 8, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
            items.append(types.SimpleNamespace(crop=crop, landmarks=landmarks.astype(np.float32),
                                               depth=rng.uniform(0, 1, (depth, depth)).astype(np.float32),
                                               frame_number=k))
        writer.write_video(record, items)
    return [row["video_id"] for row in writer.rows]


def pipeline_rate(root, ids, size, batches, cache_bytes):
    """Samples per second delivered by train_dataset (after 3 warm-up batches)."""
    from physstd.data import pipeline
    dataset = pipeline.train_dataset(root, ids, size, BATCH_PAIRS, seed=0, cache_bytes=cache_bytes)
    iterator = iter(dataset)
    for _ in range(3):
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * 2 * BATCH_PAIRS / (time.perf_counter() - start)


def stage_times(root, ids, size, repeats=20):
    """Milliseconds per sample of the numpy stages (frame decode, arrays.npz, barycentric map)."""
    from physstd import ops
    from physstd.data import face_model, prepared
    dataset = prepared.PreparedDataset(root)
    triangles = face_model.face_triangles()
    timings = {}
    for name, work in (("decode PNG", lambda v: dataset.load_frame(v, 0)),
                       ("load arrays.npz", lambda v: dataset.load_video(v)),
                       ("triangle_barycentrics", lambda v: ops.triangle_barycentrics(
                           dataset.load_video(v)["landmarks"][0], triangles, size))):
        work(ids[0])
        start = time.perf_counter()
        for r in range(repeats):
            work(ids[r % len(ids)])
        timings[name] = 1000 * (time.perf_counter() - start) / repeats
    return timings


def generator_rate(size, steps):
    """(samples/s, description): 8 / time of one forward+backward pass at batch 8."""
    import tensorflow as tf
    try:
        from physstd.methods.physstd.generator import Generator
        from physstd.models import ModelConfig
    except ImportError:
        Generator = None
    batch = 2 * BATCH_PAIRS
    images = tf.random.uniform([batch, size, size, 3])
    if Generator is not None:
        model = Generator(ModelConfig(image_size=size))
        description = f"physstd.models.Generator forward+backward, N={size}, batch {batch}"

        def loss_fn():
            out = model(images, training=True)
            return sum(tf.reduce_mean(tf.square(t)) for t in (out.B, out.C, out.T, out.P, out.I_P, out.M))
    else:
        # Stand-in of the generator's size (its backbone: ~10 conv layers at 64-128 channels).
        import keras
        layers = [keras.layers.Conv2D(c, 3, strides=s, padding="same", activation="relu")
                  for c, s in ((64, 1), (64, 1), (64, 2), (96, 1), (96, 2), (128, 1), (128, 2))]
        model = keras.Sequential(layers)
        description = f"STAND-IN conv stack (no physstd.models.Generator yet), N={size}, batch {batch}"

        def loss_fn():
            return tf.reduce_mean(model(images))

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = loss_fn()
        return tape.gradient(loss, model.trainable_variables)

    step()
    start = time.perf_counter()
    for _ in range(steps):
        grads = step()
    _ = [g.numpy() for g in grads[:1]]
    seconds = (time.perf_counter() - start) / steps
    return batch / seconds, f"{description}: {seconds:.2f} s/step"


def main(argv):
    del argv
    import tensorflow as tf
    size = FLAGS.image_size
    print(f"machine: {os.cpu_count()} CPU cores, GPUs: {len(tf.config.list_physical_devices('GPU'))}, "
          f"python {sys.version.split()[0]}, tensorflow {tf.__version__}")
    with tempfile.TemporaryDirectory() as root:
        ids = write_dataset(root, size, FLAGS.videos, FLAGS.frames)
        for name, ms in stage_times(root, ids, size).items():
            print(f"  per sample: {name:24s} {ms:7.2f} ms", flush=True)
        cold = pipeline_rate(root, ids, size, FLAGS.batches, cache_bytes=0)
        print(f"pipeline, no cache (large sets):   {cold:8.1f} samples/s", flush=True)
        warm = pipeline_rate(root, ids, size, FLAGS.batches, cache_bytes=4 << 30)
        print(f"pipeline, warm cache (small sets): {warm:8.1f} samples/s", flush=True)
    consumed, description = generator_rate(size, FLAGS.model_steps)
    print(f"consumption: {consumed:8.2f} samples/s ({description})")
    print(f"ratio pipeline / consumption: no cache {cold / consumed:.1f}x, warm cache {warm / consumed:.1f}x "
          f"(goal >= 3x)")


if __name__ == "__main__":
    app.run(main)
