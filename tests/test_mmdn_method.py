"""The multi-modal disentanglement network ("Learning Polysemantic Spoof Trace: A Multi-Modal Disentanglement
Network for Face Anti-spoofing", Li et al. 2023): its fusion against numpy, its losses on hand-computed cases, its
parameter counts block by block, and (slow) a few training steps through the real loop on a tiny RGB-D set, the
two-input export reloaded with TensorFlow alone, and the same run in every LiteRT variant and ONNX reloaded without
TensorFlow."""
import json
import math
import os
import re

import numpy as np
import pytest
import tensorflow as tf

from deploy_fixtures import SUBJECTS, outputs_without_tensorflow, run_with_tensorflow_only, write_dataset
from depth_fixtures import add_sensor_depth, reference_normalise
from physstd import methods
from physstd.methods.lgsc.networks import trainable_parameters
from physstd.methods.mmdn import losses
from physstd.methods.mmdn import networks


# --- the fusion (Eq. 2-5) by hand ----------------------------------------------------------------------------------
def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_the_fusion_matches_eq_2_to_5_by_hand():
    """C = 2, 1x1 maps, one hidden unit, fixed weights: every step of Eq. 2-5 in numpy."""
    fusion = networks.CrossModalityFusion(2, hidden_units=1)
    f_rgb = np.array([[[[1.0, -2.0]]]], np.float32)
    f_depth = np.array([[[[0.5, 3.0]]]], np.float32)
    fusion(f_rgb, f_depth)
    rng = np.random.default_rng(0)
    weights = {}
    for m in networks.MODALITIES:
        hidden, out = fusion.gate_hidden[m], fusion.gate_out[m]
        weights[m] = (rng.normal(size=(4, 1)), rng.normal(size=(1,)), rng.normal(size=(1, 2)), rng.normal(size=(2,)))
        hidden.set_weights([weights[m][0].astype(np.float32), weights[m][1].astype(np.float32)])
        out.set_weights([weights[m][2].astype(np.float32), weights[m][3].astype(np.float32)])
    kernel, bias = rng.normal(size=(1, 1, 4, 2)), rng.normal(size=(2,))
    fusion.spatial.set_weights([kernel.astype(np.float32), bias.astype(np.float32)])
    rgb, depth = (np.asarray(x)[0, 0, 0] for x in fusion(f_rgb, f_depth))

    x_rgb, x_depth = f_rgb[0, 0, 0].astype(np.float64), f_depth[0, 0, 0].astype(np.float64)
    pooled = np.concatenate([x_rgb, x_depth])
    gate = {m: _sigmoid(np.maximum(pooled @ w[0] + w[1], 0) @ w[2] + w[3]) for m, w in weights.items()}
    rgb_rec, depth_rec = x_rgb + gate["depth"] * x_depth, x_depth + gate["rgb"] * x_rgb
    logits = np.concatenate([rgb_rec, depth_rec]) @ kernel[0, 0] + bias
    attention = np.exp(logits) / np.exp(logits).sum()
    np.testing.assert_allclose(rgb, rgb_rec * attention[0], rtol=1e-5)
    np.testing.assert_allclose(depth, depth_rec * attention[1], rtol=1e-5)


# --- the losses by hand --------------------------------------------------------------------------------------------
LIVE_SPOOF = np.array([0, 1])


def test_intensity_loss_weights_the_spoof_traces_by_lambda_t():
    traces = {"rgb": np.stack([np.full((4, 4, 3), 0.1), np.full((4, 4, 3), -0.5)]).astype(np.float32)}
    assert float(losses.intensity_loss(traces, LIVE_SPOOF)) == pytest.approx(0.1 + 1e-4 * 0.5, rel=1e-6)


def test_trace_classification_loss_is_the_distance_of_phi_to_the_label():
    spoof_map = np.stack([np.full((2, 2, 1), 0.2), np.full((2, 2, 1), 0.7)]).astype(np.float32)
    assert float(losses.trace_classification_loss(spoof_map, LIVE_SPOOF)) == pytest.approx(0.5, rel=1e-6)
    assert float(losses.trace_score(spoof_map)[1]) == pytest.approx(0.7, rel=1e-6)


