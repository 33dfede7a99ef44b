"""Pooling: MaxPool, AvgPool and the adaptive pools, 1d/2d/3d.

Shapes follow https://pytorch.org/docs/stable/generated/torch.nn.MaxPool2d.html
(ceil_mode, dilation) and torch's ``pooling_output_shape``; padding may be at
most half the kernel (``pool2d_shape_check``).

With ``return_indices: true`` a max pool returns ``(output, indices)`` in
torch; as for the other tuple-returning modules (LSTM, MultiheadAttention),
the spec keeps the first item: the generated code indexes ``[0]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Optional, Union

from pydantic import field_validator

from . import roles as R
from ._rules import INTS, LONG_ONLY, NO_INTS, SPATIAL, check_dtype, expect_rank, per_dim, per_dim_field, window_out
from .base import Example, Layer, NonNegOrList, Pos, PosOrList, RField, Tensor, as_tuple, register, window_field

if TYPE_CHECKING:  # pragma: no cover
    from .base import Ctx


class _PoolBase(Layer):
    nd: ClassVar[int] = 2
    family: ClassVar[str] = "pool"
    drawn_layout: ClassVar[str | None] = "cf"
    ranks: ClassVar[tuple[int, ...]] = ()
    int_dtypes: ClassVar[frozenset[str]] = NO_INTS  # non-float input dtypes torch takes

    def _ranks(self) -> tuple[int, ...]:
        return self.ranks or (self.nd + 1, self.nd + 2)

    def roles(self, ctx: Ctx, xs: list[Tensor], out: Tensor) -> tuple[str, ...] | None:
        """The input's roles; for an input of unknown roles, [N, C, *spatial] as torch reads it."""
        r = R.keep(xs[0].roles, out.rank)
        if r is not None or out.rank not in (self.nd + 1, self.nd + 2):
            return r
        return (R.BATCH,) * (out.rank - self.nd - 1) + (R.CHANNELS,) + (R.SPATIAL,) * self.nd

    def _int_dtypes(self) -> frozenset[str]:
        return self.int_dtypes

    def _check_rank(self, ctx: Ctx, x: Tensor) -> bool:
        if not check_dtype(ctx, x, type(self).__name__, self._int_dtypes()):
            return False
        sp = ", ".join(SPATIAL[self.nd])
        return expect_rank(ctx, x, self._ranks(), type(self).__name__, f"([N, C, {sp}] or [C, {sp}])")


class _WindowPool(_PoolBase):
    kernel_size: PosOrList
    stride: Optional[PosOrList] = None
    padding: NonNegOrList = 0
    ceil_mode: bool = False

    def receptive_field(self, fields: list[RField | None]) -> RField | None:
        if len(fields) != 1:
            return None
        return window_field(fields[0], self.nd, self.kernel_size, self.stride, getattr(self, "dilation", 1))

    _arity = field_validator("kernel_size", "stride", "padding", "dilation", check_fields=False)(per_dim_field)

    def _dilation(self) -> tuple[int, ...]:
        return (1,) * self.nd

    def _check_input_size(self, ctx: Ctx, x: Tensor, axis: int, k: tuple[int, ...]) -> bool:
        """Extra size checks of one pool type; see AvgPool3d."""
        return True

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        (x,) = xs
        if not self._check_rank(ctx, x):
            return None
        k = as_tuple(self.kernel_size, self.nd)
        s = as_tuple(self.stride, self.nd) if self.stride is not None else k
        p = as_tuple(self.padding, self.nd)
        d = self._dilation()
        for i in range(self.nd):
            if 2 * p[i] > k[i]:
                ctx.error(
                    "AC206",
                    f"padding {p[i]} is more than half the kernel size {k[i]}",
                    field="padding",
                    hint=f"use padding of at most {k[i] // 2}",
                )
                return None
        axis = x.rank - self.nd
        if not self._check_input_size(ctx, x, axis, k):
            return None
        out = list(x.shape[:axis])
        for i in range(self.nd):
            o = window_out(
                ctx,
                x.shape[axis + i],
                k[i],
                s[i],
                2 * p[i],
                d[i],
                SPATIAL[self.nd][i],
                ceil_mode=self.ceil_mode,
                pad_left=p[i],
                what="pooling window",
            )
            if o is None:
                return None
            out.append(o)
        return x.derived(tuple(out), ctx.path)

    def label(self) -> str:
        k = as_tuple(self.kernel_size, self.nd)
        s = as_tuple(self.stride, self.nd) if self.stride is not None else k
        text = "x".join(map(str, k)) if self.nd > 1 else str(k[0])
        return text + (f" /{s[0]}" if len(set(s)) == 1 else " /" + ",".join(map(str, s)))


