"""The multi-modal disentanglement network ("Learning Polysemantic Spoof Trace: A Multi-Modal Disentanglement
Network for Face Anti-spoofing", Li et al. 2023; `mmdn` is our key, the paper never abbreviates its name): a spoof
trace per modality (RGB and the depth sensor) from two fused ResNet-50 streams, adversarial disentanglement, and a
trace classifier phi on the pair of traces.

    networks.py   encoders, the cross-modality fusion (Eq. 2-5), heads psi, decoders G_m, phi, the discriminators
    losses.py     Eq. 6-14 and the score term
    config.py     MMDNConfig: its flags (--mmdn_modalities, --backbone_weights, --identity_model)
    trainer.py    MMDNTrainer: generator, discriminator and consistency steps per iteration
    inference.py  the networks restored from a run, their Inference and TraceModel

Inputs: the RGB face and the sensor depth registered to it (input_keys), whatever --mmdn_modalities reads.
Score, higher = attack: trace_score = the mean of phi's map (Sec. 3, "Inference"); nothing fitted (the threshold
is chosen on dev as for every method; the paper's BPCER = 1 %: run_test.py --threshold_rule=bpcer). Exported
maps: trace_rgb, trace_depth, live_rgb, live_depth (I_hat = I - T) and phi's spoof_map. Trace recovery scores T_rgb
against the synthetic set's additive trace and T_dep against its sensor-depth trace. Figure: RGB | depth | T_rgb |
T_dep | I_hat_rgb | I_hat_dep.

What the paper fixes (Sec. 3-4): I = I_hat + T per modality; encoders = the first three blocks of ImageNet
ResNet-50; fusion after each block as Eq. 2-5 (an MLP channel gate on the concatenated features, the symmetric
recalibration, per-modality spatial attention from convolutions on the concatenation); a decoder of residual blocks
and deconvolutions with skips; the centre-loss feature after the decoder's third up-sampling; heads psi on the
encoders (L_e); phi a fully convolutional network on the concatenated traces (L_cls), whose output is the score;
multi-scale PatchGAN discriminators of 7 convolutions with 3 down-samplings, D_L and D_S per modality; Eq. 6-14 with
{alpha1..alpha8} = {0.25, 100, 1, 100, 1, 10, 1, 1}, lambda_t = 1e-4; three steps per mini-batch; Adam at 5e-5,
batch 4, 40k iterations, N = 256.

Our choices (no code was released):
- Inputs x = 2I - 1; the depth's one channel repeated x3 for the ResNet stem; random initialisation by default
  (ImageNet weights cannot be downloaded; --backbone_weights loads a torchvision resnet50 .npz into every stream).
- Fusion: GAP before the MLP; hidden units 2C/16 with ReLU; the spatial attention a 1x1 conv with 2 outputs and a
  softmax over the two modalities per pixel; the fused features replace both streams' features.
- psi = GAP(F3'') -> Dense(1). The decoder: 1x1 256, residual, 4x4/2 deconv 128; || F2'' -> 1x1 128, residual,
  deconv 64; || F1'' -> 1x1 64, residual, deconv 64; residual, deconv 32; 3x3 conv + tanh (3 / 1 channels);
  BatchNorm + LeakyReLU(0.2) throughout, no conv bias before a BatchNorm.
- phi: k3 convs c32/2, c64/2, c96/2, c96/1 (BN + LeakyReLU), k3 c1 + sigmoid: an N/8 map.
- Discriminators: k3 c64/1, c64/2, c128/1, c128/2, c256/1, c256/2, c1 (BN + LeakyReLU(0.2) on convs 2-6); scales
  N, N/2, N/4 by average pooling; least squares with real = 1; losses summed over the discriminators, averaged over
  scales. D_L sees live faces against I_hat of every face, D_S spoofs against I_i + T_j (j: the spoofs shuffled).
- Norms of Eq. 6-14 as per-element means; L_e as a mean BCE; L_center as 1/2 the mean over the batch of the
  squared distance, centres updated after each step with Wen et al.'s alpha = 0.5, all-reduced across replicas.
- The discriminator step uses the generator step's forward pass (its fakes as constants); the consistency step
  mixes two spoofs' traces with probability 0.5 and a weight w ~ U(0, 1), on live faces without clipping.
- Discriminators at the same learning rate as G; no decay.
- L_id needs a user-supplied face recogniser (--identity_model, a SavedModel on RGB faces in [0, 1]); off by
  default (the paper's comparable row: Tab. 5 "w.o. L_id").
- One modality (--mmdn_modalities=rgb or depth, Tab. 4's "RGB Only" / "DEP Only"): one stream, no fusion, phi on
  its trace; the run still reads sensor depth (input_keys do not depend on the flags), the absent modality's trace
  exported as zeros.
"""
import os

import numpy as np

