"""Train PhySTD: `python run_train.py --flagfile=flags/<experiment>.flags --run_dir=runs/<name>`.

An existing --run_dir is resumed from its latest checkpoint. `--help` lists the training flags
(physstd/train/flags.py defines them). Exit status 2 on a user error (bad flag, bad data file, non-finite loss).
"""
import sys

from absl import flags, logging

from physstd import cli, files
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
    from physstd.train.loop import NonFiniteLossError, train

    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # keep the console to the progress lines
    try:
        result = train(config, model_config)
    except NonFiniteLossError as error:
        print(f"error: {error}", file=sys.stderr)
        return cli.EXIT_USER_ERROR
    print(f"done: step {result['step']} in {result['seconds']:.0f} s; run directory {config.run_dir}")
    return 0


if __name__ == "__main__":
    cli.run(main)
