"""The Auxiliary depth CNN ("Auxiliary [18]" of seeds/001 Tab. 1-4, without its temporal module) on the harness
interface (physstd.methods.base).

Network: physstd.models.auxiliary.AuxiliaryNet (the depth branch of seeds/003 Sec. 3.3, Tab. 1). Training: L1 of
its depth map to M0 (physstd.train.baseline_trainers.AuxiliaryTrainer). Score: -mean(depth), higher = attack; it
has no parameter to fit (the calibration file holds an empty dict and the EER threshold). Exported map: the depth.

This module also loads a trained Auxiliary run as a network (`load_network`): De-Spoof's DQ-Net reads it at
training time (--dq_run), evaluation and export through `load`.
"""
import os

from physstd import runs
from physstd.methods.base import Method

NAME = "auxiliary"
CHECKPOINT_KEY = "auxiliary"   # the trainer's checkpoint_objects() key of the network
SCORE_TERMS = ("depth_mean",)
# The paper's settings (seeds/003 Sec. 4.1) for the DQ-Net, which it trains "with the same data in each protocol":
# we give it De-Spoof's learning rate 3e-5 and batch 6 (3 live + 3 spoof), without decay (none is mentioned).
TRAIN_DEFAULTS = {"learning_rate": 3e-5, "batch_size": 6, "lr_decay_factor": 1.0}


def run_model_config(run_dir, method=NAME):
    """ModelConfig of a run directory (its flags.json), which must be a run of `method` (None: any method)."""
    from physstd.models import ModelConfig

    record = runs.read_run_flags(run_dir)
    path = os.path.join(run_dir, runs.FLAGS_FILE)
    if method is not None and runs.run_method(record) != method:
        raise ValueError(f"{path}: a run of method {runs.run_method(record)!r}; expected a {method!r} run "
                         f"(run_train.py --method={method})")
    try:
        return ModelConfig.from_dict(record["model"])
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: bad model config ({error})") from None


def build_network(model_config):
    """An AuxiliaryNet of `model_config` built in float32 (its default name: the checkpoint keys are its variable
    paths, so every loader must build it this way)."""
    import tensorflow as tf

    from physstd.models.auxiliary import AuxiliaryNet
    from physstd.models.layers import dtype_policy

    with dtype_policy(mixed_precision=False):
        network = AuxiliaryNet(model_config)
    size = model_config.image_size
    network(tf.zeros((1, size, size, 3)), training=False)
    return network


def load_network(run_dir, key=CHECKPOINT_KEY, model_config=None):
    """(AuxiliaryNet, model_config) restored from the newest readable checkpoint of an Auxiliary run; `key` and
    `model_config` let De-Spoof read its own DQ-Net copy (key 'dq_net') from a De-Spoof run."""
    model_config = model_config or run_model_config(run_dir)
    network = build_network(model_config)
    runs.restore_networks(run_dir, {key: network})
    return network, model_config


def depth_inference(network, model_config):
    """The Inference of an AuxiliaryNet: {'depth_mean': (batch,), 'depth': (batch, K, K, 1)}."""
    import tensorflow as tf

    class AuxiliaryInference(tf.Module):
        def __init__(self):
            super().__init__(name="auxiliary_inference")
            self.network = network
            self.image_size = model_config.image_size
            self.config = model_config.to_dict()

        def __call__(self, images):
            depth = self.network(images, training=False)
            return {"depth_mean": tf.reduce_mean(depth, axis=(1, 2, 3)), "depth": depth}

    return AuxiliaryInference()


class Auxiliary(Method):
    name = NAME
    display_name = "Auxiliary"
    score_terms = SCORE_TERMS
    score_formula = "-depth_mean"
    train_defaults = TRAIN_DEFAULTS

    def trainer(self, model_config, config, num_landmarks, strategy):
        from physstd.train.baseline_trainers import AuxiliaryTrainer

        return AuxiliaryTrainer(model_config, config, num_landmarks, strategy)

    def prediction_terms(self, prediction):
        import numpy as np

        return {"depth_mean": np.asarray(prediction["depth_mean"], np.float64)}

    def load(self, run_dir):
        return depth_inference(*load_network(run_dir))

    def score(self, terms, params):
        return -terms["depth_mean"]

    def fit_score(self, labels, terms):
        return {}

    def check_params(self, params, where):
        if params != {}:
            raise ValueError(f"{where}: the Auxiliary score -depth_mean has no parameters ({{}}); found {params!r}")
        return {}


METHOD = Auxiliary()
