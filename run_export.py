"""Export a trained run: `python run_export.py --run_dir=runs/<name> --export_dir=<dir> [--format=savedmodel,litert,onnx]`.

The export holds the inference network(s) of the run's method (its flags.json; PhySTD for runs that name none) at
the latest checkpoint, with the calibration of <run_dir>/calibration.json (or a former alpha0.json; written by
run_test.py). --format=savedmodel (the default) writes the TensorFlow SavedModel folder <export_dir>, which runs
with TensorFlow alone (physstd/export.py documents its signatures and outputs); litert writes <export_dir>.<variant>
.tflite files for the LiteRT interpreter (float32, float16, dynamic_int8, int8: --litert_variants) and onnx
<export_dir>.onnx for ONNX Runtime, each carrying the same calibration in its metadata (physstd/deploy/__init__.py).
"""
import sys

from absl import app, flags

from physstd import cli, deploy

flags.DEFINE_string("run_dir", None, "run directory (flags.json, checkpoints/, calibration.json)")
flags.DEFINE_string("export_dir", None, "SavedModel folder to write (a previous export there is replaced; a "
                    "folder holding anything else is refused); default <run_dir>/saved_model. The LiteRT and ONNX "
                    "files are written next to it, named after it")
flags.DEFINE_list("format", ["savedmodel"], f"formats to write, comma-separated: {', '.join(deploy.FORMATS)}")
flags.DEFINE_list("litert_variants", list(deploy.LITERT_VARIANTS),
                  f"LiteRT files to write with --format=litert: {', '.join(deploy.LITERT_VARIANTS)}")
flags.DEFINE_string("calibration_split", "train", "the split whose frames calibrate the int8 activation ranges and "
                    "check every converted file: train or dev (never test)")
flags.DEFINE_integer("calibration_frames", deploy.DEFAULT_CALIBRATION_FRAMES,
                     "frames drawn (seeded) from --calibration_split for the int8 calibration", lower_bound=1)
flags.DEFINE_string("int8_float_layers", None, "regular expression: int8 ops whose tensor names it matches stay "
                    "float32 (selective quantisation; the per-layer comparison of benchmarks/export_formats.py "
                    "finds them). Default: the method's own, the layers whose int8 error cost its accuracy on the "
                    "demo runs (PhySTD its stem, first stage-1 convolution, decoders and attention modules; De-Spoof its "
                    "DS-Net; LGSC its cue decoder; the multi-modal network its trace classifier, decoders and fusions; "
                    "the Auxiliary none); --int8_float_layers= keeps none")
FLAGS = flags.FLAGS
flags.mark_flag_as_required("run_dir")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    import os

    formats, variants = deploy.check_request(FLAGS.format, FLAGS.litert_variants, FLAGS.calibration_split,
                                             FLAGS.int8_float_layers)
    import tensorflow as tf

    from physstd import export
    from physstd.deploy import convert
    from physstd.eval import scoring

    tf.get_logger().setLevel("ERROR")
    export_dir = FLAGS.export_dir or os.path.join(FLAGS.run_dir, "saved_model")
    try:
        convert.checked_targets(export_dir, formats, variants)   # before minutes of SavedModel export
        if "savedmodel" in formats:
            info = export.export_run(FLAGS.run_dir, export_dir)
            params = ", ".join(f"{name} = {value:.6g}" for name, value in info["params"].items())
            print(f"exported {FLAGS.run_dir} -> {export_dir}: method {info['method']}, N = {info['image_size']}, "
                  f"{params}, threshold = {info['threshold']:.6g} ({scoring.describe_rule(info['threshold_rule'])} "
                  f"rule, chosen on {info['calibration_split']}); signatures {', '.join(info['signatures'])}")
        convert.export_converted(FLAGS.run_dir, export_dir, formats, variants, FLAGS.calibration_split,
                                 FLAGS.calibration_frames, FLAGS.int8_float_layers)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    cli.run(main)
