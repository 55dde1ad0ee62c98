"""Silent wrong numbers are refused, and no tool reading prepared data hangs or ends in a traceback.

Each case builds one bad input in a temporary copy (tiny data: N = 32), runs the code a command runs on it (in
process where the behaviour is the same, in a time-bounded subprocess where the process itself matters), and
asserts a one-line error naming the lists, file or flag, a time bound, and that every file that existed before is
unchanged (sha256). Classes, not only the examples that were found: every numeric flag against each kind of value
outside its range, several kinds of non-face landmarks, each leakage between subsets. The README's "Errors and bad
input" section counts the cases.
"""
import math
import os
import re
import shutil
import time

import numpy as np
import pytest

from deploy_fixtures import make_run_dir, write_dataset
from physstd.data import prepared
from test_bad_input import (COMMAND_TIMEOUT, ROOT, _edit_index, _error_line, _first_batch_error, _rewrite_arrays,
                            _run, _snapshot, _truncate)

N = 32
PROTOCOL = "p1"   # deploy_fixtures: train s0, s1 / dev s2, s3 / test s4, s5 (three videos each: live, print, replay)


@pytest.fixture(scope="module")
def deploy(tmp_path_factory):
    """The shared evaluation dataset (with truth.npz) and a run directory of an untrained PhySTD on it."""
    base = tmp_path_factory.mktemp("refusals")
    root, run_dir = str(base / "data"), str(base / "run")
    write_dataset(root, N)
    make_run_dir(run_dir, root, PROTOCOL, size=N)
    return {"root": root, "run": run_dir}


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory):
    from physstd.data.toy import write_toy_dataset

    root = str(tmp_path_factory.mktemp("toy"))
    write_toy_dataset(root, N, videos_per_class=2, frames_per_video=2)
    return root


def _copy(source, tmp_path, breaker=None):
    root = str(tmp_path / "data")
    shutil.copytree(source, root, symlinks=True)
    if breaker:
        breaker(root)
    return root


def _lists(root):
    return os.path.join(root, "protocols", PROTOCOL)


def _read(root, subset):
    with open(os.path.join(_lists(root), f"{subset}.txt")) as stream:
        return stream.read().split()


def _write(root, subset, ids):
    with open(os.path.join(_lists(root), f"{subset}.txt"), "w") as stream:
        stream.write("".join(f"{video}\n" for video in ids))


def _move(root, video, source, target):
    _write(root, source, [v for v in _read(root, source) if v != video])
    _write(root, target, _read(root, target) + [video])


def _symlink_out(root, video):
    """The video's folder moved next to the dataset and linked back: the index path is clean, the folder is not."""
    outside = os.path.join(os.path.dirname(root), "elsewhere", video)
    shutil.move(os.path.join(root, video), outside)
    os.symlink(outside, os.path.join(root, video))


def _symlink_to(root, video, target):
    shutil.rmtree(os.path.join(root, video))
    os.symlink(target, os.path.join(root, video))


def _index(root):
    return os.path.join(root, prepared.INDEX_FILE)


def _list_file(subset):
    return lambda root: os.path.join(_lists(root), f"{subset}.txt")


