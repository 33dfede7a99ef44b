"""Shape operations: Unflatten (an nn module) and the tensor operations Reshape,
Permute, Transpose, Select and Mean (no nn module: emitted as tensor methods).

Rules follow torch 2.13:

* Unflatten(dim, unflattened_size): the sizes (one may be -1) multiply to the
  size of ``dim``.
* Reshape(shape): entries are ints >= 1, one -1 at most, or the name of a free
  dim of the input (``[N, -1]``). The element count must match (when it
  depends on free dims, the condition is recorded). archcheck's own rule,
  beyond torch: **the batch dim must survive**: the output's dim 0 must equal
  the input's dim 0, whether written as -1, as the batch's name, or as an int.
  This catches ``x.view(-1, 392)`` turning a batch of 4 into 16. A reshape
  that only regroups whole leading dims into dim 0 (``view(-1, F)`` on a
  sequence-first ``[S, B, F]``, or back) keeps each row a whole slice of the
  input and is allowed. A free-dim name is emitted as ``x.size(0)`` in
  position 0, elsewhere as the one -1; a name that was given a value
  (``--dim N=4``) stands for that value.
* Permute(dims): a permutation of the input's dims (negative dims wrap).
* Transpose(dim0, dim1), Select(dim, index) (index within the dim's size;
  not on a 0-D tensor), Mean(dim, keepdim) (float input; a dim listed twice
  is refused; dim null or [] reduces all dims).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Optional, Union

from pydantic import Field, field_validator

from ..shapes import dims as D
from ..shapes.dims import Dim
from . import roles as R
from ._rules import dim_error, exact_div, need_float, same, take_dim, wrap_dim
from .base import Example, Layer, Tensor, register

if TYPE_CHECKING:  # pragma: no cover
    from .base import Ctx


def _same(a: Dim, b: Dim) -> bool:
    """Equal as written (no sympy work): the same int, the same name, or the same expression."""
    return type(a) is type(b) and a == b


def _sizes_ok(v: list[int]) -> list[int]:
    if any(s == 0 or s < -1 for s in v):
        raise ValueError("sizes must be >= 1, or -1 for the one size to infer")
    if v.count(-1) > 1:
        raise ValueError("only one size can be -1 (inferred)")
    return v


def _split(ctx: Ctx, what: str, total: Dim, sizes: list[Dim], field: str, x: Tensor) -> list[Dim] | None:
    """Resolve one -1 in ``sizes`` so that they multiply to ``total``; report a mismatch."""
    known = D.prod(s for s in sizes if s != -1)
    shown = "[" + ", ".join(D.fmt(s) for s in sizes) + "]"
    if -1 in sizes:
        q, ok = exact_div(total, known) if isinstance(known, int) else (None, None)
        if q is None:  # the known part has free dims: divide symbolically
            sp = D.sp()
            qe = sp.simplify(D.to_expr(total) / D.to_expr(known))
            q, ok = D.normalize(qe), None
            if qe.is_Integer or (
                getattr(qe, "is_polynomial", lambda: False)()
                and qe.as_poly() is not None
                and all(getattr(c, "is_Integer", False) for c in qe.as_poly().coeffs())
            ):
                ok = True
            else:
                q = D.normalize(sp.floor(qe))
        if ok is False:
            ctx.error(
                "AC216",
                f"{what}: {D.fmt(total)} elements cannot be split into {shown}: "
                f"{D.fmt(total)} is not divisible by {D.fmt(known)} (input {x.describe()}, {ctx.source(x)})",
                field=field,
                hint=f"make the known sizes multiply to a divisor of {D.fmt(total)}",
            )
            return None
        if ok is None:
            ctx.require_equal(D.mul(q, known), total, f"{what} element count")
        return [q if s == -1 else s for s in sizes]
    eq = same(total, known)
    if eq is None:
        eq = ctx.require_equal(known, total, f"{what} element count")
    if eq is False:
        ctx.error(
            "AC216",
            f"{what}: {shown} holds {D.fmt(known)} elements, but the input has {D.fmt(total)} "
            f"(input {x.describe()}, {ctx.source(x)})",
            field=field,
            hint="use -1 for one size to have it inferred",
        )
        return None
    return list(sizes)


@register
class Unflatten(Layer):
    takes_empty: ClassVar[bool] = True
    family: ClassVar[str] = "reshape"
    torch_name = "nn.Unflatten"
    examples = [
        Example({"dim": 1, "unflattened_size": [32, 7, 7]}, (4, 1568), (4, 32, 7, 7)),
        Example({"dim": -1, "unflattened_size": [-1, 2]}, (3, 6), (3, 3, 2)),
        Example({"dim": 1, "unflattened_size": [4, 2]}, (3, 6), error="AC216"),
        Example({"dim": 2, "unflattened_size": [2, 3]}, (3, 6), error="AC208"),
    ]

    dim: int
    unflattened_size: Annotated[list[int], Field(min_length=1)]

    @field_validator("unflattened_size")
    @classmethod
    def _sizes(cls, v: list[int]) -> list[int]:
        return _sizes_ok(v)

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        (x,) = xs
        d = wrap_dim(self.dim, x.rank) if x.rank else None
        if d is None:
            dim_error(ctx, "dim", self.dim, x)
            return None
        sizes = _split(ctx, "Unflatten", x.shape[d], list(self.unflattened_size), "unflattened_size", x)
        if sizes is None:
            return None
        return x.derived(tuple(x.shape[:d]) + tuple(sizes) + tuple(x.shape[d + 1 :]), ctx.path)

    def roles(self, ctx: Ctx, xs: list[Tensor], out: Tensor) -> tuple[str, ...] | None:
        """The dims around the split keep their roles; the new dims' roles are unknown."""
        (x,) = xs
        r, d = R.keep(x.roles, x.rank), wrap_dim(self.dim, x.rank)
        if r is None or d is None:
            return None
        out_r = r[:d] + (R.UNKNOWN,) * len(self.unflattened_size) + r[d + 1 :]
        return out_r if any(out_r) else None

    def label(self) -> str:
        return f"dim {self.dim} → {self.unflattened_size}"


