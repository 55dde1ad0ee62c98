"""A trained De-Spoof for evaluation, export and trace recovery: DS-Net and the run's DQ-Net copy restored from a
run directory, their forward pass (shared with the trainer's predict), the Inference and the TraceModel."""
import tensorflow as tf

from physstd import runs
from physstd.methods.auxiliary import losses as aux_losses
from physstd.methods.auxiliary.inference import build_network
from physstd.methods.auxiliary.network import rgb_hsv
from physstd.methods.auxiliary.run_config import run_model_config
from physstd.methods.base import TraceModel
from physstd.methods.despoof import losses as ds_losses
from physstd.methods.despoof.networks import DSNet
from physstd.models.layers import dtype_policy

NETWORK_KEYS = ("ds_net", "dq_net")   # the trainer's checkpoint_objects() keys of the inference networks
TRACE_NAME = "Recovered trace = the RGB part of De-Spoof's noise N"


def outputs(ds_net, dq_net, images):
    """The forward pass of DS-Net and DQ-Net on RGB images (batch, N, N, 3) in [0, 1], inference mode:
    noise N (6 channels), additive_trace (its RGB part), zero_one_map, live (I_hat's RGB), depth (DQ-Net on I_hat),
    and the per-frame score terms noise_magnitude and depth_mean. The trainer's predict and the Inference share
    it."""
    image6 = rgb_hsv(images)
    noise, zero_one_map = ds_net(image6, training=False)
    reconstruction = ds_losses.reconstruct_live(image6, noise)
    depth = dq_net(reconstruction, training=False)
    return {"noise_magnitude": ds_losses.noise_magnitude(noise), "depth_mean": aux_losses.depth_mean(depth),
            "noise": noise, "additive_trace": ds_losses.additive_trace(noise), "zero_one_map": zero_one_map,
            "live": reconstruction[..., :3], "depth": depth}


def load_networks(run_dir, method_name):
    """(ds_net, dq_net, model_config) of a De-Spoof run (a run of `method_name`), built in float32 and restored
    from its newest readable checkpoint (the run's own DQ-Net copy: the Auxiliary run is not read)."""
    model_config = run_model_config(run_dir, method_name)
    with dtype_policy(mixed_precision=False):
        ds_net = DSNet(model_config)
    size = model_config.image_size
    ds_net(tf.zeros((1, size, size, 3)), training=False)
    dq_net = build_network(model_config)
    runs.restore_networks(run_dir, dict(zip(NETWORK_KEYS, (ds_net, dq_net))))
    return ds_net, dq_net, model_config


class DeSpoofInference(tf.Module):
    """The Inference (physstd.methods.base) of a De-Spoof run's networks: `outputs`."""

    def __init__(self, ds_net, dq_net, model_config):
        super().__init__(name="despoof_inference")
        self.ds_net, self.dq_net = ds_net, dq_net
        self.image_size = model_config.image_size
        self.trace_bands = tuple(model_config.trace_bands)
        self.config = model_config.to_dict()

    def __call__(self, images):
        return outputs(self.ds_net, self.dq_net, images)


def trace_model(inference):
    """De-Spoof's TraceModel: the RGB part of the noise N as the additive trace, no inpainting region."""
    @tf.function(autograph=False, reduce_retracing=True)
    def estimate(images):
        return inference(images)["additive_trace"]

    return TraceModel(lambda images: (estimate(images), None), inference.image_size, inference.trace_bands,
                      TRACE_NAME)
