"""The small Python API the CLI is a shell over: ``load``, ``check``, ``generate``, ``render`` (and ``build``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path as FsPath
from typing import Any

from .engine.walk import CheckResult
from .engine.walk import check as _check
from .spec.loader import Source, load_file, load_text
from .spec.schema import Spec, parse_spec


def load(spec: str | FsPath | Mapping[str, Any], *, text: str | None = None) -> Spec:
    """Read and schema-check a spec: a file, ``text`` (named ``spec``), or the spec itself as a dict.

    A dict is checked exactly as the same spec written in JSON would be (its diagnostics point
    at lines of that JSON text, ``json.dumps(spec, indent=2)``, named ``<dict>``).
    """
    if isinstance(spec, Mapping):
        try:
            text = json.dumps(spec, indent=2, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise TypeError(
                f"a spec given as a dict must hold only JSON values (dict, list, str, int, ...): {e}"
            ) from e
        return parse_spec(load_text(text, "<dict>.json"))
    src: Source = load_text(text, str(spec)) if text is not None else load_file(str(spec))
    return parse_spec(src)


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
