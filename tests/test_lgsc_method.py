"""LGSC on the shared harness (--method=lgsc): its flags and checks, the warm-up schedule by hand, the score and the
trace figure; then one run trained through the real loop on a tiny synthetic set (3 steps), evaluated and
calibrated, exported and reloaded with TensorFlow alone, and its cue scored by trace recovery, every number against
the networks restored straight from the checkpoint (no harness code in the references).

The synthetic set (N = 32, 3 identities, 2 frames per video) and the run are made once per session."""
import os

import numpy as np
import pytest

from deploy_fixtures import run_with_tensorflow_only
from recovery_checks import assert_recovery_matches
from physstd import methods, runs

N = 32
WIDTH = 0.25
METHOD = methods.get("lgsc")


def _parse(argv):
    from absl import flags as absl_flags

    from physstd.train import flags as train_flags

    values = absl_flags.FlagValues()
    train_flags.define_flags(values)
    values(["run_train.py", *argv])
    return train_flags.configs_from_flags(values)


# --- flags, checks, schedule, score (fast) --------------------------------------------------------------------
def test_lgsc_flags_defaults_and_a_foreign_flag():
    from physstd.methods.lgsc.config import LGSCConfig

    config, model = _parse(["--method=lgsc", "--patch_size=224", "--triplet_weight=0", "--classifier_input=cue"])
    assert (config.learning_rate, config.lr_decay_every, config.lr_decay_factor, config.batch_size,
            config.num_steps) == (1e-3, 600, 0.95, 32, 60_000)
    assert config.method_config == LGSCConfig(patch_size=224, triplet_weight=0.0, classifier_input="cue")
    assert config.method_config.warmup_steps == 1000 and model.image_size == 256
    with pytest.raises(ValueError, match="^--patch_size belongs to method lgsc; --method=auxiliary does not read it"):
        _parse(["--method=auxiliary", "--patch_size=224"])
    with pytest.raises(ValueError, match="^--a2 belongs to method physstd; --method=lgsc does not read it"):
        _parse(["--method=lgsc", "--a2=3"])


def test_check_config_names_the_flag():
    from physstd.methods.lgsc.config import LGSCConfig
    from physstd.models import ModelConfig
    from physstd.train.config import TrainConfig

    def check(model=ModelConfig(image_size=256), **own):
        METHOD.check_config(TrainConfig(method="lgsc", method_config=LGSCConfig(**own)), model)

    check(patch_size=224)
    check(patch_size=256)
    with pytest.raises(ValueError, match="^--image_size: LGSC needs a positive multiple of 32 .*got 72$"):
        check(ModelConfig(image_size=72))
    with pytest.raises(ValueError, match="^--patch_size: LGSC needs a positive multiple of 32 .*got 200$"):
        check(patch_size=200)
    with pytest.raises(ValueError, match=r"^--patch_size=288 is larger than the faces \(--image_size=256\)$"):
        check(patch_size=288)
    with pytest.raises(ValueError, match="^--backbone_weights: torchvision's resnet18 has width 1, this run "
                                         "--width=0.25$"):
        check(ModelConfig(image_size=256, width=0.25), backbone_weights="r18.npz")
    with pytest.raises(ValueError, match="^--backbone_weights=missing.npz: no such file$"):
        check(backbone_weights="missing.npz")


def test_warmup_then_staircase_by_hand():
    from physstd.methods.lgsc.trainer import warmup_learning_rate_at

    def rate(step, warmup=1000):
        return float(warmup_learning_rate_at(float(step), 1e-3, 600.0, 0.95, float(warmup)))

    assert rate(0) == 0.0
    assert rate(250) == pytest.approx(2.5e-4)          # 1e-3 * 250 / 1000
    assert rate(999) == pytest.approx(9.99e-4)         # still warming up, though a decay step has passed
    assert rate(1000) == pytest.approx(9.5e-4)         # 1e-3 * 0.95 ** floor(1000 / 600)
    assert rate(1800) == pytest.approx(1e-3 * 0.95 ** 3)
    assert rate(0, warmup=0) == pytest.approx(1e-3) and rate(600, warmup=0) == pytest.approx(9.5e-4)


