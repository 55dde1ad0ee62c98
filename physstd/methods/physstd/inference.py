"""A trained PhySTD generator for evaluation, export and trace recovery: restored from a run directory, its
Inference (physstd.methods.base) and its TraceModel."""
import os

import tensorflow as tf

from physstd import runs, trace
from physstd.methods.base import TraceModel
from physstd.methods.physstd.generator import Generator
from physstd.models import ModelConfig
from physstd.models.config import IMAGE_TRACE_NAME
from physstd.models.layers import dtype_policy


def load_generator(run_dir):
    """(generator, model_config) of a PhySTD run directory, restored from its newest readable checkpoint.

    Only the generator is read (the discriminators and optimizers stay in the file). It is built in float32
    whatever the training precision (mixed-precision variables are float32).
    """
    record = runs.read_run_flags(run_dir)
    model_config = ModelConfig.from_dict(record["model"], f"{os.path.join(run_dir, runs.FLAGS_FILE)}: model")
    with dtype_policy(mixed_precision=False):
        generator = Generator(model_config)
    size = model_config.image_size
    generator(tf.zeros((1, size, size, 3)), training=False)
    runs.restore_networks(run_dir, {"generator": generator})
    return generator, model_config


def batch_statistics(out):
    """In-graph twin of score.frame_statistics: per-frame trace magnitude and depth mean (the Eq. 10 terms)."""
    size = tf.cast(tf.shape(out.B)[1] * tf.shape(out.B)[2], tf.float32)
    l1 = sum(tf.reduce_sum(tf.abs(getattr(out, name)), axis=(1, 2, 3)) for name in ("B", "C", "T", "P"))
    return l1 / size, tf.reduce_mean(out.M, axis=(1, 2, 3))


class PhySTDInference(tf.Module):
    """The Inference (physstd.methods.base) of a PhySTD generator: its call gives the score terms and the maps
    physstd.export documents."""

    def __init__(self, generator, model_config):
        super().__init__(name="physstd_inference")
        self.generator = generator
        self.model_config = model_config   # a frozen dataclass: not tracked, only used while tracing
        self.image_size = model_config.image_size
        self.config = model_config.to_dict()

    def __call__(self, images):
        out = self.generator(images, training=False)
        trace_magnitude, depth_mean = batch_statistics(out)
        result = {
            "trace_magnitude": trace_magnitude, "depth_mean": depth_mean,
            "depth": out.M, "B": out.B, "C": out.C, "T": out.T, "P": out.P, "I_P": out.I_P,
            "additive_trace": trace.additive_trace(out, self.model_config),
            "live": trace.reconstruct_live(images, out, self.model_config),
        }
        if "S" in self.model_config.components:
            result["S"] = out.S
        return result


def trace_model(generator, model_config):
    """PhySTD's TraceModel: the image-space trace (T_A = [B]n1 + [C]n2 + T for the paper's form, physstd.trace.
    image_trace), the inpainting region P and the overall effect I - I_live of Eq. 5."""
    @tf.function(autograph=False, reduce_retracing=True)
    def estimate(images):
        out = generator(images, training=False)
        return (trace.image_trace(images, out, model_config), out.P,
                trace.overall_effect(images, out, model_config))

    return TraceModel(estimate, model_config.image_size, tuple(model_config.trace_bands), IMAGE_TRACE_NAME)
