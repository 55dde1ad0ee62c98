"""On-device and cross-runtime exports of a trained run: LiteRT (.tflite) and ONNX (.onnx) next to the SavedModel.

    run_export.py --run_dir=R --export_dir=E --format=savedmodel,litert,onnx

writes, for an export folder E (physstd.export: the SavedModel, the reference every other format is checked
against):

    E/                        the SavedModel (--format=savedmodel)
    E.float32.tflite          LiteRT, float32                                       (--format=litert, variants below)
    E.float16.tflite          LiteRT, float16 weights (computed in float32 on a CPU)
    E.dynamic_int8.tflite     LiteRT, int8 weights, activations quantised per call (dynamic range)
    E.int8.tflite             LiteRT, full integer: int8 weights and activations, the activation ranges calibrated
                              on frames of the run's train or dev split (never test)
    E.onnx                    ONNX, opset ONNX_OPSET, converted with tf2onnx       (--format=onnx)

Every file holds the graph of the SavedModel's serving_default without its input checks (the method's score with
its fitted parameters, the decision at the calibrated threshold and the method's maps: the same outputs under the
same names) and carries the SavedModel's info record (physstd_export.json: method, N, score parameters, threshold,
calibration split, model config, output names) plus `format`, `variant` and `input`, as a JSON string in its own
metadata: the LiteRT metadata entry METADATA_NAME, the ONNX model property METADATA_NAME. No side file is needed.
The input of every converted file is float32 (batch, N, N, 3) in [0, 1] (LiteRT: batch 1; the full-integer file
quantises its input in its first op, so its interface stays float32); physstd.deploy.runtime feeds uint8 crops as
crops / 255, as the SavedModel's uint8 signature does. A model that takes sensor depth has a second input, `depth`
float32 (batch, N, N, 1) in [0, 1], the depth normalised as the SavedModel's float32 signature takes it (the info
record's "inputs", "depth_units" and "depth_normalisation" say how); physstd.deploy.runtime normalises raw depth
with the training pipeline's function before feeding it.

This module is free of TensorFlow: physstd.deploy.convert converts (TensorFlow, tf2onnx), physstd.deploy.runtime
runs an export with the LiteRT interpreter (ai-edge-litert) or ONNX Runtime, or TensorFlow for a SavedModel.
"""
import os
import re

FORMATS = ("savedmodel", "litert", "onnx")
LITERT_VARIANTS = ("float32", "float16", "dynamic_int8", "int8")
METADATA_NAME = "physstd_export"
ONNX_OPSET = 17
DEFAULT_CALIBRATION_FRAMES = 300
CALIBRATION_SPLITS = ("train", "dev")
LITERT_SUFFIX, ONNX_SUFFIX = ".tflite", ".onnx"
# What each converted format needs installed to run it and to write it, and the extra of setup.py that installs it.
EXTRAS = {"litert": {"run": ("ai_edge_litert",), "write": ("ai_edge_litert",),
                     "install": "pip install -e '.[litert]' (ai-edge-litert)"},
          "onnx": {"run": ("onnxruntime",), "write": ("onnxruntime", "onnx", "tf2onnx"),
                   "install": "pip install -e '.[onnx]' (tf2onnx, onnx, onnxruntime)"}}


def parse_choices(values, choices, flag):
    """The comma-separated (or listed) `values` as a tuple in the order given, each once; a value not in `choices`
    raises one ValueError naming the flag and the choices."""
    if isinstance(values, str):
        values = values.split(",")
    chosen = []
    for value in (v.strip() for v in values):
        if value not in choices:
            raise ValueError(f"{flag}: unknown value {value!r}; choose from {', '.join(choices)} (comma-separated)")
        if value not in chosen:
            chosen.append(value)
    if not chosen:
        raise ValueError(f"{flag}: give at least one of {', '.join(choices)}")
    return tuple(chosen)


def check_calibration_split(split):
    """Refuse (one ValueError naming the flag) a calibration split other than train or dev."""
    if split not in CALIBRATION_SPLITS:
        raise ValueError(f"--calibration_split={split}: the int8 calibration and the conversion check draw frames from "
                         f"the run's {' or '.join(CALIBRATION_SPLITS)} split, never test (test frames measure the "
                         f"converted model)")


def check_request(formats, variants=LITERT_VARIANTS, calibration_split="train", float_layers=None):
    """(formats, variants) as tuples, after checking every export setting; one ValueError naming the flag otherwise
    (the calibration split is train or dev, never test). float_layers None: the method's own default."""
    formats = parse_choices(formats, FORMATS, "--format")
    variants = parse_choices(variants, LITERT_VARIANTS, "--litert_variants")
    check_calibration_split(calibration_split)
    try:
        re.compile(float_layers or "")
    except re.error as error:
        raise ValueError(f"--int8_float_layers={float_layers!r}: not a regular expression ({error})") from None
    return formats, variants


def litert_path(export_dir, variant):
    """<export_dir>.<variant>.tflite: the LiteRT file of one variant, next to the SavedModel folder."""
    return f"{os.path.abspath(os.fspath(export_dir))}.{variant}{LITERT_SUFFIX}"


def onnx_path(export_dir):
    """<export_dir>.onnx, next to the SavedModel folder."""
    return f"{os.path.abspath(os.fspath(export_dir))}{ONNX_SUFFIX}"


def format_of(path):
    """'litert' for a .tflite file, 'onnx' for a .onnx file, 'savedmodel' for anything else (a folder)."""
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    return {LITERT_SUFFIX: "litert", ONNX_SUFFIX: "onnx"}.get(suffix, "savedmodel")
