"""The multi-modal disentanglement network's own training config ("Learning Polysemantic Spoof Trace: A
Multi-Modal Disentanglement Network for Face Anti-spoofing", Li et al. 2023, Sec. 4): the modalities (Tab. 4's
"RGB Only" / "DEP Only"), the encoders' ImageNet weights and the identity network of L_id (Eq. 8).

Each field is a run_train.py flag of the same name (physstd.methods.base.MethodConfig). The loss weights are the
paper's, fixed (physstd.methods.mmdn.losses.MMDNWeights).
"""
import dataclasses

from physstd.methods.base import MethodConfig
from physstd.methods.lgsc.config import LGSCConfig

MODALITY_CHOICES = ("rgb,depth", "rgb", "depth")


@dataclasses.dataclass(frozen=True)
class MMDNConfig(MethodConfig):
    """The multi-modal disentanglement network's flags (module doc)."""

    mmdn_modalities: str = "rgb,depth"   # the streams: both (fused) or one (no fusion)
    backbone_weights: str = ""           # torchvision resnet50 state dict (.npz) for every encoder ("": random init)
    identity_model: str = ""             # a face recognition SavedModel for L_id ("": no L_id)

    CHOICES = {"mmdn_modalities": MODALITY_CHOICES}
    HELP = {
        "mmdn_modalities": "Multi-modal disentanglement: the streams, rgb,depth (fused, the paper) or one of rgb, "
                           "depth (one stream without fusion: Tab. 4 'RGB Only' / 'DEP Only')",
        "backbone_weights": LGSCConfig.HELP["backbone_weights"],   # one flag shared with LGSC
        "identity_model": "Multi-modal disentanglement: a face recognition SavedModel (float32 faces (batch, N, N, 3) "
                          "in [0, 1] -> embeddings (batch, d)) for the identity loss L_id (Eq. 8); empty: no L_id "
                          "(the paper's Tab. 5 'w.o. L_id')",
    }
