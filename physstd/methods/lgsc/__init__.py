"""LGSC ("Learning Generalized Spoof Cues for Face Anti-spoofing", Feng et al. 2020): face anti-spoofing as anomaly
detection. A U-Net produces a spoof cue C that is regressed to zero on live faces only, a triplet loss separates live
from spoof features at five scales, and an auxiliary classifier on the input plus the cue amplifies it.

    networks.py  the cue generator (ResNet-18 encoder, InstanceNorm decoder) and the auxiliary classifier, the size
                 check, and the loader of torchvision resnet18 weights into the encoder
    losses.py    L_r, the five-scale triplet loss, L_a, their weighted sum (Eq. 6-9) and the score terms (Eq. 10)
    patches.py   the seeded training patches (the faces are cropped, never resized)
    config.py    LGSCConfig: its flags (patches, warm-up, encoder weights, Eq. 9 weights, Tab. 5 ablations)
    trainer.py   LGSCTrainer: one Adam on Eq. 9, linear warm-up then the staircase
    inference.py the networks restored from a run, their Inference and TraceModel

The cue is LGSC's spoof trace: score term cue_magnitude = mean |C| (higher = attack), the classifier's p(spoof) a
second term; trace recovery compares C / 2 with an additive trace (x = 2I - 1 doubles image differences).

Score, higher = attack: cue_magnitude alone; nothing is fitted (the calibration file holds an empty dict and the
threshold, chosen on train/dev as for every method; the released code tunes its threshold on the test set). The
dev AUCs report both terms. Exported map: the cue. Figure: input, signed C / 2, |C|.
"""
import numpy as np

from physstd import viz
from physstd.methods.base import Method, UnfittedScore
from physstd.methods.lgsc.config import LGSCConfig, check_backbone_weights

NAME = "lgsc"
SCORE_TERMS = ("cue_magnitude", "spoof_probability")
# The paper (Sec. 4.1): Adam at 1e-3, x0.95 every 600 steps, batch 32 resampled to 1:1 (16 live + 16 spoof), a
# warm-up over the first epoch (the released code: 1000 steps, LGSCConfig.warmup_steps). It converges "in 20
# epochs" and gives no step count: 60k is ours.
TRAIN_DEFAULTS = {"learning_rate": 1e-3, "lr_decay_every": 600, "lr_decay_factor": 0.95, "batch_size": 32,
                  "num_steps": 60_000}
FIGURE_COLUMNS = ("input", "cue C / 2", "|C|")


def cue_panels(images, cues):
    """Rows [input, signed C / 2 (0.5 + 0.5 x / max|x| per face), |C| averaged over channels, on [0, 1]] of images
    and cues (F, N, N, 3)."""
    return [[images[i], viz.signed_display(np.asarray(cues[i]) / 2.0), np.abs(cues[i]).mean(axis=-1)]
            for i in range(len(images))]


class LGSC(UnfittedScore, Method):
    name = NAME
    display_name = "LGSC"   # as the paper tables spell its row
    config_class = LGSCConfig
    score_terms = SCORE_TERMS
    score_formula = "cue_magnitude"
    figure_outputs = ("cue",)
    # The cue generator's decoder, whose cue alone gives the score (chosen on dev; docs/results.md).
    int8_float_layers = r"\bcue_generator(_\d+)?/decoder"
    train_defaults = TRAIN_DEFAULTS

    def check_config(self, config, model_config):
        """N and the patch side multiples of 32, the patch inside the face, --backbone_weights only at width 1 and
        an existing file: one ValueError naming the flag."""
        from physstd.methods.lgsc.networks import check_input_size   # TensorFlow: imported when training starts

        own = config.method_config
        check_input_size(model_config.image_size, "--image_size")
        if own.patch_size:
            check_input_size(own.patch_size, "--patch_size")
            if own.patch_size > model_config.image_size:
                raise ValueError(f"--patch_size={own.patch_size} is larger than the faces (--image_size="
                                 f"{model_config.image_size})")
        check_backbone_weights(own.backbone_weights, model_config.width, "resnet18")

    # The members below import this folder's TensorFlow modules when called: the flag definitions import this
    # module, and `run_train.py --help` stays free of TensorFlow.
    def trainer(self, model_config, config, num_landmarks, strategy):
        from physstd.methods.lgsc.trainer import LGSCTrainer   # TensorFlow: imported when training starts

        self.check_config(config, model_config)
        return LGSCTrainer(model_config, config, num_landmarks, strategy)

    def prediction_terms(self, prediction):
        return {term: np.asarray(prediction[term], np.float64) for term in self.score_terms}

    def image_grid(self, visuals):
        grid = viz.image_grid(cue_panels(visuals["image"], visuals["cue"]))
        return grid[None], "rows: live then spoof; columns: " + ", ".join(FIGURE_COLUMNS)

    def load(self, run_dir):
        from physstd.methods.lgsc import inference   # TensorFlow: imported when a run is loaded

        return inference.LGSCInference(*inference.load_networks(run_dir, self.name))

    def score(self, terms, params):
        return terms["cue_magnitude"]

    def dev_scores(self, terms, params):
        """cue (mean |C|, the score) and classifier (its p(spoof))."""
        return {"cue": terms["cue_magnitude"], "classifier": terms["spoof_probability"]}

    def trace_model(self, inference):
        from physstd.methods.lgsc.inference import trace_model   # TensorFlow: imported when a run is loaded

        return trace_model(inference)

    def classification_traces(self, outputs):
        return outputs["cue"]

    def trace_figure(self, images, outputs, config):
        """input, the signed cue C / 2, |C| (the LGSC paper's Fig. 4 shows the cue of live and spoof faces)."""
        return viz.image_grid(cue_panels(images, outputs["cue"])), FIGURE_COLUMNS


METHOD = LGSC()
