"""Layer types, one module per family, loaded on first use.

Importing every family costs about 0.1 s of pydantic class creation, which ``archcheck validate`` of a small
spec should not pay. So the registry (``archcheck.layers.base.REGISTRY``) imports a family the first time one
of its types is looked up, and all of them when it is iterated.

Which module holds a type is read from the modules themselves: a layer type is a class written directly under
``@register``, and :func:`index` finds those lines in this package's source (once per process; a regular
expression over the files, well under a millisecond, where parsing them would cost tens). ``register``
refuses a class that the scan does not see, so a type that registers is always found: there is no list to
keep. Adding a layer type is adding its class (see docs/architecture.md).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from functools import cache
from pathlib import Path

# `@register`, any further decorators, then the class: the form ruff format writes.
_REGISTERED = re.compile(r"^@register\n(?:@[^\n]*\n)*class (\w+)\b", re.MULTILINE)


@cache
def index() -> dict[str, str]:
    """``{type name: module name}`` of every ``@register`` class in this package's source.

    Empty when the package is installed without its source (``.pyc`` only): then every lookup imports every
    module of the package.
    """
    found: dict[str, str] = {}
    for path in sorted(Path(__file__).parent.glob("*.py")):
        for m in _REGISTERED.finditer(path.read_text(encoding="utf-8")):
            found[m.group(1)] = path.stem
    return found


def load_type(name: str) -> None:
    """Import the module that registers ``name``, if there is one."""
    if not index():
        load_all()
    elif (mod := index().get(name)) is not None:
        importlib.import_module(f"{__name__}.{mod}")


def load_all() -> None:
    """Import every family module."""
    mods = set(index().values()) or {m.name for m in pkgutil.iter_modules(__path__)}
    for mod in sorted(mods):
        importlib.import_module(f"{__name__}.{mod}")