def test_centre_loss_and_the_centre_update_by_hand():
    features = {"rgb": np.array([[1.0, 0.0], [3.0, 0.0]], np.float32)}
    centres = tf.zeros((2, 2))
    live = np.array([0, 0])
    assert float(losses.centre_loss(features, live, {"rgb": centres})) == pytest.approx(2.5)
    sums, counts = losses.centre_update_sums(features["rgb"], live, centres)
    updated = np.asarray(losses.updated_centres(centres, sums, counts))
    np.testing.assert_allclose(updated, [[2.0 / 3.0, 0.0], [0.0, 0.0]], rtol=1e-6)


def test_a_perfect_generator_gives_zero_consistency_and_logit_zero_costs_ln_2():
    targets = {"rgb": np.random.default_rng(1).normal(size=(2, 4, 4, 3)).astype(np.float32)}
    assert float(losses.consistency_loss(targets, targets)) == 0.0
    assert float(losses.consistency_loss({"rgb": targets["rgb"] + 0.5}, targets)) == pytest.approx(0.25)
    assert float(losses.binary_cross_entropy(np.zeros(2, np.float32), LIVE_SPOOF)) == pytest.approx(math.log(2))
    logits = {"rgb": np.zeros(2, np.float32), "depth": np.zeros(2, np.float32)}
    assert float(losses.encoder_classification_loss(logits, LIVE_SPOOF)) == pytest.approx(2 * math.log(2))


def test_least_squares_gan_losses_take_real_as_one():
    ones, zeros, halves = np.ones((1, 2, 2, 1), np.float32), np.zeros((1, 2, 2, 1), np.float32), \
        np.full((1, 2, 2, 1), 0.5, np.float32)
    assert float(losses.discriminator_loss({"d": [ones]}, {"d": [zeros]})) == 0.0
    assert float(losses.discriminator_loss({"d": [zeros]}, {"d": [ones]})) == 2.0
    assert float(losses.generator_adversarial_loss({"d": [ones, ones]})) == 0.0
    # Averaged over scales, summed over discriminators: (0.25 + 1) / 2 + 0.25.
    assert float(losses.generator_adversarial_loss({"a": [halves, zeros], "b": [halves]})) == pytest.approx(0.875)


def test_the_generator_loss_weights_are_eq_13_s():
    weights = losses.MMDNWeights()
    named = {name: tf.constant(1.0) for name in losses.GENERATOR_TERMS if name != "identity"}
    assert float(losses.weighted_generator_loss(named, weights)) == pytest.approx(0.25 + 100 + 1 + 1 + 10)
    assert float(losses.weighted_generator_loss(dict(named, identity=tf.constant(1.0)), weights)) == \
        pytest.approx(212.25)


# --- shapes and parameter counts ----------------------------------------------------------------------------------
def _built(width, size, modalities=networks.MODALITIES):
    """(generator, phi, discriminators, outputs) built on one zero face of side `size`."""
    generator = networks.SpoofTraceGenerator(modalities, width)
    classifier = networks.TraceClassifier(width)
    inputs = {m: tf.zeros((1, size, size, networks.MODALITY_CHANNELS[m])) for m in modalities}
    out = generator(inputs)
    spoof_map = classifier(tf.concat([out["trace"][m] for m in modalities], -1))
    discriminators = networks.build_discriminators(modalities, width)
    for (_, m), scales in discriminators.items():
        for d in scales:
            d(inputs[m])
    return generator, classifier, discriminators, dict(out, spoof_map=spoof_map)


def _bottleneck(inputs, width, downsample):
    """Trainable parameters of a torchvision bottleneck by hand: 1x1, 3x3, 1x1 (x4) convs, three BatchNorms."""
    out = 4 * width
    return (inputs * width + 9 * width * width + width * out + 2 * (2 * width + out)
            + (inputs * out + 2 * out if downsample else 0))


