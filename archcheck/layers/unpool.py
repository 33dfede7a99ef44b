"""MaxUnpool1d/2d/3d: the partial inverse of a MaxPool that returned its indices.

Rules follow torch 2.13 (``torch/nn/modules/pooling.py``, ``F._unpool_output_size``
and the ATen max_unpooling kernels), checked by ``tests/test_layers_extra_vs_torch.py``:

* inputs: the pooled values and their ``indices`` (the MaxPool's second output,
  dtype int64, the values' exact shape), and optionally a third tensor whose size
  is the ``output_size`` (emitted as ``unpool(x, indices, output_size=like.size())``,
  SegNet's way of undoing an odd size);
* MaxUnpool1d takes [N, C, L] or unbatched [C, L]; MaxUnpool2d [N, C, H, W] or [C, H, W];
  MaxUnpool3d [N, C, D, H, W] or [C, D, H, W];
* each spatial size is ``(in - 1) * stride - 2 * padding + kernel_size``
  (``stride`` defaults to ``kernel_size``); an ``output_size`` (its last nd dims,
  from a tensor of rank nd or nd + 2) must lie strictly between that minus and
  plus ``stride``; a size below 1 is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Optional

from ..shapes import dims as D
from ..shapes.dims import Dim
from ._rules import LONG_ONLY, SPATIAL, expect_rank, need_float, same
from .base import Example, Layer, NonNegOrList, PosOrList, Tensor, as_tuple, register

if TYPE_CHECKING:  # pragma: no cover
    from .base import Ctx


def _bad_input(ctx: Ctx, code: str, message: str, hint: str) -> None:
    """A finding about the indices or the output_size tensor: at ``inputs:`` where the spec names them."""
    ctx.error(code, message, field="inputs" if ctx.given("inputs") else None, hint=hint)


class _MaxUnpool(Layer):
    family: ClassVar[str] = "pool"
    drawn_layout: ClassVar[str | None] = "cf"
    nd: ClassVar[int] = 2
    ranks: ClassVar[tuple[int, ...]] = (3, 4)
    arity: ClassVar[tuple[int, int | None]] = (2, 3)

    kernel_size: PosOrList
    stride: Optional[PosOrList] = None
    padding: NonNegOrList = 0

    def kernel_shape(self) -> list[int]:
        return list(as_tuple(self.kernel_size, self.nd))  # torch keeps _single/_pair/_triple(kernel_size)

    def _params(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        k = as_tuple(self.kernel_size, self.nd)
        s = as_tuple(self.stride, self.nd) if self.stride is not None else k
        return k, s, as_tuple(self.padding, self.nd)

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        x, idx = xs[0], xs[1]
        what = type(self).__name__
        nd = self.nd
        sp = ", ".join(SPATIAL[nd])
        layout = f"([N, C, {sp}])" if len(self.ranks) == 1 else f"([N, C, {sp}] or unbatched [C, {sp}])"
        if not expect_rank(ctx, x, self.ranks, what, layout):
            return None
        if not need_float(ctx, x, what):
            return None
        for name in ("kernel_size", "stride", "padding"):
            v = getattr(self, name)
            if isinstance(v, list) and len(v) != nd:
                ctx.error(
                    "AC104",
                    f"{what} takes {nd} {name} value{'s' if nd > 1 else ''}, got {len(v)}: {v}",
                    field=name,
                    hint=f"give one int, or a list of {nd}",
                )
                return None
        if idx.dtype not in LONG_ONLY:
            _bad_input(
                ctx,
                "AC214",
                f"{what}'s indices must be int64 (long), but they have dtype {idx.dtype} ({ctx.source(idx)})",
                "pass the indices a MaxPool with return_indices: true returns (its second output)",
            )
            return None
        k, s, p = self._params()
        if not self._same_shape(ctx, x, idx):
            return None
        sizes: list[Dim] = []
        for i in range(nd):
            size = x.shape[x.rank - nd + i]
            sizes.append(D.add(D.mul(D.add(size, -1), s[i]), k[i] - 2 * p[i]))
        if len(xs) == 3 and not self._output_size(ctx, xs[2], sizes, s):
            return None
        if len(xs) == 3:
            sizes = list(xs[2].shape[xs[2].rank - nd :])
        for i, o in enumerate(sizes):
            axis = SPATIAL[nd][i]
            if isinstance(o, int) and o < 1:
                ctx.error(
                    "AC203",
                    f"{what}'s output would have size {o} in dim {axis} "
                    f"((in - 1) * stride {s[i]} - 2 * padding {p[i]} + kernel_size {k[i]}, "
                    f"input {x.describe()})",
                    field="padding" if p[i] else "kernel_size",
                    hint="use less padding or a larger kernel_size (the MaxPool's own values)",
                )
                return None
            if not isinstance(o, int):
                ctx.require_min(o, 1, f"{what} output in dim {axis}")
        return x.derived(tuple(x.shape[: x.rank - nd]) + tuple(sizes), ctx.path)

    def _same_shape(self, ctx: Ctx, x: Tensor, idx: Tensor) -> bool:
        ok = idx.rank == x.rank
        for a, b in zip(x.shape, idx.shape) if ok else ():
            eq = same(a, b)
            if eq is None:
                eq = ctx.require_equal(a, b, f"{type(self).__name__} indices shape")
            ok = ok and eq is not False
        if not ok:
            _bad_input(
                ctx,
                "AC251",
                f"{type(self).__name__}'s indices {idx.describe()} must have the shape of its input "
                f"{x.describe()} ({ctx.source(idx)})",
                "pass the indices of the MaxPool whose output this unpools",
            )
        return ok

    def _output_size(self, ctx: Ctx, like: Tensor, sizes: list[Dim], s: tuple[int, ...]) -> bool:
        what, nd = type(self).__name__, self.nd
        if like.rank not in (nd, nd + 2):
            _bad_input(
                ctx,
                "AC251",
                f"{what} takes its output_size from {like.describe()} ({ctx.source(like)}), which has {like.rank} "
                f"dims; torch needs {nd} or {nd + 2}",
                "name the tensor that went into the MaxPool as the third input",
            )
            return False
        want = like.shape[like.rank - nd :]
        for i, (o, d) in enumerate(zip(want, sizes)):
            lo, hi = D.add(d, -s[i]), D.add(d, s[i])
            if isinstance(o, int) and isinstance(d, int):
                if d - s[i] < o < d + s[i]:
                    continue
                _bad_input(
                    ctx,
                    "AC251",
                    f"{what} cannot unpool to size {o} in dim {SPATIAL[nd][i]}: from its input it makes {d}, "
                    f"and output_size may differ by less than the stride {s[i]} (between {lo} and {hi}, "
                    f"exclusive; output_size from {like.describe()})",
                    "name the tensor that went into the MaxPool as the third input",
                )
                return False
            ctx.require_min(D.add(o, D.mul(lo, -1)), 1, f"{what} output_size above (in - 1) * stride + ... - stride")
            ctx.require_min(D.add(hi, D.mul(o, -1)), 1, f"{what} output_size below (in - 1) * stride + ... + stride")
        return True

    def emit_call(self, ref: str | None, args: list[str]) -> str:
        if len(args) == 3:
            return f"{ref}({args[0]}, {args[1]}, output_size={args[2]}.size())"
        return f"{ref}({', '.join(args)})"

    def label(self) -> str:
        k, s, p = self._params()
        ks = "x".join(map(str, k))
        return f"{ks} /{s[0] if len(set(s)) == 1 else 'x'.join(map(str, s))}" + (f" p{p[0]}" if any(p) else "")


@register
class MaxUnpool1d(_MaxUnpool):
    torch_name = "nn.MaxUnpool1d"
    nd = 1
    ranks = (2, 3)
    examples = [
        Example({"kernel_size": 2}, (2, 3, 4), (2, 3, 8), extra={"indices": {"shape": (2, 3, 4), "dtype": "long"}}),
        Example(
            {"kernel_size": 3, "stride": 2, "padding": 1},
            (2, 3, 5),
            (2, 3, 9),
            extra={"indices": {"shape": (2, 3, 5), "dtype": "long"}},
        ),
        Example({"kernel_size": 2}, (3, 4), (3, 8), extra={"indices": {"shape": (3, 4), "dtype": "long"}}),
        Example({"kernel_size": 2}, (4,), error="AC204", extra={"indices": {"shape": (4,), "dtype": "long"}}),
    ]


@register
class MaxUnpool2d(_MaxUnpool):
    torch_name = "nn.MaxUnpool2d"
    nd = 2
    ranks = (3, 4)
    examples = [
        Example(
            {"kernel_size": 2, "stride": 2},
            (1, 2, 3, 3),
            (1, 2, 6, 6),
            extra={"indices": {"shape": (1, 2, 3, 3), "dtype": "long"}},
        ),
        Example({"kernel_size": 2}, (2, 3, 3), (2, 6, 6), extra={"indices": {"shape": (2, 3, 3), "dtype": "long"}}),
        Example(
            {"kernel_size": 2},
            (1, 2, 3, 3),
            (1, 2, 7, 7),
            extra={"indices": {"shape": (1, 2, 3, 3), "dtype": "long"}, "like": (1, 2, 7, 7)},
        ),
        Example(
            {"kernel_size": 2}, (1, 2, 3, 3), error="AC251", extra={"indices": {"shape": (1, 2, 3, 4), "dtype": "long"}}
        ),
        Example(
            {"kernel_size": 2},
            (1, 2, 3, 3),
            error="AC251",
            extra={"indices": {"shape": (1, 2, 3, 3), "dtype": "long"}, "like": (1, 2, 8, 8)},
        ),
    ]


@register
class MaxUnpool3d(_MaxUnpool):
    torch_name = "nn.MaxUnpool3d"
    nd = 3
    ranks = (4, 5)
    examples = [
        Example(
            {"kernel_size": 2},
            (1, 2, 2, 2, 2),
            (1, 2, 4, 4, 4),
            extra={"indices": {"shape": (1, 2, 2, 2, 2), "dtype": "long"}},
        ),
        Example(
            {"kernel_size": [1, 2, 2]},
            (2, 2, 3, 3),
            (2, 2, 6, 6),
            extra={"indices": {"shape": (2, 2, 3, 3), "dtype": "long"}},
        ),
    ]
