"""SavedModel export of a trained model of any method (physstd.methods): its score, decision and maps (PhySTD:
Eq. 10, the traces and the live reconstruction).

The export is a `tf.Module` saved with `tf.saved_model.save`; it loads and runs with TensorFlow alone (no
physstd import) in any process:

    model = tf.saved_model.load(export_dir)
    out = model.signatures["serving_default"](images=float32_batch)   # (batch, N, N, 3) in [0, 1]
    out = model.signatures["serving_uint8"](images=uint8_batch)       # (batch, N, N, 3) in 0..255
    out = model.serve(batch)     # the same, dispatched on the dtype (uint8 or float32) of `batch`

Two signatures because a serving signature has one input dtype; `serve` is a tf.function traced for both
dtypes, so Python callers need not choose. Inputs are face crops made by physstd's preprocessing
(physstd.data.preprocess.FacePreprocessor at the exported N). Each output is a dict of tensors. Every method
(physstd.methods) exports the two COMMON_OUTPUTS:

    score            (batch,) float32   the method's score with its fitted parameters; higher = attack
    decision         (batch,) int32     1 = attack (score >= threshold), 0 = bona fide

plus its score terms and maps (its Inference outputs). PhySTD's:

    score            (batch,) float32   Eq. 10 with consistent signs: alpha0 * trace_magnitude - depth_mean
    decision         (batch,) int32     1 = attack (score >= threshold), 0 = bona fide
    depth            (batch, K, K, 1)   the depth map M (K = N/8)
    B, C, T          (batch, N, N, 3)   additive trace components in [-1, 1]
    P                (batch, N, N, 1)   inpainting region in [0, 1]
    I_P              (batch, N, N, 3)   inpainted content in [0, 1]
    additive_trace   (batch, N, N, 3)   T_A = [B]n1 + [C]n2 + T (Eq. 5)
    live             (batch, N, N, 3)   the live reconstruction (1 - P)(I - T_A) + P I_P (Eq. 5)
    trace_magnitude  (batch,) float32   (||B||_1 + ||C||_1 + ||T||_1 + ||P||_1) / N^2
    depth_mean       (batch,) float32   ||M||_1 / K^2
    S                (batch, N, N, 3)   only for the 'stdn' and 'multiplicative' trace forms

The module also carries `image_size`, `threshold` and each fitted score parameter (PhySTD: `alpha0`) as variables,
and the export folder holds `physstd_export.json` (format 2: the method, the same numbers, the model config, the
calibration split and the threshold rule that chose the threshold (`threshold_rule`, scoring.threshold_rule; the
export applies the threshold alone, whatever rule chose it; info files without the key are EER exports), the source
run, the output names). Format-1 info files (PhySTD exports written before the
harness) are still read, as PhySTD exports.

Two inputs. A method that takes sensor depth (Method.input_keys ("image", "sensor_depth")) exports the same
signatures with a second input, `depth` (batch, N, N, 1), the sensor depth registered to the images and cropped
with them:

    out = model.signatures["serving_default"](images=float32_batch, depth=float32_depth)   # depth normalised, [0, 1]
    out = model.signatures["serving_uint8"](images=uint8_batch, depth=raw_depth)          # uint16 mm (0 = hole),
                                                                                           # or uint8 (depth_units)
    out = model.serve(images, depth)   # either pair, dispatched on the dtypes

The raw signature normalises the depth inside with physstd.ops.depth.normalise_sensor_depth, the function the
training pipeline used, in the units of the run's training set (flags.json). The info file then also holds
"inputs" (each input's shape and meaning), "depth_units" and "depth_normalisation" (the formula in words).

Wrong input fails at the boundary with a tf.debugging assertion naming the expected (batch, N, N, 3) shape
(and the [0, 1] range for float32 input); for depth, its (batch, N, N, 1) shape with the images' batch and the
[0, 1] range of float32 depth. A wrong dtype given to `serve` (float64 from numpy, float16, an integer
type other than uint8: REFUSED_DTYPES) fails the same way, with a message naming the two dtypes it takes; `serve`
is traced for those dtypes only to say so (TensorFlow's own dispatch error is a page of TensorSpecs). The two
signatures convert what they are given to their own dtype where TensorFlow can (numpy float64 to float32).

Writing over a previous export. The export is built in `<parent>/.tmp-<hex>-<name>/new` and swapped in: the
previous export moves to `.../previous`, the new one to `<parent>/<name>`, and the staging folder is removed. An
existing folder is replaced only when everything in it is what an export writes (EXPORT_FILES, EXPORT_FOLDERS),
so a file the user added (notes) is never deleted: the export refuses instead, naming it. A write that fails
(a full disk) raises ExportWriteError and leaves the previous export as it was; a process killed midway leaves
its staging folder, which the next export to the same target removes (putting the previous export back when the
kill came between the two renames). A staging folder is flock-ed while its export runs, so a concurrent export
to the same target never removes another's work in progress.
"""
import fcntl
import os
import re
import shutil
import uuid