def test_score_has_no_parameter_and_dev_scores_report_both_terms():
    terms = {"cue_magnitude": np.array([0.02, 0.3]), "spoof_probability": np.array([0.4, 0.9])}
    assert METHOD.fit_score(np.array([0, 1]), terms) == {} and METHOD.check_params({}, "f") == {}
    with pytest.raises(ValueError, match="^f: the LGSC score cue_magnitude has no parameters"):
        METHOD.check_params({"alpha0": 1.0}, "f")
    np.testing.assert_array_equal(METHOD.score(terms, {}), terms["cue_magnitude"])
    scores = METHOD.dev_scores(terms, {})
    assert list(scores) == ["cue", "classifier"]
    np.testing.assert_array_equal(scores["classifier"], terms["spoof_probability"])


def test_trace_figure_panels_are_input_signed_half_cue_and_magnitude():
    from physstd import viz

    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (2, 8, 8, 3)).astype(np.float32)
    cue = rng.uniform(-0.6, 0.4, (2, 8, 8, 3)).astype(np.float32)
    grid, columns = METHOD.trace_figure(images, {"cue": cue}, {})
    assert columns == ("input", "cue C / 2", "|C|") and grid.shape == (2 + 2 * 10, 2 + 3 * 10, 3)
    for row in range(2):
        panels = [grid[y:y + 8, x:x + 8] for y, x in (viz.panel_origin(row, c, 8) for c in range(3))]
        np.testing.assert_allclose(panels[0], images[row])
        np.testing.assert_allclose(panels[1], 0.5 + 0.5 * cue[row] / np.abs(cue[row]).max(), atol=1e-6)
        np.testing.assert_allclose(panels[2], np.repeat(np.abs(cue[row]).mean(-1, keepdims=True), 3, -1), atol=1e-6)


# --- a run through the loop (slow) ----------------------------------------------------------------------------
@pytest.fixture(scope="session")
def lgsc_run(tmp_path_factory):
    """{root, run, result, model_config}: 3 steps of LGSC through physstd.train.loop.train on the whole 32-pixel
    faces (the smallest LGSC size), learning rate 1e-3 without warm-up."""
    from physstd.data import synthetic
    from physstd.methods.lgsc.config import LGSCConfig
    from physstd.models import ModelConfig
    from physstd.train.config import TrainConfig
    from physstd.train.loop import train

    base = tmp_path_factory.mktemp("lgsc")
    root = str(base / "synthetic32")
    synthetic.generate(root, N, num_identities=3, frames_per_video=2, live_videos=1, seed=0, workers=1)
    model_config = ModelConfig(image_size=N, width=WIDTH)
    run_dir = str(base / "run")
    config = TrainConfig(method="lgsc", method_config=LGSCConfig(warmup_steps=0), data_root=root,
                         protocol="identity", run_dir=run_dir, batch_size=4, learning_rate=1e-3, num_steps=3,
                         checkpoint_every=3, summary_every=1, image_summary_every=3, log_every=1)
    return {"root": root, "run": run_dir, "result": train(config, model_config), "model_config": model_config,
            "base": base}


def _networks(lgsc_run):
    """The cue generator and classifier restored straight from the checkpoint (float32)."""
    from physstd.methods.lgsc.networks import AuxiliaryClassifier, CueGenerator

    generator, classifier = CueGenerator(WIDTH), AuxiliaryClassifier(WIDTH)
    images = np.zeros((1, N, N, 3), np.float32)
    classifier(2 * images - 1 + generator(images)[0])
    runs.restore_networks(lgsc_run["run"], {"cue_generator": generator, "auxiliary_classifier": classifier})
    return generator, classifier


def _reference(networks, images):
    """{cue, cue_magnitude, spoof_probability} with numpy on the networks' raw outputs."""
    generator, classifier = networks
    cue = np.asarray(generator(images)[0], np.float64)
    logits = np.asarray(classifier((2 * images - 1 + cue).astype(np.float32)), np.float64)
    probability = np.exp(logits[:, 1]) / np.exp(logits).sum(axis=1)
    return {"cue": cue, "cue_magnitude": np.abs(cue).mean(axis=(1, 2, 3)), "spoof_probability": probability}


@pytest.mark.slow
def test_three_steps_through_the_loop(lgsc_run):
    result = lgsc_run["result"]
    assert result["step"] == 3 and set(result["losses"]) == {"regression", "triplet", "classification", "total"}
    assert all(np.isfinite(value) for value in result["losses"].values())
    assert methods.of_run(lgsc_run["run"]).name == "lgsc"
    assert {"cue", "classifier"} <= set(result["dev"])


