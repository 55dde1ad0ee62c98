"""What the methods' networks share: the architecture record `ModelConfig` (and the generator output structure of
the trace algebra, physstd.trace) and the layers of physstd.models.layers. Each method's own networks live in its
folder (physstd/methods/<name>/)."""
from physstd.models.config import GeneratorOutput, ModelConfig, TRACE_COMPONENTS, TRACE_FORMS  # noqa: F401
