"""Sensor depth as a network input: the normalisation by hand, the pipeline's sensor_depth (flipped with the image,
never jittered, only for methods that take it), the refusal of a set without depth, and the proof that no method's
network ever sees a depth label (M0 or the face depth)."""
import json
import os
import re

import numpy as np
import pytest
from scipy.spatial import ConvexHull

from depth_fixtures import add_sensor_depth, face_hull, reference_normalise
from physstd import methods
from physstd.data import face_model

N = 32


# --- the normalisation --------------------------------------------------------------------------------------------
def _normalise(raw, units):
    from physstd.ops import depth as depth_ops

    return np.asarray(depth_ops.normalise_sensor_depth(np.asarray(raw)[..., None], units))[..., 0]


def test_the_face_hull_is_the_mean_face_s_landmark_hull():
    from physstd.ops import depth as depth_ops

    points = face_model.canonical_landmarks(2.0, face_model.NUM_DETECTED)   # pixel coordinates u * (2 - 1)
    np.testing.assert_allclose(depth_ops.FACE_HULL, points[ConvexHull(points).vertices], atol=1e-6)
    for size in (N, 64, 256):
        np.testing.assert_array_equal(depth_ops.face_region(size), face_hull(size))


def test_mm_depth_is_centred_on_the_median_face_depth_by_hand():
    """A crop whose face hull holds 148 pixels at 600 mm, 148 at 640 mm and 3 holes: Z_ref = 620 mm (the mean of
    the two middle values); one more pixel at 600 mm makes it 600. Outside the hull: the wall at 700 mm, a near
    object at 400 mm and a hole."""
    region = face_hull(N)
    assert region.sum() == 299
    raw = np.full((N, N), 700, np.uint16)
    inside = np.flatnonzero(region)
    flat = raw.reshape(-1)
    flat[inside[:148]], flat[inside[148:296]], flat[inside[296:]] = 600, 640, 0
    raw[0, 0], raw[0, 1] = 400, 0
    got = _normalise(raw, "mm")
    expected = {600: 0.5 + 20 / 256, 640: 0.5 - 20 / 256, 700: 0.5 - 80 / 256, 400: 1.0, 0: 0.0}
    for value, normalised in expected.items():
        np.testing.assert_array_equal(got[raw == value], np.float32(normalised), err_msg=str(value))
    raw.reshape(-1)[inside[296]] = 600
    assert _normalise(raw, "mm")[raw == 640][0] == np.float32(0.5 - 40 / 256)
    # No valid pixel in the face hull: no reference, every pixel 0; uint8 depth: value / 255.
    assert not _normalise(np.where(region, 0, 650).astype(np.uint16), "mm").any()
    np.testing.assert_array_equal(_normalise(np.array([[0, 51], [255, 102]], np.uint8), "uint8"),
                                  np.float32([[0, 0.2], [1, 0.4]]))


def test_batches_normalise_each_crop_like_numpy_s_median():
    rng = np.random.default_rng(0)
    raw = rng.integers(300, 1500, (3, 2, N, N)).astype(np.uint16)
    raw[rng.uniform(size=raw.shape) < 0.2] = 0
    got = _normalise(raw, "mm")
    assert got.shape == raw.shape and got.dtype == np.float32
    for index in np.ndindex(raw.shape[:2]):
        np.testing.assert_allclose(got[index], reference_normalise(raw[index], "mm"), atol=1e-6, err_msg=str(index))
    with pytest.raises(ValueError, match="depth units: expected one of mm, uint8, got 'm'"):
        _normalise(raw, "m")


# --- the pipeline -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def depth_set(tmp_path_factory):
    """The toy set (2 live, 2 print videos of 3 frames) with mm sensor depth, and the RGB-only original."""
    import shutil

    from physstd.data.toy import write_toy_dataset

    base = tmp_path_factory.mktemp("depth_set")
    rgb, depth = str(base / "rgb"), str(base / "rgbd")
    ids = write_toy_dataset(rgb, N, videos_per_class=2, frames_per_video=3)
    shutil.copytree(rgb, depth)
    return {"rgb": rgb, "root": depth, "ids": ids, "raw": add_sensor_depth(depth, "mm")}


