"""Converting a trained run to LiteRT and ONNX (physstd.deploy describes the files).

The graph converted is the SavedModel's (physstd.export.ServingModule) without its input checks, with every
variable frozen into a constant. LiteRT: TensorFlow's converter (tf.lite.TFLiteConverter) on that function at
batch 1; the variants differ only in their optimisation settings (float16 weights; dynamic-range int8; full
integer int8 calibrated on `calibration_frames` frames of the run's train or dev split). ONNX: tf2onnx's
from_function at opset deploy.ONNX_OPSET, with a free batch dimension.

A method that takes sensor depth (Method.input_keys ("image", "sensor_depth")) converts with two inputs, `images` and
`depth`, the names and meaning of the SavedModel's float32 signature (depth normalised to [0, 1] as the training
pipeline normalised it); the int8 calibration and the check draw each frame's depth with it.

Every converted file is checked before it is written: it runs (LiteRT interpreter / ONNX Runtime, as a user runs it)
on CHECK_FRAMES frames of the calibration split next to the TensorFlow graph it came from, and its largest score
difference and decision flips go into its metadata ("check") and the export's log line.

Selective quantisation of the full-integer file: the ops outside the networks stay float32 always (network_edges
says which and why); `float_layers`, a regular expression, keeps the ops whose output tensor names it matches in
float32 too (names of the calibrated model, as the per-layer comparison of benchmarks/export_formats.py prints them).
"""
import functools
import json
import os
import re
import tempfile
import warnings

import numpy as np
import tensorflow as tf
from tensorflow.python.framework import convert_to_constants

from physstd import deploy, export, files, methods, runs
from physstd.data import pipeline, prepared, protocols
from physstd.deploy import runtime
from physstd.eval import scoring
from physstd.ops import depth as depth_ops

CHECK_FRAMES = 16
DEFAULT_SEED = 0


# --- the graph ------------------------------------------------------------------------------------------------------
def input_specs(module, batch_size=None):
    """The TensorSpecs of a ServingModule's float32 inputs: images (batch_size, N, N, 3), and for a two-input model
    depth (batch_size, N, N, 1), named as the SavedModel's signatures name them."""
    size = module.inference.image_size
    specs = [tf.TensorSpec([batch_size, size, size, 3], tf.float32, name="images")]
    if module.takes_depth:
        specs.append(tf.TensorSpec([batch_size, size, size, 1], tf.float32, name="depth"))
    return specs


def frozen_function(module, batch_size=None):
    """tf.function (images[, depth]) -> {output: tensor} of a ServingModule (input_specs), every variable a constant.

    Frozen here because the LiteRT converter keeps Keras 3 variables as resource variables: READ_VARIABLE ops that the
    interpreter finds uninitialised (every output NaN)."""
    specs = input_specs(module, batch_size)
    traced = tf.function(module.unchecked_outputs, input_signature=specs).get_concrete_function()
    names = sorted(traced.structured_outputs)   # the frozen function returns the outputs flat, in tf.nest's key order
    frozen = convert_to_constants.convert_variables_to_constants_v2(traced)
    if module.takes_depth:   # the argument names become the converted files' input names
        return tf.function(lambda images, depth: dict(zip(names, frozen(images, depth))), input_signature=specs)
    return tf.function(lambda images: dict(zip(names, frozen(images))), input_signature=specs)


# --- LiteRT ---------------------------------------------------------------------------------------------------------
def litert_converter(function, variant, representative=None):
    """A tf.lite.TFLiteConverter of a frozen batch-1 function set up for one of deploy.LITERT_VARIANTS;
    `representative` (variant 'int8' only): [frames (F, N, N, 3) float32 in [0, 1]], and for a two-input model their
    normalised depth (F, N, N, 1): the model's inputs, in the converted file's input order (_in_file_order)."""
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function()], tf.Module())
    if variant == "float32":
        return converter
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "int8":
        if representative is None or not len(representative[0]):
            raise ValueError("the full-integer int8 variant needs calibration frames")
        converter.representative_dataset = functools.partial(_samples, representative)
        # int8 kernels, and float ones for the ops litert_model keeps in float32.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
    elif variant != "dynamic_int8":
        raise ValueError(f"unknown LiteRT variant {variant!r}; expected one of {', '.join(deploy.LITERT_VARIANTS)}")
    return converter


