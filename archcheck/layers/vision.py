"""Two of torchvision's building blocks that its models name as modules: LayerNorm2d and StochasticDepth.

Generated code imports only torch, so each is written with torch's own pieces,
with the same state_dict keys and the same results as torchvision 0.29's:

* LayerNorm2d (``torchvision/models/convnext.py``) is an ``nn.LayerNorm`` over the
  channels of [N, C, H, W]: ``norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)``.
  The generated file defines it as torchvision does, a subclass of ``nn.LayerNorm``
  whose forward permutes (``module_source``), so one module named LayerNorm2d sits at
  the layer's path, returns [N, C, H, W] (as torchinfo sees it) and keeps the keys
  ``weight`` and ``bias``; ``normalized_shape`` (the channels) is inferred from dim 1.
* StochasticDepth (``torchvision.ops.StochasticDepth(p, mode)``) drops whole samples
  (``mode: row``) or the whole batch (``mode: batch``) with probability ``p`` in
  training and rescales the rest by ``1 / (1 - p)``; in eval mode it is the identity.
  It has no parameters. torch has no such module: the generated file defines it
  (``module_source``), so the module sits at the layer's path as in torchvision.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, ClassVar, Literal, Optional, Union

from pydantic import Field

from ._rules import expect_rank
from .base import Example, Layer, Pos, Prob, Tensor, TorchLeaf, register
from .normalization import _normalized_shape_rule

if TYPE_CHECKING:  # pragma: no cover
    from .base import Ctx


@register
class LayerNorm2d(Layer):
    """torchvision's LayerNorm2d: a LayerNorm over the channels (dim 1) of [N, C, H, W]."""

    family: ClassVar[str] = "norm"
    keeps_receptive_field: ClassVar[bool] = True
    takes_empty: ClassVar[bool] = True  # an empty H or W: the channels are still normalized
    # torchvision/models/convnext.py's LayerNorm2d (0.29): emit/codegen.py writes it into the generated file.
    module_source: ClassVar[str | None] = '''\
class LayerNorm2d(nn.LayerNorm):
    """torchvision's LayerNorm2d: nn.LayerNorm over dim 1 of [N, C, H, W]."""

    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        x = super().forward(x)
        x = x.permute(0, 3, 1, 2)
        return x
'''
    examples = [
        Example({"normalized_shape": 8, "eps": 1e-6}, (2, 8, 5, 5), (2, 8, 5, 5)),
        Example({}, (2, 3, 4, 6), (2, 3, 4, 6)),
        Example({"normalized_shape": 4}, (2, 8, 5, 5), error="AC213", fixed={"normalized_shape": 8}),
        Example({}, (8, 5, 5), error="AC204"),
    ]

    normalized_shape: Optional[Union[Pos, Annotated[list[Pos], Field(min_length=1)]]] = None
    eps: float = 1e-5
    elementwise_affine: bool = True
    bias: bool = True

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        (x,) = xs
        if not expect_rank(ctx, x, (4,), "LayerNorm2d", "[N, C, H, W] (it permutes to channels last)"):
            return None
        n, c, h, w = x.shape
        last = x.derived((n, h, w, c), x.producer, origin=f"{x.describe()} permuted to channels last ({ctx.source(x)})")
        if _normalized_shape_rule(ctx, last, self.normalized_shape, "LayerNorm2d") is None:
            return None
        return x.passed()

    def param_count(self) -> int:
        ns = self.normalized_shape
        assert ns is not None
        k = 1
        for d in ns if isinstance(ns, list) else [ns]:
            k *= d
        return k * (2 if self.bias else 1) if self.elementwise_affine else 0

    def torch_leaves(self, out: Tensor) -> list[TorchLeaf]:
        # one module (the generated LayerNorm2d, an nn.LayerNorm subclass) whose forward permutes back:
        # torchinfo sees its [N, C, H, W] output
        return [TorchLeaf("LayerNorm2d", self.param_count(), out.shape)]

    def label(self) -> str:
        return f"{self.normalized_shape} channels"


@register
class StochasticDepth(Layer):
    """torchvision.ops.StochasticDepth: drops samples (row) or the batch (batch) in training; identity in eval."""

    family: ClassVar[str] = "dropout"
    keeps_receptive_field: ClassVar[bool] = True
    takes_empty: ClassVar[bool] = True
    examples = [
        Example({"p": 0.1, "mode": "row"}, (4, 8, 5, 5), (4, 8, 5, 5)),
        Example({"p": 0.5, "mode": "batch"}, (3, 7), (3, 7)),
    ]

    # torchvision.ops.stochastic_depth (0.29) as a module: the same noise (one bernoulli_ draw of the same
    # size), the same scaling, and the input itself when not training or p is 0. emit/codegen.py writes it
    # into the generated file, which imports only torch.
    module_source: ClassVar[str | None] = '''\
class StochasticDepth(nn.Module):
    """torchvision.ops.StochasticDepth: in training, zero whole rows (mode "row") or the
    whole batch ("batch") with probability p and scale the rest by 1 / (1 - p)."""

    def __init__(self, p, mode):
        super().__init__()
        self.p = p
        self.mode = mode

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        survival_rate = 1.0 - self.p
        size = [1] * x.dim()
        if self.mode == "row":
            size[0] = x.shape[0]
        noise = torch.empty(size, dtype=x.dtype, device=x.device)
        noise = noise.bernoulli_(survival_rate)
        if survival_rate > 0.0:
            noise.div_(survival_rate)
        return x * noise
'''

    p: Prob
    mode: Literal["batch", "row"]

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        return xs[0].passed()  # any shape and dtype: the identity in eval mode

    def label(self) -> str:
        return f"p {self.p} {self.mode}"
