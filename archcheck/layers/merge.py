"""Merges: Add and Multiply (elementwise, with broadcasting) and Concat.

Broadcasting follows https://pytorch.org/docs/stable/notes/broadcasting.html:
shapes are aligned on the right, and each pair of dims must be equal or one
of them 1. Concat follows ``torch.cat``: same rank, equal dims except ``dim``.
Where the dims involve free dims, equality may hold only for some sizes: the
engine records the condition and states it in plain words at the end.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from ..shapes import dims as D
from . import roles as R
from ._rules import wrap_dim
from .base import Example, Layer, RField, Tensor, merge_fields, register

if TYPE_CHECKING:  # pragma: no cover
    from .base import Ctx


def _who(ctx: Ctx, x: Tensor, i: int) -> str:
    """'input 2 (skip: output of down2.conv) [N, 64, 28, 28]'."""
    name = ctx.input_names[i] if i < len(ctx.input_names) else ""
    where = ctx.source(x)
    label = f"{name}: {where}" if name and not where.endswith(name) else where
    return f"input {i + 1} ({label}) {x.describe()}"


class _Elementwise2(Layer):
    takes_empty: ClassVar[bool] = True
    family: ClassVar[str] = "merge"
    arity: ClassVar[tuple[int, int | None]] = (2, None)
    op: ClassVar[str] = "+"

    def receptive_field(self, fields: list[RField | None]) -> RField | None:
        return merge_fields(fields) if len(fields) != 1 else None

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        what = type(self).__name__
        shape = list(xs[0].shape)
        for i, x in enumerate(xs[1:], start=1):
            r = max(len(shape), x.rank)
            a = [1] * (r - len(shape)) + shape
            b = [1] * (r - x.rank) + list(x.shape)
            out: list[D.Dim] = []
            for j, (p, q) in enumerate(zip(a, b)):
                if isinstance(p, int) and isinstance(q, int):
                    if p == q or q == 1:
                        out.append(p)
                    elif p == 1:
                        out.append(q)
                    else:
                        ctx.error(
                            "AC308",
                            f"{what} cannot broadcast {_who(ctx, xs[0], 0)} with {_who(ctx, x, i)}: "
                            f"dim {j} is {p} vs {q} (dims must be equal or 1)",
                            hint="make the branches end in the same shape (a 1x1 conv or a pool on one side)",
                        )
                        return None
                elif q == 1:
                    out.append(p)
                elif p == 1:
                    out.append(q)
                else:
                    eq = ctx.require_equal(p, q, f"{what} dim {j}")
                    if eq is False:
                        ctx.error(
                            "AC308",
                            f"{what} needs dim {j} equal, but it is {D.fmt(p)} in {_who(ctx, xs[0], 0)} "
                            f"and {D.fmt(q)} in {_who(ctx, x, i)}, for every size",
                            hint="the branches downsample differently: align their strides and paddings",
                        )
                        return None
                    out.append(p)
            shape = out
        return Tensor(tuple(shape), xs[0].dtype, ctx.path)

    def roles(self, ctx: Ctx, xs: list[Tensor], out: Tensor) -> tuple[str, ...] | None:
        return R.joined([x.roles for x in xs], out.rank)

    def emit_call(self, ref: str | None, args: list[str]) -> str:
        return f" {self.op} ".join(args)


@register
class Add(_Elementwise2):
    examples = [
        Example({"inputs": ["x", "x"]}, (2, 3, 4), (2, 3, 4)),
    ]


@register
class Multiply(_Elementwise2):
    op = "*"
    examples = [Example({"inputs": ["x", "x"]}, (2, 3), (2, 3))]


@register
class Concat(Layer):
    takes_empty: ClassVar[bool] = True
    family: ClassVar[str] = "merge"
    arity: ClassVar[tuple[int, int | None]] = (2, None)
    examples = [Example({"inputs": ["x", "x"], "dim": 1}, (2, 3, 4), (2, 6, 4))]

    dim: int = 0

    def receptive_field(self, fields: list[RField | None]) -> RField | None:
        return merge_fields(fields) if len(fields) != 1 else None

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        r = xs[0].rank
        for i, x in enumerate(xs[1:], start=1):
            if x.rank != r:
                ctx.error(
                    "AC308",
                    f"Concat needs inputs of the same rank, but {_who(ctx, xs[0], 0)} is {r}-D "
                    f"and {_who(ctx, x, i)} is {x.rank}-D",
                )
                return None
        d = wrap_dim(self.dim, r)
        if d is None or r == 0:
            ctx.error("AC208", f"dim={self.dim} is out of range for {r}-D inputs (valid: {-r} to {r - 1})", field="dim")
            return None
        shape = list(xs[0].shape)
        for i, x in enumerate(xs[1:], start=1):
            for j in range(r):
                if j == d:
                    shape[j] = D.add(shape[j], x.shape[j])
                    continue
                p, q = xs[0].shape[j], x.shape[j]
                eq = (
                    (p == q)
                    if isinstance(p, int) and isinstance(q, int)
                    else ctx.require_equal(p, q, f"Concat dim {j}")
                )
                if eq is False:
                    only = (
                        d == 0
                        and j == 1
                        and all(
                            type(a) is type(b) and a == b
                            for k, (a, b) in enumerate(zip(xs[0].shape, x.shape))
                            if k not in (0, 1)
                        )
                    )
                    ctx.error(
                        "AC308",
                        f"Concat along dim {d} needs the other dims equal, but dim {j} is {D.fmt(p)} in "
                        f"{_who(ctx, xs[0], 0)} and {D.fmt(q)} in {_who(ctx, x, i)}",
                        field="dim" if only and ctx.given("dim") else "inputs",
                        hint="Concat joins along dim 0, the batch, "
                        + ("by default" if not ctx.given("dim") else "here")
                        + ": to join the channels (or features), write dim: 1"
                        if only
                        else "crop or pad one branch, or fix the strides so both reach the same size",
                    )
                    return None
        return Tensor(tuple(shape), xs[0].dtype, ctx.path)

    def roles(self, ctx: Ctx, xs: list[Tensor], out: Tensor) -> tuple[str, ...] | None:
        d = wrap_dim(self.dim, out.rank)
        rs = [R.keep(x.roles, out.rank) for x in xs]
        if d is not None and any(r is not None and r[d] == R.BATCH for r in rs):
            alt = next((r[1] for r in rs if r is not None and out.rank > 1 and r[1]), None)
            ctx.warn(
                "AC404",
                f"Concat joins its inputs along dim {d}, the batch"
                + (" (dim 0 is Concat's default)" if not ctx.given("dim") else "")
                + f": the output has {D.fmt(out.shape[d])} samples, "
                + " + ".join(D.fmt(x.shape[d]) for x in xs),
                field="dim" if ctx.given("dim") else "type",
                hint=f"to join the {alt}, write dim: 1"
                if alt and alt != R.BATCH
                else "join along a dim of the samples, e.g. dim: 1",
            )
        return R.joined([x.roles for x in xs], out.rank)

    def emit_call(self, ref: str | None, args: list[str]) -> str:
        return f"torch.cat([{', '.join(args)}], dim={self.dim})"
