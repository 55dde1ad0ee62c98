"""Train PhySTD: `python run_train.py --flagfile=flags/<experiment>.flags --run_dir=runs/<name>`.

An existing --run_dir is resumed from its latest checkpoint. `--help` lists the training flags
(physstd/train/flags.py defines them); physstd/train/stopping.py defines the exit statuses (0 done, 2 user error:
bad flag, bad data file, non-finite loss; 69 lost worker, 74 checkpoint not written, 130 SIGINT, 143 SIGTERM).
"""
import sys

from absl import flags, logging

from physstd import cli, files, methods
from physstd.train import flags as train_flags

train_flags.define_flags()
flags.adopt_module_key_flags(train_flags)   # --help lists them, as it does the other entry points' flags


def main(argv):
    if len(argv) > 1:
        raise ValueError(f"unexpected arguments: {' '.join(argv[1:])}")
    config, model_config = train_flags.configs_from_flags()
    if not config.run_dir:
        raise ValueError("--run_dir is required")
    files.check_output_dir(config.run_dir)   # before the data and the networks load
    methods.get(config.method).check_config(config, model_config)   # e.g. De-Spoof's --dq_run, before TensorFlow
    import tensorflow as tf

    from physstd.train import stopping
    from physstd.train.checkpoints import CheckpointSaveError
    from physstd.train.loop import NonFiniteLossError, train

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
        print(f"stopped by {result['stopped']} after step {result['step']}; run directory {config.run_dir} "
              f"(run the same command to resume)")
        return stopping.signal_exit_status(result["stopped"])
    print(f"done: step {result['step']} in {result['seconds']:.0f} s; run directory {config.run_dir}")
    return stopping.EXIT_COMPLETED


if __name__ == "__main__":
    cli.run(main)
