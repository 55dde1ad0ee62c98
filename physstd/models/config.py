"""Model configuration and the generator's output structure (PhySTD paper, Sec. 3.2; ablations of Tab. 3).

`ModelConfig` is data: image size, width multiplier and trace form. `to_dict` / `from_dict` give the JSON-ready
record stored with a run's checkpoints, from which the models are rebuilt (physstd.records: unknown keys refused).

Trace forms (what the generator predicts and how the spoof generation function uses it, `physstd.trace`):

| form           | predicts        | spoof model (physstd.trace)                                | bands (n1, n2) |
| -------------- | --------------- | ---------------------------------------------------------- | -------------- |
| physstd        | B, C, T, P, I_P | additive + inpainting, Eq. 3/5/8 (default)                 | (N/8, N/2)     |
| single         | T               | one additive trace, "Step1+Step2 w/ single trace" (Tab. 3) | (N/8, N/2)     |
| multiplicative | S, B, C, T      | I_live = W I_spoof - T_A, W = 1 + S (STDN+ Eq. 27-28)      | (N/8, N/2)     |
| stdn           | S, B, C, T      | I_spoof = (1 + [S]n1) I_live + T_A, no inpainting (ECCV20)  | (1, N/4)       |
| physstd_gain   | S, B, C, T, P, I_P | physstd with a global gain: (1 - P)((1 + [S]1) I_live + T_A) + P I_P | (N/8, N/2) |

The input decomposition (Eq. 9) always uses `ImageSizes.n1, n2` (N/8, N/2); only the trace bands differ.
'physstd_gain' adds the global per-channel gain of the preliminary version's S and of the released code's s: the
part of a print's or replay's trace that scales with the image (a tone map) is a gain, not an additive pattern.

`lowpass` is how Eq. 9's [x]n shrinks (physstd.ops.frequency: "box" averages, "point" samples; records written
before the field existed were trained with "point" and load as such). `upsample` is how the trace decoder doubles
its resolution: "transpose" (stride-2 transposed convolutions, the paper's) or "resize" (nearest x2 then a 3x3
convolution, which cannot print the transposed convolution's period-8 checkerboard onto B, C and T).
"""
import dataclasses
import math
from typing import NamedTuple

from physstd.config import DEFAULT_LOWPASS, LOWPASS_MODES, ImageSizes
from physstd.records import Record

TRACE_FORMS = ("physstd", "single", "multiplicative", "stdn", "physstd_gain")
UPSAMPLE_MODES = ("transpose", "resize")

# Which trace components each form predicts (the others are returned as zeros).
TRACE_COMPONENTS = {
    "physstd": ("B", "C", "T", "P", "I_P"),
    "single": ("T",),
    "multiplicative": ("S", "B", "C", "T"),
    "stdn": ("S", "B", "C", "T"),
    "physstd_gain": ("S", "B", "C", "T", "P", "I_P"),
}

# Channels of each component in the generator's last layer (also the order in which they are emitted).
COMPONENT_CHANNELS = {"S": 3, "B": 3, "C": 3, "T": 3, "P": 1, "I_P": 3}

MIN_CHANNELS = 8

# What trace recovery (physstd.eval.trace_recovery) scores as the trace of these forms, in its reports' words.
IMAGE_TRACE_NAME = "Recovered trace = I minus the live reconstruction with P = 0 (T_A = [B]n1 + [C]n2 + T)"


class GeneratorOutput(NamedTuple):
    """What the generator returns: spoof trace components and the depth map, all float32.

    B, C, T: (batch, N, N, 3) in [-1, 1] (tanh): low-, mid-, high-frequency additive traces.
    P: (batch, N, N, 1) in [0, 1] (sigmoid): inpainting region.
    I_P: (batch, N, N, 3) in [0, 1] (sigmoid): inpainted live content.
    M: (batch, K, K, 1) in [0, 1] (sigmoid): pseudo depth map.
    S: (batch, N, N, 3) in [-1, 1] (tanh): multiplicative trace of the 'stdn' and 'multiplicative' forms.
    A component that the configured trace form does not predict is all zeros (same shape), so that losses,
    scores and figures treat every form alike.
    """

    B: object
    C: object
    T: object
    P: object
    I_P: object
    M: object
    S: object


