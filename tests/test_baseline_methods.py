"""The Auxiliary and De-Spoof methods on the shared harness: an Auxiliary run and a De-Spoof run on top of it
(--dq_run) trained through the real loop on a tiny synthetic set, evaluated and calibrated, exported and reloaded
with TensorFlow alone, the De-Spoof noise scored by trace recovery, drawn by run_predict and classified (Sec. 4.4);
every number against the networks restored straight from the checkpoints (no harness code in the references).

One synthetic set (N = 32, 3 identities, 2 frames per video) and the two runs (3 steps each) are made once."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from deploy_fixtures import run_with_tensorflow_only
from recovery_checks import assert_recovery_matches
from physstd import methods, runs

N = 32
WIDTH = 0.125
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _train(config_fields, model_config):
    from physstd.train.loop import train
    from physstd.train.config import TrainConfig

    config = TrainConfig(protocol="identity", batch_size=2, learning_rate=1e-3, num_steps=3, checkpoint_every=3,
                         summary_every=1, image_summary_every=0, log_every=1, **config_fields)
    return train(config, model_config)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """{root, aux, despoof: run dirs, results}: Auxiliary 3 steps, then De-Spoof 3 steps with it as DQ-Net."""
    from physstd.data import synthetic
    from physstd.methods.despoof.config import DeSpoofConfig
    from physstd.models import ModelConfig

    base = tmp_path_factory.mktemp("baselines")
    root = str(base / "synthetic32")
    synthetic.generate(root, N, num_identities=3, frames_per_video=2, live_videos=1, seed=0, workers=1)
    model_config = ModelConfig(image_size=N, width=WIDTH)
    aux_run, despoof_run = str(base / "auxiliary"), str(base / "despoof")
    aux_result = _train(dict(method="auxiliary", data_root=root, run_dir=aux_run), model_config)
    despoof_result = _train(dict(method="despoof", data_root=root, run_dir=despoof_run,
                                 method_config=DeSpoofConfig(dq_run=aux_run)), model_config)
    return {"root": root, "aux": aux_run, "despoof": despoof_run, "base": base, "model_config": model_config,
            "results": {"auxiliary": aux_result, "despoof": despoof_result}}


@pytest.fixture(scope="module")
def exports(trained, tmp_path_factory):
    """{method: export dir} of both runs, calibrated on dev first where no earlier test did (this test alone)."""
    from physstd import export
    from physstd.eval import evaluate, scoring

    base = tmp_path_factory.mktemp("exports")
    paths = {}
    for name, run_dir in (("auxiliary", trained["aux"]), ("despoof", trained["despoof"])):
        if not os.path.exists(os.path.join(run_dir, scoring.CALIBRATION_FILENAME)):
            evaluate.evaluate_models([run_dir], str(base / f"eval_{name}"), protocol="identity")
        paths[name] = str(base / name)
        info = export.export_run(run_dir, paths[name])
        maps = {"auxiliary": ["depth"], "despoof": ["noise", "additive_trace", "zero_one_map", "live", "depth"]}
        assert info["method"] == name and set(info["outputs"]) == \
            {"score", "decision", *methods.get(name).score_terms, *maps[name]}, info["outputs"]
    return paths


def _networks(trained):
    """The trained networks restored straight from the checkpoints: aux, ds_net, dq_net (De-Spoof's copy)."""
    from physstd.methods.auxiliary.network import AuxiliaryNet
    from physstd.methods.despoof.networks import DSNet

    model_config = trained["model_config"]
    aux, ds_net, dq_net = AuxiliaryNet(model_config), DSNet(model_config), AuxiliaryNet(model_config)
    for network in (aux, ds_net, dq_net):
        network(np.zeros((1, N, N, 3), np.float32))
    runs.restore_networks(trained["aux"], {"auxiliary": aux})
    runs.restore_networks(trained["despoof"], {"ds_net": ds_net, "dq_net": dq_net})
    return aux, ds_net, dq_net


def _noise(ds_net, images):
    """(RGB+HSV images, DS-Net's noise N) as float64 numpy (HSV from TensorFlow's rgb_to_hsv)."""
    import tensorflow as tf

    images = np.asarray(images, np.float32)
    image6 = np.concatenate([images, tf.image.rgb_to_hsv(images).numpy()], -1)
    return image6, np.asarray(ds_net(image6)[0], np.float64)


def _reference_terms(networks, images):
    """{method: {term: (F,) float64}} with numpy on the networks' raw outputs, and 'trace': N's RGB channels."""
    aux, ds_net, dq_net = networks
    image6, noise = _noise(ds_net, images)
    depth = np.asarray(dq_net((image6 - noise).astype(np.float32)), np.float64)
    return {"auxiliary": {"depth_mean": np.asarray(aux(images), np.float64).mean(axis=(1, 2, 3))},
            "despoof": {"noise_magnitude": np.abs(noise).sum(axis=(1, 2, 3)) / (N * N),
                        "depth_mean": depth.mean(axis=(1, 2, 3))},
            "trace": noise[..., :3]}


def _video_terms(trained, networks, split):
    """(video labels, {method: {term: per-video mean}}) of a split of the synthetic set."""
    from physstd.data import prepared, protocols

    dataset = prepared.PreparedDataset(trained["root"])
    index = {row["video_id"]: row for row in prepared.read_index(trained["root"])[0]}
    ids = protocols.load_split(os.path.join(trained["root"], "protocols"), "identity", split)
    labels, terms = [], {"auxiliary": {"depth_mean": []}, "despoof": {"noise_magnitude": [], "depth_mean": []}}
    for video in ids:
        labels.append(int(index[video]["label"]))
        frames = _reference_terms(networks, dataset.load_frames(video).astype(np.float32) / 255.0)
        for name in terms:
            for term in terms[name]:
                terms[name][term].append(frames[name][term].mean())
    return np.array(labels), {name: {t: np.array(v) for t, v in values.items()} for name, values in terms.items()}


@pytest.mark.slow
def test_both_runs_train_through_the_loop_and_de_spoof_keeps_the_auxiliary_dq_net_frozen(trained):
    for name, run_dir in (("auxiliary", trained["aux"]), ("despoof", trained["despoof"])):
        result = trained["results"][name]
        assert result["step"] == 3 and all(np.isfinite(v) for v in result["losses"].values()), (name, result)
        assert runs.read_run_flags(run_dir)["train"]["method"] == name
        assert methods.of_run(run_dir).name == name
    assert {"zero_one_map", "magnitude", "repetitive", "depth_quality", "visual_quality", "total", "vq"} <= \
        set(trained["results"]["despoof"]["losses"])
    # Frozen DQ-Net (Sec. 4.1) in inference mode: De-Spoof's copy holds the Auxiliary run's weights and BN statistics.
    aux, _, dq_net = _networks(trained)
    assert len(aux.variables) == len(dq_net.variables) > 0
    for a, d in zip(aux.variables, dq_net.variables):
        np.testing.assert_array_equal(a.numpy(), d.numpy(), err_msg=a.path)
    # The dev AUCs the loop reports: Auxiliary its one score, De-Spoof depth / noise / fused.
    for run_dir, keys in ((trained["aux"], {"score"}), (trained["despoof"], {"depth", "noise", "fused", "weight"})):
        with open(os.path.join(run_dir, "dev_eval.json")) as stream:
            assert keys <= set(json.load(stream)[-1]), run_dir


@pytest.mark.slow
def test_evaluation_calibrates_each_method_on_dev_and_scores_test_videos(trained, tmp_path):
    from physstd.eval import evaluate, metrics, scoring

    networks = _networks(trained)
    dev_labels, dev_terms = _video_terms(trained, networks, "dev")
    test_labels, test_terms = _video_terms(trained, networks, "test")
    noise, depth = dev_terms["despoof"]["noise_magnitude"], dev_terms["despoof"]["depth_mean"]

    def ranking(weight):  # choose_weight's criterion on the reference terms: (-AUC, EER), tied within float noise
        scores = weight * noise - depth
        return round(-metrics.auc(dev_labels, scores), 9), round(metrics.eer(dev_labels, scores)[0], 9)

    for name, run_dir in (("auxiliary", trained["aux"]), ("despoof", trained["despoof"])):
        output = tmp_path / name
        evaluate.evaluate_models([run_dir], str(output), protocol="identity", calibration_split="dev")
        calibration = scoring.load_calibration(os.path.join(run_dir, scoring.CALIBRATION_FILENAME),
                                               methods.get(name))
        assert (calibration["method"], calibration["split"]) == (name, "dev")
        if name == "auxiliary":
            assert calibration["params"] == {}
            score = lambda t: -t["depth_mean"]  # noqa: E731
        else:
            # After 3 steps DS-Net's noise barely depends on the face (its spread over videos is ~1e-9 of its mean),
            # so many grid weights rank the dev videos alike and which one wins turns on float rounding that the
            # evaluation's compiled path and these eager calls need not share. The fitted weight must be one of the
            # reference's best.
            weight = calibration["params"]["weight"]
            assert set(calibration["params"]) == {"weight"} and weight >= 0
            assert ranking(weight) == ranking(scoring.choose_weight(dev_labels, noise, depth))
            score = lambda t: weight * t["noise_magnitude"] - t["depth_mean"]  # noqa: E731
        assert calibration["threshold"] == pytest.approx(metrics.eer(dev_labels, score(dev_terms[name]))[1],
                                                         abs=1e-5)
        labels, scores, _ = evaluate.read_scores_csv(output / "scores.csv")
        np.testing.assert_array_equal(labels, test_labels)
        np.testing.assert_allclose(scores, score(test_terms[name]), atol=1e-5, err_msg=name)


@pytest.mark.slow
def test_exports_reload_with_tensorflow_alone_and_match_the_keras_path(trained, exports, tmp_path):
    import tensorflow as tf

    from physstd.eval import scoring

    images = np.random.default_rng(3).uniform(0, 1, (3, N, N, 3)).astype(np.float32)
    np.save(tmp_path / "images.npy", images)
    out = run_with_tensorflow_only(f"""
        images = tf.constant(np.load({str(tmp_path / 'images.npy')!r}))
        for name, path in {exports!r}.items():
            out = tf.saved_model.load(path).signatures["serving_default"](images=images)
            outputs.update({{name + "/" + k: v.numpy() for k, v in out.items()}})
    """, tmp_path)
    reference = _reference_terms(_networks(trained), images)
    for name, run_dir in (("auxiliary", trained["aux"]), ("despoof", trained["despoof"])):
        method = methods.get(name)
        calibration = scoring.load_calibration(os.path.join(run_dir, scoring.CALIBRATION_FILENAME), method)
        score = method.score(reference[name], calibration["params"])
        np.testing.assert_allclose(out[f"{name}/score"], score, atol=1e-4, err_msg=name)
        np.testing.assert_array_equal(out[f"{name}/decision"], (score >= calibration["threshold"]).astype(np.int32))
        # ... and the Keras path (the method's Inference) gives the same outputs as the reloaded export.
        keras_out = method.load(run_dir)(tf.constant(images))
        for key in keras_out:
            np.testing.assert_allclose(out[f"{name}/{key}"], keras_out[key].numpy(), atol=1e-4, err_msg=key)
    np.testing.assert_allclose(out["despoof/additive_trace"], reference["trace"], atol=1e-5)
    assert methods.get("despoof").classification_traces(keras_out).shape == (3, N, N, 6)


@pytest.mark.slow
def test_trace_recovery_scores_the_de_spoof_noise_and_refuses_the_auxiliary_run(trained):
    from physstd.eval import trace_recovery
    from physstd.methods.base import TraceModel

    result, where = trace_recovery.recovery_of_run(trained["despoof"], split="test")
    assert where["split"] == "test" and where["trace"] == "Recovered trace = the RGB part of De-Spoof's noise N"
    assert trace_recovery.recovery_report(result, "test", where["trace"])[2].startswith(
        "Recovered trace = the RGB part of De-Spoof's noise N against the true T_A")
    # The same numbers as a TraceModel made here from the checkpointed DS-Net: the RGB noise, no region.
    _, ds_net, _ = _networks(trained)
    model_config = trained["model_config"]
    hand = TraceModel(lambda images: (_noise(ds_net, images)[1][..., :3].astype(np.float32), None), N,
                      tuple(model_config.trace_bands))
    assert_recovery_matches(result, hand, trained["root"])
    with pytest.raises(ValueError, match="method 'auxiliary' estimates no additive spoof trace"):
        trace_recovery.recovery_of_run(trained["aux"], split="test")


def _signed(x):
    """A signed map as grey-centred levels, 0.5 + 0.5 x / max|x| (viz's Fig. 8/9 display), in float32."""
    x = np.asarray(x, np.float32)
    return 0.5 + 0.5 * x / np.abs(x).max()


def _grey_upscaled(x):
    """A (K, K, 1) map as an (N, N, 3) grey panel, each pixel repeated (N/K)^2 times."""
    return np.repeat(np.kron(x[..., 0], np.ones((N // x.shape[0],) * 2, np.float32))[..., None], 3, axis=-1)


def _panels(path, left, count):
    """The `count` N x N panels of the one row of a titled figure PNG whose row-title strip is `left` wide."""
    import cv2

    from physstd import viz

    figure = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    assert figure.shape == (viz.TITLE_HEIGHT + viz.PAD + N + viz.PAD, left + viz.PAD + count * (N + viz.PAD), 3)
    origins = [viz.panel_origin(0, c, N) for c in range(count)]
    return [figure[viz.TITLE_HEIGHT + y:viz.TITLE_HEIGHT + y + N, left + x:left + x + N] for y, x in origins]


@pytest.mark.slow
def test_run_predict_draws_the_de_spoof_noise_figures_and_no_figure_for_the_auxiliary(trained, exports, tmp_path):
    import cv2
    from skimage import data

    from physstd import predict, viz

    face_path = tmp_path / "face.png"
    cv2.imwrite(str(face_path), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    logs = []
    [result] = predict.predict_paths(exports["despoof"], [str(face_path)], str(tmp_path / "despoof"),
                                     log=logs.append)
    [face] = result.faces
    image = face.crop.astype(np.float32) / 255.0
    out = face.outputs
    # The outputs are DS-Net's and DQ-Net's on the crop (restored straight from the checkpoint) ...
    _, ds_net, dq_net = _networks(trained)
    image6, noise = _noise(ds_net, image[None])
    np.testing.assert_allclose(out["additive_trace"], noise[0, ..., :3], atol=1e-4)
    np.testing.assert_allclose(out["zero_one_map"], np.asarray(ds_net(image6.astype(np.float32))[1])[0], atol=1e-4)
    np.testing.assert_allclose(out["depth"], np.asarray(dq_net((image6 - noise).astype(np.float32)))[0], atol=1e-4)
    np.testing.assert_allclose(out["live"], (image6 - noise)[0, ..., :3], atol=1e-4)
    assert out["zero_one_map"].shape == out["depth"].shape == (N // 8, N // 8, 1)
    # ... and each panel of the two figures is its map, pixel for pixel: input, N's RGB (signed), 0\1 map and depth
    # (grey, each pixel repeated 8 x 8), I_hat; Fig. 9: input, I - I_hat (signed), I_hat.
    left = viz.row_title_width([predict.face_title(face, False)])
    expected = {"traces": [image, _signed(out["additive_trace"]), _grey_upscaled(out["zero_one_map"]),
                           _grey_upscaled(out["depth"]), out["live"]],
                "live": [image, _signed(image - out["live"]), out["live"]]}
    for kind, panels in expected.items():
        path = tmp_path / "despoof" / f"000_face_{kind}.png"
        assert f"  figure: {path}" in logs
        for column, (panel, want) in enumerate(zip(_panels(path, left, len(panels)), panels)):
            np.testing.assert_array_equal(panel, viz.to_uint8(want), err_msg=f"{kind} column {column}")
    # The Auxiliary outputs no trace and no live face: predictions.csv, no figure, and a line saying so.
    logs = []
    [result] = predict.predict_paths(exports["auxiliary"], [str(face_path)], str(tmp_path / "auxiliary"),
                                     log=logs.append)
    assert os.listdir(tmp_path / "auxiliary") == ["predictions.csv"] and len(result.faces) == 1
    assert "no figures: method 'auxiliary' outputs no spoof trace or live reconstruction" in logs


@pytest.mark.slow
def test_trace_classification_runs_on_the_de_spoof_noise(trained, tmp_path):
    from physstd.data import prepared, protocols
    from physstd.eval import trace_classification as tc

    # The classifier's traces are the 6-channel noise N of DS-Net (float16 storage).
    ids = protocols.load_split(os.path.join(trained["root"], "protocols"), "identity", "test")
    method = methods.get("despoof")
    inference = method.load(trained["despoof"])
    features, names = tc.collect_inputs(lambda images: method.classification_traces(inference(images)),
                                        trained["root"], ids, N)
    _, ds_net, _ = _networks(trained)
    assert features["traces"].shape == (len(names), N, N, 6)
    np.testing.assert_allclose(features["traces"].astype(np.float32),
                               _noise(ds_net, tc.as_float(features["images"]))[1], atol=2e-3)
    dataset = prepared.PreparedDataset(trained["root"])
    test_frames = sum(len(dataset.load_frames(video)) for video in ids)
    assert len(names) == test_frames
    # The command end to end: its JSON and Markdown, a confusion matrix over every test frame. The tiny set's one
    # train identity lacks a print video, so the classifier trains on the train and dev identities (--split_dir).
    splits = tmp_path / "splits" / "identity"
    splits.mkdir(parents=True)
    train_ids = [video for subset in ("train", "dev")
                 for video in protocols.load_split(os.path.join(trained["root"], "protocols"), "identity", subset)]
    (splits / "train.txt").write_text("\n".join(train_ids) + "\n")
    (splits / "test.txt").write_text("\n".join(ids) + "\n")
    output = tmp_path / "classification"
    run = subprocess.run([sys.executable, "-m", "physstd.eval.trace_classification", f"--run_dir={trained['despoof']}",
                          f"--split_dir={splits.parent}", "--epochs=1", "--inputs=traces", f"--output_dir={output}"],
                         cwd=tmp_path, env=dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2"),
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    with open(output / "trace_classification.json") as stream:
        result = json.load(stream)
    matrix = np.array(result["traces"]["confusion"])
    classes = result["classes"]
    assert (result["method"], result["test_samples"], matrix.sum()) == ("despoof", test_frames, test_frames)
    assert matrix.shape == (len(classes), len(classes)) and "images" not in result
    truth = [tc.class_of(name, "category") for name in names]
    assert matrix.sum(axis=1).tolist() == [truth.count(name) for name in classes]
    assert result["traces"]["accuracy"] == pytest.approx(np.trace(matrix) / test_frames)
    report = (output / "trace_classification.md").read_text()
    assert "(method despoof)" in report and tc.confusion_markdown(matrix, classes) in report


@pytest.mark.slow
def test_dq_run_is_required_and_must_be_an_auxiliary_run_of_the_same_size(trained, tmp_path):
    from absl import flags as absl_flags

    from physstd.models import ModelConfig
    from physstd.train import flags as train_flags

    # run_train.py without --dq_run: one error line, status 2, before any data or network loads.
    run = subprocess.run([sys.executable, os.path.join(ROOT, "run_train.py"), "--method=despoof",
                          f"--run_dir={tmp_path / 'run'}", "--data_root=nowhere", "--protocol=p1"],
                         cwd=tmp_path, env=dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2"),
                         capture_output=True, text=True, timeout=120)
    lines = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert run.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: --dq_run is required"), \
        run.stderr
    from physstd.methods.despoof.config import DeSpoofConfig
    from physstd.train.config import TrainConfig

    method = methods.get("despoof")

    def config(dq_run):
        return TrainConfig(method="despoof", method_config=DeSpoofConfig(dq_run=dq_run))

    with pytest.raises(ValueError, match=r"--dq_run: .*flags.json: a run of method 'despoof'; expected a "
                                         r"'auxiliary' run"):
        method.check_config(config(trained["despoof"]), trained["model_config"])
    with pytest.raises(ValueError, match="--dq_run: the Auxiliary run .* has image_size 32, this De-Spoof run 64"):
        method.check_config(config(trained["aux"]), ModelConfig(64, WIDTH))
    with pytest.raises(ValueError, match="--dq_run: .*flags.json"):
        method.check_config(config(str(tmp_path / "missing")), ModelConfig(N, WIDTH))
    # The flags: De-Spoof's paper settings (Sec. 4.1) where no flag was given.
    values = absl_flags.FlagValues()
    train_flags.define_flags(values)
    values(["run_train.py", "--method=despoof", f"--dq_run={trained['aux']}", f"--image_size={N}",
            f"--width={WIDTH}", "--train_dq"])
    config, _ = train_flags.configs_from_flags(values)
    assert (config.learning_rate, config.batch_size, config.lr_decay_factor, config.method_config) == \
        (3e-5, 6, 1.0, DeSpoofConfig(dq_run=trained["aux"], train_dq=True))
    assert methods.get("auxiliary").train_defaults == {"learning_rate": 3e-5, "batch_size": 6, "lr_decay_factor": 1.0}


def test_score_parameters_are_checked():
    assert methods.get("auxiliary").check_params({}, "f") == {}
    with pytest.raises(ValueError, match="f: the Auxiliary score -depth_mean has no parameters"):
        methods.get("auxiliary").check_params({"alpha0": 1.0}, "f")
    method = methods.get("despoof")
    assert method.check_params({"weight": 2}, "f") == {"weight": 2.0}
    for bad in ({"alpha0": 1.0}, {"weight": -1.0}, {"weight": float("nan")}):
        with pytest.raises(ValueError, match="f"):
            method.check_params(bad, "f")
    terms = {"noise_magnitude": np.array([0.5, 0.1]), "depth_mean": np.array([0.2, 0.4])}
    np.testing.assert_allclose(method.score(terms, {"weight": 2.0}), [0.8, -0.2])
    np.testing.assert_allclose(methods.get("auxiliary").score(terms, {}), [-0.2, -0.4])
