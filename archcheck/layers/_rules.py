"""The checks the layer types' shape rules share, each message worded once: rank (``expect_rank``,
``expect_min_rank``), dtype (``check_dtype``, ``need_float``), dim indices (``wrap_dim``, ``dim_error``),
sizes inferred from or checked against the input (``match_size``), windows (``window_out``), groups and
exact division (``check_groups``, ``exact_div``)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ..shapes import dims as D
from ..shapes.dims import Dim
from .base import Tensor

if TYPE_CHECKING:  # pragma: no cover
    from .base import Ctx

SPATIAL = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}

# Input dtypes beyond the floating ones that a layer's CPU kernels take (torch's dispatch macros).
NO_INTS: frozenset[str] = frozenset()
LONG_ONLY = frozenset({"long", "int64"})  # avg_pool*d: integer kernels for int64 only
INTS = frozenset({"long", "int64", "int32"})  # relu, hardtanh, max_pool2d/3d: integers, not bool
ANY_DTYPE = INTS | {"bool"}  # shape-only or dtype-generic ops (Flatten, Identity, Sigmoid, Tanh)
FLOATS = frozenset({"float32", "float64", "float16", "bfloat16"})
# INTS are also the index dtypes Embedding and EmbeddingBag take.


def rank_words(ranks: tuple[int, ...]) -> str:
    names = [f"{r}-D" for r in ranks]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def expect_rank(ctx: Ctx, x: Tensor, ranks: tuple[int, ...], what: str, layout: str = "") -> bool:
    """Report unless ``x``'s rank is one of ``ranks``."""
    if x.rank in ranks:
        return True
    lay = f" {layout}" if layout else ""
    ctx.error(
        "AC204",
        f"{what} expects a {rank_words(ranks)} input{lay}, but its input is {x.describe()} ({x.rank}-D, {ctx.source(x)})",
        hint=_rank_hint(x.rank, ranks),
    )
    return False


def expect_min_rank(ctx: Ctx, x: Tensor, least: int, what: str, layout: str = "", hint: str | None = None) -> bool:
    """Report unless ``x`` has at least ``least`` dims (``layout`` names them: ``[N, C, *]``)."""
    if x.rank >= least:
        return True
    lay = f" {layout}" if layout else ""
    ctx.error(
        "AC204",
        f"{what} expects an input with at least {least} dims{lay}, but its input is {x.describe()} "
        f"({x.rank}-D, {ctx.source(x)})",
        hint=hint or "add dims with Unflatten or Reshape",
    )
    return False


def _rank_hint(have: int, ranks: tuple[int, ...]) -> str:
    if have > max(ranks):
        return "flatten or reshape the input first (Flatten, Reshape), or use the layer of matching dimensionality"
    return "add dims with Unflatten or Reshape, or use the layer of matching dimensionality"


def match_size(
    ctx: Ctx,
    field: str,
    given: int | None,
    x: Tensor,
    axis: int,
    what: str,
    code: str,
    dim_word: str,
) -> int | None:
    """Infer ``field`` from ``x.shape[axis]``, or check the given value against it.

    Returns the size, or None after reporting a problem that leaves the output unknown.
    A given value that differs from the input's is an error the rule recovers from
    (``recover=True``): the size returned is the input's, so the rule goes on as if the
    field were right and its output (which the field does not shape) stays known. A
    given value where the input's size depends on a free dim is recovered from the same
    way, with the given value as the size.
    """
    actual = x.shape[axis]
    if not isinstance(actual, int):
        names = D.free_names(actual)
        fixed = f"{field}={given}" if given is not None else f"a fixed {field}"
        ctx.error(
            "AC207",
            f"{what} needs {fixed}, but the input's {dim_word} is {D.fmt(actual)}, "
            f"which depends on the free dim{'s' if len(names) > 1 else ''} {', '.join(names)} "
            f"(input {x.describe()}, {ctx.source(x)})",
            field=field,
            hint=f"give {' and '.join(names)} a value (--dim {names[0]}=..., or an int in the input shape), "
            "or make the size independent of the input, e.g. with an adaptive pool before Flatten",
            dims=names,
            recover=given is not None,
        )
        return given
    if given is None:
        ctx.fill_from(x, axis, **{field: actual})
        return actual
    if given != actual:
        ctx.error(
            code,
            f"{what} expects {field}={given}, but its input is {x.describe()} ({ctx.source(x)})"
            + ("" if dim_word == "last dim" else f", with {actual} {dim_word}"),
            field=field,
            hint=f"set {field}: {actual}, or leave it out to have it inferred",
            notes=[x.note] if x.note else None,
            fix=actual,
            recover=True,
        )
    return actual