# (case, how to leak a copy of the deploy set's protocol, the files the message names, what it says)
LEAKS = [
    ("test list equal to the train list", lambda r: _write(r, "test", _read(r, "train")),
     [_list_file("train"), _list_file("test")], "list the same videos, e.g. 's0_live'"),
    ("test list gains a training video", lambda r: _write(r, "test", _read(r, "test") + ["s1_print"]),
     [_list_file("train"), _list_file("test")], "share 1 videos, e.g. 's1_print'"),
    ("test list gains a training identity's other video", lambda r: _move(r, "s0_print", "train", "test"),
     [_list_file("train"), _list_file("test")], "share subject 's0'"),
    ("test list gains a dev identity's video", lambda r: _move(r, "s3_replay", "dev", "test"),
     [_list_file("dev"), _list_file("test")], "share subject 's3'"),
    ("dev list equal to the test list", lambda r: _write(r, "dev", _read(r, "test")),
     [_list_file("dev"), _list_file("test")], "list the same videos"),
    ("dev list gains a test video", lambda r: _write(r, "dev", _read(r, "dev") + ["s5_live"]),
     [_list_file("dev"), _list_file("test")], "share 1 videos, e.g. 's5_live'"),
    ("a video listed twice in the test list", lambda r: _write(r, "test", _read(r, "test") + ["s4_live"]),
     [_list_file("test")], "video 's4_live' is listed twice"),
    ("a video listed twice in the train list", lambda r: _write(r, "train", ["s0_live"] + _read(r, "train")),
     [_list_file("train")], "video 's0_live' is listed twice"),
    ("index.csv test row pointing at a training video's folder", lambda r: _edit_index(r, "path", "s0_live", "s4_live"),
     [_index], "has the folder 's0_live' of video 's0_live'"),
    ("test video folder a symlink to a training video's folder", lambda r: _symlink_to(r, "s4_print", "s1_print"),
     [_index], "'s1_print' \\(train\\) and 's4_print' \\(test\\) are one folder on disk"),
    ("test video folder a symlink leaving the dataset root", lambda r: _symlink_out(r, "s5_live"),
     [lambda r: os.path.join(r, "s5_live")], "leads outside the dataset root"),
]


def _assert_names(error, root, named, expected):
    message = str(error)
    assert "\n" not in message, message
    for file in named:
        assert file(root) in message, (file(root), message)
    assert re.search(expected, message), message


@pytest.mark.parametrize("case,breaker,named,expected", LEAKS, ids=[case[0] for case in LEAKS])
def test_a_leaked_protocol_is_refused_by_training_and_evaluation(deploy, tmp_path, case, breaker, named, expected):
    """What run_train.py (physstd.train.loop.train) and run_test.py (evaluate.evaluate_models) call, in-process:
    refused before a network is built or a file written, naming the lists (or index/folder) and a video."""
    from physstd.eval import evaluate
    from physstd.models import ModelConfig
    from physstd.train import loop
    from physstd.train.config import TrainConfig

    root = _copy(deploy["root"], tmp_path, breaker)
    before, run_before = _snapshot(root), _snapshot(deploy["run"])
    run_dir, output = tmp_path / "new_run", tmp_path / "eval"
    started = time.perf_counter()
    with pytest.raises(ValueError) as raised:
        loop.train(TrainConfig(run_dir=str(run_dir), data_root=root, protocol=PROTOCOL, batch_size=2, num_steps=1),
                   ModelConfig(image_size=N, width=0.125))
    _assert_names(raised.value, root, named, expected)
    with pytest.raises(ValueError) as raised:
        evaluate.evaluate_models([deploy["run"]], str(output), data_root=root, protocol=PROTOCOL)
    _assert_names(raised.value, root, named, expected)
    assert time.perf_counter() - started < 60
    assert not run_dir.exists() and not output.exists()
    assert _snapshot(root) == before and _snapshot(deploy["run"]) == run_before


def test_a_protocol_that_declares_overlap_is_read_and_the_papers_protocols_pass(deploy, tmp_path):
    """protocol.json "allow_split_overlap": true is the explicit opt-in (the toy set of the tests uses it); the
    deploy set's subject-disjoint protocols, and the protocols physstd.data.protocols builds, pass."""
    from physstd.data import protocols

    root = _copy(deploy["root"], tmp_path, lambda r: _write(r, "test", _read(r, "train")))
    with pytest.raises(ValueError, match="list the same videos"):
        protocols.load_split(os.path.join(root, "protocols"), PROTOCOL, "test")
    with open(os.path.join(_lists(root), "protocol.json"), "w") as stream:
        stream.write('{"allow_split_overlap": true}\n')
    assert protocols.load_split(os.path.join(root, "protocols"), PROTOCOL, "test") == _read(root, "train")
    protocols.check_identities(os.path.join(root, "protocols"), PROTOCOL, None, root)
    for fold in protocols.list_folds(os.path.join(deploy["root"], "protocols"), "folds"):
        protocols.check_identities(os.path.join(deploy["root"], "protocols"), "folds", fold, deploy["root"])


