"""Malformed input never hangs, never destroys, never hides.

Each case builds one malformed input in a temporary copy, runs the code that reads it, and asserts: a clear
error naming the file (or flag) and what was expected, exit status 2 where a command runs, nothing that existed
before changed, and a time bound (the first-batch cases used to hang run_train.py). The README's "Bad input"
section counts the cases. Data cases go through the real tf.data pipeline in-process (the error crosses a
tf.data worker thread exactly as in run_train.py); a few cases run the commands themselves in a subprocess.
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

from physstd.data import prepared

N = 32
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMAND_TIMEOUT = 120   # seconds; a TensorFlow start costs ~10 s on 2 cores, a hang would hit this


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory):
    from physstd.data.toy import write_toy_dataset

    root = str(tmp_path_factory.mktemp("toy"))
    write_toy_dataset(root, N, videos_per_class=2, frames_per_video=2)
    return root


def _snapshot(folder):
    """{relative path: sha256} of every file under folder."""
    digests = {}
    for directory, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(directory, name)
            with open(path, "rb") as stream:
                digests[os.path.relpath(path, folder)] = hashlib.sha256(stream.read()).hexdigest()
    return digests


def _rewrite_arrays(path, **changes):
    arrays = dict(np.load(path))
    arrays.update(changes)
    np.savez_compressed(path, **arrays)


def _drop_array(path, key):
    arrays = dict(np.load(path))
    del arrays[key]
    np.savez_compressed(path, **arrays)


def _truncate(path, size=300):
    with open(path, "r+b") as stream:
        stream.truncate(size)


def _pickled_npz(path):
    np.savez(path, landmarks=np.array([{"payload": 1}], dtype=object))


def _edit_index(root, column, value, video="live_0"):
    rows, columns = prepared.read_index(root)
    for row in rows:
        if row["video_id"] == video:
            row[column] = value
    from physstd import files
    files.write_text_atomic(os.path.join(root, prepared.INDEX_FILE), files.csv_text(rows, columns))


def _arrays(root, video="live_0"):
    return os.path.join(root, video, prepared.ARRAYS_FILE)


def _frame(root, video="live_0", k=0):
    return os.path.join(root, video, prepared.FRAMES_DIR, prepared.frame_filename(k))


def _write_bytes(path, data):
    with open(path, "wb") as stream:
        stream.write(data)


# (case name, how to break a copy of the toy set, the file the message must name, what it must say)
DATA_CASES = [
    ("truncated arrays.npz", lambda r: _truncate(_arrays(r)), _arrays, "not a readable .npz"),
    ("arrays.npz that is not a zip", lambda r: _write_bytes(_arrays(r), b"garbage" * 50), _arrays,
     "not a readable .npz"),
    ("pickled arrays.npz", lambda r: _pickled_npz(_arrays(r)), _arrays, "not a readable .npz"),
    ("NaN landmarks", lambda r: _rewrite_arrays(_arrays(r), landmarks=np.full((2, 140, 2), np.nan, np.float32)),
     _arrays, "landmarks must be finite"),
    ("landmarks scaled x1e6", lambda r: _rewrite_arrays(_arrays(r), landmarks=np.load(_arrays(r))["landmarks"] * 1e6),
     _arrays, "landmarks must be finite pixel coordinates"),
    ("all-equal landmarks", lambda r: _rewrite_arrays(_arrays(r), landmarks=np.full((2, 140, 2), 16, np.float32)),
     _arrays, "span less than one pixel"),
    ("landmarks of the wrong rank", lambda r: _rewrite_arrays(_arrays(r), landmarks=np.zeros((2, 280), np.float32)),
     _arrays, r"landmarks must be \(2, 140, 2\) float32"),
    ("depth scaled x1e6", lambda r: _rewrite_arrays(_arrays(r), depth=np.load(_arrays(r))["depth"] * 1e6),
     _arrays, r"depth \(M0\) must lie in \[0, 1\]"),
    ("arrays.npz without face_depth", lambda r: _drop_array(_arrays(r), "face_depth"), _arrays,
     "lacks array 'face_depth'"),
    ("face_depth scaled x1e6",
     lambda r: _rewrite_arrays(_arrays(r), face_depth=np.load(_arrays(r))["face_depth"] * 1e6),
     _arrays, r"face_depth must lie in \[0, 1\]"),
    ("wrong num_frames in index.csv", lambda r: _edit_index(r, "num_frames", "5"), _arrays,
     r"landmarks must be \(5, 140, 2\)"),
    ("missing frame PNG", lambda r: os.remove(_frame(r)), _frame, "missing or not a readable PNG"),
    ("corrupt frame PNG", lambda r: _truncate(_frame(r), 40), _frame, "missing or not a readable PNG"),
]

# Cases refused when index.csv / meta.json are read, before any pipeline thread starts.
INDEX_CASES = [
    ("index path climbing out of the root", lambda r: _edit_index(r, "path", "../../.."),
     lambda r: os.path.join(r, prepared.INDEX_FILE), "must be relative, without '..'"),
    ("absolute index path", lambda r: _edit_index(r, "path", "/etc"),
     lambda r: os.path.join(r, prepared.INDEX_FILE), "must be relative"),
    ("garbage index.csv", lambda r: _write_bytes(os.path.join(r, prepared.INDEX_FILE), bytes(range(256)) * 4),
     lambda r: os.path.join(r, prepared.INDEX_FILE), "index.csv"),
    ("num_frames 0", lambda r: _edit_index(r, "num_frames", "0"),
     lambda r: os.path.join(r, prepared.INDEX_FILE), "num_frames must be >= 1"),
    ("missing meta.json", lambda r: os.remove(os.path.join(r, prepared.META_FILE)),
     lambda r: os.path.join(r, prepared.META_FILE), "missing"),
]


def _broken_copy(toy_root, tmp_path, breaker):
    root = str(tmp_path / "data")
    shutil.copytree(toy_root, root)
    breaker(root)
    return root, _snapshot(root)


def _first_batch_error(root, video_ids):
    """The user error of reading the first training batch (as run_train.py does), and the seconds it took."""
    import tensorflow as tf

    from physstd import cli
    from physstd.data import pipeline

    started = time.perf_counter()
    try:
        next(iter(pipeline.train_dataset(root, video_ids, N, 2, seed=0, num_parallel_calls=4)))
    except (ValueError, tf.errors.OpError) as error:
        return cli.user_error(error), time.perf_counter() - started
    raise AssertionError("the malformed data was read without an error")


@pytest.mark.parametrize("name,breaker,named_file,expected", DATA_CASES + INDEX_CASES,
                         ids=[case[0] for case in DATA_CASES + INDEX_CASES])
def test_a_malformed_prepared_dataset_fails_the_first_batch_naming_the_file(toy_root, tmp_path, name, breaker,
                                                                            named_file, expected):
    root, before = _broken_copy(toy_root, tmp_path, breaker)
    # Only the broken video and one of the other class, so that the first batch must read the broken file.
    ids = ["live_0", "print_0"]
    error, seconds = _first_batch_error(root, ids)
    assert isinstance(error, prepared.PreparedFormatError), f"{name}: {error!r}"
    assert named_file(root) in str(error) and re.search(expected, str(error)), f"{name}: {error}"
    assert "\n" not in str(error)
    assert seconds < 30
    assert _snapshot(root) == before


def test_a_damaged_dev_video_names_its_file_in_the_evaluation_pipeline(toy_root, tmp_path):
    """A truncated arrays.npz in a dev video failed after training with an unnamed BadZipFile."""
    import tensorflow as tf

    from physstd.data import pipeline

    root, _ = _broken_copy(toy_root, tmp_path, lambda r: _truncate(_arrays(r, "print_1")))
    with pytest.raises(tf.errors.OpError) as raised:
        list(pipeline.eval_dataset(root, ["live_0", "print_1"], N, batch_size=2))
    error = pipeline.data_error(raised.value)
    assert _arrays(root, "print_1") in str(error) and "BadZipFile" in str(error)
    with pytest.raises(zipfile.BadZipFile):   # the cause, for reference: not a ValueError or OSError
        np.load(_arrays(root, "print_1"))


def _run(args, cwd, env_extra=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **(env_extra or {}))
    started = time.perf_counter()
    result = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=COMMAND_TIMEOUT)
    return result, time.perf_counter() - started


def _error_line(result):
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    return lines[0]


@pytest.mark.parametrize("breaker,named_file", [
    (lambda r: _truncate(_arrays(r)), _arrays),
    (lambda r: _edit_index(r, "path", "../../.."), lambda r: os.path.join(r, prepared.INDEX_FILE)),
], ids=["truncated arrays.npz", "index path out of the root"])
@pytest.mark.slow
def test_run_train_on_a_bad_first_batch_exits_2_quickly_and_claims_no_run_directory(toy_root, tmp_path, breaker,
                                                                                    named_file):
    root, before = _broken_copy(toy_root, tmp_path, breaker)
    run_dir = str(tmp_path / "run")
    result, seconds = _run([os.path.join(ROOT, "run_train.py"), f"--data_root={root}", "--protocol=toy",
                            f"--run_dir={run_dir}", f"--image_size={N}", "--width=0.125", "--batch_size=4",
                            "--num_steps=2"], cwd=str(tmp_path))
    assert result.returncode == 2, result.stderr[-3000:]
    assert named_file(root) in _error_line(result)
    assert seconds < COMMAND_TIMEOUT
    assert not os.path.exists(os.path.join(run_dir, "flags.json"))   # a failed start does not claim the folder
    assert _snapshot(root) == before


@pytest.mark.slow
def test_bad_flags_give_one_error_line_and_exit_2(tmp_path):
    """One process per command: absl flag errors, a flag value out of range, a missing required flag."""
    (tmp_path / "a_file").write_text("x")
    cases = [
        (["run_train.py", "--learning_rate=-1e-3", f"--run_dir={tmp_path}/r"], "learning_rate"),
        (["run_export.py", "--bogus_flag=1"], "bogus_flag"),
        (["run_train.py", f"--run_dir={tmp_path}/a_file"], "a_file: exists and is not a folder"),
    ]
    for args, named in cases:
        result, _ = _run([os.path.join(ROOT, args[0]), *args[1:]], cwd=str(tmp_path))
        assert result.returncode == 2, (args, result.stderr[-2000:])
        assert named in _error_line(result), args
    assert not os.path.exists(tmp_path / "r") and (tmp_path / "a_file").read_text() == "x"


@pytest.mark.parametrize("argv,named", [(["--image_size=60"], "60"), (["--batch_size=3"], "batch_size"),
                                        (["--single_trace", "--trace_form=stdn"], "--single_trace")])
def test_bad_training_flag_values_are_value_errors_naming_the_flag(argv, named):
    """The same path as run_train.py's main (configs_from_flags), in-process: cli reports ValueErrors."""
    from absl import flags

    from physstd.train import flags as train_flags

    values = flags.FlagValues()
    train_flags.define_flags(values)
    values(["run_train.py", *argv])
    with pytest.raises(ValueError, match=named):
        train_flags.configs_from_flags(values)


