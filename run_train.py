"""Train PhySTD: `python run_train.py --flagfile=flags/<experiment>.flags --run_dir=runs/<name>`.

An existing --run_dir is resumed from its latest checkpoint. See physstd/train/flags.py for every flag.
"""
import sys

from absl import app, flags, logging

from physstd.train import flags as train_flags

train_flags.define_flags()


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    from physstd.train.loop import NonFiniteLossError, train

    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # keep the console to the progress lines
    config, model_config = train_flags.configs_from_flags()
    if not config.run_dir:
        raise app.UsageError("--run_dir is required")
    try:
        result = train(config, model_config)
    except NonFiniteLossError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"done: step {result['step']} in {result['seconds']:.0f} s; run directory {config.run_dir}")
    return 0


if __name__ == "__main__":
    app.run(main)
