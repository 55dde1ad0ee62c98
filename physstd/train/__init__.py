"""PhySTD training (seeds/001 Alg. 1): the trainer, the run loop, the run directory and its checkpoints.

Public names are imported lazily, so `import physstd.train` stays light (no TensorFlow until used).
"""
from physstd.train.config import TrainConfig, learning_rate_at  # noqa: F401

_LAZY = {
    "PhySTDTrainer": "physstd.train.trainer",
    "train": "physstd.train.loop",
    "NonFiniteLossError": "physstd.train.loop",
    "read_run_flags": "physstd.runs",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'physstd.train' has no attribute {name!r}")
