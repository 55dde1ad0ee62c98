"""The method registry and the shared harness: a throw-away second method, added exactly as a new method is (a
folder physstd/methods/<name>/ defining METHOD, and one line in physstd.methods.MODULES), is trained through the
real loop, evaluated, calibrated and exported without the shared code ever testing a method's name; its own flag
belongs to it; old run directories without a method are PhySTD runs.

The folder is written into a temporary directory added to the physstd.methods package path, so that
`physstd.methods.mean_map_test` imports from there; the registry line is added to MODULES for this module only."""
import contextlib
import importlib
import json
import os
import sys
import textwrap

import numpy as np
import pytest

from physstd import methods, runs

N = 32
NAME = "mean_map_test"
# The throw-away method's folder: {file: source}.
FOLDER = {
    "__init__.py": '''
        """A one-conv network whose sigmoid map should be 1 on attacks and 0 on live faces; score = scale *
        mean(map), with scale in {-1, +1} fitted on the calibration split (so fitting really chooses something)."""
        import dataclasses

        import numpy as np

        from physstd import runs
        from physstd.methods.base import Method, MethodConfig


        @dataclasses.dataclass(frozen=True)
        class MeanMapConfig(MethodConfig):
            map_bias: float = 0.0   # the conv's initial bias

            HELP = {"map_bias": "initial bias of the one conv"}


        class MeanMap(Method):
            name = "mean_map_test"
            display_name = "MeanMap"
            config_class = MeanMapConfig
            score_terms = ("map_mean",)
            score_formula = "scale * map_mean"
            train_defaults = {"learning_rate": 1e-3}

            def trainer(self, model_config, config, num_landmarks, strategy):
                from physstd.methods.mean_map_test.trainer import MeanMapTrainer

                return MeanMapTrainer(model_config, config, strategy)

            def prediction_terms(self, prediction):
                return {"map_mean": np.asarray(prediction["map"], np.float64).mean(axis=(1, 2, 3))}

            def load(self, run_dir):
                from physstd.methods.mean_map_test.network import MeanMapInference, network

                restored = network()
                runs.restore_networks(run_dir, {"network": restored})
                return MeanMapInference(restored)

            def score(self, terms, params):
                return params["scale"] * terms["map_mean"]

            def fit_score(self, labels, terms):
                from physstd.eval import metrics

                return {"scale": 1.0 if metrics.auc(labels, terms["map_mean"]) >= 0.5 else -1.0}

            def check_params(self, params, where):
                if set(params) != {"scale"} or params["scale"] not in (-1.0, 1.0):
                    raise ValueError(f"{where}: expected {{'scale': -1 or 1}}; found {params!r}")
                return {"scale": float(params["scale"])}


        METHOD = MeanMap()
    ''',
    "network.py": '''
        import keras
        import tensorflow as tf

        SIZE = 32


        def network(bias=0.0):
            return keras.Sequential([keras.Input((SIZE, SIZE, 3)),
                                     keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid", name="conv",
                                                         bias_initializer=keras.initializers.Constant(bias))],
                                    name="mean_map")


        class MeanMapInference(tf.Module):
            def __init__(self, network):
                super().__init__(name="mean_map_inference")
                self.network, self.image_size, self.config = network, SIZE, {"layers": 1}

            def __call__(self, images):
                out = self.network(images, training=False)
                return {"map": out, "map_mean": tf.reduce_mean(out, axis=(1, 2, 3))}
    ''',
    "trainer.py": '''
        """The trainer on the shared base: L2 of the mean map to the label."""
        import tensorflow as tf

        from physstd.methods.mean_map_test.network import network
        from physstd.train.trainer import OneNetworkTrainer


        class MeanMapTrainer(OneNetworkTrainer):
            def __init__(self, model_config, config, strategy=None):
                super().__init__("mean_map_trainer", model_config, config, strategy)
                with self.strategy.scope():
                    self.network = network(self.method_config.map_bias)
                    self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
                    self.optimizer = self._adam(1.0, "mean_map_adam")
                    self.optimizer.build(self.network.trainable_variables)
                self._compile()

            def _train_step(self, batch):
                images = tf.concat([batch["live"]["image"], batch["spoof"]["image"]], 0)
                labels = tf.concat([tf.zeros(tf.shape(batch["live"]["image"])[:1]),
                                    tf.ones(tf.shape(batch["spoof"]["image"])[:1])], 0)
                with tf.GradientTape() as tape:
                    means = tf.reduce_mean(self.network(images, training=True), axis=(1, 2, 3))
                    loss = tf.reduce_mean(tf.square(means - labels))
                self._update(self.optimizer, tape, loss, self.network)
                return {"map": loss}

            def _predict(self, images):
                return {"map": self.network(images, training=False)}

            def _visuals(self, batch):
                return {}

    ''',
}


