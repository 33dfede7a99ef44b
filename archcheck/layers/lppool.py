"""Power-average pooling: LPPool1d/2d/3d.

Rules follow torch 2.13 (``F.lp_pool1d/2d/3d``: an average pool of ``x ** norm_type``
without padding, scaled and rooted), checked by ``tests/test_layers_extra_vs_torch.py``:
[N, C, *spatial] or unbatched [C, *spatial]; each output size is
``floor((size - kernel_size) / stride) + 1`` (ceil with ``ceil_mode``), at least 1;
``stride`` defaults to ``kernel_size``. LPPool1d's kernel_size is an int (a tuple fails in its forward).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Optional

from pydantic import field_validator

from ._rules import SPATIAL, expect_rank, need_float, per_dim_field, window_out
from .base import Example, Layer, Pos, PosOrList, RField, Tensor, as_tuple, register, window_field

if TYPE_CHECKING:  # pragma: no cover
    from .base import Ctx


class _LPPool(Layer):
    family: ClassVar[str] = "pool"
    drawn_layout: ClassVar[str | None] = "cf"
    nd: ClassVar[int] = 2

    norm_type: float
    kernel_size: PosOrList
    stride: Optional[PosOrList] = None
    ceil_mode: bool = False

    def receptive_field(self, fields: list[RField | None]) -> RField | None:
        return window_field(fields[0], self.nd, self.kernel_size, self.stride, 1) if len(fields) == 1 else None

    _arity = field_validator("kernel_size", "stride")(per_dim_field)

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        (x,) = xs
        what, nd = type(self).__name__, self.nd
        sp = ", ".join(SPATIAL[nd])
        if not expect_rank(ctx, x, (nd + 1, nd + 2), what, f"([N, C, {sp}] or [C, {sp}])"):
            return None
        if not need_float(ctx, x, what):
            return None
        k = as_tuple(self.kernel_size, nd)
        s = as_tuple(self.stride, nd) if self.stride is not None else k
        out = list(x.shape[: x.rank - nd])
        for i in range(nd if nd == 3 else 0):  # avg_pool3d: the input itself must hold the kernel (ceil_mode or not)
            size = x.shape[x.rank - nd + i]
            if not isinstance(size, int):
                ctx.require_min(size, k[i], f"LPPool3d's kernel {k[i]} in dim {SPATIAL[3][i]}")
            elif size < k[i]:
                ctx.error(
                    "AC203",
                    f"LPPool3d's kernel {k[i]} is larger than the input {size} in dim {SPATIAL[3][i]} "
                    f"(input {x.describe()}, {ctx.source(x)})",
                    field="kernel_size",
                    hint=f"use a kernel of at most {size} in dim {SPATIAL[3][i]}",
                )
                return None
        for i in range(nd):
            o = window_out(
                ctx,
                x.shape[x.rank - nd + i],
                k[i],
                s[i],
                0,
                1,
                SPATIAL[nd][i],
                ceil_mode=self.ceil_mode,
                what="pooling window",
            )
            if o is None:
                return None
            out.append(o)
        return x.derived(tuple(out), ctx.path)

    def label(self) -> str:
        k = as_tuple(self.kernel_size, self.nd)
        return f"L{self.norm_type:g} " + "x".join(map(str, k))


@register
class LPPool1d(_LPPool):
    nd = 1
    torch_name = "nn.LPPool1d"
    # torch's signature allows a tuple, but lp_pool1d multiplies by kernel_size: only an int runs
    kernel_size: Pos
    examples = [
        Example({"norm_type": 2, "kernel_size": 3}, (2, 3, 7), (2, 3, 2)),
        Example({"norm_type": 1.5, "kernel_size": 2, "ceil_mode": True}, (1, 5), (1, 3)),
        Example({"norm_type": 2, "kernel_size": 3}, (7,), error="AC204"),
    ]


@register
class LPPool2d(_LPPool):
    nd = 2
    torch_name = "nn.LPPool2d"
    examples = [
        Example({"norm_type": 2, "kernel_size": 2}, (1, 3, 5, 5), (1, 3, 2, 2)),
        Example({"norm_type": 2, "kernel_size": [2, 3], "stride": 1, "ceil_mode": True}, (1, 4, 4), (1, 3, 2)),
        Example({"norm_type": 2, "kernel_size": 5}, (1, 1, 4, 4), error="AC203"),
    ]


@register
class LPPool3d(_LPPool):
    nd = 3
    torch_name = "nn.LPPool3d"
    examples = [Example({"norm_type": 2, "kernel_size": 2}, (1, 1, 4, 4, 4), (1, 1, 2, 2, 2))]
