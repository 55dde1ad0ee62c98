"""Reading an Auxiliary run without TensorFlow: its ModelConfig (De-Spoof checks its --dq_run with it before any
network is built) and the checkpoint key of its network."""
import os

from physstd import runs
from physstd.models import ModelConfig

NAME = "auxiliary"
CHECKPOINT_KEY = "auxiliary"   # the trainer's checkpoint_objects() key of the network


def run_model_config(run_dir, method=NAME):
    """ModelConfig of a run directory (its flags.json), which must be a run of `method` (None: any method)."""
    record = runs.read_run_flags(run_dir)
    path = os.path.join(run_dir, runs.FLAGS_FILE)
    if method is not None and runs.run_method(record) != method:
        raise ValueError(f"{path}: a run of method {runs.run_method(record)!r}; expected a {method!r} run "
                         f"(run_train.py --method={method})")
    return ModelConfig.from_dict(record["model"], f"{path}: model")
