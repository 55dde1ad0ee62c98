"""SavedModel export: round trip in a fresh TensorFlow-only process, clear input errors, calibration, atomic writes."""
import json
import os
import re

import numpy as np
import pytest
import tensorflow as tf

from deploy_fixtures import make_run_dir, run_with_tensorflow_only
from physstd import export, methods, trace
from physstd.eval import scoring
from physstd.methods.physstd import score as eq10
from physstd.methods.physstd.inference import PhySTDInference

PHYSTD = methods.get("physstd")

N = 32
ALPHA0, THRESHOLD = 3.0, -0.45


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    base = tmp_path_factory.mktemp("export")
    generator, model_config = make_run_dir(str(base / "run"), str(base / "data"), "p1", size=N)
    export_dir = str(base / "model")
    info = export.export_saved_model(PhySTDInference(generator, model_config), methods.get("physstd"),
                                     export_dir, {"alpha0": ALPHA0}, THRESHOLD, "dev",
                                     source=str(base / "run"))
    images = np.random.default_rng(1).uniform(0, 1, (3, N, N, 3)).astype(np.float32)
    return {"generator": generator, "config": model_config, "dir": export_dir, "info": info, "images": images,
            "base": base}


def _keras_reference(generator, model_config, images):
    out = generator(images, training=False)
    trace_magnitude, depth_mean = eq10.frame_statistics(out.B, out.C, out.T, out.P, out.M)
    score = scoring.weighted_difference(trace_magnitude, depth_mean, ALPHA0)
    return {"B": out.B.numpy(), "C": out.C.numpy(), "T": out.T.numpy(), "P": out.P.numpy(),
            "I_P": out.I_P.numpy(), "depth": out.M.numpy(),
            "additive_trace": trace.additive_trace(out, model_config).numpy(),
            "live": trace.reconstruct_live(images, out, model_config).numpy(),
            "trace_magnitude": trace_magnitude, "depth_mean": depth_mean, "score": score,
            "decision": (score >= THRESHOLD).astype(np.int32)}


@pytest.mark.slow
def test_round_trip_in_a_fresh_tensorflow_only_process_matches_keras(exported, tmp_path):
    images = exported["images"]
    np.save(tmp_path / "images.npy", images)
    out = run_with_tensorflow_only(f"""
        model = tf.saved_model.load({exported['dir']!r})
        images = np.load({str(tmp_path / 'images.npy')!r})
        as_uint8 = np.round(images * 255).astype(np.uint8)
        for prefix, out in (("f_", model.signatures["serving_default"](images=tf.constant(images))),
                            ("u_", model.signatures["serving_uint8"](images=tf.constant(as_uint8))),
                            ("d_", model.serve(as_uint8)), ("g_", model.serve(images))):
            outputs.update({{prefix + k: v.numpy() for k, v in out.items()}})
        outputs["alpha0"] = model.alpha0.numpy()
        outputs["threshold"] = model.threshold.numpy()
        outputs["image_size"] = model.image_size.numpy()
    """, tmp_path)
    reference = _keras_reference(exported["generator"], exported["config"], images)
    assert set(k[2:] for k in out.files if k.startswith("f_")) == set(reference) == set(exported["info"]["outputs"])
    for key, value in reference.items():
        np.testing.assert_allclose(out["f_" + key], value, atol=1e-4, err_msg=key)
        np.testing.assert_allclose(out["g_" + key], value, atol=1e-4, err_msg=key)
    # uint8 input is image / 255: the same as float input quantised to 8 bits
    quantised = _keras_reference(exported["generator"], exported["config"], np.round(images * 255) / 255)
    for key, value in quantised.items():
        np.testing.assert_allclose(out["u_" + key], value, atol=1e-4, err_msg=key)
        np.testing.assert_allclose(out["d_" + key], value, atol=1e-4, err_msg=key)
    assert (out["alpha0"], out["threshold"], int(out["image_size"])) == (np.float32(ALPHA0), np.float32(THRESHOLD), N)


@pytest.fixture(scope="module")
def loaded(exported):
    return tf.saved_model.load(exported["dir"])


@pytest.mark.parametrize("shape", [(N, N, 3), (2, N, N, 1), (2, N + 8, N + 8, 3), (2, N, N - 1, 3), (1, 2, N, N, 3)])
def test_a_wrong_shape_names_the_expected_shape(loaded, shape):
    expected = f"(batch, {N}, {N}, 3)"
    for call in (lambda: loaded.signatures["serving_default"](images=tf.zeros(shape)),
                 lambda: loaded.signatures["serving_uint8"](images=tf.zeros(shape, tf.uint8)),
                 lambda: loaded.serve(tf.zeros(shape))):
        with pytest.raises(tf.errors.InvalidArgumentError, match=expected.replace("(", r"\(").replace(")", r"\)")):
            call()


def test_float_images_outside_unit_range_and_wrong_dtypes_are_refused(loaded):
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"must lie in \[0, 1\].*serving_uint8"):
        loaded.signatures["serving_default"](images=tf.fill((1, N, N, 3), 255.0))
    with pytest.raises((tf.errors.InvalidArgumentError, TypeError), match="float"):
        loaded.signatures["serving_default"](images=tf.zeros((1, N, N, 3), tf.uint8))
    # Just inside the tolerance: accepted and clipped to [0, 1].
    edge = loaded.signatures["serving_default"](images=tf.fill((1, N, N, 3), 1.0 + export.RANGE_TOLERANCE / 2))
    ones = loaded.signatures["serving_default"](images=tf.ones((1, N, N, 3)))
    np.testing.assert_allclose(edge["score"], ones["score"], atol=1e-6)


