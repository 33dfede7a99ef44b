"""Learnable tensors and broadcasting them to the batch: Parameter and Expand.

* Parameter(shape, init, ...): an ``nn.Parameter`` attribute at the layer's
  path, as ViT's ``class_token`` ``[1, 1, D]`` and ``pos_embedding``
  ``[1, L, D]``, ConvNeXt's ``layer_scale`` ``[C, 1, 1]`` or Swin's
  ``relative_position_bias_table``. It takes no input; its output is the
  tensor itself, which Add and Multiply broadcast and Expand takes to the
  batch. torch counts it in ``parameters()`` and the ``state_dict`` under its
  path (``encoder.pos_embedding``). ``init`` says how it is filled:
  ``zeros``, ``ones``, ``constant`` (``value``), ``normal`` (``mean``,
  ``std``), ``trunc_normal`` (``std``, cut at two std as
  ``nn.init.trunc_normal_``'s default bounds ``[-2, 2]`` are widened to
  ``[-2 std, 2 std]``, as timm and torchvision write it) or ``uniform``
  (``a``, ``b``).
* Expand(size): ``x.expand(*size)`` (torch's rule: sizes are aligned on the
  right, -1 keeps a dim, a dim of size 1 becomes any size, new leading dims
  may be added but not as -1). With a second input, ``Expand`` takes the
  sizes of ``like``'s dims named in ``dims`` (default: the batch, ``[0]``)
  and keeps the others: ``class_token.expand(x.shape[0], -1, -1)``, the
  ViT form, written ``{type: Expand, inputs: [class_token, x]}``.
"""

from __future__ import annotations

from collections.abc import Callable
from math import prod
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal, Optional

from pydantic import Field, PrivateAttr, field_validator

from ..shapes import dims as D
from ..shapes.dims import Dim
from .base import Example, Layer, Tensor, TorchLeaf, register

if TYPE_CHECKING:  # pragma: no cover
    from .base import Ctx

Init = Literal["zeros", "ones", "constant", "normal", "trunc_normal", "uniform"]


@register
class Parameter(Layer):
    """A learnable tensor (``nn.Parameter``); no input."""

    family: ClassVar[str] = "other"
    arity: ClassVar[tuple[int, int | None]] = (0, 0)
    torch_name: ClassVar[str | None] = "nn.Parameter"

    shape: Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=1, max_length=8)]
    init: Init = "zeros"
    value: float = 0.0
    mean: float = 0.0
    std: float = 1.0
    a: float = 0.0
    b: float = 1.0

    @field_validator("std")
    @classmethod
    def _std(cls, v: float) -> float:
        if not v > 0:
            raise ValueError("std must be > 0")
        return v

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        return Tensor(tuple(self.shape), "float32", ctx.path, origin=f"the parameter {ctx.path}")

    def roles(self, ctx: Ctx, xs: list[Tensor], out: Tensor) -> tuple[str, ...] | None:
        return None

    def param_count(self) -> int:
        return prod(self.shape)

    def macs(self, xs: list[Tensor], out: Tensor) -> int | None:
        return 0

    def torch_leaves(self, out: Tensor) -> list[TorchLeaf]:
        """None: a Parameter is no module. torchinfo (1.8) counts it in the holder's row and in the
        total params (``leftover_params``), but its mult-adds, forward/backward and params size
        sum leaf modules only, and the holder (the model, a block) has children."""
        return []

    def label(self) -> str:
        return self.init

    def init_expr(self, num: Callable[[str, int | float], str] | None = None) -> str:
        """The ``nn.Parameter(...)`` expression for ``__init__`` (only numbers from validated fields).

        ``num(field, value)`` writes each number (each size of ``shape``, ``value``, ...): a block class's
        generator writes a constructor parameter where the value differs between instances (``dim``).
        """
        w: Callable[[str, int | float], str] = num or (lambda f, v: repr(v))
        dims = ", ".join(w("shape", int(s)) for s in self.shape)
        if self.init == "zeros":
            t = f"torch.zeros({dims})"
        elif self.init == "ones":
            t = f"torch.ones({dims})"
        elif self.init == "constant":
            t = f"torch.full(({dims}{',' if len(self.shape) == 1 else ''}), {w('value', float(self.value))})"
        elif self.init == "normal":
            t = f"torch.empty({dims}).normal_(mean={w('mean', float(self.mean))}, std={w('std', float(self.std))})"
        elif self.init == "trunc_normal":
            std = float(self.std)
            t = f"nn.init.trunc_normal_(torch.empty({dims}), std={w('std', std)}, a={-2 * std!r}, b={2 * std!r})"
        else:
            t = f"torch.empty({dims}).uniform_({w('a', float(self.a))}, {w('b', float(self.b))})"
        return f"nn.Parameter({t})"

    def emit_call(self, ref: str | None, args: list[str]) -> str:
        assert ref is not None
        return ref