import tensorflow as tf

from physstd import config, files, methods, runs
from physstd.eval import scoring
from physstd.ops import depth as depth_ops

SIGNATURE_FLOAT32 = "serving_default"
SIGNATURE_UINT8 = "serving_uint8"
INFO_FILE = "physstd_export.json"
INFO_FORMAT_VERSION = 2
# Float input may stray this far outside [0, 1] (resampling overshoot) before it is refused; it is then clipped.
RANGE_TOLERANCE = 1e-3
# Dtypes `serve` refuses with dtype_message (any other dtype gets TensorFlow's dispatch error).
REFUSED_DTYPES = (tf.float16, tf.bfloat16, tf.float64, tf.int8, tf.int16, tf.int32, tf.int64, tf.uint16, tf.uint32)
COMMON_OUTPUTS = ("score", "decision")
# The signatures' argument of each input key (physstd.config.INPUT_CHANNELS), and the input keys an export takes.
INPUT_NAMES = {"image": "images", "sensor_depth": "depth"}
INPUT_KEYS = (("image",), ("image", "sensor_depth"))
# What an export folder holds (tf.saved_model.save in TF 2.21 writes all but INFO_FILE; `assets/` stays empty):
# files at its top, and the files each of its folders may hold.
EXPORT_FILES = ("saved_model.pb", "fingerprint.pb", INFO_FILE)
EXPORT_FOLDERS = {"variables": re.compile(r"variables\.(index|data-\d+-of-\d+)$"), "assets": re.compile(r"(?!)")}
_STAGED_NEW, _STAGED_PREVIOUS = "new", "previous"


class ExportWriteError(OSError):
    """The export could not be written (a full disk, permission); the previous export is unchanged."""


def shape_message(image_size):
    """The one sentence every input-shape error of an export carries."""
    return (f"physstd SavedModel: images must be a batch of face crops of shape (batch, {image_size}, "
            f"{image_size}, 3), RGB")


def depth_shape_message(image_size):
    """The one sentence every depth-shape error of a two-input export carries."""
    return (f"physstd SavedModel: depth must be a batch of sensor-depth crops of shape (batch, {image_size}, "
            f"{image_size}, 1), one per image")


def pair_dtype_message(image_size, raw_dtype, images_dtype, depth_dtype):
    """The message of a two-input `serve` given another pair of dtypes than its two."""
    return (f"physstd SavedModel: serve(images, depth) takes uint8 images in 0..255 with {raw_dtype.name} raw depth, "
            f"or float32 images in [0, 1] with float32 normalised depth in [0, 1], of shapes (batch, {image_size}, "
            f"{image_size}, 3) and (batch, {image_size}, {image_size}, 1); got images {images_dtype.name} and depth "
            f"{depth_dtype.name} (convert first, e.g. images.astype(np.float32))")


def dtype_message(image_size, dtype):
    """The message of `serve` given images of another dtype than uint8 or float32."""
    return (f"physstd SavedModel: serve() takes uint8 images in 0..255 or float32 images in [0, 1] of shape "
            f"(batch, {image_size}, {image_size}, 3); got {tf.as_dtype(dtype).name} (convert first, e.g. "
            f"images.astype(np.float32))")


