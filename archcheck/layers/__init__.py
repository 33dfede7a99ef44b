"""Layer types, one module per family. Importing this package fills the registry."""

from . import conv, elementwise, linear, merge, norm, normalization, pool, resample  # noqa: F401