def test_the_trace_tools_refuse_a_leaked_protocol(deploy, tmp_path):
    """trace_classification checks identities too; trace_recovery reads its split through load_split."""
    from physstd.eval import trace_classification, trace_recovery

    root = _copy(deploy["root"], tmp_path, lambda r: _move(r, "s1_live", "train", "test"))
    before = _snapshot(root)
    with pytest.raises(ValueError, match="share subject 's1'"):
        trace_classification.run(deploy["run"], data_root=root, epochs=1, inputs=("traces",))
    assert _snapshot(root) == before
    _write(root, "test", _read(root, "test") + ["s4_live"])
    before = _snapshot(root)
    with pytest.raises(ValueError, match="'s4_live' is listed twice"):
        trace_recovery.recovery_of_run(deploy["run"], data_root=root)
    assert _snapshot(root) == before


@pytest.mark.parametrize("spelling", [lambda run: run, lambda run: run + os.sep,
                                      lambda run: os.path.join(run, "..", os.path.basename(run)),
                                      lambda run: os.path.relpath(run)],
                         ids=["same", "trailing slash", "through ..", "relative"])
def test_one_run_twice_is_not_two_folds(deploy, tmp_path, spelling):
    """run_test.py --run_dir=run,run averaged one model as two folds."""
    from physstd.eval import evaluate

    before = _snapshot(deploy["run"])
    with pytest.raises(ValueError, match="--run_dir lists one model twice"):
        evaluate.evaluate_models([deploy["run"], spelling(deploy["run"])], str(tmp_path / "eval"),
                                 folds=["print", "replay"])
    assert not (tmp_path / "eval").exists() and _snapshot(deploy["run"]) == before


# --- prepared-set consistency --------------------------------------------------------------------------------
def _landmarks_of(root, video, make):
    arrays = os.path.join(root, video, prepared.ARRAYS_FILE)
    landmarks = np.load(arrays)["landmarks"]
    _rewrite_arrays(arrays, landmarks=make(landmarks, np.random.default_rng(0)).astype(np.float32))


def _on_circle(landmarks, rng):
    angles = np.linspace(0, 2 * np.pi, landmarks.shape[1], endpoint=False)
    return np.broadcast_to(np.stack([N / 2 + 10 * np.cos(angles), N / 2 + 10 * np.sin(angles)], -1), landmarks.shape)


NOT_A_FACE = {
    "uniform in the crop": lambda landmarks, rng: rng.uniform(0, N, landmarks.shape),
    "shuffled": lambda landmarks, rng: landmarks[:, rng.permutation(landmarks.shape[1])],
    "on a circle": _on_circle,
    "on a line": lambda landmarks, rng: np.broadcast_to(np.linspace(2, N - 2, landmarks.shape[1])[:, None],
                                                        landmarks.shape) * [1.0, 0.5],
    "on a grid": lambda landmarks, rng: np.broadcast_to(
        np.stack(np.meshgrid(np.arange(14), np.arange(10)), -1).reshape(-1, 2)[:landmarks.shape[1]] * 2.0 + 2,
        landmarks.shape),
}


def _arrays_file(video):
    return lambda root: os.path.join(root, video, prepared.ARRAYS_FILE)


