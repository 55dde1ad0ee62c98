"""LGSC's own training config ("Learning Generalized Spoof Cues for Face Anti-spoofing", Feng et al. 2020,
Sec. 4.1, Tab. 5): the training patches, the warm-up, the optional ImageNet encoder, the loss weights of Eq. 9 and
the Tab. 5 ablations a flag can express.

Each field is a run_train.py flag of the same name (physstd.methods.base.MethodConfig). Tab. 5 as flags:
    "Resized input"               --patch_size=0 on faces prepared at the patch size (the whole face, resized)
    "w/o triplet" / "w/o classifier"   --triplet_weight=0 / --classification_weight=0
    "RL on live and spoof"        --regress_spoof (spoof cues regressed to an all-one map)
    "classifier on C"             --classifier_input=cue (the classifier reads C instead of x + C)
    "TL on E5-SC"                 --triplet_on_cue (a sixth triplet scale: the pooled cue C after D4)
"""
import dataclasses
import os

from physstd.cli import NON_NEGATIVE
from physstd.methods.base import MethodConfig

CUE_HEADS = ("released", "conv")          # the cue's last layers (physstd.methods.lgsc.networks)

CLASSIFIER_INPUTS = ("overlaid", "cue")   # x + C (the paper, Sec. 3.4) or C alone (Tab. 5)
WARMUP_STEPS = 1000                       # the released code's linear warm-up


@dataclasses.dataclass(frozen=True)
class LGSCConfig(MethodConfig):
    """LGSC's flags (module doc)."""

    patch_size: int = 0                  # training patch side, a multiple of 32 (0: the whole face)
    warmup_steps: int = WARMUP_STEPS     # linear learning-rate warm-up from 0 (0: none)
    backbone_weights: str = ""           # torchvision resnet18 state dict (.npz) for the encoder ("": random init)
    regression_weight: float = 5.0       # alpha1 of Eq. 9, L_r
    triplet_weight: float = 1.0          # alpha2 of Eq. 9, each of the five L_t
    classification_weight: float = 5.0   # alpha3 of Eq. 9, L_a
    regress_spoof: bool = False          # Tab. 5 "RL on live and spoof"
    classifier_input: str = "overlaid"   # Tab. 5 "classifier on C": cue
    triplet_on_cue: bool = False         # Tab. 5 "TL on E5-SC"
    cue_head: str = "released"           # ours: "conv" ends the cue in unnormalised convolutions (networks.py)

    CHOICES = {"classifier_input": CLASSIFIER_INPUTS, "cue_head": CUE_HEADS}
    RANGES = {"patch_size": NON_NEGATIVE, "warmup_steps": NON_NEGATIVE, "regression_weight": NON_NEGATIVE,
              "triplet_weight": NON_NEGATIVE, "classification_weight": NON_NEGATIVE}
    HELP = {
        "patch_size": "LGSC: train on a seeded random patch of this side cut from each prepared face, never "
                      "resized (a multiple of 32 no larger than --image_size; the paper: 224); 0: the whole face. "
                      "Evaluation always reads the whole face",
        "warmup_steps": "LGSC: linear learning-rate warm-up from 0 over this many steps, then the staircase "
                        "schedule (the released code: 1000; 0: none)",
        # One flag with the multi-modal disentanglement network's (its config reads this help).
        "backbone_weights": "a torchvision ResNet state dict saved as .npz for the encoders (the papers: ImageNet "
                            "weights; LGSC: resnet18, its cue generator's encoder; multi-modal disentanglement: "
                            "resnet50, every stream; --width=1 only); empty: random initialisation",
        "regression_weight": "LGSC: alpha1, weight of the live-cue regression L_r (Eq. 9; the paper: 5)",
        "triplet_weight": "LGSC: alpha2, weight of each of the five triplet losses L_t (Eq. 9; the paper: 1; 0: "
                          "Tab. 5 'w/o triplet')",
        "classification_weight": "LGSC: alpha3, weight of the auxiliary classifier's L_a (Eq. 9; the paper: 5; 0: "
                                 "Tab. 5 'w/o classifier')",
        "regress_spoof": "LGSC: Tab. 5 'RL on live and spoof': also regress the spoof cues to an all-one map",
        "classifier_input": "LGSC: what the auxiliary classifier reads: overlaid (x + C, the paper) or cue (C alone, "
                            "Tab. 5)",
        "cue_head": "LGSC: the cue's last layers: released (D5's InstanceNorm-ed residual output, the released "
                    "code) or conv (ours: D5 at 64 channels, then two unnormalised 3x3 convolutions, so that the cue's "
                    "size can differ between faces)",
        "triplet_on_cue": "LGSC: Tab. 5 'TL on E5-SC': also apply the triplet loss to the globally pooled cue C, a "
                          "sixth scale after E5, D1..D4",
    }


def check_backbone_weights(path, width, architecture):
    """--backbone_weights (a torchvision `architecture` state dict) only at width 1 and an existing file ("": none):
    one ValueError naming the flag."""
    if not path:
        return
    if width != 1:
        raise ValueError(f"--backbone_weights: torchvision's {architecture} has width 1, this run --width={width}")
    if not os.path.isfile(path):
        raise ValueError(f"--backbone_weights={path}: no such file")