class ServingModule(tf.Module):
    """A method's Inference plus its fitted score parameters and threshold, with the serving functions of the
    module docstring. depth_units: the units of the raw depth a two-input method's uint8 signature takes."""

    def __init__(self, inference, method, params, threshold, name="physstd_serving", depth_units=None):
        super().__init__(name=name)
        if tuple(method.input_keys) not in INPUT_KEYS:
            raise ValueError(f"method {method.name!r} takes {tuple(method.input_keys)}; an export takes "
                             f"{' or '.join(map(str, INPUT_KEYS))}")
        self.takes_depth = len(method.input_keys) > 1
        self.inference = inference
        self._method = method   # not trackable: only used while tracing
        self.image_size = tf.Variable(inference.image_size, trainable=False, dtype=tf.int32, name="image_size")
        self.threshold = tf.Variable(float(threshold), trainable=False, dtype=tf.float32, name="threshold")
        self.params = {}
        for key, value in params.items():
            if hasattr(self, key):
                raise ValueError(f"score parameter {key!r} of method {method.name!r} clashes with an attribute of "
                                 f"the export")
            self.params[key] = tf.Variable(float(value), trainable=False, dtype=tf.float32, name=key)
            setattr(self, key, self.params[key])   # model.alpha0, as before the harness
        self._size = inference.image_size
        if self.takes_depth:
            self.depth_units = depth_ops.check_units(depth_units, f"method {method.name!r}: depth units")
            self._raw_depth = tf.as_dtype(config.DEPTH_DTYPES[depth_units])
            self.serve_float32 = tf.function(self._serve_float32_pair, input_signature=[
                tf.TensorSpec(None, tf.float32, name="images"), tf.TensorSpec(None, tf.float32, name="depth")])
            self.serve_uint8 = tf.function(self._serve_uint8_pair, input_signature=[
                tf.TensorSpec(None, tf.uint8, name="images"), tf.TensorSpec(None, self._raw_depth, name="depth")])
            self.serve = tf.function(self._serve_any_pair)
            return
        self.serve_float32 = tf.function(self._serve_float32,
                                         input_signature=[tf.TensorSpec(None, tf.float32, name="images")])
        self.serve_uint8 = tf.function(self._serve_uint8,
                                       input_signature=[tf.TensorSpec(None, tf.uint8, name="images")])
        self.serve = tf.function(self._serve_any)

    # --- input checks -------------------------------------------------------------------------------------
    def _checked(self, images):
        """images with their shape asserted to (batch, N, N, 3) before any model op sees them."""
        # Forget the static shape: a restored function is shape-inferred with its caller's shapes, and a wrong
        # one would otherwise fail there, in EnsureShape, before the assertion with the clear message runs.
        images = tf.raw_ops.PlaceholderWithDefault(input=images, shape=tf.TensorShape(None))
        shape = tf.shape(images)
        padded = tf.concat([shape, tf.zeros([4], tf.int32)], axis=0)[:4]  # safe for any rank
        ok = tf.logical_and(tf.equal(tf.rank(images), 4),
                            tf.reduce_all(tf.equal(padded[1:], [self._size, self._size, 3])))
        message = shape_message(self._size)
        check = tf.debugging.Assert(ok, [message + "; got shape", shape], summarize=8)
        with tf.control_dependencies([check]):
            # The static shape lets the generator build; at run time the assertion above has already passed.
            return tf.ensure_shape(images, [None, self._size, self._size, 3])

    def _checked_depth(self, depth, images):
        """depth with its shape asserted to (batch, N, N, 1), batch that of `images` (as _checked does)."""
        depth = tf.raw_ops.PlaceholderWithDefault(input=depth, shape=tf.TensorShape(None))
        shape = tf.shape(depth)
        padded = tf.concat([shape, tf.zeros([4], tf.int32)], axis=0)[:4]
        expected = tf.stack([tf.shape(images)[0], self._size, self._size, 1])
        ok = tf.logical_and(tf.equal(tf.rank(depth), 4), tf.reduce_all(tf.equal(padded, expected)))
        check = tf.debugging.Assert(ok, [depth_shape_message(self._size) + "; got shape", shape,
                                         "for images of shape", tf.shape(images)], summarize=8)
        with tf.control_dependencies([check]):
            return tf.ensure_shape(depth, [None, self._size, self._size, 1])

    def _in_unit_range(self, values, name, raw_signature_note):
        """Float32 `values` asserted to lie in [0, 1] (within RANGE_TOLERANCE), then clipped to it."""
        low, high = tf.reduce_min(values), tf.reduce_max(values)
        in_range = tf.logical_and(low >= -RANGE_TOLERANCE, high <= 1.0 + RANGE_TOLERANCE)
        check = tf.debugging.Assert(in_range, [
            f"physstd SavedModel: float32 {name} must lie in [0, 1] (use the 'serving_uint8' signature for "
            f"{raw_signature_note}); got min and max", low, high])
        with tf.control_dependencies([check]):
            return tf.clip_by_value(values, 0.0, 1.0)

    def _serve_float32(self, images):
        return self._outputs(self._in_unit_range(self._checked(images), "images", "0..255 images"))

    def _serve_uint8(self, images):
        images = self._checked(images)
        return self._outputs(tf.cast(images, tf.float32) / 255.0)

    def _serve_float32_pair(self, images, depth):
        images = self._in_unit_range(self._checked(images), "images", "0..255 images")
        depth = self._in_unit_range(self._checked_depth(depth, images), "depth",
                                    f"raw {self._raw_depth.name} depth in {self.depth_units}")
        return self._outputs(images, depth)

    def _serve_uint8_pair(self, images, depth):
        images = self._checked(images)
        depth = depth_ops.normalise_sensor_depth(self._checked_depth(depth, images), self.depth_units)
        return self._outputs(tf.cast(images, tf.float32) / 255.0, depth)

    def _serve_any_pair(self, images, depth):
        if (images.dtype, depth.dtype) == (tf.uint8, self._raw_depth):
            return self._serve_uint8_pair(images, depth)
        if (images.dtype, depth.dtype) == (tf.float32, tf.float32):
            return self._serve_float32_pair(images, depth)
        return self._refused(images, pair_dtype_message(self._size, self._raw_depth, images.dtype, depth.dtype))

    def _serve_any(self, images):
        if images.dtype == tf.uint8:
            return self._serve_uint8(images)
        if images.dtype == tf.float32:
            return self._serve_float32(images)
        return self._refused(images)

    def _refused(self, images, message=None):
        """A graph that fails with `message` (dtype_message) whatever `images` holds (traced for each of
        REFUSED_DTYPES)."""
        never = tf.equal(tf.size(images), -1)   # a run-time False: the message must come when called, not traced
        check = tf.debugging.Assert(never, [message or dtype_message(self._size, images.dtype)])
        with tf.control_dependencies([check]):
            return {"score": tf.zeros(tf.shape(images)[:1], tf.float32)}

    # --- the model ----------------------------------------------------------------------------------------
    def _outputs(self, images, depth=None):
        result = dict(self.inference(images if depth is None else {"image": images, "sensor_depth": depth}))
        clash = set(COMMON_OUTPUTS) & set(result)
        if clash:
            raise ValueError(f"method {self._method.name!r} outputs {sorted(clash)}, which the export computes itself")
        terms = {term: result[term] for term in self._method.score_terms}
        params = {key: self.params[key] for key in self.params}
        score = tf.cast(self._method.score(terms, params), tf.float32)
        # scoring: attack if score >= threshold
        return {"score": score, "decision": tf.cast(score >= self.threshold, tf.int32), **result}

    def unchecked_outputs(self, images, depth=None):
        """The outputs of float32 images (batch, N, N, 3) in [0, 1] (and for two inputs their normalised depth
        (batch, N, N, 1)), without the input checks: the graph the converted formats hold (physstd.deploy), whose
        runtimes check shapes themselves."""
        return self._outputs(images, depth)

    def trace_for_both_dtypes(self):
        """Trace `serve` for float32 and uint8 so that the saved function dispatches on either, and for
        REFUSED_DTYPES so that those fail with dtype_message (two inputs: for those image dtypes paired with
        float32, float64 and raw depth, all but the two pairs it takes failing with pair_dtype_message)."""
        for dtype in (tf.float32, tf.uint8) + REFUSED_DTYPES:
            images = tf.TensorSpec(None, dtype, name="images")
            if not self.takes_depth:
                self.serve.get_concrete_function(images)
                continue
            for depth_dtype in (tf.float32, tf.float64, self._raw_depth):
                self.serve.get_concrete_function(images, tf.TensorSpec(None, depth_dtype, name="depth"))

    def description(self):
        """The export info's entries that describe the inputs: signatures; for two inputs also inputs,
        depth_units and depth_normalisation."""
        if not self.takes_depth:
            return {"signatures": {SIGNATURE_FLOAT32: "images float32 (batch, N, N, 3) in [0, 1]",
                                   SIGNATURE_UINT8: "images uint8 (batch, N, N, 3) in 0..255"}}
        raw = f"depth {self._raw_depth.name} (batch, N, N, 1) in {self.depth_units} (0 = hole)"
        return {
            "inputs": {"images": "(batch, N, N, 3) RGB face crops (physstd's preprocessing)",
                       "depth": "(batch, N, N, 1) sensor depth registered to the images, cropped with them"},
            "depth_units": self.depth_units,
            "depth_normalisation": depth_ops.NORMALISATION[self.depth_units],
            "signatures": {SIGNATURE_FLOAT32: "images float32 (batch, N, N, 3) in [0, 1], depth float32 "
                                              "(batch, N, N, 1) in [0, 1] (normalised: depth_normalisation)",
                           SIGNATURE_UINT8: f"images uint8 (batch, N, N, 3) in 0..255, {raw}"},
        }