class _ReturnsIndices(Layer):
    """A max pool whose forward returns (output, indices) when ``return_indices`` is set."""

    outputs_doc: ClassVar[str | None] = (
        "with return_indices: (output, indices) as name.0, name.1; the name alone is output"
    )
    return_indices: bool = False

    def emit_call(self, ref: str | None, args: list[str]) -> str:
        call = super().emit_call(ref, args)
        return f"{call}[0]" if self.return_indices else call

    def tuple_items(self, ctx: Ctx, xs: list[Tensor], out: Tensor) -> tuple[Tensor, ...] | None:
        """With ``return_indices``: ``(output, indices)``, the indices int64 and of the output's shape."""
        if not self.return_indices:
            return None
        return (out, Tensor(out.shape, "long", ctx.path, f"indices of {ctx.path}", roles=out.roles))


class _MaxPoolNd(_ReturnsIndices, _WindowPool):
    dilation: PosOrList = 1
    return_indices: bool = False

    def _dilation(self) -> tuple[int, ...]:
        return as_tuple(self.dilation, self.nd)


class _AvgPoolNd(_WindowPool):
    int_dtypes = LONG_ONLY
    count_include_pad: bool = True


class _AvgPoolDivisor(_AvgPoolNd):
    divisor_override: Optional[Pos] = None  # AvgPool1d has none in torch


@register
class MaxPool1d(_MaxPoolNd):
    nd = 1
    torch_name = "nn.MaxPool1d"
    examples = [
        Example({"kernel_size": 2}, (1, 3, 9), (1, 3, 4)),
        Example({"kernel_size": 2}, (1, 3, 9), error="AC214", extra={"dtype": "long"}),
        Example({"kernel_size": 2, "return_indices": True}, (1, 3, 9), (1, 3, 4), extra={"dtype": "long"}),
    ]

    def _int_dtypes(self) -> frozenset[str]:
        # torch.max_pool1d has float kernels only; with indices it runs max_pool1d_with_indices,
        # which has integer ones too.
        return INTS if self.return_indices else NO_INTS


@register
class MaxPool2d(_MaxPoolNd):
    nd = 2
    int_dtypes = INTS  # max_pool1d has no integer kernel; 2d/3d have
    torch_name = "nn.MaxPool2d"
    examples = [
        Example({"kernel_size": 2, "stride": 2}, (4, 16, 28, 28), (4, 16, 14, 14)),
        Example({"kernel_size": 3, "stride": 2, "ceil_mode": True}, (1, 2, 6, 6), (1, 2, 3, 3)),
        Example({"kernel_size": 2, "return_indices": True}, (1, 2, 6, 6), (1, 2, 3, 3)),  # (values, indices)[0]
        Example({"kernel_size": 3, "padding": 2}, (1, 2, 5, 5), error="AC206"),
        Example({"kernel_size": 5}, (1, 2, 3, 3), error="AC203"),
        Example({"kernel_size": 2}, (1, 2, 4, 4), (1, 2, 2, 2), extra={"dtype": "int32"}),
        Example({"kernel_size": 2}, (1, 2, 4, 4), error="AC214", extra={"dtype": "bool"}),
    ]