@pytest.mark.slow
def test_run_train_help_lists_the_training_flags():
    result, _ = _run([os.path.join(ROOT, "run_train.py"), "--help"], cwd=ROOT)
    assert result.returncode == 1   # absl's --help exits 1, as for every entry point
    for flag in ("--data_root", "--protocol", "--learning_rate", "--a4", "--image_size", "--width"):
        assert flag in result.stdout, flag


# --- in-process cases ------------------------------------------------------------------------------------------
def test_cli_turns_user_errors_into_one_line_and_status_2_and_keeps_bugs(capsys):
    from physstd import cli

    def fails(error):
        def main(argv):
            raise error
        return main

    assert cli.guarded(fails(prepared.PreparedFormatError("/x/arrays.npz: bad\nsecond line")))(["prog"]) == 2
    assert capsys.readouterr().err == "error: /x/arrays.npz: bad second line\n"
    assert cli.guarded(fails(FileNotFoundError(2, "No such file", "/x/y")))(["prog"]) == 2
    assert "/x/y" in capsys.readouterr().err
    with pytest.raises(KeyError):   # a bug keeps its traceback
        cli.guarded(fails(KeyError("bug")))(["prog"])


@pytest.mark.parametrize("umask,file_mode,dir_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)])
def test_written_files_and_folders_get_the_umask_mode(tmp_path, umask, file_mode, dir_mode):
    from physstd import files, viz

    previous = os.umask(umask)
    try:
        files.write_text_atomic(tmp_path / "a.csv", "x\n")
        files.write_json_atomic(tmp_path / "b.json", {"x": 1})
        viz.save_png(str(tmp_path / "c.png"), np.zeros((4, 4, 3), np.float32))
        folder = files.make_temporary_dir(str(tmp_path), "export")
    finally:
        os.umask(previous)
    for name in ("a.csv", "b.json", "c.png"):
        assert os.stat(tmp_path / name).st_mode & 0o777 == file_mode, name
    assert os.stat(folder).st_mode & 0o777 == dir_mode
    assert sorted(os.listdir(tmp_path)) == sorted(["a.csv", "b.json", "c.png", os.path.basename(folder)])


def test_export_refuses_a_folder_that_is_not_a_physstd_export(tmp_path):
    from physstd import export
    from physstd.models import ModelConfig

    target = tmp_path / "thesis"
    target.mkdir()
    (target / "chapter1.tex").write_text("precious")
    before = _snapshot(str(target))
    with pytest.raises(ValueError, match="thesis: exists and is not a physstd export"):
        export.export_saved_model(None, None, str(target), {"alpha0": 1.0}, 0.0)
    assert _snapshot(str(target)) == before
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    with pytest.raises(ValueError, match="notes.txt: exists and is not a physstd export"):
        export.check_replaceable(str(a_file))
    previous = tmp_path / "old_export"
    previous.mkdir()
    (previous / "saved_model.pb").write_bytes(b"")
    (previous / export.INFO_FILE).write_text("{}")
    export.check_replaceable(str(previous))          # a previous export is replaced
    export.check_replaceable(str(tmp_path / "new"))  # and a new folder is fine


def test_a_truncated_saved_model_is_named(tmp_path):
    from physstd import export

    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(b"\x08\x01\x12")
    (folder / export.INFO_FILE).write_text(json.dumps({"format_version": export.INFO_FORMAT_VERSION}))
    with pytest.raises(ValueError, match="export: not a loadable SavedModel"):
        export.load_export(str(folder))


def test_load_generator_falls_back_past_a_truncated_newest_checkpoint(tmp_path):
    import tensorflow as tf

    from physstd.methods.physstd.generator import Generator
    from physstd.methods.physstd.inference import load_generator
    from physstd.models import ModelConfig
    from physstd.train import checkpoints
    from physstd.train.config import TrainConfig
    from physstd.train.loop import write_run_flags

    model_config = ModelConfig(image_size=N, width=0.125)
    generator = Generator(model_config)
    generator(tf.zeros((1, N, N, 3)), training=False)
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(generator=checkpoints.network_checkpoint(generator)),
                                         str(tmp_path / checkpoints.CHECKPOINT_DIR), max_to_keep=3)
    manager.save(checkpoint_number=1)
    first = [v.numpy().copy() for v in generator.variables]
    for variable in generator.variables:
        variable.assign(variable + 1.0)
    newest = manager.save(checkpoint_number=2)
    write_run_flags(str(tmp_path), TrainConfig(), model_config, num_landmarks=140)
    _truncate(newest + ".data-00000-of-00001", 100)
    restored, _ = load_generator(str(tmp_path))
    for got, expected in zip(restored.variables, first):
        np.testing.assert_array_equal(got.numpy(), expected)
    _truncate(manager.checkpoints[0] + ".data-00000-of-00001", 100)   # no readable checkpoint left: named
    with pytest.raises(ValueError, match=f"{checkpoints.CHECKPOINT_DIR}: no readable checkpoint among"):
        load_generator(str(tmp_path))


