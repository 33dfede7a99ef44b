"""Shape assertions: ``expect: [N, 16, 14, 14]`` on a layer, ``output: {shape: [...]}`` on the model.

An entry is an int, a free dim's name (``N``, ``H``), a ``$`` expression over
params, ``_`` (any size) or ``...`` (any number of dims, at most once). On a
Sequential, a block instance or a ``repeat``, ``expect`` is about the output of
the whole thing (what its consumers see), not its last inner layer.

After a mismatch decided here, the consumers see the *expected* shape, as a type
checker uses a declared type after a wrong assignment: the expectation states the
author's intent, so one wrong layer gives one error, not one per later layer.

Equal ints and equal names are decided here, without sympy. A dim that is an
expression of a free dim (``4*floor(H/4)`` against ``H``) is decided by
:mod:`archcheck.engine.conditions`: the expectation must hold for every size the
network accepts, else the error says for which sizes it does hold.
"""

from __future__ import annotations

from typing import Any

from ..diagnostics.codes import Diagnostic, did_you_mean
from ..layers.base import Tensor
from ..shapes import dims as D
from ..spec.expr import ExprError, is_expr, not_int_message, substitute
from ..spec.loader import Path, Source
from .result import ANY, CheckResult, ExpectCheck

REST = "..."


def known_dims(res: CheckResult) -> set[str]:
    """The free dim names of the spec (input shapes and ``dims:``)."""
    names: set[str] = set(res.bindings)
    for inp in res.spec.inputs.values():
        if isinstance(inp.shape, list):
            names.update(d for d in inp.shape if isinstance(d, str))
    m = res.spec.model
    if m is not None and isinstance(m.dims, dict):
        names.update(k for k in m.dims if isinstance(k, str))
    return names


def parse(
    raw: Any,
    where: Path,
    src: Source,
    scope: dict[str, Any],
    res: CheckResult,
    path: str | None,
    add: Any,
) -> list[Any] | None:
    """The expectation's entries (names of bound dims replaced by their values); None after reporting."""

    def err(code: str, message: str, at: Path, hint: str | None = None) -> None:
        add(src.locate(Diagnostic("error", code, message, path=path, hint=hint), at))

    if not isinstance(raw, list):
        err("AC103", f"expect must be a list of dims such as [N, 16, 14, 14], got {_kind(raw)}", where)
        return None
    known = known_dims(res)
    out: list[Any] = []
    ok = True
    for i, e in enumerate(raw):
        at = where + (i,)
        if is_expr(e):
            try:
                e = substitute(e, scope)
            except ExprError as x:
                err("AC109", str(x), at)
                ok = False
                continue
            if isinstance(e, float):  # "$H / 4": a whole number is that int; a fraction is no size
                if not e.is_integer():
                    msg, hint = not_int_message(f"expect[{i}]", raw[i], e)
                    err("AC115", msg, at, hint)
                    ok = False
                    continue
                e = int(e)
        if isinstance(e, bool) or not isinstance(e, (int, str)):
            err("AC103", f"expect[{i}] must be an int, a dim name, _ or ..., got {_kind(e)} {e!r}"[:200], at)
            ok = False
        elif isinstance(e, int):
            if e < 0:
                err("AC104", f"expect[{i}] must be >= 0, got {e}", at)
                ok = False
            out.append(e)
        elif e in (ANY, REST):
            out.append(e)
        elif not (e.isidentifier() and e.isascii()):
            err("AC103", f"expect[{i}] = {e[:40]!r}: a dim is an int, a free dim's name, _ or ...", at)
            ok = False
        elif e not in known and res.spec.unknown_inputs:
            ok = False  # an input's shape was refused (reported): its dim names are unknown, not missing
        elif e not in known:
            guess = did_you_mean(e, sorted(known), ignore_case=False)
            err(
                "AC310",
                f"expect[{i}] = {e}: no free dim named {e} in this spec",
                at,
                hint=f"did you mean {guess}?"
                if guess
                else f"the free dims are: {', '.join(sorted(known)) or 'none'}; use _ for any size",
            )
            ok = False
        else:
            out.append(res.bindings.get(e, e))
    if ok and out.count(REST) > 1:
        err("AC104", "expect may contain ... at most once", where)
        ok = False
    return out if ok else None


def _kind(v: Any) -> str:
    from ..spec.schema import _kind as kind

    return kind(v)


def compare(expected: list[Any], x: Tensor, ex: ExpectCheck) -> None:
    """Fill ``ex.problems`` (decided) and ``ex.pending`` (needs the solver)."""
    shape = list(x.shape)
    if REST in expected:
        k = expected.index(REST)
        pre, post = expected[:k], expected[k + 1 :]
        if len(shape) < len(pre) + len(post):
            ex.problems.append(f"rank: expected at least {len(pre) + len(post)} dims, got {len(shape)}")
            return
        pairs = list(enumerate(zip(shape[: len(pre)], pre))) + [
            (len(shape) - len(post) + j, (a, b)) for j, (a, b) in enumerate(zip(shape[len(shape) - len(post) :], post))
        ]
    else:
        if len(shape) != len(expected):
            ex.problems.append(f"rank: expected {len(expected)} dims, got {len(shape)}")
            if ANY not in expected:
                ex.rank_fixed = list(expected)
            return
        pairs = list(enumerate(zip(shape, expected)))
    for i, (a, b) in pairs:
        if b == ANY:
            continue
        if isinstance(a, (int, str)) and isinstance(b, (int, str)):
            if a != b:
                why = " (a free dim)" if isinstance(a, str) and isinstance(b, int) else ""
                ex.problems.append(f"dim {i}: expected {D.fmt(b)}, got {D.fmt(a)}{why}")
                ex.fixed[i] = b
            continue
        eq = D.equal(a, b)
        if eq is True:
            continue
        if eq is False:
            ex.problems.append(f"dim {i}: expected {D.fmt(b)}, got {D.fmt(a)} (for every size)")
            ex.fixed[i] = b
        else:
            ex.pending.append((i, a, b))


def recovered(ex: ExpectCheck, producer: str) -> Tensor | None:
    """The tensor the consumers see after a decided mismatch: the expected shape (the author's intent),
    so that one wrong layer gives one error, not one per later expectation or layer. None: no change."""
    x = ex.actual
    if ex.rank_fixed is not None:
        return Tensor(tuple(ex.rank_fixed), x.dtype, producer)
    if not ex.fixed:
        return None
    shape = tuple(ex.fixed.get(i, d) for i, d in enumerate(x.shape))
    return Tensor(shape, x.dtype, producer)


def fmt_expect(expected: list[Any]) -> str:
    return "[" + ", ".join(str(e) for e in expected) + "]"
