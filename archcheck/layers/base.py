"""The layer registry and the base every layer type derives from.

A layer type is a pydantic model whose fields are exactly the torch.nn
constructor's arguments (same names, same defaults), plus four methods:

* ``infer(ctx, xs)``: the shape rule. A pure function of the input tensors and
  the fields; it reports findings through ``ctx`` and returns the output
  tensor, or ``None`` when the output cannot be known.
* ``param_count()``: equal to torch's ``sum(p.numel() for p in m.parameters())``.
* ``macs(xs, out)``: multiply-accumulates for the whole input (batch included).
* ``ctor_args()``: the constructor arguments for generated code.

``@register`` adds a type to ``REGISTRY`` under its class name, so adding a
layer touches one file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal, Protocol, Union

from pydantic import BaseModel, ConfigDict, Field

from ..shapes import dims as D
from ..shapes.dims import Dim, Shape


class _Registry(dict):  # type: ignore[type-arg]
    """``{type name: Layer class}``, importing layer families on demand (see layers/__init__.py)."""

    _all = False

    def _ensure(self, name: object) -> None:
        if isinstance(name, str) and not dict.__contains__(self, name):
            from . import load_type

            load_type(name)

    def _ensure_all(self) -> None:
        if not self._all:
            from . import load_all

            load_all()
            self._all = True

    def __contains__(self, name: object) -> bool:
        self._ensure(name)
        return dict.__contains__(self, name)

    def __getitem__(self, name: str) -> type[Layer]:
        self._ensure(name)
        return dict.__getitem__(self, name)  # type: ignore[no-any-return]

    def get(self, name: str, default: Any = None) -> Any:
        self._ensure(name)
        return dict.get(self, name, default)

    def __iter__(self) -> Any:
        self._ensure_all()
        return dict.__iter__(self)

    def __len__(self) -> int:
        self._ensure_all()
        return dict.__len__(self)

    def keys(self) -> Any:
        self._ensure_all()
        return dict.keys(self)

    def values(self) -> Any:
        self._ensure_all()
        return dict.values(self)

    def items(self) -> Any:
        self._ensure_all()
        return dict.items(self)


REGISTRY: _Registry = _Registry()

# A receptive field and the cumulative stride ("jump") per spatial dim; one entry: the same for every dim.
RField = tuple[tuple[int, ...], tuple[int, ...]]

# Field types shared by many layers. Strict: no "5" for 5, no true for 1.
Pos = Annotated[int, Field(ge=1)]
NonNeg = Annotated[int, Field(ge=0)]
PosOrList = Union[Pos, list[Pos]]
NonNegOrList = Union[NonNeg, list[NonNeg]]
Prob = Annotated[float, Field(ge=0.0, le=1.0)]
PaddingMode = Literal["zeros", "reflect", "replicate", "circular"]


@dataclass(frozen=True)
class Product:
    """A dim that is the product of others (Flatten's ``1568 = 32 * 7 * 7``), as data for emitters.

    ``axis``: which dim of the tensor (non-negative); ``factors``: the sizes it multiplies;
    ``source``: the path of the layer whose output they were ("" for the model input).
    """

    axis: int
    factors: tuple[Any, ...]
    source: str


@dataclass
class Tensor:
    """What the engine knows about a tensor: its shape and where it came from."""

    shape: Shape
    dtype: str = "float32"
    producer: str = ""  # the path of the layer (or the input) that made it
    origin: str | None = None  # how it came to be, for messages: "flatten of [...] from pool2"
    note: str | None = None  # the arithmetic behind it: "1568 = 32 * 7 * 7"
    roles: tuple[str, ...] | None = None  # what each dim is (see roles.py); None: unknown
    # A layer that returns a tuple: its items, addressed as ``name.0``, ``name.1.0`` (nested tuples).
    # The tensor itself is the default item (a module's first output, as torch code mostly uses it),
    # unless ``indexed`` (Split, Chunk, a block with several outputs): then an index is required.
    parts: tuple[Tensor, ...] | None = None
    indexed: bool = False
    product: Product | None = None  # a dim made by multiplying others (the structured form of ``note``)
    # The smallest and largest value it holds, when known (Arange's positions): an Embedding checks them.
    values: tuple[Dim, Dim] | None = None

    @property
    def rank(self) -> int:
        return len(self.shape)

    def describe(self) -> str:
        return D.fmt_shape(self.shape)

    def derived(
        self,
        shape: Shape,
        producer: str,
        origin: str | None = None,
        note: str | None = None,
        product: Product | None = None,
    ) -> Tensor:
        return Tensor(tuple(shape), self.dtype, producer, origin, note, product=product)

    def passed(self) -> Tensor:
        """The same tensor after a shape-preserving layer: it keeps its provenance."""
        return Tensor(self.shape, self.dtype, self.producer, self.origin, self.note, self.roles, product=self.product)

    def describe_all(self) -> str:
        """The shape, or for an indexed tuple its items' shapes: ``([N, 8], [N, 8])``."""
        if self.indexed and self.parts is not None:
            return "(" + ", ".join(p.describe_all() for p in self.parts) + ("," if len(self.parts) == 1 else "") + ")"
        return self.describe()


def tuple_of(parts: list[Tensor] | tuple[Tensor, ...], producer: str) -> Tensor:
    """A tuple of tensors that later layers address by index (Split's outputs, ``(h_n, c_n)``)."""
    first = parts[0]
    return Tensor(
        first.shape, first.dtype, producer, first.origin, first.note, first.roles, tuple(parts), True, first.product
    )


@dataclass(frozen=True)
class TorchLeaf:
    """One module without submodules that torch runs for a layer, as torchinfo sees it.

    torchinfo totals (mult-adds, forward/backward pass size, params size)
    count only such leaf modules; ``Layer.torch_leaves`` says which a layer is.
    """

    module: str  # torch's class name: "Conv2d", "Linear", "LayerNorm"
    params: int
    shape: Shape  # its output (the first item of a tuple output)
    numbered: bool = False  # parameters named weight_ih_l0, ... (RNNs), not weight/bias


class Ctx(Protocol):
    """What a shape rule may do: report, record inferred fields and conditions, describe inputs.

    The engine implements it (``archcheck.engine.walk.Ctx``); a layer sees only this, so the layers
    depend on no part of the engine.
    """

    path: str  # the layer's dotted path ("layer1.0.conv1")
    input_names: list[str]  # its inputs as written in the spec's scope ("" for a container's input)
    failed: bool  # an error was reported after which the output is unknown
    recovered: bool  # an error was reported that leaves the output determined by the fields
    filled: dict[str, Any]  # the fields ``fill`` recorded

    def error(
        self,
        code: str,
        message: str,
        *,
        field: str | None = None,
        hint: str | None = None,
        notes: list[str] | None = None,
        dims: list[str] | None = None,
        fix: Any = None,
        recover: bool = False,
    ) -> None:
        """An error; with ``recover=True`` one in a field the output's shape does not depend on."""

    def warn(
        self,
        code: str,
        message: str,
        *,
        field: str | None = None,
        hint: str | None = None,
        notes: list[str] | None = None,
        dims: list[str] | None = None,
        fix: Any = None,
    ) -> None:
        """A warning."""

    def fill(self, **values: Any) -> None:
        """Record fields inferred from the input (in_channels, in_features, ...)."""

    def fill_from(self, x: Tensor, axis: int, /, **values: Any) -> None:
        """``fill(**values)``, the sizes read off dim ``axis`` (may be negative) of the input ``x``: the engine
        keeps where each came from (``Node.inferred``), which emitters show ("in_features 32 * 7 * 7 from pool2")."""

    def value(self, name: str) -> int | None:
        """The value a free dim was given, or None while it is free."""

    def given(self, name: str) -> bool:
        """Whether the spec wrote ``name`` for this layer (rather than a default)."""

    def require_equal(self, a: Any, b: Any, what: str) -> bool | None:
        """Two dims that must agree: True/False when decidable, else None (a condition is recorded)."""

    def require_min(self, a: Any, k: int, what: str) -> bool | None:
        """A size that must be at least ``k``: True/False when decidable, else None (a condition is recorded)."""

    def source(self, x: Tensor) -> str:
        """Where a tensor came from, for messages: 'flatten of [...] from pool2'."""

    def nested(self, key: str, given: set[str]) -> Ctx:
        """The context of a layer written inside this layer's field ``key`` (TransformerEncoder's
        ``encoder_layer``), for running its rule: its findings are this layer's, located at ``key``
        (without fixes: a fix names a field of this layer); what it fills (``filled``) and which of its
        fields the spec wrote (``given``) are its own."""


@dataclass
class Example:
    """A sample for the generic layer test: fields, input shape, expected output or error code.

    An error the rule recovers from (``ctx.error(..., recover=True)``) leaves the layer an output;
    ``fixed`` then gives the field values (and ``fixed_extra`` the inputs) that correct the
    mistake, and the test checks that output against torch's for the corrected layer.
    """

    fields: dict[str, Any]
    input: tuple[int, ...]
    output: tuple[int, ...] | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    fixed: dict[str, Any] | None = None
    fixed_extra: dict[str, Any] | None = None


class Layer(BaseModel):
    """Base of every layer type. Subclasses add torch's constructor fields."""

    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True, validate_default=False)

    # Fields every layer has: not constructor arguments.
    name: str | None = None
    inputs: str | list[str] | None = None  # one name, or several
    noqa: str | list[str] | None = None  # warning codes silenced on this layer (ruff's noqa)
    # Tied weights: {weight: wte.weight} makes this layer's weight that Parameter (GPT-2's lm_head and wte);
    # the path is relative to the scope the layer is written in (the model's layers, or a block's).
    tie: dict[str, str] | None = None

    # Class metadata
    family: ClassVar[str] = "other"  # colour group in diagrams
    arity: ClassVar[tuple[int, int | None]] = (1, 1)  # min, max number of inputs
    torch_name: ClassVar[str | None] = None  # "nn.Conv2d"; None for tensor ops
    # A module torch lacks (torchvision's StochasticDepth; torch_name None): the source of the nn.Module class
    # the generated file defines, whose __init__ takes the layer's constructor fields by name.
    module_source: ClassVar[str | None] = None
    # An operation torch lacks (torchvision's _patch_merging_pad; torch_name None): the source of the function
    # the generated file defines, which the layer's emit_call calls.
    function_source: ClassVar[str | None] = None
    examples: ClassVar[list[Example]] = []
    meta_fields: ClassVar[frozenset[str]] = frozenset({"name", "inputs", "noqa", "tie"})
    tuple_output: ClassVar[bool] = False  # forward returns a tuple; the spec keeps its first item
    outputs_doc: ClassVar[str | None] = None  # how later layers address its several outputs (archcheck types)
    takes_empty: ClassVar[bool] = False  # torch runs it on an input with a 0-size dim (after AC222); else AC224
    arg_order: ClassVar[tuple[str, ...]] = ()  # torch's signature order, where subclasses declare fields out of it
    # How emitters show the type (emit/diagram.py, emit/summary.py read these; nothing there names a type)
    drawn_layout: ClassVar[str | None] = None  # a 3-d output drawn "cf" [N, C, L] or "cl" [N, L, C]; None: as input
    folds: ClassVar[bool] = False  # drawn inside the box of the layer before it (an activation after a conv)
    keeps_receptive_field: ClassVar[bool] = False  # the output's receptive field is its input's (summary's RF)

    @classmethod
    def type_name(cls) -> str:
        return cls.__name__

    # ---- the four methods a layer type defines

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:  # pragma: no cover
        raise NotImplementedError

    def roles(self, ctx: Ctx, xs: list[Tensor], out: Tensor) -> tuple[str, ...] | None:
        """The output's dim roles (see roles.py); may warn (AC4xx) where the layout looks unintended.

        The default suits every layer that keeps its input's rank (activations,
        norms, pools, pads, attention): the first input's roles pass through.
        """
        r = xs[0].roles if xs else None
        return r if r is not None and len(r) == out.rank else None

    def accepts_empty(self) -> bool:
        """Whether torch runs this layer on an input with a 0-size dim (after an AC222 warning)."""
        return self.takes_empty

    def param_count(self) -> int:
        return 0

    def param_shapes(self) -> dict[str, tuple[int, ...]] | None:
        """The module's own parameters and their shapes, as in its ``state_dict`` (``weight``, ``bias``).

        None: not known for this type (it cannot be tied: ``tie:``).
        """
        return None

    def tuple_items(self, ctx: Ctx, xs: list[Tensor], out: Tensor) -> tuple[Tensor, ...] | None:
        """Every item of the tuple the module returns (``out`` is its first), or None for one tensor.

        LSTM returns ``(output, (h_n, c_n))``: items addressed as ``lstm.0``, ``lstm.1.0``.
        """
        return None

    def macs(self, xs: list[Tensor], out: Tensor) -> int | None:
        return 0

    # ---- what ``archcheck summary`` shows of the torch module (torchinfo's columns)

    def kernel_shape(self) -> int | list[int] | None:
        """``module.kernel_size`` as torch keeps it (torchinfo's Kernel Shape); None without one.

        By default the field as written (pools keep an int); a type whose torch
        module expands it to a tuple (convolutions) overrides this.
        """
        k = getattr(self, "kernel_size", None)
        return list(k) if isinstance(k, list) else k if isinstance(k, int) else None

    def groups_count(self) -> int | None:
        """``module.groups`` where torch's module has it (grouped convolutions); None otherwise."""
        g = getattr(self, "groups", None)
        return g if isinstance(g, int) and not isinstance(g, bool) else None

    def torch_leaves(self, out: Tensor) -> list[TorchLeaf]:
        """The modules without submodules torch runs for this layer, with their outputs.

        By default the layer's own module (none for a tensor operation). A type
        built of submodules (TransformerEncoderLayer: linear1, norm1, ...) lists
        them; one whose forward calls none of its submodules' forwards
        (MultiheadAttention) lists none. torchinfo's totals count only these.
        """
        if self.torch_name is None:
            return [] if self.module_source is None else [TorchLeaf(self.type_name(), self.param_count(), out.shape)]
        return [TorchLeaf(self.torch_name.rsplit(".", 1)[-1], self.param_count(), out.shape)]

    def receptive_field(self, fields: list[RField | None]) -> RField | None:
        """The receptive field and cumulative stride at the output, from those at the inputs (None: unknown or
        not defined, as after a flatten or a linear layer). Windowed layers and merges override."""
        if self.keeps_receptive_field and len(fields) == 1:
            return fields[0]
        return None

    @classmethod
    def field_order(cls) -> list[str]:
        """The fields in torch's signature order (``arg_order`` first, then the rest as declared)."""
        order = cls.arg_order
        fields = list(cls.model_fields)
        return sorted(fields, key=lambda n: order.index(n) if n in order else len(order)) if order else fields

    def ctor_args(self) -> dict[str, Any]:
        """Constructor arguments that differ from torch's defaults, in torch's signature order."""
        out: dict[str, Any] = {}
        fields = type(self).model_fields
        for name in type(self).field_order():
            f = fields[name]
            if name in self.meta_fields:
                continue
            v = getattr(self, name)
            if f.is_required() or v != f.default:
                out[name] = v
        return out

    def label(self) -> str:
        """Key hyperparameters for a diagram node, e.g. ``5x5 /2 p2``."""
        return ""

    def emit_call(self, ref: str | None, args: list[str]) -> str:
        """The forward expression for this layer: ``self.conv1(x)``.

        ``ref`` is the module attribute (``self.conv1``) or None for a tensor
        operation (``torch_name`` None), which must override this.
        """
        if ref is None:  # pragma: no cover - every op overrides
            raise NotImplementedError(f"{type(self).__name__} must define emit_call")
        call = f"{ref}({', '.join(args)})"
        return f"{call}[0]" if self.tuple_output else call

    def emit_tuple(self, ref: str | None, args: list[str]) -> str:
        """The forward expression for the whole tuple, when a later layer uses its items (``tuple_items``)."""
        return f"{ref}({', '.join(args)})"


