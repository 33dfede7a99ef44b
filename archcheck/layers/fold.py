"""Sliding blocks: Unfold (im2col) and Fold (col2im).

Rules follow torch 2.13 (``torch/nn/modules/fold.py``, ATen ``im2col``/``col2im``),
checked by ``tests/test_layers_extra_vs_torch.py``. Only 2-D blocks exist in torch:
each of kernel_size, dilation, padding, stride is an int or a list of 2.

* Unfold takes [N, C, H, W] or [C, H, W] and gives [N, C * kh * kw, L] (or
  [C * kh * kw, L]), L the number of blocks: the product over H and W of
  ``floor((size + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1``,
  each at least 1.
* Fold takes [N, C * kh * kw, L] or [C * kh * kw, L] and gives [N, C, *output_size]:
  dim -2 must be divisible by kh * kw, and L must be the number of blocks in
  ``output_size`` (the same formula).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Union

from pydantic import field_validator

from ..shapes import dims as D
from ..shapes.dims import Dim
from ._rules import exact_div, expect_rank, need_float, same, window_out
from .base import Example, Layer, NonNeg, Pos, Tensor, as_tuple, register

if TYPE_CHECKING:  # pragma: no cover
    from .base import Ctx

Pair = Union[Pos, list[Pos]]
NonNegPair = Union[NonNeg, list[NonNeg]]


class _Blocks(Layer):
    family: ClassVar[str] = "reshape"
    arg_order: ClassVar[tuple[str, ...]] = ("output_size", "kernel_size", "dilation", "padding", "stride")

    kernel_size: Pair
    dilation: Pair = 1
    padding: NonNegPair = 0
    stride: Pair = 1

    @field_validator("kernel_size", "dilation", "padding", "stride", "output_size", check_fields=False)
    @classmethod
    def _pair(cls, v: Any) -> Any:
        if isinstance(v, list) and len(v) != 2:
            raise ValueError(f"expected an int or a list of 2 ints (torch has 2-D blocks only), got a list of {len(v)}")
        return v

    def _blocks(self, ctx: Ctx, sizes: tuple[Dim, Dim]) -> list[Dim] | None:
        k, d = as_tuple(self.kernel_size, 2), as_tuple(self.dilation, 2)
        p, s = as_tuple(self.padding, 2), as_tuple(self.stride, 2)
        out: list[Dim] = []
        for i, (size, axis) in enumerate(zip(sizes, ("H", "W"))):
            o = window_out(ctx, size, k[i], s[i], 2 * p[i], d[i], axis, pad_left=p[i], what="block")
            if o is None:
                return None
            out.append(o)
        return out

    def _k(self) -> int:
        kh, kw = as_tuple(self.kernel_size, 2)
        return kh * kw

    def label(self) -> str:
        kh, kw = as_tuple(self.kernel_size, 2)
        return f"{kh}x{kw} blocks"


@register
class Unfold(_Blocks):
    torch_name = "nn.Unfold"
    examples = [
        Example({"kernel_size": 2}, (1, 3, 4, 4), (1, 12, 9)),
        Example({"kernel_size": [2, 3], "stride": 2, "padding": 1}, (3, 5, 6), (18, 9)),
        Example({"kernel_size": 5}, (1, 1, 4, 4), error="AC203"),
        Example({"kernel_size": 2}, (4, 4), error="AC204"),
    ]

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        (x,) = xs
        if not expect_rank(ctx, x, (3, 4), "Unfold", "([N, C, H, W] or unbatched [C, H, W])"):
            return None
        if not need_float(ctx, x, "Unfold"):
            return None
        blocks = self._blocks(ctx, (x.shape[-2], x.shape[-1]))
        if blocks is None:
            return None
        c = D.mul(x.shape[-3], self._k())
        return x.derived(tuple(x.shape[:-3]) + (c, D.mul(blocks[0], blocks[1])), ctx.path)


@register
class Fold(_Blocks):
    torch_name = "nn.Fold"
    examples = [
        Example({"output_size": [4, 5], "kernel_size": 2}, (1, 12, 12), (1, 3, 4, 5)),
        Example({"output_size": 4, "kernel_size": 2, "stride": 2}, (8, 4), (2, 4, 4)),
        Example({"output_size": [4, 5], "kernel_size": 2}, (1, 12, 11), error="AC252"),
        Example({"output_size": [4, 5], "kernel_size": 2}, (1, 11, 12), error="AC215"),
        Example({"output_size": [4, 5], "kernel_size": 2}, (12,), error="AC204"),
    ]

    output_size: Pair

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        (x,) = xs
        if not expect_rank(ctx, x, (2, 3), "Fold", "([N, C * kh * kw, L] or unbatched [C * kh * kw, L])"):
            return None
        if not need_float(ctx, x, "Fold"):
            return None
        k = self._k()
        ck = x.shape[-2]
        c, ok = exact_div(ck, k)
        if ok is False:
            ctx.error(
                "AC215",
                f"Fold needs dim -2 of its input {x.describe()} to be divisible by kh * kw = {k}, but it is "
                f"{D.fmt(ck)} ({ctx.source(x)})",
                field="kernel_size",
                hint="dim -2 holds C * kh * kw values per block: check kernel_size against the Unfold that made it",
            )
            return None
        if ok is None:
            ctx.require_equal(D.mul(c, k), ck, f"Fold dim -2 divisible by {k}")
        oh, ow = as_tuple(self.output_size, 2)
        blocks = self._blocks(ctx, (oh, ow))
        if blocks is None:
            return None
        want = D.mul(blocks[0], blocks[1])
        have = x.shape[-1]
        eq = same(have, want)
        if eq is None:
            eq = ctx.require_equal(have, want, "Fold blocks")
        if eq is False:
            ctx.error(
                "AC252",
                f"Fold's output_size {[oh, ow]} holds {D.fmt(want)} blocks ({D.fmt(blocks[0])} x {D.fmt(blocks[1])}), "
                f"but its input {x.describe()} has {D.fmt(have)} (its last dim, {ctx.source(x)})",
                field="output_size",
                hint="set output_size to the size the Unfold was given, with the same kernel_size, stride, padding "
                "and dilation",
            )
            return None
        return x.derived(tuple(x.shape[:-2]) + (c, oh, ow), ctx.path)
