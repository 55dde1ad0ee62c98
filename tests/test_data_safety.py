"""Never delete what this run did not write: checkpoints without their state file, a prepared set's output over its
input, an export over a folder the user added to, two trainers on one run directory, a stop before the first step,
a full disk during an export.

Each case takes a before/after sha256 of every file that existed in its folder, so that "nothing lost" is asserted;
commands run in time-bounded subprocesses where their exit status and their one `error:` line are the behaviour,
in-process calls elsewhere. The README's "Bad input" section counts the cases.
"""
import errno
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from test_bad_input import _snapshot   # {relative path: sha256} of every file under a folder
from test_train_faults import _Holder  # what a trainer gives RunCheckpoints: a step and a payload equal to it

N = 32
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMAND_TIMEOUT = 120   # seconds; a TensorFlow start costs ~10 s on 2 cores
STEP_TENSOR = "step/.ATTRIBUTES/VARIABLE_VALUE"


def _kept(before, after):
    """The files of `before` that `after` lacks or holds changed."""
    return sorted(path for path, digest in before.items() if after.get(path) != digest)


def _env():
    return dict(os.environ, PYTHONPATH=ROOT, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2")


def _run(args):
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=_env(), capture_output=True, text=True,
                          timeout=COMMAND_TIMEOUT)


def _error_line(result):
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    return lines[0]


def _train_args(toy_root, run_dir, num_steps):
    return ["run_train.py", f"--data_root={toy_root}", "--protocol=toy", f"--run_dir={run_dir}", f"--image_size={N}",
            "--width=0.125", "--batch_size=4", "--steps=1", f"--num_steps={num_steps}", "--checkpoint_every=1",
            "--log_every=1", "--image_summary_every=0", "--eval_max_videos=2"]


def _configs(toy_root, run_dir, num_steps):
    from physstd.methods.physstd.config import PhySTDConfig
    from physstd.models import ModelConfig
    from physstd.train.config import TrainConfig

    return (TrainConfig(data_root=toy_root, protocol="toy", run_dir=run_dir, batch_size=4,
                        method_config=PhySTDConfig(steps="1"), num_steps=num_steps, checkpoint_every=1, log_every=1,
                        image_summary_every=0, eval_max_videos=2),
            ModelConfig(image_size=N, width=0.125))


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory):
    from physstd.data.toy import write_toy_dataset

    root = str(tmp_path_factory.mktemp("toy"))
    write_toy_dataset(root, N, videos_per_class=2, frames_per_video=2)
    return root


@pytest.fixture(scope="module")
def trained_run(toy_root, tmp_path_factory):
    """A run trained in this process for 2 steps: ckpt-1 and ckpt-2 listed."""
    from physstd.train.loop import train

    run_dir = str(tmp_path_factory.mktemp("trained") / "run")
    assert train(*_configs(toy_root, run_dir, 2))["step"] == 2
    return run_dir


def _copy_run(trained_run, tmp_path):
    run_dir = str(tmp_path / "run")
    shutil.copytree(trained_run, run_dir)
    return run_dir


def _step_of(path):
    import tensorflow as tf

    return int(tf.train.load_checkpoint(path).get_tensor(STEP_TENSOR))


@pytest.fixture
def restore_signal_handlers():
    """train() in this process ignores SIGTERM / SIGINT after a stop (the process is on its way out there)."""
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in before.items():
        signal.signal(signum, handler)


# --- checkpoints: the state file missing, unreadable, or another project's files ---------------------------------

def _saved_checkpoints(run_dir, steps=(1, 2, 3)):
    from physstd.train.checkpoints import RunCheckpoints

    holder = _Holder()
    saved = RunCheckpoints(holder, run_dir, max_to_keep=5)
    for step in steps:
        holder.advance()
        saved.save(step)
    return os.path.join(run_dir, "checkpoints")


def _truncate(path, size):
    with open(path, "r+b") as stream:
        stream.truncate(size)


STATE_DAMAGE = {
    "deleted": lambda path: os.remove(path),
    "truncated": lambda path: _truncate(path, 30),   # a crash during its rewrite: TensorFlow parses nothing
    "binary": lambda path: open(path, "wb").write(b"\x00\xff\xfe garbage"),
    "empty": lambda path: open(path, "wb").close(),
}


