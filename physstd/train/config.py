"""Training hyper-parameters as one frozen record (seeds/001 Sec. 3.7, 4.1; DESIGN 4.3).

Defaults are the paper's: Adam at 5e-5, batch 8 (4 live + 4 spoof), 150k iterations, learning rate x0.1 every
45k, discriminators at half the generator's learning rate, {a1..a6} = {100, 5, 1, 1e-4, 10, 1}, beta = 0.1.
The paper does not give Adam's betas; the authors' STDN code uses TensorFlow's defaults (0.9, 0.999), so do we.
The record is written to `<run_dir>/flags.json` and read back by evaluation, export and the method's loader;
`method` names the method the run trains (physstd.methods; a flags.json without it is a PhySTD run).
"""
import dataclasses

from physstd.cli import NON_NEGATIVE, POSITIVE, Range, at_least
from physstd.data.pipeline import MAX_BRIGHTNESS_DELTA

# Which of the three steps of Alg. 1 run (Tab. 3 ablations): "1" depth only, "12" + GAN, "123" + synthesis.
STEP_CHOICES = ("1", "12", "123")
STRATEGIES = ("auto", "default", "mirrored", "multi_worker")
# Readings of Eq. 21's L_S target: the overall effect in image space (default) or each raw trace component.
SYNTHESIS_TARGETS = ("effect", "components")


# The one table of the numeric fields' ranges: TrainConfig refuses a value outside (whoever builds it), and
# physstd.train.flags validates the flags of the same names against it when they are parsed. Every value must be
# finite; a step, interval or batch size of 0 would divide by zero (0 means "never" only where the range has it).
RANGES = {
    "synthetic_identities": NON_NEGATIVE, "seed": Range(0, 2 ** 32 - 1), "num_steps": NON_NEGATIVE,
    "batch_size": at_least(2), "learning_rate": POSITIVE, "lr_decay_every": at_least(1),
    "lr_decay_factor": Range(0, 1, low_open=True), "discriminator_lr_ratio": NON_NEGATIVE,
    "adam_beta1": Range(0, 1, high_open=True), "adam_beta2": Range(0, 1, high_open=True),
    **{f"a{k}": NON_NEGATIVE for k in range(1, 7)}, "beta": Range(0, 1, low_open=True, high_open=True),
    "generator_updates": Range(1, 2), "live_trace_weight": NON_NEGATIVE, "hard_synthesis_weight": NON_NEGATIVE,
    "brightness_jitter": Range(0, 1), "checkpoint_every": at_least(1),
    "keep_checkpoints": at_least(2), "summary_every": at_least(1), "image_summary_every": NON_NEGATIVE,
    "log_every": at_least(1), "eval_every": NON_NEGATIVE, "eval_batch_size": at_least(1),
    "eval_max_videos": NON_NEGATIVE,
}


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything `train()` needs apart from the model architecture (ModelConfig)."""

    # Method (physstd.methods): its trainer, score, loader and export.
    method: str = "physstd"
    # Data.
    data_root: str = ""
    split_dir: str = ""              # protocol split lists; "" -> <data_root>/protocols
    protocol: str = ""
    fold: str = ""                   # "": the protocol has no folds; else '1'..'6', a SiW-M type name, ...
    synthetic: bool = False          # generate the synthetic set into data_root when it is missing
    synthetic_identities: int = 0    # identities of a generated synthetic set (0: the generator's default)
    # Run.
    run_dir: str = ""
    seed: int = 0
    num_steps: int = 150_000
    batch_size: int = 8              # live + spoof; half each
    # Optimisation.
    learning_rate: float = 5e-5
    lr_decay_every: int = 45_000
    lr_decay_factor: float = 0.1
    discriminator_lr_ratio: float = 0.5
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
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
    # Readings the paper leaves open (defaults: the paper's text and the authors' released code; DESIGN 8).
    generator_updates: int = 1       # 1: one generator update on all of Eq. 23 + 24 (Alg. 1 line 13); 2: two
    synthesis_target: str = "effect"  # L_S on the overall effect (Eq. 21) or per raw component
    match_real_band: bool = True     # live faces reach D1/D2 through the same Eq. 9 lowpass as I_low/I_mid
    live_trace_weight: float = 0.0   # 0: Eq. 20 with a4 on live and spoof (the paper); > 0: a4 on the spoof half
    #                                  and this weight on the live half (the released code: 10)
    hard_synthesis_weight: float = 1.0  # weight of L_S's transplanted (hard) half against its live half (0: live only)
    band_limit_inpainted: bool = False  # P * I_P reaches D1/D2 through Eq. 9's [.]n1 / [.]n2 like the live reals
    brightness_jitter: float = MAX_BRIGHTNESS_DELTA  # the loader's additive brightness delta: uniform in +-this
    # Bookkeeping.
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    summary_every: int = 100
    image_summary_every: int = 1000
    log_every: int = 10
    eval_every: int = 0              # 0: evaluate on the dev split only at the end
    eval_batch_size: int = 32
    eval_max_videos: int = 0         # 0: every dev video
    # De-Spoof (physstd.methods.despoof): its DQ-Net.
    dq_run: str = ""                 # the trained Auxiliary run used as DQ-Net (required by --method=despoof)
    train_dq: bool = False           # train DQ-Net jointly (the authors' released code) instead of keeping it frozen
    # Performance.
    mixed_precision: bool = False
    jit_compile: bool = False
    strategy: str = "auto"

    def __post_init__(self):
        from physstd import methods

        methods.check_name(self.method)
        if self.steps not in STEP_CHOICES:
            raise ValueError(f"steps must be one of {STEP_CHOICES}, got {self.steps!r}")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        for name, allowed in RANGES.items():
            value = getattr(self, name)
            if value not in allowed:
                integer = isinstance(self.__dataclass_fields__[name].default, int)
                raise ValueError(f"{name} must be {allowed.describe(integer)}, got {value!r}")
        if self.synthesis_target not in SYNTHESIS_TARGETS:
            raise ValueError(f"synthesis_target must be one of {SYNTHESIS_TARGETS}, got {self.synthesis_target!r}")
        if self.batch_size % 2:
            raise ValueError(f"batch_size must be even and >= 2 (half live, half spoof), got {self.batch_size}")

    @property
    def pairs_per_batch(self):
        """Live/spoof pairs per global batch (4 in the paper)."""
        return self.batch_size // 2

    @property
    def loss_weights(self):
        """alpha1..alpha6 of Eq. 23-24 as a physstd.losses.LossWeights."""
        from physstd.losses import LossWeights
        return LossWeights(depth=self.a1, adversarial=self.a2, inpainting_mask=self.a3,
                           trace_regularizer=self.a4, synthesis=self.a5, hard_depth=self.a6,
                           live_trace_regularizer=self.live_trace_weight)

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values):
        """Inverse of to_dict; unknown keys (written by a newer version) are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})


def learning_rate_at(step, base, decay_every, factor):
    """Staircase schedule of Sec. 4.1: base * factor ** floor(step / decay_every) (works on ints and tensors)."""
    return base * factor ** (step // decay_every)