@contextlib.contextmanager
def throwaway_method(base, method_name=NAME, files=FOLDER):
    """The throw-away method added as a new one is: its folder (written under `base`, a directory on the
    physstd.methods package path; {file: source} `files`, this module's method by default) and its line in the
    registry."""
    folder = os.path.join(base, method_name)
    os.makedirs(folder)
    for name, source in files.items():
        with open(os.path.join(folder, name), "w") as stream:
            stream.write(textwrap.dedent(source).lstrip())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(methods, "__path__", [*methods.__path__, str(base)])
        patch.setitem(methods.MODULES, method_name, f"physstd.methods.{method_name}")
        try:
            yield methods.get(method_name)
        finally:
            for module in [m for m in sys.modules if m.startswith(f"physstd.methods.{method_name}")]:
                del sys.modules[module]


@pytest.fixture(scope="module")
def added(tmp_path_factory):
    with throwaway_method(tmp_path_factory.mktemp("methods")) as method:
        yield method


@pytest.fixture(scope="module")
def trained(added, tmp_path_factory):
    """The throw-away method trained 3 steps on the toy set through physstd.train.loop.train."""
    from physstd.models import ModelConfig
    from physstd.train.config import TrainConfig
    from physstd.train.loop import train
    from physstd.data.toy import write_toy_dataset

    base = tmp_path_factory.mktemp("trained")
    root, run_dir = str(base / "toy"), str(base / "run")
    write_toy_dataset(root, N, videos_per_class=3, frames_per_video=2)
    split = os.path.join(root, "protocols", "toy")   # the toy protocol's videos serve as its test split too
    with open(os.path.join(split, "dev.txt")) as source, open(os.path.join(split, "test.txt"), "w") as target:
        target.write(source.read())
    config = TrainConfig(method=NAME, data_root=root, protocol="toy", run_dir=run_dir, batch_size=2,
                         learning_rate=1e-2, num_steps=3, checkpoint_every=3, summary_every=1,
                         image_summary_every=1, log_every=1)
    result = train(config, ModelConfig(image_size=N, width=0.125))
    return {"root": root, "run": run_dir, "result": result, "base": base}


def _network():
    return importlib.import_module(f"physstd.methods.{NAME}.network").network()


def _reference_map_means(run_dir, root, ids):
    """mean(map) per frame of `ids`, straight from the checkpointed network with numpy (no harness code)."""
    from physstd.data import prepared

    network = _network()
    runs.restore_networks(run_dir, {"network": network})
    dataset = prepared.PreparedDataset(root)
    return {video: np.asarray(network(dataset.load_frames(video).astype(np.float32) / 255.0)).mean(axis=(1, 2, 3))
            for video in ids}


def test_the_registry_names_the_choices_for_an_unknown_method():
    assert "physstd" in methods.names() and methods.get("physstd").name == "physstd"
    with pytest.raises(ValueError, match=r"--method: unknown method 'nope'; expected one of .*physstd"):
        methods.get("nope")


