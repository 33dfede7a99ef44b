"""Stacks of transformer layers: TransformerEncoder and TransformerDecoder.

torch's ``nn.TransformerEncoder(encoder_layer, num_layers, norm=None, enable_nested_tensor=True,
mask_check=True)`` takes a layer *instance* and deep-copies it ``num_layers`` times (as
``layers.0`` ... ``layers.{k-1}``); ``norm`` is a module applied to the last layer's output.
A spec writes the instances as mappings of their constructor arguments::

    - type: TransformerEncoder
      num_layers: 6
      encoder_layer: {d_model: 512, nhead: 8, dim_feedforward: 2048, batch_first: true}
      norm: {type: LayerNorm, eps: 1.0e-6}      # or RMSNorm; normalized_shape is d_model

``d_model`` (and the norm's ``normalized_shape``) may be left out and are inferred from
the input, as for the layer alone. The generated code is torch's own construction,
``nn.TransformerEncoder(encoder_layer=nn.TransformerEncoderLayer(...), num_layers=6,
norm=nn.LayerNorm(512, eps=1e-06))``, so the state_dict keys are torch's
(``layers.0.self_attn.in_proj_weight``, ``norm.weight``). The shape rule is the layer's
(checked once: every copy maps its input's shape to itself); TransformerDecoder takes
(tgt, memory) like TransformerDecoderLayer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Optional, Union

from pydantic import Discriminator, Tag, field_validator, model_validator

from ..shapes import dims as D
from . import attention as A
from . import normalization as N
from .base import Example, Layer, Pos, Tensor, TorchLeaf, register

if TYPE_CHECKING:  # pragma: no cover
    from .base import Ctx


class _Nested(Layer):
    """Base for a layer written inside another layer's field: an optional ``type``, none of a layer's own fields."""

    meta_fields: ClassVar[frozenset[str]] = Layer.meta_fields | {"type"}

    @model_validator(mode="after")
    def _no_meta(self) -> _Nested:
        own = sorted(f for f in Layer.meta_fields if getattr(self, f, None) is not None)
        if own:
            raise ValueError(f"a layer inside another layer's field has no {', '.join(own)}")
        return self


# The nested forms carry their torch class's name (messages say "TransformerEncoderLayer expects ...");
# they are not registered: as a layer of its own, a type is the one in attention.py / normalization.py.


class TransformerEncoderLayer(_Nested, A.TransformerEncoderLayer):
    """The arguments of the TransformerEncoderLayer a TransformerEncoder repeats."""

    type: Literal["TransformerEncoderLayer"] = "TransformerEncoderLayer"


class TransformerDecoderLayer(_Nested, A.TransformerDecoderLayer):
    """The arguments of the TransformerDecoderLayer a TransformerDecoder repeats."""

    type: Literal["TransformerDecoderLayer"] = "TransformerDecoderLayer"


class LayerNorm(_Nested, N.LayerNorm):
    """A LayerNorm applied to the stack's output (normalized_shape: d_model)."""

    type: Literal["LayerNorm"] = "LayerNorm"


class RMSNorm(_Nested, N.RMSNorm):
    """An RMSNorm applied to the stack's output (normalized_shape: d_model)."""

    type: Literal["RMSNorm"]


def _norm_kind(v: Any) -> Any:
    if isinstance(v, dict):
        return v.get("type", "LayerNorm")  # another type is reported as such (union_tag_invalid)
    return "RMSNorm" if isinstance(v, N.RMSNorm) else "LayerNorm"


NormArgs = Annotated[
    Union[Annotated[LayerNorm, Tag("LayerNorm")], Annotated[RMSNorm, Tag("RMSNorm")]],
    Discriminator(_norm_kind),
]


