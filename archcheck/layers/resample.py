"""Resampling and padding: Upsample, PixelShuffle/PixelUnshuffle, the padding modules.

Rules follow torch 2.13:

* Upsample (``F.interpolate``): exactly one of ``size`` and ``scale_factor``;
  [N, C, *spatial] with 1-3 spatial dims (no unbatched form); ``linear`` needs
  3-D, ``bilinear``/``bicubic`` 4-D, ``trilinear`` 5-D input; ``align_corners``
  only with the interpolating modes; an output size is
  ``floor(float(size) * scale_factor)`` and must be >= 1.
  A list ``scale_factor`` must be passed to torch as a tuple.
* PixelShuffle(r): rank >= 3, channels (dim -3) divisible by r*r;
  PixelUnshuffle(r): H and W (dims -2, -1) divisible by r.
* ZeroPad/ConstantPad (``F.pad`` constant mode): any rank >= 1 (1d) / >= 2 (2d) / >= 3 (3d);
  negative padding crops; the result must not be empty.
* ReflectionPad/ReplicationPad/CircularPad: 2-D or 3-D input (1d), 3-D or 4-D (2d),
  4-D or 5-D (3d); reflection padding must be smaller than the input dim, circular
  padding at most the input dim; the result must not be empty.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Optional, Union

from pydantic import Field, field_validator

from ..shapes import dims as D
from ..shapes.dims import Dim
from ._rules import exact_div, expect_min_rank, expect_rank, need_float, rank_words
from .base import Example, Layer, Pos, PosOrList, Tensor, as_tuple, register

if TYPE_CHECKING:  # pragma: no cover
    from .base import Ctx

PosFloat = Annotated[float, Field(gt=0.0)]
_MODE_RANK = {"linear": 3, "bilinear": 4, "bicubic": 4, "trilinear": 5}


def _scaled(size: Dim, s: float) -> Dim:
    """``floor(float(size) * s)`` as torch computes it (double arithmetic for ints)."""
    if isinstance(size, int):
        return math.floor(float(size) * float(s))
    if float(s).is_integer():
        return D.mul(size, int(s))
    sp = D.sp()
    return D.normalize(sp.floor(D.to_expr(size) * sp.Rational(repr(float(s)))))


@register
class Upsample(Layer):
    family: ClassVar[str] = "resample"
    drawn_layout: ClassVar[str | None] = "cf"
    torch_name = "nn.Upsample"
    examples = [
        Example({"scale_factor": 2}, (1, 3, 4, 4), (1, 3, 8, 8)),
        Example({"size": [5, 7], "mode": "bilinear", "align_corners": True}, (2, 3, 4, 4), (2, 3, 5, 7)),
        Example({"scale_factor": 1.5, "mode": "linear"}, (1, 2, 5), (1, 2, 7)),
        Example({"scale_factor": 2, "mode": "bilinear"}, (1, 2, 5), error="AC204"),
        Example({"scale_factor": 2, "align_corners": False}, (1, 3, 4, 4), error="AC108"),
    ]

    size: Optional[PosOrList] = None
    scale_factor: Optional[Union[PosFloat, list[PosFloat]]] = None
    mode: Literal["nearest", "linear", "bilinear", "bicubic", "trilinear"] = "nearest"
    align_corners: Optional[bool] = None
    recompute_scale_factor: Optional[bool] = None

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        (x,) = xs
        if (self.size is None) == (self.scale_factor is None):
            ctx.error(
                "AC108",
                "Upsample needs either size or scale_factor"
                if self.size is None
                else "give size or scale_factor, not both",
                field="scale_factor" if self.scale_factor is not None else None,
                hint="scale_factor: 2 doubles H and W; size: [H, W] sets them",
            )
            return None
        if self.align_corners is not None and self.mode == "nearest":
            ctx.error(
                "AC108",
                "align_corners can only be set with the interpolating modes linear, bilinear, bicubic, trilinear",
                field="align_corners",
                hint="leave align_corners out for mode: nearest (even false is refused)",
            )
            return None
        if self.recompute_scale_factor and self.size is not None:
            ctx.error(
                "AC108",
                "recompute_scale_factor is not meaningful with an explicit size",
                field="recompute_scale_factor",
                hint="leave recompute_scale_factor out, or use scale_factor",
            )
            return None
        want = (_MODE_RANK[self.mode],) if self.mode in _MODE_RANK else (3, 4, 5)
        if not expect_rank(ctx, x, want, f"Upsample (mode {self.mode})", "[N, C, *spatial]"):
            return None
        if not need_float(ctx, x, "Upsample"):
            return None
        nsp = x.rank - 2
        spatial = x.shape[2:]
        if self.size is not None:
            if isinstance(self.size, list) and len(self.size) != nsp:
                ctx.error(
                    "AC204",
                    f"size has {len(self.size)} entries, but the input {x.describe()} has {nsp} spatial dims",
                    field="size",
                    hint=f"give {nsp} sizes, or one int for all",
                )
                return None
            out: list[Dim] = list(as_tuple(self.size, nsp))
        else:
            sf = self.scale_factor
            if isinstance(sf, list) and len(sf) != nsp:
                ctx.error(
                    "AC204",
                    f"scale_factor has {len(sf)} entries, but the input {x.describe()} has {nsp} spatial dims",
                    field="scale_factor",
                    hint=f"give {nsp} factors, or one number for all",
                )
                return None
            factors = sf if isinstance(sf, list) else [sf] * nsp
            # sf is not None here: exactly one of size and scale_factor is set (checked above)
            out = [_scaled(d, f) for d, f in zip(spatial, factors)]  # type: ignore[arg-type]
            for d, o in zip(spatial, out):
                ctx.require_min(o, 1, f"output of scale_factor {sf}")
                if isinstance(o, int) and o < 1:
                    ctx.error(
                        "AC203",
                        f"scale_factor {sf} turns the input size {d} into {o}; output sizes must be at least 1",
                        field="scale_factor",
                        hint="use a larger scale_factor or a larger input",
                    )
                    return None
        return x.derived(tuple(x.shape[:2]) + tuple(out), ctx.path)

    def label(self) -> str:
        if self.size is not None:
            return f"→{self.size} {self.mode}"
        return f"x{self.scale_factor} {self.mode}"


class _FixedUpsample(Layer):
    """UpsamplingNearest2d / UpsamplingBilinear2d: nn.Upsample with its mode fixed (torch's subclasses)."""

    family: ClassVar[str] = "resample"
    drawn_layout: ClassVar[str | None] = "cf"
    up_mode: ClassVar[Literal["nearest", "bilinear"]] = "nearest"
    up_corners: ClassVar[Optional[bool]] = None

    size: Optional[PosOrList] = None
    scale_factor: Optional[Union[PosFloat, list[PosFloat]]] = None

    def _as_upsample(self) -> Upsample:
        return Upsample.model_construct(
            size=self.size, scale_factor=self.scale_factor, mode=self.up_mode, align_corners=self.up_corners
        )

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        return self._as_upsample().infer(ctx, xs)

    def label(self) -> str:
        return self._as_upsample().label()


@register
class UpsamplingNearest2d(_FixedUpsample):
    torch_name = "nn.UpsamplingNearest2d"
    up_mode = "nearest"
    examples = [
        Example({"scale_factor": 2}, (1, 3, 4, 4), (1, 3, 8, 8)),
        Example({"size": 5}, (1, 3, 4), (1, 3, 5)),
        Example({}, (1, 3, 4, 4), error="AC108"),
    ]


@register
class UpsamplingBilinear2d(_FixedUpsample):
    torch_name = "nn.UpsamplingBilinear2d"
    up_mode = "bilinear"
    up_corners = True
    examples = [
        Example({"scale_factor": 2}, (1, 3, 4, 4), (1, 3, 8, 8)),
        Example({"size": [3, 9]}, (2, 1, 4, 4), (2, 1, 3, 9)),
        Example({"scale_factor": 2}, (1, 3, 4), error="AC204"),
    ]


class _Shuffle(Layer):
    takes_empty: ClassVar[bool] = True
    family: ClassVar[str] = "resample"
    drawn_layout: ClassVar[str | None] = "cf"

    def _rank(self, ctx: Ctx, x: Tensor) -> bool:
        return expect_min_rank(ctx, x, 3, type(self).__name__, "[*, C, H, W]")

    def _div(self, ctx: Ctx, x: Tensor, axis: int, n: int, field: str, word: str) -> Dim | None:
        size = x.shape[axis]
        q, ok = exact_div(size, n)
        if ok is False:
            ctx.error(
                "AC215",
                f"{type(self).__name__} needs the input's {word} (dim {axis % x.rank}) to be divisible by {n}, "
                f"but its input is {x.describe()} ({ctx.source(x)})",
                field=field,
                hint=f"make the {word} a multiple of {n}, or change {field}",
            )
            return None
        if ok is None:
            ctx.require_equal(D.mul(q, n), size, f"{type(self).__name__} {word} divisible by {n}")
        return q


@register
class PixelShuffle(_Shuffle):
    torch_name = "nn.PixelShuffle"
    examples = [
        Example({"upscale_factor": 2}, (1, 8, 3, 3), (1, 2, 6, 6)),
        Example({"upscale_factor": 3}, (9, 2, 2), (1, 6, 6)),
        Example({"upscale_factor": 2}, (1, 6, 3, 3), error="AC215"),
        Example({"upscale_factor": 2}, (8, 3), error="AC204"),
    ]

    upscale_factor: Pos

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        (x,) = xs
        r = self.upscale_factor
        if not self._rank(ctx, x):
            return None
        c = self._div(ctx, x, -3, r * r, "upscale_factor", "channels")
        if c is None:
            return None
        h, w = x.shape[-2:]
        return x.derived(tuple(x.shape[:-3]) + (c, D.mul(h, r), D.mul(w, r)), ctx.path)

    def label(self) -> str:
        return f"x{self.upscale_factor}"


@register
class PixelUnshuffle(_Shuffle):
    torch_name = "nn.PixelUnshuffle"
    examples = [
        Example({"downscale_factor": 2}, (1, 2, 6, 6), (1, 8, 3, 3)),
        Example({"downscale_factor": 2}, (1, 2, 5, 6), error="AC215"),
        Example({"downscale_factor": 2}, (6, 6), error="AC204"),
    ]

    downscale_factor: Pos

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        (x,) = xs
        r = self.downscale_factor
        if not self._rank(ctx, x):
            return None
        h = self._div(ctx, x, -2, r, "downscale_factor", "height")
        if h is None:
            return None
        w = self._div(ctx, x, -1, r, "downscale_factor", "width")
        if w is None:
            return None
        if 0 in x.shape:  # torch's pixel_unshuffle returns an empty input unchanged, after its checks
            return x.derived(x.shape, ctx.path)
        return x.derived(tuple(x.shape[:-3]) + (D.mul(x.shape[-3], r * r), h, w), ctx.path)

    def label(self) -> str:
        return f"/{self.downscale_factor}"


_PAD_DIMS = ("D", "H", "W")


class _Pad(Layer):
    family: ClassVar[str] = "resample"
    drawn_layout: ClassVar[str | None] = "cf"
    nd: ClassVar[int] = 1
    mode: ClassVar[str] = "constant"

    padding: Union[int, list[int]]

    @field_validator("padding")
    @classmethod
    def _arity(cls, v: Any) -> Any:
        if isinstance(v, list) and len(v) != 2 * cls.nd:
            raise ValueError(f"expected an int or a list of {2 * cls.nd} ints, got a list of {len(v)}")
        return v

    def _pads(self) -> tuple[int, ...]:
        return as_tuple(self.padding, 2 * self.nd)  # (left, right[, top, bottom])

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        (x,) = xs
        what = type(self).__name__
        nd = self.nd
        if self.mode == "constant":
            if x.rank < nd:
                ctx.error(
                    "AC204",
                    f"{what} pads the last {nd} dim(s), but its input is {x.describe()} ({ctx.source(x)})",
                )
                return None
        elif not expect_rank(
            ctx, x, (nd + 1, nd + 2), what, f"({rank_words((nd + 1, nd + 2))} [*, C, {', '.join(_PAD_DIMS[-nd:])}])"
        ):
            return None
        p = self._pads()
        out = list(x.shape)
        names = _PAD_DIMS[-nd:]
        for i in range(nd):  # i = 0: the last dim (left/right), i = 1: the one before (top/bottom)
            lo, hi = p[2 * i], p[2 * i + 1]
            axis = x.rank - 1 - i
            size = x.shape[axis]
            name = names[-1 - i]
            if self.mode == "reflect" and isinstance(size, int) and (lo >= size or hi >= size):
                ctx.error(
                    "AC209",
                    f"reflection padding {max(lo, hi)} must be smaller than the input size {size} in dim {name} "
                    f"(input {x.describe()}, {ctx.source(x)})",
                    field="padding",
                    hint=f"use padding < {size}, ReplicationPad/ZeroPad, or a larger input",
                )
                return None
            if self.mode == "circular" and isinstance(size, int) and (lo > size or hi > size):
                ctx.error(
                    "AC209",
                    f"circular padding {max(lo, hi)} must not be larger than the input size {size} in dim {name} "
                    f"(it would wrap around more than once; input {x.describe()}, {ctx.source(x)})",
                    field="padding",
                    hint=f"use padding <= {size}, or a larger input",
                )
                return None
            if self.mode == "circular" and not isinstance(size, int) and max(lo, hi) > 1:
                ctx.require_min(size, max(lo, hi), f"circular padding {max(lo, hi)} in dim {name}")
            if self.mode == "reflect" and not isinstance(size, int) and max(lo, hi) > 0:
                ctx.require_min(size, max(lo, hi) + 1, f"reflection padding {max(lo, hi)} in dim {name}")
            o = D.add(size, lo + hi)
            ctx.require_min(D.add(size, min(lo, 0) + min(hi, 0)), 0, f"padding ({lo}, {hi}) in dim {name}")
            ctx.require_min(o, 1, f"padding ({lo}, {hi}) in dim {name}")
            cropped = D.add(size, min(lo, 0) + min(hi, 0))  # constant mode crops first, then pads
            if self.mode == "constant" and isinstance(cropped, int) and cropped < 0:
                o = cropped
            if isinstance(o, int) and o < 1 and not (o == 0 and size == 0):  # an empty dim may stay empty
                ctx.error(
                    "AC203",
                    f"padding ({lo}, {hi}) leaves {o} elements of the input size {size} in dim {name}",
                    field="padding",
                    hint="negative padding crops: crop less",
                )
                return None
            out[axis] = o
        return x.derived(tuple(out), ctx.path)

    def label(self) -> str:
        return f"pad {self.padding}"


class _Pad1(_Pad):
    nd = 1


class _Pad2(_Pad):
    nd = 2


class _Pad3(_Pad):
    nd = 3


@register
class ZeroPad1d(_Pad1):
    takes_empty = True
    torch_name = "nn.ZeroPad1d"
    examples = [Example({"padding": 2}, (1, 3, 4), (1, 3, 8)), Example({"padding": [-2, -2]}, (1, 3, 4), error="AC203")]


@register
class ZeroPad2d(_Pad2):
    takes_empty = True
    torch_name = "nn.ZeroPad2d"
    examples = [
        Example({"padding": [1, 2, 0, 3]}, (1, 3, 4, 4), (1, 3, 7, 7)),
        Example({"padding": 1}, (4, 4), (6, 6)),
        Example({"padding": 1}, (4,), error="AC204"),
    ]


@register
class ConstantPad1d(_Pad1):
    takes_empty = True
    torch_name = "nn.ConstantPad1d"
    examples = [Example({"padding": [1, 0], "value": 0.5}, (2, 3), (2, 4))]
    value: float


@register
class ConstantPad2d(_Pad2):
    takes_empty = True
    torch_name = "nn.ConstantPad2d"
    examples = [
        Example({"padding": 1, "value": -1.0}, (1, 2, 3, 3), (1, 2, 5, 5)),
        Example({"padding": [0, 0, -3, 0], "value": 0}, (1, 2, 3, 3), error="AC203"),
    ]
    value: float


@register
class ReflectionPad1d(_Pad1):
    mode = "reflect"
    torch_name = "nn.ReflectionPad1d"
    examples = [
        Example({"padding": 2}, (1, 3, 4), (1, 3, 8)),
        Example({"padding": 4}, (1, 3, 4), error="AC209"),
        Example({"padding": 1}, (4,), error="AC204"),
    ]


@register
class ReflectionPad2d(_Pad2):
    mode = "reflect"
    torch_name = "nn.ReflectionPad2d"
    examples = [
        Example({"padding": [1, 1, 2, 2]}, (1, 3, 4, 4), (1, 3, 8, 6)),
        Example({"padding": [1, 1, 2, 2]}, (1, 3, 2, 4), error="AC209"),
        Example({"padding": 1}, (4, 4), error="AC204"),
    ]


@register
class ReplicationPad1d(_Pad1):
    mode = "replicate"
    torch_name = "nn.ReplicationPad1d"
    examples = [
        Example({"padding": [3, 1]}, (1, 2, 2), (1, 2, 6)),
        Example({"padding": 1}, (2, 2, 2, 2), error="AC204"),
    ]


@register
class ReplicationPad2d(_Pad2):
    mode = "replicate"
    torch_name = "nn.ReplicationPad2d"
    examples = [
        Example({"padding": [1, 2, 3, 4]}, (1, 1, 3, 3), (1, 1, 10, 6)),
        Example({"padding": 1}, (1, 1, 1, 3, 3), error="AC204"),
    ]


@register
class ZeroPad3d(_Pad3):
    takes_empty = True
    torch_name = "nn.ZeroPad3d"
    examples = [
        Example({"padding": 1}, (1, 2, 3, 3, 3), (1, 2, 5, 5, 5)),
        Example({"padding": [1, 0, 0, 2, 1, 1]}, (2, 3, 3), (4, 5, 4)),
        Example({"padding": 1}, (3, 3), error="AC204"),
    ]


@register
class ConstantPad3d(_Pad3):
    takes_empty = True
    torch_name = "nn.ConstantPad3d"
    examples = [Example({"padding": [0, 0, 1, 1, -1, 0], "value": 2.0}, (1, 2, 3, 3, 3), (1, 2, 2, 5, 3))]
    value: float


@register
class ReflectionPad3d(_Pad3):
    mode = "reflect"
    torch_name = "nn.ReflectionPad3d"
    examples = [
        Example({"padding": 1}, (1, 2, 2, 2, 4), (1, 2, 4, 4, 6)),
        Example({"padding": 2}, (1, 2, 2, 2, 4), error="AC209"),
        Example({"padding": 1}, (2, 2, 4), error="AC204"),
    ]


@register
class ReplicationPad3d(_Pad3):
    mode = "replicate"
    torch_name = "nn.ReplicationPad3d"
    examples = [Example({"padding": [1, 2, 0, 0, 3, 0]}, (2, 2, 2, 4), (2, 5, 2, 7))]


@register
class CircularPad1d(_Pad1):
    mode = "circular"
    torch_name = "nn.CircularPad1d"
    examples = [
        Example({"padding": [3, 1]}, (1, 2, 4), (1, 2, 8)),
        Example({"padding": 5}, (1, 2, 4), error="AC209"),
        Example({"padding": 1}, (4,), error="AC204"),
    ]


@register
class CircularPad2d(_Pad2):
    mode = "circular"
    torch_name = "nn.CircularPad2d"
    examples = [
        Example({"padding": [1, 1, 2, 0]}, (1, 3, 4, 4), (1, 3, 6, 6)),
        Example({"padding": 1}, (4, 4), error="AC204"),
    ]


@register
class CircularPad3d(_Pad3):
    mode = "circular"
    torch_name = "nn.CircularPad3d"
    examples = [Example({"padding": 1}, (2, 2, 2, 4), (2, 4, 4, 6))]