@register
class MaxPool3d(_MaxPoolNd):
    nd = 3
    int_dtypes = INTS
    torch_name = "nn.MaxPool3d"
    examples = [Example({"kernel_size": [1, 2, 2]}, (1, 2, 3, 8, 8), (1, 2, 3, 4, 4))]


@register
class AvgPool1d(_AvgPoolNd):
    nd = 1
    torch_name = "nn.AvgPool1d"
    examples = [Example({"kernel_size": 3, "padding": 1, "stride": 2}, (1, 2, 9), (1, 2, 5))]

    def kernel_shape(self) -> list[int]:
        return list(as_tuple(self.kernel_size, 1))  # torch keeps _single(kernel_size), unlike the other pools


@register
class AvgPool2d(_AvgPoolDivisor):
    nd = 2
    torch_name = "nn.AvgPool2d"
    examples = [
        Example({"kernel_size": 2}, (1, 2, 7, 7), (1, 2, 3, 3)),
        Example({"kernel_size": 2}, (1, 2, 4, 4), (1, 2, 2, 2), extra={"dtype": "long"}),
        Example({"kernel_size": 2}, (1, 2, 4, 4), error="AC214", extra={"dtype": "int32"}),
    ]


@register
class AvgPool3d(_AvgPoolDivisor):
    nd = 3
    torch_name = "nn.AvgPool3d"
    examples = [
        Example({"kernel_size": 2}, (1, 2, 4, 4, 4), (1, 2, 2, 2, 2)),
        Example({"kernel_size": 3, "padding": 1}, (1, 2, 2, 6, 6), error="AC203"),
        Example({"kernel_size": 2, "ceil_mode": True}, (1, 2, 3, 3, 3), (1, 2, 2, 2, 2)),
    ]

    def _check_input_size(self, ctx: Ctx, x: Tensor, axis: int, k: tuple[int, ...]) -> bool:
        # Unlike the other pools, avg_pool3d requires the unpadded input to hold a whole kernel
        # (ATen pool3d_shape_check with check_input_size): padding or ceil_mode do not help.
        for i in range(self.nd):
            size = x.shape[axis + i]
            if not isinstance(size, int):
                ctx.require_min(size, k[i], f"AvgPool3d's kernel {k[i]} (on the unpadded input) in dim {SPATIAL[3][i]}")
            if isinstance(size, int) and size < k[i]:
                ctx.error(
                    "AC203",
                    f"AvgPool3d's kernel {k[i]} is larger than the input {size} in dim {SPATIAL[3][i]} "
                    f"(input {x.describe()}); torch requires the input itself, before padding, to hold the kernel",
                    field="kernel_size",
                    hint=f"use a kernel of at most {size} in dim {SPATIAL[3][i]}, or pad the input beforehand",
                )
                return False
        return True


OutputSize = Union[Pos, list[Optional[Pos]]]


class _AdaptiveBase(_PoolBase):
    output_size: OutputSize

    @field_validator("output_size")
    @classmethod
    def _arity(cls, v: Any) -> Any:
        per_dim(v, cls.nd, "entries (int or null)")
        if cls.nd == 1 and isinstance(v, list) and v[0] is None:
            # torch's adaptive_*_pool1d takes ints only: [null] raises a TypeError there.
            raise ValueError(f"{cls.__name__} takes an int output_size; null (keep the input size) is for 2d/3d only")
        return v

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        (x,) = xs
        o = self.output_size if isinstance(self.output_size, list) else [self.output_size] * self.nd
        if not check_dtype(ctx, x, type(self).__name__, self._int_dtypes()):
            return None
        if not self._any_rank(x, o) and not self._check_rank(ctx, x):
            return None
        axis = x.rank - self.nd
        out = list(x.shape[:axis]) + [x.shape[axis + i] if v is None else v for i, v in enumerate(o)]
        return x.derived(tuple(out), ctx.path)

    def _any_rank(self, x: Tensor, o: Sequence[Optional[int]]) -> bool:
        """Whether torch accepts ``x`` whatever its rank; only AdaptiveAvgPool2d/3d do, see there."""
        return False

    def label(self) -> str:
        o = self.output_size if isinstance(self.output_size, list) else [self.output_size] * self.nd
        return "→" + "x".join("*" if v is None else str(v) for v in o)