def window_out(
    ctx: Ctx,
    size: Dim,
    kernel: int,
    stride: int,
    pad_total: int,
    dilation: int,
    axis_name: str,
    *,
    ceil_mode: bool = False,
    pad_left: int = 0,
    what: str = "kernel",
) -> Dim | None:
    """Output length of a sliding window, as torch computes it.

    ``floor((L + pad_total - dilation*(kernel-1) - 1) / stride) + 1``
    (https://pytorch.org/docs/stable/generated/torch.nn.Conv2d.html), with
    ceil instead of floor under ``ceil_mode``, where the last window must
    start inside the input or left padding (``MaxPool2d`` docs, note on
    ceil_mode).
    """
    eff = dilation * (kernel - 1) + 1
    padded = D.add(size, pad_total)
    extra = stride - 1 if ceil_mode else 0
    if isinstance(padded, int):
        out = (padded - eff + extra) // stride + 1
        if ceil_mode and (out - 1) * stride >= size + pad_left:  # type: ignore[operator]
            out -= 1
        if out < 1:
            dil = f" (dilation {dilation}: spans {eff})" if dilation > 1 else ""
            ctx.error(
                "AC203",
                f"{what} {kernel}{dil} is larger than the padded input {padded} in dim {axis_name} "
                f"(input {size}{f' + padding {pad_total}' if pad_total else ''})",
                field="kernel_size",
                hint=f"use a {what} that fits ({padded if dilation == 1 else 'the padded size'}), add padding, "
                "or remove a downsampling step before this layer",
            )
            return None
        return out
    # Symbolic: "padded >= eff" cannot be decided here; the formula stands.
    if ceil_mode and pad_left + stride > eff:
        # torch drops a last window that would start in the right padding. Windows start at
        # j*stride (padded coordinates); ceil_mode allows j*stride <= padded - eff + stride - 1 and
        # the rule j*stride <= size + pad_left - 1. The second bound is the smaller one exactly when
        # pad_left + stride > eff, whatever the size, so the output is a single floor.
        out_c = D.add(D.floordiv(D.add(size, pad_left - 1), stride), 1)
        # the first window exists when the ceil formula gives at least 1: padded - eff + stride - 1 >= 0
        # (a window may hang over the end: MaxPool1d(2, 3, ceil_mode=True) takes a length of 1)
        ctx.require_min(D.add(padded, extra - eff), 0, f"{what} {kernel} (spanning {eff}) in dim {axis_name}")
        return out_c
    out_s = D.add(D.floordiv(D.add(padded, extra - eff), stride), 1)
    # torch: the padded input must hold the window (output >= 1), stated as a minimum of the free dim
    ctx.require_min(out_s, 1, f"{what} {kernel}{f' (spanning {eff})' if eff != kernel else ''} in dim {axis_name}")
    return out_s


def check_groups(ctx: Ctx, channels: dict[str, int], groups: int) -> bool:
    """Every channel count must be divisible by ``groups``: one diagnostic for one wrong ``groups``."""
    bad = {f: c for f, c in channels.items() if c % groups}
    if not bad:
        return True
    what = " and ".join(f"{f}={c}" for f, c in bad.items())
    field = next(iter(bad)) if len(bad) == 1 and ctx.given(next(iter(bad))) else "groups"
    common = math.gcd(*channels.values())
    ctx.error(
        "AC205",
        f"{what} {'is' if len(bad) == 1 else 'are'} not divisible by groups={groups}",
        field=field,
        hint=f"use a groups value that divides {' and '.join(map(str, channels.values()))} "
        f"(e.g. {_divisor_near(common, groups)})",
        recover=True,  # groups does not shape the output
    )
    return False