@pytest.mark.parametrize("damage", sorted(STATE_DAMAGE))
def test_a_missing_or_unreadable_state_file_recovers_the_newest_checkpoint_and_deletes_nothing(tmp_path, damage):
    from physstd.train.checkpoints import RunCheckpoints

    directory = _saved_checkpoints(str(tmp_path))
    STATE_DAMAGE[damage](os.path.join(directory, "checkpoint"))
    (tmp_path / "checkpoints" / "notes.txt").write_text("mine")
    before = _snapshot(directory)
    again = RunCheckpoints(_Holder(), str(tmp_path), max_to_keep=5)
    assert again.remove_leftovers() == []
    assert again.restore_latest() == os.path.join(directory, "ckpt-3")
    assert int(again.checkpoint.step.numpy()) == 3 and again.checkpoint.payload.numpy().tolist() == [3.0] * 8
    problem = "is missing" if damage == "deleted" else "is unreadable"
    assert re.fullmatch(re.escape(f"{os.path.join(directory, 'checkpoint')} {problem}") + r"( \(.+\))?" +
                        re.escape(": recovered the newest readable checkpoint ckpt-3 (of 3 ckpt-<n> found; none "
                                  "deleted)"), again.recovery), again.recovery
    assert _kept({k: v for k, v in before.items() if k != "checkpoint"}, _snapshot(directory)) == []
    again.checkpoint.step.assign(4)
    again.save(4)   # the run goes on: the new state file lists the recovered checkpoint and the new one
    assert [os.path.basename(p) for p in again.manager.checkpoints] == ["ckpt-3", "ckpt-4"]
    assert _kept({k: v for k, v in before.items() if k != "checkpoint"}, _snapshot(directory)) == []


def test_an_unreadable_newest_checkpoint_without_state_file_recovers_the_one_before(tmp_path):
    from physstd.train.checkpoints import RunCheckpoints

    directory = _saved_checkpoints(str(tmp_path))
    os.remove(os.path.join(directory, "checkpoint"))
    _truncate(os.path.join(directory, "ckpt-3.index"), 20)
    before = _snapshot(directory)
    again = RunCheckpoints(_Holder(), str(tmp_path), max_to_keep=5)
    assert again.restore_latest().endswith("ckpt-2") and int(again.checkpoint.step.numpy()) == 2
    assert _kept(before, _snapshot(directory)) == []


def _foreign_checkpoint(run_dir):
    """Another program's ckpt-7 (objects of another model), without a state file."""
    import tensorflow as tf

    directory = os.path.join(run_dir, "checkpoints")
    os.makedirs(directory)
    tf.train.Checkpoint(encoder=tf.Variable(tf.ones([4]))).write(os.path.join(directory, "ckpt-7"))
    (tf.io.gfile.GFile(os.path.join(directory, "README"), "w")).write("another project's weights")
    return directory


def test_another_projects_checkpoints_are_refused_not_deleted(tmp_path):
    from physstd.train.checkpoints import RunCheckpoints

    directory = _foreign_checkpoint(str(tmp_path))
    before = _snapshot(directory)
    checkpoints = RunCheckpoints(_Holder(), str(tmp_path), max_to_keep=5)
    assert checkpoints.remove_leftovers() == []
    with pytest.raises(ValueError) as raised:
        checkpoints.restore_latest()
    assert str(raised.value).startswith(f"{os.path.join(directory, 'checkpoint')} is missing, and none of the "
                                        f"checkpoints beside it (ckpt-7) holds this run's model; refusing")
    assert _snapshot(directory) == before


@pytest.mark.slow
def test_run_train_on_another_projects_checkpoints_exits_2_and_keeps_them(toy_root, tmp_path):
    run_dir = str(tmp_path / "other_project")
    directory = _foreign_checkpoint(run_dir)
    before = _snapshot(run_dir)
    result = _run(_train_args(toy_root, run_dir, 2))
    assert result.returncode == 2, result.stderr[-3000:]
    line = _error_line(result)
    assert f"{os.path.join(directory, 'checkpoint')} is missing" in line and "(ckpt-7)" in line
    assert _snapshot(run_dir) == before   # no flags.json, no lock file, nothing changed


