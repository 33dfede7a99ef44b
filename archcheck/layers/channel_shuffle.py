"""Channel shuffle: ChannelShuffle (ShuffleNet's).

``nn.ChannelShuffle(groups)`` keeps an input [N, C, *] (at least 3 dims) as it is in shape; its C channels,
seen as ``groups`` groups of C / groups, are interleaved. ``groups`` must divide C.

The worked example of docs/architecture.md: a layer type is one module like this one, and its test.
"""

from __future__ import annotations

from typing import ClassVar

from ..shapes import dims as D
from ._rules import exact_div, expect_min_rank
from .base import Ctx, Example, Layer, Pos, Tensor, register


@register
class ChannelShuffle(Layer):
    torch_name = "nn.ChannelShuffle"
    family: ClassVar[str] = "reshape"  # diagram colour: it permutes the channels
    drawn_layout: ClassVar[str | None] = "cf"  # a 3-d input is [N, C, L]
    keeps_receptive_field: ClassVar[bool] = True  # each output position sees what its input position saw
    takes_empty: ClassVar[bool] = True  # torch shuffles an empty tensor without complaint
    examples = [  # checked against archcheck and against torch by tests/test_layer_examples.py
        Example({"groups": 2}, (1, 4, 3, 3), (1, 4, 3, 3)),
        Example({"groups": 3}, (2, 6, 5), (2, 6, 5)),
        Example({"groups": 3}, (1, 4, 3, 3), error="AC215"),
        Example({"groups": 2}, (1, 4), error="AC204"),
    ]

    groups: Pos

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        (x,) = xs
        if not expect_min_rank(
            ctx, x, 3, "ChannelShuffle", "[N, C, *]", "add the batch dim, or reshape to [N, C, ...]"
        ):
            return None
        c = x.shape[1]
        q, ok = exact_div(c, self.groups)
        if ok is False:
            ctx.error(
                "AC215",
                f"ChannelShuffle needs the input's channels (dim 1) to be divisible by groups={self.groups}, "
                f"but its input is {x.describe()} ({ctx.source(x)})",
                field="groups",
                hint=f"make the channels a multiple of {self.groups}, or change groups",
            )
            return None
        if ok is None:  # channels that depend on a free dim: a condition on it
            ctx.require_equal(D.mul(q, self.groups), c, f"ChannelShuffle channels divisible by {self.groups}")
        return x.passed()

    def label(self) -> str:
        return f"g{self.groups}"
