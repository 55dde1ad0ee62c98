"""Checkpoints: exact resume, fallback past an unreadable newest checkpoint, SIGKILL mid-save, load_generator."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from physstd.train.config import TrainConfig

N = 32
PAIRS = 2


def _trainer(seed):
    import keras

    from physstd.methods.physstd.trainer import PhySTDTrainer
    from physstd.models import ModelConfig

    keras.utils.set_random_seed(seed)
    return PhySTDTrainer(ModelConfig(image_size=N, width=0.125), TrainConfig(learning_rate=1e-3, batch_size=4))


def _state(trainer):
    """Every variable a checkpoint holds: networks (incl. BatchNorm statistics), optimizers, step."""
    variables = [v for network in [trainer.generator, *trainer.discriminators] for v in network.variables]
    variables += list(trainer.generator_optimizer.variables) + list(trainer.discriminator_optimizer.variables)
    return [np.array(v.numpy()) for v in variables] + [int(trainer.step.numpy())]


def _assert_same(a, b, **tolerance):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, **tolerance)


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    """Trainer A: 2 steps, checkpoint at 2, then a third step; B: fresh weights (another seed)."""
    from physstd.train import checkpoints
    from physstd.train.loop import write_run_flags
    from physstd.data.toy import random_batch

    run_dir = str(tmp_path_factory.mktemp("run"))
    batch = random_batch(N, PAIRS, seed=1)
    a = _trainer(seed=0)
    for _ in range(2):
        a.train_step(batch)
    saved = checkpoints.RunCheckpoints(a, run_dir, max_to_keep=3)
    saved.save(2)
    write_run_flags(run_dir, a.config, a.model_config, num_landmarks=140)
    state_at_2 = _state(a)
    prediction_at_2 = a.predict(batch["spoof"]["image"])
    losses_3 = {k: float(v) for k, v in a.train_step(batch).items()}
    return dict(run_dir=run_dir, batch=batch, a=a, saved=saved, state_at_2=state_at_2,
                prediction_at_2=prediction_at_2, losses_3=losses_3, state_at_3=_state(a), b=_trainer(seed=7))


@pytest.mark.slow
def test_resume_restores_every_variable_and_continues_identically(saved_run):
    from physstd.train import checkpoints

    b = saved_run["b"]
    assert any(not np.array_equal(x, y) for x, y in zip(_state(b)[:-1], saved_run["state_at_2"][:-1]))
    path = checkpoints.RunCheckpoints(b, saved_run["run_dir"], max_to_keep=3).restore_latest()
    assert path.endswith("ckpt-2")
    _assert_same(_state(b), saved_run["state_at_2"], rtol=0, atol=0)
    losses = {k: float(v) for k, v in b.train_step(saved_run["batch"]).items()}
    assert losses == pytest.approx(saved_run["losses_3"], rel=1e-5, abs=1e-7)
    _assert_same(_state(b), saved_run["state_at_3"], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_an_unreadable_newest_checkpoint_falls_back_to_the_previous(saved_run, tmp_path):
    import shutil

    from physstd.train import checkpoints

    run_dir = str(tmp_path)
    shutil.copytree(os.path.join(saved_run["run_dir"], "checkpoints"), os.path.join(run_dir, "checkpoints"))
    manager = checkpoints.RunCheckpoints(saved_run["a"], run_dir, max_to_keep=3)
    newest = manager.save(3)
    # A crash leftover (temp shards of an unfinished save) must be ignored, and a truncated newest checkpoint
    # must not stop a resume.
    os.makedirs(os.path.join(run_dir, "checkpoints", "ckpt-4_temp"))
    with open(newest + ".data-00000-of-00001", "r+b") as stream:
        stream.truncate(100)
    b = saved_run["b"]
    path = checkpoints.RunCheckpoints(b, run_dir, max_to_keep=3).restore_latest()
    assert path.endswith("ckpt-2")
    _assert_same(_state(b), saved_run["state_at_2"], rtol=0, atol=0)


@pytest.mark.slow
def test_load_generator_returns_the_checkpointed_generator(saved_run):
    from physstd.methods.physstd.inference import load_generator

    generator, model_config = load_generator(saved_run["run_dir"])
    assert model_config == saved_run["a"].model_config
    out = generator(saved_run["batch"]["spoof"]["image"], training=False)
    for got, expected in zip(out, saved_run["prediction_at_2"]):
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)


def test_load_generator_names_the_missing_file(tmp_path):
    from physstd.methods.physstd.inference import load_generator

    with pytest.raises(ValueError, match="flags.json"):
        load_generator(str(tmp_path))


_SAVER = textwrap.dedent("""
    import os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import tensorflow as tf
    from physstd.train.checkpoints import RunCheckpoints

    class Holder:  # what a trainer gives RunCheckpoints: a step and a payload that encodes it
        def __init__(self):
            self.step = tf.Variable(0, dtype=tf.int64)
            self.payload = tf.Variable(tf.zeros([4, 1024, 1024]))
        def checkpoint_objects(self):
            return {"step": self.step, "payload": self.payload}

    holder = Holder()
    checkpoints = RunCheckpoints(holder, sys.argv[1], max_to_keep=2)
    restored = checkpoints.restore_latest()
    if restored is not None:
        assert float(tf.reduce_min(holder.payload)) == float(tf.reduce_max(holder.payload)) == int(holder.step)
    print("ready", int(holder.step), flush=True)
    while True:
        holder.step.assign_add(1)
        holder.payload.assign(tf.fill([4, 1024, 1024], float(holder.step.numpy())))
        checkpoints.save(int(holder.step))
""")


@pytest.mark.slow
def test_sigkill_at_any_moment_leaves_a_readable_checkpoint(tmp_path):
    """A 16 MB checkpoint saved back to back, the process SIGKILLed at three moments: every restart restores
    a consistent checkpoint (payload == step) and goes on from it."""
    script = tmp_path / "saver.py"
    script.write_text(_SAVER)
    run_dir = str(tmp_path / "run")
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    steps = []
    for delay in (0.7, 1.1, 1.5):
        child = subprocess.Popen([sys.executable, str(script), run_dir], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, env=env, text=True)
        line = child.stdout.readline()  # blocks until restored and ready
        assert line.startswith("ready"), line
        steps.append(int(line.split()[1]))
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait()
    # The restarts resumed from ever later checkpoints, and one more restart still reads the last one.
    child = subprocess.run([sys.executable, "-c", _SAVER.replace("while True:", "while False:"), run_dir],
                           capture_output=True, env=env, text=True, timeout=120)
    assert child.returncode == 0, child.stderr[-2000:]
    final = int(child.stdout.split()[1])
    assert steps[0] == 0 and steps[1] > 0 and steps[2] > steps[1] and final > steps[2]
