"""Training checkpoints of a run directory (reading a run, for evaluation too, is physstd.runs).

    <run_dir>/flags.json          {"train": TrainConfig fields, "model": ModelConfig fields, "num_landmarks": Q}
    <run_dir>/checkpoints/        tf.train.CheckpointManager: `checkpoint` (state file), ckpt-<step>.index/.data-*
    <run_dir>/tensorboard/        summaries (physstd.train.summaries)
    <run_dir>/dev_eval.json       dev-split AUCs written by the training loop

Crash safety (checked in tensorflow/python/checkpoint): a save writes its shards under `ckpt-<step>_temp/`, merges
them into place, and only then rewrites the `checkpoint` state file (atomically: temp file + rename) and deletes
checkpoints beyond max_to_keep. A process killed at any moment therefore leaves the state file pointing at the
last complete checkpoint. If the newest one is unreadable all the same (a disk fault), `restore_latest` falls
back to the one before it, which is why at least two are kept.

What a kill leaves behind, by name (TensorFlow 2.21, checked by tracing a save's file operations): the shard
folder `ckpt-<step>_temp/` holding `part-<i>-of-<k>.index` / `.data-*` files (each first written under a
`.tempstate<digits>` name, then renamed), and the state file's temporary copy `checkpoint.tmp<32 hex digits>`.
`remove_leftovers` deletes those at the next start, and nothing else: never a `ckpt-<step>.*` file, listed or
not (a checkpoint the state file no longer lists, or another program's, stays where it is).

A missing or unreadable state file (a half-synced copy, a crash of the file system) with `ckpt-<step>` files
beside it: `restore_latest` restores the newest of them that holds this run's objects, lists it in a new state
file and says so in `recovery`; when none does, it refuses (ValueError) rather than start over on top of files it
does not know. A save that fails (disk full, permission) raises CheckpointSaveError once, naming the run directory
and the cause, and leaves the listed checkpoints as they were.
"""
import os
import re
import shutil
import tempfile
import time

import tensorflow as tf

from physstd import files
from physstd.runs import (CHECKPOINT_DIR, FLAGS_FILE, network_checkpoint, read_run_flags,  # noqa: F401
                          restore_newest_readable)

TENSORBOARD_DIR = "tensorboard"
CHECKPOINT_PREFIX = "ckpt"   # tf.train.CheckpointManager's default checkpoint_name
STATE_FILE = "checkpoint"   # the CheckpointManager's state file
# Temporary names of an interrupted save (module doc): the shard folder and what TensorFlow writes into it, a
# bundle file not yet renamed (.tempstate<digits>) and the state file's copy (file_io.atomic_write_string_to_file).
_CHECKPOINT = re.compile(rf"{CHECKPOINT_PREFIX}-(\d+)$")
_SHARD_FOLDER = re.compile(rf"{CHECKPOINT_PREFIX}-\d+_temp$")
_SHARD_FILE = re.compile(r"part-\d+-of-\d+\.(index|data-\d+-of-\d+)(\.tempstate\d+)?$")
_BUNDLE_TEMPORARY = re.compile(rf"{CHECKPOINT_PREFIX}-\d+\.(index|data-\d+-of-\d+)\.tempstate\d+$")
_STATE_TEMPORARY = re.compile(rf"{STATE_FILE}\.tmp[0-9a-f]{{32}}$")


class CheckpointSaveError(RuntimeError):
    """A checkpoint could not be written (disk full, permission...); the listed checkpoints are untouched."""


def state_problem(directory):
    """Why the state file of `directory` cannot be used: None when it reads (or when it and every ckpt-<n> file
    are absent: a new run), else 'is missing' or 'is unreadable (<cause>)'."""
    path = os.path.join(directory, STATE_FILE)
    if not os.path.lexists(path):
        return "is missing" if checkpoints_on_disk(directory) else None
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")   # TensorFlow logs two warnings for a state file it cannot parse, then returns None
    try:
        state = tf.train.get_checkpoint_state(directory)
    except (ValueError, OSError, tf.errors.OpError) as error:   # UnicodeDecodeError is a ValueError
        return f"is unreadable ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})"
    finally:
        logger.setLevel(level)
    return None if state is not None else "is unreadable (not a checkpoint state)"


def checkpoints_on_disk(directory):
    """Paths of the ckpt-<n> checkpoints in `directory` that have an .index file, oldest (lowest n) first."""
    if not os.path.isdir(directory):
        return []
    found = []
    for name in os.listdir(directory):
        prefix, extension = os.path.splitext(name)
        match = _CHECKPOINT.match(prefix)
        if match and extension == ".index":
            found.append((int(match.group(1)), os.path.join(directory, prefix)))
    return [path for _, path in sorted(found)]


