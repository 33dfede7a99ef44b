"""EmbeddingBag: sums, means or maxes of embeddings, one per bag.

Rules follow torch 2.13 (``torch/nn/modules/sparse.py``, ``F.embedding_bag``), checked by
``tests/test_layers_extra_vs_torch.py``:

* indices of an integer dtype (int64 or int32); either [B, N] (B bags of N
  indices each, no offsets) or [T] with a second input ``offsets`` [B] (1-D),
  the start of each bag; with ``include_last_offset`` the last offset ends the
  last bag, so there are B - 1 bags;
* the output is [bags, embedding_dim], float32; ``padding_idx`` must lie in
  ``[-num_embeddings, num_embeddings)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal, Optional

from ..shapes import dims as D
from . import roles as R
from ._rules import INTS, check_padding_idx
from .base import Example, Layer, Pos, Tensor, register

if TYPE_CHECKING:  # pragma: no cover
    from .base import Ctx


@register
class EmbeddingBag(Layer):
    family: ClassVar[str] = "embedding"
    drawn_layout: ClassVar[str | None] = "cl"
    arity: ClassVar[tuple[int, int | None]] = (1, 2)
    torch_name = "nn.EmbeddingBag"
    examples = [
        Example({"num_embeddings": 10, "embedding_dim": 4}, (2, 3), (2, 4), extra={"dtype": "long"}),
        Example(
            {"num_embeddings": 10, "embedding_dim": 4, "mode": "sum"},
            (6,),
            (3, 4),
            extra={"dtype": "long", "offsets": {"shape": (3,), "dtype": "long"}},
        ),
        Example({"num_embeddings": 10, "embedding_dim": 4}, (6,), error="AC204", extra={"dtype": "long"}),
        Example({"num_embeddings": 10, "embedding_dim": 4}, (2, 3), error="AC214"),
    ]

    num_embeddings: Pos
    embedding_dim: Pos
    max_norm: Optional[float] = None
    norm_type: float = 2.0
    scale_grad_by_freq: bool = False
    mode: Literal["sum", "mean", "max"] = "mean"
    sparse: bool = False
    include_last_offset: bool = False
    padding_idx: Optional[int] = None

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        x = xs[0]
        n = self.num_embeddings
        check_padding_idx(ctx, self.padding_idx, n)
        for t, what in zip(xs, ("indices", "offsets")):
            if t.dtype not in INTS:
                ctx.error(
                    "AC214",
                    f"EmbeddingBag's {what} must be integers, but they have dtype {t.dtype} ({ctx.source(t)})",
                    hint="give the input dtype: long (token ids)",
                )
                return None
        if x.rank == 2:
            if len(xs) == 2:
                ctx.error(
                    "AC204",
                    f"EmbeddingBag takes offsets only with 1-D indices, but its indices are {x.describe()} (each row "
                    "of a 2-D input is a bag)",
                    field="inputs" if ctx.given("inputs") else None,
                    hint="leave the offsets out, or flatten the indices to 1-D",
                )
                return None
            bags = x.shape[0]
        elif x.rank == 1:
            if len(xs) == 1 or xs[1].rank != 1:
                got = "no offsets" if len(xs) == 1 else f"offsets {xs[1].describe()}"
                ctx.error(
                    "AC204",
                    f"EmbeddingBag with 1-D indices {x.describe()} needs 1-D offsets (the start of each bag), got {got}",
                    field="inputs" if ctx.given("inputs") else None,
                    hint="give a second input offsets of shape [B], or 2-D indices [B, N]",
                )
                return None
            bags = D.add(xs[1].shape[0], -1) if self.include_last_offset else xs[1].shape[0]
            if isinstance(bags, int) and bags < 1:
                ctx.error(
                    "AC204",
                    f"EmbeddingBag with include_last_offset makes {bags} bags from offsets {xs[1].describe()}",
                    field="include_last_offset",
                    hint="give at least 2 offsets (the last one ends the last bag)",
                )
                return None
        else:
            ctx.error(
                "AC204",
                f"EmbeddingBag takes 2-D indices [B, N] or 1-D indices with offsets, but its input is "
                f"{x.describe()} ({ctx.source(x)})",
            )
            return None
        return Tensor((bags, self.embedding_dim), "float32", ctx.path)

    def roles(self, ctx: Ctx, xs: list[Tensor], out: Tensor) -> tuple[str, ...] | None:
        r = xs[0].roles
        first = r[0] if r and xs[0].rank == 2 else R.UNKNOWN
        return (first, R.FEATURES)

    def param_count(self) -> int:
        return self.num_embeddings * self.embedding_dim

    def label(self) -> str:
        return f"{self.num_embeddings}→{self.embedding_dim} {self.mode}"