def foreign_entries(export_dir):
    """Paths (relative to `export_dir`) of what an export does not write: user files, links, other folders."""
    foreign = []
    for name in sorted(os.listdir(export_dir)):
        path = os.path.join(export_dir, name)
        if os.path.islink(path):
            foreign.append(name)
        elif name in EXPORT_FILES and os.path.isfile(path):
            continue
        elif name in EXPORT_FOLDERS and os.path.isdir(path):
            for entry in sorted(os.listdir(path)):
                inner = os.path.join(path, entry)
                if not (EXPORT_FOLDERS[name].match(entry) and os.path.isfile(inner) and not os.path.islink(inner)):
                    foreign.append(f"{name}/{entry}")
        else:
            foreign.append(name)
    return foreign


def check_replaceable(export_dir):
    """Refuse (ValueError) an existing `export_dir` that export would replace but that is not a previous physstd
    export (or an empty folder), or a previous export that holds anything an export does not write: replacing it
    would delete someone's files."""
    if not os.path.lexists(export_dir):
        return
    if os.path.isdir(export_dir) and not os.path.islink(export_dir):
        entries = os.listdir(export_dir)
        if not entries:
            return
        if {INFO_FILE, "saved_model.pb"} <= set(entries):
            foreign = foreign_entries(export_dir)
            if not foreign:
                return
            more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
            raise ValueError(f"{export_dir}: a previous physstd export that also holds {', '.join(foreign[:3])}{more}, "
                             f"which an export does not write; the export replaces the whole folder, so move "
                             f"{'that' if len(foreign) == 1 else 'those'} out of it or choose another --export_dir")
    raise ValueError(f"{export_dir}: exists and is not a physstd export (no {INFO_FILE} and saved_model.pb); "
                     f"the export replaces its folder, so choose a new --export_dir or remove this one yourself")