@pytest.mark.parametrize("images", [np.zeros((1, N, N, 3)), np.zeros((1, N, N, 3), np.float16),
                                    tf.zeros((1, N, N, 3), tf.int32), np.zeros((N, N, 3), np.int64)],
                         ids=["numpy float64", "float16", "int32", "int64 of the wrong rank"])
def test_serve_with_another_dtype_names_the_two_it_takes(loaded, images):
    expected = re.escape(f"serve() takes uint8 images in 0..255 or float32 images in [0, 1] of shape (batch, {N}, "
                         f"{N}, 3); got {tf.as_dtype(images.dtype).name}")
    with pytest.raises(tf.errors.InvalidArgumentError, match=expected):
        loaded.serve(images)
    # The signature converts numpy float64 to its float32 and scores it like float32 input.
    if images.dtype == np.float64:
        np.testing.assert_allclose(loaded.signatures["serving_default"](images=images)["score"],
                                   loaded.serve(images.astype(np.float32))["score"], atol=1e-6)


def test_info_file_and_re_export_replaces_atomically(exported):
    info = export.read_export_info(exported["dir"])
    assert info == exported["info"]
    assert (info["method"], info["image_size"], info["params"], info["threshold"]) == \
        ("physstd", N, {"alpha0": ALPHA0}, THRESHOLD)
    assert (info["calibration_split"], info["score_terms"]) == ("dev", ["trace_magnitude", "depth_mean"])
    assert info["outputs"][:2] == ["score", "decision"]
    with open(os.path.join(exported["dir"], export.INFO_FILE)) as stream:
        assert json.load(stream)["model"] == exported["config"].to_dict()
    export.export_saved_model(PhySTDInference(exported["generator"], exported["config"]),
                              methods.get("physstd"), exported["dir"], {"alpha0": 1.0}, 0.25, "train")
    assert export.read_export_info(exported["dir"])["threshold"] == 0.25
    leftovers = [name for name in os.listdir(os.path.dirname(exported["dir"])) if name.startswith(".")]
    assert leftovers == []


def test_export_run_needs_the_calibration_and_uses_it(exported, tmp_path):
    run_dir = str(exported["base"] / "run")
    with pytest.raises(ValueError, match="calibration.json.*run_test.py"):
        export.export_run(run_dir, str(tmp_path / "a"))
    # A run evaluated before the harness has a format-1 alpha0.json (and its flags.json names no method).
    legacy = os.path.join(run_dir, scoring.LEGACY_CALIBRATION_FILENAME)
    with open(legacy, "w") as stream:
        json.dump({"format_version": 1, "alpha0": 0.75, "threshold": 0.1, "split": "train",
                   "score": "alpha0 * trace_magnitude - depth_mean", "decision": "attack if score >= threshold"},
                  stream)
    info = export.export_run(run_dir, str(tmp_path / "old"))
    assert (info["method"], info["params"], info["threshold"], info["calibration_split"], info["threshold_rule"]) == \
        ("physstd", {"alpha0": 0.75}, 0.1, "train", {"rule": "eer"})
    # A threshold chosen by the BPCER rule is exported as it is; the info file says which rule chose it.
    rule = {"rule": "bpcer", "bpcer": 0.01}
    scoring.save_calibration(os.path.join(run_dir, scoring.CALIBRATION_FILENAME), PHYSTD, {"alpha0": 0.5}, -0.2,
                             "dev", rule)
    info = export.export_run(run_dir, str(tmp_path / "b"))
    assert (info["params"], info["threshold"], info["calibration_split"]) == ({"alpha0": 0.5}, -0.2, "dev")
    assert export.read_export_info(str(tmp_path / "b"))["threshold_rule"] == rule
    assert float(export.load_export(str(tmp_path / "b")).threshold.numpy()) == np.float32(-0.2)
    assert info["source"] == os.path.abspath(run_dir)
    os.remove(os.path.join(run_dir, scoring.CALIBRATION_FILENAME))
    os.remove(legacy)


def test_read_export_info_rejects_a_folder_that_is_not_an_export(tmp_path):
    with pytest.raises(ValueError, match="not a physstd SavedModel export"):
        export.read_export_info(str(tmp_path))


def test_a_format_1_export_info_reads_as_a_physstd_export(tmp_path):
    """physstd_export.json of an export written before the harness: alpha0 at the top, no method."""
    (tmp_path / "saved_model.pb").write_bytes(b"")
    (tmp_path / export.INFO_FILE).write_text(json.dumps({"format_version": 1, "image_size": N, "alpha0": 1.5,
                                                         "threshold": 0.2, "calibration_split": "dev",
                                                         "outputs": ["score", "decision"]}))
    info = export.read_export_info(str(tmp_path))
    assert (info["method"], info["params"], info["score_terms"]) == \
        ("physstd", {"alpha0": 1.5}, ["trace_magnitude", "depth_mean"])
    (tmp_path / export.INFO_FILE).write_text(json.dumps({"format_version": 3}))
    with pytest.raises(ValueError, match=r"physstd_export.json: expected format_version 2 \(or 1\)"):
        export.read_export_info(str(tmp_path))
