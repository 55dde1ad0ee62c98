"""Stopping a training run at a step boundary on SIGTERM / SIGINT, and the exit statuses of run_train.py.

A signal only records that a stop was asked for; the loop looks at the record between two iterations, after the
step it just ran is counted, logged, summarised and (when due) saved. Nothing is interrupted halfway: not the
compiled step, not a summary write, not a checkpoint save. The stop checkpoint is therefore the state after the
last counted step, and its name equals its step variable. A second signal (during that save, say) is only
recorded once more; SIGKILL remains the way to end a run at once.

Before the loop (building the networks, restoring, reading the first batch: seconds, or minutes when the
synthetic set is generated) there is no step to finish, so a StopRequest made with `immediate=True` raises
StartupStopped from the handler at once; train() saves nothing then (nothing was trained since the last
checkpoint), releases the run directory and returns as stopped. `defer()` switches to recording when the loop
starts.

Written by hand rather than with tf.distribute.experimental.PreemptionCheckpointHandler (read in TF 2.21,
tensorflow/python/distribute/failure_handling/failure_handling.py), because that handler
- restores the newest checkpoint itself when it is built (CheckpointManager.restore_or_initialize), with no
  fallback to an older one when the newest is unreadable (checkpoints.RunCheckpoints.restore_latest has one);
- adds its own run-counter variable to the checkpoint, so checkpoints written before it no longer match;
- watches SIGTERM only (SIGINT would need a polling thread, up to 1 s late), and on a GCP CPU VM does nothing;
- probes the GCE metadata server over HTTP (up to 5 s) when it is built.
What it provides that we need, workers agreeing on the step to stop at, is one scalar all-reduce per step here
(`StopRequest.agreed`), on multi-worker runs only.
"""
import signal
import threading

from physstd.cli import EXIT_USER_ERROR  # noqa: F401 - 2: bad flag or input, or NaN/Inf (NonFiniteLossError)

# Exit statuses of run_train.py (documented in the README, section "Exit statuses").
EXIT_COMPLETED = 0
EXIT_LOST_WORKER = 69      # multi-worker: a peer or a collective failed (sysexits EX_UNAVAILABLE); nothing saved
EXIT_SAVE_FAILED = 74      # a checkpoint could not be written (sysexits EX_IOERR): disk full, permission
EXIT_RUN_DIR_BUSY = 75     # another trainer holds the run directory (sysexits EX_TEMPFAIL; run_lock.RunDirLocked)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def signal_exit_status(signum_or_name):
    """128 + the signal number, the shell's convention: 143 for SIGTERM, 130 for SIGINT."""
    if isinstance(signum_or_name, str):
        return 128 + int(signal.Signals[signum_or_name])
    return 128 + int(signum_or_name)


def signal_name(signum):
    return signal.Signals(signum).name


def is_multi_worker(strategy):
    """Whether replicas of `strategy` live in other processes (MultiWorkerMirroredStrategy over >1 worker)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return False
    spec = resolver.cluster_spec().as_dict()
    return sum(len(spec.get(job, ())) for job in ("chief", "worker")) > 1


class StartupStopped(BaseException):
    """A stop signal before the first training step (StopRequest(immediate=True)); a BaseException, as
    KeyboardInterrupt is, so that no `except Exception` of the startup code takes it for an error."""

    def __init__(self, signum):
        super().__init__(signal_name(signum))
        self.signum = signum


class StopRequest:
    """Records the first SIGTERM / SIGINT while installed (a context manager; main thread only). With
    immediate=True the signal raises StartupStopped instead, until defer() is called."""

    def __init__(self, strategy=None, immediate=False):
        self.signum = None
        self.immediate = immediate
        self._strategy = None
        self.attach(strategy)
        self._agree = None
        self._previous = {}

    def attach(self, strategy):
        """Agree on stops across the workers of `strategy` (a multi-worker one; others need no agreement)."""
        self._strategy = strategy if strategy is not None and is_multi_worker(strategy) else None

    def defer(self, strategy=None):
        """From now on a signal is only recorded (the training loop looks at it between steps)."""
        self.attach(strategy)
        self.immediate = False

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._record) for s in STOP_SIGNALS}
        return self

    def __exit__(self, *exc_info):
        # After a stop the process is on its way out: a later signal (a scheduler repeating SIGTERM while Python
        # and TensorFlow shut down) is ignored rather than turning a clean stop, already saved, into a kill.
        for signum, handler in self._previous.items():
            signal.signal(signum, signal.SIG_IGN if self.requested else handler)
        self._previous = {}

    def _record(self, signum, frame):
        if self.signum is None:  # the first signal decides the exit status
            self.signum = signum
            if self.immediate:
                raise StartupStopped(signum)

    @property
    def requested(self):
        """Whether this process received a stop signal."""
        return self.signum is not None

    def agreed(self):
        """Whether to stop now. On a multi-worker run every worker calls this once per iteration and all of
        them get the same answer (a SUM all-reduce of the local requests), so they stop after the same step and
        take part in the same save; a worker that did not receive the signal itself stops with SIGTERM's
        status."""
        if self._strategy is None:
            return self.requested
        import tensorflow as tf

        if self._agree is None:
            strategy = self._strategy

            @tf.function(autograph=False)
            def agree(local):
                per_replica = strategy.run(lambda: tf.identity(local))
                return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)
            self._agree = agree
        stop = float(self._agree(tf.constant(1.0 if self.requested else 0.0))) > 0
        if stop and self.signum is None:
            self.signum = signal.SIGTERM
        return stop