class _Stack(Layer):
    family: ClassVar[str] = "attention"
    drawn_layout: ClassVar[str | None] = "cl"
    layer_field: ClassVar[str] = "encoder_layer"

    num_layers: Pos  # torch builds 0 layers, then fails in forward (self.layers[0])
    norm: Optional[NormArgs] = None

    @field_validator("norm", mode="before")
    @classmethod
    def _bare_norm(cls, v: Any) -> Any:
        return {"type": v} if isinstance(v, str) else v  # norm: LayerNorm

    def _layer(self) -> A.TransformerEncoderLayer | A.TransformerDecoderLayer:
        lay = getattr(self, self.layer_field)
        assert isinstance(lay, (A.TransformerEncoderLayer, A.TransformerDecoderLayer))
        return lay

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        inner_layer = self._layer()
        sub = ctx.nested(self.layer_field, set(inner_layer.model_fields_set) - inner_layer.meta_fields)
        out = inner_layer.infer(sub, xs)
        if sub.failed or out is None:
            return None
        resolved = inner_layer.model_copy(update=sub.filled) if sub.filled else inner_layer
        e = resolved.d_model
        assert e is not None
        fill: dict[str, Any] = {self.layer_field: resolved} if sub.filled else {}
        if self.norm is not None:
            ns = self.norm.normalized_shape
            if ns is None:
                fill["norm"] = self.norm.model_copy(update={"normalized_shape": e})
            elif ns != e and ns != [e]:
                ctx.error(
                    "AC213",
                    f"{type(self).__name__}'s norm has normalized_shape={ns}, but the layers' output is "
                    f"{D.fmt_shape(out.shape)} (d_model={e})",
                    field="norm",
                    hint=f"set normalized_shape: {e}, or leave it out to have it inferred",
                    recover=True,  # the norm keeps the shape
                )
                fill["norm"] = self.norm.model_copy(update={"normalized_shape": e})
        if fill:
            ctx.fill(**fill)
        return out

    def param_count(self) -> int:
        norm = self.norm.param_count() if self.norm is not None else 0
        return self.num_layers * self._layer().param_count() + norm

    def torch_leaves(self, out: Tensor) -> list[TorchLeaf]:
        leaves = self.num_layers * self._layer().torch_leaves(out)
        return leaves + (self.norm.torch_leaves(out) if self.norm is not None else [])

    def macs(self, xs: list[Tensor], out: Tensor) -> int | None:
        one = self._layer().macs(xs, out)
        return None if one is None else self.num_layers * one

    def label(self) -> str:
        lay = self._layer()
        return f"{self.num_layers} x ({lay.nhead} heads, ff {lay.dim_feedforward})"


@register
class TransformerEncoder(_Stack):
    torch_name = "nn.TransformerEncoder"
    arg_order = ("encoder_layer", "num_layers", "norm", "enable_nested_tensor", "mask_check")
    examples = [
        Example(
            {"encoder_layer": {"d_model": 16, "nhead": 4, "dim_feedforward": 32}, "num_layers": 2},
            (5, 2, 16),
            (5, 2, 16),
        ),
        Example(
            {
                "encoder_layer": {"nhead": 2, "dim_feedforward": 8, "batch_first": True, "norm_first": True},
                "num_layers": 3,
                "norm": {"type": "LayerNorm", "eps": 1e-6},
            },
            (2, 5, 8),
            (2, 5, 8),
        ),
        Example({"encoder_layer": {"nhead": 2}, "num_layers": 1, "norm": {"type": "RMSNorm"}}, (5, 8), (5, 8)),
        Example(
            {"encoder_layer": {"nhead": 3}, "num_layers": 2},
            (5, 2, 16),
            error="AC215",
            fixed={"encoder_layer": {"nhead": 4}},
        ),
        Example(
            {"encoder_layer": {"d_model": 16, "nhead": 4}, "num_layers": 2},
            (5, 2, 8),
            error="AC202",
            fixed={"encoder_layer": {"d_model": 8, "nhead": 4}},
        ),
        Example({"encoder_layer": {"nhead": 4}, "num_layers": 2}, (16,), error="AC204"),
    ]

    encoder_layer: TransformerEncoderLayer
    enable_nested_tensor: bool = True
    mask_check: bool = True


@register
class TransformerDecoder(_Stack):
    torch_name = "nn.TransformerDecoder"
    layer_field = "decoder_layer"
    arity: ClassVar[tuple[int, int | None]] = (2, 2)
    arg_order = ("decoder_layer", "num_layers", "norm")
    examples = [
        Example(
            {"decoder_layer": {"d_model": 16, "nhead": 4, "dim_feedforward": 32}, "num_layers": 2},
            (5, 2, 16),
            (5, 2, 16),
            extra={"memory": (7, 2, 16)},
        ),
        Example(
            {"decoder_layer": {"nhead": 2, "batch_first": True}, "num_layers": 2, "norm": {"type": "LayerNorm"}},
            (2, 5, 8),
            (2, 5, 8),
            extra={"memory": (2, 3, 8)},
        ),
        Example(
            {"decoder_layer": {"nhead": 4}, "num_layers": 2},
            (5, 2, 16),
            error="AC219",
            extra={"memory": (7, 16)},
            fixed_extra={"memory": (7, 2, 16)},
        ),
    ]

    decoder_layer: TransformerDecoderLayer
