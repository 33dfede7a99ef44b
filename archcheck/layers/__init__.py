"""Layer types, one module per family. Importing this package fills the registry."""

from . import conv, elementwise, linear, norm, pool  # noqa: F401