from physstd import viz
from physstd.methods.base import Method, UnfittedScore
from physstd.methods.lgsc.config import check_backbone_weights
from physstd.methods.mmdn.config import MMDNConfig

NAME = "mmdn"
# Sec. 4: Adam at 5e-5 (0.9, 0.999), batch 4 (2 live + 2 spoof), 40k iterations, no decay; 5 frames per video
# (the paper selects them at random; ours are spread evenly, --frames_per_video).
TRAIN_DEFAULTS = {"learning_rate": 5e-5, "batch_size": 4, "num_steps": 40_000, "lr_decay_factor": 1.0,
                  "adam_beta1": 0.9, "adam_beta2": 0.999, "frames_per_video": 5}
FIGURE_COLUMNS = ("RGB", "depth", "T_rgb", "T_dep", "I_hat_rgb", "I_hat_dep")


def trace_panels(images, depths, outputs):
    """Rows [RGB, depth, T_rgb, T_dep (signed, 0.5 + 0.5 x / max|x| per face), I_hat_rgb, I_hat_dep] of images
    (F, N, N, 3), depths (F, N, N, 1) and the outputs' traces and live parts."""
    return [[images[i], depths[i][..., 0], viz.signed_display(outputs["trace_rgb"][i]),
             viz.signed_display(outputs["trace_depth"][i][..., 0]), outputs["live_rgb"][i],
             outputs["live_depth"][i][..., 0]] for i in range(len(images))]


class MultiModalDisentanglement(UnfittedScore, Method):
    name = NAME
    display_name = "Multi-Modal Disentanglement Network"   # the paper's title never abbreviated (its table rows)
    config_class = MMDNConfig
    input_keys = ("image", "sensor_depth")
    score_terms = ("trace_score",)
    score_formula = "trace_score"
    figure_outputs = ("trace_rgb", "trace_depth", "live_rgb", "live_depth")
    # The trace classifier phi, which gives the score, and the decoders and fusions whose traces it reads: phi
    # turns small int8 errors in the traces into large score changes (chosen on dev over three seeds).
    int8_float_layers = r"\b(trace_classifier|decoder_rgb|decoder_depth|fusion\d)(_\d+)?/"
    train_defaults = TRAIN_DEFAULTS

    def check_config(self, config, model_config):
        """--backbone_weights only at width 1 and an existing file; --identity_model an existing SavedModel
        directory with the rgb stream: one ValueError naming the flag."""
        own = config.method_config
        check_backbone_weights(own.backbone_weights, model_config.width, "resnet50")
        if own.identity_model:
            if not os.path.isfile(os.path.join(own.identity_model, "saved_model.pb")):
                raise ValueError(f"--identity_model={own.identity_model}: not a SavedModel directory (no "
                                 f"saved_model.pb)")
            if "rgb" not in own.mmdn_modalities:
                raise ValueError(f"--identity_model: L_id compares RGB faces; --mmdn_modalities="
                                 f"{own.mmdn_modalities} has no rgb stream")

    # The members below import this folder's TensorFlow modules when called: the flag definitions import this
    # module, and `run_train.py --help` stays free of TensorFlow.
    def trainer(self, model_config, config, num_landmarks, strategy):
        from physstd.methods.mmdn.trainer import MMDNTrainer   # TensorFlow: imported when training starts

        self.check_config(config, model_config)
        return MMDNTrainer(model_config, config, strategy)

    def prediction_terms(self, prediction):
        return {"trace_score": np.asarray(prediction["trace_score"], np.float64)}

    def image_grid(self, visuals):
        grid = viz.image_grid(trace_panels(visuals["image"], visuals["sensor_depth"], visuals))
        return grid[None], "rows: live then spoof; columns: " + ", ".join(FIGURE_COLUMNS)

    def load(self, run_dir):
        from physstd.methods.mmdn import inference   # TensorFlow: imported when a run is loaded

        return inference.MMDNInference(*inference.load_networks(run_dir, self.name))

    def score(self, terms, params):
        return terms["trace_score"]

    def trace_model(self, inference):
        from physstd.methods.mmdn.inference import trace_model   # TensorFlow: imported when a run is loaded

        return trace_model(inference, self.input_keys)

    def classification_traces(self, outputs):
        """T_rgb || T_dep (Sec. 4.4's classifier reads the pair, as phi does)."""
        import tensorflow as tf   # TensorFlow: imported when called

        return tf.concat([outputs["trace_rgb"], outputs["trace_depth"]], axis=-1)

    def trace_figure(self, images, outputs, config):
        """RGB | depth (I_hat_dep + T_dep) | T_rgb | T_dep | I_hat_rgb | I_hat_dep (the paper's Fig. 5 shows the
        inputs, traces and live parts of both modalities)."""
        depths = np.asarray(outputs["live_depth"]) + np.asarray(outputs["trace_depth"])
        return viz.image_grid(trace_panels(images, depths, outputs)), FIGURE_COLUMNS


METHOD = MultiModalDisentanglement()
