"""Train a method (PhySTD by default): `python run_train.py --flagfile=flags/<experiment>.flags --run_dir=runs/<name>`.

An existing --run_dir is resumed from its latest checkpoint. `--method=NAME --help` lists the shared training flags
and that method's (`--help` alone: every method's, each marked with its method; physstd/train/flags.py defines
them); a flag of another method is refused. physstd/train/stopping.py defines the exit statuses (0 done, 2 user
error: bad flag, flag of another method, bad data file, non-finite loss; 69 lost worker, 74 checkpoint not written,
75 another trainer holds the run directory, 130 SIGINT, 143 SIGTERM, also when the signal comes before the first
step).
"""
import sys

from absl import flags, logging

from physstd import cli, files, methods
from physstd.train import flags as train_flags

train_flags.define_flags()
for name in train_flags.help_flags(train_flags.method_in_argv(sys.argv)):
    flags.declare_key_flag(name)   # --help lists them, as it does the other entry points' flags


def main(argv):
    if len(argv) > 1:
        raise ValueError(f"unexpected arguments: {' '.join(argv[1:])}")
    config, model_config = train_flags.configs_from_flags()
    if not config.run_dir:
        raise ValueError("--run_dir is required")
    files.check_output_dir(config.run_dir)   # before the data and the networks load
    methods.get(config.method).check_config(config, model_config)   # e.g. De-Spoof's --dq_run, before TensorFlow
    from physstd.train import stopping
    try:
        with stopping.StopRequest(immediate=True):   # a signal while TensorFlow loads ends the start at once
            import tensorflow as tf

            from physstd.train.checkpoints import CheckpointSaveError
            from physstd.train.loop import NonFiniteLossError, train
            from physstd.train.run_lock import RunDirLocked
    except stopping.StartupStopped as stopped:
        print(f"stopped by {stopped} before training started; nothing saved")
        return stopping.signal_exit_status(stopped.signum)

    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # keep the console to the progress lines
    try:
        result = train(config, model_config)
    except NonFiniteLossError as error:
        print(f"error: {error}", file=sys.stderr)
        return stopping.EXIT_USER_ERROR
    except CheckpointSaveError as error:
        print(f"error: {error}", file=sys.stderr)
        return stopping.EXIT_SAVE_FAILED
    except RunDirLocked as error:
        print(f"error: {error}", file=sys.stderr)
        return stopping.EXIT_RUN_DIR_BUSY
    except KeyboardInterrupt:  # Ctrl-C before the loop started: nothing to save
        print("interrupted before training started; nothing saved", file=sys.stderr)
        return stopping.signal_exit_status("SIGINT")
    except tf.errors.OpError as error:
        if config.strategy != "multi_worker":
            raise
        print(f"error: {config.run_dir}: multi-worker training failed ({type(error).__name__}: a worker was lost "
              f"or a collective failed; TensorFlow's log above has the details); nothing was saved after the last "
              f"checkpoint; restart every worker to resume", file=sys.stderr)
        return stopping.EXIT_LOST_WORKER
    if result["stopped"]:
        when = "before the first step" if result["step"] is None else f"after step {result['step']}"
        print(f"stopped by {result['stopped']} {when}; run directory {config.run_dir} (run the same command to "
              f"resume)")
        return stopping.signal_exit_status(result["stopped"])
    print(f"done: step {result['step']} in {result['seconds']:.0f} s; run directory {config.run_dir}")
    return stopping.EXIT_COMPLETED


if __name__ == "__main__":
    cli.run(main)
