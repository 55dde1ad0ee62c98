"""LiteRT and ONNX exports of a model that takes sensor depth (physstd.deploy): the throw-away RGB-D method of
tests/test_methods_rgbd.py with a hidden convolution, trained two steps, converts with two inputs (images, depth),
reloads in a fresh process without TensorFlow and scores as its SavedModel within 1e-4 (float32; the int8 file,
calibrated on train frames and their depth, runs); raw depth is normalised as the SavedModel normalises it, and
predict runs the .tflite file with depth."""

import numpy as np
import pytest

pytest.importorskip("ai_edge_litert", reason="the [litert] extra (make test installs it)")
pytest.importorskip("onnxruntime", reason="the [onnx] extra (make test installs it)")
pytest.importorskip("tf2onnx", reason="the [onnx] extra (make test installs it)")

from deploy_fixtures import SUBJECTS, outputs_without_tensorflow, write_dataset  # noqa: E402
from depth_fixtures import add_sensor_depth, reference_normalise  # noqa: E402
from physstd import deploy  # noqa: E402
from physstd.deploy import runtime  # noqa: E402
from test_methods import throwaway_method  # noqa: E402
from test_methods_rgbd import FOLDER, NAME, N  # noqa: E402


# The method's network with a hidden convolution before its one: a single convolution lies at the network's edges,
# which int8 keeps float32, leaving nothing to quantise.
ONE_CONV = 'out = keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid", name="conv")(both)'
TWO_CONVS = {**FOLDER, "network.py": FOLDER["network.py"].replace(ONE_CONV, (
    'hidden = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="hidden")(both)\n'
    '            ' + ONE_CONV.replace("(both)", "(hidden)")))}


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """The RGB-D method (two convolutions) trained 2 steps on the deploy-test set with mm depth, calibrated on dev, exported as a
    SavedModel, a float32 and an int8 .tflite and a .onnx; its test frames with their raw and (by hand) normalised depth."""
    from physstd import export
    from physstd.data import prepared
    from physstd.deploy import convert
    from physstd.eval import evaluate
    from physstd.models import ModelConfig
    from physstd.train.config import TrainConfig
    from physstd.train.loop import train

    base = tmp_path_factory.mktemp("rgbd_formats")
    root = str(base / "data")
    videos = write_dataset(root, size=N)
    raw = add_sensor_depth(root, "mm")
    assert TWO_CONVS["network.py"] != FOLDER["network.py"]
    with throwaway_method(tmp_path_factory.mktemp("methods"), NAME, TWO_CONVS) as method:
        run_dir = str(base / "run")
        train(TrainConfig(method=NAME, data_root=root, protocol="p1", run_dir=run_dir, batch_size=2,
                          learning_rate=1e-2, num_steps=2, checkpoint_every=2, summary_every=1, image_summary_every=0,
                          log_every=1), ModelConfig(image_size=N, width=0.125))
        evaluate.evaluate_models([run_dir], str(base / "eval"), log=lambda message: None)
        export_dir = str(base / "model")
        export.export_run(run_dir, export_dir)
        written = convert.export_converted(run_dir, export_dir, ["litert", "onnx"], ["float32", "int8"], "train",
                                           log=lambda message: None)
        test = sorted(video for video, (_, _, subject) in videos.items() if subject in SUBJECTS["test"])
        dataset = prepared.PreparedDataset(root)
        crops = np.concatenate([dataset.load_frames(video) for video in test])
        raw_depth = np.concatenate([raw[video] for video in test])[..., None]
        depth = np.stack([reference_normalise(d[..., 0], "mm") for d in raw_depth])[..., None].astype(np.float32)
        yield {"dir": export_dir, "written": written, "crops": crops, "raw": raw_depth, "depth": depth,
               "method": method, "base": base}


@pytest.mark.slow
def test_a_two_input_model_converts_and_reloads_without_tensorflow_within_1e_4(converted, tmp_path):
    saved = runtime.load(converted["dir"])
    images = converted["crops"].astype(np.float32) / np.float32(255.0)
    expected = saved.run(images, converted["depth"])
    assert saved.takes_depth and 0 < np.ptp(expected["score"])   # the depth input reaches the score
    paths = {"litert": deploy.litert_path(converted["dir"], "float32"), "onnx": deploy.onnx_path(converted["dir"]),
             "int8": deploy.litert_path(converted["dir"], "int8")}
    assert sorted(entry["path"] for entry in converted["written"]) == sorted(paths.values())
    found = outputs_without_tensorflow(paths, [images, converted["depth"]], tmp_path)
    # The int8 file, calibrated on train frames with their depth, runs and gives every output.
    quantization = runtime.read_metadata(paths.pop("int8"))["quantization"]
    assert (quantization["calibration_split"], quantization["calibration_frames"]) == ("train", 12)   # 2 subjects x 3 videos x 2 frames
    assert set(found["int8"]) == set(expected) and np.all(np.isfinite(found["int8"]["score"]))
    for kind, path in paths.items():
        got = found[kind]
        assert set(got) == set(expected), kind
        for key, value in expected.items():
            np.testing.assert_allclose(got[key], value, atol=1e-4, err_msg=f"{kind} {key}")
        info = runtime.read_metadata(path)
        assert info["inputs"].keys() == {"images", "depth"} and info["depth_units"] == "mm"
        assert info["check"]["max_score_difference"] < 1e-4


@pytest.mark.slow
def test_raw_depth_is_normalised_as_the_savedmodel_does_and_predict_runs_the_tflite_with_depth(converted, tmp_path):
    import cv2
    from skimage import data

    from physstd import predict
    from physstd.data import sensor_depth

    saved, tflite = runtime.load(converted["dir"]), runtime.load(deploy.litert_path(converted["dir"], "float32"))
    expected = saved.run(converted["crops"], converted["raw"])   # the SavedModel's uint8 signature normalises inside
    np.testing.assert_allclose(tflite.run(converted["crops"], converted["raw"])["score"], expected["score"],
                               atol=1e-4)
    with pytest.raises(ValueError, match="images and depth go in pairs: uint8 images with raw uint16 depth in mm"):
        tflite.run(converted["crops"], converted["depth"])
    with pytest.raises(ValueError, match="the model takes sensor depth next to the images"):
        tflite.run(converted["crops"])
    face = data.astronaut()
    cv2.imwrite(str(tmp_path / "face.png"), cv2.cvtColor(face, cv2.COLOR_RGB2BGR))
    ys, xs = np.mgrid[0:512, 0:512]
    depth = np.where((xs - 230) ** 2 + (ys - 110) ** 2 < 90 ** 2, 620 - ((xs + ys) % 40), 1400).astype(np.uint16)
    sensor_depth.write_depth_png(tmp_path / "face_depth.png", depth)
    scores = {}
    for name, path in (("savedmodel", converted["dir"]), ("litert", deploy.litert_path(converted["dir"], "float32"))):
        result, = predict.predict_paths(path, [str(tmp_path / "face.png")], str(tmp_path / name), figures=False,
                                        log=lambda message: None, depth=str(tmp_path / "face_depth.png"))
        scores[name] = result.faces[0]
    assert scores["litert"].score == pytest.approx(scores["savedmodel"].score, abs=1e-4)
    assert scores["litert"].decision == scores["savedmodel"].decision
