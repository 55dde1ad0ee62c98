"""The training run behind run_train.py: data, strategy, resume, the loop, NaN guard, checkpoints, summaries.

Shared by every method: the trainer, its dev-split score terms and its image grid come from the method named by
`config.method` (physstd.methods); nothing here depends on which method it is.

`train(config, model_config)` is resumable by construction: it restores the latest checkpoint of
`<run_dir>/checkpoints` (if any) and continues from its step. Checkpoints are written every
`checkpoint_every` steps and at the end, so a killed run loses at most `checkpoint_every` steps.
SIGTERM / SIGINT stop the loop at the next step boundary (physstd.train.stopping): the state after the last
counted step is saved as ckpt-<that step> and train() returns with `stopped` set to the signal's name. Before
the first step (startup, the first batch) a signal ends the startup at once and nothing is saved (`step` None).
The chief holds the run directory's lock (physstd.train.run_lock) from before its first write to it until
train() returns or raises; a second trainer on the same run directory gets RunDirLocked. Other
errors save the state after the last counted step only when no step was under way and the run is on one
process; a failed step (a lost worker's collective, say) may be partly applied and is never saved. A NaN/Inf
loss, or a non-finite variable at a save, stops the run with NonFiniteLossError naming the step and the loss,
and saves nothing: the last good checkpoint stays the newest. A failed save raises
checkpoints.CheckpointSaveError once; nothing more is written.

Data stream on resume: the pipeline draws every pair as a stateless function of (seed, pair index), but has
no way to start at a pair index without computing the pairs before it. A run therefore draws its stream from
`--seed` when it starts at step 0 and from a seed derived from (--seed, step) when it resumes at `step`:
reproducible for a given kill/resume history, though not batch-for-batch the stream of an uninterrupted run.
"""
import dataclasses
import os
import time

import numpy as np

from physstd import files, methods, runs
from physstd.data import pipeline, prepared, protocols, synthetic
from physstd.train import checkpoints as ckpt
from physstd.train import dev_eval, run_lock, stopping, summaries


class NonFiniteLossError(RuntimeError):
    """A loss or a variable became NaN/Inf; the run stops and keeps its last good checkpoint."""


@dataclasses.dataclass(frozen=True)
class DataSplits:
    root: str
    train_ids: list
    dev_ids: list
    dev_subset: str          # 'dev', or 'train' for protocols without a development set
    num_landmarks: int
    frame_limit: object      # SiW protocol 1 trains on the first 60 frames; None elsewhere
    sensor_depth_units: str = None   # the set's depth units, for a method that takes sensor depth