def _regroups_leading(shape: tuple[Dim, ...], sizes: list[Dim]) -> bool:
    """Whether a reshape only merges whole leading dims into dim 0 (``[S, B, F] -> [S*B, F]``) or splits
    dim 0 into leading dims (``[S*B, F] -> [S, B, F]``), keeping every later dim as it is.

    Each row of dim 0 is then a whole slice of the input, as with torch's ``x.view(-1, F)`` on a
    sequence-first ``[S, B, F]``; the batch is mixed up only when a row would hold part of a sample
    (or parts of several), which is what AC217 reports.
    """
    for a, b in ((shape, tuple(sizes)), (tuple(sizes), shape)):
        for k in range(2, len(a) + 1):
            if same(D.prod(a[:k]), b[0]) is True and len(a) - k == len(b) - 1:
                if all(same(p, q) is True for p, q in zip(a[k:], b[1:])):
                    return True
    return False


@register
class Reshape(Layer):
    takes_empty: ClassVar[bool] = True
    family: ClassVar[str] = "reshape"
    examples = [
        Example({"shape": [-1, 1, 28, 28]}, (4, 784), (4, 1, 28, 28)),
        Example({"shape": [4, 8, -1]}, (4, 2, 4, 4), (4, 8, 4)),
        Example({"shape": [-1, 392]}, (4, 1568), error="AC217"),
        Example({"shape": [-1, 392]}, (4, 32, 7, 7), error="AC217"),
        Example({"shape": [-1, 16]}, (5, 4, 16), (20, 16)),  # view(-1, F) on a sequence-first [S, B, F]
        Example({"shape": [5, 4, 16]}, (20, 16), (5, 4, 16)),  # and back
        Example({"shape": [-1]}, (4, 6), (24,)),
        Example({"shape": [4, 5]}, (4, 6), error="AC216"),
        Example({"shape": [4, -1, 5]}, (4, 6), error="AC216"),
    ]

    shape: Annotated[list[Union[int, str]], Field(min_length=1)]

    @field_validator("shape")
    @classmethod
    def _entries(cls, v: list[Any]) -> list[Any]:
        _sizes_ok([s for s in v if isinstance(s, int)])
        return v

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        (x,) = xs
        free = {n for d in x.shape for n in D.free_names(d)}
        names = [s for s in self.shape if isinstance(s, str)]
        for s in names:
            if s not in free and ctx.value(s) is None:
                ctx.error(
                    "AC104",
                    f"shape names '{s}', which is not a free dim of the input {x.describe()}",
                    field="shape",
                    hint="use an int, -1, or the name of one of the input's free dims"
                    + (f" ({', '.join(sorted(free))})" if free else ""),
                )
                return None
        later = [s for s in self.shape[1:] if isinstance(s, str)]
        if len(later) > 1 or (later and -1 in self.shape):
            ctx.error(
                "AC104",
                "Reshape can name a free dim after the first entry only as the one size to infer: write -1 for it",
                field="shape",
            )
            return None
        total = D.prod(x.shape)
        # A named dim that was given a value (--dim N=4, dims:, explore, verify) stands for that value.
        written: list[Dim] = [v if isinstance(s, str) and (v := ctx.value(s)) is not None else s for s in self.shape]
        sizes = _split(ctx, "Reshape", total, written, "shape", x)
        if sizes is None:
            return None
        if x.rank >= 1:
            out0, in0 = sizes[0], x.shape[0]
            if same(out0, in0) is not True and not _regroups_leading(x.shape, sizes):
                keep = [D.fmt(in0)] + [str(s) for s in self.shape[1:]]
                alt = [D.fmt(in0), "-1"] if -1 in self.shape[1:] or len(self.shape) == 1 else keep
                ctx.error(
                    "AC217",
                    f"Reshape to {list(self.shape)} makes dim 0 {D.fmt(out0)}, but the input's batch dim is "
                    f"{D.fmt(in0)} (input {x.describe()}, {ctx.source(x)}): the batch would be mixed up",
                    field="shape",
                    hint=f"keep the batch first: shape: [{', '.join(alt)}]"
                    + (", with -1 for one of the other sizes" if alt is keep else ""),
                )
                return None
        return x.derived(tuple(sizes), ctx.path)

    def roles(self, ctx: Ctx, xs: list[Tensor], out: Tensor) -> tuple[str, ...] | None:
        """Best effort: dims equal at the start and at the end keep their roles; a single dim made by
        merging the ones between gets their merged role; anything else is unknown."""
        (x,) = xs
        r = R.keep(x.roles, x.rank)
        if r is None:
            return None
        a, b = x.shape, out.shape
        i = 0
        while i < min(len(a), len(b)) and _same(a[i], b[i]):
            i += 1
        j = 0
        while j < min(len(a), len(b)) - i and _same(a[len(a) - 1 - j], b[len(b) - 1 - j]):
            j += 1
        mid_in, n_mid = r[i : len(a) - j], len(b) - i - j
        mid = (R.merged(mid_in),) if n_mid == 1 and mid_in else (R.UNKNOWN,) * n_mid
        out_r = r[:i] + mid + r[len(a) - j :]
        return out_r if any(out_r) else None

    def emit_call(self, ref: str | None, args: list[str]) -> str:
        (a,) = args
        parts = []
        for i, s in enumerate(self.shape):
            parts.append(f"{a}.size(0)" if isinstance(s, str) and i == 0 else "-1" if isinstance(s, str) else str(s))
        return f"{a}.reshape({', '.join(parts)})"

    def label(self) -> str:
        return str(list(self.shape))


