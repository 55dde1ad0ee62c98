"""The method registry and the shared harness: a throw-away second method, defined here and registered for this
module only, is trained through the real loop, evaluated, calibrated and exported without the shared code ever
testing a method's name; old run directories without a method are PhySTD runs."""
import json
import os

import numpy as np
import pytest

from physstd import methods, runs
from physstd.methods.base import Method

N = 32
NAME = "mean_map_test"


class MeanMapMethod(Method):
    """A one-conv network whose sigmoid map should be 1 on attacks and 0 on live faces; score = scale * mean(map),
    with scale in {-1, +1} fitted on the calibration split (so fitting really chooses something)."""

    name = NAME
    score_terms = ("map_mean",)
    score_formula = "scale * map_mean"

    @staticmethod
    def network():
        import keras

        return keras.Sequential([keras.Input((N, N, 3)),
                                 keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid", name="conv")],
                                name="mean_map")

    def trainer(self, model_config, config, num_landmarks, strategy):
        return MeanMapTrainer(config, strategy)

    def prediction_terms(self, prediction):
        return {"map_mean": np.asarray(prediction["map"], np.float64).mean(axis=(1, 2, 3))}

    def load(self, run_dir):
        import tensorflow as tf

        network = self.network()
        runs.restore_networks(run_dir, {"network": network})

        class Inference(tf.Module):
            def __init__(self):
                super().__init__(name="mean_map_inference")
                self.network, self.image_size, self.config = network, N, {"layers": 1}

            def __call__(self, images):
                out = self.network(images, training=False)
                return {"map": out, "map_mean": tf.reduce_mean(out, axis=(1, 2, 3))}

        return Inference()

    def score(self, terms, params):
        return params["scale"] * terms["map_mean"]

    def fit_score(self, labels, terms):
        from physstd.eval import metrics

        return {"scale": 1.0 if metrics.auc(labels, terms["map_mean"]) >= 0.5 else -1.0}

    def check_params(self, params, where):
        if set(params) != {"scale"} or params["scale"] not in (-1.0, 1.0):
            raise ValueError(f"{where}: expected {{'scale': -1 or 1}}; found {params!r}")
        return {"scale": float(params["scale"])}


class MeanMapTrainer:
    """The trainer API of physstd.methods.base on the one-conv network: L2 of the mean map to the label."""

    def __init__(self, config, strategy):
        import keras
        import tensorflow as tf

        self.strategy = strategy
        with strategy.scope():
            self.network = MeanMapMethod.network()
            self.optimizer = keras.optimizers.Adam(config.learning_rate)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.optimizer.build(self.network.trainable_variables)
        self.rate = config.learning_rate
        self.train_step = tf.function(self._distributed_step)
        self.predict = tf.function(lambda images: {"map": self.network(images, training=False)})

    def _step(self, batch):
        import tensorflow as tf

        images = tf.concat([batch["live"]["image"], batch["spoof"]["image"]], 0)
        labels = tf.concat([tf.zeros(tf.shape(batch["live"]["image"])[:1]),
                            tf.ones(tf.shape(batch["spoof"]["image"])[:1])], 0)
        with tf.GradientTape() as tape:
            means = tf.reduce_mean(self.network(images, training=True), axis=(1, 2, 3))
            loss = tf.reduce_mean(tf.square(means - labels))
        variables = self.network.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return {"map": loss}

    def _distributed_step(self, batch):
        import tensorflow as tf

        losses = self.strategy.run(self._step, args=(batch,))
        self.step.assign_add(1)
        return {k: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in losses.items()}

    def learning_rate(self):
        return self.rate

    def variables_finite(self):
        import tensorflow as tf

        return all(bool(tf.reduce_all(tf.math.is_finite(v))) for v in self.network.variables)

    def visuals(self, batch):
        return {}

    def checkpoint_objects(self):
        return {"network": runs.network_checkpoint(self.network), "step": self.step, "optimizer": self.optimizer}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The registered test method trained 3 steps on the toy set through physstd.train.train."""
    from physstd.models import ModelConfig
    from physstd.train import train
    from physstd.train.config import TrainConfig
    from physstd.data.toy import write_toy_dataset

    base = tmp_path_factory.mktemp("methods")
    root, run_dir = str(base / "toy"), str(base / "run")
    write_toy_dataset(root, N, videos_per_class=3, frames_per_video=2)
    split = os.path.join(root, "protocols", "toy")   # the toy protocol's videos serve as its test split too
    with open(os.path.join(split, "dev.txt")) as source, open(os.path.join(split, "test.txt"), "w") as target:
        target.write(source.read())
    methods.register(MeanMapMethod())
    config = TrainConfig(method=NAME, data_root=root, protocol="toy", run_dir=run_dir, batch_size=2,
                         learning_rate=1e-2, num_steps=3, checkpoint_every=3, summary_every=1,
                         image_summary_every=1, log_every=1)
    result = train(config, ModelConfig(image_size=N, width=0.125))
    yield {"root": root, "run": run_dir, "result": result, "base": base}
    methods.unregister(NAME)


def _reference_map_means(run_dir, root, ids):
    """mean(map) per frame of `ids`, straight from the checkpointed network with numpy (no harness code)."""
    from physstd.data import prepared

    network = MeanMapMethod.network()
    runs.restore_networks(run_dir, {"network": network})
    dataset = prepared.PreparedDataset(root)
    return {video: np.asarray(network(dataset.load_frames(video).astype(np.float32) / 255.0)).mean(axis=(1, 2, 3))
            for video in ids}


def test_the_registry_names_the_choices_for_an_unknown_method():
    assert "physstd" in methods.names() and methods.get("physstd").name == "physstd"
    with pytest.raises(ValueError, match=r"--method: unknown method 'nope'; expected one of .*physstd"):
        methods.get("nope")
    with pytest.raises(ValueError, match="built-in"):
        methods.register(type("Clash", (Method,), {"name": "physstd"})())


def test_a_method_s_train_defaults_apply_where_no_flag_was_given():
    from absl import flags as absl_flags

    from physstd.train import flags as train_flags

    method = type("Defaults", (MeanMapMethod,), {"name": "defaults_test", "train_defaults": {"learning_rate": 1e-3,
                                                                                            "a1": 7.0}})()
    methods.register(method)
    try:
        for argv, expected in ((["--method=defaults_test"], (1e-3, 7.0)),
                               (["--method=defaults_test", "--learning_rate=2e-4"], (2e-4, 7.0)),
                               ([], (5e-5, 100.0))):   # PhySTD: the paper's defaults
            values = absl_flags.FlagValues()
            train_flags.define_flags(values)
            values(["run_train.py", *argv])
            config, _ = train_flags.configs_from_flags(values)
            assert (config.learning_rate, config.a1) == expected, argv
    finally:
        methods.unregister("defaults_test")


def test_a_run_without_a_method_is_a_physstd_run(tmp_path):
    from physstd.train.config import TrainConfig

    assert TrainConfig.from_dict({"num_steps": 5}).method == "physstd"
    (tmp_path / "flags.json").write_text(json.dumps({"train": {"num_steps": 5}, "model": {}}))
    assert methods.of_run(str(tmp_path)).name == "physstd"
    (tmp_path / "flags.json").write_text(json.dumps({"train": {"method": "mmdn_v0"}, "model": {}}))
    with pytest.raises(ValueError, match="flags.json: unknown method 'mmdn_v0'"):
        methods.of_run(str(tmp_path))


def test_the_loop_trains_the_registered_method_and_records_it(trained):
    run_dir = trained["run"]
    assert trained["result"]["step"] == 3 and np.isfinite(trained["result"]["losses"]["map"])
    with open(os.path.join(run_dir, "flags.json")) as stream:
        assert json.load(stream)["train"]["method"] == NAME
    assert {"checkpoint", "ckpt-3.index"} <= set(os.listdir(os.path.join(run_dir, "checkpoints")))
    # The dev AUC is the method's own score with its parameter fitted on the same frames.
    with open(os.path.join(run_dir, "dev_eval.json")) as stream:
        dev = json.load(stream)[-1]
    means = _reference_map_means(run_dir, trained["root"], [f"{t}_{v}" for t in ("live", "print") for v in range(3)])
    labels = np.repeat([0, 0, 0, 1, 1, 1], 2)
    values = np.concatenate(list(means.values()))
    from physstd.eval import metrics

    scale = 1.0 if metrics.auc(labels, values) >= 0.5 else -1.0
    assert (dev["step"], dev["frames"], dev["scale"]) == (3, 12, scale)
    assert dev["score"] == pytest.approx(metrics.auc(labels, scale * values), abs=1e-9)


def test_evaluate_calibrate_and_export_the_registered_method(trained, tmp_path):
    import tensorflow as tf

    from physstd import export
    from physstd.eval import evaluate, metrics, scoring

    run_dir, root = trained["run"], trained["root"]
    record, folds = evaluate.evaluate_models([run_dir], str(tmp_path / "eval"), protocol="toy",
                                             calibration_split="dev")
    assert record["summary"]["auc"] == folds[0]["metrics"]["auc"]
    # calibration.json: the method, its fitted scale and the EER threshold of the dev videos' mean scores.
    calibration = scoring.load_calibration(os.path.join(run_dir, scoring.CALIBRATION_FILENAME))
    means = _reference_map_means(run_dir, root, [f"{t}_{v}" for t in ("live", "print") for v in range(3)])
    video_means = np.array([m.mean() for m in means.values()])
    labels = np.array([0, 0, 0, 1, 1, 1])
    scale = 1.0 if metrics.auc(labels, video_means) >= 0.5 else -1.0
    assert (calibration["method"], calibration["params"], calibration["split"]) == (NAME, {"scale": scale}, "dev")
    assert calibration["threshold"] == pytest.approx(metrics.eer(labels, scale * video_means)[1], abs=1e-6)
    # Test scores: per video, scale x the mean of its frames' map means.
    labels_read, scores_read, _ = evaluate.read_scores_csv(tmp_path / "eval" / "scores.csv")
    np.testing.assert_array_equal(labels_read, labels)
    np.testing.assert_allclose(scores_read, scale * video_means, atol=1e-6)
    # Export: score and decision for any method, plus its own outputs; the same numbers as the network.
    info = export.export_run(run_dir, str(tmp_path / "model"))
    assert (info["method"], info["params"], info["outputs"]) == (NAME, {"scale": scale},
                                                                 ["score", "decision", "map", "map_mean"])
    loaded = tf.saved_model.load(str(tmp_path / "model"))
    frames = np.stack([np.full((N, N, 3), 0.25, np.float32), np.full((N, N, 3), 0.75, np.float32)])
    out = loaded.signatures["serving_default"](images=tf.constant(frames))
    network = MeanMapMethod.network()
    runs.restore_networks(run_dir, {"network": network})
    expected = scale * np.asarray(network(frames)).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(out["score"], expected, atol=1e-6)
    np.testing.assert_array_equal(out["decision"], (expected >= calibration["threshold"]).astype(np.int32))
    assert float(loaded.scale.numpy()) == scale
    # run_predict's Predictor scores crops with it; the method names no figure outputs and has no live
    # reconstruction, so it draws no figures.
    from physstd import predict

    predictor = predict.Predictor(str(tmp_path / "model"))
    assert (predictor.draws_traces, predictor.draws_live) == (False, False)
    crops = np.round(frames * 255).astype(np.uint8)
    np.testing.assert_allclose(predictor.score_crops(crops)["score"],
                               scale * np.asarray(network(crops / 255.0)).mean(axis=(1, 2, 3)), atol=1e-6)
    # The export scores like the run directory.
    from_export = evaluate.ScoringModel(str(tmp_path / "model"))
    assert from_export.method.name == NAME
    assert from_export.saved_calibration() == {"method": NAME, "params": {"scale": scale},
                                               "threshold": pytest.approx(calibration["threshold"]), "split": "dev"}
    np.testing.assert_allclose(from_export.statistics(frames)["map_mean"], expected / scale, atol=1e-6)


def test_trace_recovery_refuses_a_method_without_a_trace(trained):
    from physstd.eval import trace_recovery

    with pytest.raises(ValueError, match=f"method '{NAME}' estimates no additive spoof trace"):
        trace_recovery.recovery_of_run(trained["run"], split="dev")
