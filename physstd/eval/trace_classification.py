"""Spoof-medium classification from the disentangled traces (PhySTD paper, Sec. 4.4, Tab. 6 and Tab. 7).

With a trained PhySTD frozen, a small CNN learns to tell the spoof medium from the estimated additive traces
{B, C, T} alone (9 channels; the paper trains AlexNet on them), on the training split, and is tested on the test
split; the same CNN trained on the raw images gives the comparison the paper reports (80.6% on images vs 83.3%
on traces, OULU-NPU P1, 5 classes). Classes: 'category' groups the spoof types into live, print, replay, mask,
makeup, partial (Tab. 7, 6 classes); 'type' keeps every spoof type apart (Tab. 6 splits print and replay by
instrument, which are spoof *types* of their own only where a dataset names them so).

The paper also removes the spoof-type information from the preliminary mask P0 when training PhySTD for this
experiment; that is a training choice (train with a P0 of one region for all types), not done here.

Any method with a spoof trace runs it: the classifier reads the method's `classification_traces` (PhySTD: {B, C, T};
De-Spoof: its 6-channel spoof noise N, the method Tab. 6 compares with).

Reported per input ('traces', 'images'): accuracy = correct / all test samples, and the confusion matrix with one
row per true class ("Label") and one column per predicted class ("Predict"), the layout of Tab. 6/7; the command
writes them as trace_classification.json and trace_classification.md.

    python -m physstd.eval.trace_classification --run_dir=runs/<name> [--classes=category] [--output_dir=...]
"""
import os
import sys

import numpy as np

from physstd import cli, config, files, methods, runs
from physstd.data import pipeline, protocols, spoof_types
from physstd.methods import base

CATEGORY_ORDER = ("live", "print", "replay", "mask", "makeup", "partial")
INPUTS = ("traces", "images")


def class_of(spoof_type, scheme):
    """The class name of a spoof type: itself ('type') or its category ('category', Tab. 7)."""
    if scheme == "type":
        return spoof_type
    if scheme == "category":
        return spoof_types.BY_NAME[spoof_type].category
    raise ValueError(f"unknown class scheme {scheme!r}; expected 'category' or 'type'")


def class_names(spoof_type_names, scheme):
    """Sorted class names present among `spoof_type_names`: live first, then the paper's / registry order."""
    present = {class_of(name, scheme) for name in spoof_type_names}
    order = CATEGORY_ORDER if scheme == "category" else spoof_types.NAMES
    return [name for name in order if name in present]


def confusion_matrix(true, predicted, num_classes):
    """(num_classes, num_classes) int counts: row = true class, column = predicted class."""
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (np.asarray(true, int), np.asarray(predicted, int)), 1)
    return matrix


