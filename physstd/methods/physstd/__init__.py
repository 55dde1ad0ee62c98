"""PhySTD (seeds/001) on the harness interface (physstd.methods.base): the default method.

Networks: physstd.models.Generator (and the discriminators, training only). Training: the Alg. 1 iteration of
physstd.train.trainer.PhySTDTrainer. Score: Eq. 10 with consistent signs (physstd.eval.scoring):
alpha0 * trace_magnitude - depth_mean, alpha0 >= 0 fitted on the train/dev split. Exported maps: the depth map,
the trace components, T_A and the live reconstruction (physstd.export documents them).
"""
import os

from physstd import runs
from physstd.methods.base import Method

SCORE_TERMS = ("trace_magnitude", "depth_mean")


def load_generator(run_dir):
    """(generator, model_config) of a PhySTD run directory, restored from its newest readable checkpoint.

    Only the generator is read (the discriminators and optimizers stay in the file). It is built in float32
    whatever the training precision (mixed-precision variables are float32).
    """
    import tensorflow as tf

    from physstd.models import Generator, ModelConfig
    from physstd.models.layers import dtype_policy

    record = runs.read_run_flags(run_dir)
    try:
        model_config = ModelConfig.from_dict(record["model"])
    except (TypeError, ValueError) as error:
        raise ValueError(f"{os.path.join(run_dir, runs.FLAGS_FILE)}: bad model config ({error})") from None
    with dtype_policy(mixed_precision=False):
        generator = Generator(model_config)
    size = model_config.image_size
    generator(tf.zeros((1, size, size, 3)), training=False)
    runs.restore_networks(run_dir, {"generator": generator})
    return generator, model_config


def batch_statistics(out):
    """In-graph twin of scoring.frame_statistics: per-frame trace magnitude and depth mean (the Eq. 10 terms)."""
    import tensorflow as tf

    size = tf.cast(tf.shape(out.B)[1] * tf.shape(out.B)[2], tf.float32)
    l1 = sum(tf.reduce_sum(tf.abs(getattr(out, name)), axis=(1, 2, 3)) for name in ("B", "C", "T", "P"))
    return l1 / size, tf.reduce_mean(out.M, axis=(1, 2, 3))


def inference(generator, model_config):
    """The Inference (physstd.methods.base) of a PhySTD generator: a tf.Module whose call gives the score terms
    and the maps physstd.export documents."""
    import tensorflow as tf

    from physstd import trace

    class PhySTDInference(tf.Module):
        def __init__(self):
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
                "additive_trace": trace.additive_trace(out, model_config),
                "live": trace.reconstruct_live(images, out, model_config),
            }
            if "S" in model_config.components:
                result["S"] = out.S
            return result

    return PhySTDInference()


class PhySTD(Method):
    name = "physstd"
    display_name = "PhySTD"
    # Alg. 1's losses, steps and readings, the discriminators' learning rate and the generator's trace model.
    own_flags = frozenset({"a1", "a2", "a3", "a4", "a5", "a6", "beta", "steps", "generator_updates",
                           "synthesis_target", "match_real_band", "live_trace_weight", "hard_synthesis_weight",
                           "band_limit_inpainted", "discriminator_lr_ratio", "discriminator_width", "trace_form",
                           "single_trace", "lowpass", "upsample"})
    score_terms = SCORE_TERMS
    score_formula = "alpha0 * trace_magnitude - depth_mean"
    figure_outputs = ("depth", "B", "C", "T", "P", "I_P", "additive_trace", "live")

    def trainer(self, model_config, config, num_landmarks, strategy):
        from physstd.train.trainer import PhySTDTrainer

        return PhySTDTrainer(model_config, config, num_landmarks, strategy)

    def prediction_terms(self, prediction):
        from physstd.eval import scoring

        out = prediction
        return dict(zip(SCORE_TERMS, scoring.frame_statistics(out.B.numpy(), out.C.numpy(), out.T.numpy(),
                                                              out.P.numpy(), out.M.numpy())))

    def image_grid(self, visuals):
        from physstd.train import summaries

        return summaries.image_grid(visuals), "columns: " + ", ".join(summaries.GRID_COLUMNS)

    def load(self, run_dir):
        return inference(*load_generator(run_dir))

    def score(self, terms, params):
        # Plain arithmetic (numpy or tensors); scoring.spoof_score is the checked numpy form of the same rule.
        return params["alpha0"] * terms["trace_magnitude"] - terms["depth_mean"]

    def fit_score(self, labels, terms):
        from physstd.eval import scoring

        return {"alpha0": scoring.choose_alpha0(labels, terms["trace_magnitude"], terms["depth_mean"])}

    def check_params(self, params, where):
        from physstd.eval import scoring

        if not isinstance(params, dict) or set(params) != {"alpha0"}:
            raise ValueError(f"{where}: PhySTD's score parameters are {{'alpha0': number}}; found {params!r}")
        return {"alpha0": scoring.checked_alpha0(params["alpha0"], f"{where}: alpha0")}

    def dev_scores(self, terms, params):
        """depth (-mean M, nothing fitted), trace (the trace magnitude alone) and eq10 (the fitted score)."""
        return {"depth": self.score(terms, {"alpha0": 0.0}), "trace": terms["trace_magnitude"],
                "eq10": self.score(terms, params)}

    def trace_model(self, inference):
        from physstd.eval import trace_recovery

        return trace_recovery.physstd_trace_model(inference.generator, inference.model_config)

    def classification_traces(self, outputs):
        import tensorflow as tf

        return tf.concat([outputs["B"], outputs["C"], outputs["T"]], axis=-1)

    def trace_figure(self, images, outputs, config):
        """Fig. 8: input, [B]n1, [C]n2, T, P, live reconstruction (the bands of T_A need the ModelConfig)."""
        from physstd import viz
        from physstd.models import ModelConfig

        arrays = viz.with_bands(outputs, ModelConfig.from_dict(config))
        return viz.trace_components_grid(images, arrays), viz.FIG8_COLUMNS


METHOD = PhySTD()
