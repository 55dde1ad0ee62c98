"""One loader for an export of any format: a SavedModel folder (TensorFlow), a .tflite file (the LiteRT interpreter of
the ai-edge-litert package) or a .onnx file (ONNX Runtime). Loading a .tflite or .onnx file imports no TensorFlow.

    model = runtime.load(path, num_threads=None)   # None: every core
    model.info                  the export's info record (physstd_export.json; a converted file's metadata)
    model.run(crops)            {output: numpy (batch, ...)} of face crops (batch, N, N, 3), uint8 in 0..255 or
                                float32 in [0, 1]
    model.run(crops, depth)     the same for a model that takes sensor depth (model.takes_depth): depth
                                (batch, N, N, 1) registered to the crops, raw in the export's depth_units (uint16
                                mm or uint8) with uint8 crops, normalised float32 in [0, 1] with float32 crops

Every format gives the same output names (score, decision, the method's score terms and maps). A LiteRT file takes
one face per call (its input is (1, N, N, 3)); `run` feeds the batch face by face. A converted file's depth input is
the normalised one; raw depth is normalised here with physstd.ops.depth.normalise_sensor_depth, the training
pipeline's function, which imports TensorFlow (normalised float32 depth keeps TensorFlow out).
"""
import json
import os
import re

import numpy as np

from physstd import config, deploy

# Float input may stray this far outside [0, 1] before it is refused (physstd.export.RANGE_TOLERANCE), then clipped.
RANGE_TOLERANCE = 1e-3


def _threads(num_threads):
    return int(num_threads) if num_threads else (os.cpu_count() or 1)


def require(format_name, path, task="run"):
    """The first package a converted format needs to `task` ('run' or 'write'), imported; a ValueError saying which
    extra installs them when one is missing."""
    extra = deploy.EXTRAS[format_name]
    modules = []
    for module in extra[task]:
        try:
            modules.append(__import__(module))
        except ImportError:
            raise ValueError(f"{path}: {'running' if task == 'run' else 'writing'} a {format_name} export needs the "
                             f"{module} package: {extra['install']}") from None
    return modules[0]


class Export:
    """A loaded export: `format`, `path`, `info`, `image_size`, `threshold`, `outputs` (names) and `run`."""

    format = ""

    def __init__(self, path, info):
        self.path = os.fspath(path)
        self.info = info
        self.image_size = int(info["image_size"])
        self.threshold = float(info["threshold"])
        self.outputs = tuple(info["outputs"])
        self.takes_depth = "depth" in info.get("inputs", {})
        self.depth_units = info.get("depth_units")

    def run(self, images, depth=None):
        """{output: numpy array} of face crops (batch, N, N, 3), uint8 in 0..255 or float32 in [0, 1], and for a
        model that takes it their sensor depth (batch, N, N, 1): raw (the depth_units' dtype) with uint8 crops,
        float32 in [0, 1] with float32 crops."""
        self._check_pairing(images, depth)
        checked = self._checked(images)
        if depth is None:
            return self._run(checked)
        return self._run(checked, self._normalised_depth(np.asarray(depth), len(checked)))

    def _check_pairing(self, images, depth):
        """Refuse depth for an image-only model, none for a two-input one, and a raw / normalised mix."""
        if not self.takes_depth:
            if depth is not None:
                raise ValueError(f"{self.path}: the model takes images only; it has no depth input")
            return
        raw = np.dtype(config.DEPTH_DTYPES[self.depth_units])
        if depth is None:
            raise ValueError(f"{self.path}: the model takes sensor depth next to the images; give depth "
                             f"(batch, {self.image_size}, {self.image_size}, 1)")
        pairs = {np.dtype(np.uint8): raw, np.dtype(np.float32): np.dtype(np.float32)}
        image_dtype, depth_dtype = np.asarray(images).dtype, np.asarray(depth).dtype
        if pairs.get(image_dtype) != depth_dtype:
            raise ValueError(f"{self.path}: images and depth go in pairs: uint8 images with raw {raw.name} depth in "
                             f"{self.depth_units}, or float32 images with float32 depth in [0, 1]; got images "
                             f"{image_dtype} and depth {depth_dtype}")

    def _normalised_depth(self, depth, batch):
        """float32 depth (batch, N, N, 1) in [0, 1] of raw or normalised depth, with its shape and range checked."""
        size = self.image_size
        if depth.shape != (batch, size, size, 1):
            raise ValueError(f"{self.path}: depth must be a batch of sensor-depth crops of shape (batch, {size}, "
                             f"{size}, 1), one per image; got shape {depth.shape} for {batch} images")
        if depth.dtype != np.float32:
            from physstd.ops import depth as depth_ops   # TensorFlow: only raw depth needs it

            return np.asarray(depth_ops.normalise_sensor_depth(depth, self.depth_units), np.float32)
        return self._in_unit_range(depth, "depth")

    def _checked(self, images):
        """float32 crops in [0, 1] of uint8 or float crops, with their shape and range checked."""
        images = np.asarray(images)
        size = self.image_size
        if images.ndim != 4 or images.shape[1:] != (size, size, 3):
            raise ValueError(f"{self.path}: images must be a batch of face crops of shape (batch, {size}, {size}, 3), "
                             f"RGB; got shape {images.shape}")
        if images.dtype == np.uint8:
            return images.astype(np.float32) / np.float32(255.0)
        if images.dtype != np.float32:
            raise ValueError(f"{self.path}: images must be uint8 in 0..255 or float32 in [0, 1]; got {images.dtype}")
        return self._in_unit_range(images, "images")

    def _in_unit_range(self, values, name):
        if values.size and (values.min() < -RANGE_TOLERANCE or values.max() > 1.0 + RANGE_TOLERANCE):
            raise ValueError(f"{self.path}: float32 {name} must lie in [0, 1]; got min {values.min():.4g} and max "
                             f"{values.max():.4g}")
        return np.clip(values, 0.0, 1.0)

    def _run(self, images, depth=None):
        raise NotImplementedError


