"""De-Spoof's own training config: its DQ-Net (the De-Spoof paper, Sec. 3.3, 4.1).

Each field is a run_train.py flag of the same name (physstd.methods.base.MethodConfig).
"""
import dataclasses

from physstd.methods.base import MethodConfig


@dataclasses.dataclass(frozen=True)
class DeSpoofConfig(MethodConfig):
    """De-Spoof's flags (module doc)."""

    dq_run: str = ""                 # the trained Auxiliary run used as DQ-Net (required by --method=despoof)
    train_dq: bool = False           # train DQ-Net jointly (the authors' released code) instead of keeping it frozen

    HELP = {
        "dq_run": "De-Spoof (--method=despoof): run directory of the trained Auxiliary run (--method=auxiliary, same "
                  "--image_size and --width) whose network is the DQ-Net (the De-Spoof paper, Sec. 3.3, 4.1); "
                  "required there",
        "train_dq": "De-Spoof: train the DQ-Net jointly on L1 to M0 (the authors' released code) instead of keeping it "
                    "frozen (the paper, Sec. 4.1)",
    }
