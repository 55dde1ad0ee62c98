"""A trained multi-modal disentanglement network for evaluation, export and trace recovery: the generator and phi
restored from a run directory, their forward pass (shared with the trainer's predict), the Inference and the
TraceModel."""
import os

import tensorflow as tf

from physstd import runs
from physstd.methods.base import TraceModel
from physstd.methods.mmdn import losses
from physstd.methods.mmdn.config import MMDNConfig
from physstd.methods.mmdn.networks import MODALITIES, MODALITY_CHANNELS, SpoofTraceGenerator, TraceClassifier, \
    parse_modalities
from physstd.models import ModelConfig
from physstd.models.layers import dtype_policy

NETWORK_KEYS = ("generator", "trace_classifier")   # the trainer's checkpoint_objects() keys
INPUT_KEYS = {"rgb": "image", "depth": "sensor_depth"}   # modality -> the harness's input key
TRACE_NAME = "Recovered trace = the RGB spoof trace T_rgb (I_hat_rgb = I_rgb - T_rgb)"


def modality_inputs(inputs, modalities):
    """{modality: (batch, N, N, c)} of the harness's inputs {'image', 'sensor_depth'}."""
    return {m: tf.cast(inputs[INPUT_KEYS[m]], tf.float32) for m in modalities}


def outputs(generator, classifier, inputs, training=False):
    """The forward pass on the harness's inputs: trace_score (batch,) (the mean of phi's map), spoof_map, and per
    modality of MODALITIES its trace T_m ('trace_rgb' (batch, N, N, 3), 'trace_depth' (batch, N, N, 1)) and live
    part I_hat_m = I_m - T_m ('live_rgb', 'live_depth'); a modality the network does not read has a zero trace
    (its live part is its input), so that every run exports the same maps."""
    named = modality_inputs(inputs, MODALITIES)
    out = generator({m: named[m] for m in generator.modalities}, training=training)
    traces = {m: out["trace"].get(m, tf.zeros_like(named[m])) for m in MODALITIES}
    spoof_map = classifier(tf.concat([traces[m] for m in generator.modalities], -1), training=training)
    result = {"trace_score": losses.trace_score(spoof_map), "spoof_map": spoof_map}
    for m in MODALITIES:
        result[f"trace_{m}"], result[f"live_{m}"] = traces[m], named[m] - traces[m]
    return result


def build_networks(modalities, width, image_size, mixed_precision=False):
    """(SpoofTraceGenerator, TraceClassifier) built on image_size-pixel faces (float32, or mixed float16)."""
    with dtype_policy(mixed_precision):
        generator, classifier = SpoofTraceGenerator(modalities, width), TraceClassifier(width)
    outputs(generator, classifier, {INPUT_KEYS[m]: tf.zeros((1, image_size, image_size, MODALITY_CHANNELS[m]))
                                    for m in MODALITIES})
    return generator, classifier


def load_networks(run_dir, method_name):
    """(generator, classifier, model_config, own config) of a run of `method_name`, from its newest checkpoint."""
    record = runs.read_method_run(run_dir, method_name)
    path = os.path.join(run_dir, runs.FLAGS_FILE)
    model_config = ModelConfig.from_dict(record["model"], f"{path}: model")
    own = MMDNConfig.from_dict(record["train"].get("method_config", {}), f"{path}: method_config")
    generator, classifier = build_networks(parse_modalities(own.mmdn_modalities), model_config.width,
                                           model_config.image_size)
    runs.restore_networks(run_dir, dict(zip(NETWORK_KEYS, (generator, classifier))))
    return generator, classifier, model_config, own


class MMDNInference(tf.Module):
    """The Inference (physstd.methods.base) of a run's generator and phi: `outputs` on the whole face."""

    def __init__(self, generator, classifier, model_config, own_config):
        super().__init__(name="mmdn_inference")
        self.generator, self.classifier = generator, classifier
        self.image_size = model_config.image_size
        self.trace_bands = tuple(model_config.trace_bands)
        self.config = dict(model_config.to_dict(), mmdn_modalities=own_config.mmdn_modalities)

    def __call__(self, inputs):
        return outputs(self.generator, self.classifier, inputs)


def trace_model(inference, input_keys):
    """The TraceModel: T_rgb as the additive trace in image space (I_hat = I - T, Eq. 1), no inpainting region, no
    effect besides it; T_dep as the depth trace where the run has a depth stream (None otherwise)."""
    @tf.function(autograph=False, reduce_retracing=True)
    def traces(inputs):
        out = inference(inputs)
        return out["trace_rgb"], out["trace_depth"]

    has_depth = "depth" in parse_modalities(inference.config["mmdn_modalities"])

    def estimate(inputs):
        trace_rgb, trace_depth = traces(inputs)
        return trace_rgb, None, None, trace_depth if has_depth else None

    return TraceModel(estimate, inference.image_size, inference.trace_bands, TRACE_NAME, tuple(input_keys))