@pytest.mark.parametrize("change,named", [
    ({"data_root": ""}, "--data_root and --protocol are required"),
    ({"protocol": "p9"}, "no protocol 'p9' under"),
    ({"image_size": 2 * N}, f"meta.json: prepared at image_size {N}, but --image_size={2 * N}"),
    ({"width": 0.25}, "flags.json: this run was trained with model"),
], ids=["no --data_root", "unknown protocol", "another --image_size than the data", "resumed with another --width"])
def test_a_training_start_that_cannot_work_is_a_named_error_before_any_network_or_file(toy_root, tmp_path, change,
                                                                                       named):
    """What run_train.py's main calls (physstd.train.loop.train), in-process: the user error cli reports."""
    import dataclasses

    from physstd import cli
    from physstd.models import ModelConfig
    from physstd.train import loop
    from physstd.train.config import TrainConfig

    run_dir = tmp_path / "run"
    model_config = ModelConfig(image_size=N, width=0.125)
    if "width" in change:   # a run trained with width 0.125 exists
        run_dir.mkdir()
        loop.write_run_flags(str(run_dir), TrainConfig(), model_config, num_landmarks=140)
    before = _snapshot(str(tmp_path))
    config = TrainConfig(run_dir=str(run_dir), data_root=change.get("data_root", toy_root),
                         protocol=change.get("protocol", "toy"), batch_size=4, num_steps=1)
    model_config = dataclasses.replace(model_config, **{k: v for k, v in change.items() if k in ("image_size",
                                                                                              "width")})
    started = time.perf_counter()
    with pytest.raises(ValueError) as raised:
        loop.train(config, model_config)
    assert time.perf_counter() - started < 30
    message = str(cli.user_error(raised.value))
    assert named in message and "\n" not in message, message
    assert _snapshot(str(tmp_path)) == before        # no flags.json, no checkpoint, nothing changed


