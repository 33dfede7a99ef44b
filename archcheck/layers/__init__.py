"""Layer types, one module per family. Importing this package fills the registry."""

from . import attention, conv, elementwise, linear, merge, norm, normalization, pool, recurrent, resample, tensor_ops  # noqa: F401
