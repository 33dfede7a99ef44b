"""The small Python API the CLI is a shell over: ``load``, ``check``, ``generate``, ``render`` (and ``build``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path as FsPath
from typing import Any

from .engine.result import CheckResult
from .engine.walk import check as _check
from .spec.schema import Spec, load_spec


def load(spec: str | FsPath | Mapping[str, Any], *, text: str | None = None) -> Spec:
    """Read and schema-check a spec: a file, ``text`` (named ``spec``), or the spec itself as a dict.

    A dict is checked exactly as the same spec written in JSON would be (its diagnostics point
    at lines of that JSON text, ``json.dumps(spec, indent=2)``, named ``<dict>``).
    """
    return load_spec(spec, text=text)


def check(spec: Spec | str | FsPath | Mapping[str, Any], dims: dict[str, int] | None = None) -> CheckResult:
    """Propagate shapes through a spec (a file, a loaded ``Spec``, or a dict); ``dims`` gives values to free dims."""
    if not isinstance(spec, Spec):
        spec = load(spec)
    return _check(spec, dims)


def generate(spec: CheckResult | Spec | str | FsPath, dims: dict[str, int] | None = None) -> str:
    """The standalone PyTorch source for an ok spec (``CodegenError`` lists the errors otherwise)."""
    from .emit.codegen import generate as _generate

    return _generate(spec if isinstance(spec, CheckResult) else check(spec, dims))


def render(
    spec: CheckResult | Spec | str | FsPath,
    out: str | FsPath,
    dims: dict[str, int] | None = None,
    depth: int | None = None,
) -> FsPath:
    """Draw the spec to ``out`` (.svg, .png, .pdf or .dot by suffix); returns the path written."""
    from .emit.diagram import write

    return write(spec if isinstance(spec, CheckResult) else check(spec, dims), out, depth=depth)