def _divisor_near(n: int, g: int) -> int:
    divs = [d for d in range(1, n + 1) if n % d == 0]
    return min(divs, key=lambda d: (abs(d - g), d))


def check_dtype(ctx: Ctx, x: Tensor, what: str, ints: frozenset[str]) -> bool:
    """Report unless ``x``'s dtype is floating or one of the non-float dtypes ``ints`` the layer takes.

    Only integer/bool inputs are judged: which float precisions run depends on the device
    and the model's own dtype (``model.double()``), not on the spec.
    """
    if x.dtype in FLOATS or x.dtype in ints:
        return True
    takes = "floating-point" if not ints else "floating-point or " + "/".join(sorted(ints))
    ctx.error(
        "AC214",
        f"{what} needs a {takes} input, but its input has dtype {x.dtype} ({ctx.source(x)})",
        hint="feed it float values (an Embedding turns integer indices into float vectors), "
        "or give the input dtype: float32",
    )
    return False


def need_float(ctx: Ctx, x: Tensor, what: str) -> bool:
    """Report unless ``x`` holds floating-point values (torch's kernels refuse integer input)."""
    return check_dtype(ctx, x, what, NO_INTS)


def wrap_dim(d: int, rank: int) -> int | None:
    """torch's dim wrapping: a dim in [-rank, rank-1] (a scalar counts as rank 1)."""
    r = max(rank, 1)
    return d % r if -r <= d < r else None


def dim_error(ctx: Ctx, field: str, d: int, x: Tensor, hint: str | None = None) -> None:
    """``field``'s dim ``d`` does not index ``x`` (``wrap_dim`` gave None)."""
    r = max(x.rank, 1)
    ctx.error(
        "AC208",
        f"{field}={d} is out of range for the {x.rank}-D input {x.describe()} (valid: {-r} to {r - 1})",
        field=field,
        hint=hint,
    )


def take_dim(ctx: Ctx, x: Tensor, d: int, what: str) -> int | None:
    """The dim ``d`` of ``x`` (wrapped as torch does) that an op such as Split, Chunk or Select works
    along; None after reporting a scalar input (AC204) or a dim out of range (AC208)."""
    if x.rank == 0:
        ctx.error("AC204", f"{what} cannot be applied to a 0-D input ({ctx.source(x)})")
        return None
    w = wrap_dim(d, x.rank)
    if w is None:
        dim_error(ctx, "dim", d, x)
    return w


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


def check_padding_idx(ctx: Ctx, padding_idx: int | None, n: int) -> None:
    """Embedding's and EmbeddingBag's ``padding_idx``: an index into the ``n`` rows (torch: -n to n-1)."""
    if padding_idx is not None and not -n <= padding_idx < n:
        ctx.error(
            "AC108",
            f"padding_idx={padding_idx} must be within num_embeddings ({-n} to {n - 1})",
            field="padding_idx",
            hint=f"use an index from 0 to {n - 1} (often 0), or leave padding_idx out",
            recover=True,  # padding_idx does not shape the output
        )


def per_dim(v: Any, nd: int, entries: str = "ints") -> Any:
    """A field validator's check of a per-dim field (``kernel_size: 3`` or ``[3, 3]``): a list gives one
    entry for each of the ``nd`` spatial dims."""
    if isinstance(v, list) and len(v) != nd:
        raise ValueError(f"expected an int or a list of {nd} {entries}, got a list of {len(v)}")
    return v


def per_dim_field(cls: Any, v: Any) -> Any:
    """``per_dim`` as a type's field validator, for its ``nd``: ``field_validator("kernel_size", ...)(per_dim_field)``."""
    if isinstance(v, list) and len(v) != cls.nd:
        raise ValueError(f"expected an int or a list of {cls.nd} ints, got a list of {len(v)}")
    return v
