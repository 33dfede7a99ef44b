"""The small Python API the CLI is a shell over: ``load``, ``check``, ``generate``, ``render`` (and ``build``)."""

from __future__ import annotations

from pathlib import Path as FsPath

from .engine import CheckResult
from .engine import check as _check
from .loader import Source, load_file, load_text
from .schema import Spec, parse_spec


def load(spec: str | FsPath, *, text: str | None = None) -> Spec:
    """Read and schema-check a spec file (or ``text``, named ``spec``)."""
    src: Source = load_text(text, str(spec)) if text is not None else load_file(str(spec))
    return parse_spec(src)


def check(spec: Spec | str | FsPath, dims: dict[str, int] | None = None) -> CheckResult:
    """Propagate shapes through a spec; ``dims`` gives values to free dims (``{"N": 4}``)."""
    if not isinstance(spec, Spec):
        spec = load(spec)
    return _check(spec, dims)


def generate(spec: CheckResult | Spec | str | FsPath, dims: dict[str, int] | None = None) -> str:
    """The standalone PyTorch source for an ok spec (``CodegenError`` lists the errors otherwise)."""
    from .codegen import generate as _generate

    return _generate(spec if isinstance(spec, CheckResult) else check(spec, dims))


def render(
    spec: CheckResult | Spec | str | FsPath,
    out: str | FsPath,
    dims: dict[str, int] | None = None,
    depth: int | None = None,
) -> FsPath:
    """Draw the spec to ``out`` (.svg, .png, .pdf or .dot by suffix); returns the path written."""
    from .diagram import write

    return write(spec if isinstance(spec, CheckResult) else check(spec, dims), out, depth=depth)
