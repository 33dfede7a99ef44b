"""Layers of two inputs: Bilinear, CosineSimilarity, PairwiseDistance.

Rules follow torch 2.13 (``torch/nn/modules/linear.py``, ``distance.py`` and the
ATen ``bilinear``, ``cosine_similarity``, ``pairwise_distance``), checked by
``tests/test_layers_extra_vs_torch.py``:

* Bilinear: inputs [*, in1_features] and [*, in2_features] of the same rank
  (>= 1) and the same leading dims (no broadcasting); output [*, out_features].
  The two sizes are inferred from the inputs when left out.
* CosineSimilarity: the inputs broadcast; dim ``dim`` of the broadcast shape is
  reduced (wrapped against its rank; a scalar counts as rank 1).
* PairwiseDistance: the inputs broadcast; the last dim of the broadcast shape is
  reduced (kept as 1 with ``keepdim``; a scalar stays a scalar).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Optional

from ..shapes import dims as D
from ._rules import match_size, need_float, same, wrap_dim
from .base import Example, Layer, Pos, Tensor, numel_per, register
from .merge import _Elementwise2

if TYPE_CHECKING:  # pragma: no cover
    from .base import Ctx


@register
class Bilinear(Layer):
    family: ClassVar[str] = "linear"
    drawn_layout: ClassVar[str | None] = "cl"
    arity: ClassVar[tuple[int, int | None]] = (2, 2)
    takes_empty: ClassVar[bool] = True
    torch_name = "nn.Bilinear"
    examples = [
        Example({"in1_features": 3, "in2_features": 4, "out_features": 5}, (2, 3), (2, 5), extra={"x2": (2, 4)}),
        Example({"out_features": 5}, (2, 7, 3), (2, 7, 5), extra={"x2": (2, 7, 4)}),
        Example({"out_features": 5}, (3,), (5,), extra={"x2": (4,)}),
        Example({"out_features": 5}, (2, 3), error="AC308", extra={"x2": (1, 4)}, fixed_extra={"x2": (2, 4)}),
        Example(
            {"in1_features": 3, "in2_features": 5, "out_features": 2},
            (2, 3),
            error="AC202",
            extra={"x2": (2, 4)},
            fixed={"in2_features": 4},
        ),
    ]

    in1_features: Optional[Pos] = None
    in2_features: Optional[Pos] = None
    out_features: Pos
    bias: bool = True

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        a, b = xs
        for t in (a, b):
            if t.rank < 1:
                ctx.error(
                    "AC204",
                    f"Bilinear needs inputs with at least 1 dim [*, features], but one is a scalar ({ctx.source(t)})",
                )
                return None
            if not need_float(ctx, t, "Bilinear"):
                return None
        if match_size(ctx, "in1_features", self.in1_features, a, -1, "Bilinear (input 1)", "AC202", "last dim") is None:
            return None
        if match_size(ctx, "in2_features", self.in2_features, b, -1, "Bilinear (input 2)", "AC202", "last dim") is None:
            return None
        lead = a.shape[:-1]
        ok = a.rank == b.rank
        for p, q in zip(lead, b.shape[:-1]) if ok else ():
            eq = same(p, q)
            if eq is None:
                eq = ctx.require_equal(p, q, "Bilinear leading dims")
            ok = ok and eq is not False
        if not ok:
            ctx.error(
                "AC308",
                f"Bilinear needs both inputs to have the same leading dims (no broadcasting), but they are "
                f"{a.describe()} ({ctx.source(a)}) and {b.describe()} ({ctx.source(b)})",
                hint="give both inputs the same batch dims (expand or repeat the smaller one)",
                recover=True,  # the output takes the first input's leading dims
            )
        return a.derived(tuple(lead) + (self.out_features,), ctx.path)

    def param_count(self) -> int:
        assert self.in1_features is not None and self.in2_features is not None
        return self.out_features * (self.in1_features * self.in2_features + (1 if self.bias else 0))

    def macs(self, xs: list[Tensor], out: Tensor) -> int | None:
        n = numel_per(xs[0].shape[:-1])
        assert self.in1_features is not None and self.in2_features is not None
        return None if n is None else n * self.out_features * self.in1_features * self.in2_features

    def label(self) -> str:
        return f"{self.in1_features}x{self.in2_features}→{self.out_features}"


class _Reduce2(_Elementwise2):
    """Two inputs broadcast together, then one dim is reduced."""

    family: ClassVar[str] = "merge"
    arity: ClassVar[tuple[int, int | None]] = (2, 2)

    def _reduce(self, ctx: Ctx, out: Tensor) -> tuple[D.Dim, ...] | None:  # pragma: no cover
        raise NotImplementedError

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        for t in xs:
            if not need_float(ctx, t, type(self).__name__):
                return None
        out = super().infer(ctx, xs)
        if out is None:
            return None
        shape = self._reduce(ctx, out)
        return None if shape is None else out.derived(shape, ctx.path)

    def roles(self, ctx: Ctx, xs: list[Tensor], out: Tensor) -> tuple[str, ...] | None:
        return None

    def emit_call(self, ref: str | None, args: list[str]) -> str:
        return f"{ref}({', '.join(args)})"


@register
class CosineSimilarity(_Reduce2):
    torch_name = "nn.CosineSimilarity"
    examples = [
        Example({}, (2, 8), (2,), extra={"x2": (2, 8)}),
        Example({"dim": -1}, (2, 5, 8), (2, 5), extra={"x2": (1, 5, 8)}),
        Example({"dim": 2}, (2, 8), error="AC208", extra={"x2": (2, 8)}),
        Example({}, (2, 8), error="AC308", extra={"x2": (2, 7)}),
    ]

    dim: int = 1
    eps: float = 1e-8

    def _reduce(self, ctx: Ctx, out: Tensor) -> tuple[D.Dim, ...] | None:
        d = wrap_dim(self.dim, out.rank)
        if d is None:
            r = max(out.rank, 1)
            ctx.error(
                "AC208",
                f"dim={self.dim} is out of range for the broadcast inputs {out.describe()} (valid: {-r} to {r - 1})",
                field="dim",
            )
            return None
        return tuple(out.shape[:d]) + tuple(out.shape[d + 1 :])

    def label(self) -> str:
        return f"cos dim {self.dim}"


@register
class PairwiseDistance(_Reduce2):
    torch_name = "nn.PairwiseDistance"
    examples = [
        Example({}, (2, 8), (2,), extra={"x2": (2, 8)}),
        Example({"keepdim": True, "p": 1.0}, (2, 5, 8), (2, 5, 1), extra={"x2": (5, 8)}),
        Example({}, (2, 8), error="AC308", extra={"x2": (3, 8)}),
    ]

    p: float = 2.0
    eps: float = 1e-6
    keepdim: bool = False

    def _reduce(self, ctx: Ctx, out: Tensor) -> tuple[D.Dim, ...] | None:
        if out.rank == 0:
            return ()
        return tuple(out.shape[:-1]) + ((1,) if self.keepdim else ())

    def label(self) -> str:
        return f"p {self.p}"
