"""Training hyper-parameters shared by every method as one frozen record (the PhySTD paper, Sec. 3.7, 4.1).

Defaults are the paper's: Adam at 5e-5, batch 8 (4 live + 4 spoof), 150k iterations, learning rate x0.1 every
45k, discriminators at half the generator's learning rate. The paper does not give Adam's betas; the authors' STDN
code uses TensorFlow's defaults (0.9, 0.999), so do we. `method` names the method the run trains (physstd.methods;
a flags.json without it is a PhySTD run) and `method_config` holds that method's own config (its config_class:
PhySTD's loss weights and steps, De-Spoof's DQ-Net run...).

The record is written to `<run_dir>/flags.json` ("train", with "method_config" nested) and read back with
`from_dict` (physstd.records: an unknown key is refused). A flat record written before the methods had configs of
their own holds their fields among the shared ones (LEGACY_METHOD_FIELDS): it still reads, the fields of the run's
method going to its method_config and the others (which that method never read) dropped.
"""
import dataclasses

from physstd import methods, records
from physstd.cli import NON_NEGATIVE, POSITIVE, Range, at_least
from physstd.data.pipeline import MAX_BRIGHTNESS_DELTA

STRATEGIES = ("auto", "default", "mirrored", "multi_worker")
# The fields of PhySTD and De-Spoof that a flat flags.json written before the per-method configs holds.
LEGACY_METHOD_FIELDS = ("a1", "a2", "a3", "a4", "a5", "a6", "beta", "steps", "generator_updates", "synthesis_target",
                        "match_real_band", "live_trace_weight", "hard_synthesis_weight", "band_limit_inpainted",
                        "dq_run", "train_dq")


# The one table of the numeric fields' ranges: TrainConfig refuses a value outside (whoever builds it), and
# physstd.train.flags validates the flags of the same names against it when they are parsed. Every value must be
# finite; a step, interval or batch size of 0 would divide by zero (0 means "never" only where the range has it).
RANGES = {
    "synthetic_identities": NON_NEGATIVE, "seed": Range(0, 2 ** 32 - 1), "num_steps": NON_NEGATIVE,
    "batch_size": at_least(2), "learning_rate": POSITIVE, "lr_decay_every": at_least(1),
    "lr_decay_factor": Range(0, 1, low_open=True), "discriminator_lr_ratio": NON_NEGATIVE,
    "adam_beta1": Range(0, 1, high_open=True), "adam_beta2": Range(0, 1, high_open=True),
    "brightness_jitter": Range(0, 1), "frames_per_video": NON_NEGATIVE, "checkpoint_every": at_least(1),
    "keep_checkpoints": at_least(2), "summary_every": at_least(1), "image_summary_every": NON_NEGATIVE,
    "log_every": at_least(1), "eval_every": NON_NEGATIVE, "eval_batch_size": at_least(1),
    "eval_max_videos": NON_NEGATIVE,
}


@dataclasses.dataclass(frozen=True)
class TrainConfig(records.Record):
    """Everything `train()` needs apart from the model architecture (ModelConfig)."""

    # Method (physstd.methods): its trainer, score, loader and export, and its own config (None: its defaults).
    method: str = methods.DEFAULT
    method_config: object = None
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
    brightness_jitter: float = MAX_BRIGHTNESS_DELTA  # the loader's additive brightness delta: uniform in +-this
    frames_per_video: int = 0        # train on this many frames per video, spread evenly (0: every frame)
    # Bookkeeping.
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    summary_every: int = 100
    image_summary_every: int = 1000
    log_every: int = 10
    eval_every: int = 0              # 0: evaluate on the dev split only at the end
    eval_batch_size: int = 32
    eval_max_videos: int = 0         # 0: every dev video
    # Performance.
    mixed_precision: bool = False
    jit_compile: bool = False
    strategy: str = "auto"

    def __post_init__(self):
        config_class = methods.get(self.method).config_class
        if self.method_config is None:
            object.__setattr__(self, "method_config", config_class())
        elif type(self.method_config) is not config_class:
            raise ValueError(f"method_config of --method={self.method} must be a {config_class.__name__}, got "
                             f"{self.method_config!r}")
        records.check_values(self, RANGES, {"strategy": STRATEGIES})
        if self.batch_size % 2:
            raise ValueError(f"batch_size must be even and >= 2 (half live, half spoof), got {self.batch_size}")

    @property
    def pairs_per_batch(self):
        """Live/spoof pairs per global batch (4 in the paper)."""
        return self.batch_size // 2

    @classmethod
    def from_dict(cls, values, where=None):
        """Inverse of to_dict (physstd.records); a flat record of before the per-method configs reads as the module
        doc says. `where` names the record in errors (default: "TrainConfig")."""
        where = where or cls.__name__
        if not isinstance(values, dict):
            return super().from_dict(values, where)   # the records' error for a value that is not an object
        values = dict(values)
        method = methods.get(values.get("method", methods.DEFAULT), f"{where}: method")
        if "method_config" in values:
            own = values["method_config"]
        else:   # a flat record (module doc)
            legacy = {name: values.pop(name) for name in LEGACY_METHOD_FIELDS if name in values}
            own = {field.name: legacy[field.name] for field in dataclasses.fields(method.config_class)
                   if field.name in legacy}
        values["method_config"] = method.config_class.from_dict(own, f"{where}: method_config")
        return super().from_dict(values, where)

