"""Conditions on free dims, stated in plain words.

A merge of ``2*floor(H/16)`` with ``floor(H/8)`` (a U-Net's skip connection)
holds only for some H. torch.export states such facts as guards
(``Eq(Mod(H, 16), 0)``); we state them as a person would: "H must be a
multiple of 16 (smallest valid sizes 16, 32, 48)".

Each free dim's conditions are solved together by checking every size in its
range (1..4096 unless the spec gives one): the expressions are floors of
linear forms, so membership is periodic and the period and residues describe
it exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import dims as D
from .diagnostics import Diagnostic

if TYPE_CHECKING:  # pragma: no cover
    from .engine import CheckResult, Condition
    from .schema import DimRange

DEFAULT_MAX = 4096
MAX_PERIOD = 1024


def _compile(expr: Any, name: str) -> Callable[[int], Any]:
    sp = D.sp()
    return sp.lambdify(D.symbol(name), D.to_expr(expr), modules="math")  # type: ignore[no-any-return]


def solve(conds: list[tuple[Any, Any]], name: str, lo: int, hi: int) -> list[int]:
    """The sizes of ``name`` in [lo, hi] for which every pair is equal."""
    fns = [(_compile(a, name), _compile(b, name)) for a, b in conds]
    return [v for v in range(lo, hi + 1) if all(f(v) == g(v) for f, g in fns)]


def describe(name: str, valid: list[int], lo: int, hi: int) -> str:
    """Plain words for the set ``valid`` within [lo, hi]."""
    vs = set(valid)
    t0 = lo + min(MAX_PERIOD, (hi - lo) // 4)
    period = None
    for p in range(1, MAX_PERIOD + 1):
        if all((v in vs) == (v + p in vs) for v in range(t0, hi - p + 1)):
            period = p
            break
    first = ", ".join(map(str, valid[:3]))
    tail = f" (smallest valid sizes: {first})"
    if period is None:
        return f"{name} must be one of a few sizes{tail}"
    residues = sorted({v % period for v in valid if v >= t0})
    smallest = valid[0]
    if period == 1:
        return f"{name} must be at least {smallest}{tail}"
    if residues == [0]:
        text = f"{name} must be a multiple of {period}"
        if smallest > period:
            text += f" and at least {smallest}"
    elif len(residues) == 1:
        text = f"{name} must be {residues[0]} more than a multiple of {period} ({name} % {period} == {residues[0]})"
    elif len(residues) <= 8:
        text = f"{name} % {period} must be one of {', '.join(map(str, residues))}"
    else:
        text = f"{name} must avoid some sizes (period {period})"
    return text + tail


def _input_site(res: CheckResult, name: str) -> tuple[Any, ...] | None:
    for nm, inp in res.spec.inputs.items():
        shape = inp.shape if isinstance(inp.shape, list) else []
        for i, d in enumerate(shape):
            if d == name:
                return res.spec.input_src[nm] + ("shape", i)
    return None


def analyse(res: CheckResult, ranges: dict[str, DimRange]) -> None:
    """Turn the recorded conditions into diagnostics (one per free dim, or per multi-dim condition)."""
    by_dim: dict[str, list[Condition]] = {}
    for c in res.conditions:
        names = sorted(set(D.free_names(c.a)) | set(D.free_names(c.b)))
        if len(names) == 1:
            by_dim.setdefault(names[0], []).append(c)
        else:
            d = Diagnostic(
                "warning",
                "AC306",
                f"{c.what}: needs {D.fmt(c.a)} == {D.fmt(c.b)}, which depends on {', '.join(names)}",
                path=c.path,
                hint=f"give {' and '.join(names)} values with --dim to check it",
            )
            res.diagnostics.append(res.source.locate(d, c.src))
    for name, conds in by_dim.items():
        r = ranges.get(name)
        lo = r.min if r else 1
        hi = r.max if r and r.max else max(DEFAULT_MAX, lo)
        valid = solve([(c.a, c.b) for c in conds], name, lo, hi)
        notes = [f"{c.path}: {c.what}: {D.fmt(c.a)} vs {D.fmt(c.b)}" for c in conds[:6]]
        if len(conds) > 6:
            notes.append(f"... and {len(conds) - 6} more")
        site = _input_site(res, name)
        first = conds[0]
        if not valid:
            d = Diagnostic(
                "error",
                "AC307",
                f"no size of {name} from {lo} to {hi} makes the shapes line up",
                path=first.path,
                notes=notes,
                hint="check the strides and paddings of the branches that are merged",
                bindings={name: "free"},
            )
            res.diagnostics.append(res.source.locate(d, first.src))
        elif len(valid) < hi - lo + 1:
            d = Diagnostic(
                "warning",
                "AC306",
                describe(name, valid, lo, hi).replace(" (smallest", " for the shapes to line up (smallest", 1),
                path=None if site else first.path,
                notes=notes,
                hint=f"fix {name} with --dim {name}={valid[0]} or in the spec, or pad/crop before the merge",
            )
            res.diagnostics.append(res.source.locate(d, site if site else first.src))