@pytest.mark.slow
def test_the_blocks_count_the_issue_s_parameters_at_width_one():
    """Width 1 built on 32-pixel faces (the counts do not depend on N): the encoder is torchvision's resnet50 less
    layer4 and fc, the fusion stages Eq. 2-5's MLPs and 1x1 conv, the totals those of the layout."""
    generator, classifier, discriminators, _ = _built(1.0, 32)
    stem = 7 * 7 * 3 * 64 + 2 * 64
    stages = [(64, 64, 3), (256, 128, 4), (512, 256, 6)]
    encoder = stem + sum(_bottleneck(inputs, width, True) + (blocks - 1) * _bottleneck(4 * width, width, False)
                         for inputs, width, blocks in stages)
    assert encoder == 8_543_296 == trainable_parameters([generator.encoders["rgb"]])

    def fusion(c):
        hidden = 2 * c // 16
        return 2 * ((2 * c + 1) * hidden + (hidden + 1) * c) + (2 * c + 1) * 2

    assert [trainable_parameters([f]) for f in generator.fusions] == [fusion(256), fusion(512), fusion(1024)] == \
        [50_754, 199_810, 792_834]
    assert trainable_parameters([generator, classifier]) == 23_779_949
    per_discriminator = {m: 9 * c * 64 + 64 + 9 * 64 * 64 + 9 * 64 * 128 + 9 * 128 * 128 + 9 * 128 * 256
                         + 9 * 256 * 256 + 2 * (64 + 128 + 128 + 256 + 256) + 9 * 256 + 1
                         for m, c in networks.MODALITY_CHANNELS.items()}
    assert trainable_parameters([d for scales in discriminators.values() for d in scales]) == \
        6 * sum(per_discriminator.values()) == 13_775_628


def test_shapes_and_counts_at_quarter_width():
    """The issue's counts at width 0.25 (N = 64 there; the counts do not depend on N: built here on N = 32)."""
    generator, classifier, discriminators, out = _built(0.25, 32)
    assert trainable_parameters([generator, classifier]) == 1_505_765
    assert trainable_parameters([d for scales in discriminators.values() for d in scales]) == 872_652
    assert out["trace"]["rgb"].shape == (1, 32, 32, 3) and out["trace"]["depth"].shape == (1, 32, 32, 1)
    assert out["spoof_map"].shape == (1, 4, 4, 1) and out["logit"]["rgb"].shape == (1,)
    assert out["centre_feature"]["depth"].shape == (1, 16)
    assert [d(tf.zeros((1, 32, 32, 1))).shape[1] for d in discriminators[("S", "depth")]] == [4, 2, 1]


def test_one_modality_is_one_stream_without_fusion():
    """Constructed only (test_one_stream_trains_with_an_identity_model_and_exports_a_zero_trace_for_the_other runs
    one)."""
    generator = networks.SpoofTraceGenerator(("depth",), 0.125)
    assert generator.fusions == [] and set(generator.encoders) == set(generator.decoders) == {"depth"}
    assert set(networks.build_discriminators(("depth",), 0.125)) == {("L", "depth"), ("S", "depth")}
    assert networks.parse_modalities("depth,rgb") == ("rgb", "depth")
    with pytest.raises(ValueError, match="--mmdn_modalities=ir: expected rgb, depth or rgb,depth"):
        networks.parse_modalities("ir")


def test_the_flags_refuse_a_missing_identity_model_or_backbone_in_one_line(tmp_path):
    from physstd import methods
    from physstd.methods.mmdn.config import MMDNConfig
    from physstd.models import ModelConfig
    from physstd.train.config import TrainConfig

    method = methods.get("mmdn")
    missing = str(tmp_path / "arcface")
    cases = [(MMDNConfig(identity_model=missing), 1.0, f"--identity_model={missing}: not a SavedModel directory"),
             (MMDNConfig(backbone_weights=missing), 1.0, f"--backbone_weights={missing}: no such file"),
             (MMDNConfig(backbone_weights=missing), 0.25, "--backbone_weights: torchvision's resnet50 has width 1")]
    for own, width, message in cases:
        with pytest.raises(ValueError, match=message):
            method.check_config(TrainConfig(method="mmdn", method_config=own), ModelConfig(width=width))