@pytest.mark.slow
def test_evaluation_calibrates_on_dev_and_scores_test_videos_by_the_cue(lgsc_run, tmp_path):
    from physstd.data import prepared, protocols
    from physstd.eval import evaluate, metrics, scoring

    networks = _networks(lgsc_run)
    dataset = prepared.PreparedDataset(lgsc_run["root"])
    index = {row["video_id"]: int(row["label"]) for row in prepared.read_index(lgsc_run["root"])[0]}

    def video_scores(split):
        ids = protocols.load_split(os.path.join(lgsc_run["root"], "protocols"), "identity", split)
        scores = [_reference(networks, dataset.load_frames(v).astype(np.float32) / 255.0)["cue_magnitude"].mean()
                  for v in ids]
        return np.array([index[v] for v in ids]), np.array(scores)

    evaluate.evaluate_models([lgsc_run["run"]], str(tmp_path / "eval"), protocol="identity", calibration_split="dev")
    calibration = scoring.load_calibration(os.path.join(lgsc_run["run"], scoring.CALIBRATION_FILENAME), METHOD)
    dev_labels, dev_scores = video_scores("dev")
    assert (calibration["method"], calibration["split"], calibration["params"]) == ("lgsc", "dev", {})
    assert calibration["threshold"] == pytest.approx(metrics.eer(dev_labels, dev_scores)[1], abs=1e-5)
    labels, scores, _ = evaluate.read_scores_csv(tmp_path / "eval" / "scores.csv")
    test_labels, test_scores = video_scores("test")
    np.testing.assert_array_equal(labels, test_labels)
    np.testing.assert_allclose(scores, test_scores, atol=1e-5)


@pytest.mark.slow
def test_export_reloads_with_tensorflow_alone_and_matches_the_inference(lgsc_run, tmp_path):
    import tensorflow as tf

    from physstd import export
    from physstd.eval import evaluate, scoring

    if not os.path.exists(os.path.join(lgsc_run["run"], scoring.CALIBRATION_FILENAME)):
        evaluate.evaluate_models([lgsc_run["run"]], str(tmp_path / "eval"), protocol="identity")
    info = export.export_run(lgsc_run["run"], str(tmp_path / "export"))
    assert info["method"] == "lgsc" and set(info["outputs"]) == {"score", "decision", "cue_magnitude",
                                                                 "spoof_probability", "cue"}
    images = np.random.default_rng(3).uniform(0, 1, (3, N, N, 3)).astype(np.float32)
    np.save(tmp_path / "images.npy", images)
    out = run_with_tensorflow_only(f"""
        images = tf.constant(np.load({str(tmp_path / 'images.npy')!r}))
        out = tf.saved_model.load({str(tmp_path / 'export')!r}).signatures["serving_default"](images=images)
        outputs.update({{k: v.numpy() for k, v in out.items()}})
    """, tmp_path)
    inference = METHOD.load(lgsc_run["run"])(tf.constant(images))
    reference = _reference(_networks(lgsc_run), images)
    # Scores within 1e-4; the cue map within 1e-3: at N = 32 the decoder's first InstanceNorm normalises a 2 x 2
    # map, which magnifies the float32 rounding differences of another graph in a few pixels.
    for key in inference:
        for expected in (inference[key].numpy(), reference[key]):
            np.testing.assert_allclose(out[key], expected, atol=1e-3 if key == "cue" else 1e-4, err_msg=key)
    np.testing.assert_allclose(out["score"], reference["cue_magnitude"], atol=1e-4)
    assert METHOD.classification_traces(inference).shape == (3, N, N, 3)


@pytest.mark.slow
def test_trace_recovery_scores_half_the_cue(lgsc_run):
    from physstd.eval import trace_recovery
    from physstd.methods.base import TraceModel

    result, where = trace_recovery.recovery_of_run(lgsc_run["run"], split="test")
    assert where["trace"] == "Recovered trace = LGSC's spoof cue C / 2"
    networks = _networks(lgsc_run)
    hand = TraceModel(lambda images: ((_reference(networks, np.asarray(images, np.float32))["cue"] / 2)
                                      .astype(np.float32), None), N, tuple(lgsc_run["model_config"].trace_bands))
    assert_recovery_matches(result, hand, lgsc_run["root"])