def litert_model(function, variant, representative=None, float_layers=""):
    """(.tflite bytes without metadata, names of the ops kept float32) of a frozen batch-1 function.

    Variant 'int8' is quantised selectively: the ops outside the networks (network_edges: the input arithmetic before
    the first convolution, the score arithmetic after the last) stay float32, and those whose output tensor name
    matches the regular expression `float_layers` (re.search; names of the calibrated model). `representative`:
    the function's inputs in its own order, as litert_converter describes them."""
    if variant == "int8" and representative is not None:
        representative = _in_file_order(function, representative)
    converter = litert_converter(function, variant, representative)
    if variant != "int8":
        return converter.convert(), []
    with warnings.catch_warnings():   # the debugger's own checks run tf.lite.Interpreter, which warns it is deprecated
        warnings.simplefilter("ignore", UserWarning)
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=functools.partial(_samples, representative, 1))
        # Node names as the quantiser sees them: those of the calibrated float model (names change once quantised).
        nodes = network_edges(debugger.calibrated_model)
        if float_layers:
            pattern = re.compile(float_layers)
            nodes += [name for name in tensor_names(debugger.calibrated_model)
                      if pattern.search(name) and name not in nodes]
        # UNPACK (tf.unstack: the channels of RGB to HSV) shares its input's scale, so the quantiser quantises it from
        # its input whatever the node list says; only the type list keeps it float. No network here unstacks inside.
        try:
            debugger.options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=nodes,
                                                                             denylisted_ops=["UNPACK"])
        except ValueError:   # the debugger's check that some op is quantised
            raise ValueError("--litert_variants=int8: every op of this model stays float32 (outside its networks, "
                             "or matched by --int8_float_layers), so there is nothing to quantise; use the float32, "
                             "float16 or dynamic_int8 variant") from None
        return debugger.get_nondebug_quantized_model(), nodes


def _in_file_order(function, inputs):
    """The model inputs `inputs` (one array per argument of `function`, in its order) in the order of the converted
    file's inputs, the order in which the converter's calibrator and the quantisation debugger feed a list.

    The converter orders a two-input file's inputs by name (depth before images), not as the function takes them;
    a list in the function's order would calibrate each input on the other's values."""
    if len(inputs) == 1:
        return inputs
    from ai_edge_litert.interpreter import Interpreter

    float_file = tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function()],
                                                                 tf.Module()).convert()
    interpreter = Interpreter(model_content=float_file)
    tensor = {name: detail["index"] for name, detail in interpreter.get_signature_runner().get_input_details().items()}
    file_order = [detail["index"] for detail in interpreter.get_input_details()]   # the subgraph's inputs, in order
    arguments = [spec.name for spec in function.input_signature]
    return [inputs[arguments.index(name)] for name in sorted(tensor, key=lambda name: file_order.index(tensor[name]))]


def _samples(inputs, count=None):
    """Batch-1 samples of the model inputs `inputs` ([frames, depth?], each (F, ...), in the converted file's input
    order: _in_file_order), as the converter's representative dataset yields them: a list."""
    for index in range(len(inputs[0]) if count is None else count):
        yield [values[index:index + 1] for values in inputs]


