"""PhySTD networks: the disentanglement generator and the multi-scale discriminators (seeds/001 Sec. 3.2, 3.4)."""
from physstd.models.config import (GeneratorOutput, ModelConfig, TRACE_COMPONENTS,  # noqa: F401
                                   TRACE_FORMS)
from physstd.models.discriminator import Discriminator, build_discriminators  # noqa: F401
from physstd.models.generator import Generator, input_decomposition  # noqa: F401
