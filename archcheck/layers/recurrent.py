"""Embedding and the recurrent layers LSTM, GRU and RNN.

Rules follow torch 2.13 (``torch/nn/modules/sparse.py``, ``rnn.py``):

* Embedding takes integer indices (dtype long/int64 or int32) of any shape
  and appends ``embedding_dim``; the output is float32. ``padding_idx`` must
  lie in ``[-num_embeddings, num_embeddings)``. Indices whose values are
  known (Arange's positions) must be below ``num_embeddings``: AC265, or on a
  free dim the maximum it implies (``T <= num_embeddings``, AC266).
* LSTM/GRU/RNN take [L, N, H_in] ([N, L, H_in] with batch_first) or
  unbatched [L, H_in], of a floating dtype, with H_in == input_size. The spec
  keeps the first output: the input's leading dims and ``D * H_out`` (D = 2
  when bidirectional; H_out = proj_size if set, else hidden_size).
  ``proj_size`` must be smaller than ``hidden_size``.
* The initial state is optional: a second input h_0 (GRU, RNN), or a second and
  third (LSTM: h_0 and c_0, called as ``lstm(x, (h_0, c_0))``), each
  [D * num_layers, N, H_out] (c_0: hidden_size), without N for an unbatched
  input: a seq2seq decoder takes ``[tgt, enc.1.0, enc.1.1]``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, ClassVar, Literal, Optional

from pydantic import Field

from ..shapes import dims as D
from . import roles as R
from ._rules import INTS, check_padding_idx, expect_rank, match_size, need_float, same
from .base import Example, Layer, NonNeg, Pos, Prob, Tensor, TorchLeaf, numel_per, register, tuple_of

if TYPE_CHECKING:  # pragma: no cover
    from .base import Ctx


@register
class Embedding(Layer):
    family: ClassVar[str] = "embedding"
    drawn_layout: ClassVar[str | None] = "cl"
    torch_name = "nn.Embedding"
    examples = [
        Example({"num_embeddings": 100, "embedding_dim": 16}, (2, 7), (2, 7, 16), extra={"dtype": "long"}),
        Example({"num_embeddings": 10, "embedding_dim": 4, "padding_idx": 0}, (5,), (5, 4), extra={"dtype": "int32"}),
        Example({"num_embeddings": 10, "embedding_dim": 4}, (2, 7), error="AC214"),
        Example(
            {"num_embeddings": 10, "embedding_dim": 4, "padding_idx": 10},
            (2, 7),
            error="AC108",
            extra={"dtype": "long"},
            fixed={"padding_idx": 9},
        ),
    ]

    num_embeddings: Pos
    embedding_dim: Pos
    padding_idx: Optional[int] = None
    max_norm: Optional[float] = None
    norm_type: float = 2.0
    scale_grad_by_freq: bool = False
    sparse: bool = False

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        (x,) = xs
        n = self.num_embeddings
        check_padding_idx(ctx, self.padding_idx, n)
        if x.dtype not in INTS:
            ctx.error(
                "AC214",
                f"Embedding looks up integer indices, but its input has dtype {x.dtype} ({ctx.source(x)})",
                hint="give the input dtype: long (token ids), or use Linear for float features",
            )
            return None
        if x.values is not None:
            _check_indices(ctx, x, n)
        return Tensor(tuple(x.shape) + (self.embedding_dim,), "float32", ctx.path)

    def roles(self, ctx: Ctx, xs: list[Tensor], out: Tensor) -> tuple[str, ...] | None:
        (x,) = xs
        return (R.keep(x.roles, x.rank) or (R.UNKNOWN,) * x.rank) + (R.FEATURES,)

    def param_count(self) -> int:
        return self.num_embeddings * self.embedding_dim

    def param_shapes(self) -> dict[str, tuple[int, ...]] | None:
        return {"weight": (self.num_embeddings, self.embedding_dim)}

    def label(self) -> str:
        return f"{self.num_embeddings}→{self.embedding_dim}"


def _check_indices(ctx: Ctx, x: Tensor, n: int) -> None:
    """Indices whose values are known (Arange's positions) must be below ``num_embeddings``.

    A known largest index is checked now (AC265); one that depends on a free dim (positions up to
    ``T - 1``) records the condition ``n - 1 - (T - 1) >= 0``, which the solver states as a maximum of
    the free dim (AC266: ``T <= block_size``).
    """
    assert x.values is not None
    top = x.values[1]
    what = f"{ctx.path} looks up {ctx.source(x)} in its {n} embeddings (num_embeddings={n})"
    if isinstance(top, int):
        if top >= n:
            ctx.error(
                "AC265",
                f"{what}: index {top} is out of range (valid: 0 to {n - 1}); torch raises IndexError",
                field="num_embeddings",
                hint=f"make the sequence shorter (at most {n} positions), or raise num_embeddings to {top + 1}",
                recover=True,  # the output's shape does not depend on the values
            )
        return
    ctx.require_min(D.add(n - 1, D.mul(-1, top)), 0, what)


class _RNNBase(Layer):
    family: ClassVar[str] = "recurrent"
    drawn_layout: ClassVar[str | None] = "cl"
    tuple_output: ClassVar[bool] = True
    outputs_doc: ClassVar[str | None] = "(output, h_n) as name.0, name.1; the name alone is output"
    gates: ClassVar[int] = 1
    arity: ClassVar[tuple[int, int | None]] = (1, 2)  # x, or x and h_0 (LSTM: x, h_0, c_0)

    input_size: Optional[Pos] = None
    hidden_size: Pos
    num_layers: Pos = 1
    if TYPE_CHECKING:  # a field of each subclass, placed in torch's argument order there
        batch_first: bool

    def _proj(self) -> int:
        return 0

    def _h_out(self) -> int:
        return self._proj() or self.hidden_size

    def _dirs(self) -> int:
        return 2 if self.bidirectional else 1  # type: ignore[attr-defined]

    def _state_shapes(self, x: Tensor) -> list[tuple[str, tuple[D.Dim, ...]]]:
        """The initial states' names and shapes: h_0 [D * num_layers, N, H_out] (never batch-first;
        unbatched: no N), and LSTM's c_0 [D * num_layers, N, hidden_size]."""
        batch = () if x.rank == 2 else (x.shape[0] if self.batch_first else x.shape[1],)
        lead = (self._dirs() * self.num_layers, *batch)
        out = [("h_0", lead + (self._h_out(),))]
        if self.gates == 4:
            out.append(("c_0", lead + (self.hidden_size,)))
        return out

    def _check_states(self, ctx: Ctx, x: Tensor, states: list[Tensor]) -> bool:
        """The initial state (a seq2seq decoder starts from its encoder's h_n, c_n): torch's shapes."""
        what = type(self).__name__
        want = self._state_shapes(x)
        names = ", ".join(n for n, _ in want)
        if len(states) != len(want):
            ctx.error(
                "AC104",
                f"{what} takes its input alone or with its initial state ({names}): "
                f"{1 + len(want)} inputs, got {1 + len(states)}",
                field="inputs",
                hint=f"inputs: [x, {names}] (e.g. an encoder's h_n, c_n: enc.1.0, enc.1.1), or only x for a zero state",
            )
            return False
        for t, (nm, shape) in zip(states, want):
            if not need_float(ctx, t, what):
                return False
            if t.rank != len(shape) or any(same(a, b) is False for a, b in zip(t.shape, shape)):
                ctx.error(
                    "AC250",
                    f"{what}'s {nm} must be {D.fmt_shape(shape)} (num_layers={self.num_layers}"
                    + (" x 2 directions" if self._dirs() == 2 else "")
                    + f", the input's batch, {'hidden_size' if nm == 'c_0' else 'H_out'}={shape[-1]}), "
                    f"but it is {t.describe()} ({ctx.source(t)})",
                    field="inputs",
                    hint=f"give {nm} the shape {D.fmt_shape(shape)} (num_layers and hidden_size as the layer whose "
                    "state it is), or leave the state out (a zero state)",
                    recover=True,  # the output does not depend on the state's shape
                )
                return True
            for a, b in zip(t.shape, shape):
                if same(a, b) is None:
                    ctx.require_equal(a, b, f"{what} {nm} shape")
        return True

    def emit_call(self, ref: str | None, args: list[str]) -> str:
        return self.emit_tuple(ref, args) + "[0]"

    def emit_tuple(self, ref: str | None, args: list[str]) -> str:
        if len(args) == 3:  # LSTM: lstm(x, (h_0, c_0))
            return f"{ref}({args[0]}, ({args[1]}, {args[2]}))"
        return f"{ref}({', '.join(args)})"

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        x, states = xs[0], xs[1:]
        what = type(self).__name__
        if self._proj() >= self.hidden_size:
            ctx.error(
                "AC108",
                f"proj_size={self._proj()} must be smaller than hidden_size={self.hidden_size}",
                field="proj_size",
                hint=f"use proj_size < {self.hidden_size}, or 0 for no projection",
            )
            return None
        layout = (
            "[N, L, H_in] (batch_first) or unbatched [L, H_in]"
            if self.batch_first
            else "[L, N, H_in] or unbatched [L, H_in]"
        )
        if not expect_rank(ctx, x, (2, 3), what, f"({layout})"):
            return None
        if not need_float(ctx, x, what):
            return None
        if match_size(ctx, "input_size", self.input_size, x, -1, what, "AC202", "last dim") is None:
            return None
        R.warn_time_axis(ctx, what, x, self.batch_first)
        if states and not self._check_states(ctx, x, states):
            return None
        return x.derived(tuple(x.shape[:-1]) + (self._dirs() * self._h_out(),), ctx.path)

    def roles(self, ctx: Ctx, xs: list[Tensor], out: Tensor) -> tuple[str, ...] | None:
        x = xs[0]
        return (R.keep(x.roles, x.rank) or (R.UNKNOWN,) * x.rank)[:-1] + (R.FEATURES,)

    def tuple_items(self, ctx: Ctx, xs: list[Tensor], out: Tensor) -> tuple[Tensor, ...] | None:
        """``(output, h_n)``; LSTM: ``(output, (h_n, c_n))``. h_n is [D * num_layers, N, H_out] (never batch-first)."""
        x = xs[0]
        batch = () if x.rank == 2 else (x.shape[0] if self.batch_first else x.shape[1],)
        lead = (self._dirs() * self.num_layers, *batch)
        h = x.derived(lead + (self._h_out(),), ctx.path, origin=f"h_n of {ctx.path}")
        if self.gates != 4:
            return (out, h)
        c = x.derived(lead + (self.hidden_size,), ctx.path, origin=f"c_n of {ctx.path}")
        return (out, tuple_of((h, c), ctx.path))

    def _weights(self) -> tuple[int, int]:
        """(weight elements, bias elements) over all layers and directions."""
        assert self.input_size is not None
        g, h, p = self.gates, self.hidden_size, self._proj()
        rec = p or h
        w = b = 0
        for layer in range(self.num_layers):
            inp = self.input_size if layer == 0 else self._dirs() * self._h_out()
            per = g * h * inp + g * h * rec + (p * h if p else 0)
            w += per * self._dirs()
            b += 2 * g * h * self._dirs()
        return w, b

    def param_count(self) -> int:
        w, b = self._weights()
        return w + (b if self.bias else 0)  # type: ignore[attr-defined]

    def macs(self, xs: list[Tensor], out: Tensor) -> int | None:
        """Over the whole sequence: every step multiplies by every weight once."""
        steps = numel_per(xs[0].shape[:-1])
        return None if steps is None else steps * self._weights()[0]

    def torch_leaves(self, out: Tensor) -> list[TorchLeaf]:
        name = type(self).__name__
        return [TorchLeaf(name, self.param_count(), out.shape, numbered=True)]  # weight_ih_l0, bias_hh_l0, ...

    def label(self) -> str:
        extra = " bi" if self._dirs() == 2 else ""
        layers = f" x{self.num_layers}" if self.num_layers > 1 else ""
        return f"{self.input_size}→{self.hidden_size}{layers}{extra}"