def _staging_name(export_dir):
    """`.tmp-<32 hex>-<name>`: the staging folders of this target (files.make_temporary_dir's naming)."""
    return re.compile(rf"\.tmp-[0-9a-f]{{32}}-{re.escape(os.path.basename(export_dir))}$")


def _lock(path):
    """An open descriptor of the folder `path`, flock-ed (raises BlockingIOError when another process holds it)."""
    handle = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BaseException:
        os.close(handle)
        raise
    return handle


def _settle(staging, export_dir):
    """Undo an unfinished replacement in `staging`: the previous export back in place if the new one is not there,
    then the staging folder removed."""
    previous = os.path.join(staging, _STAGED_PREVIOUS)
    if os.path.isdir(previous) and not os.path.lexists(export_dir):
        os.replace(previous, export_dir)
    shutil.rmtree(staging, ignore_errors=True)


def remove_interrupted(export_dir):
    """Settle the staging folders that killed exports to `export_dir` left (module doc); returns their names.
    Only folders of this target's staging name that hold nothing but what an export stages (or, left by earlier
    versions, the export files themselves) and that no running export holds are touched."""
    parent = os.path.dirname(export_dir)
    pattern, removed = _staging_name(export_dir), []
    for name in sorted(os.listdir(parent)) if os.path.isdir(parent) else []:
        path = os.path.join(parent, name)
        if not pattern.match(name) or os.path.islink(path) or not os.path.isdir(path):
            continue
        staged = set(os.listdir(path)) <= {_STAGED_NEW, _STAGED_PREVIOUS}
        if not staged and foreign_entries(path):
            continue
        try:
            handle = _lock(path)
        except BlockingIOError:   # an export in progress
            continue
        try:
            _settle(path, export_dir)
        finally:
            os.close(handle)
        removed.append(name)
    return removed


