"""PhySTD training (seeds/001 Alg. 1): the trainer, the run loop, the run directory and its checkpoints.

Public names are imported lazily, so `import physstd.train` stays light (no TensorFlow until used).
"""
from physstd import lazy_attributes
from physstd.train.config import TrainConfig, learning_rate_at  # noqa: F401

__getattr__ = lazy_attributes(__name__, {
    "PhySTDTrainer": "physstd.train.trainer",
    "train": "physstd.train.loop",
    "NonFiniteLossError": "physstd.train.loop",
    "read_run_flags": "physstd.runs",
})