def test_the_added_method_takes_its_train_defaults_and_owns_its_flag(added):
    from absl import flags as absl_flags

    from physstd.train import flags as train_flags

    assert NAME in methods.names() and added.own_flags == {"map_bias"}

    def configs(*argv):
        values = absl_flags.FlagValues()
        train_flags.define_flags(values)
        values(["run_train.py", *argv])
        return train_flags.configs_from_flags(values)[0]

    for argv, expected in (([f"--method={NAME}"], (1e-3, 0.0)),
                           ([f"--method={NAME}", "--learning_rate=2e-4", "--map_bias=0.5"], (2e-4, 0.5))):
        config = configs(*argv)
        assert (config.learning_rate, config.method_config.map_bias) == expected, argv
    assert configs().learning_rate == 5e-5   # PhySTD: the paper's default
    with pytest.raises(ValueError, match=f"--map_bias belongs to method {NAME}; --method=physstd does not read it"):
        configs("--map_bias=0.5")


def test_a_run_without_a_method_is_a_physstd_run(tmp_path):
    from physstd.train.config import TrainConfig

    assert TrainConfig.from_dict({"num_steps": 5}).method == "physstd"
    (tmp_path / "flags.json").write_text(json.dumps({"train": {"num_steps": 5}, "model": {}}))
    assert methods.of_run(str(tmp_path)).name == "physstd"
    (tmp_path / "flags.json").write_text(json.dumps({"train": {"method": "mmdn_v0"}, "model": {}}))
    with pytest.raises(ValueError, match="flags.json: unknown method 'mmdn_v0'"):
        methods.of_run(str(tmp_path))


# flags.json's "train" record as runs written before the methods had configs of their own hold it: flat, the fields
# of every method among the shared ones (here a PhySTD run trained with a4 = 1 and two generator updates).
OLD_TRAIN_RECORD = {
    "method": "physstd", "data_root": "", "split_dir": "", "protocol": "", "fold": "", "synthetic": False,
    "synthetic_identities": 0, "run_dir": "", "seed": 0, "num_steps": 150000, "batch_size": 8,
    "learning_rate": 5e-05, "lr_decay_every": 45000, "lr_decay_factor": 0.1, "discriminator_lr_ratio": 0.5,
    "adam_beta1": 0.9, "adam_beta2": 0.999, "a1": 100.0, "a2": 5.0, "a3": 1.0, "a4": 1.0, "a5": 10.0, "a6": 1.0,
    "beta": 0.1, "steps": "123", "generator_updates": 2, "synthesis_target": "effect", "match_real_band": True,
    "live_trace_weight": 0.0, "hard_synthesis_weight": 1.0, "band_limit_inpainted": False, "brightness_jitter": 0.25,
    "checkpoint_every": 1000, "keep_checkpoints": 3, "summary_every": 100, "image_summary_every": 1000,
    "log_every": 10, "eval_every": 0, "eval_batch_size": 32, "eval_max_videos": 0, "dq_run": "", "train_dq": False,
    "mixed_precision": False, "jit_compile": False, "strategy": "auto"}


def test_a_flat_train_record_of_before_the_method_configs_reads_into_the_method_s_config():
    from physstd.methods.base import MethodConfig
    from physstd.methods.despoof.config import DeSpoofConfig
    from physstd.methods.physstd.config import PhySTDConfig
    from physstd.train.config import TrainConfig

    config = TrainConfig.from_dict(OLD_TRAIN_RECORD)
    assert config.method_config == PhySTDConfig(a4=1.0, generator_updates=2)
    assert config.to_dict()["method_config"]["a4"] == 1.0 and "a4" not in config.to_dict()
    assert TrainConfig.from_dict(config.to_dict()) == config   # the new record reads back the same
    despoof = TrainConfig.from_dict(dict(OLD_TRAIN_RECORD, method="despoof", dq_run="runs/aux", train_dq=True))
    assert despoof.method_config == DeSpoofConfig(dq_run="runs/aux", train_dq=True)
    assert TrainConfig.from_dict(dict(OLD_TRAIN_RECORD, method="auxiliary")).method_config == MethodConfig()
    # The policy of every record (physstd.records): a key it does not have is refused, naming the file and the key.
    with pytest.raises(ValueError, match="run/flags.json: train: unknown key 'a7'"):
        TrainConfig.from_dict(dict(OLD_TRAIN_RECORD, a7=1.0), "run/flags.json: train")
    with pytest.raises(ValueError, match="run/flags.json: train: method_config: unknown key 'dq_run'"):
        TrainConfig.from_dict(dict(config.to_dict(), method_config={"dq_run": "x"}), "run/flags.json: train")
    with pytest.raises(ValueError, match="run/flags.json: train: method_config: a4 must be"):
        TrainConfig.from_dict(dict(config.to_dict(), method_config={"a4": -1.0}), "run/flags.json: train")


