"""LiteRT and ONNX exports (physstd.deploy): every output of the SavedModel within 1e-4, the same decisions, the same
calibration in the file's metadata; the int8 file calibrated on train frames (test refused) with the ops outside the
networks kept float32; run_predict's code path on a .tflite; bad requests refused with one error line.

The fast tests share one seeded PhySTD run (N = 32, width 1/8) on the deploy fixtures' dataset, exported once to
every format and loaded in this process with the LiteRT interpreter and ONNX Runtime. The slow ones train every
method two steps, export it, and reload each file in a fresh process that never imports TensorFlow.
"""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("ai_edge_litert", reason="the [litert] extra (make test installs it)")
pytest.importorskip("onnxruntime", reason="the [onnx] extra (make test installs it)")
pytest.importorskip("tf2onnx", reason="the [onnx] extra (make test installs it)")

from deploy_fixtures import ROOT, make_run_dir, outputs_without_tensorflow, write_dataset  # noqa: E402
from physstd import deploy, methods  # noqa: E402
from physstd.data import prepared, protocols  # noqa: E402
from physstd.deploy import runtime  # noqa: E402
from physstd.eval import scoring  # noqa: E402

N = 32
ALPHA0 = 3.0


def _split_crops(data_root, split):
    dataset = prepared.PreparedDataset(data_root)
    ids = protocols.load_split(os.path.join(data_root, "protocols"), "p1", split)
    return np.concatenate([dataset.load_frames(video) for video in ids])


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A seeded PhySTD run with its threshold at the median dev score, exported to every format."""
    import tensorflow as tf

    from physstd import export
    from physstd.deploy import convert

    base = tmp_path_factory.mktemp("formats")
    data_root, run_dir = str(base / "data"), str(base / "run")
    write_dataset(data_root, size=N)
    generator, config = make_run_dir(run_dir, data_root, "p1", size=N)
    method = methods.get("physstd")
    from physstd.methods.physstd.inference import PhySTDInference

    serving = export.ServingModule(PhySTDInference(generator, config), method, {"alpha0": ALPHA0}, 0.0)
    dev = tf.constant(_split_crops(data_root, "dev").astype(np.float32) / 255)
    threshold = float(np.median(serving.serve_float32(dev)["score"].numpy()))
    scoring.save_calibration(os.path.join(run_dir, scoring.CALIBRATION_FILENAME), method, {"alpha0": ALPHA0},
                             threshold, "dev")
    export_dir = str(base / "model")
    export.export_run(run_dir, export_dir)
    written = convert.export_converted(run_dir, export_dir, ["litert", "onnx"], ["float32", "int8"], "train",
                                       log=lambda message: None)
    return {"run": run_dir, "data": data_root, "dir": export_dir, "threshold": threshold, "written": written,
            "test": _split_crops(data_root, "test")}


@pytest.fixture(scope="module")
def reference(exported):
    """The SavedModel's outputs on the test crops."""
    model = runtime.load(exported["dir"])
    return model.info, model.run(exported["test"])


@pytest.mark.parametrize("path", [lambda d: deploy.litert_path(d, "float32"), deploy.onnx_path],
                         ids=["litert float32", "onnx"])
def test_a_float32_conversion_gives_every_savedmodel_output_within_1e_4_and_the_same_decisions(exported, reference,
                                                                                               path):
    info, expected = reference
    model = runtime.load(path(exported["dir"]))
    got = model.run(exported["test"])
    assert set(got) == set(expected) == set(info["outputs"])
    for key, value in expected.items():
        np.testing.assert_allclose(got[key], value, atol=1e-4, err_msg=key)
    np.testing.assert_array_equal(got["decision"], expected["decision"])
    assert 0 < expected["decision"].sum() < len(expected["decision"])   # the threshold splits the crops
    # uint8 crops are crops / 255, as the SavedModel's uint8 signature
    np.testing.assert_allclose(model.run(exported["test"].astype(np.float32) / 255)["score"], expected["score"],
                               atol=1e-4)
    # The same calibration and model record in the file's own metadata.
    for key in ("method", "image_size", "params", "threshold", "calibration_split", "model", "outputs", "score_terms"):
        assert model.info[key] == info[key], key
    assert (model.info["params"], model.info["threshold"]) == ({"alpha0": ALPHA0}, exported["threshold"])
    assert model.info["check"]["max_score_difference"] < 1e-4 and model.info["check"]["decision_flips"] == 0