@register
class LSTM(_RNNBase):
    gates = 4
    outputs_doc = "(output, (h_n, c_n)) as name.0, name.1.0, name.1.1; the name alone is output"
    torch_name = "nn.LSTM"
    arity: ClassVar[tuple[int, int | None]] = (1, 3)
    examples = [
        Example({"input_size": 8, "hidden_size": 16}, (5, 2, 8), (5, 2, 16)),
        Example(
            {
                "input_size": 8,
                "hidden_size": 16,
                "num_layers": 2,
                "bidirectional": True,
                "batch_first": True,
                "proj_size": 4,
            },
            (2, 5, 8),
            (2, 5, 8),
        ),
        Example({"input_size": 8, "hidden_size": 16}, (5, 8), (5, 16)),
        Example({"input_size": 8, "hidden_size": 16}, (5, 2, 6), error="AC202", fixed={"input_size": 6}),
        Example({"hidden_size": 16, "proj_size": 16}, (5, 2, 8), error="AC108"),
        # a seq2seq decoder starting from its encoder's (h_n, c_n): inputs [x, enc.1.0, enc.1.1]
        Example(
            {"hidden_size": 16, "num_layers": 2, "batch_first": True},
            (2, 5, 8),
            (2, 5, 16),
            extra={"h_0": (2, 2, 16), "c_0": (2, 2, 16)},
        ),
        Example(
            {"hidden_size": 16, "proj_size": 4, "bidirectional": True},
            (5, 8),
            (5, 8),
            extra={"h_0": (2, 4), "c_0": (2, 16)},
        ),
        Example(
            {"hidden_size": 16, "num_layers": 2},
            (5, 3, 8),
            error="AC250",
            extra={"h_0": (1, 3, 16), "c_0": (2, 3, 16)},
            fixed_extra={"h_0": (2, 3, 16)},
        ),
    ]

    bias: bool = True
    batch_first: bool = False
    dropout: Prob = 0.0
    bidirectional: bool = False
    proj_size: NonNeg = 0

    def _proj(self) -> int:
        return self.proj_size


