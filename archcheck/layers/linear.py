"""Linear, Flatten and Identity.

``nn.Linear`` acts on the last dim of an input of any rank >= 1
(https://pytorch.org/docs/stable/generated/torch.nn.Linear.html);
``nn.Flatten`` merges ``start_dim..end_dim`` with torch's dim wrapping.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Optional

from ..shapes import dims as D
from . import roles as R
from ._rules import check_dtype, dim_error, match_size, wrap_dim
from .base import Example, Layer, Pos, Product, Tensor, numel_per, register

if TYPE_CHECKING:  # pragma: no cover
    from .base import Ctx


@register
class Linear(Layer):
    takes_empty: ClassVar[bool] = True
    family: ClassVar[str] = "linear"
    drawn_layout: ClassVar[str | None] = "cl"
    torch_name = "nn.Linear"
    examples = [
        Example({"in_features": 1568, "out_features": 128}, (4, 1568), (4, 128)),
        Example({"out_features": 3}, (2, 5, 7), (2, 5, 3)),
        Example({"out_features": 3}, (7,), (3,)),
        Example({"in_features": 512, "out_features": 10}, (4, 1568), error="AC202", fixed={"in_features": 1568}),
    ]

    in_features: Optional[Pos] = None
    out_features: Pos
    bias: bool = True

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        (x,) = xs
        if not check_dtype(ctx, x, "Linear", frozenset()):
            return None
        if x.rank < 1:
            ctx.error(
                "AC204", f"Linear needs an input with at least 1 dim, but its input is a scalar ({ctx.source(x)})"
            )
            return None
        if match_size(ctx, "in_features", self.in_features, x, -1, "Linear", "AC202", "last dim") is None:
            return None
        return x.derived(x.shape[:-1] + (self.out_features,), ctx.path)

    def roles(self, ctx: Ctx, xs: list[Tensor], out: Tensor) -> tuple[str, ...] | None:
        (x,) = xs
        r = R.keep(x.roles, x.rank)
        if r is not None and x.rank > 2 and r[-1] == R.SPATIAL:
            rest = [d for d, q in zip(x.shape, r) if q != R.BATCH]
            flat = D.prod(rest) if all(isinstance(d, int) for d in rest) else None
            ctx.warn(
                "AC401",
                f"Linear acts only on the last dim ({R.dim_label(r, x.rank - 1)}={D.fmt(x.shape[-1])}) of its "
                f"{x.rank}-D input {x.describe()} ({ctx.source(x)}); did you forget Flatten?",
                field="type",
                hint="add {type: Flatten} before it"
                + (f" (in_features then is {flat} = {' * '.join(D.fmt(d) for d in rest)})" if flat else "")
                + "; for a per-position Linear, Permute the channels last first (dims: "
                + f"[0, {', '.join(str(i) for i in range(2, x.rank))}, 1])",
            )
        return (r[:-1] if r is not None else (R.UNKNOWN,) * (x.rank - 1)) + (R.FEATURES,)

    def param_count(self) -> int:
        assert self.in_features is not None
        return self.in_features * self.out_features + (self.out_features if self.bias else 0)

    def param_shapes(self) -> dict[str, tuple[int, ...]] | None:
        assert self.in_features is not None
        w: dict[str, tuple[int, ...]] = {"weight": (self.out_features, self.in_features)}
        return {**w, "bias": (self.out_features,)} if self.bias else w

    def macs(self, xs: list[Tensor], out: Tensor) -> int | None:
        n = numel_per(out.shape)
        assert self.in_features is not None
        return None if n is None else n * self.in_features

    def label(self) -> str:
        return f"{self.in_features}→{self.out_features}"


@register
class Flatten(Layer):
    takes_empty: ClassVar[bool] = True
    family: ClassVar[str] = "reshape"
    torch_name = "nn.Flatten"
    examples = [
        Example({}, (4, 32, 7, 7), (4, 1568)),
        Example({"start_dim": 0}, (2, 3, 4), (24,)),
        Example({"start_dim": 1, "end_dim": 2}, (2, 3, 4, 5), (2, 12, 5)),
        Example({}, (3,), error="AC208"),
        Example({"start_dim": 2, "end_dim": 1}, (2, 3, 4), error="AC208"),
    ]

    start_dim: int = 1
    end_dim: int = -1

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        (x,) = xs
        s, e = wrap_dim(self.start_dim, x.rank), wrap_dim(self.end_dim, x.rank)
        for field, v, w in (("start_dim", self.start_dim, s), ("end_dim", self.end_dim, e)):
            if w is None:
                hint = (
                    "the input has no batch dim to keep: use start_dim: 0"
                    if x.rank == 1 and field == "start_dim"
                    else None
                )
                dim_error(ctx, field, v, x, hint)
                return None
        assert s is not None and e is not None
        if s > e:
            ctx.error(
                "AC208",
                f"start_dim {self.start_dim} comes after end_dim {self.end_dim} (dims {s} > {e})",
                field="start_dim",
            )
            return None
        if x.rank == 0:
            return x.derived((1,), ctx.path)
        R.warn_batch_dims(ctx, "Flatten", x, list(range(s, e + 1)) if e > s else [], "start_dim", "AC406")
        merged = x.shape[s : e + 1]
        size = D.prod(merged)
        shape = x.shape[:s] + (size,) + x.shape[e + 1 :]
        if len(merged) == 1:
            return x.derived(shape, x.producer, x.origin, x.note, x.product)
        arith = " * ".join(D.fmt(d) for d in merged)
        src = x.producer or "the input"
        product = Product(s, tuple(merged), x.producer)
        return x.derived(shape, ctx.path, f"flatten of {x.describe()} from {src}", f"{D.fmt(size)} = {arith}", product)

    def roles(self, ctx: Ctx, xs: list[Tensor], out: Tensor) -> tuple[str, ...] | None:
        (x,) = xs
        r = R.keep(x.roles, x.rank)
        s, e = wrap_dim(self.start_dim, x.rank), wrap_dim(self.end_dim, x.rank)
        if r is None or s is None or e is None or x.rank == 0:
            return None
        return r[:s] + (R.merged(r[s : e + 1]),) + r[e + 1 :]


@register
class Identity(Layer):
    takes_empty: ClassVar[bool] = True
    family: ClassVar[str] = "identity"
    keeps_receptive_field: ClassVar[bool] = True
    torch_name = "nn.Identity"
    examples = [Example({}, (2, 3), (2, 3))]

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        return xs[0]