def _expand(ctx: Ctx, x: Tensor, size: list[Dim], field: str) -> list[Dim] | None:
    """torch's expand rule; reports AC216 when it does not hold."""
    if len(size) < x.rank:
        ctx.error(
            "AC216",
            f"Expand needs at least as many sizes as the input has dims: {len(size)} sizes for {x.describe()}",
            field=field,
            hint="give one size per dim (-1 keeps a dim)",
        )
        return None
    lead = len(size) - x.rank
    out: list[Dim] = []
    for i, s in enumerate(size):
        if i < lead:
            if s == -1:
                ctx.error(
                    "AC216",
                    f"Expand cannot add a new leading dim of size -1 (size {i} of "
                    f"[{', '.join(D.fmt(v) for v in size)}])",
                    field=field,
                    hint="give the new dim's size",
                )
                return None
            out.append(s)
            continue
        d = x.shape[i - lead]
        if s == -1 or (type(s) is type(d) and s == d):
            out.append(d)
        elif d == 1:
            out.append(s)
        elif isinstance(s, int) and isinstance(d, int):
            ctx.error(
                "AC216",
                f"Expand cannot make dim {i - lead} of {x.describe()} size {s}: only a dim of size 1 "
                "can be expanded (or -1 to keep it)",
                field=field,
                hint=f"write -1 (keeps {d}), or expand a tensor whose dim {i - lead} is 1",
            )
            return None
        else:
            eq = ctx.require_equal(s, d, f"Expand dim {i - lead}")
            if eq is False:
                ctx.error(
                    "AC216",
                    f"Expand cannot make dim {i - lead} ({D.fmt(d)}) of {x.describe()} size {D.fmt(s)}",
                    field=field,
                    hint="only a dim of size 1 can be expanded; write -1 to keep it",
                )
                return None
            out.append(d)
    return out


