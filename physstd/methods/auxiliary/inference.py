"""A trained Auxiliary depth CNN for evaluation and export, and as De-Spoof's DQ-Net: built in float32 and restored
from a run directory, and its Inference (physstd.methods.base)."""
import tensorflow as tf

from physstd import runs
from physstd.methods.auxiliary.network import AuxiliaryNet
from physstd.methods.auxiliary.run_config import CHECKPOINT_KEY, run_model_config
from physstd.models.layers import dtype_policy


def build_network(model_config):
    """An AuxiliaryNet of `model_config` built in float32 (its default name: the checkpoint keys are its variable
    paths, so every loader must build it this way)."""
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


class AuxiliaryInference(tf.Module):
    """The Inference of an AuxiliaryNet: {'depth_mean': (batch,), 'depth': (batch, K, K, 1)}."""

    def __init__(self, network, model_config):
        super().__init__(name="auxiliary_inference")
        self.network = network
        self.image_size = model_config.image_size
        self.config = model_config.to_dict()

    def __call__(self, images):
        depth = self.network(images, training=False)
        return {"depth_mean": tf.reduce_mean(depth, axis=(1, 2, 3)), "depth": depth}