def make_strategy(name):
    """'multi_worker' -> MultiWorkerMirroredStrategy (TF_CONFIG); 'mirrored' -> MirroredStrategy on every
    local GPU (or the CPU); 'auto' -> MirroredStrategy when several GPUs are visible, else the default."""
    import tensorflow as tf

    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "mirrored" or (name == "auto" and len(gpus) > 1):
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def is_chief(strategy):
    """Whether this process writes the run directory (always true outside multi-worker training)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return resolver.task_type == "chief" or (resolver.task_type == "worker" and resolver.task_id == 0
                                             and "chief" not in resolver.cluster_spec().as_dict())


def ensure_synthetic(config, image_size):
    """Generate the synthetic set into data_root unless its protocol lists are already there (the generator
    resumes a set that an interrupted run left half-written). Videos in which dlib finds no face are
    reported and left out, as the preprocessing does for real data."""
    split_dir = config.split_dir or os.path.join(config.data_root, "protocols")
    if os.path.isdir(os.path.join(split_dir, config.protocol)):
        return
    print(f"generating the synthetic set into {config.data_root} (N = {image_size})", flush=True)
    identities = {"num_identities": config.synthetic_identities} if config.synthetic_identities else {}
    # workers=1: this process may already run TensorFlow's threads, and forking it for a pool is not safe.
    summary = synthetic.generate(config.data_root, image_size, seed=config.seed, workers=1, **identities)
    print(summary.format(), flush=True)
    if summary.prepared.done + summary.prepared.skipped == 0:
        raise ValueError(f"{config.data_root}: synthetic set generation produced no video")


def load_splits(config, image_size, input_keys=("image",)):
    """Video ids of the protocol's train and dev subsets, Q, the train frame limit and the depth units (a set
    without the inputs the method takes is refused here, before the data loads)."""
    if not config.data_root or not config.protocol:
        raise ValueError("--data_root and --protocol are required")
    meta = prepared.read_meta(config.data_root)
    if int(meta["image_size"]) != image_size:
        raise ValueError(f"{os.path.join(config.data_root, prepared.META_FILE)}: prepared at image_size "
                         f"{meta['image_size']}, but --image_size={image_size}")
    units = pipeline.sensor_depth_units(meta, config.data_root, input_keys)
    split_dir = config.split_dir or os.path.join(config.data_root, "protocols")
    fold = config.fold or None
    train_ids = protocols.load_split(split_dir, config.protocol, "train", fold)
    protocols.check_identities(split_dir, config.protocol, fold, config.data_root)   # no leaked test subject
    try:
        dev_ids, dev_subset = protocols.load_split(split_dir, config.protocol, "dev", fold), "dev"
    except protocols.SubsetMissing:  # SiW / SiW-M protocols have no dev set: the paper picks thresholds on train
        dev_ids, dev_subset = train_ids, "train"
    limit = protocols.protocol_info(split_dir, config.protocol).get("train_frame_limit")
    return DataSplits(config.data_root, train_ids, dev_ids, dev_subset, int(meta["num_landmarks"]), limit, units)


def stream_seed(seed, start_step):
    """Seed of the data stream of a run (re)started at start_step (module doc)."""
    if start_step == 0:
        return int(seed)
    return int(np.random.SeedSequence([int(seed), int(start_step)]).generate_state(1)[0] & 0x7FFFFFFF)


def check_run_model(run_dir, model_config, method=runs.DEFAULT_METHOD):
    """A run directory cannot be resumed with a different method or architecture: one clear error naming
    flags.json."""
    path = os.path.join(run_dir, ckpt.FLAGS_FILE)
    if os.path.exists(path):
        record = ckpt.read_run_flags(run_dir)
        if runs.run_method(record) != method:
            raise ValueError(f"{path}: this run trained method {runs.run_method(record)!r}, but --method={method}; "
                             f"use a new --run_dir")
        previous = record["model"]
        if previous != model_config.to_dict():
            raise ValueError(f"{path}: this run was trained with model {previous}, but the flags ask for "
                             f"{model_config.to_dict()}; use a new --run_dir")


def write_run_flags(run_dir, config, model_config, num_landmarks, sensor_depth_units=None):
    """<run_dir>/flags.json: every train flag, the ModelConfig and Q (rewritten on each start); for a method that
    takes sensor depth, the training set's depth units too (the export's raw-depth signature takes them)."""
    record = {"train": config.to_dict(), "model": model_config.to_dict(), "num_landmarks": int(num_landmarks)}
    if sensor_depth_units is not None:
        record[runs.SENSOR_DEPTH_UNITS] = sensor_depth_units
    files.write_json_atomic(os.path.join(run_dir, ckpt.FLAGS_FILE), record, sort_keys=True)


class _Run:
    """State of one train() call: trainer, checkpoints, summaries, iterator, last saved step."""

    def __init__(self, config, model_config):
        self.config, self.model_config = config, model_config
        self.method = methods.get(config.method)
        self.method.check_config(config, model_config)
        self.strategy = make_strategy(config.strategy)
        self.chief = is_chief(self.strategy)
        self.multi_worker = stopping.is_multi_worker(self.strategy)
        # Before anything touches the run directory (the startup cleanup of its checkpoint folder above all).
        self.lock = run_lock.RunDirLock(config.run_dir).acquire() if self.chief else None
        try:
            self._start(config, model_config)
        except BaseException:
            self.close()
            raise

    def close(self):
        """Release the run directory (the lock); safe to call twice."""
        if self.lock is not None:
            self.lock.release()

    def _start(self, config, model_config):
        import keras
        import tensorflow as tf

        if self.lock is not None and self.lock.note:
            print(self.lock.note, flush=True)
        if config.synthetic and self.chief:
            ensure_synthetic(config, model_config.image_size)
        check_run_model(config.run_dir, model_config, config.method)
        self.data = load_splits(config, model_config.image_size, self.method.input_keys)
        keras.utils.set_random_seed(config.seed)   # --seed fixes the initial weights (a resumed run restores its own)
        self.trainer = self.method.trainer(model_config, config, self.data.num_landmarks, self.strategy)
        self.checkpoints = ckpt.RunCheckpoints(self.trainer, config.run_dir, config.keep_checkpoints, self.chief)
        removed = self.checkpoints.remove_leftovers()
        if removed:
            print(f"removed what interrupted saves left in {self.checkpoints.directory}: {', '.join(removed)}",
                  flush=True)
        restored = self.checkpoints.restore_latest()
        if self.checkpoints.recovery:
            print(self.checkpoints.recovery, flush=True)
        self.start = int(self.trainer.step.numpy())
        self.saved_step = self.start if restored else None
        print(f"{'resumed from ' + restored if restored else 'training from scratch'} at step {self.start}; "
              f"run directory {config.run_dir}", flush=True)
        dataset = pipeline.train_dataset(self.data.root, self.data.train_ids, model_config.image_size,
                                         config.pairs_per_batch, stream_seed(config.seed, self.start),
                                         frame_limit=self.data.frame_limit,
                                         max_brightness_delta=config.brightness_jitter,
                                         input_keys=self.method.input_keys,
                                         frames_per_video=config.frames_per_video)
        # A fixed batch for the image grids. It is also the first read of the data: a bad file fails here (the
        # entry point reports it via pipeline.data_error), before flags.json claims the run directory.
        self.visual_batch = next(iter(dataset))
        if self.chief:
            os.makedirs(config.run_dir, exist_ok=True)
            write_run_flags(config.run_dir, config, model_config, self.data.num_landmarks,
                            self.data.sensor_depth_units)
        self.iterator = iter(self.strategy.experimental_distribute_dataset(dataset))
        self.summaries = summaries.Summaries(os.path.join(config.run_dir, ckpt.TENSORBOARD_DIR), self.chief)
        self.eval_history = []
        self._tf = tf

    def save(self, step):
        """Checkpoint the state after `step` as ckpt-<step>, unless it is already saved; refuses
        (NonFiniteLossError) a non-finite state."""
        if self.saved_step == step:
            return
        if int(self.trainer.step.numpy()) != step:  # a checkpoint's name is its step variable
            raise RuntimeError(f"the loop is at step {step}, the trainer at {int(self.trainer.step.numpy())}")
        if not self.trainer.variables_finite():
            raise NonFiniteLossError(f"step {step}: a network or optimizer variable is NaN/Inf; not saved, "
                                     f"the last good checkpoint is {self.checkpoints.manager.latest_checkpoint}")
        self.checkpoints.save(step)
        self.saved_step = step

    def check_finite(self, step, losses):
        bad = {name: value for name, value in losses.items() if not np.isfinite(value)}
        if bad:
            name, value = sorted(bad.items())[0]
            raise NonFiniteLossError(
                f"step {step}: loss '{name}' is {value} (non-finite: {', '.join(sorted(bad))}); training stopped "
                f"without saving; the last good checkpoint is {self.checkpoints.manager.latest_checkpoint}")

    def write_summaries(self, step, losses, rate):
        lr = float(self.trainer.learning_rate())
        self.summaries.scalars(step, losses, prefix="loss/")
        self.summaries.scalars(step, {"learning_rate/generator": lr,
                                      "learning_rate/discriminator": lr * self.config.discriminator_lr_ratio,
                                      "speed/steps_per_second": rate})

    def write_images(self, step):
        visuals = {k: v.numpy() for k, v in self.trainer.visuals(self.visual_batch).items()}
        grid = self.method.image_grid(visuals)
        if grid is not None:
            image, description = grid
            self.summaries.image(step, "train/traces", image, description=description)

    def evaluate(self, step):
        """Dev AUCs at `step`: printed, written to TensorBoard and to <run_dir>/dev_eval.json."""
        index = {row["video_id"]: row["label"] for row in prepared.read_index(self.data.root)[0]}
        ids = dev_eval.select_videos(self.data.dev_ids, [index[v] for v in self.data.dev_ids],
                                     self.config.eval_max_videos)
        dataset = pipeline.eval_dataset(self.data.root, ids, self.model_config.image_size,
                                        self.config.eval_batch_size, input_keys=self.method.input_keys)
        labels, terms = dev_eval.frame_terms_of(self.method, self.trainer.predict, dataset)
        aucs, params = dev_eval.dev_aucs(self.method, labels, terms)
        print(f"step {step}: {self.data.dev_subset}-split frame AUC over {len(labels)} frames: "
              + " | ".join(f"{name} {value:.4f}" for name, value in aucs.items())
              + (" (" + ", ".join(f"{name} {value:.3g}" for name, value in params.items())
                 + " fitted on these frames)" if params else ""), flush=True)
        self.summaries.scalars(step, {f"{self.data.dev_subset}/auc_{name}": value for name, value in aucs.items()})
        aucs = {**aucs, **params, "frames": int(len(labels))}
        self.eval_history.append({"step": step, "subset": self.data.dev_subset, **aucs})
        if self.chief:
            files.write_json_atomic(os.path.join(self.config.run_dir, "dev_eval.json"), self.eval_history)
        return aucs


def train(config, model_config):
    """Train (or resume) the run `config.run_dir`; returns {'step', 'losses', 'dev', 'seconds', 'stopped'}:
    `stopped` is None for a completed run, else the name of the signal that stopped it ('dev' is then None, and
    'step' is None when the signal came before the first step)."""
    started = time.perf_counter()
    with stopping.StopRequest(immediate=True) as stop:
        run = None
        try:
            run = _Run(config, model_config)
            stop.defer(run.strategy)
        except stopping.StartupStopped as stopped:
            if run is not None:
                run.close()
            print(f"{stopped}: stopping before the first training step; nothing to save", flush=True)
            return {"step": None, "losses": {}, "dev": None, "seconds": time.perf_counter() - started,
                    "stopped": str(stopped)}
        try:
            return _train_loop(run, stop, started)
        finally:
            run.close()


def _train_loop(run, stop, started):
    c, step, losses = run.config, run.start, {}
    progress = summaries.ProgressLine(c.num_steps, step)
    in_step = False
    try:
        while step < c.num_steps and not stop.agreed():
            batch = next(run.iterator)
            in_step = True
            losses = {k: float(v) for k, v in run.trainer.train_step(batch).items()}
            step += 1
            in_step = False
            run.check_finite(step, losses)
            logged = step % c.log_every == 0 or step in (run.start + 1, c.num_steps)
            if logged or step % c.summary_every == 0:
                rate = progress.steps_per_second(step)
                if logged:
                    print(progress.format(step, losses, rate, float(run.trainer.learning_rate())), flush=True)
                if step % c.summary_every == 0 or step == c.num_steps:
                    run.write_summaries(step, losses, rate)
            if c.image_summary_every and (step % c.image_summary_every == 0 or step == c.num_steps):
                run.write_images(step)
            if step % c.checkpoint_every == 0:
                run.save(step)
            if c.eval_every and step % c.eval_every == 0 and step < c.num_steps:
                run.evaluate(step)
        if step < c.num_steps:  # stopped by a signal, at a step boundary
            if step == run.start and run.saved_step is None:   # the initial weights: nothing trained to save
                print(f"{stopping.signal_name(stop.signum)}: stopping before the first training step; nothing to "
                      f"save", flush=True)
            else:
                print(f"{stopping.signal_name(stop.signum)}: stopping after step {step}; saving", flush=True)
                run.save(step)
            return {"step": step, "losses": losses, "dev": None, "seconds": time.perf_counter() - started,
                    "stopped": stopping.signal_name(stop.signum)}
    except (NonFiniteLossError, ckpt.CheckpointSaveError):
        raise
    except Exception as error:  # a data or summary error: the state after `step` is consistent
        if in_step or run.multi_worker:
            print(f"failed during step {step + 1} ({type(error).__name__}); nothing saved after it", flush=True)
        else:
            print(f"stopped after step {step} ({type(error).__name__}: {error}); saving", flush=True)
            run.save(step)
        raise
    finally:
        run.summaries.flush()
    run.save(step)
    dev = run.evaluate(step)  # a signal now does not interrupt the evaluation of a completed run
    run.summaries.flush()
    return {"step": step, "losses": losses, "dev": dev, "seconds": time.perf_counter() - started, "stopped": None}