@pytest.mark.slow
def test_a_deleted_state_file_resumes_at_the_newest_checkpoint_step(trained_run, toy_root, tmp_path, capsys):
    from physstd.train.loop import train

    run_dir = _copy_run(trained_run, tmp_path)
    directory = os.path.join(run_dir, "checkpoints")
    os.remove(os.path.join(directory, "checkpoint"))
    before = _snapshot(run_dir)
    result = train(*_configs(toy_root, run_dir, 3))
    out = capsys.readouterr().out
    assert f"{os.path.join(directory, 'checkpoint')} is missing: recovered the newest readable checkpoint ckpt-2" in out
    assert f"resumed from {os.path.join(directory, 'ckpt-2')} at step 2" in out
    assert result["step"] == 3 and result["stopped"] is None and _step_of(os.path.join(directory, "ckpt-3")) == 3
    # Every checkpoint file is where it was; only what a start rewrites by design (flags.json: num_steps) changed.
    assert _kept(before, _snapshot(run_dir)) == ["dev_eval.json", "flags.json"]
    assert not os.path.exists(os.path.join(run_dir, ".train.lock"))


# --- one trainer per run directory --------------------------------------------------------------------------------

@pytest.mark.slow
def test_the_run_directory_lock_refuses_a_second_holder_and_takes_over_a_dead_ones(tmp_path):
    from physstd.train.run_lock import LOCK_FILE, RunDirLock, RunDirLocked

    run_dir = str(tmp_path / "new_run")
    first = RunDirLock(run_dir).acquire()
    with open(os.path.join(run_dir, LOCK_FILE)) as stream:
        holder = json.load(stream)
    assert (holder["pid"], holder["host"]) == (os.getpid(), socket.gethostname())
    with pytest.raises(RunDirLocked, match=re.escape(f"{run_dir}: another trainer is running in this run directory "
                                                     f"(pid {os.getpid()} on host {socket.gethostname()}")):
        RunDirLock(run_dir).acquire()
    first.release()
    assert not os.path.exists(run_dir)   # made by the lock and left empty: removed with it
    # A trainer killed with SIGKILL leaves its file; the kernel has dropped its flock.
    dead = subprocess.Popen(["true"])
    dead.wait()
    os.makedirs(run_dir)
    (tmp_path / "new_run" / "notes.txt").write_text("mine")
    stale = {"pid": dead.pid, "host": socket.gethostname(), "started": "earlier"}
    (tmp_path / "new_run" / LOCK_FILE).write_text(json.dumps(stale))
    taken = RunDirLock(run_dir).acquire()
    assert taken.note == (f"took over the stale lock of {run_dir} left by pid {dead.pid} on host "
                          f"{socket.gethostname()}, since earlier (no longer running)")
    taken.release()
    assert os.listdir(run_dir) == ["notes.txt"]
    # A lock left on another host cannot be checked from here: refused, and left as it was.
    (tmp_path / "new_run" / LOCK_FILE).write_text(json.dumps(dict(stale, host="elsewhere")))
    before = _snapshot(run_dir)
    with pytest.raises(RunDirLocked, match="a trainer on another host left its lock here"):
        RunDirLock(run_dir).acquire()
    assert _snapshot(run_dir) == before


@pytest.mark.slow
def test_a_second_trainer_on_a_held_run_directory_exits_75_naming_the_holder(trained_run, toy_root, tmp_path):
    from physstd.train.run_lock import RunDirLock

    run_dir = _copy_run(trained_run, tmp_path)
    lock = RunDirLock(run_dir).acquire()   # the first trainer (this process)
    try:
        before = _snapshot(run_dir)
        started = time.perf_counter()
        result = _run(_train_args(toy_root, run_dir, 4))
        assert time.perf_counter() - started < COMMAND_TIMEOUT
        assert result.returncode == 75, result.stderr[-3000:]
        assert _error_line(result).startswith(f"error: {run_dir}: another trainer is running in this run directory "
                                              f"(pid {os.getpid()} on host {socket.gethostname()}")
        assert _snapshot(run_dir) == before
    finally:
        lock.release()


# --- a stop before (or during) the first step --------------------------------------------------------------------

