"""archcheck: check a declarative network spec's tensor shapes before anything runs.

>>> import archcheck
>>> result = archcheck.check("specs/simple_cnn.yaml")
>>> result.ok, result.total_params
(True, 215370)
"""

from .api import check, load
from .engine import CheckResult
from .schema import Spec

__all__ = ["CheckResult", "Spec", "check", "load"]
__version__ = "0.1.0"