def test_an_output_dir_that_is_a_file_is_refused_before_any_work(toy_root, tmp_path):
    """run_predict.py --output_dir, run_test.py --output_dir, run_preprocess.py --output_dir and the protocols'
    --output_dir, through the functions the commands call (run_train.py --run_dir: test_bad_flags...)."""
    from physstd import predict
    from physstd.data import prepared as prepared_module, protocols
    from physstd.eval import evaluate

    a_file = tmp_path / "notes.txt"
    a_file.write_text("precious")
    expected = re.escape(f"{a_file}: exists and is not a folder")
    calls = [
        lambda: predict.predict_paths(str(tmp_path / "no_export"), [_frame(toy_root)], str(a_file)),
        lambda: evaluate.evaluate_models([str(tmp_path / "no_run")], str(a_file)),
        lambda: prepared_module.DatasetWriter(str(a_file), "folder", N),
        lambda: protocols.write_protocol(str(a_file), "p1", {None: {"train": {"a"}, "test": {"b"}}}, {}),
    ]
    for call in calls:
        with pytest.raises(ValueError, match=expected):
            call()
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"] and a_file.read_text() == "precious"


@pytest.mark.slow
def test_the_former_method_flag_of_run_test_and_an_unknown_method_get_one_error_line(tmp_path):
    """run_test.py --method (the row label before the harness) names --row_label; run_train.py and tables too."""
    result, _ = _run([os.path.join(ROOT, "run_test.py"), f"--run_dir={tmp_path}", "--method=Ours"], cwd=ROOT)
    assert result.returncode == 2
    line = _error_line(result)
    assert "--method=Ours" in line and "--row_label" in line and "flags.json" in line, line
    result, _ = _run(["-m", "physstd.eval.tables", str(tmp_path / "results.json"), "--method=Ours"], cwd=ROOT)
    assert result.returncode == 2 and "--row_label" in _error_line(result)
    result, _ = _run([os.path.join(ROOT, "run_train.py"), "--method=lgsc_v9", f"--run_dir={tmp_path / 'run'}",
                      "--data_root=x", "--protocol=p1"], cwd=ROOT)
    assert result.returncode == 2
    line = _error_line(result)
    assert "--method: unknown method 'lgsc_v9'; expected one of" in line and "physstd" in line, line
    assert not os.path.exists(tmp_path / "run")


