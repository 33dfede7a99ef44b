"""Normalization beyond BatchNorm: LayerNorm, RMSNorm, GroupNorm, InstanceNorm1d/2d/3d, LocalResponseNorm.

Rules follow torch 2.13 (``torch/nn/modules/normalization.py``,
``instancenorm.py`` and ``torch.nn.functional``):

* LayerNorm and RMSNorm: the input's trailing dims must equal ``normalized_shape``
  (inferred as the last dim when left out); any rank >= len(normalized_shape).
* GroupNorm: input of rank >= 2, channels at dim 1, ``num_channels`` divisible
  by ``num_groups``; torch refuses a group holding one value
  ("Expected more than 1 value per channel when training", in eval mode too).
* InstanceNorm1d takes [N, C, L] or unbatched [C, L]; InstanceNorm2d [N, C, H, W]
  or [C, H, W]; InstanceNorm3d [N, C, D, H, W] or [C, D, H, W]. A ``num_features`` that differs from the channels is only a
  warning in torch unless ``affine`` or ``track_running_stats`` is set. One
  spatial element fails whenever input statistics are used (always, unless
  ``track_running_stats``; then only in training: a warning).
* LocalResponseNorm: rank >= 3.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, ClassVar, Optional, Union

from pydantic import Field

from ..shapes import dims as D
from ._rules import expect_min_rank, expect_rank, match_size, need_float
from .base import Example, Layer, Pos, Tensor, register

if TYPE_CHECKING:  # pragma: no cover
    from .base import Ctx


def _normalized_shape_rule(ctx: Ctx, x: Tensor, ns: int | list[int] | None, what: str) -> Tensor | None:
    """LayerNorm's and RMSNorm's rule: the trailing dims equal ``normalized_shape`` (the last dim when left out)."""
    if x.rank < 1 or (isinstance(ns, list) and x.rank < len(ns)):
        k = len(ns) if isinstance(ns, list) else 1
        ctx.error(
            "AC204",
            f"{what} with normalized_shape={ns} needs an input with at least {k} dims, "
            f"but its input is {x.describe()} ({ctx.source(x)})",
            field="normalized_shape" if ns is not None else None,
            hint="normalized_shape lists the trailing dims of the input; leave it out to normalize the last dim",
        )
        return None
    if not need_float(ctx, x, what):
        return None
    if not isinstance(ns, list):
        if match_size(ctx, "normalized_shape", ns, x, -1, what, "AC213", "last dim") is None:
            return None
        return x.passed()
    tail = x.shape[x.rank - len(ns) :]
    for _want, have in zip(ns, tail):
        if not isinstance(have, int):
            ctx.error(
                "AC207",
                f"{what} needs normalized_shape={ns} to match the input's trailing dims "
                f"{D.fmt_shape(tail)}, which depend on free dims (input {x.describe()}, {ctx.source(x)})",
                field="normalized_shape",
                hint="give the free dims a value (--dim ...), or normalize fixed-size dims only",
            )
            return None
    if list(tail) != list(ns):
        ctx.error(
            "AC213",
            f"{what} expects the input's last {len(ns)} dims to be {list(ns)}, "
            f"but its input is {x.describe()} ({ctx.source(x)})",
            field="normalized_shape",
            hint=f"set normalized_shape: {list(tail)}, or leave it out to normalize the last dim ({tail[-1]})",
            recover=True,  # the layer keeps its input's shape
        )
    return x.passed()


@register
class LayerNorm(Layer):
    family: ClassVar[str] = "norm"
    keeps_receptive_field: ClassVar[bool] = True
    torch_name = "nn.LayerNorm"
    examples = [
        Example({"normalized_shape": 16}, (2, 5, 16), (2, 5, 16)),
        Example({"normalized_shape": [5, 16]}, (2, 5, 16), (2, 5, 16)),
        Example({"normalized_shape": 8}, (2, 5, 16), error="AC213", fixed={"normalized_shape": 16}),
        Example({"normalized_shape": [4, 16]}, (2, 5, 16), error="AC213", fixed={"normalized_shape": [5, 16]}),
        Example({"normalized_shape": [2, 5, 16]}, (5, 16), error="AC204"),
    ]

    normalized_shape: Optional[Union[Pos, Annotated[list[Pos], Field(min_length=1)]]] = None
    eps: float = 1e-5
    elementwise_affine: bool = True
    bias: bool = True

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        return _normalized_shape_rule(ctx, xs[0], self.normalized_shape, "LayerNorm")

    def _n(self) -> int:
        ns = self.normalized_shape
        assert ns is not None
        return math.prod(ns) if isinstance(ns, list) else ns

    def param_count(self) -> int:
        return self._n() * (2 if self.bias else 1) if self.elementwise_affine else 0

    def label(self) -> str:
        return str(self.normalized_shape)


@register
class RMSNorm(Layer):
    family: ClassVar[str] = "norm"
    keeps_receptive_field: ClassVar[bool] = True
    torch_name = "nn.RMSNorm"
    examples = [
        Example({"normalized_shape": 16}, (2, 5, 16), (2, 5, 16)),
        Example({"normalized_shape": [5, 16], "elementwise_affine": False}, (2, 5, 16), (2, 5, 16)),
        Example({"normalized_shape": 8}, (2, 5, 16), error="AC213", fixed={"normalized_shape": 16}),
        Example({"normalized_shape": 5}, (2, 5), error="AC214", extra={"dtype": "long"}),
    ]

    normalized_shape: Optional[Union[Pos, Annotated[list[Pos], Field(min_length=1)]]] = None
    eps: Optional[float] = None
    elementwise_affine: bool = True

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        return _normalized_shape_rule(ctx, xs[0], self.normalized_shape, "RMSNorm")

    def param_count(self) -> int:
        ns = self.normalized_shape
        assert ns is not None
        return (math.prod(ns) if isinstance(ns, list) else ns) if self.elementwise_affine else 0

    def label(self) -> str:
        return str(self.normalized_shape)


@register
class GroupNorm(Layer):
    takes_empty: ClassVar[bool] = True
    family: ClassVar[str] = "norm"
    keeps_receptive_field: ClassVar[bool] = True
    torch_name = "nn.GroupNorm"
    examples = [
        Example({"num_groups": 4, "num_channels": 16}, (2, 16, 5, 5), (2, 16, 5, 5)),
        Example({"num_groups": 2, "num_channels": 6}, (3, 6), (3, 6)),
        Example({"num_groups": 3}, (2, 16, 5, 5), error="AC205", fixed={"num_groups": 4}),
        Example({"num_groups": 2, "num_channels": 8}, (2, 16, 5), error="AC201", fixed={"num_channels": 16}),
        Example({"num_groups": 4}, (1, 4), error="AC220", fixed={"num_groups": 2}),
    ]

    num_groups: Pos
    num_channels: Optional[Pos] = None
    eps: float = 1e-5
    affine: bool = True
    bias: bool = True  # keyword-only in torch

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        (x,) = xs
        hint = "GroupNorm has no unbatched form: add a batch dim (Unflatten or Reshape)"
        if not expect_min_rank(ctx, x, 2, "GroupNorm", "[N, C, *]", hint):
            return None
        if not need_float(ctx, x, "GroupNorm"):
            return None
        have = x.shape[1]
        nc = self.num_channels
        if nc is None or self.affine or not isinstance(have, int):
            c = match_size(ctx, "num_channels", nc, x, 1, "GroupNorm", "AC201", "channels (dim 1)")
            if c is None:
                return None
            nc = c  # a wrong num_channels was reported: check on as if it were right
        else:
            c = have
            if have != nc:
                ctx.warn(
                    "AC201",
                    f"GroupNorm has num_channels={nc}, but its input {x.describe()} has {have} channels (dim 1); "
                    "torch only notices with affine: true",
                    field="num_channels",
                    hint=f"set num_channels: {have}, or leave it out to have it inferred",
                )
        divisible = True
        for field, n in (("num_channels", nc if nc is not None else c), ("num_groups", c)):
            if n % self.num_groups:
                divisible = False
                divs = [d for d in range(1, n + 1) if n % d == 0]
                near = min(divs, key=lambda d: (abs(d - self.num_groups), d))
                ctx.error(
                    "AC205",
                    f"{'num_channels' if field == 'num_channels' else 'the input channels'}={n} is not divisible "
                    f"by num_groups={self.num_groups}",
                    field=field if ctx.given(field) else "num_groups",
                    hint=f"choose num_groups that divides {n} (e.g. {near})",
                    recover=True,  # the output is the input's shape whatever num_groups is
                )
                break
        per_group = [x.shape[0], c // self.num_groups, *x.shape[2:]]
        if divisible and all(isinstance(d, int) for d in per_group) and math.prod(per_group) == 1:
            ctx.error(
                "AC220",
                f"GroupNorm with {self.num_groups} groups of {c // self.num_groups} channel(s) sees one value per "
                f"group in {x.describe()}; torch raises 'Expected more than 1 value per channel'",
                field="num_groups",
                hint="use fewer groups, a larger batch, or a larger input",
                recover=True,  # fewer groups fix it and keep the output's shape
            )
        return x.passed()

    def param_count(self) -> int:
        assert self.num_channels is not None
        return self.num_channels * (2 if self.bias else 1) if self.affine else 0

    def label(self) -> str:
        return f"g{self.num_groups}"


class _InstanceNorm(Layer):
    takes_empty: ClassVar[bool] = True
    family: ClassVar[str] = "norm"
    keeps_receptive_field: ClassVar[bool] = True
    nd: ClassVar[int] = 1

    num_features: Optional[Pos] = None
    eps: float = 1e-5
    momentum: Optional[float] = 0.1
    affine: bool = False
    track_running_stats: bool = False
    bias: bool = True  # keyword-only in torch

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        (x,) = xs
        what = type(self).__name__
        sp = ", ".join({1: ("L",), 2: ("H", "W")}.get(self.nd, ("D", "H", "W")))
        if not expect_rank(ctx, x, (self.nd + 1, self.nd + 2), what, f"([N, C, {sp}] or unbatched [C, {sp}])"):
            return None
        axis = x.rank - self.nd - 1
        if not need_float(ctx, x, what):
            return None
        have = x.shape[axis]
        strict = self.affine or self.track_running_stats
        if self.num_features is None or strict or not isinstance(have, int):
            if (
                match_size(ctx, "num_features", self.num_features, x, axis, what, "AC201", f"channels (dim {axis})")
                is None
            ):
                return None
        elif have != self.num_features:
            ctx.warn(
                "AC201",
                f"{what} has num_features={self.num_features}, but its input {x.describe()} has {have} channels "
                f"(dim {axis}); torch only warns, since affine and track_running_stats are off",
                field="num_features",
                hint=f"set num_features: {have}, or leave it out to have it inferred",
            )
        spatial = x.shape[axis + 1 :]
        fixed = math.prod(d for d in spatial if isinstance(d, int))
        if fixed == 1 and not self.track_running_stats and not all(isinstance(d, int) for d in spatial):
            # the same rule on a free size: a minimum (stated only for one free dim, e.g. L >= 2)
            ctx.require_min(D.prod(spatial), 2, f"{what}: more than 1 spatial element per channel")
        if all(isinstance(d, int) for d in spatial) and math.prod(spatial) == 1:
            msg = (
                f"{what} sees one spatial element per channel ({x.describe()}); torch raises "
                "'Expected more than 1 spatial element when training'"
            )
            if self.track_running_stats:
                ctx.warn("AC220", msg, hint="the layer works in eval mode only; use a larger input")
            else:
                # track_running_stats: true makes it an eval-mode-only problem and keeps the output's shape
                ctx.error(
                    "AC220",
                    msg + " (in eval mode too, without track_running_stats)",
                    hint="use a larger input, or track_running_stats: true and model.eval()",
                    recover=True,
                )
        return x.passed()

    def param_count(self) -> int:
        if not self.affine:
            return 0
        assert self.num_features is not None
        return self.num_features * (2 if self.bias else 1)


@register
class InstanceNorm1d(_InstanceNorm):
    nd = 1
    torch_name = "nn.InstanceNorm1d"
    examples = [
        Example({}, (2, 3, 5), (2, 3, 5)),
        Example({"affine": True}, (3, 5), (3, 5)),
        Example({"num_features": 4, "affine": True}, (2, 3, 5), error="AC201", fixed={"num_features": 3}),
        Example({}, (2, 3, 1), error="AC220", fixed={"track_running_stats": True}),
        Example({}, (2, 3, 4, 5), error="AC204"),
    ]


@register
class InstanceNorm2d(_InstanceNorm):
    nd = 2
    torch_name = "nn.InstanceNorm2d"
    examples = [
        Example({"affine": True}, (2, 3, 4, 4), (2, 3, 4, 4)),
        Example({}, (3, 4, 4), (3, 4, 4)),
        Example({}, (4, 4), error="AC204"),
    ]


@register
class InstanceNorm3d(_InstanceNorm):
    nd = 3
    torch_name = "nn.InstanceNorm3d"
    examples = [
        Example({"affine": True}, (2, 3, 2, 4, 4), (2, 3, 2, 4, 4)),
        Example({}, (3, 2, 4, 4), (3, 2, 4, 4)),
        Example({}, (4, 4, 4), error="AC204"),
    ]


@register
class LocalResponseNorm(Layer):
    takes_empty: ClassVar[bool] = True
    family: ClassVar[str] = "norm"
    keeps_receptive_field: ClassVar[bool] = True
    torch_name = "nn.LocalResponseNorm"
    examples = [
        Example({"size": 2}, (2, 3, 4), (2, 3, 4)),
        Example({"size": 5}, (1, 8, 4, 4), (1, 8, 4, 4)),
        Example({"size": 2}, (2, 3), error="AC204"),
    ]

    size: Pos
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 1.0

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        (x,) = xs
        if not expect_min_rank(ctx, x, 3, "LocalResponseNorm", "[N, C, *]", "add a batch dim (Unflatten or Reshape)"):
            return None
        if not need_float(ctx, x, "LocalResponseNorm"):
            return None
        return x.passed()

    def label(self) -> str:
        return f"size {self.size}"
