"""archcheck: check a declarative network spec's tensor shapes before anything runs.

>>> import archcheck
>>> result = archcheck.check("specs/simple_cnn.yaml")
>>> result.ok, result.total_params
(True, 215370)
"""

from typing import Any

from ._version import __version__
from .api import check, generate, load, render
from .engine.result import CheckResult
from .spec.schema import Spec

__all__ = ["CheckResult", "Spec", "__version__", "build", "check", "generate", "load", "render"]


def __getattr__(name: str) -> Any:  # build imports torch: only when asked for
    if name == "build":
        from .emit.verify import build

        return build
    raise AttributeError(f"module 'archcheck' has no attribute {name!r}")
