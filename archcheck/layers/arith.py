"""Arithmetic tensor operations, emitted as plain torch code (no nn module).

Rules follow torch 2.13:

* MatMul(a, b): ``torch.matmul``'s full rule. Both inputs at least 1-D; 1-D by
  1-D is a dot product (0-D out); a 1-D first input is treated as ``[1, k]`` and
  a 1-D second as ``[k, 1]``, the added dim dropped again; the last dim of
  ``a`` must equal the second-last of ``b`` (the last of a 1-D ``b``); the
  batch dims (all but the last two) broadcast. Both inputs must have one dtype.
* Subtract and Divide: two tensors with broadcasting (as Add and Multiply);
  Divide is true division (integer inputs give float32).
* Arith(op, value): ``x + value``, ``x - value``, ``x * value``, ``x / value``,
  ``x ** value``, the shape unchanged; an integer tensor with a float value
  (or any ``/``) gives float32; an integer tensor to a negative integer power
  is refused (as torch does).
* Squeeze(dim): removes the listed dims (all, when dim is null) that have size
  1; other dims stay, as in torch. A free dim is taken to be larger than 1
  (it is never squeezed). Unsqueeze(dim): dim in ``[-rank-1, rank]``.
* Sum(dim, keepdim): as Mean, on any dtype (integers sum to int64).
* Roll(shifts, dims): shifts and dims of the same length (dims null: one
  shift, over the flattened tensor); the shape is unchanged.
* To(dtype): a cast, ``x.to(torch.float16)``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, ClassVar, Literal, Optional, Union

from pydantic import field_validator

from ..shapes import dims as D
from . import roles as R
from ._rules import FLOATS, dim_error, same, wrap_dim
from .base import Example, Layer, RField, Tensor, merge_fields, numel_per, register
from .merge import _Elementwise2, _who
from .tensor_ops import Mean

if TYPE_CHECKING:  # pragma: no cover
    from .base import Ctx

Dtype = Literal["float32", "float64", "float16", "bfloat16", "long", "int64", "int32", "bool"]
_TORCH_DTYPE = {"long": "torch.long", "int64": "torch.int64", "int32": "torch.int32", "bool": "torch.bool"}


def _is_float(dtype: str) -> bool:
    return dtype in FLOATS


def _dims_list(d: int | list[int] | None) -> list[int]:
    return d if isinstance(d, list) else [] if d is None else [d]


@register
class MatMul(Layer):
    takes_empty: ClassVar[bool] = True
    family: ClassVar[str] = "merge"
    arity: ClassVar[tuple[int, int | None]] = (2, 2)
    examples = [
        Example({"inputs": ["x", "x"]}, (3,), ()),
        Example({"inputs": ["x", "y"]}, (2, 4, 5), (2, 4, 6), extra={"y": (5, 6)}),
        Example({"inputs": ["x", "y"]}, (2, 1, 4, 5), (2, 3, 4, 6), extra={"y": (3, 5, 6)}),
        Example({"inputs": ["x", "y"]}, (5,), (2, 6), extra={"y": (2, 5, 6)}),
        Example({"inputs": ["x", "y"]}, (2, 4, 5), (2, 4), extra={"y": (5,)}),
        Example({"inputs": ["x", "y"]}, (2, 4, 5), error="AC240", extra={"y": (4, 6)}),
        Example({"inputs": ["x", "y"]}, (2, 4, 5), error="AC240", extra={"y": (3, 5, 6)}),
    ]

    def receptive_field(self, fields: list[RField | None]) -> RField | None:
        return merge_fields(fields) if len(fields) != 1 else None

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        a, b = xs
        if a.rank == 0 or b.rank == 0:
            ctx.error(
                "AC240",
                f"MatMul needs inputs of at least 1 dim, but they are {_who(ctx, a, 0)} ({a.rank}-D) "
                f"and {_who(ctx, b, 1)} ({b.rank}-D)",
                hint="multiply by a scalar with Arith (op: mul) instead",
            )
            return None
        if a.dtype != b.dtype:
            ctx.error(
                "AC240",
                f"MatMul needs both inputs of one dtype, but {_who(ctx, a, 0)} is {a.dtype} and "
                f"{_who(ctx, b, 1)} is {b.dtype}",
                hint="cast one of them with a To layer",
            )
            return None
        sa, sb = list(a.shape), list(b.shape)
        k_a = sa[-1]
        k_b = sb[-2] if b.rank >= 2 else sb[-1]
        eq = same(k_a, k_b)
        if eq is None:
            eq = ctx.require_equal(k_a, k_b, "MatMul inner dim")
        if eq is False:
            ctx.error(
                "AC240",
                f"MatMul multiplies {_who(ctx, a, 0)} by {_who(ctx, b, 1)}: the first's last dim "
                f"({D.fmt(k_a)}) must equal the second's {'second-last' if b.rank >= 2 else 'only'} dim "
                f"({D.fmt(k_b)})",
                hint="transpose one input (Transpose dim0: -2, dim1: -1), as in q @ k.transpose(-2, -1)",
            )
            return None
        rows = [sa[-2]] if a.rank >= 2 else []
        cols = [sb[-1]] if b.rank >= 2 else []
        ba, bb = sa[:-2], sb[:-2]
        r = max(len(ba), len(bb))
        ba = [1] * (r - len(ba)) + ba
        bb = [1] * (r - len(bb)) + bb
        batch: list[D.Dim] = []
        for j, (p, q) in enumerate(zip(ba, bb)):
            if q == 1:
                batch.append(p)
            elif p == 1:
                batch.append(q)
            else:
                e = same(p, q)
                if e is None:
                    e = ctx.require_equal(p, q, f"MatMul batch dim {j}")
                if e is False:
                    ctx.error(
                        "AC240",
                        f"MatMul cannot broadcast the batch dims of {_who(ctx, a, 0)} and {_who(ctx, b, 1)}: "
                        f"{D.fmt(p)} vs {D.fmt(q)} (dims before the last two must be equal or 1)",
                    )
                    return None
                batch.append(p)
        if a.rank == 1 and b.rank == 1:
            batch = []
        return Tensor(tuple(batch + rows + cols), a.dtype, ctx.path)

    def roles(self, ctx: Ctx, xs: list[Tensor], out: Tensor) -> tuple[str, ...] | None:
        return None

    def macs(self, xs: list[Tensor], out: Tensor) -> int | None:
        """One multiply-accumulate per output element and inner index (per sample, as Linear's)."""
        k = xs[0].shape[-1] if xs[0].rank else None
        n = numel_per(out.shape)
        return n * k if n is not None and isinstance(k, int) else None

    def emit_call(self, ref: str | None, args: list[str]) -> str:
        return " @ ".join(args)

    def label(self) -> str:
        return "@"


@register
class Subtract(_Elementwise2):
    arity: ClassVar[tuple[int, int | None]] = (2, 2)
    op = "-"
    examples = [
        Example({"inputs": ["x", "y"]}, (2, 3, 4), (2, 3, 4), extra={"y": (3, 1)}),
        Example({"inputs": ["x", "y"]}, (2, 3, 4), error="AC308", extra={"y": (2, 4)}),
    ]


@register
class Divide(_Elementwise2):
    arity: ClassVar[tuple[int, int | None]] = (2, 2)
    op = "/"
    examples = [
        Example({"inputs": ["x", "y"]}, (2, 3, 4), (2, 3, 4), extra={"y": (4,)}),
        Example({"inputs": ["x", "y"]}, (2, 3, 4), error="AC308", extra={"y": (3,)}),
    ]

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        out = super().infer(ctx, xs)
        if out is not None and not _is_float(out.dtype):
            out = Tensor(out.shape, "float32", out.producer)
        return out


_ARITH_SYMBOL = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**"}


@register
class Arith(Layer):
    """``x <op> value``: GoogLeNet's ``x * 0.458 + -0.030``, attention's ``* head_dim ** -0.5``."""

    takes_empty: ClassVar[bool] = True
    family: ClassVar[str] = "merge"
    examples = [
        Example({"op": "mul", "value": 0.458}, (2, 3, 4), (2, 3, 4)),
        Example({"op": "add", "value": -0.03}, (2, 3), (2, 3)),
        Example({"op": "pow", "value": 2}, (3,), (3,)),
        Example({"op": "div", "value": 8}, (2, 5), (2, 5)),
    ]

    op: Literal["add", "sub", "mul", "div", "pow"]
    value: Union[int, float]

    def receptive_field(self, fields: list[RField | None]) -> RField | None:
        return merge_fields(fields) if len(fields) != 1 else None

    @field_validator("value")
    @classmethod
    def _finite(cls, v: Union[int, float]) -> Union[int, float]:
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError("value must be a finite number")
        return v

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        (x,) = xs
        dtype = x.dtype
        if not _is_float(dtype):
            if self.op == "pow" and isinstance(self.value, int) and self.value < 0 and dtype != "bool":
                ctx.error(
                    "AC241",
                    f"an integer tensor ({dtype}, {ctx.source(x)}) cannot be raised to the negative integer "
                    f"power {self.value}",
                    field="value",
                    hint=f"write value: {float(self.value)} (a float power gives a float result)",
                )
                return None
            if self.op == "sub" and dtype == "bool":
                ctx.error(
                    "AC241",
                    f"torch refuses to subtract from a bool tensor ({ctx.source(x)})",
                    field="op",
                    hint="cast it first with a To layer (dtype: float32)",
                )
                return None
            if isinstance(self.value, float) or self.op == "div":
                dtype = "float32"
            elif dtype == "bool":
                dtype = "long"
        return Tensor(x.shape, dtype, ctx.path, roles=x.roles)

    def emit_call(self, ref: str | None, args: list[str]) -> str:
        return f"{args[0]} {_ARITH_SYMBOL[self.op]} {self.value!r}"

    def label(self) -> str:
        return f"{_ARITH_SYMBOL[self.op]} {self.value!r}"


@register
class Squeeze(Layer):
    takes_empty: ClassVar[bool] = True
    family: ClassVar[str] = "reshape"
    examples = [
        Example({"dim": 1}, (2, 1, 3), (2, 3)),
        Example({"dim": 0}, (2, 1, 3), (2, 1, 3)),
        Example({}, (2, 1, 3, 1), (2, 3)),
        Example({"dim": [1, -1]}, (2, 1, 3, 1), (2, 3)),
        Example({"dim": 3}, (2, 1, 3), error="AC208"),
        Example({"dim": [1, 1]}, (2, 1, 3), error="AC104"),
    ]

    dim: Optional[Union[int, list[int]]] = None

    def _dims(self, ctx: Ctx | None, x: Tensor) -> list[int] | None:
        if self.dim is None:
            return list(range(x.rank))
        w: list[int] = []
        for d in _dims_list(self.dim):
            v = wrap_dim(d, x.rank)
            if v is None:
                if ctx is not None:
                    dim_error(ctx, "dim", d, x)
                return None
            if v in w:
                if ctx is not None:
                    ctx.error("AC104", f"dim {v} appears twice in dim={self.dim}", field="dim")
                return None
            w.append(v)
        return w

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        (x,) = xs
        w = self._dims(ctx, x)
        if w is None:
            return None
        gone = {i for i in w if i < x.rank and x.shape[i] == 1}
        return x.derived(tuple(s for i, s in enumerate(x.shape) if i not in gone), ctx.path)

    def emit_call(self, ref: str | None, args: list[str]) -> str:
        if self.dim is None:
            return f"{args[0]}.squeeze()"
        d = tuple(self.dim) if isinstance(self.dim, list) else self.dim
        return f"{args[0]}.squeeze({d!r})"

    def label(self) -> str:
        return "all" if self.dim is None else f"dim {self.dim}"


@register
class Unsqueeze(Layer):
    takes_empty: ClassVar[bool] = True
    family: ClassVar[str] = "reshape"
    examples = [
        Example({"dim": 1}, (2, 3), (2, 1, 3)),
        Example({"dim": -1}, (2, 3), (2, 3, 1)),
        Example({"dim": 3}, (2, 3), error="AC208"),
    ]

    dim: int

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        (x,) = xs
        r = x.rank + 1
        if not -r <= self.dim < r:
            ctx.error(
                "AC208",
                f"dim={self.dim} is out of range for Unsqueeze of the {x.rank}-D input {x.describe()} "
                f"(valid: {-r} to {r - 1})",
                field="dim",
            )
            return None
        d = self.dim % r
        return x.derived(tuple(x.shape[:d]) + (1,) + tuple(x.shape[d:]), ctx.path)

    def roles(self, ctx: Ctx, xs: list[Tensor], out: Tensor) -> tuple[str, ...] | None:
        (x,) = xs
        r = R.keep(x.roles, x.rank)
        if r is None:
            return None
        d = self.dim % (x.rank + 1)
        return r[:d] + (R.UNKNOWN,) + r[d:]

    def emit_call(self, ref: str | None, args: list[str]) -> str:
        return f"{args[0]}.unsqueeze({self.dim})"

    def label(self) -> str:
        return f"dim {self.dim}"


@register
class Sum(Mean):
    """``x.sum(dim, keepdim)``: Mean's rule (tensor_ops.py) on any dtype; integers and bools sum to int64."""

    examples = [
        Example({"dim": [2, 3]}, (2, 8, 5, 5), (2, 8)),
        Example({"dim": -1, "keepdim": True}, (2, 8, 5), (2, 8, 1)),
        Example({}, (2, 3), ()),
        Example({"dim": [1, -2]}, (2, 8, 5), error="AC104"),
        Example({"dim": 3}, (2, 8, 5), error="AC208"),
    ]
    method: ClassVar[str] = "sum"

    def out_dtype(self, ctx: Ctx, x: Tensor) -> str | None:
        return x.dtype if _is_float(x.dtype) else "int64"


@register
class Roll(Layer):
    """``torch.roll``: Swin's shifted windows, ``x.roll((-3, -3), (1, 2))``."""

    takes_empty: ClassVar[bool] = True
    family: ClassVar[str] = "reshape"
    examples = [
        Example({"shifts": [-3, -3], "dims": [1, 2]}, (2, 8, 8, 4), (2, 8, 8, 4)),
        Example({"shifts": 1}, (2, 3), (2, 3)),
        Example({"shifts": [1, 2], "dims": [1]}, (2, 3), error="AC242"),
        Example({"shifts": 1, "dims": 2}, (2, 3), error="AC208"),
    ]

    shifts: Union[int, list[int]]
    dims: Optional[Union[int, list[int]]] = None

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        (x,) = xs
        shifts = _dims_list(self.shifts)
        dims = _dims_list(self.dims)
        if not shifts or (len(shifts) != len(dims) if dims else len(shifts) != 1):
            ctx.error(
                "AC242",
                f"Roll needs one shift per dim, but shifts={self.shifts} and dims={self.dims}"
                + (" (without dims, the flattened tensor takes one shift)" if not dims else ""),
                field="shifts",
                hint="list as many shifts as dims",
            )
            return None
        for d in dims:
            if not -x.rank <= d < x.rank:
                dim_error(ctx, "dims", d, x)
                return None
        return x.passed()

    def roles(self, ctx: Ctx, xs: list[Tensor], out: Tensor) -> tuple[str, ...] | None:
        return xs[0].roles

    def emit_call(self, ref: str | None, args: list[str]) -> str:
        s = tuple(self.shifts) if isinstance(self.shifts, list) else self.shifts
        if self.dims is None:
            return f"{args[0]}.roll({s!r})"
        d = tuple(self.dims) if isinstance(self.dims, list) else self.dims
        return f"{args[0]}.roll({s!r}, {d!r})"

    def label(self) -> str:
        return f"{self.shifts} on {self.dims}"


@register
class To(Layer):
    """A cast: ``x.to(torch.float16)``."""

    takes_empty: ClassVar[bool] = True
    family: ClassVar[str] = "reshape"
    examples = [
        Example({"dtype": "float16"}, (2, 3), (2, 3)),
        Example({"dtype": "long"}, (4,), (4,)),
    ]

    dtype: Dtype

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        (x,) = xs
        return Tensor(x.shape, self.dtype, ctx.path, roles=x.roles)

    def emit_call(self, ref: str | None, args: list[str]) -> str:
        return f"{args[0]}.to({_TORCH_DTYPE.get(self.dtype, 'torch.' + self.dtype)})"

    def label(self) -> str:
        return self.dtype