class _AdaptiveMax(_ReturnsIndices, _AdaptiveBase):
    return_indices: bool = False


class _AdaptiveAvg(_AdaptiveBase):
    def accepts_empty(self) -> bool:
        # An output of all 1s is a mean over the pooled dims in torch, which takes an empty input.
        o = self.output_size if isinstance(self.output_size, list) else [self.output_size] * self.nd
        return all(v == 1 for v in o)

    def _any_rank(self, x: Tensor, o: Sequence[Optional[int]]) -> bool:
        # torch's adaptive_avg_pool2d/3d take a shortcut when the output is all 1s: the mean over
        # the last nd dims, which works for any input of rank >= nd (ATen AdaptiveAveragePooling*.cpp).
        # A list output_size first meets torch.nn.functional's _list_with_default, which wants
        # rank >= nd + 1 ("Input dimension should be at least ...").
        need = self.nd + 1 if isinstance(self.output_size, list) else self.nd
        if self.nd == 1 or x.rank < need:
            return False
        axis = x.rank - self.nd
        return all((x.shape[axis + i] if v is None else v) == 1 for i, v in enumerate(o))


@register
class AdaptiveAvgPool1d(_AdaptiveAvg):
    nd = 1
    torch_name = "nn.AdaptiveAvgPool1d"
    examples = [Example({"output_size": 4}, (1, 2, 9), (1, 2, 4))]


@register
class AdaptiveAvgPool2d(_AdaptiveAvg):
    nd = 2
    torch_name = "nn.AdaptiveAvgPool2d"
    examples = [
        Example({"output_size": 1}, (2, 512, 7, 7), (2, 512, 1, 1)),
        Example({"output_size": [None, 3]}, (1, 2, 5, 6), (1, 2, 5, 3)),
        Example({"output_size": 1}, (5, 6), (1, 1)),  # all-1 output: any rank >= 2 (a mean)
        Example({"output_size": 2}, (5, 6), error="AC204"),
        Example({"output_size": [1, 1]}, (5, 6), error="AC204"),
        Example({"output_size": [1, None]}, (2, 3, 4, 5, 1), (2, 3, 4, 1, 1)),
    ]


@register
class AdaptiveAvgPool3d(_AdaptiveAvg):
    nd = 3
    torch_name = "nn.AdaptiveAvgPool3d"
    examples = [Example({"output_size": [1, 2, 2]}, (1, 2, 4, 4, 4), (1, 2, 1, 2, 2))]


@register
class AdaptiveMaxPool1d(_AdaptiveMax):
    nd = 1
    torch_name = "nn.AdaptiveMaxPool1d"
    examples = [Example({"output_size": 2}, (2, 5), (2, 2))]


@register
class AdaptiveMaxPool2d(_AdaptiveMax):
    nd = 2
    torch_name = "nn.AdaptiveMaxPool2d"
    examples = [
        Example({"output_size": 3}, (1, 2, 5, 6), (1, 2, 3, 3)),
        Example({"output_size": 2, "return_indices": True}, (1, 2, 5, 6), (1, 2, 2, 2)),
        Example({"output_size": 1}, (5, 6), error="AC204"),
    ]


@register
class AdaptiveMaxPool3d(_AdaptiveMax):
    nd = 3
    torch_name = "nn.AdaptiveMaxPool3d"
    examples = [Example({"output_size": 1}, (1, 2, 4, 4, 4), (1, 2, 1, 1, 1))]
