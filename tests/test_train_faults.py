"""What clusters do to a training run: SIGTERM / SIGINT (exit 143 / 130, a checkpoint named after its step
variable, whole summaries), a second signal during the stop save, leftovers of killed saves, and a disk that
refuses a save (exit 74, one error line, the last checkpoint intact). run_train.py runs in subprocesses."""
import os
import resource
import signal
import subprocess
import sys
import time

import pytest

from run_events import read_events

N = 32
STEP_TENSOR = "step/.ATTRIBUTES/VARIABLE_VALUE"
LOSS_TAGS = {"loss/depth", "loss/trace_regularizer", "loss/inpainting_mask", "loss/generator_total"}


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory):
    from physstd.data.toy import write_toy_dataset

    root = str(tmp_path_factory.mktemp("toy"))
    write_toy_dataset(root, N, videos_per_class=2, frames_per_video=2)
    return root


def _command(toy_root, run_dir, num_steps=1000, checkpoint_every=4):
    """A tiny depth-only run (--steps=1 traces fastest) that logs and summarises every step."""
    return [sys.executable, "run_train.py", f"--data_root={toy_root}", "--protocol=toy", f"--run_dir={run_dir}",
            f"--image_size={N}", "--width=0.125", "--batch_size=4", "--steps=1", f"--num_steps={num_steps}",
            f"--checkpoint_every={checkpoint_every}", "--log_every=1", "--summary_every=1",
            "--image_summary_every=0", "--eval_max_videos=2"]


def _run_until(command, signals, preexec_fn=None, timeout=240):
    """Start `command`; for each (text, signal) in `signals`, send the signal once a stdout line contains the
    text. Returns (status, stdout, stderr)."""
    env = dict(os.environ, PYTHONPATH=os.getcwd(), CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3")
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                             preexec_fn=preexec_fn)
    lines, pending, deadline = [], list(signals), time.monotonic() + timeout
    try:
        for line in child.stdout:
            lines.append(line)
            if pending and pending[0][0] in line:
                child.send_signal(pending.pop(0)[1])
            assert time.monotonic() < deadline, "".join(lines[-5:])
        status = child.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if child.poll() is None:
            child.kill()
    return status, "".join(lines), child.stderr.read()


def _listed(run_dir):
    import tensorflow as tf

    state = tf.train.get_checkpoint_state(os.path.join(run_dir, "checkpoints"))
    return [os.path.basename(p) for p in state.all_model_checkpoint_paths]


def _step_variable(run_dir, name):
    import tensorflow as tf

    return int(tf.train.load_checkpoint(os.path.join(run_dir, "checkpoints", name)).get_tensor(STEP_TENSOR))


def _summary_steps(run_dir):
    """{step: set of tags} of every scalar written to the run's event files."""
    steps = {}
    for tag, by_step in read_events(run_dir).items():
        for step in by_step:
            steps.setdefault(step, set()).add(tag)
    return steps


def _stopped_step(stdout, signal_name):
    marker = f"{signal_name}: stopping after step "
    line = next(line for line in stdout.splitlines() if line.startswith(marker))
    return int(line[len(marker):].split(";")[0])


@pytest.fixture(scope="module")
def sigterm_run(toy_root, tmp_path_factory):
    run_dir = str(tmp_path_factory.mktemp("faults") / "run")
    status, stdout, stderr = _run_until(_command(toy_root, run_dir), [("step 6/", signal.SIGTERM)])
    return run_dir, status, stdout, stderr


@pytest.mark.slow
def test_sigterm_stops_at_a_step_boundary_with_status_143(sigterm_run):
    run_dir, status, stdout, stderr = sigterm_run
    assert status == 143, stderr[-3000:]
    assert "Traceback" not in stderr
    step = _stopped_step(stdout, "SIGTERM")
    assert step >= 6 and f"stopped by SIGTERM after step {step}" in stdout
    # The stop checkpoint is the newest, its name is its step variable, and that step was logged.
    assert _listed(run_dir)[-1] == f"ckpt-{step}" and _step_variable(run_dir, f"ckpt-{step}") == step
    assert f"step {step}/1000 " in stdout and f"step {step + 1}/" not in stdout
    for name in _listed(run_dir):
        assert _step_variable(run_dir, name) == int(name.split("-")[1])
    # Every counted step has all its scalars, and no step after it has any.
    steps = _summary_steps(run_dir)
    assert set(steps) == set(range(1, step + 1))
    assert all(LOSS_TAGS <= tags for tags in steps.values())