@dataclasses.dataclass(frozen=True)
class ModelConfig(Record):
    """Architecture settings of every method's networks (PhySTD's generator and discriminators, the Auxiliary CNN,
    De-Spoof's DS-/VQ-Net); the trace form and the low-pass are PhySTD's."""

    # A record without `lowpass` predates the averaging low-pass and was trained with the point sampler.
    OLD_VALUES = {"lowpass": "point"}

    image_size: int = 256
    width: float = 1.0  # channel multiplier; every hidden layer has max(8, round(base * width)) channels
    trace_form: str = "physstd"
    discriminator_width: float = None  # the discriminators' channel multiplier; None = `width`
    lowpass: str = DEFAULT_LOWPASS  # Eq. 9's [x]n: "box" (averaging) or "point" (the former sampler)
    upsample: str = "transpose"        # trace decoder: "transpose" (the paper's) or "resize" (nearest + conv)

    def __post_init__(self):
        if isinstance(self.image_size, bool) or not isinstance(self.image_size, int):
            raise ValueError(f"ModelConfig.image_size must be an int, got {self.image_size!r}")
        ImageSizes(self.image_size)  # validates: multiple of 8, >= 16
        if isinstance(self.width, bool) or not isinstance(self.width, (int, float)) or not (
                math.isfinite(self.width) and self.width > 0):
            raise ValueError(f"ModelConfig.width must be a positive number, got {self.width!r}")
        if self.discriminator_width is not None and (
                isinstance(self.discriminator_width, bool) or not isinstance(self.discriminator_width, (int, float))
                or not (math.isfinite(self.discriminator_width) and self.discriminator_width > 0)):
            raise ValueError("ModelConfig.discriminator_width must be a positive number or None, got "
                             f"{self.discriminator_width!r}")
        if self.trace_form not in TRACE_FORMS:
            raise ValueError(f"ModelConfig.trace_form must be one of {TRACE_FORMS}, got {self.trace_form!r}")
        if self.lowpass not in LOWPASS_MODES:
            raise ValueError(f"ModelConfig.lowpass must be one of {LOWPASS_MODES}, "
                             f"got {self.lowpass!r}")
        if self.upsample not in UPSAMPLE_MODES:
            raise ValueError(f"ModelConfig.upsample must be one of {UPSAMPLE_MODES}, got {self.upsample!r}")

    @property
    def sizes(self):
        """The size-dependent constants n1, n2, K and the discriminator sizes (physstd.config.ImageSizes)."""
        return ImageSizes(self.image_size)

    @property
    def trace_bands(self):
        """(n1, n2) of the additive trace T_A = [B]n1 + [C]n2 + T for this trace form."""
        if self.trace_form == "stdn":
            return 1, self.image_size // 4
        return self.sizes.n1, self.sizes.n2

    @property
    def components(self):
        """Names of the trace components this form predicts."""
        return TRACE_COMPONENTS[self.trace_form]

    @property
    def has_inpainting(self):
        """Whether P and I_P are predicted (only then does the inpainting mask loss, Eq. 19, apply)."""
        return "P" in self.components

    def channels(self, base):
        """Hidden channel count for a generator layer that has `base` channels at width 1."""
        return max(MIN_CHANNELS, int(round(base * self.width)))

    def discriminator_channels(self, base):
        """Hidden channel count for a discriminator layer that has `base` channels at width 1."""
        width = self.width if self.discriminator_width is None else self.discriminator_width
        return max(MIN_CHANNELS, int(round(base * width)))


class ModelConfigSerialization:
    """get_config / from_config of a keras.Model built from one ModelConfig (mixed in before keras.Model)."""

    def get_config(self):
        return {"name": self.name, "config": self.model_config.to_dict()}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(ModelConfig.from_dict(config.pop("config")), **config)
