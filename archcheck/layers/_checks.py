"""Checks shared by the normalization, resample, recurrent, attention and tensor-op layers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..shapes import dims as D
from ..shapes.dims import Dim
from .base import Tensor

if TYPE_CHECKING:  # pragma: no cover
    from .base import Ctx

FLOAT_DTYPES = frozenset({"float32", "float64", "float16", "bfloat16"})
INDEX_DTYPES = frozenset({"long", "int64", "int32"})


def need_float(ctx: Ctx, x: Tensor, what: str) -> bool:
    """Report unless ``x`` holds floating-point values (torch's kernels refuse integer input)."""
    if x.dtype in FLOAT_DTYPES:
        return True
    ctx.error(
        "AC214",
        f"{what} needs a floating-point input, but its input has dtype {x.dtype} ({ctx.source(x)})",
        hint="feed it float values (an Embedding turns integer indices into float vectors)",
    )
    return False


def wrap(d: int, rank: int) -> int | None:
    """torch's dim wrapping: a dim in [-rank, rank-1] (a scalar counts as rank 1)."""
    r = max(rank, 1)
    return d % r if -r <= d < r else None


def dim_error(ctx: Ctx, field: str, d: int, x: Tensor) -> None:
    r = max(x.rank, 1)
    ctx.error(
        "AC208",
        f"{field}={d} is out of range for the {x.rank}-D input {x.describe()} (valid: {-r} to {r - 1})",
        field=field,
    )


def same(a: Dim, b: Dim) -> bool | None:
    """Whether two dims are equal: True/False when decidable, else None."""
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    if isinstance(a, str) and isinstance(b, str) and a == b:
        return True
    return D.equal(a, b)


def exact_div(a: Dim, n: int) -> tuple[Dim, bool | None]:
    """``a / n``: the quotient and whether ``n`` divides ``a`` (None: depends on free dims)."""
    if isinstance(a, int):
        return a // n, a % n == 0
    if n == 1:
        return a, True
    s = D.sp()
    q = s.expand(D.to_expr(a) / n)
    poly = q.as_poly() if q.free_symbols else None
    if poly is not None and all(getattr(c, "is_Integer", False) for c in poly.coeffs()):
        return D.normalize(q), True
    if q.is_Integer:
        return int(q), True
    return D.floordiv(a, n), None
