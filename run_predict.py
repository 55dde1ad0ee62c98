"""Score raw images or videos with an exported model of any method:
`python run_predict.py --model=<export> face.jpg clip.mp4 folder_of_images/ [--output_dir=predictions]`.

<export> is what run_export.py wrote: a SavedModel folder, a .tflite file (run by the LiteRT interpreter) or a .onnx
file (ONNX Runtime); --saved_model is the former name of --model and still works.
Faces are detected and cropped as in training (dlib, 68 landmarks), scored by the export, and
printed one line per face (and per video: the mean frame score). Writes <output_dir>/predictions.csv and, per
input, the method's trace figure and the Fig. 9 layout (physstd/predict.py documents the files; the Auxiliary
draws none). A model that takes sensor depth needs --depth (paired with the inputs; physstd/predict.py says how).
Exit status 1 when an input could not be scored (unreadable, no face).
"""
import sys

from absl import app, flags

from physstd import cli

flags.DEFINE_string("model", None, "export written by run_export.py: a SavedModel folder, a .tflite or a .onnx file")
flags.DEFINE_alias("saved_model", "model")
flags.DEFINE_string("output_dir", "predictions", "folder for predictions.csv and the figures")
flags.DEFINE_integer("every_k", 1, "videos: score frames 0, k, 2k, ...", lower_bound=1)
flags.DEFINE_integer("max_frames", 0, "videos: score at most this many frames (0: all)", lower_bound=0)
flags.DEFINE_integer("batch_size", 16, "faces per model call", lower_bound=1)
flags.DEFINE_bool("figures", True, "write the trace figures")
flags.DEFINE_string("depth", None, "sensor depth of the inputs, for a model that takes it: a depth image, or a folder "
                    "of them paired in natural order with the input images or the frames of one video")
FLAGS = flags.FLAGS
flags.mark_flag_as_required("model")


def main(argv):
    inputs = argv[1:]
    if not inputs:
        raise app.UsageError("give the images, videos or folders to score after the flags")
    from physstd import predict

    try:
        results = predict.predict_paths(FLAGS.model, inputs, FLAGS.output_dir, FLAGS.every_k,
                                        FLAGS.max_frames or None, FLAGS.figures, FLAGS.batch_size,
                                        depth=FLAGS.depth)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    failed = [result for result in results if result.failure]
    print(f"scored {len(results) - len(failed)} of {len(results)} inputs; {FLAGS.output_dir}/predictions.csv")
    return 1 if failed else 0


if __name__ == "__main__":
    cli.run(main)