def test_eval_batches_carry_the_normalised_depth_only_for_methods_that_take_it(depth_set):
    from physstd.data import pipeline

    root, ids, raw = depth_set["root"], depth_set["ids"], depth_set["raw"]
    batch = next(iter(pipeline.eval_dataset(root, ids, N, 12, input_keys=("image", "sensor_depth"))))
    assert batch["sensor_depth"].shape == (12, N, N, 1)
    for i, (video, frame) in enumerate(zip(batch["video_id"].numpy(), batch["frame"].numpy())):
        np.testing.assert_allclose(batch["sensor_depth"][i, ..., 0], reference_normalise(raw[video.decode()][frame],
                                                                                         "mm"), atol=1e-6)
    assert "sensor_depth" not in next(iter(pipeline.eval_dataset(root, ids, N, 12)))


def test_train_samples_flip_the_depth_with_the_image_and_never_jitter_it(depth_set):
    from physstd.data import pipeline

    root, ids, raw = depth_set["root"], depth_set["ids"], depth_set["raw"]
    dataset = pipeline.train_dataset(root, ids, N, 4, seed=3, with_ids=True, input_keys=("image", "sensor_depth"))
    flips = []
    for batch in dataset.take(2):
        for half in batch.values():
            for i in range(4):
                stored = raw[half["video_id"][i].numpy().decode()][half["frame"][i].numpy()]
                flipped = bool(half["flipped"][i].numpy())
                flips.append(flipped)
                # The crop as the sensor would have seen the mirrored face, normalised; the brightness jitter of the
                # image never reaches it.
                expected = reference_normalise(stored[:, ::-1] if flipped else stored, "mm")
                np.testing.assert_allclose(half["sensor_depth"][i, ..., 0], expected, atol=1e-6)
    assert 0 < sum(flips) < len(flips)


def test_a_method_that_takes_depth_is_refused_a_set_without_it_naming_its_meta_json(depth_set, tmp_path):
    from physstd.data import pipeline, prepared

    keys = ("image", "sensor_depth")
    with pytest.raises(ValueError, match=re.escape(f"{os.path.join(depth_set['rgb'], 'meta.json')}: the method "
                                                   f"takes sensor_depth, but this set's modalities are ['rgb']")):
        pipeline.eval_dataset(depth_set["rgb"], depth_set["ids"], N, 4, input_keys=keys)
    meta = prepared.read_meta(depth_set["root"])
    with pytest.raises(ValueError, match=r"meta.json: depth_units must be one of mm, uint8, got 'cm'"):
        pipeline.sensor_depth_units(dict(meta, depth_units="cm"), str(tmp_path), keys)
    with pytest.raises(ValueError, match=r"input keys \('image', 'depth'\): expected the image and any of "
                                         r"sensor_depth"):
        pipeline.sensor_depth_units(meta, str(tmp_path), ("image", "depth"))


def test_a_depth_frame_of_the_wrong_type_is_named(depth_set, tmp_path):
    import shutil

    from physstd.data import pipeline, prepared, sensor_depth

    root = str(tmp_path / "set")
    shutil.copytree(depth_set["root"], root)
    path = os.path.join(root, "live_0", "sensor_depth", prepared.frame_filename(1))
    sensor_depth.write_depth_png(path, np.zeros((N, N), np.uint8))
    store = pipeline.PreparedVideos(root, ["live_0"], N, input_keys=("image", "sensor_depth"))
    with pytest.raises(prepared.PreparedFormatError, match=re.escape(f"{path}: expected a {N}x{N} one-channel "
                                                                     f"uint16 depth image (depth_units mm), got")):
        store.sensor_depth(0, 1)
    with open(os.path.join(root, "meta.json")) as stream:
        assert json.load(stream)["depth_units"] == "mm"