def export_info(module, method, params, threshold, calibration_split="", source="", threshold_rule=None):
    """The info record of a ServingModule (physstd_export.json; the converted formats carry it too, see
    physstd.deploy)."""
    outputs = module.serve_float32.get_concrete_function().structured_outputs
    inference = module.inference
    return {
        "format_version": INFO_FORMAT_VERSION,
        "method": method.name,
        "image_size": int(inference.image_size),
        "params": {key: float(value) for key, value in params.items()},
        "threshold": float(threshold),
        "threshold_rule": scoring.threshold_rule(**(threshold_rule or scoring.EER_RULE)),
        "calibration_split": calibration_split,
        "score_terms": list(method.score_terms),
        "score": method.score_formula,
        "decision": "attack (1) if score >= threshold",
        "model": dict(inference.config),   # a plain dict: tf.Module wraps the attribute (json.dumps refuses that)
        "source": os.fspath(source),
        **module.description(),
        "outputs": list(COMMON_OUTPUTS) + sorted(set(outputs) - set(COMMON_OUTPUTS)),
    }


def export_saved_model(inference, method, export_dir, params, threshold, calibration_split="", source="",
                       threshold_rule=None, depth_units=None):
    """Save the serving module of a method's Inference to `export_dir` (written in a temporary folder, then renamed
    into place).

    `params`, `threshold`: the calibration (physstd.eval.evaluate.calibrate; chosen on `calibration_split`, never
    test, by `threshold_rule`, recorded for the reader: the export applies the threshold whatever rule chose it);
    depth_units: the units of the training set's sensor depth, for a method that takes it. Returns the info record
    written to <export_dir>/physstd_export.json.
    """
    export_dir = os.path.abspath(os.fspath(export_dir))
    remove_interrupted(export_dir)
    check_replaceable(export_dir)
    parent = os.path.dirname(export_dir)
    os.makedirs(parent, exist_ok=True)
    params = method.check_params(dict(params), f"{export_dir}: score parameters")
    module = ServingModule(inference, method, params, threshold, depth_units=depth_units)
    module.trace_for_both_dtypes()
    info = export_info(module, method, params, threshold, calibration_split, source, threshold_rule)
    staging = files.make_temporary_dir(parent, os.path.basename(export_dir))
    handle = _lock(staging)
    new = os.path.join(staging, _STAGED_NEW)
    try:
        try:
            tf.saved_model.save(module, new, signatures={SIGNATURE_FLOAT32: module.serve_float32,
                                                         SIGNATURE_UINT8: module.serve_uint8})
            files.write_json_atomic(os.path.join(new, INFO_FILE), info)
            # The previous export waits in the staging folder, where remove_interrupted puts it back after a kill.
            files.swap_in_folder(new, export_dir, old=os.path.join(staging, _STAGED_PREVIOUS))
        except BaseException as error:
            _settle(staging, export_dir)
            if isinstance(error, (OSError, tf.errors.OpError)):
                cause = getattr(error, "strerror", None) or getattr(error, "message", None) or str(error)
                cause = cause.strip().splitlines()[-1] if cause.strip() else type(error).__name__
                kept = "the previous export is unchanged" if os.path.lexists(export_dir) else "nothing was written"
                raise ExportWriteError(f"{export_dir}: could not write the export ({cause}); {kept}") from None
            raise
        shutil.rmtree(staging, ignore_errors=True)   # empty now
    finally:
        os.close(handle)
    return info


