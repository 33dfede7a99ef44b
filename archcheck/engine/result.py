"""What ``check`` returns: the tree of :class:`Node`, the conditions on free dims, the expectations
the solver decides, and the diagnostics (:class:`CheckResult`).

The walker (walk.py) builds it; conditions.py, expect.py and noqa.py read and extend it; every
emitter reads it. It imports nothing else of the engine, so they need not import the walker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..diagnostics.codes import Diagnostic
from ..layers.base import Layer, Tensor
from ..shapes import dims as D
from ..spec.loader import Path, Source
from ..spec.schema import Spec

ANY = "_"  # an expect entry: any size


@dataclass(frozen=True)
class Inferred:
    """A field the spec left out that the shape rule filled in: its value and where the number came from.

    ``input``/``axis``/``tensor``: which of the layer's inputs, which dim of it (non-negative) and that
    input itself (its ``producer``, and its ``product`` when the dim multiplies others); all None for a
    value not read off an input (a nested layer a container's rule completed).
    """

    value: Any
    input: int | None = None
    axis: int | None = None
    tensor: Tensor | None = None


@dataclass
class Node:
    """One module (or tensor operation) of the instantiated network."""

    path: str  # dotted module path: "layer1.0.conv1"
    name: str  # the attribute name in its parent
    type: str  # layer type, block name, or "Sequential"
    kind: str  # "layer", "sequential" or "block"
    src: Path  # where it is written in the spec file
    layer: Layer | None = None  # for kind "layer": with inferred fields filled in
    children: list[Node] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)  # names in the enclosing scope
    input_shapes: list[Any] = field(default_factory=list)
    output: Tensor | None = None
    params: int | None = None
    macs: int | None = None
    block_params: dict[str, Any] = field(default_factory=dict)
    repeat: int | None = None  # a Sequential made by `repeat: k`
    expect: str | None = None  # the spec's `expect:` for its output, as written ("[N, 16, 14, 14]")
    trainable: bool = True  # False under `trainable: false` (its own or a container's): requires_grad_(False)
    frozen: bool = False  # its own entry says trainable: false (the generated code freezes it there)
    training_only: bool = False  # it feeds only outputs marked training_only: run only while self.training
    # Fields (a block instance's params) the spec wrote as `$` expressions, as written: {"out_channels": "$planes * 4"}
    exprs: dict[str, str] = field(default_factory=dict)
    # Fields the spec left out and the shape rule inferred, in the order it filled them: {"in_features": ...}
    inferred: dict[str, Inferred] = field(default_factory=dict)

    @property
    def trainable_params(self) -> int:
        """Parameters that get gradients: torch's ``sum(p.numel() for p in m.parameters() if p.requires_grad)``."""
        own = sum(n.params or 0 for n in self.walk() if n.kind == "layer" and n.trainable)
        return own - self.shared_trainable  # tied parameters inside it count once (tie:)

    # kind "use": an earlier module of the same scope called again (``use: tower``); no module of its own
    target: Node | None = field(default=None, repr=False)
    # tie: {weight: wte.weight}, checked: this layer's parameter -> the one it is (path from its class's scope)
    ties: dict[str, str] = field(default_factory=dict)
    shared_trainable: int = 0  # trainable elements of tied parameters both of whose layers are inside it

    def walk(self) -> Any:
        yield self
        for c in self.children:
            yield from c.walk()


LayerResult = Node


@dataclass
class Condition:
    """Two dims that must be equal (from a merge), or with ``op`` ">=", a size that must be at least ``b``."""

    path: str
    src: Path
    a: Any
    b: Any
    what: str
    op: str = "=="


@dataclass
class CheckResult:
    """Everything ``check`` learned about a spec."""

    spec: Spec
    inputs: dict[str, Tensor] = field(default_factory=dict)
    outputs: dict[str, Tensor | None] = field(default_factory=dict)
    root: list[Node] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    bindings: dict[str, int] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    conditions: list[Condition] = field(default_factory=list)
    expects: list[ExpectCheck] = field(default_factory=list)  # expectations that need the solver
    shared_params: int = 0  # elements of tied parameters (tie:): torch's parameters() counts each once
    shared_trainable: int = 0  # those of them that both tied layers count as trainable

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def source(self) -> Source:
        return self.spec.source

    @property
    def nodes(self) -> list[Node]:
        return [n for r in self.root for n in r.walk()]

    @property
    def layers(self) -> list[Node]:
        """The leaf layers and operations, in execution order."""
        return [n for n in self.nodes if n.kind == "layer"]

    @property
    def ok(self) -> bool:
        return not any(d.severity == "error" for d in self.diagnostics)

    @property
    def total_params(self) -> int:
        return sum(r.params or 0 for r in self.layers) - self.shared_params

    @property
    def calls(self) -> list[Node]:
        """The layers and the second uses of modules (``use:``), in execution order: what computes."""
        return [n for n in self.nodes if n.kind in ("layer", "use")]

    @property
    def trainable_params(self) -> int:
        """As torch counts them: parameters with requires_grad (not under ``trainable: false``)."""
        return sum(r.params or 0 for r in self.layers if r.trainable) - self.shared_trainable

    @property
    def training_only_outputs(self) -> list[str]:
        """Outputs that forward returns only while ``self.training`` (GoogLeNet's aux heads)."""
        return [n for n in self.outputs if n in self.spec.training_only]

    @property
    def total_macs(self) -> int | None:
        """MACs of the whole network; None when unknown or when layers count per different free dims."""
        calls = [r for r in self.calls if not r.training_only]  # an eval-mode forward, as published MACs
        if any(r.macs is None and r.output is not None for r in calls):
            return None
        pers = {tuple(_macs_per(r)) for r in calls if r.macs}
        if len(pers) > 1:
            return None  # e.g. an LSTM counted per N*L beside a Linear counted per N
        return sum(r.macs or 0 for r in calls)

    @property
    def macs_per(self) -> list[str]:
        """Free dims the MACs are counted per (bare symbols such as the batch N), e.g. ["N"]."""
        names: set[str] = set()
        for r in self.calls:
            if r.macs:
                names.update(_macs_per(r))
        return sorted(names)


def _macs_per(n: Node) -> list[str]:
    """The bare free dims a layer's MACs are counted per: those of its input and output shapes."""
    names = {d for shape in n.input_shapes if shape for d in shape if isinstance(d, str)}
    if n.output is not None:
        names.update(d for d in n.output.shape if isinstance(d, str))
    return sorted(names)


@dataclass
class ExpectCheck:
    """One expectation against one tensor; ``pending`` dims are decided by the conditions solver."""

    path: str | None
    src: Path
    what: str  # "the output of pool1"
    expected: list[Any]
    actual: Tensor
    problems: list[str] = field(default_factory=list)  # decided mismatches, in words
    pending: list[tuple[int, Any, Any]] = field(default_factory=list)  # (dim index, actual, expected)
    fixed: dict[int, Any] = field(default_factory=dict)  # decided mismatches: dim index -> expected
    rank_fixed: list[Any] | None = None  # a wrong rank: the expected shape, when it names every dim
    symbolic: bool = False

    def text(self) -> str:
        return "[" + ", ".join(D.fmt(e) if not isinstance(e, str) else e for e in self.expected) + "]"

    def report(self, res: CheckResult, problems: list[str]) -> None:
        got = self.actual.describe()
        msg = f"expected {self.text()}, but {self.what} is {got}"
        origin = self.actual.origin
        if origin and origin not in self.what:
            msg += f" ({origin})"
        if problems:
            msg += ": " + "; ".join(problems[:4]) + ("; ..." if len(problems) > 4 else "")
        if problems and all(" only when " in p for p in problems):
            hint = "give the free dims sizes for which it holds (dims: or --dim), or pad/crop so that every size works"
        elif problems and all(" for no size " in p or " only when " in p for p in problems):
            hint = "the sizes differ for every input size: check the paddings and strides, or the expectation"
        else:
            shown = ", ".join(D.fmt(a) if isinstance(a, (int, str)) else ANY for a in self.actual.shape)
            hint = f"fix the layers, or the expectation (expect: [{shown}])"
        d = Diagnostic(
            "error",
            "AC309",
            msg,
            path=self.path,
            notes=problems[4:],
            hint=hint,
        )
        if self.actual.note:
            d.notes.append(self.actual.note)
        res.source.locate(d, self.src)
        key = (d.code, d.line, d.column, d.message)
        if not any((o.code, o.line, o.column, o.message) == key for o in res.diagnostics):  # block copies
            res.diagnostics.append(d)
