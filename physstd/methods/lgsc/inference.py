"""A trained LGSC for evaluation, export and trace recovery: the cue generator and the auxiliary classifier restored
from a run directory, their forward pass (shared with the trainer's predict), the Inference and the TraceModel."""
import os

import tensorflow as tf

from physstd import runs
from physstd.methods.base import TraceModel
from physstd.methods.lgsc import losses
from physstd.methods.lgsc.config import LGSCConfig
from physstd.methods.lgsc.networks import AuxiliaryClassifier, CueGenerator, overlaid_input
from physstd.models import ModelConfig
from physstd.models.layers import dtype_policy

NETWORK_KEYS = ("cue_generator", "auxiliary_classifier")   # the trainer's checkpoint_objects() keys
TRACE_NAME = "Recovered trace = LGSC's spoof cue C / 2"


def classifier_input(images, cue, reads):
    """What the auxiliary classifier reads: x + C ('overlaid', Sec. 3.4) or C alone ('cue', Tab. 5)."""
    return cue if reads == "cue" else overlaid_input(images, cue)


def outputs(generator, classifier, images, reads="overlaid"):
    """The inference-mode forward pass on images (batch, n, n, 3) in [0, 1]: the cue C (batch, n, n, 3) and the
    per-frame score terms cue_magnitude = mean |C| and spoof_probability (the classifier's p(spoof))."""
    cue, _ = generator(images, training=False)
    logits = classifier(classifier_input(images, cue, reads), training=False)
    return {"cue_magnitude": losses.cue_magnitude(cue), "spoof_probability": losses.spoof_probability(logits),
            "cue": cue}


def build_networks(width, image_size, cue_head="released"):
    """(CueGenerator, AuxiliaryClassifier) at `width`, built in float32 on image_size-pixel faces (their default
    names: the checkpoint keys are their variable paths)."""
    with dtype_policy(mixed_precision=False):
        generator, classifier = CueGenerator(width, cue_head), AuxiliaryClassifier(width)
    images = tf.zeros((1, image_size, image_size, 3))
    classifier(overlaid_input(images, generator(images)[0]))
    return generator, classifier


def load_networks(run_dir, method_name):
    """(generator, classifier, model_config, own config) of an LGSC run (a run of `method_name`), restored from its
    newest readable checkpoint."""
    record = runs.read_method_run(run_dir, method_name)
    path = os.path.join(run_dir, runs.FLAGS_FILE)
    model_config = ModelConfig.from_dict(record["model"], f"{path}: model")
    own = LGSCConfig.from_dict(record["train"].get("method_config", {}), f"{path}: method_config")
    generator, classifier = build_networks(model_config.width, model_config.image_size, own.cue_head)
    runs.restore_networks(run_dir, dict(zip(NETWORK_KEYS, (generator, classifier))))
    return generator, classifier, model_config, own


class LGSCInference(tf.Module):
    """The Inference (physstd.methods.base) of an LGSC run's networks: `outputs` on the whole face."""

    def __init__(self, generator, classifier, model_config, own_config):
        super().__init__(name="lgsc_inference")
        self.generator, self.classifier = generator, classifier
        self.classifier_reads = own_config.classifier_input
        self.image_size = model_config.image_size
        self.trace_bands = tuple(model_config.trace_bands)
        self.config = model_config.to_dict()

    def __call__(self, images):
        return outputs(self.generator, self.classifier, images, self.classifier_reads)


def trace_model(inference):
    """LGSC's TraceModel: C / 2 as the additive trace (x = 2I - 1 doubles image differences), no inpainting
    region."""
    @tf.function(autograph=False, reduce_retracing=True)
    def estimate(images):
        return inference(images)["cue"] / 2.0

    return TraceModel(lambda images: (estimate(images), None), inference.image_size, inference.trace_bands,
                      TRACE_NAME)