def test_the_int8_file_is_quantised_calibrated_on_train_frames_and_keeps_the_input_split_and_score_float(
        exported, reference):
    from ai_edge_litert.interpreter import Interpreter

    path = deploy.litert_path(exported["dir"], "int8")
    model = runtime.load(path)
    train_frames = len(_split_crops(exported["data"], "train"))
    assert model.info["quantization"]["calibration_split"] == "train"
    assert model.info["quantization"]["calibration_frames"] == train_frames   # fewer than the default 300: all
    ops = Interpreter(model_path=path)._get_ops_details()
    details = Interpreter(model_path=path).get_tensor_details()
    kind = {op["op_name"]: set() for op in ops}
    for op in ops:
        kind[op["op_name"]].add(details[op["outputs"][0]]["dtype"].__name__)
    # Inner convolutions in int8; the Eq. 9 split (its einsum resizes and differences) and the L1 sums in float32.
    assert "int8" in kind["CONV_2D"]
    convolutions = [op for op in ops if op["op_name"] in ("CONV_2D", "TRANSPOSE_CONV")]
    kernels = [(details[op["outputs"][0]]["name"], details[op["inputs"][1]]["dtype"]) for op in convolutions]
    float_kernels = [name for name, dtype in kernels if dtype != np.int8]
    int8_kernels = [name for name, dtype in kernels if dtype == np.int8]
    # Float32: the convolutions of PhySTD's default --int8_float_layers (the stem, the first stage-1 convolution,
    # the decoders and the attention modules) and the last convolutions of the two heads (network edges); int8: the
    # other encoder convolutions, and the decoder's transposed convolutions (the quantiser ignores its list there).
    pattern = methods.get("physstd").int8_float_layers
    assert model.info["quantization"]["float_layers"] == pattern
    assert all(re.search(pattern, name) or re.search(r"/(depth|trace)_out_\d+/", name) for name in float_kernels)
    assert [any(re.search(rf"/{layer}_\d+/", name) for name in float_kernels)
            for layer in ("stem", "stage1_conv1", "trace_head", "depth_conv1", "attention_f1", "trace_out",
                          "depth_out")] == [True] * 7, float_kernels
    transposed = [op for op in convolutions if op["op_name"] == "TRANSPOSE_CONV"]
    assert len(transposed) == 3 and all(details[op["inputs"][1]]["dtype"] == np.int8 for op in transposed)
    assert len(int8_kernels) == 8 + 3 and all("stage" in name or "/up" in name for name in int8_kernels), int8_kernels
    assert kind["SUM"] == {"float32"} and "float32" in kind["SUB"]
    first_conv = next(i for i, op in enumerate(ops) if op["op_name"] == "CONV_2D")
    assert all(details[op["outputs"][0]]["dtype"] != np.int8 for op in ops[:first_conv]
               if op["op_name"] != "QUANTIZE")
    # Its scores follow the SavedModel's (the untrained network's spread of scores is small: a loose bound).
    _, expected = reference
    got = model.run(exported["test"])["score"]
    assert np.corrcoef(got, expected["score"])[0, 1] > 0.9
    assert os.path.getsize(path) < os.path.getsize(deploy.litert_path(exported["dir"], "float32"))


def test_the_calibration_refuses_the_test_split_and_unknown_formats_are_named_with_the_choices(exported):
    from physstd.deploy import convert

    message = "--calibration_split=test: the int8 calibration and the conversion check draw frames from the run's " \
              "train or dev split, never test"
    with pytest.raises(ValueError, match=re.escape(message)):
        convert.split_frames(exported["run"], "test", 10)
    with pytest.raises(ValueError, match=re.escape(message)):
        convert.export_converted(exported["run"], exported["dir"], ["litert"], ["int8"], "test")
    with pytest.raises(ValueError, match=re.escape("--format: unknown value 'tflite'; choose from savedmodel, litert, "
                                                   "onnx (comma-separated)")):
        deploy.check_request("savedmodel,tflite")
    with pytest.raises(ValueError, match="--litert_variants: unknown value 'int4'"):
        deploy.check_request("litert", "float32,int4")
    with pytest.raises(ValueError, match=re.escape("--int8_float_layers='stem(': not a regular expression")):
        deploy.check_request("litert", float_layers="stem(")
    frames = convert.split_frames(exported["run"], "dev", 5, seed=3)
    assert frames.shape == (5, N, N, 3) and frames.dtype == np.uint8
    dev = _split_crops(exported["data"], "dev")
    assert all(any(np.array_equal(frame, other) for other in dev) for frame in frames)