@register
class GRU(_RNNBase):
    gates = 3
    torch_name = "nn.GRU"
    examples = [
        Example({"input_size": 4, "hidden_size": 6, "batch_first": True}, (2, 5, 4), (2, 5, 6)),
        Example({"input_size": 4, "hidden_size": 6, "bidirectional": True}, (5, 4), (5, 12)),
        Example({"hidden_size": 6}, (2, 3, 5, 4), error="AC204"),
        Example({"hidden_size": 6, "bidirectional": True}, (5, 2, 4), (5, 2, 12), extra={"h_0": (2, 2, 6)}),
        Example(
            {"hidden_size": 6, "batch_first": True},
            (2, 5, 4),
            error="AC250",
            extra={"h_0": (2, 1, 6)},
            fixed_extra={"h_0": (1, 2, 6)},
        ),
    ]

    bias: bool = True
    batch_first: bool = False
    dropout: Prob = 0.0
    bidirectional: bool = False


@register
class RNN(_RNNBase):
    gates = 1
    torch_name = "nn.RNN"
    examples = [
        Example({"input_size": 3, "hidden_size": 5, "nonlinearity": "relu"}, (7, 2, 3), (7, 2, 5)),
        Example({"input_size": 3, "hidden_size": 5, "num_layers": 3}, (7, 3), (7, 5)),
        Example({"hidden_size": 5}, (3,), error="AC204"),
    ]

    nonlinearity: Literal["tanh", "relu"] = "tanh"
    bias: bool = True
    batch_first: bool = False
    dropout: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    bidirectional: bool = False
