"""De-Spoof (Jourabloo et al., "Face De-Spoofing: Anti-Spoofing via Noise Modeling", ECCV 2018) on the harness
interface (physstd.methods.base).

    config.py      DeSpoofConfig: its flags (--dq_run, --train_dq)
    networks.py    DS-Net (noise N and the 0\\1 map) and VQ-Net (training only)
    losses.py      Eq. 1-7
    trainer.py     DeSpoofTrainer (Eq. 7, Sec. 4.1)
    inference.py   DS-Net and the DQ-Net copy restored from a run: their forward pass, Inference and TraceModel

DQ-Net is the Auxiliary CNN of a trained Auxiliary run (`--dq_run`, physstd.methods.auxiliary, whose network,
losses and run reader this folder imports) that reads the depth of the reconstructed live face I_hat = I - N.

Score, higher = attack: weight * noise_magnitude - depth_mean. Sec. 4.2's "average fusion" adds ||N|| and
||D_hat||, but the noise norm grows for attacks while the reconstruction's depth grows for live faces, so one of the
two must enter with a minus sign for the sum to rank anything; their units are unrelated, so the weight (>= 0) is
fitted on train/dev like PhySTD's alpha0 (physstd.eval.scoring.WeightedDifference), never on test. The paper's
equal weights are one point of that grid.

Spoof trace: the RGB channels of N are what the attack added to the live face (I = I_hat + N), so trace recovery
scores them as the additive trace (no inpainting region), and the Sec. 4.4 trace classification learns from the
whole 6-channel noise (the PhySTD paper's Tab. 6 compares with this method's noise).
"""
import numpy as np

from physstd import viz
from physstd.eval import scoring
from physstd.methods import auxiliary
from physstd.methods.auxiliary.run_config import run_model_config
from physstd.methods.base import Method, WeightedScore
from physstd.methods.despoof.config import DeSpoofConfig

NAME = "despoof"
SCORE = scoring.WeightedDifference("weight", "noise_magnitude", "depth_mean", "De-Spoof")
# The De-Spoof paper, Sec. 4.1: Adam at 3e-5 for every network, batch 6 (3 live + 3 spoof), no learning-rate decay
# mentioned.
TRAIN_DEFAULTS = dict(auxiliary.TRAIN_DEFAULTS)


def check_dq_run(dq_run, model_config, where="--dq_run"):
    """The ModelConfig of the Auxiliary run `dq_run`, checked against De-Spoof's: a trained Auxiliary run at the
    same image size and width (a De-Spoof run stores its DQ-Net copy and rebuilds it from its own ModelConfig).
    One clear ValueError naming `where` otherwise."""
    if not dq_run:
        raise ValueError(f"{where} is required: De-Spoof's DQ-Net is a pre-trained Auxiliary run (the De-Spoof "
                         f"paper, Sec. 4.1); train one with run_train.py --method=auxiliary and pass its run "
                         f"directory")
    try:
        dq_config = run_model_config(dq_run)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None
    for field in ("image_size", "width"):
        if getattr(dq_config, field) != getattr(model_config, field):
            raise ValueError(f"{where}: the Auxiliary run {dq_run} has {field} {getattr(dq_config, field)}, this "
                             f"De-Spoof run {getattr(model_config, field)}; they must match")
    return dq_config


class DeSpoof(WeightedScore, Method):
    name = NAME
    display_name = "DeSpoof"   # as the paper tables spell its row
    config_class = DeSpoofConfig
    claimed_flags = frozenset({"discriminator_width"})   # VQ-Net's width
    score_terms = SCORE.terms
    weighted_score = SCORE
    score_formula = SCORE.formula
    figure_outputs = ("additive_trace", "zero_one_map", "depth", "live")
    # DS-Net: its noise N (about 1e-3, the score's main term) is a residual that int8 noise in any layer swamps.
    int8_float_layers = r"\bds_net(_\d+)?/"
    train_defaults = TRAIN_DEFAULTS

    def check_config(self, config, model_config):
        check_dq_run(config.method_config.dq_run, model_config)

    # The members below import this folder's TensorFlow modules when called: the flag definitions import this
    # module, and `run_train.py --help` stays free of TensorFlow.
    def trainer(self, model_config, config, num_landmarks, strategy):
        from physstd.methods.despoof.trainer import DeSpoofTrainer   # TensorFlow: imported when training starts

        own = config.method_config
        check_dq_run(own.dq_run, model_config)
        return DeSpoofTrainer(model_config, config, num_landmarks, strategy, dq_net=own.dq_run,
                              train_dq=own.train_dq)

    def prediction_terms(self, prediction):
        return {term: np.asarray(prediction[term], np.float64) for term in self.score_terms}

    def load(self, run_dir):
        from physstd.methods.despoof import inference   # TensorFlow: imported when a run is loaded

        return inference.DeSpoofInference(*inference.load_networks(run_dir, self.name))

    def dev_scores(self, terms, params):
        """depth (-mean of DQ-Net's depth of I_hat), noise (the noise magnitude alone) and fused (the fitted
        score)."""
        return {"depth": -terms["depth_mean"], "noise": terms["noise_magnitude"], "fused": self.score(terms, params)}

    def trace_model(self, inference):
        from physstd.methods.despoof.inference import trace_model   # TensorFlow: imported when a run is loaded

        return trace_model(inference)

    def classification_traces(self, outputs):
        return outputs["noise"]

    def trace_figure(self, images, outputs, config):
        """input, the noise N's RGB part, the 0\\1 map, DQ-Net's depth of I_hat, I_hat (the De-Spoof paper, Fig. 1,
        6)."""
        return viz.noise_grid(images, outputs), viz.NOISE_COLUMNS


METHOD = DeSpoof()
