"""The Auxiliary depth CNN ("Auxiliary [18]" of the PhySTD paper's Tab. 1-4, without its temporal module) on the
harness interface (physstd.methods.base).

    network.py     AuxiliaryNet (the depth branch of the De-Spoof paper, Sec. 3.3, Tab. 1)
    losses.py      L1 of its depth map to M0, and its score
    trainer.py     AuxiliaryTrainer
    inference.py   the network restored from a run (also as De-Spoof's DQ-Net) and its Inference
    run_config.py  an Auxiliary run's ModelConfig, read without TensorFlow

Score: -mean(depth), higher = attack; it has no parameter to fit (the calibration file holds an empty dict and the
EER threshold). Exported map: the depth. No flags of its own. A trained Auxiliary run is De-Spoof's DQ-Net
(--dq_run).
"""
import numpy as np

from physstd.methods.auxiliary.run_config import NAME
from physstd.methods.base import Method, UnfittedScore

SCORE_TERMS = ("depth_mean",)
# The paper's settings (the De-Spoof paper, Sec. 4.1) for the DQ-Net, which it trains "with the same data in each
# protocol": we give it De-Spoof's learning rate 3e-5 and batch 6 (3 live + 3 spoof), without decay (none is
# mentioned).
TRAIN_DEFAULTS = {"learning_rate": 3e-5, "batch_size": 6, "lr_decay_factor": 1.0}


class Auxiliary(UnfittedScore, Method):
    name = NAME
    display_name = "Auxiliary"
    score_terms = SCORE_TERMS
    score_formula = "-depth_mean"
    train_defaults = TRAIN_DEFAULTS

    # The members below import this folder's TensorFlow modules when called: the flag definitions import this
    # module, and `run_train.py --help` stays free of TensorFlow.
    def trainer(self, model_config, config, num_landmarks, strategy):
        from physstd.methods.auxiliary.trainer import AuxiliaryTrainer   # TensorFlow: imported when training starts

        return AuxiliaryTrainer(model_config, config, num_landmarks, strategy)

    def prediction_terms(self, prediction):
        return {"depth_mean": np.asarray(prediction["depth_mean"], np.float64)}

    def load(self, run_dir):
        from physstd.methods.auxiliary import inference   # TensorFlow: imported when a run is loaded

        return inference.AuxiliaryInference(*inference.load_network(run_dir))

    def score(self, terms, params):
        return -terms["depth_mean"]


METHOD = Auxiliary()