def test_all_equal_given_landmarks_are_refused_not_divided_by(tmp_path):
    """The crop's scale divides by the landmarks' span (a ZeroDivisionError before): the preprocessor refuses."""
    from physstd.data import preprocess

    rgb = np.zeros((80, 100, 3), np.uint8)
    with pytest.raises(preprocess.InputError, match="span less than one pixel"):
        preprocess.FacePreprocessor(N).process_landmarks(rgb, np.full((68, 2), 50.0))


def test_train_config_refuses_values_outside_their_range():
    from physstd.methods.physstd.config import PhySTDConfig
    from physstd.train.config import TrainConfig

    for record, bad in ((TrainConfig, {"learning_rate": -1e-3}), (TrainConfig, {"learning_rate": 0.0}),
                        (PhySTDConfig, {"a4": -1.0}), (PhySTDConfig, {"beta": 0.0}),
                        (TrainConfig, {"lr_decay_factor": 2.0}), (TrainConfig, {"batch_size": 3})):
        with pytest.raises(ValueError, match=next(iter(bad))[:5]):
            record(**bad)


def test_tables_refuse_nan_and_percentages_and_read_run_test_results(tmp_path, capsys):
    from physstd.eval import tables

    for value in (float("nan"), 5.0, -0.1):
        with pytest.raises(ValueError, match=r"fractions in \[0, 1\]"):
            tables.render_table("oulu", {"ours": {"1": {"apcer": value}}})
    metrics_ = {"apcer": 0.125, "bpcer": 0.25, "acer": 0.1875, "hter": 0.2, "eer": 0.15, "auc": 0.9, "tdr": 0.5,
                "apcer_definition": "worst_species"}
    record = {"format_version": 1, "protocol": "p1", "level": "video",
              "folds": [{"fold": None, "num_samples": 8, "calibration": {"alpha0": 1.0, "threshold": 0.5},
                         "metrics": metrics_}]}
    path = tmp_path / "results.json"
    path.write_text(json.dumps(record))
    tables.main([str(path)])
    summary = capsys.readouterr().out
    # A results.json of before the harness (and before threshold rules: an EER threshold).
    assert "| - | 8 | alpha0 = 1 | 0.5 (EER) | 12.50 | 25.00 | 18.75 |" in summary
    tables.main([str(path), "--table=oulu"])
    table = capsys.readouterr().out
    assert "12.5" in table and "25.0" in table and "18.8" in table   # APCER, BPCER, ACER of protocol 1 in %


