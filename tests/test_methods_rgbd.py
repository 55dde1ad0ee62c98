"""A method that takes sensor depth next to the image, through the whole harness: a throw-away RGB-D method, added
as a new method is (tests/test_methods.py does the same for RGB), is trained a few steps through the real loop on a
tiny set with depth, evaluated, calibrated, exported with two inputs, reloaded with TensorFlow alone, scored by
trace recovery and classification, and run by predict with --depth; every number is checked against its network
and the normalisation computed by hand."""
import importlib
import json
import os
import re
import shutil

import cv2
import numpy as np
import pytest
import tensorflow as tf

from deploy_fixtures import SUBJECTS, run_with_tensorflow_only, write_dataset
from depth_fixtures import add_sensor_depth, reference_normalise
from physstd import export, runs
from test_methods import throwaway_method

N = 32
NAME = "depth_map_test"
KEYS = ("image", "sensor_depth")
FOLDER = {
    "__init__.py": '''
        """A one-conv network over the image and the sensor depth whose sigmoid map should be 1 on attacks; score =
        mean(map), nothing fitted; its "trace" is map - 0.5."""
        import numpy as np

        from physstd.methods.base import Method, TraceModel, UnfittedScore


        class DepthMap(UnfittedScore, Method):
            name = "depth_map_test"
            display_name = "DepthMap"
            input_keys = ("image", "sensor_depth")
            score_terms = ("map_mean",)
            score_formula = "map_mean"

            def trainer(self, model_config, config, num_landmarks, strategy):
                from physstd.methods.depth_map_test.trainer import DepthMapTrainer

                return DepthMapTrainer(model_config, config, strategy)

            def prediction_terms(self, prediction):
                return {"map_mean": np.asarray(prediction["map"], np.float64).mean(axis=(1, 2, 3))}

            def load(self, run_dir):
                from physstd.methods.depth_map_test.network import DepthMapInference, restored

                return DepthMapInference(restored(run_dir))

            def score(self, terms, params):
                return terms["map_mean"]

            def trace_model(self, inference):
                return TraceModel(lambda inputs: (inference(inputs)["trace"], None), inference.image_size, (4, 16),
                                  "Map trace", self.input_keys)

            def classification_traces(self, outputs):
                return outputs["trace"]


        METHOD = DepthMap()
    ''',
    "network.py": '''
        import keras
        import tensorflow as tf

        from physstd import runs

        SIZE = 32


        def network():
            image, depth = keras.Input((SIZE, SIZE, 3)), keras.Input((SIZE, SIZE, 1))
            both = keras.layers.Concatenate()([image, depth])
            out = keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid", name="conv")(both)
            return keras.Model([image, depth], out, name="depth_map")


        def restored(run_dir):
            """The network with the newest checkpoint of a run."""
            loaded = network()
            runs.restore_networks(run_dir, {"network": loaded})
            return loaded


        class DepthMapInference(tf.Module):
            def __init__(self, network):
                super().__init__(name="depth_map_inference")
                self.network, self.image_size, self.config = network, SIZE, {"layers": 1}

            def __call__(self, inputs):
                out = self.network([inputs["image"], inputs["sensor_depth"]], training=False)
                return {"map": out, "map_mean": tf.reduce_mean(out, axis=(1, 2, 3)),
                        "trace": tf.tile(out - 0.5, [1, 1, 1, 3])}
    ''',
    "trainer.py": '''
        """L2 of the mean map to the label, on the image and the sensor depth."""
        import tensorflow as tf

        from physstd.methods.depth_map_test.network import network
        from physstd.train.trainer import OneNetworkTrainer


        def both(batch, key):
            return tf.concat([batch["live"][key], batch["spoof"][key]], 0)


        class DepthMapTrainer(OneNetworkTrainer):
            def __init__(self, model_config, config, strategy=None):
                super().__init__("depth_map_trainer", model_config, config, strategy)
                with self.strategy.scope():
                    self.network = network()
                    self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
                    self.optimizer = self._adam(1.0, "depth_map_adam")
                    self.optimizer.build(self.network.trainable_variables)
                self._compile()

            def _train_step(self, batch):
                labels = tf.cast(both(batch, "label"), tf.float32)
                with tf.GradientTape() as tape:
                    maps = self.network([both(batch, "image"), both(batch, "sensor_depth")], training=True)
                    loss = tf.reduce_mean(tf.square(tf.reduce_mean(maps, axis=(1, 2, 3)) - labels))
                self._update(self.optimizer, tape, loss, self.network)
                return {"map": loss}

            def _predict(self, inputs):
                return {"map": self.network([inputs["image"], inputs["sensor_depth"]], training=False)}

            def _visuals(self, batch):
                return {}

    ''',
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The RGB-D method trained 3 steps through physstd.train.loop.train on the deploy-test set (6 subjects; live,
    print, replay; 2 frames a video) with mm depth; protocol p1 (train / dev / test by subject)."""
    from physstd.models import ModelConfig
    from physstd.train.config import TrainConfig
    from physstd.train.loop import train

    base = tmp_path_factory.mktemp("rgbd")
    root, rgb = str(base / "data"), str(base / "rgb")
    videos = write_dataset(rgb, size=N)
    shutil.copytree(rgb, root)
    raw = add_sensor_depth(root, "mm")
    with throwaway_method(tmp_path_factory.mktemp("methods"), NAME, FOLDER) as method:
        config = TrainConfig(method=NAME, data_root=root, protocol="p1", run_dir=str(base / "run"), batch_size=2,
                             learning_rate=1e-2, num_steps=3, checkpoint_every=3, summary_every=1,
                             image_summary_every=1, log_every=1)
        result = train(config, ModelConfig(image_size=N, width=0.125))
        yield {"root": root, "rgb": rgb, "raw": raw, "videos": videos, "run": str(base / "run"), "result": result,
               "method": method, "base": base}


def _split(trained, subset):
    return sorted(v for v, (_, _, subject) in trained["videos"].items() if subject in SUBJECTS[subset])


def _network(run_dir):
    return importlib.import_module(f"physstd.methods.{NAME}.network").restored(run_dir)


def _reference_inputs(trained, ids):
    """{video: (images (F, N, N, 3) float32, normalised depth (F, N, N, 1) by hand)} of the prepared frames."""
    from physstd.data import prepared

    dataset = prepared.PreparedDataset(trained["root"])

    def depth(video):
        return np.stack([reference_normalise(d, "mm") for d in trained["raw"][video]])[..., None].astype(np.float32)
    return {video: (dataset.load_frames(video).astype(np.float32) / 255.0, depth(video)) for video in ids}


def _reference_maps(trained, ids):
    """{video: the map per frame (F, N, N, 1)}, from the checkpointed network on the inputs made by hand."""
    network = _network(trained["run"])
    return {video: np.asarray(network([images, depth])) for video, (images, depth)
            in _reference_inputs(trained, ids).items()}


def test_training_records_the_depth_units_and_scores_dev_with_the_depth(trained):
    from physstd.eval import metrics

    run_dir = trained["run"]
    assert trained["result"]["step"] == 3 and np.isfinite(trained["result"]["losses"]["map"])
    with open(os.path.join(run_dir, "flags.json")) as stream:
        record = json.load(stream)
    assert (record["train"]["method"], record[runs.SENSOR_DEPTH_UNITS]) == (NAME, "mm")
    with open(os.path.join(run_dir, "dev_eval.json")) as stream:
        dev = json.load(stream)[-1]
    ids = _split(trained, "dev")
    values = np.concatenate([m.mean(axis=(1, 2, 3)) for m in _reference_maps(trained, ids).values()])
    labels = np.repeat([trained["videos"][v][0] for v in ids], 2)
    assert dev["frames"] == 12 and dev["score"] == pytest.approx(metrics.auc(labels, values), abs=1e-9)


@pytest.fixture(scope="module")
def exported(trained):
    """The run evaluated on p1 (calibrated on dev) and exported."""
    from physstd.eval import evaluate

    output = trained["base"] / "eval"
    record, folds = evaluate.evaluate_models([trained["run"]], str(output))
    info = export.export_run(trained["run"], str(trained["base"] / "model"))
    return {"dir": str(trained["base"] / "model"), "info": info, "fold": folds[0], "eval": output}


def test_evaluation_and_calibration_feed_the_depth(trained, exported):
    from physstd.eval import evaluate, metrics, scoring

    maps = _reference_maps(trained, _split(trained, "dev") + _split(trained, "test"))
    means = {video: m.mean() for video, m in maps.items()}
    dev, test = _split(trained, "dev"), _split(trained, "test")
    labels = np.array([trained["videos"][v][0] for v in dev])
    dev_means = np.array([means[v] for v in dev])
    calibration = scoring.load_calibration(os.path.join(trained["run"], scoring.CALIBRATION_FILENAME),
                                           trained["method"])
    assert (calibration["params"], calibration["split"]) == ({}, "dev")
    assert calibration["threshold"] == pytest.approx(metrics.eer(labels, dev_means)[1], abs=1e-6)
    _, scores, _ = evaluate.read_scores_csv(exported["eval"] / "scores.csv")
    np.testing.assert_allclose(scores, [means[v] for v in test], atol=1e-6)
    # The export scores the same frames alike (its raw-depth normalisation is not used here: the pipeline's is).
    from_export = evaluate.ScoringModel(exported["dir"])
    frames = evaluate.collect_frames(from_export, trained["root"], test)
    np.testing.assert_allclose(frames.terms["map_mean"],
                               np.concatenate([maps[v].mean(axis=(1, 2, 3)) for v in test]), atol=1e-6)


def test_the_export_takes_images_and_depth_and_normalises_raw_depth_inside(trained, exported):
    info = exported["info"]
    assert info["inputs"].keys() == {"images", "depth"} and info["depth_units"] == "mm"
    assert info["depth_normalisation"].startswith("clip(0.5 + (Z_ref - Z) / 256 mm, 0, 1)")
    assert info["outputs"] == ["score", "decision", "map", "map_mean", "trace"]
    assert "uint16 (batch, N, N, 1) in mm" in info["signatures"][export.SIGNATURE_UINT8]
    loaded = tf.saved_model.load(exported["dir"])
    video = _split(trained, "test")[1]
    images, depth = _reference_inputs(trained, [video])[video]
    expected = np.asarray(_network(trained["run"])([images, depth])).mean(axis=(1, 2, 3))
    as_uint8 = np.round(images * 255).astype(np.uint8)
    raw = trained["raw"][video][..., None]
    for out in (loaded.signatures["serving_default"](images=images, depth=depth),
                loaded.signatures["serving_uint8"](images=as_uint8, depth=raw),
                loaded.serve(images, depth), loaded.serve(as_uint8, raw)):
        np.testing.assert_allclose(out["score"], expected, atol=1e-5)
    # The checks name each input.
    refused = tf.errors.InvalidArgumentError
    with pytest.raises(refused, match=re.escape(f"depth must be a batch of sensor-depth crops of shape (batch, {N}, "
                                                f"{N}, 1), one per image")):
        loaded.signatures["serving_default"](images=images, depth=depth[:1])
    with pytest.raises(refused, match=re.escape(f"images must be a batch of face crops of shape (batch, {N}, {N}, 3)")):
        loaded.signatures["serving_default"](images=images[..., :1], depth=depth)
    with pytest.raises(refused, match=r"float32 depth must lie in \[0, 1\] \(use the .*serving_uint8.* signature for "
                                      r"raw uint16 depth in mm\)"):
        loaded.signatures["serving_default"](images=images, depth=depth * 600)
    with pytest.raises(refused, match=re.escape("got images uint8 and depth float32")):
        loaded.serve(as_uint8, depth)


@pytest.mark.slow
def test_the_export_reloads_with_tensorflow_alone(trained, exported, tmp_path):
    video = _split(trained, "test")[0]
    images, depth = _reference_inputs(trained, [video])[video]
    np.save(tmp_path / "images.npy", np.round(images * 255).astype(np.uint8))
    np.save(tmp_path / "raw.npy", trained["raw"][video][..., None])
    out = run_with_tensorflow_only(f"""
        model = tf.saved_model.load({exported['dir']!r})
        images, raw = np.load({str(tmp_path / 'images.npy')!r}), np.load({str(tmp_path / 'raw.npy')!r})
        outputs["score"] = model.signatures["serving_uint8"](images=images, depth=raw)["score"].numpy()
    """, tmp_path)
    expected = np.asarray(_network(trained["run"])([images, depth])).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(out["score"], expected, atol=1e-4)


def test_trace_recovery_and_classification_feed_the_depth(trained):
    from physstd.eval import trace_classification, trace_recovery

    method = trained["method"]
    trace_model = method.trace_model(method.load(trained["run"]))
    test = _split(trained, "test")
    frames, inputs = trace_recovery.load_spoof_inputs(trained["root"], test, N, input_keys=KEYS)
    traces, regions, _, depths = trace_recovery.predict_frames(trace_model, frames, 3, inputs)
    maps = _reference_maps(trained, test)
    spoof = [v for v in test if trained["videos"][v][0] == 1]
    np.testing.assert_allclose(traces, np.concatenate([np.tile(maps[v] - 0.5, 3) for v in spoof]), atol=1e-6)
    assert regions is None and depths is None
    result, where = trace_recovery.recovery_of_run(trained["run"], split="test")
    assert result[trace_recovery.ALL_TYPES]["frames"] == 8 and where["trace"] == "Map trace"
    inference = method.load(trained["run"])
    collected, names = trace_classification.collect_inputs(
        lambda inputs: method.classification_traces(inference(inputs)), trained["root"], test, N, input_keys=KEYS)
    np.testing.assert_allclose(collected["traces"], np.concatenate([np.tile(maps[v] - 0.5, 3) for v in test]),
                               atol=1e-3)
    assert list(names) == [trained["videos"][v][1] for v in test for _ in range(2)]


def test_a_set_without_depth_or_in_other_units_stops_with_one_line_naming_its_meta_json(trained, tmp_path):
    from physstd.eval import evaluate
    from physstd.models import ModelConfig
    from physstd.train.config import TrainConfig
    from physstd.train.loop import train

    meta = re.escape(os.path.join(trained["rgb"], "meta.json"))
    config = TrainConfig(method=NAME, data_root=trained["rgb"], protocol="p1", run_dir=str(tmp_path / "run"),
                         batch_size=2, num_steps=1)
    with pytest.raises(ValueError, match=f"{meta}: the method takes sensor_depth, but this set's modalities are"):
        train(config, ModelConfig(image_size=N, width=0.125))
    assert not os.path.exists(tmp_path / "run" / "flags.json")
    model = evaluate.ScoringModel(trained["run"])
    with pytest.raises(ValueError, match=f"{meta}: the method takes sensor_depth"):
        evaluate.collect_frames(model, trained["rgb"], _split(trained, "test"))
    other = str(tmp_path / "uint8")
    shutil.copytree(trained["rgb"], other)
    add_sensor_depth(other, "uint8")
    with pytest.raises(ValueError, match=re.escape(f"{os.path.join(other, 'meta.json')}: sensor depth in uint8, but "
                                                   f"{trained['run']} was trained on depth in mm")):
        evaluate.collect_frames(model, other, _split(trained, "test"))


# --- predict with --depth -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    """The astronaut photo with a depth image registered to it (uint16 mm: a face-sized bump in front of a wall),
    the same in a folder, and a 3-frame video with a folder of 3 depth frames (2 in another folder)."""
    from skimage import data

    from physstd.data import sensor_depth

    base = tmp_path_factory.mktemp("faces")
    face = data.astronaut()
    cv2.imwrite(str(base / "face.png"), cv2.cvtColor(face, cv2.COLOR_RGB2BGR))
    ys, xs = np.mgrid[0:512, 0:512]
    depth = np.where((xs - 230) ** 2 + (ys - 110) ** 2 < 90 ** 2, 620 - ((xs + ys) % 40), 1400).astype(np.uint16)
    depth[::7, ::5] = 0
    sensor_depth.write_depth_png(base / "face_depth.png", depth)
    centred = cv2.resize(face[:320, 64:384], (512, 512), interpolation=cv2.INTER_AREA)
    writer = cv2.VideoWriter(str(base / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (512, 512))
    for folder in ("clip_depth", "short_depth"):
        os.makedirs(base / folder)
    for k, shift in enumerate((0, 6, 12)):
        writer.write(cv2.cvtColor(np.roll(centred, shift, axis=1), cv2.COLOR_RGB2BGR))
        frame_depth = np.roll(np.full((512, 512), 600 + 40 * k, np.uint16), shift, axis=1)
        frame_depth[200:300, 200:300] -= 30
        sensor_depth.write_depth_png(base / "clip_depth" / f"{k}.png", frame_depth)
        if k < 2:
            sensor_depth.write_depth_png(base / "short_depth" / f"{k}.png", frame_depth)
    writer.release()
    return {"base": base, "depth": depth}


def test_predict_crops_the_depth_with_the_rgb_crop_and_refuses_unpaired_depth(exported, faces, tmp_path):
    from physstd import predict
    from physstd.data import preprocess, sensor_depth

    base, model = faces["base"], exported["dir"]
    image, = predict.predict_paths(model, [str(base / "face.png")], str(tmp_path / "out"), figures=False,
                                   log=lambda message: None, depth=str(base / "face_depth.png"))
    prepared = preprocess.FacePreprocessor(N).process_frame(preprocess.read_image(str(base / "face.png")))
    depth_crop = sensor_depth.warp_depth_to_crop(faces["depth"], prepared.affine, N)
    assert depth_crop.dtype == np.uint16 and 0 < np.count_nonzero(depth_crop) < N * N
    expected = tf.saved_model.load(model).signatures[export.SIGNATURE_UINT8](images=prepared.crop[None],
                                                                              depth=depth_crop[None, ..., None])
    assert image.faces[0].score == pytest.approx(float(expected["score"][0]), abs=1e-6)
    # A video pairs with one depth frame per video frame: frame k with the k-th depth image.
    video, = predict.predict_paths(model, [str(base / "clip.avi")], str(tmp_path / "video"), figures=False,
                                   log=lambda message: None, depth=str(base / "clip_depth"))
    assert [face.frame for face in video.faces] == [0, 1, 2] and len({face.score for face in video.faces}) == 3
    errors = [((str(base / "face.png"),), None, f"{model}: the model takes sensor depth next to the images; pass "
                                                f"--depth="),
              ((str(base / "face.png"), str(base / "face.png")), str(base / "face_depth.png"),
               "--depth=.*: 1 depth images for 2 input images; give one per image"),
              ((str(base / "clip.avi"),), str(base / "short_depth"), "--depth=.*: 2 depth images for the 3 frames of "),
              ((str(base / "clip.avi"), str(base / "face.png")), str(base / "clip_depth"),
               "--depth=.*: depth pairs with input images or with the frames of one video; got 2 inputs, 1 of them")]
    # An export of an image-only method refuses --depth (its info file lists no depth input).
    image_only = tmp_path / "image_only"
    shutil.copytree(model, image_only)
    info = json.loads((image_only / export.INFO_FILE).read_text())
    (image_only / export.INFO_FILE).write_text(json.dumps({k: v for k, v in info.items() if k != "inputs"}))
    errors.append(((str(base / "face.png"),), str(base / "face_depth.png"),
                   f"--depth=.*: the model {image_only} takes images only"))
    for inputs, depth, message in errors:
        exported_dir = image_only if "images only" in message else model
        with pytest.raises(ValueError, match=message.replace("(", r"\(")):
            predict.predict_paths(str(exported_dir), list(inputs), str(tmp_path / "refused"), depth=depth)
    assert not os.path.exists(tmp_path / "refused")


@pytest.mark.slow
def test_bpcer_rule_calibrates_the_two_input_method_and_reaches_its_export(trained, exported, tmp_path):
    """The multi-modal paper's operating point on the RGB-D method: the threshold is the lowest dev video score
    rejecting at most the target share of bona fide videos (brute force here), recorded in calibration.json and in
    the export's info file, and the export decides with it. Runs after the EER tests above (it rewrites the run's
    calibration)."""
    from physstd.eval import evaluate, scoring

    maps = _reference_maps(trained, _split(trained, "dev"))
    dev = _split(trained, "dev")
    labels = np.array([trained["videos"][v][0] for v in dev])
    scores = np.array([maps[v].mean() for v in dev])
    target = 0.5
    candidates = [t for t in np.unique(scores) if np.mean(scores[labels == 0] >= t) <= target]
    expected = min(candidates) if candidates else float(np.nextafter(np.float32(scores.max()), np.float32(np.inf)))
    rule = {"rule": "bpcer", "bpcer": target}
    evaluate.evaluate_models([trained["run"]], str(tmp_path / "eval"), rule=rule)
    calibration = scoring.load_calibration(os.path.join(trained["run"], scoring.CALIBRATION_FILENAME),
                                           trained["method"])
    assert calibration["threshold_rule"] == rule
    assert calibration["threshold"] == pytest.approx(expected, abs=1e-6)
    info = export.export_run(trained["run"], str(tmp_path / "model"))
    assert info["threshold_rule"] == rule and info["threshold"] == pytest.approx(expected, abs=1e-6)
