"""Shared test data of the evaluation / export / predict / demo tests: a tiny prepared dataset and run directories.

The dataset: live faces are smooth random colour fields; 'print' adds a colour cast, 'replay' horizontal stripes;
every spoof video has a truth.npz. Protocols: 'p1' (train/dev/test by subject) and 'folds' (fold_print,
fold_replay: train/dev without that type, test = test subjects' live + that type). Run directories hold a freshly
initialised (seeded) Generator checkpoint and a flags.json, exactly as physstd.train writes them.
"""
import collections
import json
import os
import subprocess
import sys
import textwrap

import numpy as np

from physstd import files
from physstd.data import face_model, prepared

SUBJECTS = {"train": ("s0", "s1"), "dev": ("s2", "s3"), "test": ("s4", "s5")}
TYPES = ("live", "print", "replay")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
Frame = collections.namedtuple("Frame", "crop landmarks depth frame_number")


def _trace(spoof_type, size):
    if spoof_type == "print":
        return np.broadcast_to(np.array([0.12, -0.06, 0.04], np.float32), (size, size, 3)).copy()
    rows = 0.1 * np.sign(np.sin(np.arange(size) * np.pi / 2)).astype(np.float32)
    return np.repeat(np.repeat(rows[:, None, None], size, axis=1), 3, axis=2)