@pytest.mark.parametrize("record,key", [
    ({"format_version": 1, "table": "oulu", "results": {"ours": {"1": {"acer": 0.1, "acr": 0.2}}}}, "acr"),
    ({"format_version": 1, "protocol": "p1", "level": "video",
      "folds": [{"fold": None, "num_samples": 8, "calibration": {"alpha0": 1.0, "threshold": 0.5},
                 "metrics": {"apcer": 0.1, "bpcer": 0.1, "acer": 0.1, "apcer_definition": "worst_species",
                             "ACER": 0.3}}]}, "ACER"),
], ids=["table file", "run_test results.json"])
@pytest.mark.slow
def test_tables_refuse_an_unknown_metric_key_naming_the_file_and_the_key(tmp_path, record, key):
    """The command itself (no TensorFlow: a second): one error line with the file and the key, exit status 2."""
    path = tmp_path / "results.json"
    path.write_text(json.dumps(record))
    result, _ = _run(["-m", "physstd.eval.tables", str(path)], cwd=ROOT)
    assert result.returncode == 2, result.stderr[-2000:]
    line = _error_line(result)
    assert str(path) in line and f"unknown metric key {key!r}" in line, line
    assert result.stdout == ""


def test_predict_refuses_an_empty_folder(tmp_path):
    from physstd import predict

    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty: no images"):
        predict.expand_inputs([str(tmp_path / "empty")])


@pytest.mark.parametrize("points,expected", [
    (np.full((68, 2), 50.0), "span less than one pixel"),
    (np.random.default_rng(0).uniform(40, 60, (68, 2)) * 1e6, "must be \\(x, y\\) pixels of the 100x80"),
    (np.full((68, 2), np.nan), "NaN"),
])
def test_given_landmarks_must_be_pixels_of_their_image(points, expected):
    from physstd.data import preprocess

    with pytest.raises(preprocess.InputError, match="frame.npy: .*" + expected):
        preprocess.check_landmarks_in_image(points, (80, 100, 3), "frame.npy")


def test_one_set_of_dataset_names_old_spellings_accepted_with_a_note(capsys):
    from physstd.data import datasets

    assert datasets.canonical_name("oulu") == "oulu_npu"
    assert "--dataset=oulu is deprecated; use --dataset=oulu_npu" in capsys.readouterr().err
    assert [datasets.canonical_name(name) for name in datasets.DATASETS] == list(datasets.DATASETS)
    assert capsys.readouterr().err == ""
    assert set(datasets.OLD_NAMES.values()) <= set(datasets.DATASETS)
