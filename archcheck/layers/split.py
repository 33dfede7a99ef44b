"""Split and Chunk: tensor operations with several outputs, addressed by index.

``{name: qkv, type: Split, split_size_or_sections: 64, dim: -1}`` is
``torch.split``; later layers take one of its outputs as ``qkv.0``, ``qkv.1``
(a module name never holds a '.', so the part after the last dot of a name is
an index). Rules follow torch 2.13:

* Split(split_size_or_sections, dim=0): an int ``s`` cuts the dim into parts of
  size ``s``, the last one smaller when ``s`` does not divide it
  (``ceil(L / s)`` parts; one empty part for an empty dim); a list gives each
  part's size and must sum to the dim's size exactly. With an int on a free dim
  the number of parts is unknown: refused (AC235).
* Chunk(chunks, dim=0): parts of size ``ceil(L / chunks)``, the last one
  smaller, so there may be fewer than ``chunks`` parts (6 in 4 chunks is 3 parts
  of 2), as torch.chunk. On a free dim the dim must be a multiple of ``chunks``
  (a condition on the free dim), and then there are ``chunks`` parts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, ClassVar, Union

from pydantic import Field

from ..shapes import dims as D
from ..shapes.dims import Dim
from ._rules import exact_div, take_dim
from .base import Example, Layer, NonNeg, Pos, Tensor, register, tuple_of

if TYPE_CHECKING:  # pragma: no cover
    from .base import Ctx

MAX_PARTS = 10_000  # more outputs than any network uses: a typo (split size 1 of a long dim)


def _parts(ctx: Ctx, x: Tensor, d: int, sizes: list[Dim]) -> Tensor:
    items = []
    for i, s in enumerate(sizes):
        shape = tuple(x.shape[:d]) + (s,) + tuple(x.shape[d + 1 :])
        t = x.derived(shape, ctx.path, origin=f"part {i} of {ctx.path}")
        t.roles = x.roles
        items.append(t)
    return tuple_of(items, ctx.path)


def _too_many(ctx: Ctx, n: int, field: str) -> bool:
    if n <= MAX_PARTS:
        return False
    ctx.error(
        "AC235",
        f"this gives {n:,} outputs, more than archcheck handles ({MAX_PARTS:,})",
        field=field,
        hint="check the size: each output is one tensor of the generated forward",
    )
    return True


@register
class Split(Layer):
    """``torch.split(x, split_size_or_sections, dim)``: several outputs, used as ``name.0``, ``name.1``..."""

    family: ClassVar[str] = "reshape"
    takes_empty: ClassVar[bool] = True
    examples = [
        Example({"split_size_or_sections": 4, "dim": 1}, (2, 12), (2, 4)),
        Example({"split_size_or_sections": 5, "dim": 1}, (2, 12), (2, 5)),
        Example({"split_size_or_sections": [2, 6, 4], "dim": -1}, (2, 3, 12), (2, 3, 2)),
        Example({"split_size_or_sections": [2, 6], "dim": -1}, (2, 3, 12), error="AC236"),
        Example({"split_size_or_sections": 2, "dim": 2}, (2, 3), error="AC208"),
    ]

    outputs_doc: ClassVar[str | None] = "one per part, as name.0, name.1, ... (an index is required)"
    split_size_or_sections: Union[Pos, Annotated[list[NonNeg], Field(min_length=1)]]
    dim: int = 0

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        (x,) = xs
        d = take_dim(ctx, x, self.dim, "Split")
        if d is None:
            return None
        size = x.shape[d]
        s = self.split_size_or_sections
        if isinstance(s, list):
            total = sum(s)
            eq = (
                size == total if isinstance(size, int) else ctx.require_equal(size, total, f"Split sizes along dim {d}")
            )
            if eq is False:
                ctx.error(
                    "AC236",
                    f"split sizes {s} sum to {total}, but dim {self.dim} of the input {x.describe()} has size "
                    f"{D.fmt(size)} ({ctx.source(x)})",
                    field="split_size_or_sections",
                    hint=f"make the sizes sum to {D.fmt(size)}, or give one int for parts of equal size",
                )
                return None
            if _too_many(ctx, len(s), "split_size_or_sections"):
                return None
            return _parts(ctx, x, d, list(s))
        if not isinstance(size, int):
            ctx.error(
                "AC235",
                f"Split into parts of {s} along dim {self.dim} of {x.describe()}: the number of outputs depends "
                f"on the free dim {D.fmt(size)}",
                field="split_size_or_sections",
                dims=D.free_names(size),
                hint="give the sizes as a list (they must sum to the dim), use Chunk with a number of parts, "
                "or give the dim a value",
            )
            return None
        n = max(-(-size // s), 1)
        if _too_many(ctx, n, "split_size_or_sections"):
            return None
        sizes: list[Dim] = [min(s, size - i * s) for i in range(n)]
        return _parts(ctx, x, d, sizes)

    def emit_call(self, ref: str | None, args: list[str]) -> str:
        s = self.split_size_or_sections
        arg = f"[{', '.join(map(str, s))}]" if isinstance(s, list) else str(s)
        return f"{args[0]}.split({arg}, dim={self.dim})"

    def emit_tuple(self, ref: str | None, args: list[str]) -> str:
        return self.emit_call(ref, args)

    def label(self) -> str:
        s = self.split_size_or_sections
        return f"{'/'.join(map(str, s)) if isinstance(s, list) else s} @{self.dim}"


@register
class Chunk(Layer):
    """``torch.chunk(x, chunks, dim)``: up to ``chunks`` outputs, used as ``name.0``, ``name.1``..."""

    family: ClassVar[str] = "reshape"
    takes_empty: ClassVar[bool] = True
    examples = [
        Example({"chunks": 3, "dim": 1}, (2, 12), (2, 4)),
        Example({"chunks": 4, "dim": 1}, (2, 6), (2, 2)),
        Example({"chunks": 2, "dim": -1}, (2, 3, 5), (2, 3, 3)),
        Example({"chunks": 2, "dim": -3}, (2, 3), error="AC208"),
    ]

    outputs_doc: ClassVar[str | None] = "one per chunk, as name.0, name.1, ... (an index is required)"
    chunks: Pos
    dim: int = 0

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        (x,) = xs
        d = take_dim(ctx, x, self.dim, "Chunk")
        if d is None:
            return None
        size, c = x.shape[d], self.chunks
        if _too_many(ctx, c, "chunks"):
            return None
        if isinstance(size, int):
            if size == 0:
                return _parts(ctx, x, d, [0] * c)
            each = -(-size // c)
            n = -(-size // each)
            return _parts(ctx, x, d, [min(each, size - i * each) for i in range(n)])
        q, ok = exact_div(size, c)
        if ok is False:
            ctx.error(
                "AC235",
                f"Chunk into {c} parts along dim {self.dim} of {x.describe()}: {D.fmt(size)} is never a multiple "
                f"of {c}, so the number and sizes of the outputs depend on the free dims",
                field="chunks",
                dims=D.free_names(size),
                hint="use a number of chunks that divides the dim, or Split with a list of sizes",
            )
            return None
        if ok is None:
            ctx.require_equal(D.mul(q, c), size, f"Chunk dim {d} divisible by {c}")
        return _parts(ctx, x, d, [q] * c)

    def emit_call(self, ref: str | None, args: list[str]) -> str:
        return f"{args[0]}.chunk({self.chunks}, dim={self.dim})"

    def emit_tuple(self, ref: str | None, args: list[str]) -> str:
        return self.emit_call(ref, args)

    def label(self) -> str:
        return f"{self.chunks} chunks @{self.dim}"