@register
class Permute(Layer):
    takes_empty: ClassVar[bool] = True
    family: ClassVar[str] = "reshape"
    examples = [
        Example({"dims": [0, 2, 3, 1]}, (2, 3, 4, 5), (2, 4, 5, 3)),
        Example({"dims": [0, -1, 1]}, (2, 3, 4), (2, 4, 3)),
        Example({"dims": [0, 2, 1]}, (2, 3, 4, 5), error="AC204"),
        Example({"dims": [0, 2, -1]}, (2, 3, 4), error="AC104"),
        Example({"dims": [0, 3, 1]}, (2, 3, 4), error="AC208"),
    ]

    dims: list[int]

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        (x,) = xs
        if len(self.dims) != x.rank:
            ctx.error(
                "AC204",
                f"Permute with dims {self.dims} needs a {len(self.dims)}-D input, but its input is {x.describe()} "
                f"({x.rank}-D, {ctx.source(x)})",
                field="dims",
                hint=f"list each of the input's {x.rank} dims once",
            )
            return None
        w = []
        for d in self.dims:
            v = wrap_dim(d, x.rank)
            if v is None:
                dim_error(ctx, "dims", d, x)
                return None
            w.append(v)
        if len(set(w)) != len(w):
            ctx.error("AC104", f"dims {self.dims} name a dim twice: not a permutation", field="dims")
            return None
        R.warn_moved_batch(ctx, "Permute", x, w, "dims")
        return x.derived(tuple(x.shape[i] for i in w), ctx.path)

    def roles(self, ctx: Ctx, xs: list[Tensor], out: Tensor) -> tuple[str, ...] | None:
        (x,) = xs
        return R.permuted(x.roles, [i % x.rank for i in self.dims])

    def emit_call(self, ref: str | None, args: list[str]) -> str:
        return f"{args[0]}.permute({', '.join(map(str, self.dims)) or '()'})"

    def label(self) -> str:
        return str(self.dims)


