"""Export a trained run as a TensorFlow SavedModel: `python run_export.py --run_dir=runs/<name> --export_dir=<dir>`.

The export holds the inference network(s) of the run's method (its flags.json; PhySTD for runs that name none) at
the latest checkpoint, with the calibration of <run_dir>/calibration.json (or a former alpha0.json; written by
run_test.py), and runs with TensorFlow alone; physstd/export.py documents its signatures and outputs.
"""
import sys

from absl import app, flags

from physstd import cli

flags.DEFINE_string("run_dir", None, "run directory (flags.json, checkpoints/, calibration.json)")
flags.DEFINE_string("export_dir", None, "SavedModel folder to write (a previous export there is replaced; a "
                    "folder holding anything else is refused); default <run_dir>/saved_model")
FLAGS = flags.FLAGS
flags.mark_flag_as_required("run_dir")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    import os

    import tensorflow as tf

    from physstd import export
    from physstd.eval import scoring

    tf.get_logger().setLevel("ERROR")
    export_dir = FLAGS.export_dir or os.path.join(FLAGS.run_dir, "saved_model")
    try:
        info = export.export_run(FLAGS.run_dir, export_dir)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    params = ", ".join(f"{name} = {value:.6g}" for name, value in info["params"].items())
    print(f"exported {FLAGS.run_dir} -> {export_dir}: method {info['method']}, N = {info['image_size']}, {params}, "
          f"threshold = {info['threshold']:.6g} ({scoring.describe_rule(info['threshold_rule'])} rule, chosen on "
          f"{info['calibration_split']}); "
          f"signatures {', '.join(info['signatures'])}")
    return 0


if __name__ == "__main__":
    cli.run(main)
