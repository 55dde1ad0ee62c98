"""Several replicas: BatchNorm statistics synchronised across replicas, and two MultiWorkerMirroredStrategy
workers on 127.0.0.1 (ports picked at run time, every process under a timeout) against one process with the
same global batch; a killed worker makes the other exit without saving."""
import glob
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from physstd.train.config import TrainConfig

# Every test here starts worker processes: slow.
pytestmark = pytest.mark.slow

N = 32
STEPS_COMPARED = 4            # steps of the two-worker run compared with one process
LOSS_RTOL = 1e-4              # float32 sums in another order (all-reduce, E[x^2] - E[x]^2 variance) over 4 steps
WEIGHT_ATOL = 1e-5            # Adam moves a weight by at most ~lr = 5e-5 per step
LOST_WORKER_BOUND_S = 60      # the survivor must exit this soon after its peer is killed (measured: ~11 s)


def _env(**extra):
    return dict(os.environ, PYTHONPATH=os.getcwd(), CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2", **extra)


_BATCH_NORM = textwrap.dedent("""
    import json
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from physstd.models.layers import ConvBlock

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    halves = [np.random.default_rng(k).normal(50.0 * k, 1.0 + 99.0 * k, (3, 8, 8, 2)).astype(np.float32) for k in (0, 1)]
    with strategy.scope():
        blocks = {"auto": ConvBlock(4, name="auto"), "unsynchronized": ConvBlock(4, synchronized=False, name="u")}
        for block in blocks.values():
            block(tf.zeros((1, 8, 8, 2)))
    inputs = strategy.experimental_distribute_values_from_function(lambda ctx: tf.constant(halves[ctx.replica_id_in_sync_group]))
    out = {"synchronized": blocks["auto"].norm.synchronized}
    for name, block in blocks.items():
        strategy.run(tf.function(lambda x: block(x, training=True)), args=(inputs,))
        # Conv outputs of each half and of the global batch, for the reference moments.
        conv = [block.conv(h).numpy() for h in halves]
        out[name] = {"moving_mean": [v.numpy().tolist() for v in block.norm.moving_mean.value.values],
                     "moving_variance": [v.numpy().tolist() for v in block.norm.moving_variance.value.values],
                     "conv": [c.tolist() for c in conv]}
    print(json.dumps(out))
""")


def test_batch_norm_statistics_are_synchronized_across_replicas():
    """Two replicas see different data: synchronised BatchNorm gives both the moving statistics of the global
    batch (reference: numpy moments of the concatenated conv outputs, momentum 0.99 from mean 0, variance 1);
    unsynchronised, each replica keeps its own half's."""
    child = subprocess.run([sys.executable, "-c", _BATCH_NORM], capture_output=True, text=True, env=_env(),
                           timeout=180)
    assert child.returncode == 0, child.stderr[-3000:]
    out = json.loads(child.stdout.splitlines()[-1])
    assert out["synchronized"] is True  # built under a 2-replica strategy

    def expected(features):
        flat = features.reshape(-1, features.shape[-1]).astype(np.float64)
        return 0.01 * flat.mean(0), 0.99 + 0.01 * flat.var(0)

    sync = out["auto"]
    mean, variance_global = expected(np.concatenate([np.array(c) for c in sync["conv"]]))
    for replica in (0, 1):
        np.testing.assert_allclose(sync["moving_mean"][replica], mean, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(sync["moving_variance"][replica], variance_global, rtol=1e-5)
    alone = out["unsynchronized"]
    for replica in (0, 1):
        mean, variance = expected(np.array(alone["conv"][replica]))
        np.testing.assert_allclose(alone["moving_mean"][replica], mean, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(alone["moving_variance"][replica], variance, rtol=1e-5)
        # ... which are not the global batch's: the halves differ (mean 0 and 50, std 1 and 100).
        assert not np.allclose(alone["moving_variance"][replica], variance_global, rtol=1e-3)


# A worker: run_train.py, plus a dump of the generator's variables (BatchNorm statistics included) next to each
# checkpoint it takes part in, so that the test can compare the two workers.
_WORKER = textwrap.dedent("""
    import os, runpy, sys
    import numpy as np
    from physstd.methods.physstd import trainer as trainer_module
    from physstd.train import checkpoints

    dump_dir, trainers = sys.argv[1], []
    with open(os.path.join(dump_dir, "pid"), "w") as stream:
        stream.write(str(os.getpid()))
    original_init, original_save = trainer_module.PhySTDTrainer.__init__, checkpoints.RunCheckpoints.save

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        trainers.append(self)

    def save(self, step):
        path = original_save(self, step)
        state = {v.path: v.numpy() for v in trainers[-1].generator.variables}
        np.savez(os.path.join(dump_dir, "partial.npz"), **state)
        os.replace(os.path.join(dump_dir, "partial.npz"), os.path.join(dump_dir, f"state-{step}.npz"))
        return path

    trainer_module.PhySTDTrainer.__init__, checkpoints.RunCheckpoints.save = init, save
    sys.argv = ["run_train.py"] + sys.argv[2:]
    runpy.run_path("run_train.py", run_name="__main__")
""")


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _flags(toy_root, run_dir, num_steps):
    return [f"--data_root={toy_root}", "--protocol=toy", f"--run_dir={run_dir}", f"--image_size={N}",
            "--width=0.125", "--batch_size=4", "--steps=1", f"--num_steps={num_steps}", "--checkpoint_every=2",
            "--log_every=1", "--summary_every=1", "--image_summary_every=0", "--eval_max_videos=2"]


def _configs(toy_root, run_dir):
    """The single-process equivalent of _flags (same global batch, same data stream)."""
    from physstd.methods.physstd.config import PhySTDConfig
    from physstd.models import ModelConfig

    return (TrainConfig(data_root=toy_root, protocol="toy", run_dir=run_dir, batch_size=4,
                        method_config=PhySTDConfig(steps="1"), num_steps=STEPS_COMPARED, checkpoint_every=2,
                        log_every=1, summary_every=1, image_summary_every=0, eval_max_videos=2),
            ModelConfig(image_size=N, width=0.125))


def _scalars(run_dir, prefix="loss/"):
    import tensorflow as tf

    values = {}
    for path in glob.glob(os.path.join(run_dir, "tensorboard", "*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag.startswith(prefix):
                    values[(value.tag, event.step)] = float(tf.make_ndarray(value.tensor))
    return values


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    """Two workers train one run; once both have saved step STEPS_COMPARED, worker 1 is SIGKILLed."""
    from physstd.data.toy import write_toy_dataset

    base = tmp_path_factory.mktemp("multi_worker")
    toy_root = str(base / "toy")
    write_toy_dataset(toy_root, N, videos_per_class=2, frames_per_video=2)
    (base / "worker.py").write_text(_WORKER)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    run_dir, workers, logs = str(base / "run"), [], []
    for index in (0, 1):
        dumps = base / f"dumps{index}"
        dumps.mkdir()
        logs.append(open(base / f"worker{index}.log", "w+"))
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        command = ["timeout", "-s", "KILL", "240", sys.executable, str(base / "worker.py"), str(dumps),
                   *_flags(toy_root, run_dir, num_steps=1000), "--strategy=multi_worker"]
        # A session of its own: killing the group ends `timeout` and the worker under it together.
        workers.append(subprocess.Popen(command, stdout=logs[-1], stderr=subprocess.STDOUT, start_new_session=True,
                                        env=_env(TF_CONFIG=tf_config, TMPDIR=str(base))))
    try:
        wanted = [base / f"dumps{i}" / f"state-{STEPS_COMPARED}.npz" for i in (0, 1)]
        deadline = time.monotonic() + 200
        while not all(path.exists() for path in wanted):
            assert time.monotonic() < deadline and all(w.poll() is None for w in workers), \
                open(base / "worker0.log").read()[-3000:]
            time.sleep(0.1)
        os.killpg(workers[1].pid, signal.SIGKILL)
        killed = time.monotonic()
        workers[0].wait(timeout=LOST_WORKER_BOUND_S + 30)
        survivor_seconds = time.monotonic() - killed
    finally:
        for worker in workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
    states = [dict(np.load(path)) for path in wanted]
    output = open(base / "worker0.log").read()
    return dict(base=base, toy_root=toy_root, run_dir=run_dir, states=states, survivor_seconds=survivor_seconds,
                survivor_status=workers[0].returncode, survivor_output=output,
                pids=[int((base / f"dumps{i}" / "pid").read_text()) for i in (0, 1)])


def test_both_workers_hold_the_same_weights_and_batch_norm_statistics(two_workers):
    first, second = two_workers["states"]
    assert set(first) == set(second) and any("moving_mean" in name for name in first)
    for name in first:
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)


def test_two_workers_match_one_process_with_the_same_global_batch(two_workers, tmp_path, monkeypatch):
    """Losses of steps 1-4 (TensorBoard scalars) and the generator after step 4, BatchNorm statistics
    included, of the two-worker run and of one process running the same global batch of 2 pairs."""
    from physstd.train.loop import train
    from physstd.methods.physstd import trainer as trainer_module

    trainers, original_init = [], trainer_module.PhySTDTrainer.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        trainers.append(self)

    monkeypatch.setattr(trainer_module.PhySTDTrainer, "__init__", init)
    train(*_configs(two_workers["toy_root"], str(tmp_path)))
    single = _scalars(str(tmp_path))
    workers = {key: value for key, value in _scalars(two_workers["run_dir"]).items() if key[1] <= STEPS_COMPARED}
    assert set(workers) == set(single) and len(single) >= 4 * STEPS_COMPARED
    for key, value in single.items():
        assert workers[key] == pytest.approx(value, rel=LOSS_RTOL), key
    reference = {v.path: v.numpy() for v in trainers[-1].generator.variables}
    for name, value in two_workers["states"][0].items():
        np.testing.assert_allclose(value, reference[name], rtol=1e-4, atol=WEIGHT_ATOL, err_msg=name)


def test_only_the_chief_writes_the_run_directory(two_workers):
    run_dir = two_workers["run_dir"]
    assert sorted(os.listdir(run_dir)) == ["checkpoints", "flags.json", "tensorboard"]
    event_files = os.listdir(os.path.join(run_dir, "tensorboard"))
    chief, other = two_workers["pids"]
    assert len(event_files) == 1 and f".{chief}." in event_files[0] and f".{other}." not in event_files[0]


def test_a_killed_worker_makes_the_other_exit_without_saving_after_the_failed_step(two_workers):
    assert two_workers["survivor_seconds"] < LOST_WORKER_BOUND_S
    assert two_workers["survivor_status"] == 69, two_workers["survivor_output"][-3000:]
    errors = [line for line in two_workers["survivor_output"].splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "multi-worker training failed" in errors[0]
    assert "Traceback" not in two_workers["survivor_output"]
    # Every checkpoint the chief wrote is one that worker 1 completed too: none was written after a step the
    # lost worker never finished.
    import tensorflow as tf

    state = tf.train.get_checkpoint_state(os.path.join(two_workers["run_dir"], "checkpoints"))
    chief = {int(os.path.basename(p).split("-")[1]) for p in state.all_model_checkpoint_paths}
    completed_by_worker1 = {int(p.stem.split("-")[1]) for p in (two_workers["base"] / "dumps1").glob("state-*.npz")}
    assert STEPS_COMPARED in chief and chief <= completed_by_worker1