@register
class Transpose(Layer):
    takes_empty: ClassVar[bool] = True
    family: ClassVar[str] = "reshape"
    examples = [
        Example({"dim0": 1, "dim1": 2}, (2, 3, 4), (2, 4, 3)),
        Example({"dim0": 0, "dim1": -1}, (3, 4), (4, 3)),
        Example({"dim0": 1, "dim1": 3}, (2, 3, 4), error="AC208"),
    ]

    dim0: int
    dim1: int

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        (x,) = xs
        a, b = wrap_dim(self.dim0, x.rank), wrap_dim(self.dim1, x.rank)
        for f, v, w in (("dim0", self.dim0, a), ("dim1", self.dim1, b)):
            if w is None:
                dim_error(ctx, f, v, x)
                return None
        assert a is not None and b is not None
        if x.rank == 0:
            return x.derived((), ctx.path)
        s = list(x.shape)
        s[a], s[b] = s[b], s[a]
        order = list(range(x.rank))
        order[a], order[b] = order[b], order[a]
        R.warn_moved_batch(ctx, "Transpose", x, order, "dim0")
        return x.derived(tuple(s), ctx.path)

    def roles(self, ctx: Ctx, xs: list[Tensor], out: Tensor) -> tuple[str, ...] | None:
        (x,) = xs
        if x.rank == 0:
            return None
        order = list(range(x.rank))
        a, b = self.dim0 % x.rank, self.dim1 % x.rank
        order[a], order[b] = order[b], order[a]
        return R.permuted(x.roles, order)

    def emit_call(self, ref: str | None, args: list[str]) -> str:
        return f"{args[0]}.transpose({self.dim0}, {self.dim1})"

    def label(self) -> str:
        return f"{self.dim0}↔{self.dim1}"


