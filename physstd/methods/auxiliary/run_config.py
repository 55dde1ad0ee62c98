"""Reading an Auxiliary run without TensorFlow: its ModelConfig (De-Spoof checks its --dq_run with it before any
network is built) and the checkpoint key of its network."""
import os

from physstd import runs
from physstd.models import ModelConfig

NAME = "auxiliary"
CHECKPOINT_KEY = "auxiliary"   # the trainer's checkpoint_objects() key of the network


def run_model_config(run_dir, method=NAME):
    """ModelConfig of a run directory (its flags.json), which must be a run of `method` (None: any method)."""
    record = runs.read_run_flags(run_dir) if method is None else runs.read_method_run(run_dir, method)
    return ModelConfig.from_dict(record["model"], f"{os.path.join(run_dir, runs.FLAGS_FILE)}: model")