@pytest.mark.slow
def test_triplet_on_cue_adds_the_pooled_cue_as_a_sixth_scale():
    """Tab. 5 'TL on E5-SC': the step's triplet term is the five feature scales' plus the cue's, each computed
    here from the generator's own outputs on the same batch (by the losses' hand-checked functions)."""
    import tensorflow as tf

    from physstd.methods.lgsc import losses
    from physstd.methods.lgsc.config import LGSCConfig
    from physstd.methods.lgsc.trainer import LGSCTrainer
    from physstd.models import ModelConfig
    from physstd.train.config import TrainConfig

    rng = np.random.default_rng(5)
    batch = {half: {"image": tf.constant(rng.uniform(0, 1, (2, N, N, 3)), tf.float32)} for half in ("live", "spoof")}
    is_spoof = tf.constant([0.0, 0.0, 1.0, 1.0])
    images = tf.concat([batch["live"]["image"], batch["spoof"]["image"]], 0)
    for on_cue in (False, True):
        config = TrainConfig(method="lgsc", method_config=LGSCConfig(warmup_steps=0, triplet_on_cue=on_cue),
                             batch_size=2, learning_rate=1e-3, num_steps=1)
        trainer = LGSCTrainer(ModelConfig(image_size=N, width=WIDTH), config)
        cue, features = trainer.generator(images, training=True)   # the step's forward pass, before its update
        expected = losses.multiscale_triplet_loss(features + ((cue,) if on_cue else ()), is_spoof)
        step = trainer._train_step(batch)
        np.testing.assert_allclose(step["triplet"].numpy(), expected.numpy(), rtol=1e-5)
        if on_cue:
            cue_term = losses.triplet_loss(tf.reduce_mean(cue, axis=(1, 2)), is_spoof)
            np.testing.assert_allclose(step["triplet"].numpy() - losses.multiscale_triplet_loss(features, is_spoof),
                                       cue_term.numpy(), rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_one_model_for_the_folds_of_a_cross_dataset_protocol_calibrates_on_its_source(lgsc_run, tmp_path):
    """siw_to_oulu_p3's shape: folds that share train and dev lists from one dataset and test on another's splits.
    The target root here holds the test videos only, so the threshold can only come from the run's own root; it
    equals the plain dev calibration's, and fold 2 (half of fold 1's test videos) scores those videos alike."""
    import csv
    import json
    import shutil

    from physstd.data import prepared, protocols
    from physstd.eval import evaluate

    source = lgsc_run["root"]
    split_dir = os.path.join(source, "protocols")
    subsets = {name: protocols.load_split(split_dir, "identity", name) for name in ("train", "dev", "test")}
    target = tmp_path / "target"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("protocols"))
    with open(os.path.join(source, prepared.INDEX_FILE), newline="") as f:
        rows = list(csv.DictReader(f))
    with open(target / prepared.INDEX_FILE, "w", newline="") as f:
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows(row for row in rows if row["video_id"] in subsets["test"])
    cross = tmp_path / "splits" / "cross"
    for fold, test in (("1", subsets["test"]), ("2", subsets["test"][::2])):
        folder = cross / f"fold_{fold}"
        folder.mkdir(parents=True)
        for name, ids in (("train", subsets["train"]), ("dev", subsets["dev"]), ("test", test)):
            (folder / f"{name}.txt").write_text("".join(f"{i}\n" for i in ids))
    (cross / "protocol.json").write_text(json.dumps(
        {"dataset": "cross_dataset", "protocol": "cross", "subset_datasets": {"train": "a", "dev": "a", "test": "b"}}))

    plain, _ = evaluate.evaluate_models([lgsc_run["run"]], str(tmp_path / "plain"), protocol="identity")
    record, folds = evaluate.evaluate_models([lgsc_run["run"]], str(tmp_path / "cross"), data_root=str(target),
                                             split_dir=str(tmp_path / "splits"), protocol="cross", folds=["1", "2"])
    threshold = plain["folds"][0]["calibration"]["threshold"]
    assert [fold["calibration"]["threshold"] for fold in folds] == [threshold, threshold]
    assert [fold["num_videos"] for fold in folds] == [len(subsets["test"]), len(subsets["test"][::2])]
    def scores_by_video(fold):
        with open(tmp_path / "cross" / f"fold_{fold}" / "scores.csv", newline="") as f:
            return {row["video_id"]: float(row["score"]) for row in csv.DictReader(f)}

    first, second = scores_by_video(1), scores_by_video(2)
    assert second and all(second[video] == pytest.approx(first[video], abs=1e-6) for video in second)
    (cross / "fold_2" / "train.txt").write_text(f"{subsets['train'][0]}\n")
    with pytest.raises(ValueError, match="whose train splits differ; give one run per fold"):
        evaluate.evaluate_models([lgsc_run["run"]], str(tmp_path / "again"), data_root=str(target),
                                 split_dir=str(tmp_path / "splits"), protocol="cross", folds=["1", "2"])