@register
class Select(Layer):
    takes_empty: ClassVar[bool] = True
    family: ClassVar[str] = "reshape"
    examples = [
        Example({"dim": 1, "index": -1}, (2, 5, 8), (2, 8)),
        Example({"dim": 0, "index": 0}, (3,), ()),
        Example({"dim": 1, "index": 5}, (2, 5, 8), error="AC218"),
        Example({"dim": 3, "index": 0}, (2, 5, 8), error="AC208"),
    ]

    dim: int
    index: int

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        (x,) = xs
        d = take_dim(ctx, x, self.dim, "Select")
        if d is None:
            return None
        size = x.shape[d]
        i = self.index
        if isinstance(size, int):
            if not -size <= i < size:
                ctx.error(
                    "AC218",
                    f"index {i} is out of range for dim {self.dim} of size {size} (input {x.describe()}, "
                    f"{ctx.source(x)}; valid: {-size} to {size - 1})",
                    field="index",
                )
                return None
        elif i not in (0, -1):  # 0 and -1 fit any size >= 1
            bound = i + 1 if i >= 0 else -i
            ctx.warn(
                "AC306",
                f"index {i} needs dim {self.dim} (size {D.fmt(size)}) to be at least {bound}",
                field="index",
                dims=D.free_names(size),
            )
        R.warn_batch_dims(ctx, "Select", x, [d], "dim", "AC405")
        return x.derived(tuple(x.shape[:d]) + tuple(x.shape[d + 1 :]), ctx.path)

    def roles(self, ctx: Ctx, xs: list[Tensor], out: Tensor) -> tuple[str, ...] | None:
        (x,) = xs
        r = R.keep(x.roles, x.rank)
        if r is None:
            return None
        d = self.dim % x.rank
        return r[:d] + r[d + 1 :] or None

    def emit_call(self, ref: str | None, args: list[str]) -> str:
        return f"{args[0]}.select({self.dim}, {self.index})"

    def label(self) -> str:
        return f"[{self.dim}]={self.index}"


@register
class Mean(Layer):
    takes_empty: ClassVar[bool] = True
    family: ClassVar[str] = "pool"
    drawn_layout: ClassVar[str | None] = "cf"
    examples = [
        Example({"dim": [2, 3]}, (2, 8, 5, 5), (2, 8)),
        Example({"dim": -1, "keepdim": True}, (2, 8, 5), (2, 8, 1)),
        Example({}, (2, 3), ()),
        Example({"dim": [1, -2]}, (2, 8, 5), error="AC104"),
        Example({"dim": 3}, (2, 8, 5), error="AC208"),
    ]

    dim: Optional[Union[int, list[int]]] = None
    keepdim: bool = False

    method: ClassVar[str] = "mean"  # the tensor method; Sum (arith.py) shares this rule

    def out_dtype(self, ctx: Ctx, x: Tensor) -> str | None:
        """The output's dtype, or None after reporting an input dtype the reduction refuses."""
        return x.dtype if need_float(ctx, x, "Mean") else None

    def _dims(self) -> list[int]:
        return self.dim if isinstance(self.dim, list) else [] if self.dim is None else [self.dim]

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        (x,) = xs
        dtype = self.out_dtype(ctx, x)
        if dtype is None:
            return None
        dims = self._dims()
        w = []
        for d in dims:
            v = wrap_dim(d, x.rank)
            if v is None:
                dim_error(ctx, "dim", d, x)
                return None
            if v in w:
                ctx.error("AC104", f"dim {v} appears twice in dim={self.dim}", field="dim")
                return None
            w.append(v)
        red = set(w) if dims else set(range(x.rank))
        R.warn_batch_dims(ctx, type(self).__name__, x, sorted(red), "dim", "AC405")
        if self.keepdim:
            shape = tuple(1 if i in red else s for i, s in enumerate(x.shape))
        else:
            shape = tuple(s for i, s in enumerate(x.shape) if i not in red)
        return Tensor(shape, dtype, ctx.path)

    def roles(self, ctx: Ctx, xs: list[Tensor], out: Tensor) -> tuple[str, ...] | None:
        (x,) = xs
        r = R.keep(x.roles, x.rank)
        if r is None or self.keepdim or x.rank == 0:
            return r
        dims = self._dims()
        red = {d % x.rank for d in dims} if dims else set(range(x.rank))
        return tuple(q for i, q in enumerate(r) if i not in red) or None

    def emit_call(self, ref: str | None, args: list[str]) -> str:
        keep = ", keepdim=True" if self.keepdim else ""
        if self.dim is None or self.dim == []:
            return f"{args[0]}.{self.method}(dim=None{keep})" if keep else f"{args[0]}.{self.method}()"
        return f"{args[0]}.{self.method}(dim={self.dim}{keep})"

    def label(self) -> str:
        return f"dim {self.dim}"