def confusion_markdown(matrix, names):
    """Tab. 6/7 layout: rows 'Label' (true class), columns 'Predict'."""
    lines = ["| Label \\ Predict | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for name, row in zip(names, matrix):
        lines.append(f"| {name} | " + " | ".join(str(int(v)) for v in row) + " |")
    return "\n".join(lines) + "\n"


def build_classifier(input_shape, num_classes, width=16, seed=0):
    """A small AlexNet-style CNN: conv5/2 - pool - conv3 - pool - conv3 - conv3 - global average pool - dense."""
    import keras

    keras.utils.set_random_seed(seed)
    layers = keras.layers
    return keras.Sequential([
        keras.Input(input_shape),
        layers.Conv2D(width, 5, strides=2, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(2 * width, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(4 * width, 3, padding="same", activation="relu"),
        layers.Conv2D(4 * width, 3, padding="same", activation="relu"),
        layers.GlobalAveragePooling2D(),
        layers.Dropout(0.3),
        layers.Dense(num_classes),
    ], name="medium_classifier")


def train_and_test(train_x, train_y, test_x, test_y, num_classes, epochs=30, batch_size=32, learning_rate=1e-3,
                   seed=0, width=16):
    """Train the CNN (class-balanced loss) on (train_x, train_y); returns (accuracy, confusion, predictions)."""
    import keras

    model = build_classifier(train_x.shape[1:], num_classes, width, seed)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    counts = np.bincount(train_y, minlength=num_classes)
    weights = {k: len(train_y) / (num_classes * counts[k]) for k in range(num_classes) if counts[k]}
    model.fit(train_x, train_y, epochs=epochs, batch_size=batch_size, class_weight=weights, shuffle=True, verbose=0)
    predicted = np.argmax(model.predict(test_x, batch_size=batch_size, verbose=0), axis=-1)
    matrix = confusion_matrix(test_y, predicted, num_classes)
    return float(np.trace(matrix) / matrix.sum()), matrix, predicted


def collect_inputs(traces_of, data_root, video_ids, image_size, frames_per_video=0, batch_size=32,
                   input_keys=("image",)):
    """{'traces': (F, N, N, c) float16, 'images': (F, N, N, 3) uint8}, and spoof type names (F,).

    traces_of: float32 images -> the traces the classifier learns from (a method's classification_traces of its
    Inference outputs; PhySTD: concat[B, C, T], 9 channels); for a method with more input_keys it takes the dict
    of Method.inference_inputs.

    frames_per_video > 0 keeps only the first that many frames of each video (the traces are 9 x N x N each).
    """
    import tensorflow as tf

    specs = {key: tf.TensorSpec([None, image_size, image_size, config.INPUT_CHANNELS[key]], tf.float32)
             for key in input_keys}
    additive_components = tf.function(traces_of, autograph=False,
                                      input_signature=[base.model_inputs(input_keys, specs)])

    traces, images, names = [], [], []
    for batch in pipeline.eval_dataset(data_root, list(video_ids), image_size, batch_size, input_keys=input_keys):
        keep = np.ones(len(batch["frame"]), bool)
        if frames_per_video:
            keep = batch["frame"].numpy() < frames_per_video
        if not keep.any():
            continue
        batch_images = batch["image"].numpy()[keep]
        kept = base.model_inputs(input_keys, {key: batch[key].numpy()[keep] for key in input_keys})
        traces.append(additive_components(kept).numpy().astype(np.float16))
        images.append(np.round(batch_images * 255).astype(np.uint8))   # exact: the frames are 8-bit PNGs
        names += [spoof_types.NAMES[t] for t in batch["spoof_type"].numpy()[keep]]
    if not names:
        raise ValueError(f"{data_root}: no frames in the given videos")
    return {"traces": np.concatenate(traces), "images": np.concatenate(images)}, np.array(names)


def as_float(x):
    """float32 CNN input: uint8 images scaled to [0, 1], float16 traces as they are."""
    return x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)


def run(run_dir, data_root="", split_dir="", protocol="", fold="", scheme="category", inputs=INPUTS, epochs=30,
        frames_per_video=0, batch_size=32, seed=0, log=print):
    """Sec. 4.4 on a run of any method with a trace (its classification_traces): CNNs on the training split's traces
    (and images), tested on the test split.

    data_root, split_dir, protocol, fold default to the run's own (flags.json). Returns a JSON-ready dict:
    classes, scheme, counts, and per input {accuracy, confusion (rows = true class)}.
    """
    import tensorflow as tf

    method = methods.of_run(run_dir)
    flags = runs.read_run_flags(run_dir)["train"]
    data_root = data_root or flags["data_root"]
    split_dir = split_dir or flags.get("split_dir") or os.path.join(data_root, "protocols")
    protocol = protocol or flags["protocol"]
    fold = fold or flags.get("fold") or None
    inference = method.load(run_dir)
    size = inference.image_size
    zeros = {key: tf.zeros((1, size, size, config.INPUT_CHANNELS[key])) for key in method.input_keys}
    if method.classification_traces(inference(method.inference_inputs(zeros))) is None:
        raise ValueError(f"{run_dir}: method {method.name!r} estimates no spoof trace to classify")

    def traces_of(inputs):
        return method.classification_traces(inference(inputs))

    protocols.check_identities(split_dir, protocol, fold, data_root)   # and load_split: no leaked video
    data = {}
    for subset in ("train", "test"):
        ids = protocols.load_split(split_dir, protocol, subset, fold)
        data[subset] = collect_inputs(traces_of, data_root, ids, size, frames_per_video, batch_size,
                                      method.input_keys)
        log(f"{subset}: {len(data[subset][1])} frames")
    names = class_names(data["train"][1], scheme)
    unseen = sorted({class_of(t, scheme) for t in data["test"][1]} - set(names))
    if unseen:
        raise ValueError(f"test classes {unseen} never occur in the training split of {protocol}; the classifier "
                         f"cannot learn them")
    index = {name: k for k, name in enumerate(names)}
    labels = {subset: np.array([index[class_of(t, scheme)] for t in data[subset][1]]) for subset in data}
    result = {"run_dir": os.path.abspath(run_dir), "method": method.name, "protocol": protocol, "fold": fold,
              "scheme": scheme, "classes": names, "train_samples": int(len(labels["train"])),
              "test_samples": int(len(labels["test"])), "epochs": epochs}
    for name in inputs:
        if name not in INPUTS:
            raise ValueError(f"unknown input {name!r}; expected some of {INPUTS}")
        train_x, test_x = (as_float(data[subset][0][name]) for subset in ("train", "test"))
        accuracy, matrix, _ = train_and_test(train_x, labels["train"], test_x, labels["test"], len(names), epochs,
                                             batch_size, seed=seed)
        result[name] = {"accuracy": accuracy, "confusion": matrix.tolist()}
        log(f"{name}: accuracy {100 * accuracy:.1f}% over {len(labels['test'])} test frames\n"
            + confusion_markdown(matrix, names))
    return result


def report_markdown(result):
    """The Markdown of a `run` result: where it ran, then the accuracy and confusion matrix of each input."""
    fold = f", fold {result['fold']}" if result["fold"] else ""
    lines = ["# Spoof medium classification (PhySTD paper, Sec. 4.4)", "",
             f"Run {result['run_dir']} (method {result['method']}), protocol {result['protocol']}{fold}, classes by "
             f"{result['scheme']}; trained on {result['train_samples']} frames, tested on {result['test_samples']}. "
             f"Rows: true class.", ""]
    for name in INPUTS:
        if name in result:
            lines += [f"On the {name}: accuracy {100 * result[name]['accuracy']:.1f}%", "",
                      confusion_markdown(np.array(result[name]["confusion"]), result["classes"])]
    return "\n".join(lines)


def main(argv):
    del argv
    from absl import flags as absl_flags

    values = absl_flags.FLAGS
    try:
        result = run(values.run_dir, values.data_root, values.split_dir, values.protocol, values.fold,
                     values.classes, values.inputs, values.epochs, values.frames_per_video, values.batch_size,
                     values.seed)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    output_dir = values.output_dir or os.path.join(values.run_dir, "eval", "trace_classification")
    os.makedirs(output_dir, exist_ok=True)
    files.write_json_atomic(os.path.join(output_dir, "trace_classification.json"), result)
    files.write_text_atomic(os.path.join(output_dir, "trace_classification.md"), report_markdown(result))
    print(f"written {os.path.join(output_dir, 'trace_classification.json')} and trace_classification.md")
    return 0


def _define_flags():
    from absl import flags

    flags.DEFINE_string("run_dir", None, "trained run directory of a method with a spoof trace (frozen)")
    flags.DEFINE_string("data_root", "", "prepared dataset (default: the run's)")
    flags.DEFINE_string("split_dir", "", "protocol split lists (default: the run's, else <data_root>/protocols)")
    flags.DEFINE_string("protocol", "", "protocol whose train/test splits are used (default: the run's)")
    flags.DEFINE_string("fold", "", "fold of the protocol (default: the run's)")
    flags.DEFINE_enum("classes", "category", ["category", "type"], "category: Tab. 7 classes; type: one per type")
    flags.DEFINE_list("inputs", list(INPUTS), "what the CNN sees: traces (the method's "
                      "classification_traces: PhySTD B, C, T; De-Spoof the noise N) and/or images")
    flags.DEFINE_integer("epochs", 30, "training epochs of the CNN")
    flags.DEFINE_integer("frames_per_video", 0, "use only the first frames of each video (0: all)")
    flags.DEFINE_integer("batch_size", 32, "batch size")
    flags.DEFINE_integer("seed", 0, "seed of the CNN's initial weights and shuffling")
    flags.DEFINE_string("output_dir", "", "default <run_dir>/eval/trace_classification")
    flags.mark_flag_as_required("run_dir")
    cli.register_ranges({"epochs": cli.at_least(1), "frames_per_video": cli.NON_NEGATIVE,
                         "batch_size": cli.at_least(1), "seed": cli.Range(0, 2 ** 32 - 1)})


if __name__ == "__main__":
    _define_flags()
    cli.run(main)