def test_a_torchvision_state_dict_fills_the_encoder_by_torchvision_s_keys(tmp_path):
    """A state dict written from one encoder in torchvision's layout (OIHW kernels, bn weight / bias / running_mean /
    running_var, layer4 and fc extra) loads into a fresh one, which then computes the same features."""
    source, target = networks.Encoder(0.125, name="source"), networks.Encoder(0.125, name="target")
    x = tf.random.stateless_uniform((1, 32, 32, 3), seed=(1, 2))
    source(x), target(x)
    arrays = {"layer4.0.conv1.weight": np.zeros((1,), np.float32), "fc.weight": np.zeros((1,), np.float32)}
    for prefix, layer in source.torchvision_layers():
        if hasattr(layer, "kernel"):
            arrays[f"{prefix}.weight"] = np.transpose(np.asarray(layer.kernel), (3, 2, 0, 1))
        else:
            arrays.update({f"{prefix}.weight": np.asarray(layer.gamma), f"{prefix}.bias": np.asarray(layer.beta),
                           f"{prefix}.running_mean": np.asarray(layer.moving_mean) + 0.1,
                           f"{prefix}.running_var": np.asarray(layer.moving_variance) * 2.0})
    assert "layer3.0.downsample.0.weight" in arrays and "layer1.2.conv3.weight" in arrays
    np.savez(tmp_path / "resnet50.npz", **arrays)
    loaded = networks.load_torchvision_resnet50(str(tmp_path / "resnet50.npz"), target)
    assert loaded == len(arrays) - 2   # every array but layer4's and fc's
    for a, b in zip(source(x), target(x)):
        assert not np.allclose(a, b, atol=1e-3)   # the source still has its own moving statistics
    for prefix, layer in source.torchvision_layers():
        if hasattr(layer, "moving_mean"):
            layer.moving_mean.assign(arrays[f"{prefix}.running_mean"])
            layer.moving_variance.assign(arrays[f"{prefix}.running_var"])
    for a, b in zip(source(x), target(x)):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_a_torchvision_state_dict_with_a_missing_key_is_named_before_anything_is_loaded(tmp_path):
    encoder = networks.Encoder(0.125)
    encoder(tf.zeros((1, 32, 32, 3)))
    arrays = {f"{prefix}.weight": np.zeros((1,), np.float32) for prefix, _ in encoder.torchvision_layers()[:1]}
    np.savez(tmp_path / "partial.npz", **arrays)
    with pytest.raises(ValueError,
                       match=r"partial.npz: not a torchvision resnet50 state dict: missing keys bn1.weight"):
        networks.load_torchvision_resnet50(str(tmp_path / "partial.npz"), encoder)


def test_the_depth_trace_is_scored_on_the_measured_pixels_only():
    from physstd.eval import trace_recovery

    rng = np.random.default_rng(2)
    true = rng.normal(size=(4, 8, 8, 1)).astype(np.float32)
    measured = rng.uniform(size=true.shape) > 0.3
    frames = trace_recovery.SpoofFrames(np.zeros((4, 8, 8, 3), np.float32), np.zeros((4, 8, 8, 3), np.float32),
                                        np.zeros((4, 8, 8, 1), np.float32), np.array(["print"] * 2 + ["replay"] * 2),
                                        np.array(["a", "a", "b", "b"]))
    garbage = np.where(measured, 0.0, 100.0 * rng.normal(size=true.shape))
    for predicted, expected in ((true + garbage, 1.0), (-2.0 * true + garbage, -1.0)):
        result = {name: {} for name in ("print", "replay", trace_recovery.ALL_TYPES)}
        trace_recovery.depth_metrics(result, frames, predicted.astype(np.float32), true, measured)
        for values in result.values():
            assert values["depth_trace"]["correlation"] == pytest.approx(expected, abs=1e-6)
        assert result[trace_recovery.ALL_TYPES]["depth_trace"]["videos"]["videos"] == 2


