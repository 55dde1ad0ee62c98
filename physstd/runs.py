"""Reading a run directory, shared by training (physstd.train), the methods' network loaders and evaluation.

    <run_dir>/flags.json          {"train": TrainConfig fields (with "method" and its "method_config"),
                                   "model": ModelConfig fields, "num_landmarks": Q,
                                   "sensor_depth_units": the training set's depth units, for a method that
                                   takes sensor depth (absent otherwise)}
    <run_dir>/checkpoints/        tf.train.CheckpointManager: `checkpoint` (state file), ckpt-<step>.index/.data-*

Writing checkpoints is physstd.train.checkpoints' job; this module only reads, so that evaluation and export can
restore a method's networks without importing any training code.
"""
import logging
import os

from physstd import files

CHECKPOINT_DIR = "checkpoints"
FLAGS_FILE = "flags.json"
# The method of a run whose flags.json predates --method (every such run trained PhySTD).
DEFAULT_METHOD = "physstd"
SENSOR_DEPTH_UNITS = "sensor_depth_units"


def read_run_flags(run_dir):
    """The flags.json record of a run directory; one clear ValueError when it is missing or malformed."""
    path = os.path.join(run_dir, FLAGS_FILE)
    record = files.read_json(path, "run flags (a run directory written by run_train.py)")
    if not isinstance(record, dict) or not {"train", "model"} <= set(record):
        raise ValueError(f"{path}: expected a JSON object with keys 'train' and 'model'")
    return record


def read_method_run(run_dir, method):
    """The flags.json record of a run directory that must be a run of `method`; one clear ValueError otherwise."""
    record = read_run_flags(run_dir)
    if run_method(record) != method:
        raise ValueError(f"{os.path.join(run_dir, FLAGS_FILE)}: a run of method {run_method(record)!r}; expected a "
                         f"{method!r} run (run_train.py --method={method})")
    return record


def run_method(record):
    """The method name of a flags.json record; a record without one is a PhySTD run (written before --method)."""
    name = record.get("train", {}).get("method", DEFAULT_METHOD)
    if not isinstance(name, str) or not name:
        raise ValueError(f"{FLAGS_FILE}: 'method' must be a method name; found {name!r}")
    return name


def run_depth_units(record, run_dir):
    """The sensor-depth units ("mm" or "uint8") a run of a method that takes sensor depth was trained on (its
    flags.json); one ValueError naming the file when the record has none."""
    units = record.get(SENSOR_DEPTH_UNITS)
    if not isinstance(units, str) or not units:
        raise ValueError(f"{os.path.join(run_dir, FLAGS_FILE)}: the run's method takes sensor depth, but the record "
                         f"names no {SENSOR_DEPTH_UNITS} (the units of its training set's depth)")
    return units


def network_checkpoint(network):
    """A trackable holding every variable of a Keras network under its variable path ('generator/stem/conv/kernel').

    Keras 3 layers kept in Python lists (the encoder stages, the decoder, D's blocks) are invisible to
    tf.train.Checkpoint's object graph: checkpointing the model object itself silently drops their weights
    and BatchNorm statistics. Keying the variables by path saves all of them, whatever the layer structure.
    """
    import tensorflow as tf

    by_path = {}
    for variable in network.variables:
        if variable.path in by_path:
            raise ValueError(f"{network.name}: two variables share the path {variable.path!r}")
        by_path[variable.path] = variable
    return tf.train.Checkpoint(**by_path)


def restore_newest_readable(checkpoint, directory, partial=False):
    """Restore `checkpoint` from the newest readable checkpoint in `directory`, falling back to older ones when
    the newest is damaged; returns its path, or None when there is none. partial: the file may hold more objects
    than `checkpoint` (expect_partial)."""
    import tensorflow as tf

    state = tf.train.get_checkpoint_state(directory)
    paths = list(state.all_model_checkpoint_paths) if state else []
    for path in reversed(paths):
        try:
            status = checkpoint.restore(path)
            (status.expect_partial() if partial else status).assert_existing_objects_matched()
            return path
        except Exception as error:  # a damaged file fails in many ways (OpError, IndexError, ValueError...)
            logging.warning("checkpoint %s is unreadable (%s); trying an older one", path, error)
    if paths:
        raise ValueError(f"{directory}: no readable checkpoint among {paths}")
    return None


def restore_networks(run_dir, networks):
    """Restore built Keras networks {checkpoint key: network} (keys as the trainer's checkpoint_objects() names
    them) from the newest readable checkpoint of a run; the file's other objects (optimizers...) are skipped."""
    import tensorflow as tf

    directory = os.path.join(run_dir, CHECKPOINT_DIR)
    if tf.train.get_checkpoint_state(directory) is None:
        raise ValueError(f"{directory}: no checkpoint found; train first with run_train.py --run_dir={run_dir}")
    checkpoint = tf.train.Checkpoint(**{key: network_checkpoint(net) for key, net in networks.items()})
    return restore_newest_readable(checkpoint, directory, partial=True)