@pytest.fixture(scope="module")
def sigint_run(sigterm_run, toy_root):
    """The run resumed, stopped with SIGINT, and sent SIGTERM while it saves the stop checkpoint."""
    run_dir = sigterm_run[0]
    status, stdout, stderr = _run_until(_command(toy_root, run_dir),
                                        [("steps/s", signal.SIGINT), ("SIGINT: stopping", signal.SIGTERM)])
    return run_dir, status, stdout, stderr, _stopped_step(sigterm_run[2], "SIGTERM")


@pytest.mark.slow
def test_sigint_then_a_second_signal_during_the_save(sigint_run):
    run_dir, status, stdout, stderr, first_stop = sigint_run
    assert status == 130, stderr[-3000:]
    assert "Traceback" not in stderr
    assert f"resumed from {os.path.join(run_dir, 'checkpoints', f'ckpt-{first_stop}')} at step {first_stop}" in stdout
    step = _stopped_step(stdout, "SIGINT")
    assert step > first_stop
    assert _listed(run_dir)[-1] == f"ckpt-{step}" and _step_variable(run_dir, f"ckpt-{step}") == step
    assert sorted(os.listdir(os.path.join(run_dir, "checkpoints"))) == sorted(
        ["checkpoint"] + [f"{name}{suffix}" for name in _listed(run_dir)
                          for suffix in (".index", ".data-00000-of-00001")])


@pytest.mark.slow
def test_a_full_disk_gives_one_error_status_74_and_keeps_the_last_checkpoint(sigint_run, toy_root):
    """RLIMIT_FSIZE below the size of a checkpoint's data file: the OS refuses the write (EFBIG) as a full disk
    would; Python ignores SIGXFSZ, so the write fails instead of killing the process."""
    run_dir = sigint_run[0]
    listed, newest = _listed(run_dir), _listed(run_dir)[-1]
    data_size = os.path.getsize(os.path.join(run_dir, "checkpoints", f"{newest}.data-00000-of-00001"))
    limit = data_size // 2

    def limit_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    status, stdout, stderr = _run_until(_command(toy_root, run_dir, checkpoint_every=1), [], limit_file_size)
    assert status == 74, stderr[-3000:]
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in stderr
    assert errors[0].startswith(f"error: {run_dir}: could not save checkpoint ckpt-{int(newest[5:]) + 1}")
    assert "File too large" in errors[0] and errors[0].endswith(os.path.join(run_dir, "checkpoints", newest))
    # The listed checkpoints are untouched and readable; nothing unlisted is left in the folder.
    assert _listed(run_dir) == listed and _step_variable(run_dir, newest) == int(newest[5:])
    assert sorted(os.listdir(os.path.join(run_dir, "checkpoints"))) == sorted(
        ["checkpoint"] + [f"{name}{suffix}" for name in listed for suffix in (".index", ".data-00000-of-00001")])


class _Holder:
    """What a trainer gives RunCheckpoints: a step and a payload that encodes it."""

    def __init__(self):
        import tensorflow as tf

        self.step = tf.Variable(0, dtype=tf.int64)
        self.payload = tf.Variable(tf.zeros([8]))

    def checkpoint_objects(self):
        return {"step": self.step, "payload": self.payload}

    def advance(self):
        self.step.assign_add(1)
        self.payload.assign(self.payload * 0 + float(self.step.numpy()))