class _MeanColour(tf.Module):
    """A stand-in face recogniser for L_id: the embedding of a face is its mean colour."""

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
    def __call__(self, images):
        return tf.reduce_mean(images, axis=(1, 2))


@pytest.mark.slow
def test_one_stream_trains_with_an_identity_model_and_exports_a_zero_trace_for_the_other(tmp_path):
    from physstd import methods
    from physstd.data import toy
    from physstd.methods.mmdn.config import MMDNConfig
    from physstd.models import ModelConfig
    from physstd.train.config import TrainConfig

    method = methods.get("mmdn")
    tf.saved_model.save(_MeanColour(), str(tmp_path / "identity"))
    own = MMDNConfig(mmdn_modalities="rgb", identity_model=str(tmp_path / "identity"))
    config = TrainConfig(method="mmdn", batch_size=4, method_config=own)
    trainer = method.trainer(ModelConfig(image_size=32, width=0.125), config, 68, None)
    batch = toy.random_batch(32, 2, input_keys=method.input_keys)
    out = trainer.predict(method.inference_inputs(batch["live"]))
    images = batch["live"]["image"].numpy()
    expected = np.linalg.norm(images.mean(axis=(1, 2)) - np.asarray(out["live_rgb"]).mean(axis=(1, 2)), axis=1).mean()
    assert float(losses.identity_loss(_MeanColour(), images, out["live_rgb"])) == pytest.approx(expected, rel=1e-5)
    trained = trainer.train_step(batch)
    assert all(np.isfinite(float(value)) for value in trained.values()) and set(trainer.centres) == {"rgb"}
    assert float(trained["identity"]) > 0
    out = trainer.predict(method.inference_inputs(batch["spoof"]))
    assert not np.any(out["trace_depth"]) and np.any(out["trace_rgb"])
    np.testing.assert_array_equal(out["live_depth"], batch["spoof"]["sensor_depth"])


# --- a few steps through the real loop, and the two-input export ------------------------------------------------
N = 32


