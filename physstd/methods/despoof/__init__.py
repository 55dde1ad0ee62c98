"""De-Spoof (seeds/003, Jourabloo et al. ECCV18) on the harness interface (physstd.methods.base).

Networks: DS-Net (noise N and the 0\\1 map, physstd.models.despoof.DSNet), VQ-Net (training only) and DQ-Net, the
Auxiliary CNN of a trained Auxiliary run (`--dq_run`, physstd.methods.auxiliary) that reads the depth of the
reconstructed live face I_hat = I - N. Training: physstd.train.baseline_trainers.DeSpoofTrainer (Eq. 7, Sec. 4.1).

Score, higher = attack: weight * noise_magnitude - depth_mean. Sec. 4.2's "average fusion" adds ||N|| and
||D_hat||, but the noise norm grows for attacks while the reconstruction's depth grows for live faces, so one of the
two must enter with a minus sign for the sum to rank anything; their units are unrelated, so the weight (>= 0) is
fitted on train/dev like PhySTD's alpha0 (physstd.eval.scoring.choose_alpha0), never on test. The paper's equal
weights are one point of that grid.

Spoof trace: the RGB channels of N are what the attack added to the live face (I = I_hat + N), so trace recovery
scores them as the additive trace (no inpainting region), and the Sec. 4.4 trace classification learns from the
whole 6-channel noise (seeds/001 Tab. 6 compares with this method's noise).
"""
from physstd import runs
from physstd.methods import auxiliary
from physstd.methods.base import Method

NAME = "despoof"
SCORE_TERMS = ("noise_magnitude", "depth_mean")
NETWORK_KEYS = ("ds_net", "dq_net")   # the trainer's checkpoint_objects() keys of the inference networks
# seeds/003 Sec. 4.1: Adam at 3e-5 for every network, batch 6 (3 live + 3 spoof), no learning-rate decay mentioned.
TRAIN_DEFAULTS = dict(auxiliary.TRAIN_DEFAULTS)


def outputs(ds_net, dq_net, images):
    """The forward pass of DS-Net and DQ-Net on RGB images (batch, N, N, 3) in [0, 1], inference mode:
    noise N (6 channels), additive_trace (its RGB part), zero_one_map, live (I_hat's RGB), depth (DQ-Net on I_hat),
    and the per-frame score terms noise_magnitude and depth_mean. The trainer's predict and `load` share it."""
    from physstd import losses_baselines as lb
    from physstd.models.auxiliary import rgb_hsv

    image6 = rgb_hsv(images)
    noise, zero_one_map = ds_net(image6, training=False)
    reconstruction = lb.reconstruct_live(image6, noise)
    depth = dq_net(reconstruction, training=False)
    return {"noise_magnitude": lb.noise_magnitude(noise), "depth_mean": lb.depth_mean(depth),
            "noise": noise, "additive_trace": lb.additive_trace(noise), "zero_one_map": zero_one_map,
            "live": reconstruction[..., :3], "depth": depth}


def check_dq_run(dq_run, model_config, where="--dq_run"):
    """The ModelConfig of the Auxiliary run `dq_run`, checked against De-Spoof's: a trained Auxiliary run at the
    same image size and width (a De-Spoof run stores its DQ-Net copy and rebuilds it from its own ModelConfig).
    One clear ValueError naming `where` otherwise."""
    if not dq_run:
        raise ValueError(f"{where} is required: De-Spoof's DQ-Net is a pre-trained Auxiliary run (seeds/003 Sec. "
                         f"4.1); train one with run_train.py --method=auxiliary and pass its run directory")
    try:
        dq_config = auxiliary.run_model_config(dq_run)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None
    for field in ("image_size", "width"):
        if getattr(dq_config, field) != getattr(model_config, field):
            raise ValueError(f"{where}: the Auxiliary run {dq_run} has {field} {getattr(dq_config, field)}, this "
                             f"De-Spoof run {getattr(model_config, field)}; they must match")
    return dq_config


