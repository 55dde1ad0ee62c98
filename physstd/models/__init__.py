"""PhySTD networks: the disentanglement generator and the multi-scale discriminators (the PhySTD paper, Sec. 3.2, 3.4).

The networks are imported lazily, so that `physstd.models.config` (read by the flag definitions) and
`import physstd.models` stay free of TensorFlow until a network is used.
"""
from physstd import lazy_attributes
from physstd.models.config import (GeneratorOutput, ModelConfig, TRACE_COMPONENTS,  # noqa: F401
                                   TRACE_FORMS)

__getattr__ = lazy_attributes(__name__, {
    "Discriminator": "physstd.models.discriminator",
    "build_discriminators": "physstd.models.discriminator",
    "Generator": "physstd.models.generator",
    "input_decomposition": "physstd.models.generator",
})
