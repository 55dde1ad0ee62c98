"""SavedModel inference speed (faces/s) next to the generator's FLOPs and this machine's measured float32 peak.

    .venv/bin/python -m benchmarks.inference [--image_size 256 --width 1 --batch_sizes 1,32 --repeats 5]

What it does:
1. builds the paper-size generator (N = 256, width 1; seeded random weights: speed does not depend on them) and
   exports it with physstd.export to a temporary folder, then loads it with tf.saved_model.load;
2. times the float32 serving signature (score, traces, live reconstruction: everything the export returns) at
   each batch size: median of --repeats calls after one untimed warm-up call, output copied to numpy;
3. counts the generator's floating-point operations per face twice: TensorFlow's profiler on the traced forward
   graph (tf.compat.v1 profiler, float_operation), and an analytic count of its convolutions
   (2 * k * k * C_in * C_out per output pixel of a conv, per input pixel of a transposed conv) from the same graph;
4. measures the machine's float32 peak twice, as the median GFLOP/s of a --matmul_size square matmul (2 n^3 FLOPs)
   and of a 3 x 3, 128 -> 128 channel convolution on a batch of 8 maps of 64 x 64 (the generator's own kind of
   op; on a CPU TensorFlow runs it through oneDNN, which can beat its matmul: on an AVX2 AMD EPYC the matmul
   alone gave a "peak" the generator exceeded by 30%), and takes the higher as the peak;
5. prints achieved GFLOP/s = profiler FLOPs per face * faces/s, and its fraction of that peak.
The first line names the device and the TensorFlow version; on a GPU the same figures hold (outputs copied back).
"""
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402
from benchmarks.flops import CONV_PEAK_SIZE, MATMUL_PEAK_SIZE, describe_peak, measured_peak  # noqa: E402
from benchmarks.timing import median_seconds  # noqa: E402
from physstd.flops import convolution_flops, profiler_flops  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("image_size", 256, "N: face crops are N x N (paper: 256).")
flags.DEFINE_float("width", 1.0, "Generator width multiplier (paper: 1).")
flags.DEFINE_list("batch_sizes", ["1", "32"], "Batch sizes to time.")
flags.DEFINE_integer("repeats", 5, "Timed calls per measurement (median reported).")
flags.DEFINE_integer("matmul_size", MATMUL_PEAK_SIZE, "Side of the square float32 matmul that measures the peak.")
flags.DEFINE_integer("conv_size", CONV_PEAK_SIZE,
                     "Side of the feature maps of the 3 x 3 convolution that measures the peak.")
flags.DEFINE_integer("seed", 0, "Seed of the weights and the input faces.")


def forward_graph(generator, image_size):
    """The traced inference graph of the generator for one face."""
    function = tf.function(lambda images: generator(images, training=False))
    return function.get_concrete_function(tf.TensorSpec([1, image_size, image_size, 3], tf.float32)).graph


def main(argv):
    del argv
    import keras
    from absl import logging

    logging.set_verbosity(logging.WARNING)
    tf.get_logger().setLevel("ERROR")

    from physstd import export
    from physstd import methods
    from physstd.methods.physstd.generator import Generator
    from physstd.methods.physstd.inference import PhySTDInference
    from physstd.models import ModelConfig

    device = tf.config.list_logical_devices("GPU")
    print(f"device: {'GPU ' + device[0].name if device else 'CPU'} ({os.cpu_count()} CPUs), "
          f"TensorFlow {tf.__version__}")
    keras.utils.set_random_seed(FLAGS.seed)
    size = FLAGS.image_size
    model_config = ModelConfig(image_size=size, width=FLAGS.width)
    generator = Generator(model_config)
    generator(tf.zeros((1, size, size, 3)), training=False)
    parameters = int(sum(np.prod(v.shape) for v in generator.variables))
    graph = forward_graph(generator, size)
    flops_profiler, flops_conv = profiler_flops(graph), convolution_flops(graph)
    print(f"generator N = {size}, width {FLAGS.width}: {parameters / 1e6:.2f} M parameters; per face "
          f"{flops_profiler / 1e9:.2f} GFLOP (TF profiler), {flops_conv / 1e9:.2f} GFLOP in convolutions (analytic)")
    peak, peaks = measured_peak(FLAGS.matmul_size, FLAGS.conv_size, FLAGS.repeats)
    print(describe_peak(peak, peaks))
    with tempfile.TemporaryDirectory() as folder:
        export_dir = os.path.join(folder, "model")
        export.export_saved_model(PhySTDInference(generator, model_config), methods.get("physstd"),
                                  export_dir, params={"alpha0": 1.0}, threshold=0.0)
        serve = tf.saved_model.load(export_dir).signatures[export.SIGNATURE_FLOAT32]
        rng = np.random.default_rng(FLAGS.seed)
        print("| batch | ms / call | faces / s | GFLOP/s | fraction of peak |")
        print("|---:|---:|---:|---:|---:|")
        for batch in (int(b) for b in FLAGS.batch_sizes):
            images = tf.constant(rng.uniform(0, 1, (batch, size, size, 3)).astype(np.float32))
            seconds = median_seconds(lambda: {k: v.numpy() for k, v in serve(images=images).items()},
                                     FLAGS.repeats)
            faces = batch / seconds
            achieved = flops_profiler * faces / 1e9
            print(f"| {batch} | {1e3 * seconds:.1f} | {faces:.2f} | {achieved:.1f} | {100 * achieved / peak:.1f}% |")


if __name__ == "__main__":
    app.run(main)
