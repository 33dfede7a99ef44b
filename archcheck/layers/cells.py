"""One step of a recurrent layer: LSTMCell, GRUCell, RNNCell.

Rules follow torch 2.13 (``torch/nn/modules/rnn.py``, ``RNNCellBase``), checked by
``tests/test_layers_extra_vs_torch.py``:

* The input is [N, H_in] or unbatched [H_in], of a floating dtype, with
  H_in == ``input_size`` (inferred when left out).
* The hidden state is optional: a second input (GRUCell, RNNCell), or a second
  and third (LSTMCell: h and c, called as ``cell(x, (h, c))``). Each must be
  [N, hidden_size] for a batched input and [hidden_size] for an unbatched one.
* The output is the new hidden state h' ([N, hidden_size] or [hidden_size]);
  LSTMCell returns (h', c') and the spec keeps h'.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal, Optional

from ..shapes import dims as D
from . import roles as R
from ._rules import expect_rank, match_size, need_float, same
from .base import Example, Layer, Pos, Tensor, TorchLeaf, numel_per, register

if TYPE_CHECKING:  # pragma: no cover
    from .base import Ctx


class _Cell(Layer):
    family: ClassVar[str] = "recurrent"
    drawn_layout: ClassVar[str | None] = "cl"
    gates: ClassVar[int] = 1
    arity: ClassVar[tuple[int, int | None]] = (1, 2)
    takes_empty: ClassVar[bool] = True
    state_names: ClassVar[tuple[str, ...]] = ("hx",)

    input_size: Optional[Pos] = None
    hidden_size: Pos
    bias: bool = True

    def torch_leaves(self, out: Tensor) -> list[TorchLeaf]:
        # weight_ih, bias_hh, ...: torchinfo counts them by the output's first two dims, as an RNN's
        return [TorchLeaf(type(self).__name__, self.param_count(), out.shape, numbered=True)]

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        x, states = xs[0], xs[1:]
        what = type(self).__name__
        if len(states) not in (0, len(self.state_names)):
            ctx.error(
                "AC104",
                f"{what} takes its input alone or with its state ({', '.join(self.state_names)}): "
                f"{1 + len(self.state_names)} inputs, got {len(xs)}",
                field="inputs",
                hint=f"inputs: [x, {', '.join(self.state_names)}] (or only x, for a zero state)",
            )
            return None
        if not expect_rank(ctx, x, (1, 2), what, "([N, H_in] or unbatched [H_in])"):
            return None
        for t in xs:
            if not need_float(ctx, t, what):
                return None
        if match_size(ctx, "input_size", self.input_size, x, -1, what, "AC202", "last dim") is None:
            return None
        want = tuple(x.shape[:-1]) + (self.hidden_size,)
        for t, nm in zip(states, self.state_names):
            bad = None if t.rank == len(want) else -1  # the first dim that differs (-1: the rank)
            for i, (a, b) in enumerate(zip(t.shape, want) if bad is None else ()):
                eq = same(a, b)
                if eq is None:
                    eq = ctx.require_equal(a, b, f"{what} {nm} shape")
                if eq is False:
                    bad = i
                    break
            if bad is not None:
                last = bad == len(want) - 1
                ctx.error(
                    "AC250",
                    f"{what}'s state {nm} must be {D.fmt_shape(want)} (the input's batch and hidden_size="
                    f"{self.hidden_size}), but it is {t.describe()} ({ctx.source(t)})",
                    field="inputs",
                    hint=f"give {nm} the shape {D.fmt_shape(want)}"
                    + (f" (or set hidden_size: {D.fmt(t.shape[-1])}, if the state is right)" if last else "")
                    + ", or leave the state out (a zero state)",
                    recover=True,  # the new state has that shape whatever the old one was
                )
                break
        return x.derived(want, ctx.path)

    def roles(self, ctx: Ctx, xs: list[Tensor], out: Tensor) -> tuple[str, ...] | None:
        x = xs[0]
        return (R.keep(x.roles, x.rank) or (R.UNKNOWN,) * x.rank)[:-1] + (R.FEATURES,)

    def _weights(self) -> int:
        assert self.input_size is not None
        return self.gates * self.hidden_size * (self.input_size + self.hidden_size)

    def param_count(self) -> int:
        return self._weights() + (2 * self.gates * self.hidden_size if self.bias else 0)

    def macs(self, xs: list[Tensor], out: Tensor) -> int | None:
        n = numel_per(xs[0].shape[:-1])
        return None if n is None else n * self._weights()

    def emit_call(self, ref: str | None, args: list[str]) -> str:
        return f"{ref}({', '.join(args)})"

    def label(self) -> str:
        return f"{self.input_size}→{self.hidden_size}"


@register
class LSTMCell(_Cell):
    torch_name = "nn.LSTMCell"
    gates = 4
    arity: ClassVar[tuple[int, int | None]] = (1, 3)
    tuple_output: ClassVar[bool] = True
    state_names = ("h", "c")
    examples = [
        Example({"input_size": 3, "hidden_size": 4}, (2, 3), (2, 4)),
        Example({"hidden_size": 4}, (3,), (4,)),
        Example({"hidden_size": 4}, (2, 3), (2, 4), extra={"h": (2, 4), "c": (2, 4)}),
        Example({"hidden_size": 4}, (2, 3), error="AC250", extra={"h": (2, 4), "c": (2, 5)}, fixed_extra={"c": (2, 4)}),
        Example({"input_size": 5, "hidden_size": 4}, (2, 3), error="AC202", fixed={"input_size": 3}),
        Example({"hidden_size": 4}, (2, 3, 1), error="AC204"),
    ]

    def emit_call(self, ref: str | None, args: list[str]) -> str:
        if len(args) == 3:
            return f"{ref}({args[0]}, ({args[1]}, {args[2]}))[0]"
        return f"{ref}({', '.join(args)})[0]"


@register
class GRUCell(_Cell):
    torch_name = "nn.GRUCell"
    gates = 3
    examples = [
        Example({"input_size": 3, "hidden_size": 4}, (2, 3), (2, 4)),
        Example({"hidden_size": 4, "bias": False}, (3,), (4,), extra={"hx": (4,)}),
        Example({"hidden_size": 4}, (2, 3), error="AC250", extra={"hx": (4,)}, fixed_extra={"hx": (2, 4)}),
    ]


@register
class RNNCell(_Cell):
    torch_name = "nn.RNNCell"
    gates = 1
    examples = [
        Example({"input_size": 3, "hidden_size": 4, "nonlinearity": "relu"}, (2, 3), (2, 4)),
        Example({"hidden_size": 4}, (2, 3), error="AC250", extra={"hx": (3, 4)}, fixed_extra={"hx": (2, 4)}),
        Example({"hidden_size": 4}, (), error="AC204"),
    ]

    nonlinearity: Literal["tanh", "relu"] = "tanh"