class RunCheckpoints:
    """CheckpointManager over a trainer's checkpoint_objects() in <run_dir>/checkpoints.

    On a multi-worker run only the chief writes into run_dir; the other workers write to a private temporary
    directory (every worker must take part in a save) that is removed after each save. When the state file is
    missing or unreadable (`state_problem`), the manager is made by restore_latest, after it has recovered a
    checkpoint (module doc); `recovery` is then the one line that says so.
    """

    def __init__(self, trainer, run_dir, max_to_keep, is_chief=True):
        self.checkpoint = tf.train.Checkpoint(**trainer.checkpoint_objects())
        self.directory = os.path.join(run_dir, CHECKPOINT_DIR)
        self.is_chief = is_chief
        self.max_to_keep = max_to_keep
        self.state_problem = state_problem(self.directory) if is_chief else None
        self.recovery = None
        self.manager = None if self.state_problem else self._make_manager()
        self.failure = None  # the message of a failed save: no later save is tried on the same disk

    def _make_manager(self):
        directory = self.directory if self.is_chief else tempfile.mkdtemp(prefix="physstd-worker-ckpt-")
        return tf.train.CheckpointManager(self.checkpoint, directory, max_to_keep=self.max_to_keep,
                                          checkpoint_name=CHECKPOINT_PREFIX)

    def save(self, step):
        """Write ckpt-<step>. An I/O error raises CheckpointSaveError (the partial files of this save removed, the
        listed checkpoints untouched), and every later call raises it again without touching the disk."""
        if self.failure is not None:
            raise CheckpointSaveError(self.failure)
        if self.manager is None:
            raise RuntimeError("restore_latest() must recover a checkpoint before the first save")
        before = set(os.listdir(self.manager.directory)) if os.path.isdir(self.manager.directory) else set()
        try:
            path = self.manager.save(checkpoint_number=int(step))
        except (tf.errors.OpError, OSError) as error:
            cause = getattr(error, "message", None) or str(error)
            # TensorFlow wraps the OS's words in the op's name: "{{function_node ...}} <file>; <cause> [Op:SaveV2]".
            cause = re.sub(r"\s*\[Op:\w+\]\s*$", "", re.sub(r"\{\{.*?\}\}\s*", "", cause))
            self.failure = (f"{os.path.dirname(self.directory)}: could not save checkpoint "
                            f"{CHECKPOINT_PREFIX}-{int(step)} ({cause.strip().splitlines()[-1]}); "
                            f"the last good checkpoint is {self.manager.latest_checkpoint}")
            try:
                self.remove_leftovers()
                # This save's own ckpt-<step>.* files, which were not there before it (a merge cut short), unless
                # the manager already lists them (the failure came after the state file was written).
                prefix = f"{CHECKPOINT_PREFIX}-{int(step)}"
                listed = self.manager.latest_checkpoint == os.path.join(self.manager.directory, prefix)
                for name in [] if listed else set(os.listdir(self.manager.directory)) - before:
                    if name.startswith(prefix + "."):
                        os.remove(os.path.join(self.manager.directory, name))
            except OSError:  # the disk may refuse even that; the next start cleans up the temporary names
                pass
            raise CheckpointSaveError(self.failure) from None
        if not self.is_chief:
            tf.io.gfile.rmtree(self.manager.directory)
        return path

    def remove_leftovers(self):
        """Delete what interrupted saves left in the checkpoint folder, recognised by TensorFlow's temporary names
        (module doc): `ckpt-<n>_temp/` folders that hold only shard files, `ckpt-<n>.*.tempstate<digits>` and
        `checkpoint.tmp<hex>` files. Nothing else is touched, symbolic links included. Returns the sorted names
        removed (none on a non-chief worker, which does not own the folder)."""
        if not self.is_chief or not os.path.isdir(self.directory):
            return []
        removed = []
        for name in sorted(os.listdir(self.directory)):
            path = os.path.join(self.directory, name)
            if os.path.islink(path):
                continue
            if _SHARD_FOLDER.match(name) and os.path.isdir(path):
                if all(_SHARD_FILE.match(entry) and os.path.isfile(os.path.join(path, entry))
                       and not os.path.islink(os.path.join(path, entry)) for entry in os.listdir(path)):
                    shutil.rmtree(path)
                    removed.append(name)
            elif (_BUNDLE_TEMPORARY.match(name) or _STATE_TEMPORARY.match(name)) and os.path.isfile(path):
                os.remove(path)
                removed.append(name)
        return removed

    def restore_latest(self):
        """Restore the newest readable checkpoint; returns its path, or None when the run has none. With a
        missing or unreadable state file, the newest ckpt-<n> that restores is listed in a new one (ValueError
        when none restores)."""
        if self.manager is not None:
            return restore_newest_readable(self.checkpoint, self.directory)
        state = os.path.join(self.directory, STATE_FILE)
        found = checkpoints_on_disk(self.directory)
        for path in reversed(found):
            try:
                self.checkpoint.restore(path).assert_existing_objects_matched()
            except Exception:  # noqa: BLE001 - another model's file, or a damaged one: both fail in many ways
                continue
            name = os.path.basename(path)
            # The state file a save would have written (relative paths); with its timestamp the checkpoint is one
            # the manager keeps max_to_keep of, as if this process had saved it.
            now = time.time()
            files.write_text_atomic(state, f'model_checkpoint_path: "{name}"\nall_model_checkpoint_paths: "{name}"\n'
                                           f'all_model_checkpoint_timestamps: {now!r}\n'
                                           f'last_preserved_timestamp: {now - 1.0!r}\n')
            self.manager = self._make_manager()
            self.recovery = (f"{state} {self.state_problem}: recovered the newest readable checkpoint {name} "
                             f"(of {len(found)} ckpt-<n> found; none deleted)")
            return path
        names = ", ".join(os.path.basename(path) for path in found) or "no ckpt-<n> files"
        raise ValueError(f"{state} {self.state_problem}, and none of the checkpoints beside it ({names}) holds this "
                         f"run's model; refusing to train over them: restore the state file, move the folder "
                         f"away, or choose a new --run_dir")