class SavedModelExport(Export):
    """A SavedModel folder of physstd.export, run by TensorFlow (its uint8 signature for uint8 crops, as
    run_predict.py always did; its float32 signature for float crops)."""

    format = "savedmodel"

    def __init__(self, path, num_threads=None):
        import tensorflow as tf

        from physstd import export   # TensorFlow: only a SavedModel needs it

        tf.get_logger().setLevel("ERROR")
        if num_threads:
            _limit_tensorflow_threads(int(num_threads))
        super().__init__(path, export.read_export_info(path))
        self._export = export
        self.model = export.load_export(path)
        saved_size = int(self.model.image_size.numpy())
        if saved_size != self.image_size:
            raise ValueError(f"{os.path.join(self.path, export.INFO_FILE)}: image_size {self.info['image_size']} "
                             f"but the SavedModel takes {saved_size}x{saved_size} crops; export it again with "
                             f"run_export.py")

    def run(self, images, depth=None):
        images = np.asarray(images)
        self._check_pairing(images, depth)
        if depth is not None:   # the SavedModel checks the shapes and range, and normalises raw depth itself
            signature = self._export.SIGNATURE_UINT8 if images.dtype == np.uint8 else self._export.SIGNATURE_FLOAT32
            return self._call(signature, images, depth)
        if images.dtype != np.uint8:
            return super().run(images)
        return self._call(self._export.SIGNATURE_UINT8, images)   # the SavedModel checks the shape itself

    def _run(self, images, depth=None):
        return self._call(self._export.SIGNATURE_FLOAT32, images, depth)

    def _call(self, signature, images, depth=None):
        import tensorflow as tf

        try:
            inputs = {"images": images} if depth is None else {"images": images, "depth": depth}
            outputs = self.model.signatures[signature](**inputs)
        except tf.errors.InvalidArgumentError as error:   # the export's input assertions (physstd.export)
            found = re.search(r"assertion failed: ([^\n]*)", error.message)
            reason = re.sub(r"[][]", "", found.group(1)) if found else error.message.splitlines()[0]
            raise ValueError(f"{self.path}: the SavedModel refused crops of shape {images.shape[1:]}: "
                             f"{reason}") from None
        return {key: np.asarray(value) for key, value in outputs.items()}


def _limit_tensorflow_threads(num_threads):
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(num_threads)
        tf.config.threading.set_inter_op_parallelism_threads(num_threads)
    except RuntimeError:   # TensorFlow already started in this process: it keeps the pools it made
        pass


class LiteRTExport(Export):
    """A .tflite file run by the LiteRT interpreter (ai_edge_litert.interpreter), its serving_default signature."""

    format = "litert"

    def __init__(self, path, num_threads=None):
        require("litert", path)
        from ai_edge_litert import interpreter

        super().__init__(path, read_metadata(path))
        try:
            self.interpreter = interpreter.Interpreter(model_path=self.path, num_threads=_threads(num_threads))
            self.runner = self.interpreter.get_signature_runner("serving_default")
        except (ValueError, RuntimeError) as error:
            raise ValueError(f"{self.path}: not a loadable LiteRT model ({str(error).splitlines()[0]})") from None

    def _run(self, images, depth=None):
        inputs = {"images": images} if depth is None else {"images": images, "depth": depth}
        parts = [self.runner(**{name: values[index:index + 1] for name, values in inputs.items()})
                 for index in range(len(images))]
        return {key: np.concatenate([np.array(part[key]) for part in parts]) for key in self.outputs}