# --- no depth label is ever a network input -----------------------------------------------------------------------
def _trainers(base):
    """{method: its trainer at N = 32}, built through the registry (De-Spoof's DQ-Net: an Auxiliary run's)."""
    import keras
    import tensorflow as tf

    from physstd import runs
    from physstd.models import ModelConfig
    from physstd.train.config import TrainConfig
    from physstd.train.loop import write_run_flags

    model_config = ModelConfig(image_size=N, width=0.125)
    trainers = {}
    for name in sorted(methods.names(), key=lambda name: name == "despoof"):
        method = methods.get(name)
        own = {"dq_run": str(base / "auxiliary")} if name == "despoof" else {}
        config = TrainConfig(method=name, method_config=method.config_class(**own), batch_size=2)
        keras.utils.set_random_seed(0)
        trainers[name] = method.trainer(model_config, config, face_model.NUM_LANDMARKS, tf.distribute.get_strategy())
        if name == "auxiliary":
            run_dir = str(base / name)
            os.makedirs(run_dir)
            write_run_flags(run_dir, config, model_config, face_model.NUM_LANDMARKS)
            tf.train.CheckpointManager(tf.train.Checkpoint(**trainers[name].checkpoint_objects()),
                                       os.path.join(run_dir, runs.CHECKPOINT_DIR), max_to_keep=1).save(1)
    return trainers


def _network_inputs(trainer, batch):
    """Every tensor handed to one of the trainer's networks during one train step on `batch` (run eagerly), in call
    order; the trainer's variables are put back afterwards, so the next call starts from the same state."""
    import keras
    import tensorflow as tf

    networks = {id(network) for network in trainer._networks()}
    variables = [v for n in trainer._networks() for v in n.variables] + \
                [v for o in trainer._optimizers() for v in o.variables] + [trainer.step]
    saved = [v.numpy() for v in variables]
    seen, original = [], keras.Layer.__call__

    def recording(layer, *args, **kwargs):
        if id(layer) in networks:
            seen.extend(np.asarray(t) for t in tf.nest.flatten(args))
        return original(layer, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(keras.Layer, "__call__", recording)
        trainer._distributed_step(batch)
    for variable, value in zip(variables, saved):
        variable.assign(value)
    return seen


def test_no_method_feeds_a_depth_label_to_its_networks(tmp_path):
    """Every registered method takes the image (and at most the sensor depth), never the depth label M0 or the face
    depth: in a train step, the tensors its networks receive are the same whatever those labels hold, and they do
    change with the image (the recording sees the inputs)."""
    from physstd.data import pipeline, toy

    trainers = _trainers(tmp_path)
    assert sorted(trainers) == sorted(methods.names())
    batch = toy.random_batch(N, 1, seed=1, as_tensors=False, input_keys=pipeline.INPUT_KEYS)   # the image-only ignore it
    rng = np.random.default_rng(2)
    other_labels = {half: dict(sample, **{key: rng.uniform(0, 1, sample[key].shape).astype(np.float32)
                                          for key in ("depth", "face_depth")}) for half, sample in batch.items()}
    other_images = {half: dict(sample, image=np.float32(1.0 - sample["image"])) for half, sample in batch.items()}
    for name, trainer in trainers.items():
        keys = methods.get(name).input_keys
        assert keys[0] == "image" and set(keys) <= set(pipeline.INPUT_KEYS), name
        seen = _network_inputs(trainer, batch)
        assert seen, name
        relabelled = _network_inputs(trainer, other_labels)
        assert len(relabelled) == len(seen), name
        for first, second in zip(seen, relabelled):
            np.testing.assert_array_equal(first, second, err_msg=name)
        changed = _network_inputs(trainer, other_images)
        assert any(not np.array_equal(a, b) for a, b in zip(seen, changed)), name