def _graph(model):
    """(flatbuffer object of a .tflite model's main graph, the op kind name of each of its operators)."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    names = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    flat = flatbuffer_utils.read_model_from_bytearray(bytearray(model))
    codes = [flat.operatorCodes[op.opcodeIndex] for op in flat.subgraphs[0].operators]
    return flat.subgraphs[0], [names[max(code.builtinCode, code.deprecatedBuiltinCode)] for code in codes]


def tensor_names(model):
    """The output tensor names of every op of a .tflite model, in execution order."""
    graph, _ = _graph(model)
    return [graph.tensors[t].name.decode("utf-8") for op in graph.operators for t in op.outputs]


NETWORK_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV")


def network_edges(model):
    """Output tensor names of the ops of a .tflite model that lie outside its networks: every op that has no
    convolution (NETWORK_OPS) upstream of it or itself, or none downstream of it; and every op that computes one of
    the model's outputs (a map read by the score, or by the user, between two networks: De-Spoof's noise N feeds the
    DQ-Net, and int8 rounds most of its values, about 1e-3, to zero).

    These are the input arithmetic before the first convolution (the Eq. 9 frequency split of PhySTD, the RGB to HSV
    conversion of the Auxiliary and De-Spoof) and everything after the last convolution of each head (output
    nonlinearities, the L1 norms and means of the maps, the score, the decision). In int8 they lose what the score
    is made of: the split's high bands (I - [I]n2, a few grey levels) fall below one int8 step of the image's range;
    HSV's hue needs exact equality of a channel and the maximum, and its division meets a zero divisor; a sum over
    N^2 pixels saturates; the traces' L1 norm moves by more than the live/spoof difference. The per-layer comparison
    (python -m benchmarks.export_formats --layers) measured each."""
    graph, kinds = _graph(model)
    producer = {tensor: index for index, op in enumerate(graph.operators) for tensor in op.outputs}
    consumers = {}
    for index, op in enumerate(graph.operators):
        for tensor in op.inputs:
            consumers.setdefault(tensor, []).append(index)
    upstream, downstream = [False] * len(kinds), [False] * len(kinds)
    for index, op in enumerate(graph.operators):   # operators are stored in execution (topological) order
        upstream[index] = kinds[index] in NETWORK_OPS or any(
            upstream[producer[t]] for t in op.inputs if t in producer)
    for index in reversed(range(len(kinds))):
        downstream[index] = any(kinds[c] in NETWORK_OPS or downstream[c]
                                for t in graph.operators[index].outputs for c in consumers.get(t, ()))
    outputs = set(graph.outputs)
    return [graph.tensors[t].name.decode("utf-8") for index, op in enumerate(graph.operators)
            if not (upstream[index] and downstream[index]) or outputs & set(op.outputs) for t in op.outputs]


def with_metadata(model, info):
    """The .tflite bytes `model` with `info` (JSON) as its metadata entry deploy.METADATA_NAME."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    flat = flatbuffer_utils.read_model_from_bytearray(bytearray(model))
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(json.dumps(info, sort_keys=True).encode("utf-8"), np.uint8)
    flat.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = deploy.METADATA_NAME
    entry.buffer = len(flat.buffers) - 1
    flat.metadata = [m for m in (flat.metadata or []) if m.name != deploy.METADATA_NAME.encode()] + [entry]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(flat))


# --- ONNX -----------------------------------------------------------------------------------------------------------
def onnx_model(function, opset=deploy.ONNX_OPSET):
    """The ONNX ModelProto of a frozen function (free batch dimension); a ValueError when tf2onnx left an op that ONNX
    Runtime cannot run."""
    import logging

    import tf2onnx

    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    proto, _ = tf2onnx.convert.from_function(function, input_signature=function.input_signature, opset=opset)
    unsupported = sorted({node.op_type for node in proto.graph.node if node.domain not in ("", "ai.onnx")})
    if unsupported:
        raise ValueError(f"tf2onnx left ops ONNX Runtime cannot run: {', '.join(unsupported)}")
    return proto


def onnx_with_metadata(proto, info):
    """The .onnx bytes of a ModelProto with `info` (JSON) as its model property deploy.METADATA_NAME."""
    for entry in list(proto.metadata_props):
        if entry.key == deploy.METADATA_NAME:
            proto.metadata_props.remove(entry)
    entry = proto.metadata_props.add()
    entry.key, entry.value = deploy.METADATA_NAME, json.dumps(info, sort_keys=True)
    return proto.SerializeToString()


# --- frames of the run's data ---------------------------------------------------------------------------------------
def _split_draw(run_dir, split, count, seed):
    """(the prepared dataset, [(video, frame)]): `count` frames (all when fewer) drawn without replacement, seeded,
    from the videos of the run's protocol split `split` (train or dev; never test), in dataset order."""
    deploy.check_calibration_split(split)
    train = runs.read_run_flags(run_dir)["train"]
    data_root = train["data_root"]
    split_dir = train.get("split_dir") or os.path.join(data_root, "protocols")
    ids = protocols.load_split(split_dir, train["protocol"], split, train.get("fold") or None)
    dataset = prepared.PreparedDataset(data_root)
    pairs = [(video, k) for video in ids for k in range(int(dataset.row(video)["num_frames"]))]
    if not pairs:
        raise ValueError(f"{split_dir}: the {split} split of protocol {train['protocol']!r} has no frames")
    chosen = np.sort(np.random.default_rng(seed).choice(len(pairs), min(int(count), len(pairs)), replace=False))
    return dataset, [pairs[index] for index in chosen]