def register(cls: type[Layer]) -> type[Layer]:
    """Class decorator: make ``cls`` available as ``type: <ClassName>`` in specs.

    Write it on the line above ``class``, in a module of ``archcheck/layers/``: that is how the registry finds
    the module to import for a type (``archcheck.layers.index``), and any other use is refused here.
    """
    from . import index

    module = cls.__module__.rpartition(".")[2]
    if index() and (index().get(cls.type_name()) != module or not cls.__module__.startswith(f"{__package__}.")):
        raise TypeError(
            f"layer type {cls.type_name()} is registered where archcheck.layers.index() does not see it: "
            f"write @register on the line above `class {cls.type_name()}` in a module of archcheck/layers/"
        )
    dict.__setitem__(REGISTRY, cls.type_name(), cls)
    return cls


def _broadcast(v: tuple[int, ...], n: int) -> tuple[int, ...]:
    return v * n if len(v) == 1 else v


def window_field(field: RField | None, nd: int, kernel: Any, stride: Any, dilation: Any) -> RField | None:
    """The receptive field after a sliding window (a conv, a pool) of ``nd`` spatial dims."""
    if field is None:
        return None
    k = as_tuple(kernel, nd)
    s = as_tuple(stride if stride is not None else kernel, nd)
    d = as_tuple(dilation, nd)
    rf, jump = _broadcast(field[0], nd), _broadcast(field[1], nd)
    if len(rf) != nd:
        return None
    rf2 = tuple(r + di * (ki - 1) * j for r, di, ki, j in zip(rf, d, k, jump, strict=False))
    return rf2, tuple(j * si for j, si in zip(jump, s, strict=False))


def merge_fields(fields: list[RField | None]) -> RField | None:
    """Branches that meet: the largest field if they are equally strided, else None."""
    if any(f is None for f in fields) or not fields:
        return None
    n = max(len(f[0]) for f in fields if f)
    jumps = {_broadcast(f[1], n) for f in fields if f}
    if len(jumps) != 1:
        return None
    rfs = [_broadcast(f[0], n) for f in fields if f]
    return tuple(max(r[i] for r in rfs) for i in range(n)), jumps.pop()


def as_tuple(v: int | list[int], n: int) -> tuple[int, ...]:
    """Expand torch's ``int or tuple`` argument to ``n`` entries."""
    if isinstance(v, int):
        return (v,) * n
    return tuple(v)


def numel_per(shape: Shape) -> int | None:
    """Elements of ``shape``, counting a bare free dim (the batch ``N``) as 1.

    MACs are then "per N"; a dim that arithmetic touched makes them unknown.
    """
    total = 1
    for d in shape:
        if isinstance(d, int):
            total *= d
        elif isinstance(d, str):
            continue
        else:
            return None
    return total
