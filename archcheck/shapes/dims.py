"""Tensor dimensions: plain ints, bare symbol names, or sympy expressions.

A dim is one of

* ``int``: a concrete size;
* ``str``: a free dim that has only been passed along (the batch ``N``);
* a ``sympy.Expr``: a free dim that some arithmetic has touched
  (``floor(H/4)``).

Keeping bare symbols as strings means a spec whose free dims only pass
through never imports sympy (about 0.3 s of start-up). Every function here
accepts all three forms and only reaches for sympy when it must.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:  # pragma: no cover
    import sympy

Dim = Union[int, str, "sympy.Expr"]
Shape = tuple[Dim, ...]

_symbols: dict[str, Any] = {}


def sp() -> Any:
    """The sympy module, imported on first use."""
    import sympy

    return sympy


def symbol(name: str) -> Any:
    """The sympy symbol for a free dim: a positive integer."""
    s = _symbols.get(name)
    if s is None:
        s = sp().Symbol(name, integer=True, positive=True)
        _symbols[name] = s
    return s


def to_expr(d: Dim) -> Any:
    """``d`` as a sympy expression."""
    if isinstance(d, str):
        return symbol(d)
    if isinstance(d, int):
        return sp().Integer(d)
    return d


def normalize(d: Any) -> Dim:
    """Bring a sympy result back to the cheapest form: int, name, or expr."""
    if isinstance(d, (int, str)):
        return d
    if d.is_Integer:
        return int(d)
    if d.is_Symbol:
        return str(d.name)
    return d


def free_names(d: Dim) -> list[str]:
    """The names of the free dims that ``d`` depends on, sorted."""
    if isinstance(d, int):
        return []
    if isinstance(d, str):
        return [d]
    return sorted(s.name for s in d.free_symbols)


def fmt(d: Dim) -> str:
    """A dim as a person would write it: ``28``, ``N``, ``floor((H + 1)/2)``."""
    if isinstance(d, (int, str)):
        return str(d)
    return _fmt_expr(d)


def _fmt_expr(e: Any) -> str:
    s = sp()
    if e.is_Integer or e.is_Symbol:
        return str(e)
    if isinstance(e, (s.floor, s.ceiling)):
        num, den = e.args[0].as_numer_denom()
        inner = _fmt_expr(num)
        if num.is_Add:
            inner = f"({inner})"
        fn = "floor" if isinstance(e, s.floor) else "ceil"
        return f"{fn}({inner}/{den})" if den != 1 else f"{fn}({inner})"
    if e.is_Add:
        const, terms = e.as_coeff_add()
        parts = [_fmt_expr(t) for t in sorted(terms, key=s.default_sort_key)]
        text = " + ".join(parts).replace("+ -", "- ")
        if const:
            text += f" + {const}" if const > 0 else f" - {-const}"
        return text
    if e.is_Mul:
        coeff, rest = e.as_coeff_mul()
        factors = "*".join(f"({_fmt_expr(f)})" if f.is_Add else _fmt_expr(f) for f in rest)
        if coeff == 1:
            return factors
        if coeff == -1:
            return "-" + factors
        return f"{coeff}*{factors}"
    return str(e)


def fmt_shape(shape: Shape) -> str:
    return "[" + ", ".join(fmt(d) for d in shape) + "]"


def to_json(d: Dim) -> int | str:
    return d if isinstance(d, (int, str)) else str(d)


def add(a: Dim, b: Dim) -> Dim:
    if isinstance(a, int) and isinstance(b, int):
        return a + b
    if b == 0:
        return a
    if a == 0:
        return b
    if isinstance(b, int) and not isinstance(a, (int, str)):  # (a is not an int: both ints returned above)
        # floor(X/n) + c == floor((X + c*n)/n): keeps a conv's "+ 1" inside the floor.
        s = sp()
        const, terms = a.as_coeff_add()
        if len(terms) == 1 and isinstance(terms[0], s.floor) and const.is_Integer:
            num, den = terms[0].args[0].as_numer_denom()
            if den.is_Integer and den > 0:
                return normalize(s.floor((num + (const + b) * den) / den))
    return normalize(to_expr(a) + to_expr(b))


def mul(a: Dim, b: Dim) -> Dim:
    if isinstance(a, int) and isinstance(b, int):
        return a * b
    if b == 1:
        return a
    if a == 1:
        return b
    return normalize(to_expr(a) * to_expr(b))


def prod(dims: Any) -> Dim:
    out: Dim = 1
    for d in dims:
        out = mul(out, d)
    return out


def floordiv(a: Dim, n: int) -> Dim:
    """``a // n`` for a positive int ``n``.

    Nested divisions are folded, ``floor((floor(H/2) + c)/n) ==
    floor((H + c*2)/(2*n))`` for integer ``H`` and ``c``, so that a stack of
    stride-2 stages reads ``floor(H/16)`` rather than four nested floors.
    """
    if isinstance(a, int):
        return a // n
    if n == 1:
        return a
    s = sp()
    e = to_expr(a)
    const, terms = e.as_coeff_add()
    if len(terms) == 1 and isinstance(terms[0], s.floor) and const.is_Integer:
        num, den = terms[0].args[0].as_numer_denom()
        if den.is_Integer and den > 0:
            return normalize(s.floor((num + const * den) / (den * n)))
    return normalize(s.floor(e / n))


def equal(a: Dim, b: Dim) -> bool | None:
    """True or False when decidable for every value of the free dims, else None."""
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    if isinstance(a, str) and isinstance(b, str) and a == b:
        return True
    diff = sp().simplify(to_expr(a) - to_expr(b))
    if diff == 0:
        return True
    if diff.is_number:
        return False
    return None


def substitute(d: Dim, values: dict[str, int]) -> Dim:
    """Replace free dims by the ints given in ``values``."""
    if isinstance(d, int):
        return d
    if isinstance(d, str):
        return values.get(d, d)
    if not any(s.name in values for s in d.free_symbols):
        return d
    return normalize(d.subs({symbol(k): v for k, v in values.items()}))


def numel(shape: Shape) -> int | None:
    """The number of elements, or None when a free dim is involved."""
    ints = [d for d in shape if isinstance(d, int)]
    if len(ints) == len(shape):
        return math.prod(ints)
    return None