def test_sigterm_while_the_first_batch_is_read_stops_at_once_and_saves_nothing(toy_root, tmp_path, monkeypatch,
                                                                                 capsys, restore_signal_handlers):
    from physstd.data import pipeline
    from physstd.train import loop

    reader = pipeline.train_dataset

    def signalled(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        return reader(*args, **kwargs)

    monkeypatch.setattr(pipeline, "train_dataset", signalled)
    run_dir = str(tmp_path / "run")
    result = loop.train(*_configs(toy_root, run_dir, 3))
    assert (result["stopped"], result["step"]) == ("SIGTERM", None)
    assert "SIGTERM: stopping before the first training step; nothing to save" in capsys.readouterr().out
    assert not os.path.exists(run_dir)   # no checkpoint, no flags.json, no lock: the folder was never claimed


@pytest.mark.slow
def test_sigterm_during_the_first_step_saves_that_step(trained_run, toy_root, tmp_path, monkeypatch, capsys,
                                                       restore_signal_handlers):
    from physstd.train import loop

    start = loop._Run._start

    def signalling_first_step(self, *args):
        start(self, *args)
        step = self.trainer.train_step

        def first(batch):
            os.kill(os.getpid(), signal.SIGTERM)
            return step(batch)
        self.trainer.train_step = first

    monkeypatch.setattr(loop._Run, "_start", signalling_first_step)
    run_dir = _copy_run(trained_run, tmp_path)
    before = _snapshot(os.path.join(run_dir, "checkpoints"))
    result = loop.train(*_configs(toy_root, run_dir, 10))
    assert (result["stopped"], result["step"]) == ("SIGTERM", 3)
    assert "SIGTERM: stopping after step 3; saving" in capsys.readouterr().out
    assert _step_of(os.path.join(run_dir, "checkpoints", "ckpt-3")) == 3
    assert _kept(before, _snapshot(os.path.join(run_dir, "checkpoints"))) == ["checkpoint"]
    assert not os.path.exists(os.path.join(run_dir, ".train.lock"))


@pytest.mark.slow
def test_run_train_sigterm_at_startup_exits_143_with_one_line(toy_root, tmp_path):
    run_dir = str(tmp_path / "run")
    child = subprocess.Popen([sys.executable, *_train_args(toy_root, run_dir, 1000)], cwd=ROOT, env=_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    try:
        for line in child.stdout:   # the line before the first batch is read
            lines.append(line)
            if "training from scratch" in line:
                child.send_signal(signal.SIGTERM)
        status = child.wait(timeout=COMMAND_TIMEOUT)
    finally:
        if child.poll() is None:
            child.kill()
    stderr = child.stderr.read()
    out = "".join(lines)
    assert status == 143 and "Traceback" not in stderr, stderr[-3000:]
    # The signal came during the first batch (nothing saved) or, on a slow machine, during the first step.
    stopped = [line for line in out.splitlines() if line.startswith("stopped by SIGTERM")]
    assert len(stopped) == 1 and stopped[0].startswith(("stopped by SIGTERM before the first step",
                                                        "stopped by SIGTERM after step 1;")), out
    assert not os.path.exists(os.path.join(run_dir, ".train.lock"))
    if stopped[0].startswith("stopped by SIGTERM after step 1;"):
        assert _step_of(os.path.join(run_dir, "checkpoints", "ckpt-1")) == 1


# --- prepared datasets: never over the input, never into someone's folder -----------------------------------------

def _raw_folder(tmp_path):
    raw = tmp_path / "raw"
    for name in ("live/a/000.png", "print/b/000.png"):
        os.makedirs(raw / os.path.dirname(name), exist_ok=True)
        (raw / name).write_bytes(name.encode() * 10)
    return raw


@pytest.mark.parametrize("where", ["same", "inside", "holding", "symlink"])
def test_a_prepared_set_over_its_input_is_refused(tmp_path, where):
    from physstd.data import prepared

    raw = _raw_folder(tmp_path)
    os.symlink(raw, tmp_path / "link")
    output, source = {"same": (raw, raw), "inside": (raw / "live" / "prepared", raw),
                      "holding": (tmp_path, raw), "symlink": (tmp_path / "link" / "print", raw)}[where]
    before = _snapshot(str(tmp_path))
    how = {"same": "is", "inside": "lies inside", "holding": "holds", "symlink": "lies inside"}[where]
    with pytest.raises(ValueError, match=re.escape(f"--output_dir={output} {how} --input_dir={source}")):
        prepared.DatasetWriter(str(output), "folder", N, input_dir=str(source))
    assert _snapshot(str(tmp_path)) == before
    assert not os.path.exists(raw / "live" / "prepared")


@pytest.mark.slow
def test_run_preprocess_into_its_input_exits_2_and_keeps_the_frames(tmp_path):
    raw = _raw_folder(tmp_path)
    before = _snapshot(str(raw))
    result = _run(["run_preprocess.py", "--dataset=folder", f"--input_dir={raw}", f"--output_dir={raw}",
                   "--image_size=32"])
    assert result.returncode == 2, result.stderr[-3000:]
    assert f"--output_dir={raw} is --input_dir={raw}" in _error_line(result)
    assert _snapshot(str(raw)) == before


def test_a_non_empty_folder_that_is_not_a_prepared_set_is_refused(tmp_path):
    from physstd.data import prepared, synthetic

    folder = tmp_path / "thesis"
    (folder / "live").mkdir(parents=True)
    (folder / "live" / "chapter1.tex").write_text("precious")
    (folder / prepared.PARTIAL_DIR).mkdir()
    (folder / prepared.PARTIAL_DIR / "draft.tex").write_text("precious too")
    before = _snapshot(str(folder))
    with pytest.raises(ValueError, match="thesis: not empty \\(.partial, live\\) and not a prepared dataset"):
        prepared.DatasetWriter(str(folder), "folder", N)
    with pytest.raises(ValueError, match="thesis: not empty and not a raw synthetic set"):
        synthetic.generate_raw(str(folder), image_size=N)
    with pytest.raises(ValueError, match="thesis: not empty \\(.partial, live\\) and not a prepared dataset"):
        synthetic.generate(str(folder), image_size=N)   # --synthetic training generates here too
    with pytest.raises(ValueError, match="--output_dir=.* is --raw_dir="):
        synthetic.generate(str(tmp_path / "new"), image_size=N, raw_dir=str(tmp_path / "new"))
    assert _snapshot(str(folder)) == before and not os.path.exists(tmp_path / "new")
    # A new or empty folder, and a prepared set (resumed), are what a writer writes into.
    (tmp_path / "empty").mkdir()
    prepared.DatasetWriter(str(tmp_path / "empty"), "folder", N)
    prepared.DatasetWriter(str(tmp_path / "empty"), "folder", N)


# --- SavedModel export over a previous one --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from deploy_fixtures import make_run_dir
    from physstd import export
    from physstd import methods
    from physstd.methods.physstd.inference import PhySTDInference

    base = tmp_path_factory.mktemp("export")
    generator, model_config = make_run_dir(str(base / "run"), str(base / "data"), "p1", size=N)
    inference = PhySTDInference(generator, model_config)

    def write(export_dir, threshold=0.5):
        return export.export_saved_model(inference, methods.get("physstd"), str(export_dir), {"alpha0": 1.0},
                                         threshold, "dev")
    write(base / "model")
    return {"base": base, "write": write}


def _previous_export(exported, tmp_path):
    target = tmp_path / "model"
    shutil.copytree(exported["base"] / "model", target)
    return target


def test_an_export_over_a_folder_with_user_files_is_refused(exported, tmp_path):
    from physstd import cli, export

    target = _previous_export(exported, tmp_path)
    (target / "notes.txt").write_text("which run this was")
    (target / "variables" / "mine.txt").write_text("and this")
    before = _snapshot(str(tmp_path))
    with pytest.raises(ValueError) as raised:
        exported["write"](target)
    message = str(cli.user_error(raised.value))
    assert message.startswith(f"{target}: a previous physstd export that also holds notes.txt, variables/mine.txt, "
                              f"which an export does not write") and "\n" not in message
    assert _snapshot(str(tmp_path)) == before


def test_an_interrupted_export_is_settled_by_the_next_one(exported, tmp_path):
    """Kills at the three moments of a replacement, plus folders that are not this target's leftovers."""
    from physstd import export

    target = _previous_export(exported, tmp_path)
    previous = _snapshot(str(target))
    hex_name = "0123456789abcdef0123456789abcdef"
    # Killed while saving (a partial new export), and a leftover of the former layout (the export files directly).
    (tmp_path / f".tmp-{hex_name}-model" / "new" / "variables").mkdir(parents=True)
    shutil.copytree(target, tmp_path / f".tmp-{'1' * 32}-model")
    # Not ours: another target's staging folder, and a folder of this target's name holding a user's file.
    (tmp_path / f".tmp-{hex_name}-other").mkdir()
    (tmp_path / f".tmp-{'2' * 32}-model").mkdir()
    (tmp_path / f".tmp-{'2' * 32}-model" / "notes.txt").write_text("mine")
    foreign = {name: _snapshot(str(tmp_path / name)) for name in (f".tmp-{hex_name}-other", f".tmp-{'2' * 32}-model")}
    # Killed between the two renames: the previous export is in the staging folder, none at the target.
    staging = tmp_path / f".tmp-{'3' * 32}-model"
    staging.mkdir()
    os.replace(target, staging / "previous")
    (staging / "new").mkdir()
    assert export.remove_interrupted(str(target)) == [f".tmp-{'0123456789abcdef' * 2}-model",
                                                      f".tmp-{'1' * 32}-model", f".tmp-{'3' * 32}-model"]
    assert _snapshot(str(target)) == previous   # put back, intact
    assert sorted(os.listdir(tmp_path)) == sorted(["model", *foreign])
    assert {name: _snapshot(str(tmp_path / name)) for name in foreign} == foreign
    # And the next export does that itself before it replaces the previous one.
    (tmp_path / f".tmp-{hex_name}-model").mkdir()
    exported["write"](target, threshold=0.25)
    assert export.read_export_info(str(target))["threshold"] == 0.25
    assert sorted(os.listdir(tmp_path)) == sorted(["model", *foreign])


def test_a_full_disk_during_an_export_is_one_error_and_keeps_the_previous_export(exported, tmp_path, monkeypatch):
    from physstd import cli, export

    target = _previous_export(exported, tmp_path)
    before = _snapshot(str(tmp_path))

    def full_disk(module, path, signatures=None):   # part of the SavedModel written, then the disk is full
        os.makedirs(path)
        with open(os.path.join(path, "saved_model.pb"), "wb") as stream:
            stream.write(b"\x08")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.path.join(path, "variables"))

    monkeypatch.setattr(export.tf.saved_model, "save", full_disk)
    with pytest.raises(export.ExportWriteError) as raised:
        exported["write"](target)
    message = str(cli.user_error(raised.value))
    assert message == (f"{target}: could not write the export (No space left on device); the previous export is "
                       f"unchanged")
    assert _snapshot(str(tmp_path)) == before and sorted(os.listdir(tmp_path)) == ["model"]


def test_writing_a_protocol_again_keeps_a_users_file_in_its_folder(tmp_path):
    from physstd.data import protocols

    splits = {None: {"train": {"a"}, "test": {"b"}}}
    protocols.write_protocol(str(tmp_path), "p1", splits, {})
    protocols.write_protocol(str(tmp_path), "p1", {None: {"train": {"a", "c"}, "test": {"b"}}}, {})  # its own: replaced
    assert (tmp_path / "p1" / "train.txt").read_text() == "a\nc\n"
    (tmp_path / "p1" / "notes.md").write_text("my notes")
    folds = {"1": {"train": {"a"}, "test": {"b"}}}
    protocols.write_protocol(str(tmp_path), "p2", folds, {})
    (tmp_path / "p2" / "fold_1" / "extra").mkdir()
    before = _snapshot(str(tmp_path))
    for name, extra in (("p1", "notes.md"), ("p2", "fold_1/extra")):
        with pytest.raises(ValueError, match=f"{name}: holds files a protocol writer does not write \\({extra}"):
            protocols.write_protocol(str(tmp_path), name, splits if name == "p1" else folds, {})
    assert _snapshot(str(tmp_path)) == before
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]   # no staging folder left behind
