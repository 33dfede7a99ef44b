"""Convolutions: Conv1d/2d/3d and ConvTranspose1d/2d/3d.

Shapes follow https://pytorch.org/docs/stable/generated/torch.nn.Conv2d.html
and .../torch.nn.ConvTranspose2d.html; what torch rejects at construction
(groups, padding strings, padding_mode) or at forward (channels, rank, output
size, reflect/circular padding larger than the input, output_padding) is a
diagnostic here.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, ClassVar, Literal, Optional, Union

from pydantic import field_validator

from ..shapes import dims as D
from . import roles as R
from ._rules import SPATIAL, check_dtype, check_groups, expect_rank, match_size, per_dim_field, window_out
from .base import (
    Example,
    Layer,
    NonNegOrList,
    PaddingMode,
    Pos,
    PosOrList,
    RField,
    Tensor,
    as_tuple,
    numel_per,
    register,
    window_field,
)

if TYPE_CHECKING:  # pragma: no cover
    from .base import Ctx


class _ConvBase(Layer):
    nd: ClassVar[int] = 2
    family: ClassVar[str] = "conv"
    drawn_layout: ClassVar[str | None] = "cf"
    arg_order = (
        "in_channels", "out_channels", "kernel_size", "stride", "padding", "output_padding",
        "dilation", "groups", "bias", "padding_mode",
    )  # fmt: skip

    in_channels: Optional[Pos] = None
    out_channels: Pos
    kernel_size: PosOrList
    stride: PosOrList = 1
    dilation: PosOrList = 1
    groups: Pos = 1
    bias: bool = True
    padding_mode: PaddingMode = "zeros"

    _arity = field_validator("kernel_size", "stride", "padding", "dilation", "output_padding", check_fields=False)(
        per_dim_field
    )

    def _k(self) -> tuple[int, ...]:
        return as_tuple(self.kernel_size, self.nd)

    def kernel_shape(self) -> list[int]:
        return list(self._k())  # torch keeps a tuple of nd ints

    def _common(self, ctx: Ctx, x: Tensor) -> tuple[int, int] | None:
        """Rank, channel and groups checks. Returns (channel axis, in_channels)."""
        nd = self.nd
        what = type(self).__name__
        sp = "".join(SPATIAL[nd])
        if not check_dtype(ctx, x, what, frozenset()):
            return None
        if not expect_rank(
            ctx, x, (nd + 1, nd + 2), what, f"([N, C, {', '.join(SPATIAL[nd])}] or unbatched [C, {sp}])"
        ):
            return None
        axis = x.rank - nd - 1
        cin = match_size(ctx, "in_channels", self.in_channels, x, axis, what, "AC201", f"channels (dim {axis})")
        if cin is None:
            return None
        check_groups(ctx, {"in_channels": cin, "out_channels": self.out_channels}, self.groups)  # recoverable
        return axis, cin

    def param_count(self) -> int:
        assert self.in_channels is not None
        w = self.out_channels * (self.in_channels // self.groups) * math.prod(self._k())
        return w + (self.out_channels if self.bias else 0)

    def param_shapes(self) -> dict[str, tuple[int, ...]] | None:
        assert self.in_channels is not None
        w: dict[str, tuple[int, ...]] = {"weight": (self.out_channels, self.in_channels // self.groups, *self._k())}
        return {**w, "bias": (self.out_channels,)} if self.bias else w

    def roles(self, ctx: Ctx, xs: list[Tensor], out: Tensor) -> tuple[str, ...] | None:
        """[N, C, *spatial] (unbatched [C, *spatial]) whatever the input's roles were."""
        R.warn_conv_over_features(ctx, type(self).__name__, xs[0], self.nd)
        return (R.BATCH,) * (out.rank - self.nd - 1) + (R.CHANNELS,) + (R.SPATIAL,) * self.nd

    def label(self) -> str:
        k = self._k()
        parts = ["x".join(map(str, k)) if len(set(k)) > 1 else f"{k[0]}x{k[0]}" if self.nd == 2 else str(k[0])]
        s = as_tuple(self.stride, self.nd)
        if any(v != 1 for v in s):
            parts.append("/" + ",".join(map(str, sorted(set(s)))))
        if self.groups != 1:
            parts.append(f"g{self.groups}")
        return " ".join(parts)