INCONSISTENT = [
    ("label 0 with spoof type print", lambda r: _edit_index(r, "spoof_type", "print", "live_0"), _index,
     "label 0 and spoof type 'print'"),
    ("label 1 with spoof type live", lambda r: _edit_index(r, "spoof_type", "live", "print_0"), _index,
     "label 1 and spoof type 'live'"),
    ("label 1 on a live video", lambda r: _edit_index(r, "label", "1", "live_0"), _index,
     "label 1 and spoof type 'live'"),
    ("spoof M0 equal to its face depth",
     lambda r: _rewrite_arrays(_arrays_file("print_0")(r), depth=np.load(_arrays_file("print_0")(r))["face_depth"]),
     _arrays_file("print_0"), r"depth \(M0\) of frame 0 is not zero"),
    ("spoof M0 with one non-zero pixel", lambda r: _rewrite_arrays(
        _arrays_file("print_0")(r), depth=np.pad(np.full((2, 1, 1), 0.5, np.float32), ((0, 0), (0, N // 8 - 1),
                                                                                          (0, N // 8 - 1)))),
     _arrays_file("print_0"), r"depth \(M0\) of frame 0 is not zero"),
] + [(f"landmarks {name}", lambda r, make=make: _landmarks_of(r, "live_0", make), _arrays_file("live_0"),
      "not in a face's layout") for name, make in NOT_A_FACE.items()]


@pytest.mark.parametrize("case,breaker,named,expected", INCONSISTENT, ids=[case[0] for case in INCONSISTENT])
def test_an_inconsistent_prepared_set_fails_the_first_batch_naming_the_file(toy_root, tmp_path, case, breaker, named,
                                                                           expected):
    root = _copy(toy_root, tmp_path, breaker)
    before = _snapshot(root)
    error, seconds = _first_batch_error(root, ["live_0", "print_0"])
    assert isinstance(error, prepared.PreparedFormatError), f"{case}: {error!r}"
    _assert_names(error, root, [named], expected)
    assert seconds < 30 and _snapshot(root) == before


def test_faces_in_any_pose_pass_the_face_layout_check_and_non_faces_do_not():
    """The threshold against the projections of the mean face turned and tilted up to profile, and noise."""
    from physstd.data import face_model

    mean = face_model.mean_face_68()
    for yaw in range(0, 91, 15):
        for pitch in (-45, 0, 30, 45):
            a, b = np.radians(yaw), np.radians(pitch)
            turn = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
            tilt = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
            projected = face_model.derive_landmarks(mean @ turn.T @ tilt.T)[:, :2] * 40 + 100
            assert face_model.face_shape_residual(projected) < 0.65, (yaw, pitch)
    rng = np.random.default_rng(1)
    canonical = face_model.canonical_landmarks(N)
    noisy = canonical + rng.normal(0, N / 16, (20,) + canonical.shape)
    assert np.all(face_model.face_shape_residual(noisy) < face_model.MAX_FACE_SHAPE_RESIDUAL)
    for name, make in NOT_A_FACE.items():
        bad = make(np.stack([canonical] * 20).astype(np.float32), rng)
        assert np.all(face_model.face_shape_residual(bad) > face_model.MAX_FACE_SHAPE_RESIDUAL), name


def test_the_test_fixtures_pass_the_consistency_checks(deploy, toy_root):
    for root in (deploy["root"], toy_root):
        dataset = prepared.PreparedDataset(root)
        for video in dataset.video_ids:
            dataset.load_video(video)


@pytest.mark.parametrize("meta,expected", [
    ({"image_size": True}, "expected an object with"), ({"image_size": 32.0}, "expected an object with"),
    ({"num_landmarks": 0}, "must be positive"), ({"depth_size": -4}, "must be positive"),
])
def test_meta_json_sizes_must_be_positive_integers_not_booleans(toy_root, tmp_path, meta, expected):
    import json

    root = _copy(toy_root, tmp_path)
    path = os.path.join(root, prepared.META_FILE)
    with open(path) as stream:
        record = json.load(stream)
    with open(path, "w") as stream:
        json.dump(dict(record, **meta), stream)
    with pytest.raises(prepared.PreparedFormatError) as raised:
        prepared.read_meta(root)
    assert str(raised.value).startswith(f"{path}: ") and expected in str(raised.value)
    assert "image_size 1" not in str(raised.value)


# --- no hang, no traceback in the tools that read prepared data through tf.data --------------------------------
def _drop_truth_array(path, key="trace"):
    arrays = dict(np.load(path))
    del arrays[key]
    np.savez_compressed(path, **arrays)


def _truth(video):
    return lambda root: os.path.join(root, video, prepared.TRUTH_FILE)


READER_CASES = [
    ("truncated truth.npz", lambda r: _truncate(_truth("s4_print")(r)), _truth("s4_print"), "not a readable .npz"),
    ("truth.npz without its trace", lambda r: _drop_truth_array(_truth("s5_replay")(r)), _truth("s5_replay"),
     "lacks array 'trace'"),
    ("truth.npz without its mask", lambda r: _drop_truth_array(_truth("s4_replay")(r), "mask"), _truth("s4_replay"),
     "lacks array 'mask'"),
    ("truncated arrays.npz of a test video", lambda r: _truncate(_arrays_file("s5_print")(r)),
     _arrays_file("s5_print"), "not a readable .npz"),
]


@pytest.mark.parametrize("case,breaker,named,expected", READER_CASES, ids=[case[0] for case in READER_CASES])
def test_trace_recovery_on_bad_test_data_is_one_error_line(deploy, tmp_path, capsys, case, breaker, named, expected):
    """`python -m physstd.eval.trace_recovery` runs cli.guarded(main): in-process here, the same code path."""
    from physstd import cli
    from physstd.eval import trace_recovery

    root = _copy(deploy["root"], tmp_path, breaker)
    before = _snapshot(root)
    output = tmp_path / "recovery"
    started = time.perf_counter()
    status = cli.guarded(trace_recovery.main)([f"--run_dir={deploy['run']}", f"--data_root={root}",
                                               f"--output_dir={output}"])
    assert time.perf_counter() - started < 60
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert status == 2 and len(lines) == 1 and "Traceback" not in err, err
    _assert_names(lines[0], root, [named], expected)
    assert not output.exists() and _snapshot(root) == before


@pytest.mark.slow
def test_trace_recovery_command_on_a_truncated_truth_npz_exits_2_within_the_time_bound(deploy, tmp_path):
    """The process itself: it used to hang (killed after 240 s) or end in a traceback."""
    root = _copy(deploy["root"], tmp_path, lambda r: _truncate(_truth("s4_print")(r)))
    before = _snapshot(root)
    result, seconds = _run(["-m", "physstd.eval.trace_recovery", f"--run_dir={deploy['run']}", f"--data_root={root}",
                            f"--output_dir={tmp_path / 'out'}"], cwd=ROOT, env_extra={"PYTHONPATH": ROOT})
    assert result.returncode == 2 and _truth("s4_print")(root) in _error_line(result)
    assert seconds < COMMAND_TIMEOUT and _snapshot(root) == before and not (tmp_path / "out").exists()


def test_evaluation_and_trace_classification_name_a_bad_test_video(deploy, tmp_path):
    """run_test.py and physstd.eval.trace_classification (cli.run): the tf.data error is the file's one line."""
    import tensorflow as tf

    from physstd import cli
    from physstd.eval import evaluate, trace_classification

    root = _copy(deploy["root"], tmp_path, lambda r: _truncate(_arrays_file("s5_print")(r)))
    before, run_before = _snapshot(root), _snapshot(deploy["run"])
    calls = [lambda: evaluate.evaluate_models([deploy["run"]], str(tmp_path / "eval"), data_root=root,
                                              protocol=PROTOCOL, use_saved_calibration=False),
             lambda: trace_classification.run(deploy["run"], data_root=root, epochs=1, inputs=("traces",))]
    for call in calls:
        started = time.perf_counter()
        with pytest.raises((ValueError, tf.errors.OpError)) as raised:
            call()
        assert time.perf_counter() - started < 60
        error = cli.user_error(raised.value)
        assert isinstance(error, prepared.PreparedFormatError), raised.value
        _assert_names(error, root, [_arrays_file("s5_print")], "not a readable .npz")
    assert _snapshot(root) == before
    after = _snapshot(deploy["run"])   # calibration.json is new (fitted on the sound dev videos); nothing else changed
    assert {path: after.get(path) for path in run_before} == run_before and set(after) - set(run_before) <= {
        "calibration.json"}
    if "calibration.json" in after:
        os.remove(os.path.join(deploy["run"], "calibration.json"))


def _png_claiming(path, width, height):
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    with open(path, "wb") as stream:
        stream.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("width,height", [(100_000, 100_000), (2 ** 31 - 1, 1), (1, 2 ** 21)])
def test_an_image_claiming_more_pixels_than_opencv_allows_is_named(toy_root, tmp_path, width, height):
    """run_predict.py reads inputs with preprocess.read_image (an InputError: that input is skipped with its
    line); a prepared frame PNG is a PreparedFormatError of the first batch."""
    from physstd.data import preprocess

    image = tmp_path / "bomb.png"
    _png_claiming(image, width, height)
    with pytest.raises(preprocess.InputError, match=re.escape(str(image)) + ": not a readable image"):
        preprocess.read_image(str(image))
    root = _copy(toy_root, tmp_path, lambda r: _png_claiming(os.path.join(r, "live_0", "frames", "000000.png"),
                                                             width, height))
    error, seconds = _first_batch_error(root, ["live_0", "print_0"])
    assert isinstance(error, prepared.PreparedFormatError) and "000000.png: missing or not a readable PNG" in str(error)


# --- JSON files ------------------------------------------------------------------------------------------------
def _deep_json(path, depth=100_000):
    with open(path, "w") as stream:
        stream.write("[" * depth + "]" * depth)


def test_a_json_file_nested_100000_deep_is_named_by_every_reader(toy_root, deploy, tmp_path, capsys):
    from physstd import cli, export, files, methods, runs
    from physstd.data import protocols
    from physstd.eval import scoring, tables

    root = _copy(toy_root, tmp_path)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    export_dir = tmp_path / "export"
    export_dir.mkdir()
    (export_dir / "saved_model.pb").write_bytes(b"")
    cases = [(os.path.join(root, prepared.META_FILE), lambda: prepared.read_meta(root)),
             (os.path.join(root, "protocols", "toy", "protocol.json"),
              lambda: protocols.load_split(os.path.join(root, "protocols"), "toy", "train")),
             (str(run_dir / "flags.json"), lambda: runs.read_run_flags(str(run_dir))),
             (str(run_dir / "calibration.json"), lambda: scoring.load_calibration(str(run_dir / "calibration.json"),
                                                                                methods.get("physstd"))),
             (str(export_dir / export.INFO_FILE), lambda: export.read_export_info(str(export_dir))),
             (str(tmp_path / "any.json"), lambda: files.read_json(str(tmp_path / "any.json"), "results"))]
    for path, read in cases:
        _deep_json(path)
        with pytest.raises(ValueError) as raised:
            read()
        assert str(raised.value).startswith(f"{path}: ") and "nested too deeply" in str(raised.value), raised.value
    status = cli.guarded(tables.main)([str(tmp_path / "any.json")])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and err.startswith(f"error: {tmp_path / 'any.json'}: "), err


@pytest.mark.parametrize("text", ["{bad", '{"folds": [', "[1, 2]", "\xff\xfe"], ids=["bad", "cut", "a list",
                                                                                      "not UTF-8"])
def test_a_malformed_protocol_json_is_named(toy_root, tmp_path, text):
    from physstd.data import protocols

    root = _copy(toy_root, tmp_path)
    path = os.path.join(root, "protocols", "toy", "protocol.json")
    with open(path, "w", encoding="latin-1") as stream:
        stream.write(text)
    with pytest.raises(ValueError) as raised:
        protocols.load_split(os.path.join(root, "protocols"), "toy", "train")
    assert str(raised.value).startswith(f"{path}: "), raised.value


# --- numeric flags ---------------------------------------------------------------------------------------------
def _outside(allowed, integer):
    """Values just outside a cli.Range (each open or closed end), and the non-finite ones for a float flag."""
    values = []
    if allowed.low is not None:
        values.append(allowed.low if allowed.low_open else allowed.low - (1 if integer else 1e-3))
    if allowed.high is not None:
        values.append(allowed.high if allowed.high_open else allowed.high + (1 if integer else 1e-3))
    if not integer:
        values += [math.nan, math.inf, -math.inf]
    return values


def _ranged_records():
    """{numeric flag: (its Range, the record class that checks it: TrainConfig, a method's config, or None for the
    ModelConfig flags)}."""
    from physstd import methods
    from physstd.train import flags as train_flags
    from physstd.train.config import RANGES, TrainConfig

    records = {name: (allowed, TrainConfig) for name, allowed in RANGES.items()}
    for method in methods.names():
        config_class = methods.get(method).config_class
        records.update({name: (allowed, config_class) for name, allowed in config_class.RANGES.items()})
    records.update({name: (allowed, None) for name, allowed in train_flags.MODEL_RANGES.items()})
    return records


def _integer_flag(name):
    record = _ranged_records()[name][1]
    return name == "image_size" or (record is not None and isinstance(getattr(record(), name, 0.0), int))


def _train_flag_cases():
    return [(name, value) for name, (allowed, _) in _ranged_records().items()
            for value in _outside(allowed, _integer_flag(name))]


TRAIN_FLAG_CASES = _train_flag_cases()


@pytest.mark.parametrize("name,value", TRAIN_FLAG_CASES, ids=[f"{n}={v}" for n, v in TRAIN_FLAG_CASES])
def test_every_numeric_training_flag_is_checked_against_its_range_when_parsed(name, value):
    """Each numeric flag of run_train.py, each way out of its range: one absl flag error naming the flag and the
    range (cli.parse_flags prints it as one error line, exit 2); the same value given to TrainConfig in-process is
    a ValueError naming the field."""
    from absl import flags

    from physstd.train import flags as train_flags

    values = flags.FlagValues()
    train_flags.define_flags(values)
    integer = _integer_flag(name)
    with pytest.raises(flags.Error) as raised:
        values(["run_train.py", f"--{name}={int(value) if integer else value!r}"])
    allowed, record = _ranged_records()[name]
    assert f"--{name}=" in str(raised.value) and f"must be {allowed.describe(integer)}" in str(raised.value)
    if record is not None:
        with pytest.raises(ValueError, match=f"^{name} must be {re.escape(allowed.describe(integer))}, got"):
            record(**{name: value})


@pytest.mark.slow
def test_every_tool_refuses_a_bad_number_with_one_line_and_exit_2(tmp_path):
    """One process per tool (none but run_train.py imports TensorFlow before its flags are checked);
    --adam_beta1=1.5 and every other training flag are in the test above."""
    cases = [
        ([os.path.join(ROOT, "run_train.py"), "--learning_rate=inf", f"--run_dir={tmp_path / 'run'}"],
         "--learning_rate=inf: must be finite and > 0"),
        ([os.path.join(ROOT, "run_test.py"), "--batch_size=0", "--run_dir=x"], "--batch_size=0: must be >= 1"),
        (["-m", "physstd.eval.trace_classification", "--run_dir=x", "--epochs=0"], "--epochs=0: must be >= 1"),
        (["-m", "physstd.eval.trace_classification", "--run_dir=x", "--batch_size=-3"], "--batch_size=-3"),
        (["-m", "physstd.data.protocols", "--dataset=siw_m", "--seed=-1"], "--seed=-1: must be in [0, "),
        (["-m", "physstd.eval.trace_recovery", "--run_dir=x", "--batch_size=0"], "--batch_size must be at least 1"),
        (["-m", "physstd.eval.tables", "x.json", "--decimals=-1"], "--decimals=-1: must be in [0, 9]"),
    ]
    for args, named in cases:
        result, seconds = _run(args, cwd=str(tmp_path), env_extra={"PYTHONPATH": ROOT})
        assert result.returncode == 2, (args, result.stderr[-2000:])
        assert named in _error_line(result), (args, result.stderr[-2000:])
        assert seconds < COMMAND_TIMEOUT
    assert os.listdir(tmp_path) == []