@register
class Expand(Layer):
    """``x.expand(*size)``, or ``x.expand`` to the sizes of a second input's ``dims``."""

    family: ClassVar[str] = "reshape"
    arity: ClassVar[tuple[int, int | None]] = (1, 2)
    takes_empty: ClassVar[bool] = True
    examples = [
        Example({"size": [4, -1, -1]}, (1, 3, 5), (4, 3, 5)),
        Example({"size": [2, 4, 3, 5]}, (4, 1, 5), (2, 4, 3, 5)),
        Example({"size": [-1, 4]}, (3, 1), (3, 4)),
        Example({"size": [4, 3, 6]}, (1, 3, 5), error="AC216"),
        Example({"size": [-1, 3, 5]}, (3, 5), error="AC216"),
        Example({"size": [5]}, (3, 5), error="AC216"),
        Example({"inputs": ["x", "y"]}, (1, 1, 8), (6, 1, 8), extra={"y": (6, 5, 8)}),
        Example({"inputs": ["x", "y"], "dims": [0, 1]}, (1, 1, 8), (6, 5, 8), extra={"y": (6, 5, 8)}),
    ]

    size: Optional[Annotated[list[int], Field(min_length=1, max_length=16)]] = None
    dims: Optional[Annotated[list[int], Field(min_length=1, max_length=16)]] = None
    # The rank of the inputs, once checked: with a second input the code then names each size
    # (``x.expand(like.shape[0], -1, -1)``, torchvision's form, which torch.fx can trace).
    _rank: int | None = PrivateAttr(default=None)

    @field_validator("size")
    @classmethod
    def _size(cls, v: Optional[list[int]]) -> Optional[list[int]]:
        if v is not None and any(s < -1 for s in v):
            raise ValueError("sizes must be >= 0, or -1 to keep a dim")
        return v

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        x = xs[0]
        if len(xs) == 1:
            if self.size is None:
                ctx.error(
                    "AC104",
                    "Expand needs size (x.expand(*size)), or a second input whose dims it copies",
                    field="type",
                    hint="add size: [N, -1, -1], or inputs: [this, like] to expand to like's batch",
                )
                return None
            if self.dims is not None:
                ctx.error("AC104", "dims names dims of a second input, and Expand has one", field="dims")
                return None
            sizes: list[Dim] = list(self.size)
            field = "size"
        else:
            like = xs[1]
            if self.size is not None:
                ctx.error("AC104", "Expand takes size or a second input, not both", field="size", hint="drop size")
                return None
            want = self.dims if self.dims is not None else [0]
            if like.rank != x.rank:
                ctx.error(
                    "AC216",
                    f"Expand to a second input needs the same rank: {x.describe()} and {like.describe()}",
                    field="inputs",
                    hint="Reshape or Unsqueeze one of them first",
                )
                return None
            norm = []
            for d in want:
                if not -x.rank <= d < x.rank:
                    ctx.error("AC208", f"dims entry {d} is out of range for {x.rank}-D inputs", field="dims")
                    return None
                norm.append(d % x.rank)
            sizes = [like.shape[i] if i in norm else -1 for i in range(x.rank)]
            field = "dims" if self.dims is not None else "inputs"
            self._rank = x.rank
        out = _expand(ctx, x, sizes, field)
        if out is None:
            return None
        return Tensor(tuple(out), x.dtype, ctx.path)

    def roles(self, ctx: Ctx, xs: list[Tensor], out: Tensor) -> tuple[str, ...] | None:
        if len(xs) == 2 and xs[1].roles is not None and len(xs[1].roles) == out.rank:
            return xs[1].roles
        r = xs[0].roles
        return r if r is not None and len(r) == out.rank else None

    def label(self) -> str:
        if self.size is not None:
            return "[" + ", ".join(str(s) for s in self.size) + "]"
        return "to dims " + ",".join(str(d) for d in (self.dims or [0]))

    def emit_call(self, ref: str | None, args: list[str]) -> str:
        if len(args) == 1:
            if self.size is None:  # never checked ok (Expand without size needs a second input)
                return args[0]
            return f"{args[0]}.expand({', '.join(str(int(s)) for s in self.size)})"
        x, like = args
        want = sorted({int(d) for d in (self.dims if self.dims is not None else [0])})
        if self._rank is not None:  # checked: dims are in range
            named = {d % self._rank for d in want}
            return f"{x}.expand({', '.join(f'{like}.shape[{d}]' if d in named else '-1' for d in range(self._rank))})"
        if want == [0]:
            return f"{x}.expand({like}.shape[0], *{x}.shape[1:])"
        keep = ", ".join(str(d) for d in want) + ("," if len(want) == 1 else "")
        return (
            f"{x}.expand([size_ if dim_ in ({keep}) or dim_ - {like}.dim() in ({keep}) else -1"
            f" for dim_, size_ in enumerate({like}.shape)])"
        )