def test_startup_removes_only_what_interrupted_saves_left(tmp_path):
    """Only TensorFlow's temporary names go; a ckpt-<n> file stays, listed or not (tests/test_data_safety.py
    has the cases of a missing or unreadable state file)."""
    from physstd.train.checkpoints import RunCheckpoints

    holder = _Holder()
    saved = RunCheckpoints(holder, str(tmp_path), max_to_keep=2)
    for step in (1, 2, 3):
        holder.advance()
        saved.save(step)
    directory = tmp_path / "checkpoints"
    # A kill during the save of ckpt-4 (shards half merged), one between the state file and the deletion of the
    # oldest checkpoint (ckpt-1 complete but unlisted), one during the state file's rename; and files of the user.
    (directory / "ckpt-4_temp").mkdir()
    (directory / "ckpt-4_temp" / "part-00000-of-00001.data-00000-of-00001.tempstate123").write_bytes(b"\0" * 10)
    (directory / "ckpt-4_temp" / "part-00000-of-00001.index").write_bytes(b"\0" * 10)
    (directory / "ckpt-4.data-00000-of-00001").write_bytes(b"\0" * 10)
    for suffix in (".index", ".data-00000-of-00001"):
        (directory / f"ckpt-1{suffix}").write_bytes(b"\0" * 10)
    (directory / "checkpoint.tmp0123456789abcdef0123456789abcdef").write_text("half")
    (directory / "notes.txt").write_text("mine")
    (directory / "ckpt-best.index").write_text("mine too")
    (directory / "ckpt-5_temp").mkdir()   # not what TensorFlow writes into its shard folder: someone's
    (directory / "ckpt-5_temp" / "notes.txt").write_text("mine")

    again = RunCheckpoints(_Holder(), str(tmp_path), max_to_keep=2)
    assert again.remove_leftovers() == ["checkpoint.tmp0123456789abcdef0123456789abcdef", "ckpt-4_temp"]
    assert sorted(os.listdir(directory)) == ["checkpoint", "ckpt-1.data-00000-of-00001", "ckpt-1.index",
                                             "ckpt-2.data-00000-of-00001", "ckpt-2.index",
                                             "ckpt-3.data-00000-of-00001", "ckpt-3.index",
                                             "ckpt-4.data-00000-of-00001", "ckpt-5_temp", "ckpt-best.index",
                                             "notes.txt"]
    assert again.restore_latest().endswith("ckpt-3") and int(again.checkpoint.step.numpy()) == 3
    assert again.remove_leftovers() == []


def test_a_failed_save_is_reported_once_and_never_retried(tmp_path, monkeypatch):
    import tensorflow as tf

    from physstd.train.checkpoints import CheckpointSaveError, RunCheckpoints

    holder = _Holder()
    saved = RunCheckpoints(holder, str(tmp_path), max_to_keep=2)
    for step in (1, 2):
        holder.advance()
        saved.save(step)
    calls = []

    def full_disk(checkpoint_number):  # writes part of the shard folder, then the disk is full
        calls.append(checkpoint_number)
        temp = tmp_path / "checkpoints" / f"ckpt-{checkpoint_number}_temp"
        temp.mkdir()
        (temp / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"\0" * 10)
        raise tf.errors.ResourceExhaustedError(None, None, "write failed\nNo space left on device")

    monkeypatch.setattr(saved.manager, "save", full_disk)
    holder.advance()
    expected = (f"{tmp_path}: could not save checkpoint ckpt-3 (No space left on device); the last good "
                f"checkpoint is {tmp_path / 'checkpoints' / 'ckpt-2'}")
    with pytest.raises(CheckpointSaveError) as first:
        saved.save(3)
    with pytest.raises(CheckpointSaveError) as second:
        saved.save(3)
    assert str(first.value) == str(second.value) == expected
    assert calls == [3]  # the second save did not touch the disk
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["checkpoint", "ckpt-1.data-00000-of-00001",
                                                            "ckpt-1.index", "ckpt-2.data-00000-of-00001",
                                                            "ckpt-2.index"]
    fresh = RunCheckpoints(_Holder(), str(tmp_path), max_to_keep=2)
    assert fresh.restore_latest().endswith("ckpt-2") and int(fresh.checkpoint.step.numpy()) == 2
    assert fresh.checkpoint.payload.numpy().tolist() == [2.0] * 8


def test_stop_request_records_the_first_signal_and_restores_the_handlers():
    from physstd.train import stopping

    before = {s: signal.getsignal(s) for s in stopping.STOP_SIGNALS}
    with stopping.StopRequest() as stop:
        assert not stop.agreed()
    assert {s: signal.getsignal(s) for s in stopping.STOP_SIGNALS} == before  # no stop: handlers restored
    try:
        with stopping.StopRequest() as stop:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.01)  # Python runs handlers between bytecodes of the main thread
            assert stop.requested and stop.agreed() and stop.signum == signal.SIGINT
        # After a stop, later signals are ignored while the process exits.
        assert all(signal.getsignal(s) == signal.SIG_IGN for s in stopping.STOP_SIGNALS)
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)
    assert [stopping.signal_exit_status(s) for s in ("SIGINT", "SIGTERM", signal.SIGTERM)] == [130, 143, 143]
