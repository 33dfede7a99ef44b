"""The shape engine: walks the layers, propagates shapes, collects findings.

It never raises on a finding. A layer that fails gets an unknown output, and
layers that consume an unknown tensor are skipped silently, so one mistake
gives one diagnostic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import dims as D
from .diagnostics import Diagnostic
from .loader import Path, Source
from .registry import Layer, Tensor
from .schema import LayerEntry, Spec, name_problem


@dataclass
class LayerResult:
    path: str
    type: str
    layer: Layer | None  # with inferred fields filled in
    inputs: list[str]
    input_shapes: list[Any]
    output: Tensor | None
    params: int | None
    macs: int | None
    src: Path


@dataclass
class CheckResult:
    """Everything ``check`` learned about a spec."""

    spec: Spec
    inputs: dict[str, Tensor] = field(default_factory=dict)
    outputs: dict[str, Tensor | None] = field(default_factory=dict)
    layers: list[LayerResult] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    bindings: dict[str, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def source(self) -> Source:
        return self.spec.source

    @property
    def ok(self) -> bool:
        return not any(d.severity == "error" for d in self.diagnostics)

    @property
    def total_params(self) -> int:
        return sum(r.params or 0 for r in self.layers)

    @property
    def total_macs(self) -> int | None:
        if any(r.macs is None and r.output is not None for r in self.layers):
            return None
        return sum(r.macs or 0 for r in self.layers)

    @property
    def macs_per(self) -> list[str]:
        """Free dims the MACs are counted per (bare symbols such as the batch N)."""
        names: set[str] = set()
        for r in self.layers:
            if r.output is not None:
                names.update(d for d in r.output.shape if isinstance(d, str))
        return sorted(names)


class Ctx:
    """What a shape rule may do: report, fill in inferred fields, describe inputs."""

    def __init__(self, result: CheckResult, entry: LayerEntry, path: str) -> None:
        self._result = result
        self._entry = entry
        self.path = path
        self.filled: dict[str, Any] = {}
        self.failed = False

    def report(
        self,
        severity: str,
        code: str,
        message: str,
        *,
        field: str | None = None,
        hint: str | None = None,
        notes: list[str] | None = None,
        dims: list[str] | None = None,
    ) -> None:
        d = Diagnostic(severity, code, message, path=self.path, hint=hint, notes=list(notes or []))  # type: ignore[arg-type]
        where = self._entry.src + ((field,) if field else ())
        src = self._result.source
        if field and where not in src.values:  # an inferred field: point at the layer's type
            where = self._entry.src + ("type",)
        src.locate(d, where)
        bound = self._result.bindings
        if dims:
            d.bindings = {k: bound.get(k, "free") for k in dims}  # type: ignore[misc]
        self._result.diagnostics.append(d)
        if severity == "error":
            self.failed = True

    def error(self, code: str, message: str, **kw: Any) -> None:
        self.report("error", code, message, **kw)

    def warn(self, code: str, message: str, **kw: Any) -> None:
        self.report("warning", code, message, **kw)

    def fill(self, **values: Any) -> None:
        """Record fields inferred from the input (in_channels, in_features, ...)."""
        self.filled.update(values)

    def given(self, name: str) -> bool:
        """Whether the spec wrote ``name`` for this layer (rather than a default)."""
        return self._entry.src + (name,) in self._result.source.values

    @staticmethod
    def source(x: Tensor) -> str:
        """Where a tensor came from, for messages: 'flatten of [...] from pool2'."""
        if x.origin:
            return x.origin
        return f"output of {x.producer}" if x.producer else "the model input"


def _auto_names(entries: list[LayerEntry], taken: set[str]) -> list[str]:
    """Readable names for unnamed layers: relu1, relu2, flatten1, ..."""
    counts: dict[str, int] = {}
    out = []
    for e in entries:
        if e.name is not None:
            out.append(e.name)
            continue
        base = e.type.lower() if e.type.isidentifier() else "layer"
        while True:
            counts[base] = counts.get(base, 0) + 1
            cand = f"{base}{counts[base]}"
            if cand not in taken:
                break
        taken.add(cand)
        out.append(cand)
    return out


def check(spec: Spec, dims: dict[str, int] | None = None) -> CheckResult:
    """Propagate shapes through ``spec``; every finding lands in ``result.diagnostics``."""
    res = CheckResult(spec=spec)
    res.diagnostics.extend(spec.source.diagnostics)
    res.diagnostics.extend(spec.diagnostics)
    src = spec.source
    bindings: dict[str, int] = {}
    if spec.model is not None and isinstance(spec.model.dims, dict):
        bindings.update(spec.model.dims)
    bindings.update(dims or {})
    res.bindings = bindings

    env: dict[str, Tensor | None] = {}
    for nm, inp in spec.inputs.items():
        shape = tuple(D.substitute(d, bindings) for d in inp.shape) if isinstance(inp.shape, list) else ()
        t = Tensor(
            shape, inp.dtype if isinstance(inp.dtype, str) else "float32", producer="", origin=f"the model input {nm}"
        )
        env[nm] = t
        res.inputs[nm] = t

    # Names: user names must be unique (and not clash with the inputs).
    taken = set(env)
    seen: dict[str, Path] = {}
    for e in spec.layers:
        if e.name is None or name_problem(e.name):
            continue
        if e.name in seen or e.name in env:
            d = Diagnostic(
                "error",
                "AC106",
                f"the name '{e.name}' is used twice"
                if e.name in seen
                else f"the layer name '{e.name}' is also a model input",
                path=e.name,
                hint="give each layer its own name",
            )
            if e.name in seen:
                s = src.span(seen[e.name] + ("name",))
                if s is not None:
                    d.notes.append(f"first used at line {s.line}")
            res.diagnostics.append(src.locate(d, e.src + ("name",)))
        seen.setdefault(e.name, e.src)
        taken.add(e.name)
    names = _auto_names(spec.layers, taken)

    prev: str | None = next(iter(env), None)
    for e, path in zip(spec.layers, names):
        layer = e.layer
        if layer is None:  # schema errors were reported: output unknown
            env[path] = None
            res.layers.append(LayerResult(path, e.type, None, [], [], None, None, None, e.src))
            prev = path
            continue
        in_names = list(layer.inputs) if layer.inputs else ([prev] if prev is not None else [])
        ctx = Ctx(res, e, path)
        xs: list[Tensor | None] = []
        for i, nm in enumerate(in_names):
            if nm not in env:
                ctx.error("AC104", f"inputs: no layer or input named '{nm}' before this layer", field="inputs")
                xs.append(None)
            else:
                xs.append(env[nm])
        out: Tensor | None = None
        resolved: Layer | None = layer
        lo, hi = type(layer).arity
        if not ctx.failed and not (lo <= len(xs) and (hi is None or len(xs) <= hi)):
            want = f"{lo}" if lo == hi else f"{lo} or more"
            ctx.error("AC104", f"{e.type} takes {want} input(s), got {len(xs)}", field="inputs")
        if not ctx.failed and all(x is not None for x in xs):
            try:
                out = layer.infer(ctx, xs)  # type: ignore[arg-type]
            except Exception as exc:  # a bug in a rule must not hide the others
                ctx.error("AC901", f"internal error in the {e.type} shape rule: {exc!r}")
                out = None
            if ctx.failed:
                out = None
            if ctx.filled:
                resolved = layer.model_copy(update=ctx.filled)
        params = resolved.param_count() if out is not None and resolved is not None else None
        macs = resolved.macs(xs, out) if out is not None and resolved is not None else None  # type: ignore[arg-type]
        shapes = [x.shape if x is not None else None for x in xs]
        res.layers.append(LayerResult(path, e.type, resolved, in_names, shapes, out, params, macs, e.src))
        env[path] = out
        prev = path

    if spec.model is not None and isinstance(spec.model.outputs, list):
        for i, nm in enumerate(spec.model.outputs):
            if nm in env:
                res.outputs[nm] = env[nm]
            else:
                res.diagnostics.append(
                    src.locate(Diagnostic("error", "AC104", f"outputs: no layer named '{nm}'"), ("outputs", i))
                )
    elif res.layers:
        res.outputs[res.layers[-1].path] = res.layers[-1].output
    res.diagnostics.sort(key=lambda d: (d.line or 0, d.column or 0))
    return res
