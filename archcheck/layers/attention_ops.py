"""The tensor operations of attention written by hand (nanoGPT's CausalSelfAttention and GPT.forward):
ScaledDotProductAttention and Arange (positions). No nn module: emitted as torch calls.

Rules follow torch 2.13:

* ScaledDotProductAttention(dropout_p, is_causal, scale) on inputs ``[query, key, value]`` is
  ``F.scaled_dot_product_attention(q, k, v, dropout_p=..., is_causal=..., scale=...)`` without a mask
  and without grouped-query attention. Each input has at least 2 dims: query ``[*b_q, L, E]``, key
  ``[*b_k, S, E]``, value ``[*b_v, S, Ev]``; the query's and the key's last dims (E) agree, the key's and
  the value's second-last (S) agree, and the batch dims (all but the last two, of any number) broadcast
  as ``torch.matmul``'s; the output is ``[*broadcast(b_q, b_k, b_v), L, Ev]``. ``is_causal`` masks with
  the top-left lower triangle of the L x S scores (any L and S). All three are floating point, of one
  dtype. MACs: the two products, ``QK^T`` and ``AV`` (batch * L * S * (E + Ev)), whether causal or
  not, as torch's FlopCounterMode counts them. ``dropout_p`` is applied in training only, as nanoGPT
  writes it (``dropout_p=p if self.training else 0.0``): the functional call itself would drop in eval
  mode too. For an input with a 0-size dim, torch's result depends on the kernel it picks; archcheck
  applies the same rule.
* Arange(dim, start=0, step=1) is ``torch.arange(start, x.size(dim), step, dtype=torch.long)`` on the
  device of its input ``x``: the positions along one of the input's dims (nanoGPT's
  ``pos = torch.arange(0, t, dtype=torch.long, device=idx.device)`` with ``t = idx.size(1)``). Its
  output is 1-D, ``ceil((size - start) / step)`` long, of dtype long, and records the range of its
  values (``start`` to ``start + step * (length - 1)``): an Embedding it indexes checks them against its
  ``num_embeddings`` (AC265; on a free dim a maximum, AC266: ``T <= block_size``). ``start`` beyond the
  size is refused, as torch does (AC267).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, ClassVar, Optional

from pydantic import Field

from ..shapes import dims as D
from ..shapes.dims import Dim
from ._rules import FLOATS, same, take_dim, wrap_dim
from .base import Example, Layer, NonNeg, Pos, Prob, Tensor, numel_per, register

if TYPE_CHECKING:  # pragma: no cover
    from .base import Ctx

_QKV = ("query", "key", "value")


def _who(ctx: Ctx, x: Tensor, i: int) -> str:
    """'key [2, 3, 5, 8] (output of attn.k_heads)'."""
    return f"{_QKV[i]} {x.describe()} ({ctx.source(x)})"


@register
class ScaledDotProductAttention(Layer):
    """``torch.nn.functional.scaled_dot_product_attention(query, key, value, ...)``: inputs [query, key, value]."""

    family: ClassVar[str] = "attention"
    arity: ClassVar[tuple[int, int | None]] = (3, 3)
    takes_empty: ClassVar[bool] = True
    arg_order: ClassVar[tuple[str, ...]] = ("dropout_p", "is_causal", "scale")
    examples = [
        Example({"inputs": ["x", "k", "v"]}, (2, 3, 4, 8), (2, 3, 4, 6), extra={"k": (2, 3, 5, 8), "v": (2, 3, 5, 6)}),
        Example({"inputs": ["x", "x", "x"], "is_causal": True}, (2, 12, 16, 64), (2, 12, 16, 64)),
        Example({"inputs": ["x", "k", "v"]}, (2, 1, 4, 8), (2, 3, 4, 6), extra={"k": (3, 5, 8), "v": (1, 5, 6)}),
        Example({"inputs": ["x", "k", "v"]}, (4, 8), (4, 6), extra={"k": (5, 8), "v": (5, 6)}),
        Example({"inputs": ["x", "k", "v"]}, (2, 3, 4, 8), error="AC219", extra={"k": (2, 3, 5, 7), "v": (2, 3, 5, 6)}),
        Example({"inputs": ["x", "k", "v"]}, (2, 3, 4, 8), error="AC219", extra={"k": (2, 3, 5, 8), "v": (2, 3, 6, 6)}),
        Example({"inputs": ["x", "k", "v"]}, (2, 3, 4, 8), error="AC219", extra={"k": (2, 3, 5, 8), "v": (2, 2, 5, 6)}),
        Example({"inputs": ["x", "x", "x"]}, (8,), error="AC204"),
    ]

    dropout_p: Prob = 0.0
    is_causal: bool = False
    scale: Optional[Annotated[float, Field(gt=0.0, allow_inf_nan=False)]] = None

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        q, k, v = xs
        if min(t.rank for t in xs) < 2:
            ctx.error(
                "AC204",
                "ScaledDotProductAttention needs query, key and value of at least 2 dims ([..., L, E]), but they "
                f"are {q.describe()}, {k.describe()} and {v.describe()}",
                hint="split the heads out first: view [B, T, C] as [B, T, n_head, C // n_head] and transpose(1, 2)",
            )
            return None
        for i, t in enumerate(xs):
            if t.dtype not in FLOATS:
                ctx.error(
                    "AC214",
                    f"ScaledDotProductAttention needs floating-point inputs, but its {_who(ctx, t, i)} has dtype "
                    f"{t.dtype}",
                    hint="feed it the output of a Linear (an Embedding turns token ids into float vectors)",
                )
                return None
        if len({t.dtype for t in xs}) > 1:
            ctx.error(
                "AC214",
                f"ScaledDotProductAttention needs query, key and value of one dtype, but they are "
                f"{', '.join(t.dtype for t in xs)}",
                hint="cast them to one dtype with a To layer",
            )
            return None
        for (a, ia, da), (b, ib, db), what in (
            ((q, 0, -1), (k, 1, -1), "the embedding size E (last dim)"),
            ((k, 1, -2), (v, 2, -2), "the key length S (second-last dim)"),
        ):
            x, y = a.shape[da], b.shape[db]
            eq = same(x, y)
            if eq is None:
                eq = ctx.require_equal(x, y, f"ScaledDotProductAttention {_QKV[ia]} and {_QKV[ib]}: {what}")
            if eq is False:
                ctx.error(
                    "AC219",
                    f"ScaledDotProductAttention's {_QKV[ia]} and {_QKV[ib]} must agree in {what}: {D.fmt(x)} vs "
                    f"{D.fmt(y)} ({_who(ctx, a, ia)}; {_who(ctx, b, ib)})",
                    field="inputs" if ctx.given("inputs") else None,
                    hint="query [..., L, E], key [..., S, E], value [..., S, Ev]: check the split and the head view",
                )
                return None
        batch = self._batch(ctx, xs)
        if batch is None:
            return None
        return q.derived((*batch, q.shape[-2], v.shape[-1]), ctx.path)

    def _batch(self, ctx: Ctx, xs: list[Tensor]) -> list[Dim] | None:
        """The batch dims (all but the last two) of query, key and value, broadcast together as torch.matmul."""
        parts = [list(t.shape[:-2]) for t in xs]
        r = max(len(p) for p in parts)
        padded = [[1] * (r - len(p)) + p for p in parts]
        out: list[Dim] = []
        for j in range(r):
            size: Dim = 1
            owner = 0
            for i, p in enumerate(padded):
                d = p[j]
                if d == 1:
                    continue
                if size == 1:
                    size, owner = d, i
                    continue
                eq = same(size, d)
                if eq is None:
                    eq = ctx.require_equal(size, d, f"ScaledDotProductAttention batch dim {j - r}")
                if eq is False:
                    ctx.error(
                        "AC219",
                        f"ScaledDotProductAttention cannot broadcast the batch dims of its {_QKV[owner]} and "
                        f"{_QKV[i]}: {D.fmt(size)} vs {D.fmt(d)} in dim {j - r - 2} (dims before the last two must "
                        f"be equal or 1; {_who(ctx, xs[owner], owner)}; {_who(ctx, xs[i], i)})",
                        field="inputs" if ctx.given("inputs") else None,
                        hint="give query, key and value the same [batch, heads] dims",
                    )
                    return None
            out.append(size)
        return out

    def macs(self, xs: list[Tensor], out: Tensor) -> int | None:
        """QK^T and AV: batch * L * S * E and batch * L * S * Ev (per sample, as MatMul's)."""
        s, e, ev = xs[1].shape[-2], xs[0].shape[-1], out.shape[-1]
        rows = numel_per(out.shape[:-1])  # batch * L
        if rows is None or not isinstance(s, int) or not isinstance(e, int) or not isinstance(ev, int):
            return None
        return rows * s * (e + ev)

    def emit_call(self, ref: str | None, args: list[str]) -> str:
        kw = []
        if self.dropout_p:
            kw.append(f"dropout_p={self.dropout_p!r} if self.training else 0.0")
        if self.is_causal:
            kw.append("is_causal=True")
        if self.scale is not None:
            kw.append(f"scale={self.scale!r}")
        return f"nn.functional.scaled_dot_product_attention({', '.join([*args, *kw])})"

    def label(self) -> str:
        parts = ["causal" if self.is_causal else ""]
        if self.dropout_p:
            parts.append(f"p={self.dropout_p:g}")
        if self.scale is not None:
            parts.append(f"scale {self.scale:g}")
        return " ".join(p for p in parts if p)


@register
class Arange(Layer):
    """``torch.arange(start, x.size(dim), step, dtype=torch.long, device=x.device)``: positions along a dim."""

    family: ClassVar[str] = "reshape"
    takes_empty: ClassVar[bool] = True
    arg_order: ClassVar[tuple[str, ...]] = ("dim", "start", "step")
    examples = [
        Example({"dim": 1}, (2, 16), (16,), extra={"dtype": "long"}),
        Example({"dim": -1, "start": 2, "step": 3}, (2, 3, 10), (3,)),
        Example({"dim": 0}, (5, 4), (5,)),
        Example({"dim": 2}, (2, 16), error="AC208", extra={"dtype": "long"}),
        Example({"dim": 1, "start": 17}, (2, 16), error="AC267", extra={"dtype": "long"}),
    ]

    dim: int
    start: NonNeg = 0
    step: Pos = 1

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        (x,) = xs
        d = take_dim(ctx, x, self.dim, "Arange")
        if d is None:
            return None
        size = x.shape[d]
        if isinstance(size, int) and size < self.start:
            ctx.error(
                "AC267",
                f"Arange from start={self.start} to the input's size along dim {self.dim}, {size}: the end is "
                f"before the start (input {x.describe()}, {ctx.source(x)})",
                field="start",
                hint=f"use a start of at most {size}",
            )
            return None
        if not isinstance(size, int) and self.start > 0:
            ctx.require_min(size, self.start, f"Arange end {D.fmt(size)} at least its start {self.start}")
        length = (
            D.floordiv(D.add(size, self.step - 1 - self.start), self.step)
            if self.step > 1
            else D.add(size, -self.start)
        )
        last = D.add(self.start, D.mul(self.step, D.add(length, -1)))
        out = Tensor((length,), "long", ctx.path, origin=f"positions 0 to {D.fmt(D.add(size, -1))} from {ctx.path}")
        if self.start or self.step > 1:
            step = f" (step {self.step})" if self.step > 1 else ""
            out.origin = f"positions {self.start} to {D.fmt(last)}{step} from {ctx.path}"
        if length != 0:  # an empty range indexes nothing
            out.values = (self.start, last)
        return out

    def roles(self, ctx: Ctx, xs: list[Tensor], out: Tensor) -> tuple[str, ...] | None:
        (x,) = xs
        d = wrap_dim(self.dim, x.rank)
        r = x.roles[d] if x.roles is not None and d is not None and len(x.roles) == x.rank else ""
        return (r,) if r else None

    def emit_call(self, ref: str | None, args: list[str]) -> str:
        (a,) = args
        step = f", {self.step}" if self.step != 1 else ""
        return f"torch.arange({self.start}, {a}.size({self.dim}){step}, dtype=torch.long, device={a}.device)"

    def label(self) -> str:
        step = f" step {self.step}" if self.step != 1 else ""
        return f"{self.start}..size({self.dim}){step}"
