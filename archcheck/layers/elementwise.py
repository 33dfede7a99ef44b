"""Shape-preserving layers: activations, Softmax/LogSoftmax, the Dropout family.

They pass the tensor through unchanged (keeping where it came from, so a
later message still says "output of conv2" rather than "output of relu3").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal, Optional

from . import roles as R
from ._rules import ANY_DTYPE, INTS, NO_INTS, check_dtype, dim_error, expect_min_rank, expect_rank, wrap_dim
from .base import Example, Layer, Prob, Tensor, register

if TYPE_CHECKING:  # pragma: no cover
    from .base import Ctx


class _Elementwise(Layer):
    takes_empty: ClassVar[bool] = True
    family: ClassVar[str] = "activation"
    folds: ClassVar[bool] = True
    keeps_receptive_field: ClassVar[bool] = True
    min_rank: ClassVar[int] = 0
    ranks: ClassVar[tuple[int, ...] | None] = None
    int_dtypes: ClassVar[frozenset[str]] = NO_INTS  # non-float input dtypes torch takes

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        (x,) = xs
        what = type(self).__name__
        if not check_dtype(ctx, x, what, self.int_dtypes):
            return None
        if self.ranks is not None and not expect_rank(ctx, x, self.ranks, what):
            return None
        if self.min_rank and not expect_min_rank(ctx, x, self.min_rank, what):
            return None
        return x.passed()


@register
class ReLU(_Elementwise):
    torch_name = "nn.ReLU"
    int_dtypes = INTS
    examples = [
        Example({}, (2, 3, 4), (2, 3, 4)),
        Example({}, (2, 3), (2, 3), extra={"dtype": "long"}),
        Example({}, (2, 3), error="AC214", extra={"dtype": "bool"}),
    ]
    inplace: bool = False


@register
class ReLU6(_Elementwise):
    torch_name = "nn.ReLU6"
    int_dtypes = INTS
    examples = [Example({}, (4,), (4,))]
    inplace: bool = False


@register
class LeakyReLU(_Elementwise):
    torch_name = "nn.LeakyReLU"
    examples = [Example({}, (2, 3), (2, 3))]
    negative_slope: float = 0.01
    inplace: bool = False


@register
class ELU(_Elementwise):
    torch_name = "nn.ELU"
    examples = [Example({}, (2, 3, 4, 5), (2, 3, 4, 5))]
    alpha: float = 1.0
    inplace: bool = False


@register
class SELU(_Elementwise):
    torch_name = "nn.SELU"
    examples = [Example({}, (1,), (1,))]
    inplace: bool = False


@register
class GELU(_Elementwise):
    torch_name = "nn.GELU"
    examples = [Example({}, (2, 7), (2, 7))]
    approximate: Literal["none", "tanh"] = "none"


@register
class SiLU(_Elementwise):
    torch_name = "nn.SiLU"
    examples = [Example({}, (3, 3), (3, 3))]
    inplace: bool = False


@register
class Mish(_Elementwise):
    torch_name = "nn.Mish"
    examples = [Example({}, (2, 2, 2), (2, 2, 2))]
    inplace: bool = False


@register
class Sigmoid(_Elementwise):
    torch_name = "nn.Sigmoid"
    int_dtypes = ANY_DTYPE
    examples = [Example({}, (5,), (5,))]


@register
class Tanh(_Elementwise):
    torch_name = "nn.Tanh"
    int_dtypes = ANY_DTYPE
    examples = [Example({}, (2, 5), (2, 5))]


@register
class Hardswish(_Elementwise):
    torch_name = "nn.Hardswish"
    examples = [Example({}, (1, 2, 3), (1, 2, 3))]
    inplace: bool = False


@register
class Hardsigmoid(_Elementwise):
    torch_name = "nn.Hardsigmoid"
    examples = [Example({}, (4, 1), (4, 1))]
    inplace: bool = False


@register
class Hardtanh(_Elementwise):
    torch_name = "nn.Hardtanh"
    int_dtypes = INTS
    examples = [Example({}, (2, 3), (2, 3))]
    min_val: float = -1.0
    max_val: float = 1.0
    inplace: bool = False


@register
class Softplus(_Elementwise):
    torch_name = "nn.Softplus"
    examples = [Example({}, (6,), (6,))]
    beta: float = 1.0
    threshold: float = 20.0


class _SoftmaxBase(_Elementwise):
    dim: Optional[int] = None

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        (x,) = xs
        what = type(self).__name__
        if not check_dtype(ctx, x, what, self.int_dtypes):
            return None
        if self.dim is None:
            implicit = 0 if x.rank in (0, 1, 3) else 1
            ctx.warn(
                "AC212",
                f"{what} without dim picks dim {implicit} for a {x.rank}-D input (deprecated in torch)",
                hint=f"write dim: {implicit if x.rank != 2 else -1} explicitly (usually -1 for class scores)",
            )
        elif (d := wrap_dim(self.dim, x.rank)) is None:
            dim_error(ctx, "dim", self.dim, x)
            return None
        else:
            R.warn_batch_dims(ctx, what, x, [d], "dim", "AC405")
        return x.passed()


@register
class Softmax(_SoftmaxBase):
    torch_name = "nn.Softmax"
    examples = [Example({"dim": -1}, (2, 10), (2, 10)), Example({"dim": 2}, (2, 10), error="AC208")]


@register
class LogSoftmax(_SoftmaxBase):
    torch_name = "nn.LogSoftmax"
    examples = [Example({"dim": 1}, (2, 10), (2, 10))]


class _Dropout(_Elementwise):
    family: ClassVar[str] = "dropout"
    folds: ClassVar[bool] = False
    p: Prob = 0.5
    inplace: bool = False

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        if self.p in (0.0, 1.0) and (self.ranks is None or xs[0].rank in self.ranks):
            # torch's dropouts return early for p 0 (the input) and 1 (zeros), before the feature
            # dropouts need a channel dim and before any float-only kernel (ATen Dropout.cpp,
            # _dropout_impl): any rank and dtype pass. Dropout1d's rank check comes first, in Python.
            return xs[0].passed()
        return super().infer(ctx, xs)


@register
class Dropout(_Dropout):
    torch_name = "nn.Dropout"
    examples = [
        Example({"p": 0.1}, (2, 3), (2, 3)),
        Example({"p": 0.1}, (2, 3), error="AC214", extra={"dtype": "long"}),
        Example({"p": 0.0}, (2, 3), (2, 3), extra={"dtype": "long"}),  # p 0 returns the input untouched
    ]


@register
class Dropout1d(_Dropout):
    torch_name = "nn.Dropout1d"
    ranks = (2, 3)
    examples = [Example({}, (2, 3, 4), (2, 3, 4)), Example({}, (2, 3, 4, 5), error="AC204")]


@register
class Dropout2d(_Dropout):
    torch_name = "nn.Dropout2d"
    min_rank = 2  # feature_dropout needs [N, C, ...]; dropout2d does not add a batch dim
    examples = [
        Example({}, (2, 3, 4, 5), (2, 3, 4, 5)),
        Example({}, (5,), error="AC204"),
        Example({"p": 0.0}, (5,), (5,)),
    ]


@register
class Dropout3d(_Dropout):
    torch_name = "nn.Dropout3d"
    min_rank = 1  # dropout3d unsqueezes a non-5-D input, so a 1-D input becomes [1, C]
    examples = [
        Example({}, (2, 3, 4, 5, 6), (2, 3, 4, 5, 6)),
        Example({}, (5,), (5,)),
        Example({}, (), error="AC204"),
        Example({"p": 1.0}, (), ()),
    ]


@register
class AlphaDropout(_Dropout):
    torch_name = "nn.AlphaDropout"
    examples = [Example({"p": 0.2}, (3,), (3,))]


@register
class FeatureAlphaDropout(_Dropout):
    torch_name = "nn.FeatureAlphaDropout"
    min_rank = 2
    examples = [Example({}, (2, 3, 4), (2, 3, 4)), Example({}, (4,), error="AC204")]