def test_a_file_that_is_not_a_physstd_export_is_refused_and_never_replaced(exported, tmp_path):
    from physstd.deploy import convert

    stray = tmp_path / "model.onnx"
    stray.write_bytes(b"not a model")
    with pytest.raises(ValueError, match=re.escape(f"{stray}: exists and is not a physstd onnx export")):
        convert.checked_targets(str(tmp_path / "model"), ["onnx"])
    assert stray.read_bytes() == b"not a model"
    with pytest.raises(ValueError, match=re.escape(f"{tmp_path / 'none.tflite'}: no such file")):
        runtime.load(str(tmp_path / "none.tflite"))
    model = runtime.load(deploy.litert_path(exported["dir"], "float32"))
    with pytest.raises(ValueError, match=re.escape(f"images must be a batch of face crops of shape (batch, {N}, {N}, "
                                                   f"3), RGB; got shape (2, {N + 8}, {N + 8}, 3)")):
        model.run(np.zeros((2, N + 8, N + 8, 3), np.uint8))
    with pytest.raises(ValueError, match="float32 images must lie in"):
        model.run(np.full((1, N, N, 3), 2.0, np.float32))


def test_predict_with_the_tflite_file_scores_and_decides_as_with_the_savedmodel(exported, tmp_path):
    import cv2
    from skimage import data

    from physstd import predict

    cv2.imwrite(str(tmp_path / "face.png"), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    results = {}
    for name, path in (("savedmodel", exported["dir"]), ("litert", deploy.litert_path(exported["dir"], "float32"))):
        results[name] = predict.predict_paths(path, [str(tmp_path / "face.png")], str(tmp_path / name),
                                              log=lambda message: None)
        assert sorted(os.listdir(tmp_path / name)) == ["000_face_live.png", "000_face_traces.png", "predictions.csv"]
    face, converted = results["savedmodel"][0].faces[0], results["litert"][0].faces[0]
    assert converted.score == pytest.approx(face.score, abs=1e-4) and converted.decision == face.decision
    for key in face.outputs:
        np.testing.assert_allclose(converted.outputs[key], face.outputs[key], atol=1e-4, err_msg=key)


# --- slow: every method, trained two steps, reloaded without TensorFlow ---------------------------------------------
@pytest.fixture(scope="module")
def trained_runs(tmp_path_factory):
    """{method: run directory}: every registered image-only method trained two steps on a tiny synthetic set and calibrated on
    its dev/train split (De-Spoof on the Auxiliary run as its DQ-Net)."""
    from physstd.data import synthetic
    from physstd.eval import evaluate
    from physstd.methods.despoof.config import DeSpoofConfig
    from physstd.models import ModelConfig
    from physstd.train.config import TrainConfig
    from physstd.train.loop import train

    base = tmp_path_factory.mktemp("trained")
    root = str(base / "synthetic32")
    synthetic.generate(root, N, num_identities=3, frames_per_video=2, live_videos=1, seed=0, workers=1)
    model_config = ModelConfig(image_size=N, width=0.125)
    made = {}
    # The methods that take sensor depth convert with a second input: tests/test_export_formats_rgbd.py.
    image_only = [name for name in methods.names() if methods.get(name).input_keys == ("image",)]
    for name in sorted(image_only, key=lambda name: name == "despoof"):
        own = {"method_config": DeSpoofConfig(dq_run=made["auxiliary"])} if name == "despoof" else {}
        run_dir = str(base / name)
        train(TrainConfig(method=name, data_root=root, run_dir=run_dir, protocol="identity", batch_size=2,
                          learning_rate=1e-3, num_steps=2, checkpoint_every=2, summary_every=1, image_summary_every=0,
                          log_every=1, **own), model_config)
        evaluate.evaluate_models([run_dir], str(base / f"eval_{name}"), protocol="identity", log=lambda m: None)
        made[name] = run_dir
    return {"runs": made, "root": root, "base": base}


@pytest.mark.slow
def test_every_method_exports_to_every_format_and_reloads_without_tensorflow_within_1e_4(trained_runs, tmp_path):
    from physstd import export
    from physstd.deploy import convert

    root = trained_runs["root"]
    ids = protocols.load_split(os.path.join(root, "protocols"), "identity", "test")
    dataset = prepared.PreparedDataset(root)
    crops = np.concatenate([dataset.load_frames(video) for video in ids])
    paths, expected, thresholds = {}, {}, {}
    for name, run_dir in trained_runs["runs"].items():
        export_dir = str(tmp_path / name)
        export.export_run(run_dir, export_dir)
        convert.export_converted(run_dir, export_dir, ["litert", "onnx"], deploy.LITERT_VARIANTS,
                                 log=lambda message: None)
        paths[name] = {"litert": deploy.litert_path(export_dir, "float32"), "onnx": deploy.onnx_path(export_dir),
                       **{variant: deploy.litert_path(export_dir, variant) for variant in deploy.LITERT_VARIANTS[1:]}}
        saved = runtime.load(export_dir)
        expected[name], thresholds[name] = saved.run(crops), saved.threshold
        # The method's default selective quantisation names layers of its converted graph (a renamed layer would
        # silently quantise everything).
        pattern = methods.get(name).int8_float_layers
        kept = runtime.read_metadata(paths[name]["int8"])["quantization"]["float_nodes"]
        assert not pattern or any(re.search(pattern, node) for node in kept), (name, pattern)
    found = outputs_without_tensorflow({f"{name}_{kind}": path for name, files in paths.items()
                                        for kind, path in files.items()}, [crops], tmp_path)
    for name, reference in expected.items():
        for kind in ("litert", "onnx"):
            got = found[f"{name}_{kind}"]
            assert set(got) == set(reference), (name, kind)
            np.testing.assert_allclose(got["score"], reference["score"], atol=1e-4, err_msg=f"{name} {kind}")
            # Two training steps from the N(0, 0.02) initialisation leave the scores within ~1e-5 of one another and
            # of the threshold, where a decision may go either way (the fast tests check decisions on a run whose
            # scores spread); away from it the decision is the SavedModel's, and always the file's own score's.
            clear = np.abs(reference["score"] - thresholds[name]) > 1e-4
            np.testing.assert_array_equal(got["decision"][clear], reference["decision"][clear], err_msg=name)
            np.testing.assert_array_equal(got["decision"], got["score"] >= np.float32(thresholds[name]))
            # The maps: float32 rounding in another runtime's kernels (LGSC's instance normalisations divide by
            # small deviations) moves a few of their elements by up to ~1e-3.
            for key in set(reference) - {"decision"}:
                np.testing.assert_allclose(got[key], reference[key], atol=2e-3, err_msg=f"{name} {kind} {key}")
        for variant in deploy.LITERT_VARIANTS[1:]:   # every variant runs and gives every output
            got = found[f"{name}_{variant}"]
            assert set(got) == set(reference) and np.all(np.isfinite(got["score"])), (name, variant)


@pytest.mark.slow
def test_run_export_and_run_predict_on_the_command_line(exported, tmp_path):
    """Bad requests give one error line and exit status 2 before TensorFlow starts; run_predict takes a .onnx
    file with --model and a SavedModel with the former --saved_model."""
    import cv2
    from skimage import data

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    cases = [("--format=savedmodel,tflite", "--format: unknown value 'tflite'; choose from savedmodel, litert, onnx"),
             ("--calibration_split=test", "--calibration_split=test: the int8 calibration")]
    for flag, message in cases:
        run = subprocess.run([sys.executable, os.path.join(ROOT, "run_export.py"), f"--run_dir={exported['run']}",
                              "--format=litert", flag], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert run.returncode == 2, run.stderr[-2000:]
        lines = [line for line in run.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], run.stderr
    cv2.imwrite(str(tmp_path / "face.png"), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    rows = {}
    for flag in (f"--model={deploy.onnx_path(exported['dir'])}", f"--saved_model={exported['dir']}"):
        output = tmp_path / flag.split("=")[0].strip("-")
        run = subprocess.run([sys.executable, os.path.join(ROOT, "run_predict.py"), flag, f"--output_dir={output}",
                              "--nofigures", str(tmp_path / "face.png")], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=180)
        assert run.returncode == 0, run.stderr[-2000:]
        rows[flag.split("=")[0]] = (output / "predictions.csv").read_text().splitlines()
    onnx, saved = rows["--model"][1].split(","), rows["--saved_model"][1].split(",")
    assert onnx[3] == saved[3] and float(onnx[2]) == pytest.approx(float(saved[2]), abs=1e-4)
