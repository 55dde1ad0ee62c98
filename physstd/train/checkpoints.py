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

What a kill leaves behind (a `ckpt-<step>_temp/` folder, shards merged without their `.index`, the state file's
temporary copy) is never listed by the manager; `remove_leftovers` deletes those files at the next start. A save
that fails (disk full, permission) raises CheckpointSaveError once, naming the run directory and the cause, and
leaves the listed checkpoints as they were.
"""
import os
import re
import shutil
import tempfile

import tensorflow as tf

from physstd.runs import (CHECKPOINT_DIR, FLAGS_FILE, network_checkpoint, read_run_flags,  # noqa: F401
                          restore_newest_readable)

TENSORBOARD_DIR = "tensorboard"
CHECKPOINT_PREFIX = "ckpt"   # tf.train.CheckpointManager's default checkpoint_name
# Files of a CheckpointManager save (ckpt-<n>.index, ckpt-<n>.data-<i>-of-<k>, the ckpt-<n>_temp/ shard folder)
# and the temporary copy of its state file (file_io.atomic_write_string_to_file: `checkpoint.tmp<uuid hex>`).
_CHECKPOINT_FILE = re.compile(rf"({CHECKPOINT_PREFIX}-\d+)(\.index|\.data-\d+-of-\d+|_temp)$")
_STATE_TEMPORARY = re.compile(r"checkpoint\.tmp[0-9a-f]+$")


class CheckpointSaveError(RuntimeError):
    """A checkpoint could not be written (disk full, permission...); the listed checkpoints are untouched."""




class RunCheckpoints:
    """CheckpointManager over a trainer's checkpoint_objects() in <run_dir>/checkpoints.

    On a multi-worker run only the chief writes into run_dir; the other workers write to a private temporary
    directory (every worker must take part in a save) that is removed after each save.
    """

    def __init__(self, trainer, run_dir, max_to_keep, is_chief=True):
        self.checkpoint = tf.train.Checkpoint(**trainer.checkpoint_objects())
        self.directory = os.path.join(run_dir, CHECKPOINT_DIR)
        self.is_chief = is_chief
        directory = self.directory if is_chief else tempfile.mkdtemp(prefix="physstd-worker-ckpt-")
        self.manager = tf.train.CheckpointManager(self.checkpoint, directory, max_to_keep=max_to_keep,
                                                  checkpoint_name=CHECKPOINT_PREFIX)
        self.failure = None  # the message of a failed save: no later save is tried on the same disk

    def save(self, step):
        """Write ckpt-<step>. An I/O error raises CheckpointSaveError (its partial files removed, the listed
        checkpoints untouched), and every later call raises it again without touching the disk."""
        if self.failure is not None:
            raise CheckpointSaveError(self.failure)
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
            except OSError:  # the disk may refuse even that; the next start cleans up
                pass
            raise CheckpointSaveError(self.failure) from None
        if not self.is_chief:
            tf.io.gfile.rmtree(self.manager.directory)
        return path

    def remove_leftovers(self):
        """Delete what interrupted saves left in the checkpoint folder: `ckpt-<n>_temp/` folders, checkpoint files
        whose prefix the state file does not list, temporary copies of the state file. Nothing else is touched.
        Returns the sorted names removed (none on a non-chief worker, which does not own the folder)."""
        if not self.is_chief or not os.path.isdir(self.directory):
            return []
        listed = {os.path.basename(path) for path in self.manager.checkpoints}
        removed = []
        for name in sorted(os.listdir(self.directory)):
            match = _CHECKPOINT_FILE.match(name)
            stale = (match and (match.group(2) == "_temp" or match.group(1) not in listed)) or \
                _STATE_TEMPORARY.match(name)
            if not stale:
                continue
            path = os.path.join(self.directory, name)
            if os.path.isdir(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
            removed.append(name)
        return removed

    def restore_latest(self):
        """Restore the newest readable checkpoint; returns its path, or None when the run has none."""
        return restore_newest_readable(self.checkpoint, self.directory)
