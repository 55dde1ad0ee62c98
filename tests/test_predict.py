"""Raw image / video prediction with an export: same scores as preprocessing + SavedModel by hand, files, CLI."""
import csv
import os
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest
import tensorflow as tf

from deploy_fixtures import make_run_dir, png_size
from physstd import export, predict, viz
from physstd import methods
from physstd.methods.physstd.inference import PhySTDInference
from physstd.data import preprocess

N = 32
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from skimage import data

    base = tmp_path_factory.mktemp("predict")
    generator, model_config = make_run_dir(str(base / "run"), str(base / "data"), "p1", size=N)
    export.export_saved_model(PhySTDInference(generator, model_config), methods.get("physstd"),
                              str(base / "model"), {"alpha0": 2.0}, -0.4, "dev")
    face = data.astronaut()   # a packaged RGB photo with one frontal face
    cv2.imwrite(str(base / "face.png"), cv2.cvtColor(face, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(base / "blank.png"), np.full((200, 200, 3), 128, np.uint8))
    # The video: the face-centred part of the photo, shifted 6 px per frame. (The whole photo, MJPG-compressed,
    # gives dlib a false face larger than the real one in frame 0.)
    centred = cv2.resize(face[:320, 64:384], (512, 512), interpolation=cv2.INTER_AREA)
    np.save(base / "clip_frame0.npy", centred)
    writer = cv2.VideoWriter(str(base / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (512, 512))
    assert writer.isOpened()
    for shift in (0, 6, 12):
        writer.write(cv2.cvtColor(np.roll(centred, shift, axis=1), cv2.COLOR_RGB2BGR))
    writer.release()
    return base


def test_scores_equal_preprocessing_plus_the_savedmodel_by_hand(setup, tmp_path):
    results = predict.predict_paths(str(setup / "model"), [str(setup / "face.png"), str(setup / "clip.avi"),
                                                           str(setup / "blank.png")],
                                    str(tmp_path), log=lambda message: None)
    image, video, blank = results
    assert len(image.faces) == 1 and not image.is_video and image.failure == ""
    assert blank.faces == [] and "no face" in blank.failure
    # By hand: the preprocessor's crop, then the uint8 signature.
    model = tf.saved_model.load(str(setup / "model"))
    preprocessor = preprocess.FacePreprocessor(N)
    crop = preprocessor.process_frame(preprocess.read_image(str(setup / "face.png"))).crop
    expected = model.signatures[export.SIGNATURE_UINT8](images=crop[None])
    np.testing.assert_array_equal(image.faces[0].crop, crop)
    assert image.faces[0].score == pytest.approx(float(expected["score"][0]), abs=1e-6)
    assert image.faces[0].decision == int(expected["score"][0] >= np.float32(-0.4))
    np.testing.assert_allclose(image.faces[0].outputs["live"], expected["live"][0], atol=1e-6)
    # The video: one prediction per frame, video score = mean; every frame's crop is the astronaut's face (the
    # uncompressed frame's crop within MJPG's error; a shift of the face is undone by the crop).
    assert video.is_video and video.frames_read == 3 and [f.frame for f in video.faces] == [0, 1, 2]
    frame0 = preprocessor.process_frame(np.load(setup / "clip_frame0.npy")).crop.astype(np.float64)
    for face in video.faces:
        assert np.mean(np.abs(face.crop - frame0)) < 12, face.frame
    with open(tmp_path / "predictions.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert list(rows[0]) == list(predict.PREDICTION_COLUMNS)
    video_rows = [r for r in rows if r["source"].endswith("clip.avi")]
    assert [int(r["frame"]) for r in video_rows] == [0, 1, 2, predict.VIDEO_FRAME]
    frame_scores = [float(r["score"]) for r in video_rows[:3]]
    assert float(video_rows[3]["score"]) == pytest.approx(np.mean(frame_scores), abs=1e-9)
    assert len(rows) == 1 + 4
    # Figures: Fig. 8 (6 columns) and Fig. 9 (3 columns) with a title strip, one row per face titled with its score
    # and decision (and frame, for a video).
    assert predict.face_title(image.faces[0], False) == (f"score {image.faces[0].score:.3f}\n"
                                                         f"{'ATTACK' if image.faces[0].decision else 'bona fide'}")
    assert predict.face_title(video.faces[1], True).startswith(f"frame 1\nscore {video.faces[1].score:.3f}\n")
    image_strip = viz.row_title_width([predict.face_title(image.faces[0], False)])
    video_strip = viz.row_title_width([predict.face_title(face, True) for face in video.faces])
    width8, width9 = viz.PAD + 6 * (N + viz.PAD), viz.PAD + 3 * (N + viz.PAD)
    assert png_size(tmp_path / "000_face_traces.png") == (image_strip + width8,
                                                          viz.TITLE_HEIGHT + viz.PAD + N + viz.PAD)
    assert png_size(tmp_path / "001_clip_live.png") == (video_strip + width9,
                                                        viz.TITLE_HEIGHT + viz.PAD + 3 * (N + viz.PAD))
    assert not os.path.exists(tmp_path / "002_blank_traces.png")


def test_missing_input_is_a_clear_error(setup, tmp_path):
    with pytest.raises(ValueError, match="nothing.png: no such file"):
        predict.expand_inputs([str(tmp_path / "nothing.png")])


def test_an_export_whose_info_disagrees_with_its_model_is_named(setup, tmp_path):
    import json
    import shutil

    copy = tmp_path / "model"
    shutil.copytree(setup / "model", copy)
    info = json.loads((copy / export.INFO_FILE).read_text())
    (copy / export.INFO_FILE).write_text(json.dumps(dict(info, image_size=N + 8)))
    with pytest.raises(ValueError, match=re.escape(f"{copy / export.INFO_FILE}: image_size {N + 8} but the "
                                                   f"SavedModel takes {N}x{N} crops")):
        predict.Predictor(str(copy))


def test_crops_the_model_refuses_are_a_value_error_naming_the_export(setup):
    predictor = predict.Predictor(str(setup / "model"))
    with pytest.raises(ValueError, match=re.escape(f"{setup / 'model'}: the SavedModel refused crops of shape "
                                                   f"({N + 8}, {N + 8}, 3): physstd SavedModel: images must be a "
                                                   f"batch of face crops of shape (batch, {N}, {N}, 3), RGB; got shape 2 {N + 8} {N + 8} 3")):
        predictor.score_crops(np.zeros((2, N + 8, N + 8, 3), np.uint8))


@pytest.mark.slow
def test_run_predict_cli_exit_status(setup, tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    command = [sys.executable, os.path.join(ROOT, "run_predict.py"), f"--saved_model={setup / 'model'}",
               f"--output_dir={tmp_path}", "--nofigures", str(setup / "face.png"), str(setup / "blank.png")]
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert run.returncode == 1, run.stderr[-2000:]
    assert "face.png: score" in run.stdout and "blank.png: skipped" in run.stdout
    assert "scored 1 of 2 inputs" in run.stdout
    assert sorted(os.listdir(tmp_path)) == ["predictions.csv"]