def _add_depth_truth(root, raw):
    """Give every spoof video's truth.npz a sensor-depth trace (mm) and the pixels where it is measured, as the
    synthetic RGB-D set has them: a 40 mm step on the left half of the measured pixels. Returns {video: (trace,
    measured)}."""
    from physstd.data import prepared

    dataset = prepared.PreparedDataset(root)
    added = {}
    for video, depth in raw.items():
        path = os.path.join(dataset.video_dir(video), prepared.TRUTH_FILE)
        if not os.path.exists(path):
            continue
        truth = dict(np.load(path))
        measured = (depth > 0).astype(np.float32)
        trace = np.zeros(depth.shape, np.float32)
        trace[:, :, : N // 2] = 40.0
        truth.update(sensor_depth_trace=trace * measured, sensor_depth_measured=measured)
        np.savez_compressed(path, **truth)
        added[video] = (trace * measured, measured)
    return added


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The method trained 3 steps through physstd.train.loop.train on the deploy-test set (6 subjects; live, print,
    replay; 2 frames a video) with mm sensor depth, protocol p1, width 0.125; evaluated (calibrated on dev) and
    exported."""
    from physstd import export
    from physstd.eval import evaluate
    from physstd.models import ModelConfig
    from physstd.train.config import TrainConfig
    from physstd.train.loop import train

    base = tmp_path_factory.mktemp("mmdn")
    root = str(base / "data")
    videos = write_dataset(root, size=N)
    raw = add_sensor_depth(root, "mm")
    depth_traces = _add_depth_truth(root, raw)
    config = TrainConfig(method="mmdn", data_root=root, protocol="p1", run_dir=str(base / "run"), batch_size=2,
                         num_steps=3, checkpoint_every=3, summary_every=1, image_summary_every=1, log_every=1)
    result = train(config, ModelConfig(image_size=N, width=0.125))
    evaluate.evaluate_models([str(base / "run")], str(base / "eval"))
    info = export.export_run(str(base / "run"), str(base / "model"))
    return {"root": root, "videos": videos, "run": str(base / "run"), "result": result, "model": str(base / "model"),
            "info": info, "raw": raw, "depth_traces": depth_traces}


@pytest.mark.slow
def test_three_steps_train_with_finite_losses_and_the_paper_s_defaults(trained):
    result = trained["result"]
    assert result["step"] == 3
    assert {"adversarial", "intensity", "encoder", "classification", "centre", "generator_total", "discriminator",
            "consistency"} <= set(result["losses"]) and "identity" not in result["losses"]
    assert all(np.isfinite(value) for value in result["losses"].values())
    with open(os.path.join(trained["run"], "flags.json")) as stream:
        record = json.load(stream)
    assert record["train"]["method"] == "mmdn" and record["train"]["method_config"]["mmdn_modalities"] == "rgb,depth"
    from physstd import methods

    defaults = methods.get("mmdn").train_defaults
    assert (defaults["learning_rate"], defaults["batch_size"], defaults["num_steps"]) == (5e-5, 4, 40_000)


def _test_inputs(trained):
    """(images (F, N, N, 3), normalised depth (F, N, N, 1)) of the first test video, as the pipeline gives them."""
    from physstd.data import pipeline

    test = sorted(v for v, (_, _, subject) in trained["videos"].items() if subject in SUBJECTS["test"])
    batch = next(iter(pipeline.eval_dataset(trained["root"], test[:1], N, 8, input_keys=("image", "sensor_depth"))))
    return batch["image"].numpy(), batch["sensor_depth"].numpy()


@pytest.mark.slow
def test_the_two_input_export_reloads_with_tensorflow_alone_and_scores_as_the_run(trained, tmp_path):
    from physstd import methods

    method = methods.get("mmdn")
    assert trained["info"]["inputs"].keys() == {"images", "depth"}
    images, depth = _test_inputs(trained)
    inference = method.load(trained["run"])
    expected = inference({"image": images, "sensor_depth": depth})
    np.save(tmp_path / "images.npy", images)
    np.save(tmp_path / "depth.npy", depth)
    out = run_with_tensorflow_only(f"""
        model = tf.saved_model.load({trained['model']!r})
        images, depth = np.load({str(tmp_path / 'images.npy')!r}), np.load({str(tmp_path / 'depth.npy')!r})
        result = model.signatures["serving_default"](images=images, depth=depth)
        outputs["score"], outputs["trace_rgb"] = result["score"].numpy(), result["trace_rgb"].numpy()
    """, tmp_path)
    np.testing.assert_allclose(out["score"], expected["trace_score"], atol=1e-4)
    np.testing.assert_allclose(out["trace_rgb"], expected["trace_rgb"], atol=1e-4)
    # The score is the mean of phi's map; the classifier reads T_rgb || T_dep; the figure has six columns.
    np.testing.assert_allclose(expected["trace_score"], np.asarray(expected["spoof_map"]).mean(axis=(1, 2, 3)),
                               rtol=1e-6)
    assert method.classification_traces(expected).shape == (len(images), N, N, 4)
    arrays = {key: np.asarray(value) for key, value in expected.items()}
    grid, columns = method.trace_figure(images, arrays, inference.config)
    assert len(columns) == 6 and grid.shape[1] == 2 + 6 * (N + 2)
    trace, region, effect, depth_trace = method.trace_model(inference).estimate({"image": images,
                                                                                  "sensor_depth": depth})
    np.testing.assert_allclose(trace, expected["trace_rgb"], atol=1e-6)
    np.testing.assert_allclose(depth_trace, expected["trace_depth"], atol=1e-6)
    assert region is None and effect is None


@pytest.mark.slow
def test_every_litert_variant_and_onnx_reload_without_tensorflow_and_float32_scores_as_the_savedmodel(trained,
                                                                                                    tmp_path):
    for extra, package in (("litert", "ai_edge_litert"), ("onnx", "onnxruntime"), ("onnx", "tf2onnx")):
        pytest.importorskip(package, reason=f"the [{extra}] extra (make test installs it)")
    from physstd import deploy
    from physstd.deploy import convert, runtime

    written = convert.export_converted(trained["run"], trained["model"], ["litert", "onnx"], deploy.LITERT_VARIANTS,
                                       log=lambda message: None)
    paths = {variant: deploy.litert_path(trained["model"], variant) for variant in deploy.LITERT_VARIANTS}
    paths["onnx"] = deploy.onnx_path(trained["model"])
    assert sorted(entry["path"] for entry in written) == sorted(paths.values())
    images, depth = _test_inputs(trained)
    saved = runtime.load(trained["model"])
    expected = saved.run(images, depth)
    found = outputs_without_tensorflow(paths, [images, depth], tmp_path)
    for kind in ("float32", "onnx"):
        got = found[kind]
        assert set(got) == set(expected), kind
        for key in set(expected) - {"decision"}:
            np.testing.assert_allclose(got[key], expected[key], atol=1e-4, err_msg=f"{kind} {key}")
        # Three steps leave the scores close to the threshold; away from it the decision is the SavedModel's.
        clear = np.abs(expected["score"] - saved.threshold) > 1e-4
        np.testing.assert_array_equal(got["decision"][clear], expected["decision"][clear], err_msg=kind)
        np.testing.assert_array_equal(got["decision"], got["score"] >= np.float32(saved.threshold))
        assert runtime.read_metadata(paths[kind])["inputs"].keys() == {"images", "depth"}
    for variant in deploy.LITERT_VARIANTS[1:]:   # every variant runs and gives every output
        assert set(found[variant]) == set(expected) and np.all(np.isfinite(found[variant]["score"])), variant
    quantization = runtime.read_metadata(paths["int8"])["quantization"]
    assert (quantization["calibration_split"], quantization["calibration_frames"]) == ("train", 12)
    # The default selective quantisation keeps phi (four hidden convolutions and its output), the decoders and the
    # fusions float32; the encoders stay int8.
    kept = [node for node in quantization["float_nodes"] if re.search(methods.get("mmdn").int8_float_layers, node)]
    assert len([node for node in kept if "trace_classifier" in node and "convolution" in node]) == 5, kept
    assert all(any(part in node for node in kept) for part in ("decoder_rgb", "decoder_depth", "fusion1")), kept
    assert not any("encoder_" in node for node in kept), kept


@pytest.mark.slow
def test_trace_recovery_scores_t_rgb_and_t_dep_against_the_true_traces(trained):
    from physstd.eval import trace_recovery

    test = sorted(v for v, (_, _, subject) in trained["videos"].items() if subject in SUBJECTS["test"])
    frames, _ = trace_recovery.load_spoof_inputs(trained["root"], test, N, input_keys=("image", "sensor_depth"))
    true, measured = trace_recovery.true_depth_traces(trained["root"], frames, N)
    expected, expected_measured = [], []
    for video in dict.fromkeys(frames.videos.tolist()):
        trace, both = trained["depth_traces"][video]
        for depth, step, mask in zip(trained["raw"][video], trace, both):
            twin = np.where(mask > 0, depth - step, 0)
            expected.append(reference_normalise(depth, "mm") - reference_normalise(twin, "mm"))
            expected_measured.append(mask > 0)
    np.testing.assert_allclose(true[..., 0], np.stack(expected), atol=1e-5)
    np.testing.assert_array_equal(measured[..., 0], np.stack(expected_measured))
    result, where = trace_recovery.recovery_of_run(trained["run"], split="test")
    assert where["trace"].startswith("Recovered trace = the RGB spoof trace T_rgb")
    depth = result[trace_recovery.ALL_TYPES]["depth_trace"]
    assert -1.0 <= depth["correlation"] <= 1.0 and depth["videos"]["videos"] == len(set(frames.videos.tolist()))
    report = "\n".join(trace_recovery.recovery_report(result))
    assert "### Sensor-depth trace" in report
