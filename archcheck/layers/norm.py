"""Normalization: BatchNorm1d/2d/3d, SyncBatchNorm.

https://pytorch.org/docs/stable/generated/torch.nn.BatchNorm2d.html: the
channel dim is 1; BatchNorm1d takes [N, C] or [N, C, L], BatchNorm2d only
[N, C, H, W], BatchNorm3d only [N, C, D, H, W]; SyncBatchNorm any [N, C, *]
(on one process, without a process group, it is a BatchNorm).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, ClassVar, Optional

from pydantic import Field

from ..shapes import dims as D
from ._rules import NO_INTS, check_dtype, expect_min_rank, expect_rank, match_size
from .base import Example, Layer, Pos, Tensor, numel_per, register

if TYPE_CHECKING:  # pragma: no cover
    from .base import Ctx


class _BatchNorm(Layer):
    takes_empty: ClassVar[bool] = True
    family: ClassVar[str] = "norm"
    keeps_receptive_field: ClassVar[bool] = True
    ranks: ClassVar[tuple[int, ...]] = (4,)
    min_rank: ClassVar[int | None] = None  # instead of ranks: any rank from this one up
    layout: ClassVar[str] = ""

    num_features: Optional[Pos] = None
    eps: Annotated[float, Field(gt=0)] = 1e-5
    momentum: Optional[float] = 0.1
    affine: bool = True
    track_running_stats: bool = True
    bias: bool = True  # keyword-only in torch

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        (x,) = xs
        what = type(self).__name__
        if not check_dtype(ctx, x, what, NO_INTS):
            return None
        if self.min_rank is not None and not expect_min_rank(
            ctx, x, self.min_rank, what, self.layout, "add a batch dim (Unflatten or Reshape)"
        ):
            return None
        if self.min_rank is None and not expect_rank(ctx, x, self.ranks, what, self.layout):
            return None
        c = x.shape[1]
        if (
            not self.affine
            and not self.track_running_stats
            and self.num_features is not None
            and c != self.num_features
        ):
            # No weight, bias or running stats: nothing has num_features entries, and torch never
            # compares it with the input. Not an error, but surely not what was meant.
            ctx.warn(
                "AC201",
                f"{what} has num_features={self.num_features}, but its input is {x.describe()} ({ctx.source(x)}), "
                f"with {D.fmt(c)} channels (dim 1); torch does not check it without affine or running stats",
                field="num_features",
                hint=f"set num_features: {D.fmt(c)}, or leave it out to have it inferred",
            )
        elif match_size(ctx, "num_features", self.num_features, x, 1, what, "AC201", "channels (dim 1)") is None:
            return None
        per_channel = numel_per(x.shape[:1] + x.shape[2:])
        if per_channel == 1 and isinstance(x.shape[0], int):
            if not self.track_running_stats:
                # Without running stats torch normalizes with batch statistics in eval mode too.
                ctx.error(
                    "AC211",
                    f"{what} sees one value per channel ({x.describe()}) and has track_running_stats: false, "
                    "so it uses batch statistics in eval mode too; torch raises "
                    "'Expected more than 1 value per channel when training' in every mode",
                    field="track_running_stats",
                    hint="use a batch larger than 1 (or more positions per channel), or track_running_stats: true "
                    "and model.eval()",
                    recover=True,  # track_running_stats: true fixes it and keeps the output's shape
                )
                return x.passed()
            ctx.warn(
                "AC211",
                f"{what} sees one value per channel ({x.describe()}); in training mode torch raises "
                "'Expected more than 1 value per channel when training'",
                hint="use a batch larger than 1, or call model.eval() before running it",
            )
        return x.passed()

    def param_count(self) -> int:
        assert self.num_features is not None
        return self.num_features * (2 if self.bias else 1) if self.affine else 0

    def macs(self, xs: list[Tensor], out: Tensor) -> int | None:
        return 0


@register
class BatchNorm1d(_BatchNorm):
    ranks = (2, 3)
    layout = "([N, C] or [N, C, L])"
    torch_name = "nn.BatchNorm1d"
    examples = [
        Example({}, (4, 8), (4, 8)),
        Example({}, (4, 8, 5), (4, 8, 5)),
        Example({}, (8,), error="AC204"),
        Example({}, (1, 8), (1, 8)),  # a warning (AC211): fails in training mode only
        Example({"track_running_stats": False}, (1, 8), error="AC211", fixed={"track_running_stats": True}),
    ]


@register
class BatchNorm2d(_BatchNorm):
    ranks = (4,)
    layout = "[N, C, H, W]"
    torch_name = "nn.BatchNorm2d"
    examples = [
        Example({"num_features": 16}, (4, 16, 7, 7), (4, 16, 7, 7)),
        Example({"num_features": 16}, (4, 8, 7, 7), error="AC201", fixed={"num_features": 8}),
        Example({}, (8, 7, 7), error="AC204"),
        # Without affine and running stats nothing has num_features entries: torch runs (a warning here).
        Example({"num_features": 4, "affine": False, "track_running_stats": False}, (2, 8, 3, 3), (2, 8, 3, 3)),
    ]


@register
class BatchNorm3d(_BatchNorm):
    ranks = (5,)
    layout = "[N, C, D, H, W]"
    torch_name = "nn.BatchNorm3d"
    examples = [Example({}, (2, 4, 3, 5, 5), (2, 4, 3, 5, 5))]


@register
class SyncBatchNorm(_BatchNorm):
    min_rank = 2
    layout = "([N, C, *])"
    torch_name = "nn.SyncBatchNorm"
    arg_order = ("num_features", "eps", "momentum", "affine", "track_running_stats", "bias")
    examples = [
        Example({}, (4, 8), (4, 8)),
        Example({"num_features": 3}, (2, 3, 4, 4, 4, 4), (2, 3, 4, 4, 4, 4)),
        Example({"bias": False}, (2, 3, 5), (2, 3, 5)),
        Example({}, (8,), error="AC204"),
    ]
