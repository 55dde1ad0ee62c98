"""PhySTD (the PhySTD paper: physics-guided spoof trace disentanglement) on the harness interface
(physstd.methods.base): the default method.

    config.py          PhySTDConfig: its flags (loss weights, the steps of Alg. 1, the readings the paper leaves open)
    generator.py       the disentanglement generator (Sec. 3.2)
    discriminator.py   the multi-scale discriminators D1..D4 (Sec. 3.4)
    losses.py          Eq. 16-22
    trainer.py         PhySTDTrainer: one Alg. 1 iteration
    score.py           Eq. 10: the per-frame trace magnitude and depth mean, alpha0 * trace_magnitude - depth_mean
    inference.py       the generator restored from a run: its Inference and its TraceModel
    visuals.py         the TensorBoard image grid of training

Score: Eq. 10 with consistent signs (score.py), alpha0 >= 0 fitted on the train/dev split. Exported maps: the depth
map, the trace components, T_A and the live reconstruction (physstd.export documents them).
"""
from physstd import viz
from physstd.methods.base import Method, WeightedScore
from physstd.methods.physstd import score
from physstd.methods.physstd import visuals as training_images
from physstd.methods.physstd.config import PhySTDConfig
from physstd.models import ModelConfig


class PhySTD(WeightedScore, Method):
    name = "physstd"
    display_name = "PhySTD"
    config_class = PhySTDConfig
    # The discriminators' learning rate and width, and the generator's trace model.
    claimed_flags = frozenset({"discriminator_lr_ratio", "discriminator_width", "trace_form", "single_trace",
                               "lowpass", "upsample"})
    score_terms = score.SCORE_TERMS
    weighted_score = score.SCORE
    score_formula = score.SCORE.formula
    figure_outputs = ("depth", "B", "C", "T", "P", "I_P", "additive_trace", "live")
    # The stem's input holds [I]n1 next to 15 ([I]n2 - [I]n1) and 25 (I - [I]n2) under one int8 scale; int8 noise
    # in the decoders biases the L1 trace magnitude of Eq. 10 (chosen on dev over three seeds; docs/results.md).
    # TensorFlow's quantiser keeps the transposed convolutions of up1-3 int8 whatever the list says; their
    # activations stay float32.
    int8_float_layers = r"\b(stem|stage1_conv1|up\d|trace_head|depth_conv\d|attention_[fu]\d)(_\d+)?/"

    # The members below import this folder's TensorFlow modules when called: the flag definitions import this
    # module, and `run_train.py --help` stays free of TensorFlow.
    def trainer(self, model_config, config, num_landmarks, strategy):
        from physstd.methods.physstd.trainer import PhySTDTrainer   # TensorFlow: imported when training starts

        return PhySTDTrainer(model_config, config, num_landmarks, strategy)

    def prediction_terms(self, prediction):
        out = prediction
        return dict(zip(self.score_terms, score.frame_statistics(out.B.numpy(), out.C.numpy(), out.T.numpy(),
                                                                  out.P.numpy(), out.M.numpy())))

    def image_grid(self, visuals):
        return training_images.image_grid(visuals), "columns: " + ", ".join(training_images.GRID_COLUMNS)

    def load(self, run_dir):
        from physstd.methods.physstd import inference   # TensorFlow: imported when a run is loaded

        return inference.PhySTDInference(*inference.load_generator(run_dir))

    def dev_scores(self, terms, params):
        """depth (-mean M, nothing fitted), trace (the trace magnitude alone) and eq10 (the fitted score)."""
        return {"depth": self.score(terms, {"alpha0": 0.0}), "trace": terms["trace_magnitude"],
                "eq10": self.score(terms, params)}

    def trace_model(self, inference):
        from physstd.methods.physstd.inference import trace_model   # TensorFlow: imported when a run is loaded

        return trace_model(inference.generator, inference.model_config)

    def classification_traces(self, outputs):
        import tensorflow as tf   # TensorFlow: imported when called

        return tf.concat([outputs["B"], outputs["C"], outputs["T"]], axis=-1)

    def trace_figure(self, images, outputs, config):
        """Fig. 8: input, [B]n1, [C]n2, T, P, live reconstruction (the bands of T_A need the ModelConfig)."""
        arrays = viz.with_bands(outputs, ModelConfig.from_dict(config))
        return viz.trace_components_grid(images, arrays), viz.FIG8_COLUMNS

    def paper_figures(self, examples, outputs, config):
        """Fig. 12 (B, C, T removed one by one, then inpainting) on the spoof examples, and Fig. 10 (each spoof's
        traces moved onto each live example by Eq. 8 and 12-15) where there are live examples."""
        import numpy as np

        model_config = ModelConfig.from_dict(config)
        spoof = examples["label"] == 1
        if not spoof.any():
            return []
        images = examples["image"]
        spoof_out = viz.generator_output({key: np.asarray(value)[spoof] for key, value in outputs.items()})
        figures = [("fig12_progressive_removal.png", "Fig. 12 layout: B, C, T removed one by one, then inpainting",
                    viz.removal_grid(viz.progressive_removal(images[spoof], spoof_out, model_config)),
                    viz.FIG12_COLUMNS, viz.spoof_type_titles(examples["spoof_type"][spoof]))]
        live = ~spoof
        if live.any():
            synthesized = viz.synthesize_pairs(images[live], examples["landmarks"][live], images[spoof],
                                               examples["landmarks"][spoof], spoof_out, model_config)
            figures.append(("fig10_spoof_synthesis.png", "Fig. 10 layout: top row source spoofs, left column target "
                            "lives, body synthesized spoofs",
                            viz.synthesis_grid(list(images[spoof]), list(images[live]), synthesized), None, None))
        return figures


METHOD = PhySTD()