class OnnxExport(Export):
    """A .onnx file run by ONNX Runtime on the CPU."""

    format = "onnx"

    def __init__(self, path, num_threads=None):
        self.session = _onnx_session(path, num_threads)
        super().__init__(path, _checked_info(path, _onnx_metadata(self.session)))
        # tf2onnx keeps the graph's input order: images, then depth
        self.input_names = [entry.name for entry in self.session.get_inputs()]

    def _run(self, images, depth=None):
        inputs = [images] if depth is None else [images, depth]
        values = self.session.run(list(self.outputs), dict(zip(self.input_names, inputs)))
        return dict(zip(self.outputs, values))


def _onnx_session(path, num_threads=None):
    """An ONNX Runtime CPU session of the file, on `num_threads` threads; a ValueError names a damaged file."""
    onnxruntime = require("onnx", path)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = _threads(num_threads)
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return onnxruntime.InferenceSession(os.fspath(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # noqa: BLE001 - onnxruntime raises its own exception types for a bad file
        raise ValueError(f"{path}: not a loadable ONNX model ({str(error).splitlines()[0]})") from None


def read_info(path):
    """The info record of an export of any format: a SavedModel folder's physstd_export.json, or what a .tflite or
    .onnx file carries (read_metadata)."""
    if os.path.isdir(os.fspath(path)):
        from physstd import export   # TensorFlow: physstd.export imports it (only a SavedModel folder needs it)

        return export.read_export_info(path)
    return read_metadata(path)


def read_metadata(path):
    """The info record a .tflite or .onnx export carries (physstd.deploy: metadata METADATA_NAME); a ValueError
    names the file when it is not a physstd export."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such file (expected a .tflite or .onnx export written by run_export.py)")
    if deploy.format_of(path) == "onnx":
        return _checked_info(path, _onnx_metadata(_onnx_session(path, 1)))
    require("litert", path)
    with open(path, "rb") as stream:
        data = stream.read()
    try:
        text = _tflite_metadata(data)
    except Exception as error:  # noqa: BLE001 - a damaged flatbuffer fails in many ways
        raise ValueError(f"{path}: not a readable LiteRT file ({type(error).__name__}: {error})") from None
    return _checked_info(path, text)


def _checked_info(path, text):
    """The info record of a converted export's metadata text; a ValueError names the file when it has none."""
    if text is None:
        raise ValueError(f"{path}: a model without physstd metadata ({deploy.METADATA_NAME}); export it with "
                         f"run_export.py --format={deploy.format_of(path)}")
    try:
        info = json.loads(text)
    except ValueError:
        info = None
    if not isinstance(info, dict) or not {"method", "image_size", "threshold", "params", "outputs"} <= set(info):
        raise ValueError(f"{path}: its {deploy.METADATA_NAME} metadata is not a physstd export record")
    return info


def _tflite_metadata(data):
    """The METADATA_NAME entry of a LiteRT flatbuffer as text, or None (read with the schema ai-edge-litert ships)."""
    from ai_edge_litert import schema_py_generated as schema

    if data[4:8] != b"TFL3":
        raise ValueError("not a LiteRT flatbuffer")
    model = schema.Model.GetRootAs(data, 0)
    for index in range(model.MetadataLength()):
        entry = model.Metadata(index)
        if entry.Name() and entry.Name().decode("utf-8") == deploy.METADATA_NAME:
            buffer = model.Buffers(entry.Buffer())
            if buffer.Offset():   # a buffer stored after the flatbuffer (large models)
                return bytes(data[buffer.Offset():buffer.Offset() + buffer.Size()]).decode("utf-8")
            return buffer.DataAsNumpy().tobytes().decode("utf-8")
    return None


def _onnx_metadata(session):
    """The METADATA_NAME model property of an ONNX Runtime session's model as text, or None."""
    return session.get_modelmeta().custom_metadata_map.get(deploy.METADATA_NAME)


LOADERS = {"savedmodel": SavedModelExport, "litert": LiteRTExport, "onnx": OnnxExport}


def load(path, num_threads=None):
    """The Export of a SavedModel folder, a .tflite or a .onnx file (deploy.format_of), running on `num_threads`
    CPU threads (None: every core)."""
    path = os.fspath(path)
    if deploy.format_of(path) != "savedmodel" and os.path.isdir(path):
        raise ValueError(f"{path}: a folder; a .tflite or .onnx export is a file")
    return LOADERS[deploy.format_of(path)](path, num_threads)