def split_frames(run_dir, split, count, seed=DEFAULT_SEED):
    """(F, N, N, 3) uint8: `count` frames (all when fewer) drawn without replacement, seeded, from the videos of the
    run's protocol split `split` (train or dev; never test), in dataset order."""
    dataset, chosen = _split_draw(run_dir, split, count, seed)
    return np.stack([dataset.load_frame(*pair) for pair in chosen])


def split_depth(run_dir, split, count, seed=DEFAULT_SEED):
    """(F, N, N, 1) float32 in [0, 1]: the sensor depth of the frames split_frames draws with the same arguments,
    normalised as the training pipeline normalised it (the set's depth_units)."""
    dataset, chosen = _split_draw(run_dir, split, count, seed)
    return normalised_depth(dataset, chosen)


def normalised_depth(dataset, frames):
    """(F, N, N, 1) float32 in [0, 1]: the sensor depth of `frames` [(video, frame index)] of a prepared RGB-D
    dataset, normalised as the training pipeline normalised it (the set's depth_units)."""
    units = pipeline.sensor_depth_units(dataset.meta, dataset.root, ("image", pipeline.SENSOR_DEPTH))
    size = int(dataset.image_size)
    raw = np.stack([pipeline.read_depth_frame(
        os.path.join(dataset.video_dir(video), pipeline.SENSOR_DEPTH, prepared.frame_filename(k)), units, (size, size))
        for video, k in frames])
    return depth_ops.normalise_sensor_depth(raw[..., None], units).numpy()


# --- writing --------------------------------------------------------------------------------------------------------
def check_replaceable_file(path, format_name):
    """Refuse (ValueError) an existing `path` that is not a physstd export of that format: writing the export would
    replace someone's file."""
    if not os.path.lexists(path):
        return
    if os.path.isfile(path) and not os.path.islink(path):
        try:
            runtime.read_metadata(path)
            return
        except ValueError:
            pass
    raise ValueError(f"{path}: exists and is not a physstd {format_name} export; the export replaces that file, so "
                     f"choose another --export_dir or remove it yourself")


def checked_targets(export_dir, formats, variants=deploy.LITERT_VARIANTS, calibration_split="train", float_layers=None):
    """[(format, variant, path)] of the converted files of `formats` (savedmodel excluded), after checking the settings
    (deploy.check_request), that each format's runtime is installed (the check runs the file) and that no file of
    someone else's would be replaced; one ValueError otherwise."""
    formats, variants = deploy.check_request(formats, variants, calibration_split, float_layers)
    found = []
    if "litert" in formats:
        found += [("litert", variant, deploy.litert_path(export_dir, variant)) for variant in variants]
    if "onnx" in formats:
        found.append(("onnx", "float32", deploy.onnx_path(export_dir)))
    for format_name in dict.fromkeys(name for name, _, _ in found):
        runtime.require(format_name, export_dir, "write")
    for format_name, _, path in found:
        check_replaceable_file(path, format_name)
    return found


def _run_calibration(run_dir, method):
    path = scoring.run_calibration_path(run_dir)
    if path is None:
        raise ValueError(f"{os.path.join(run_dir, scoring.CALIBRATION_FILENAME)}: no calibration (score parameters, "
                         f"threshold); run `python run_test.py --run_dir={run_dir}` first")
    return scoring.load_calibration(path, method)


def check_result(reference, converted):
    """{'max_score_difference', 'max_output_difference' {name: value}, 'decision_flips'} of a converted file's
    outputs against the TensorFlow graph's on the same frames."""
    differences = {key: float(np.max(np.abs(np.asarray(converted[key], np.float64) - reference[key])))
                   for key in sorted(reference) if key != "decision"}
    return {"max_score_difference": differences["score"], "max_output_difference": differences,
            "decision_flips": int(np.sum(np.asarray(converted["decision"]) != reference["decision"]))}


