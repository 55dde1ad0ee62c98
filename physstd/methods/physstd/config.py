"""PhySTD's own training config (the PhySTD paper, Sec. 3.7, 4.1; Alg. 1): the loss weights alpha1..alpha6
(Eq. 23-24), the trace threshold beta (Eq. 19), the steps of Alg. 1 that run, and the readings the paper leaves open.

Each field is a run_train.py flag of the same name (physstd.methods.base.MethodConfig: HELP, CHOICES, RANGES);
the values are the paper's, {a1..a6} = {100, 5, 1, 1e-4, 10, 1} and beta = 0.1, and for the open readings the
paper's text and the authors' released code.
"""
import dataclasses

from physstd import records
from physstd.cli import NON_NEGATIVE, Range
from physstd.methods.base import MethodConfig

# Which of the three steps of Alg. 1 run (Tab. 3 ablations): "1" depth only, "12" + GAN, "123" + synthesis.
STEP_CHOICES = ("1", "12", "123")
# Readings of Eq. 21's L_S target: the overall effect in image space (default) or each raw trace component.
SYNTHESIS_TARGETS = ("effect", "components")


@dataclasses.dataclass(frozen=True)
class LossWeights(records.Record):
    """alpha1..alpha6 of Eq. 23-24 (the PhySTD paper, Sec. 4.1)."""

    depth: float = 100.0            # alpha1, L_depth (Eq. 16)
    adversarial: float = 5.0        # alpha2, L_G (Eq. 17)
    inpainting_mask: float = 1.0    # alpha3, L_P (Eq. 19)
    trace_regularizer: float = 1e-4  # alpha4, L_R (Eq. 20)
    synthesis: float = 10.0         # alpha5, L_S (Eq. 21)
    hard_depth: float = 1.0         # alpha6, L_H (Eq. 22)
    live_trace_regularizer: float = 0.0  # L_R of the live half on its own (0: Eq. 20 covers both halves)


@dataclasses.dataclass(frozen=True)
class PhySTDConfig(MethodConfig):
    """PhySTD's flags (module doc)."""

    # Losses (Eq. 23-24) and the trace threshold of Eq. 19.
    a1: float = 100.0
    a2: float = 5.0
    a3: float = 1.0
    a4: float = 1e-4
    a5: float = 10.0
    a6: float = 1.0
    beta: float = 0.1
    # Ablation of Tab. 3 (the trace form is part of ModelConfig).
    steps: str = "123"
    # Readings the paper leaves open (defaults: the paper's text and the authors' released code).
    generator_updates: int = 1       # 1: one generator update on all of Eq. 23 + 24 (Alg. 1 line 13); 2: two
    synthesis_target: str = "effect"  # L_S on the overall effect (Eq. 21) or per raw component
    match_real_band: bool = True     # live faces reach D1/D2 through the same Eq. 9 lowpass as I_low/I_mid
    live_trace_weight: float = 0.0   # 0: Eq. 20 with a4 on live and spoof (the paper); > 0: a4 on the spoof half
    #                                  and this weight on the live half (the released code: 10)
    hard_synthesis_weight: float = 1.0  # weight of L_S's transplanted (hard) half against its live half (0: live only)
    band_limit_inpainted: bool = False  # P * I_P reaches D1/D2 through Eq. 9's [.]n1 / [.]n2 like the live reals

    CHOICES = {"steps": STEP_CHOICES, "synthesis_target": SYNTHESIS_TARGETS}
    RANGES = {**{f"a{k}": NON_NEGATIVE for k in range(1, 7)}, "beta": Range(0, 1, low_open=True, high_open=True),
              "generator_updates": Range(1, 2), "live_trace_weight": NON_NEGATIVE,
              "hard_synthesis_weight": NON_NEGATIVE}
    HELP = {
        "a1": "alpha1, weight of L_depth (Eq. 23)",
        "a2": "alpha2, weight of L_G (Eq. 23)",
        "a3": "alpha3, weight of L_P (Eq. 23)",
        "a4": "alpha4, weight of L_R (Eq. 23)",
        "a5": "alpha5, weight of L_S (Eq. 24)",
        "a6": "alpha6, weight of L_H (Eq. 24)",
        "beta": "trace threshold of the inpainting mask loss (Eq. 19)",
        "steps": "training steps of Alg. 1 that run: 1 (depth only), 12 (+GAN), 123 (+synthesis; the full method)",
        "generator_updates": "generator updates per iteration: 1 (Alg. 1 line 13, the released code: one update on "
                             "the step-1/2 and step-3 losses together) or 2 (after step 1+2, then after step 3)",
        "synthesis_target": "L_S (Eq. 21) compares the overall effect of the traces in image space (effect) or each "
                            "raw component B, C, T, P, I_P (components)",
        "match_real_band": "live faces reach D1/D2 through the same Eq. 9 lowpass as I_low/I_mid "
                           "(--nomatch_real_band: the full-band live face, the former reading)",
        "live_trace_weight": "0: L_R (Eq. 20) on live and spoof traces with --a4 (the paper); > 0: --a4 on the "
                             "spoof half and this weight on the live half's L_R (the authors' released code: 10)",
        "hard_synthesis_weight": "weight of L_S (Eq. 21) on the transplanted (hard) half of the step-3 batch against "
                                 "its live half: 1 (the paper: one loss over both), 0 (live half only)",
        "band_limit_inpainted": "the inpainted content P * I_P reaches D1/D2 through Eq. 9's [.]n1 / [.]n2 like the "
                                "band-limited live reals (the paper: full band)",
    }

    @property
    def loss_weights(self):
        """alpha1..alpha6 of Eq. 23-24 as a LossWeights."""
        return LossWeights(depth=self.a1, adversarial=self.a2, inpainting_mask=self.a3, trace_regularizer=self.a4,
                           synthesis=self.a5, hard_depth=self.a6, live_trace_regularizer=self.live_trace_weight)