def export_run(run_dir, export_dir):
    """Export the latest checkpoint of a run directory, of its method (flags.json), with the run's calibration
    (<run_dir>/calibration.json, or a former alpha0.json).

    The calibration is written by run_test.py (physstd.eval.evaluate.calibrate_model); a run without it raises a
    ValueError saying so.
    """
    method = methods.of_run(run_dir)
    path = scoring.run_calibration_path(run_dir)
    if path is None:
        path = os.path.join(run_dir, scoring.CALIBRATION_FILENAME)
        raise ValueError(f"{path}: no calibration (score parameters, threshold); run `python run_test.py "
                         f"--run_dir={run_dir}` first, which fits them on the dev (or train) split and writes "
                         f"this file")
    calibration = scoring.load_calibration(path, method)
    units = None
    if len(method.input_keys) > 1:   # the raw-depth signature normalises in the units the run trained on
        units = runs.run_depth_units(runs.read_run_flags(run_dir), run_dir)
    check_replaceable(os.path.abspath(os.fspath(export_dir)))   # before minutes of loading and tracing
    return export_saved_model(method.load(run_dir), method, export_dir, calibration["params"],
                              calibration["threshold"], calibration["split"], source=os.path.abspath(run_dir),
                              threshold_rule=calibration["threshold_rule"], depth_units=units)


def read_export_info(export_dir):
    """The physstd_export.json of an export folder; a ValueError names the folder when it is not an export."""
    path = os.path.join(os.fspath(export_dir), INFO_FILE)
    if not os.path.exists(os.path.join(os.fspath(export_dir), "saved_model.pb")) or not os.path.exists(path):
        raise ValueError(f"{export_dir}: not a physstd SavedModel export (expected saved_model.pb and {INFO_FILE}); "
                         f"write one with run_export.py")
    info = files.read_json(path, "export info")
    version = info.get("format_version") if isinstance(info, dict) else None
    if version == 1:   # a PhySTD export written before the harness: its score parameter is alpha0
        info = dict(info, method=runs.DEFAULT_METHOD, params={"alpha0": info["alpha0"]},
                    score_terms=["trace_magnitude", "depth_mean"])
    elif version != INFO_FORMAT_VERSION:
        raise ValueError(f"{path}: expected format_version {INFO_FORMAT_VERSION} (or 1)")
    return info


def load_export(export_dir):
    """tf.saved_model.load of a physstd export; a damaged SavedModel (a truncated saved_model.pb or variables file)
    raises a ValueError naming the folder instead of a protobuf or TensorFlow error."""
    export_dir = os.fspath(export_dir)
    read_export_info(export_dir)
    try:
        return tf.saved_model.load(export_dir)
    except Exception as error:  # noqa: BLE001 - a damaged file fails in many ways (DecodeError, OpError, OSError)
        raise ValueError(f"{export_dir}: not a loadable SavedModel ({type(error).__name__}: "
                         f"{str(error).splitlines()[0] if str(error) else ''}); export it again with "
                         f"run_export.py") from None