@pytest.mark.slow
def test_a_run_with_a_flat_flags_json_loads_evaluates_and_exports_as_before(tmp_path):
    """The same checkpoint with the flags.json of today and with a flat one of before the method configs: the same
    method, scores, calibration, results and export outputs."""
    import shutil

    import tensorflow as tf

    from deploy_fixtures import make_run_dir, write_dataset
    from physstd import export, files
    from physstd.eval import evaluate

    data = str(tmp_path / "data")
    write_dataset(data, size=N)
    new, old = str(tmp_path / "new"), str(tmp_path / "old")
    make_run_dir(new, data, "p1", size=N)
    shutil.copytree(new, old)
    record = files.read_json(os.path.join(old, runs.FLAGS_FILE), "run flags")
    assert "method_config" in record["train"]
    record["train"] = dict(OLD_TRAIN_RECORD, data_root=data, protocol="p1", run_dir=old)
    files.write_json_atomic(os.path.join(old, runs.FLAGS_FILE), record, sort_keys=True)
    results, outputs = {}, {}
    images = tf.constant(np.random.default_rng(0).uniform(0, 1, (2, N, N, 3)).astype(np.float32))
    for name, run_dir in (("new", new), ("old", old)):
        assert methods.of_run(run_dir).name == "physstd"
        record, folds = evaluate.evaluate_models([run_dir], str(tmp_path / f"eval_{name}"))   # the run's protocol
        results[name] = (record["summary"], folds[0]["calibration"],
                         open(os.path.join(tmp_path / f"eval_{name}", "scores.csv")).read())
        export.export_run(run_dir, str(tmp_path / f"export_{name}"))
        served = tf.saved_model.load(str(tmp_path / f"export_{name}")).signatures["serving_default"](images=images)
        outputs[name] = {key: value.numpy() for key, value in served.items()}
    assert results["old"] == results["new"]
    assert set(outputs["old"]) == set(outputs["new"])
    for key in outputs["new"]:
        np.testing.assert_array_equal(outputs["old"][key], outputs["new"][key], err_msg=key)


def test_the_loop_trains_the_added_method_and_records_it(trained):
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


def test_evaluate_calibrate_and_export_the_added_method(trained, tmp_path):
    import tensorflow as tf

    from physstd import export
    from physstd.eval import evaluate, metrics, scoring

    run_dir, root = trained["run"], trained["root"]
    record, folds = evaluate.evaluate_models([run_dir], str(tmp_path / "eval"), protocol="toy",
                                             calibration_split="dev")
    assert record["summary"]["auc"] == folds[0]["metrics"]["auc"]
    # calibration.json: the method, its fitted scale and the EER threshold of the dev videos' mean scores.
    calibration = scoring.load_calibration(os.path.join(run_dir, scoring.CALIBRATION_FILENAME), methods.get(NAME))
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
    network = _network()
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
                                               "threshold": pytest.approx(calibration["threshold"]),
                                               "threshold_rule": {"rule": "eer"}, "split": "dev"}
    np.testing.assert_allclose(from_export.statistics(frames)["map_mean"], expected / scale, atol=1e-6)


def test_trace_recovery_refuses_a_method_without_a_trace(trained):
    from physstd.eval import trace_recovery

    with pytest.raises(ValueError, match=f"method '{NAME}' estimates no additive spoof trace"):
        trace_recovery.recovery_of_run(trained["run"], split="dev")