def export_converted(run_dir, export_dir, formats, variants=deploy.LITERT_VARIANTS, calibration_split="train",
                     calibration_frames=deploy.DEFAULT_CALIBRATION_FRAMES, float_layers=None, log=print):
    """Write the LiteRT and ONNX files of `formats` (physstd.deploy) of a run's latest checkpoint, with the run's
    calibration, next to the SavedModel folder `export_dir`. Returns [{format, variant, path, bytes, check}].
    float_layers: the int8 file's selective quantisation (litert_model); None: the method's int8_float_layers."""
    wanted = checked_targets(export_dir, formats, variants, calibration_split, float_layers)
    if not wanted:
        return []
    os.makedirs(os.path.dirname(os.path.abspath(os.fspath(export_dir))), exist_ok=True)
    method = methods.of_run(run_dir)
    if float_layers is None:
        float_layers = method.int8_float_layers
    calibration = _run_calibration(run_dir, method)
    params = method.check_params(dict(calibration["params"]), f"{run_dir}: score parameters")
    takes_depth = len(method.input_keys) > 1
    units = runs.run_depth_units(runs.read_run_flags(run_dir), run_dir) if takes_depth else None
    module = export.ServingModule(method.load(run_dir), method, params, calibration["threshold"], depth_units=units)
    info = export.export_info(module, method, params, calibration["threshold"], calibration["split"],
                              os.path.abspath(run_dir), calibration.get("threshold_rule"))
    del info["signatures"]
    size = info["image_size"]
    needs_int8 = any(variant == "int8" for _, variant, _ in wanted)
    count = max(CHECK_FRAMES, calibration_frames if needs_int8 else 0)
    # The model's inputs on the drawn frames, in its order: images, and for two inputs their normalised depth.
    inputs = [split_frames(run_dir, calibration_split, count).astype(np.float32) / np.float32(255.0)]
    if takes_depth:
        inputs.append(split_depth(run_dir, calibration_split, count))
    check_inputs = [values[:CHECK_FRAMES] for values in inputs]
    functions = {"litert": frozen_function(module, 1), "onnx": frozen_function(module)}
    reference = {key: np.asarray(value) for key, value in functions["onnx"](*check_inputs).items()}
    written = []
    for format_name, variant, path in wanted:
        batch = 1 if format_name == "litert" else "batch"
        described = f"images float32 ({batch}, {size}, {size}, 3) in [0, 1]"
        if takes_depth:
            described += f", depth float32 ({batch}, {size}, {size}, 1) in [0, 1] (normalised: depth_normalisation)"
        record = dict(info, format=format_name, variant=variant, input=described)
        if format_name == "litert":
            converted, kept_float = litert_model(functions["litert"], variant, inputs if variant == "int8" else None,
                                                 float_layers)
            if variant == "int8":
                record["quantization"] = {"calibration_split": calibration_split,
                                          "calibration_frames": len(inputs[0]), "interface": "float32",
                                          "float_layers": float_layers, "float_nodes": kept_float}
            serialize = functools.partial(with_metadata, converted)
        else:
            converted = onnx_model(functions["onnx"])
            record["opset"] = deploy.ONNX_OPSET
            serialize = functools.partial(onnx_with_metadata, converted)
        check = check_result(reference, _run_file(serialize(record), path, check_inputs))
        record["check"] = dict(check, split=calibration_split, frames=len(check_inputs[0]))
        data = serialize(record)
        files.write_bytes_atomic(path, data)
        written.append({"format": format_name, "variant": variant, "path": path, "bytes": len(data),
                        "check": record["check"]})
        log(f"{format_name} {variant} -> {path}: {len(data) / 1e6:.2f} MB; on {len(check_inputs[0])} "
            f"{calibration_split} frames max |score difference| {check['max_score_difference']:.2e} against the "
            f"TensorFlow graph, {check['decision_flips']} decision flips")
    return written


def _run_file(data, path, inputs):
    """The outputs of the export bytes `data` (a file named like `path`) on `inputs` (images[, depth]), run as a user
    runs it."""
    with tempfile.TemporaryDirectory() as folder:
        staged = os.path.join(folder, os.path.basename(path))
        files.write_bytes_atomic(staged, data)
        return runtime.load(staged).run(*inputs)