def load_networks(run_dir):
    """(ds_net, dq_net, model_config) of a De-Spoof run, built in float32 and restored from its newest readable
    checkpoint (the run's own DQ-Net copy: the Auxiliary run is not read)."""
    import tensorflow as tf

    from physstd.models.despoof import DSNet
    from physstd.models.layers import dtype_policy

    model_config = auxiliary.run_model_config(run_dir, NAME)
    with dtype_policy(mixed_precision=False):
        ds_net = DSNet(model_config)
    size = model_config.image_size
    ds_net(tf.zeros((1, size, size, 3)), training=False)
    dq_net = auxiliary.build_network(model_config)
    runs.restore_networks(run_dir, dict(zip(NETWORK_KEYS, (ds_net, dq_net))))
    return ds_net, dq_net, model_config


def inference(ds_net, dq_net, model_config):
    """The Inference (physstd.methods.base) of a De-Spoof run's networks: `outputs`."""
    import tensorflow as tf

    class DeSpoofInference(tf.Module):
        def __init__(self):
            super().__init__(name="despoof_inference")
            self.ds_net, self.dq_net = ds_net, dq_net
            self.image_size = model_config.image_size
            self.trace_bands = tuple(model_config.trace_bands)
            self.config = model_config.to_dict()

        def __call__(self, images):
            return outputs(self.ds_net, self.dq_net, images)

    return DeSpoofInference()


class DeSpoof(Method):
    name = NAME
    display_name = "DeSpoof"   # as the paper tables spell its row
    own_flags = frozenset({"dq_run", "train_dq", "discriminator_width"})   # the last: VQ-Net's width
    score_terms = SCORE_TERMS
    score_formula = "weight * noise_magnitude - depth_mean"
    figure_outputs = ("additive_trace", "zero_one_map", "depth", "live")
    train_defaults = TRAIN_DEFAULTS

    def check_config(self, config, model_config):
        check_dq_run(config.dq_run, model_config)

    def trainer(self, model_config, config, num_landmarks, strategy):
        from physstd.train.baseline_trainers import DeSpoofTrainer

        check_dq_run(config.dq_run, model_config)
        return DeSpoofTrainer(model_config, config, num_landmarks, strategy, dq_net=config.dq_run,
                              train_dq=config.train_dq)

    def prediction_terms(self, prediction):
        import numpy as np

        return {term: np.asarray(prediction[term], np.float64) for term in SCORE_TERMS}

    def load(self, run_dir):
        return inference(*load_networks(run_dir))

    def score(self, terms, params):
        # Plain arithmetic (numpy or tensors): the form of scoring.spoof_score with the weight as alpha0.
        return params["weight"] * terms["noise_magnitude"] - terms["depth_mean"]

    def fit_score(self, labels, terms):
        from physstd.eval import scoring

        return {"weight": scoring.choose_alpha0(labels, terms["noise_magnitude"], terms["depth_mean"])}

    def check_params(self, params, where):
        from physstd.eval import scoring

        if not isinstance(params, dict) or set(params) != {"weight"}:
            raise ValueError(f"{where}: De-Spoof's score parameters are {{'weight': number}}; found {params!r}")
        return {"weight": scoring.checked_alpha0(params["weight"], f"{where}: weight")}

    def dev_scores(self, terms, params):
        """depth (-mean of DQ-Net's depth of I_hat), noise (the noise magnitude alone) and fused (the fitted
        score)."""
        return {"depth": -terms["depth_mean"], "noise": terms["noise_magnitude"], "fused": self.score(terms, params)}

    def trace_model(self, inference):
        import tensorflow as tf

        from physstd.eval import trace_recovery

        @tf.function(autograph=False, reduce_retracing=True)
        def estimate(images):
            return inference(images)["additive_trace"]

        return trace_recovery.TraceModel(lambda images: (estimate(images), None), inference.image_size,
                                         inference.trace_bands, "Recovered trace = the RGB part of De-Spoof's noise N")

    def classification_traces(self, outputs):
        return outputs["noise"]

    def trace_figure(self, images, outputs, config):
        """input, the noise N's RGB part, the 0\\1 map, DQ-Net's depth of I_hat, I_hat (seeds/003 Fig. 1, 6)."""
        from physstd import viz

        return viz.noise_grid(images, outputs), viz.NOISE_COLUMNS


METHOD = DeSpoof()
