"""Attention: MultiheadAttention, TransformerEncoderLayer, TransformerDecoderLayer.

Rules follow torch 2.13 (``torch/nn/modules/activation.py``,
``transformer.py`` and ``F.multi_head_attention_forward``):

* ``embed_dim`` (``d_model``) must be divisible by ``num_heads`` (``nhead``).
* query is [L, N, E] ([N, L, E] with batch_first) or unbatched [L, E]; key
  and value have the query's rank; key's last dim is ``kdim`` (default E),
  value's ``vdim``; key and value agree in sequence and batch dims (in their
  whole shape when kdim == vdim == E); the batch dims of query and key agree.
* MultiheadAttention is self-attention on one input, or takes query, key,
  value as three inputs; the spec keeps the attention output (the first item).
* TransformerDecoderLayer takes (tgt, memory); memory is attended to with
  kdim = vdim = d_model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal, Optional

from ..shapes import dims as D
from . import roles as R
from ._rules import expect_rank, match_size, need_float, same
from .base import Example, Layer, Pos, Prob, Tensor, TorchLeaf, numel_per, register

if TYPE_CHECKING:  # pragma: no cover
    from .base import Ctx


def _heads(ctx: Ctx, e: int, h: int, e_field: str, h_field: str) -> bool:
    if e % h == 0:
        return True
    divs = [d for d in range(1, e + 1) if e % d == 0]
    near = min(divs, key=lambda d: (abs(d - h), d))
    ctx.error(
        "AC215",
        f"{e_field}={e} must be divisible by {h_field}={h} (each head gets {e_field} / {h_field} dims)",
        field=h_field,
        hint=f"use {h_field}: {near}, or a {e_field} that is a multiple of {h}",
        recover=True,  # the number of heads does not shape the output
    )
    return False


def _check_kv(
    ctx: Ctx,
    what: str,
    q: Tensor,
    k: Tensor,
    v: Tensor,
    e: int,
    kdim: int,
    vdim: int,
    batch_first: bool,
    names: tuple[str, str, str],
) -> bool:
    """The key/value checks of ``F.multi_head_attention_forward`` (ranks, dims, batch).

    Their errors are recovered from: the output has the query's shape whatever the key and value are.
    """
    qn, kn, vn = names
    for t, nm in ((k, kn), (v, vn)):
        if t.rank != q.rank:
            ctx.error(
                "AC219",
                f"{what}: the {qn} is {q.describe()} ({q.rank}-D), so the {nm} must be {q.rank}-D too, "
                f"but it is {t.describe()} ({ctx.source(t)})",
                field="inputs" if ctx.given("inputs") else None,
                hint="batch all inputs, or none of them",
                recover=True,
            )
            return False
    for t, nm, want, fld in ((k, kn, kdim, "kdim"), (v, vn, vdim, "vdim")):
        have = t.shape[-1]
        ok = same(have, want)
        if ok is None:
            ok = ctx.require_equal(have, want, f"{what} {nm} last dim")
        if ok is False:
            mha = qn == "query"
            ctx.error(
                "AC202",
                f"{what} expects the {nm}'s last dim to be {want}, but the {nm} is {t.describe()} ({ctx.source(t)})",
                field=fld if mha and ctx.given(fld) else None,
                hint=f"set {fld}: {D.fmt(have)}" if mha else "project the memory to d_model first (a Linear)",
                recover=True,
            )
            return False
    ks = tuple(k.shape) if (kdim == e and vdim == e) else tuple(k.shape[:-1])
    vs = tuple(v.shape) if (kdim == e and vdim == e) else tuple(v.shape[:-1])
    for a, b in zip(ks, vs):
        eq = same(a, b)
        if eq is None:
            eq = ctx.require_equal(a, b, f"{what} {kn}/{vn} dims")
        if eq is False:
            ctx.error(
                "AC219",
                f"{what}: the {kn} {k.describe()} and the {vn} {v.describe()} must agree in their sequence and batch dims",
                hint=f"give the {kn} and the {vn} the same length (usually the same tensor)",
                recover=True,
            )
            return False
    if q.rank == 3:
        ax = 0 if batch_first else 1
        eq = same(q.shape[ax], k.shape[ax])
        if eq is None:
            eq = ctx.require_equal(q.shape[ax], k.shape[ax], f"{what} batch")
        if eq is False:
            ctx.error(
                "AC219",
                f"{what}: the {qn} {q.describe()} and the {kn} {k.describe()} have different batch sizes "
                f"(dim {ax}{', batch_first' if batch_first else ''})",
                hint="check batch_first: with batch_first false the layout is [L, N, E]",
                recover=True,
            )
            return False
    return True


def _attn_macs(q: Tensor, k: Tensor, e: int, kdim: int, vdim: int, batch_first: bool, extra_kv: int) -> int | None:
    lq = numel_per(q.shape[:-1])  # query tokens (times batch)
    lk = numel_per(k.shape[:-1])
    seq_ax = 1 if (batch_first and k.rank == 3) else 0
    s = k.shape[seq_ax]
    if lq is None or lk is None or not isinstance(s, int):
        return None
    proj = lq * e * e + lk * e * (kdim + vdim) + lq * e * e  # q, k, v and out projections
    return proj + 2 * lq * (s + extra_kv) * e  # scores and weighted sum


def _mha_params(e: int, kdim: int, vdim: int, bias: bool, bias_kv: bool) -> int:
    w = 3 * e * e if (kdim == e and vdim == e) else e * e + e * kdim + e * vdim
    return w + e * e + (4 * e if bias else 0) + (2 * e if bias_kv else 0)


@register
class MultiheadAttention(Layer):
    family: ClassVar[str] = "attention"
    drawn_layout: ClassVar[str | None] = "cl"
    torch_name = "nn.MultiheadAttention"
    tuple_output: ClassVar[bool] = True
    outputs_doc: ClassVar[str | None] = (
        "(attn_output, attn_weights) as name.0, name.1 (the weights averaged over the heads); "
        "the name alone is attn_output"
    )
    arity: ClassVar[tuple[int, int | None]] = (1, 3)
    examples = [
        Example({"embed_dim": 16, "num_heads": 4}, (5, 2, 16), (5, 2, 16)),
        Example({"embed_dim": 16, "num_heads": 2, "batch_first": True, "add_bias_kv": True}, (2, 5, 16), (2, 5, 16)),
        Example({"embed_dim": 8, "num_heads": 2}, (5, 8), (5, 8)),
        Example({"num_heads": 3}, (5, 2, 16), error="AC215", fixed={"num_heads": 4}),
        Example({"embed_dim": 16, "num_heads": 4}, (16,), error="AC204"),
    ]

    embed_dim: Optional[Pos] = None
    num_heads: Pos
    dropout: Prob = 0.0
    bias: bool = True
    add_bias_kv: bool = False
    add_zero_attn: bool = False
    kdim: Optional[Pos] = None
    vdim: Optional[Pos] = None
    batch_first: bool = False

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        if len(xs) == 2:
            ctx.error(
                "AC104",
                "MultiheadAttention takes one input (self-attention) or three (query, key, value), got 2",
                field="inputs",
                hint="name the key twice for key = value: inputs: [q, kv, kv]",
            )
            return None
        q = xs[0]
        k, v = (xs[1], xs[2]) if len(xs) == 3 else (q, q)
        layout = "[N, L, E] (batch_first) or unbatched [L, E]" if self.batch_first else "[L, N, E] or unbatched [L, E]"
        if not expect_rank(ctx, q, (2, 3), "MultiheadAttention", f"({layout})"):
            return None
        for t in (q, k, v):
            if not need_float(ctx, t, "MultiheadAttention"):
                return None
        e = match_size(ctx, "embed_dim", self.embed_dim, q, -1, "MultiheadAttention", "AC202", "last dim")
        if e is None:
            return None
        _heads(ctx, e, self.num_heads, "embed_dim", "num_heads")
        kd, vd = self.kdim or e, self.vdim or e
        _check_kv(ctx, "MultiheadAttention", q, k, v, e, kd, vd, self.batch_first, ("query", "key", "value"))
        R.warn_time_axis(ctx, "MultiheadAttention", q, self.batch_first)
        return q.derived(tuple(q.shape), ctx.path)

    def _dims(self) -> tuple[int, int, int]:
        assert self.embed_dim is not None
        e = self.embed_dim
        return e, self.kdim or e, self.vdim or e

    def param_count(self) -> int:
        e, kd, vd = self._dims()
        return _mha_params(e, kd, vd, self.bias, self.add_bias_kv)

    def macs(self, xs: list[Tensor], out: Tensor) -> int | None:
        e, kd, vd = self._dims()
        k = xs[1] if len(xs) == 3 else xs[0]
        return _attn_macs(xs[0], k, e, kd, vd, self.batch_first, int(self.add_bias_kv) + int(self.add_zero_attn))

    def torch_leaves(self, out: Tensor) -> list[TorchLeaf]:
        return []  # its forward uses out_proj's weights in F.multi_head_attention_forward: no leaf module runs

    def emit_call(self, ref: str | None, args: list[str]) -> str:
        qkv = args * 3 if len(args) == 1 else args
        return f"{ref}({', '.join(qkv)}, need_weights=False)[0]"

    def tuple_items(self, ctx: Ctx, xs: list[Tensor], out: Tensor) -> tuple[Tensor, ...] | None:
        """``(attn_output, attn_weights)``: the weights averaged over heads, [N, L, S] ([L, S] unbatched)."""
        q = xs[0]
        k = xs[1] if len(xs) == 3 else q
        seq = 1 if (self.batch_first and q.rank == 3) else 0
        s = D.add(k.shape[seq], int(self.add_bias_kv) + int(self.add_zero_attn))
        batch = () if q.rank == 2 else (q.shape[0] if self.batch_first else q.shape[1],)
        w = Tensor((*batch, q.shape[seq], s), q.dtype, ctx.path, f"attention weights of {ctx.path}")
        return (out, w)

    def emit_tuple(self, ref: str | None, args: list[str]) -> str:
        qkv = args * 3 if len(args) == 1 else args
        return f"{ref}({', '.join(qkv)})"  # need_weights=True: the weights averaged over the heads

    def label(self) -> str:
        return f"{self.num_heads} heads"


class _TransformerLayer(Layer):
    family: ClassVar[str] = "attention"
    drawn_layout: ClassVar[str | None] = "cl"
    n_attn: ClassVar[int] = 1
    n_norm: ClassVar[int] = 2

    d_model: Optional[Pos] = None
    nhead: Pos
    dim_feedforward: Pos = 2048
    dropout: Prob = 0.1
    activation: Literal["relu", "gelu"] = "relu"
    layer_norm_eps: float = 1e-5
    batch_first: bool = False
    norm_first: bool = False
    bias: bool = True

    def _first(self, ctx: Ctx, x: Tensor, word: str) -> int | None:
        what = type(self).__name__
        layout = "[N, L, E] (batch_first) or unbatched [L, E]" if self.batch_first else "[L, N, E] or unbatched [L, E]"
        if not expect_rank(ctx, x, (2, 3), f"{what} ({word})" if word != "input" else what, f"({layout})"):
            return None
        if not need_float(ctx, x, what):
            return None
        e = match_size(ctx, "d_model", self.d_model, x, -1, what, "AC202", "last dim")
        if e is None:
            return None
        _heads(ctx, e, self.nhead, "d_model", "nhead")
        if word != "memory":
            R.warn_time_axis(ctx, what, x, self.batch_first)
        return e

    def param_count(self) -> int:
        assert self.d_model is not None
        e, f, b = self.d_model, self.dim_feedforward, self.bias
        attn = self.n_attn * _mha_params(e, e, e, b, False)
        ff = 2 * e * f + ((f + e) if b else 0)
        return attn + ff + self.n_norm * e * (2 if b else 1)

    def torch_leaves(self, out: Tensor) -> list[TorchLeaf]:
        """linear1, linear2 and the norms (the attention modules run no leaf module; dropouts hold nothing)."""
        assert self.d_model is not None
        e, f, b = self.d_model, self.dim_feedforward, int(self.bias)
        rows = tuple(out.shape[:-1])
        norms = [TorchLeaf("LayerNorm", e * (1 + b), out.shape) for _ in range(self.n_norm)]
        return [
            TorchLeaf("Linear", e * f + f * b, (*rows, f)),
            TorchLeaf("Linear", f * e + e * b, out.shape),
            *norms,
        ]

    def _ff_macs(self, x: Tensor) -> int | None:
        assert self.d_model is not None
        n = numel_per(x.shape[:-1])
        return None if n is None else 2 * n * self.d_model * self.dim_feedforward

    def label(self) -> str:
        return f"{self.nhead} heads, ff {self.dim_feedforward}"


@register
class TransformerEncoderLayer(_TransformerLayer):
    torch_name = "nn.TransformerEncoderLayer"
    examples = [
        Example({"d_model": 16, "nhead": 4, "dim_feedforward": 32}, (5, 2, 16), (5, 2, 16)),
        Example(
            {"d_model": 8, "nhead": 2, "dim_feedforward": 16, "batch_first": True, "norm_first": True},
            (2, 5, 8),
            (2, 5, 8),
        ),
        Example({"nhead": 3}, (5, 2, 16), error="AC215", fixed={"nhead": 4}),
        Example({"d_model": 16, "nhead": 4}, (5, 2, 8), error="AC202", fixed={"d_model": 8}),
        Example({"nhead": 4}, (16,), error="AC204"),
    ]

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        (x,) = xs
        if self._first(ctx, x, "input") is None:
            return None
        return x.derived(tuple(x.shape), ctx.path)

    def macs(self, xs: list[Tensor], out: Tensor) -> int | None:
        assert self.d_model is not None
        e = self.d_model
        a, f = _attn_macs(xs[0], xs[0], e, e, e, self.batch_first, 0), self._ff_macs(xs[0])
        return None if a is None or f is None else a + f


@register
class TransformerDecoderLayer(_TransformerLayer):
    torch_name = "nn.TransformerDecoderLayer"
    arity: ClassVar[tuple[int, int | None]] = (2, 2)
    n_attn = 2
    n_norm = 3
    examples = [
        Example(
            {"d_model": 16, "nhead": 4, "dim_feedforward": 32}, (5, 2, 16), (5, 2, 16), extra={"memory": (7, 2, 16)}
        ),
        Example({"nhead": 4}, (5, 2, 16), error="AC219", extra={"memory": (7, 16)}, fixed_extra={"memory": (7, 2, 16)}),
    ]

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        tgt, mem = xs
        e = self._first(ctx, tgt, "tgt")
        if e is None:
            return None
        if not need_float(ctx, mem, "TransformerDecoderLayer"):
            return None
        _check_kv(ctx, "TransformerDecoderLayer", tgt, mem, mem, e, e, e, self.batch_first, ("tgt", "memory", "memory"))
        return tgt.derived(tuple(tgt.shape), ctx.path)

    def macs(self, xs: list[Tensor], out: Tensor) -> int | None:
        assert self.d_model is not None
        e = self.d_model
        tgt, mem = xs
        parts = [
            _attn_macs(tgt, tgt, e, e, e, self.batch_first, 0),
            _attn_macs(tgt, mem, e, e, e, self.batch_first, 0),
            self._ff_macs(tgt),
        ]
        return None if any(p is None for p in parts) else sum(parts)  # type: ignore[arg-type]