class _ConvNd(_ConvBase):
    padding: Union[Literal["same", "valid"], NonNegOrList] = 0

    def receptive_field(self, fields: list[RField | None]) -> RField | None:
        return (
            window_field(fields[0], self.nd, self.kernel_size, self.stride, self.dilation) if len(fields) == 1 else None
        )

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        (x,) = xs
        if self.padding == "same" and any(s != 1 for s in as_tuple(self.stride, self.nd)):
            ctx.error(
                "AC108",
                "padding='same' is not supported for strided convolutions",
                field="padding",
                hint="use stride 1, or give padding as an int (kernel_size // 2 keeps 'ceil(size/stride)' for odd kernels)",
            )
            return None
        got = self._common(ctx, x)
        if got is None:
            return None
        axis, _ = got
        k, s, d = self._k(), as_tuple(self.stride, self.nd), as_tuple(self.dilation, self.nd)
        if self.padding == "same":
            totals = [di * (ki - 1) for ki, di in zip(k, d, strict=True)]
            pads = [(t // 2, t - t // 2) for t in totals]
        elif self.padding == "valid":
            pads = [(0, 0)] * self.nd
        else:
            pads = [(p, p) for p in as_tuple(self.padding, self.nd)]
        out = list(x.shape[:axis]) + [self.out_channels]
        names = SPATIAL[self.nd]
        for i in range(self.nd):
            size = x.shape[axis + 1 + i]
            lo, hi = pads[i]
            if self.padding_mode in ("reflect", "circular") and isinstance(size, int) and (lo or hi):
                limit_ok = max(lo, hi) < size if self.padding_mode == "reflect" else max(lo, hi) <= size
                if not limit_ok:
                    rel = "smaller than" if self.padding_mode == "reflect" else "at most"
                    ctx.error(
                        "AC209",
                        f"{self.padding_mode} padding {max(lo, hi)} must be {rel} the input size {size} in dim {names[i]}",
                        field="padding" if ctx.given("padding") else "padding_mode",
                        hint="use less padding, padding_mode: zeros, or a larger input",
                    )
                    return None
            if self.padding_mode in ("reflect", "circular") and not isinstance(size, int) and (lo or hi):
                # the same rule on a free size: a minimum
                need = max(lo, hi) + (1 if self.padding_mode == "reflect" else 0)
                ctx.require_min(size, need, f"{self.padding_mode} padding {max(lo, hi)} in dim {names[i]}")
            if self.padding == "same":
                o = size
            else:
                o = window_out(ctx, size, k[i], s[i], lo + hi, d[i], names[i])
                if o is None:
                    return None
            out.append(o)
        return x.derived(tuple(out), ctx.path)

    def macs(self, xs: list[Tensor], out: Tensor) -> int | None:
        n = numel_per(out.shape)
        if n is None:
            return None
        assert self.in_channels is not None
        return n * (self.in_channels // self.groups) * math.prod(self._k())


class _ConvTransposeNd(_ConvBase):
    padding: NonNegOrList = 0
    output_padding: NonNegOrList = 0
    padding_mode: Literal["zeros"] = "zeros"

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        (x,) = xs
        got = self._common(ctx, x)
        if got is None:
            return None
        axis, _ = got
        k, s, d = self._k(), as_tuple(self.stride, self.nd), as_tuple(self.dilation, self.nd)
        p, op = as_tuple(self.padding, self.nd), as_tuple(self.output_padding, self.nd)
        for i in range(self.nd):
            if op[i] >= s[i] and op[i] >= d[i]:
                ctx.error(
                    "AC210",
                    f"output_padding {op[i]} must be smaller than either stride {s[i]} or dilation {d[i]}",
                    field="output_padding",
                    hint=f"use output_padding < {max(s[i], d[i])}",
                )
                return None
        out = list(x.shape[:axis]) + [self.out_channels]
        names = SPATIAL[self.nd]
        for i in range(self.nd):
            size = x.shape[axis + 1 + i]
            # (L - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1
            o = D.add(D.mul(D.add(size, -1), s[i]), -2 * p[i] + d[i] * (k[i] - 1) + op[i] + 1)
            # An empty output (0) runs in torch (AC222, a warning); a negative one never does.
            ctx.require_min(o, 0, f"output of the transposed convolution in dim {names[i]}")
            if o == 0:
                # torch's CPU kernels return an empty tensor for a batch > 1 or with groups; the plain one, used
                # for a batch of 1 (or unbatched) without groups, raises "Output size is too small". A warning.
                ctx.warn(
                    "AC222",
                    f"the output would be 0 in dim {names[i]}: padding {p[i]} removes everything the transposed "
                    f"convolution adds to the input {size}, so torch returns an empty tensor (or raises 'Output "
                    "size is too small' for a batch of 1 without groups)",
                    field="padding",
                    hint="use less padding, or a larger input: nothing after this layer has anything to compute",
                )
            elif isinstance(o, int) and o < 1:
                ctx.error(
                    "AC203",
                    f"the output would be {o} in dim {names[i]}: padding {p[i]} removes more than the "
                    f"transposed convolution adds to the input {size}",
                    field="padding",
                    hint="use less padding",
                )
                return None
            out.append(o)
        return x.derived(tuple(out), ctx.path)

    def macs(self, xs: list[Tensor], out: Tensor) -> int | None:
        # Each input element is multiplied into out_channels/groups * prod(k) outputs.
        n = numel_per(xs[0].shape)
        if n is None:
            return None
        return n * (self.out_channels // self.groups) * math.prod(self._k())

    def param_count(self) -> int:
        assert self.in_channels is not None
        w = self.in_channels * (self.out_channels // self.groups) * math.prod(self._k())
        return w + (self.out_channels if self.bias else 0)

    def param_shapes(self) -> dict[str, tuple[int, ...]] | None:
        assert self.in_channels is not None
        w: dict[str, tuple[int, ...]] = {"weight": (self.in_channels, self.out_channels // self.groups, *self._k())}
        return {**w, "bias": (self.out_channels,)} if self.bias else w


@register
class Conv1d(_ConvNd):
    nd = 1
    torch_name = "nn.Conv1d"
    examples = [
        Example({"in_channels": 2, "out_channels": 4, "kernel_size": 3}, (1, 2, 10), (1, 4, 8)),
        Example({"out_channels": 4, "kernel_size": 3, "padding": "same", "dilation": 2}, (2, 7), (4, 7)),
        Example({"out_channels": 4, "kernel_size": 5}, (1, 2, 4), error="AC203"),
    ]


@register
class Conv2d(_ConvNd):
    nd = 2
    torch_name = "nn.Conv2d"
    examples = [
        Example(
            {"in_channels": 1, "out_channels": 16, "kernel_size": 5, "padding": 2}, (4, 1, 28, 28), (4, 16, 28, 28)
        ),
        Example({"out_channels": 8, "kernel_size": 3, "stride": 2, "padding": 1}, (1, 3, 7, 7), (1, 8, 4, 4)),
        Example(
            {"in_channels": 3, "out_channels": 8, "kernel_size": 3},
            (1, 4, 7, 7),
            error="AC201",
            fixed={"in_channels": 4},
        ),
        Example({"out_channels": 8, "kernel_size": 3, "groups": 3}, (1, 4, 7, 7), error="AC205", fixed={"groups": 4}),
        Example({"out_channels": 8, "kernel_size": 7}, (1, 4, 5, 5), error="AC203"),
        Example(
            {"out_channels": 8, "kernel_size": 3, "padding": 2, "padding_mode": "reflect"}, (1, 4, 2, 2), error="AC209"
        ),
        Example({"out_channels": 8, "kernel_size": 3, "padding": "same", "stride": 2}, (1, 4, 8, 8), error="AC108"),
        Example({"out_channels": 8, "kernel_size": 3}, (4, 8), error="AC204"),
        Example({"out_channels": 8, "kernel_size": 3}, (1, 4, 7, 7), error="AC214", extra={"dtype": "long"}),
    ]


@register
class Conv3d(_ConvNd):
    nd = 3
    torch_name = "nn.Conv3d"
    examples = [
        Example({"out_channels": 4, "kernel_size": [1, 3, 3], "padding": [0, 1, 1]}, (1, 2, 4, 6, 6), (1, 4, 4, 6, 6)),
    ]


@register
class ConvTranspose1d(_ConvTransposeNd):
    nd = 1
    torch_name = "nn.ConvTranspose1d"
    examples = [Example({"out_channels": 2, "kernel_size": 4, "stride": 2, "padding": 1}, (1, 3, 5), (1, 2, 10))]


@register
class ConvTranspose2d(_ConvTransposeNd):
    nd = 2
    torch_name = "nn.ConvTranspose2d"
    examples = [
        Example({"out_channels": 8, "kernel_size": 2, "stride": 2}, (1, 16, 7, 7), (1, 8, 14, 14)),
        Example(
            {"out_channels": 8, "kernel_size": 3, "stride": 2, "padding": 1, "output_padding": 1},
            (1, 4, 5, 5),
            (1, 8, 10, 10),
        ),
        Example({"out_channels": 8, "kernel_size": 3, "stride": 2, "output_padding": 2}, (1, 4, 5, 5), error="AC210"),
        Example({"out_channels": 8, "kernel_size": 2, "padding": 2}, (2, 4, 1, 5), error="AC203"),  # a negative size
    ]


@register
class ConvTranspose3d(_ConvTransposeNd):
    nd = 3
    torch_name = "nn.ConvTranspose3d"
    examples = [Example({"out_channels": 2, "kernel_size": 2, "stride": 2}, (1, 3, 2, 3, 4), (1, 2, 4, 6, 8))]