def write_dataset(root, size=32, frames=2, seed=0):
    """Write the dataset under root; returns {video_id: (label, spoof_type, subject)}."""
    rng = np.random.default_rng(seed)
    writer = prepared.DatasetWriter(root, "deploy_test", size)
    landmarks = face_model.canonical_landmarks(size).astype(np.float32)
    depth = np.zeros((size // 8, size // 8), np.float32)
    depth[1:-1, 1:-1] = 0.8
    videos = {}
    for subjects in SUBJECTS.values():
        for subject in subjects:
            for spoof_type in TYPES:
                label = int(spoof_type != "live")
                video_id = f"{subject}_{spoof_type}"
                coarse = rng.uniform(0.25, 0.75, (4, 4, 3))
                index = np.arange(size) * 4 // size
                live = [np.clip(coarse[index][:, index] + rng.normal(0, 0.02, (size, size, 3)), 0, 1)
                        for _ in range(frames)]
                trace = _trace(spoof_type, size) if label else np.zeros((size, size, 3), np.float32)
                images = [np.clip(image + trace, 0, 1) for image in live]
                crops = [np.round(image * 255).astype(np.uint8) for image in images]
                truth = None
                if label:
                    crop_float = np.stack(crops).astype(np.float32) / 255
                    live_float = np.stack(live).astype(np.float32)
                    truth = {"trace": crop_float - live_float, "mask": np.zeros((frames, size, size)),
                             "content": np.zeros((frames, size, size, 3)), "live": live_float}
                writer.write_video({"video_id": video_id, "path": video_id, "label": label,
                                    "spoof_type": spoof_type, "subject": subject},
                                   [Frame(c, landmarks, depth, k) for k, c in enumerate(crops)], extra_truth=truth)
                videos[video_id] = (label, spoof_type, subject)
    _write_protocols(root, videos)
    return videos


def _write_list(path, ids):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    files.write_text_atomic(path, "".join(f"{i}\n" for i in sorted(ids)))


def _write_protocols(root, videos):
    base = os.path.join(root, "protocols")
    for subset, subjects in SUBJECTS.items():
        _write_list(os.path.join(base, "p1", f"{subset}.txt"), [v for v, (_, _, s) in videos.items() if s in subjects])
    for held in ("print", "replay"):
        for subset, subjects in SUBJECTS.items():
            keep = (lambda t, h=held: t in ("live", h)) if subset == "test" else (lambda t, h=held: t != h)
            ids = [v for v, (_, t, s) in videos.items() if s in subjects and keep(t)]
            _write_list(os.path.join(base, "folds", f"fold_{held}", f"{subset}.txt"), ids)


def make_run_dir(run_dir, data_root, protocol, fold="", size=32, width=0.125, seed=0):
    """A run directory with a seeded, untrained Generator checkpoint; returns (generator, model_config)."""
    import keras
    import tensorflow as tf

    from physstd.methods.physstd.generator import Generator
    from physstd.models import ModelConfig
    from physstd.runs import network_checkpoint
    from physstd.train.config import TrainConfig

    keras.utils.set_random_seed(seed)
    model_config = ModelConfig(image_size=size, width=width)
    generator = Generator(model_config)
    generator(tf.zeros((1, size, size, 3)), training=False)
    # He-normal kernels instead of the paper's N(0, 0.02): an untrained network whose outputs depend clearly
    # on the input, so that scores differ between videos by more than float32 noise.
    rng = np.random.default_rng(seed)
    for variable in generator.trainable_variables:
        if variable.path.endswith("kernel"):
            fan_in = int(np.prod(variable.shape[:-1]))
            variable.assign(rng.normal(0.0, np.sqrt(2.0 / fan_in), variable.shape).astype(np.float32))
    config = TrainConfig(data_root=data_root, protocol=protocol, fold=fold, run_dir=run_dir, seed=seed)
    os.makedirs(run_dir, exist_ok=True)
    files.write_json_atomic(os.path.join(run_dir, "flags.json"),
                            {"train": config.to_dict(), "model": model_config.to_dict(),
                             "num_landmarks": face_model.NUM_LANDMARKS})
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(generator=network_checkpoint(generator)),
                                         os.path.join(run_dir, "checkpoints"), max_to_keep=2)
    manager.save(checkpoint_number=1)
    return generator, model_config


def png_size(path):
    """(width, height) from a PNG file's IHDR chunk; asserts the PNG signature."""
    with open(path, "rb") as stream:
        header = stream.read(24)
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert header[12:16] == b"IHDR"
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")


def run_with_tensorflow_only(body, tmp_path):
    """Run `body` (Python source that fills a dict `outputs` of numpy arrays; numpy as np and tensorflow as tf are
    imported) in a fresh interpreter whose path does not hold this project, and assert that it succeeds without
    importing physstd. Returns the saved outputs (an NpzFile)."""
    script = "import sys\nimport numpy as np\nimport tensorflow as tf\noutputs = {}\n" + textwrap.dedent(body) + (
        f"\nnp.savez({str(tmp_path / 'out.npz')!r}, **outputs)\n"
        "print('physstd imported:', any(m.split('.')[0] == 'physstd' for m in sys.modules))\n")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH="")
    run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "physstd imported: False" in run.stdout
    return np.load(tmp_path / "out.npz")


def outputs_without_tensorflow(paths, inputs, folder):
    """{key: {output: array}} of each export file of `paths` {key: path} run on `inputs` (numpy arrays, the
    arguments of runtime.Export.run) in one fresh process, which must not import TensorFlow, Keras or tf2onnx."""
    names = [str(folder / f"input_{index}.npy") for index in range(len(inputs))]
    for name, values in zip(names, inputs):
        np.save(name, values)
    script = textwrap.dedent(f"""
        import json, sys
        import numpy as np
        from physstd.deploy import runtime
        inputs = [np.load(name) for name in {names!r}]
        for key, path in {paths!r}.items():
            np.savez({str(folder)!r} + f"/{{key}}.npz", **runtime.load(path, num_threads=1).run(*inputs))
        print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf2onnx"))))
    """)
    run = subprocess.run([sys.executable, "-c", script], cwd=folder, capture_output=True, text=True, timeout=600,
                         env=dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3"))
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads(run.stdout.strip().splitlines()[-1]) == []   # no TensorFlow, Keras or tf2onnx imported
    return {key: dict(np.load(folder / f"{key}.npz")) for key in paths}
