"""More activations: PReLU, CELU, RReLU, Threshold, the shrinks, Softsign, LogSigmoid, Softmin, GLU, Softmax2d.

Rules follow torch 2.13 (``torch/nn/modules/activation.py`` and the ATen kernels),
checked by ``tests/test_layers_extra_vs_torch.py``:

* PReLU has ``num_parameters`` weights (torch's ``parameters()`` count). With
  one weight it takes any rank; with more, the input needs a channel dim (rank
  >= 2, dim 1) of exactly that size (a 1-D input counts as one channel).
* GLU halves dim ``dim``, which must be even (a scalar has none).
* Softmax2d takes [N, C, H, W] or unbatched [C, H, W] and normalizes over C.
* Softsign, Tanhshrink and Threshold also take integer input (their kernels
  promote); the rest need floating point. None of them takes bool.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..shapes import dims as D
from ._rules import INTS, check_dtype, dim_error, exact_div, wrap_dim
from .base import Example, Pos, Tensor, register
from .elementwise import _Elementwise, _SoftmaxBase

if TYPE_CHECKING:  # pragma: no cover
    from .base import Ctx


@register
class PReLU(_Elementwise):
    torch_name = "nn.PReLU"
    examples = [
        Example({}, (2, 3, 4), (2, 3, 4)),
        Example({}, (), ()),
        Example({"num_parameters": 3}, (2, 3, 4, 4), (2, 3, 4, 4)),
        Example({"num_parameters": 3}, (2, 5, 4), error="AC201", fixed={"num_parameters": 5}),
        Example({"num_parameters": 3}, (3,), error="AC204"),
    ]

    num_parameters: Pos = 1
    init: float = 0.25

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        (x,) = xs
        if not check_dtype(ctx, x, "PReLU", self.int_dtypes):
            return None
        n = self.num_parameters
        if n == 1:
            return x.passed()
        if x.rank < 2:
            ctx.error(
                "AC204",
                f"PReLU with num_parameters={n} needs a channel dim (dim 1 of an input with at least 2 dims), "
                f"but its input is {x.describe()} ({ctx.source(x)})",
                field="num_parameters",
                hint="use num_parameters: 1 (one slope for all values), or give the input a batch dim",
            )
            return None
        c = x.shape[1]
        if isinstance(c, int):
            if c != n:
                ctx.error(
                    "AC201",
                    f"PReLU has num_parameters={n}, but its input {x.describe()} has {c} channels (dim 1, "
                    f"{ctx.source(x)})",
                    field="num_parameters",
                    hint=f"set num_parameters: {c} (one slope per channel), or 1 (one slope for all)",
                    fix=c,
                    recover=True,  # the slopes do not shape the output
                )
        else:
            ctx.require_equal(c, n, "PReLU channels (dim 1) = num_parameters")
        return x.passed()

    def param_count(self) -> int:
        return self.num_parameters

    def label(self) -> str:
        return f"{self.num_parameters} slopes" if self.num_parameters > 1 else ""


@register
class CELU(_Elementwise):
    torch_name = "nn.CELU"
    examples = [Example({"alpha": 0.5}, (2, 3), (2, 3)), Example({}, (2, 3), error="AC214", extra={"dtype": "long"})]
    alpha: float = 1.0
    inplace: bool = False


@register
class RReLU(_Elementwise):
    torch_name = "nn.RReLU"
    examples = [Example({}, (2, 3, 4), (2, 3, 4))]
    lower: float = 0.125
    upper: float = 1.0 / 3.0
    inplace: bool = False


@register
class Threshold(_Elementwise):
    torch_name = "nn.Threshold"
    int_dtypes = INTS
    examples = [
        Example({"threshold": 0.1, "value": 0.0}, (4, 5), (4, 5)),
        Example({"threshold": 0, "value": 0}, (4,), (4,), extra={"dtype": "long"}),
    ]
    threshold: float
    value: float
    inplace: bool = False


@register
class Hardshrink(_Elementwise):
    torch_name = "nn.Hardshrink"
    examples = [Example({"lambd": 0.3}, (3, 3), (3, 3))]
    lambd: float = 0.5


@register
class Softshrink(_Elementwise):
    torch_name = "nn.Softshrink"
    examples = [Example({}, (3,), (3,))]
    lambd: float = 0.5


@register
class Softsign(_Elementwise):
    torch_name = "nn.Softsign"
    int_dtypes = INTS
    examples = [Example({}, (2, 4), (2, 4)), Example({}, (2,), error="AC214", extra={"dtype": "bool"})]


@register
class Tanhshrink(_Elementwise):
    torch_name = "nn.Tanhshrink"
    int_dtypes = INTS
    examples = [Example({}, (2, 4), (2, 4))]


@register
class LogSigmoid(_Elementwise):
    torch_name = "nn.LogSigmoid"
    examples = [Example({}, (5, 1), (5, 1))]


@register
class Softmin(_SoftmaxBase):
    torch_name = "nn.Softmin"
    examples = [Example({"dim": 1}, (2, 10), (2, 10)), Example({"dim": -3}, (2, 10), error="AC208")]


@register
class Softmax2d(_Elementwise):
    torch_name = "nn.Softmax2d"
    ranks = (3, 4)
    examples = [
        Example({}, (2, 3, 4, 4), (2, 3, 4, 4)),
        Example({}, (3, 4, 4), (3, 4, 4)),
        Example({}, (3, 4), error="AC204"),
    ]


@register
class GLU(_Elementwise):
    torch_name = "nn.GLU"
    examples = [
        Example({}, (2, 8), (2, 4)),
        Example({"dim": 1}, (2, 6, 5, 5), (2, 3, 5, 5)),
        Example({}, (2, 7), error="AC215"),
        Example({"dim": 2}, (2, 8), error="AC208"),
    ]
    dim: int = -1

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        (x,) = xs
        if not check_dtype(ctx, x, "GLU", self.int_dtypes):
            return None
        if x.rank == 0:
            ctx.error(
                "AC204",
                f"GLU halves a dim, but its input is a scalar ({ctx.source(x)})",
                hint="GLU needs an input with at least 1 dim",
            )
            return None
        d = wrap_dim(self.dim, x.rank)
        if d is None:
            dim_error(ctx, "dim", self.dim, x)
            return None
        size = x.shape[d]
        q, ok = exact_div(size, 2)
        if ok is False:
            ctx.error(
                "AC215",
                f"GLU halves dim {d} of its input {x.describe()}, but that dim's size {D.fmt(size)} is odd "
                f"({ctx.source(x)})",
                field="dim" if ctx.given("dim") else None,
                hint="make that dim's size even (the first half is the value, the second the gate), or choose another dim",
            )
            return None
        if ok is None:
            ctx.require_equal(D.mul(q, 2), size, f"GLU dim {d} even")
        shape = list(x.shape)
        shape[d] = q
        return x.derived(tuple(shape), ctx.path)

    def label(self) -> str:
        return f"dim {self.dim}"
