"""Kept only for the layer modules written this session against the old split (merged into ``_rules``);
removed at the session's last integration. Import from ``._rules``."""

from ._rules import FLOATS as FLOAT_DTYPES
from ._rules import INTS as INDEX_DTYPES
from ._rules import dim_error, exact_div, need_float, same
from ._rules import wrap_dim as wrap

__all__ = ["FLOAT_DTYPES", "INDEX_DTYPES", "dim_error", "exact_div", "need_float", "same", "wrap"]
