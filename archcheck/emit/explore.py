"""``archcheck explore``: check every variant of a spec over a grid of settings.

An axis is ``NAME=VALUES``: a spec param (``width=8,16,32``), a free input dim
(``H=28:112:28``, inclusive), or a layer field by dotted path
(``conv1.kernel_size=3,5``). The spec is read and schema-checked once; each
variant re-runs only the shape engine (no file I/O, no re-parsing). A spec
that is a plain chain of layers is compiled into a ``Plan`` that caches each
layer's validated fields and results across variants, computes new sizes of
common layer types with closed-form size kernels (explore_kernels.py), and
sends any variant with a finding through the full ``check`` (same rows; about
40 µs per SimpleCNN-size variant with new shapes, see bench/README.md). Large sweeps use
every core (``--jobs``). Result columns: ok, status, output(s), params, macs,
memory (activation bytes per sample), rf (receptive field), pareto, error,
diagnostics.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import math
import os
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from operator import itemgetter
from typing import Any

from ..diagnostics.codes import did_you_mean
from ..engine.result import CheckResult, ExpectCheck
from ..engine.walk import MAX_BYTES, Ctx, check, too_many_elements
from ..layers.base import Layer, Tensor
from ..shapes import dims as D
from ..spec.schema import Spec
from .explore_kernels import kernel_for
from .report import shape_json
from .summary import per_sample

MAX_VARIANTS = 1_000_000
MAX_DIGITS = 19  # an int in --set: up to 2**63-1, torch's largest size

_INT = re.compile(r"-?[0-9]+")  # ASCII digits only: int() also takes '٣' (and isdigit() '²')
_FLOAT = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


# the result columns of every row: an axis may not take one of these names (a spec param called
# ``params`` would otherwise be overwritten by the count, in the table, the CSV, --where and --sort)
RESULT_COLUMNS = (
    "ok",
    "status",
    "output",
    "outputs",
    "params",
    "macs",
    "memory",
    "rf",
    "pareto",
    "error",
    "diagnostics",
    "set",
)


class ExploreError(Exception):
    """A usage problem with the sweep (bad axis, bad filter): exit 2."""


@dataclass
class Axis:
    key: str
    kind: str  # "param", "dim" or "field"
    values: list[Any]
    path: str | None = None
    field: str | None = None


def parse_values(text: str) -> list[Any]:
    """``8,16,32`` or ``8:64:8`` (inclusive) or ``true,false`` or ``same,valid``."""
    text = text.strip()
    if not text:
        raise ExploreError("no values given")
    if ":" in text and "," not in text:
        parts = [p.strip() for p in text.split(":")]
        if len(parts) not in (2, 3) or not all(_INT.fullmatch(p) for p in parts):
            raise ExploreError(f"a range is START:STOP[:STEP] of ints in ASCII digits, got {_shown(text)}")
        if any(len(p.lstrip("-")) > MAX_DIGITS for p in parts):
            raise ExploreError(f"the range {_shown(text)} has a number beyond 2**63-1")
        start, stop = int(parts[0]), int(parts[1])
        step = int(parts[2]) if len(parts) == 3 else 1
        if step <= 0 or stop < start:
            raise ExploreError(f"the range '{text}' is empty (STOP >= START, STEP >= 1)")
        if (stop - start) // step + 1 > MAX_VARIANTS:
            raise ExploreError(f"the range '{text}' has more than {MAX_VARIANTS:,} values")
        return list(range(start, stop + 1, step))
    return [_scalar(v.strip()) for v in text.split(",")]


def _shown(v: str, limit: int = 60) -> str:
    return repr(v) if len(v) <= limit else repr(v[:limit]) + f"... ({len(v):,} characters)"


def _scalar(v: str) -> Any:
    """An int or float written in ASCII digits, a bool, null, or else the text itself."""
    low = v.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("null", "none"):
        return None
    if _INT.fullmatch(v):
        if len(v.lstrip("-")) > MAX_DIGITS:
            raise ExploreError(f"the value {_shown(v)} is beyond 2**63-1")
        return int(v)
    if _FLOAT.fullmatch(v):
        f = float(v)
        if not math.isfinite(f):
            raise ExploreError(f"the value {_shown(v)} is not a finite number")
        return f
    return v


def free_dims(spec: Spec) -> list[str]:
    names: list[str] = []
    for inp in spec.inputs.values():
        for d in inp.shape if isinstance(inp.shape, list) else []:
            if isinstance(d, str) and d not in names:
                names.append(d)
    if spec.model is not None and isinstance(spec.model.dims, dict):
        names += [k for k in spec.model.dims if k not in names]
    return names


def parse_axis(spec: Spec, base: CheckResult, text: str) -> Axis:
    key, eq, values = text.partition("=")
    key = key.strip()
    if not eq or not key:
        raise ExploreError(f"--set takes NAME=VALUES, got '{text}'")
    vals = parse_values(values)
    params = list(base.params)
    dims = free_dims(spec)
    if "." in key:
        path, field = key.rsplit(".", 1)
        paths = {n.path: n for n in base.nodes}
        if path not in paths:
            guess = did_you_mean(path, list(paths), ignore_case=False)
            raise ExploreError(f"no layer at path '{path}'" + (f"; did you mean '{guess}'?" if guess else ""))
        node = paths[path]
        if node.kind == "layer" and node.layer is not None:
            fields = [f for f in type(node.layer).model_fields if f not in type(node.layer).meta_fields]
            if field not in fields:
                guess = did_you_mean(field, fields)
                raise ExploreError(
                    f"{node.type} '{path}' has no field '{field}'" + (f"; did you mean '{guess}'?" if guess else "")
                )
        return Axis(key, "field", vals, path, field)
    if key in RESULT_COLUMNS and (key in params or key in dims):
        raise ExploreError(
            f"'{key}' is also the name of a result column ({', '.join(RESULT_COLUMNS)}): "
            "rename the param or dim in the spec to sweep it"
        )
    if key in params:
        return Axis(key, "param", vals)
    if key in dims:
        for v in vals:
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ExploreError(f"dim {key} takes ints >= 1 in ASCII digits, got {v!r}")
        return Axis(key, "dim", vals)
    guess = did_you_mean(key, params + dims, ignore_case=False)
    known = ", ".join(params + dims) or "none"
    raise ExploreError(
        f"'{key}' is neither a param nor a free dim of this spec"
        + (f"; did you mean '{guess}'?" if guess else f" (params and dims: {known}); for a layer field use PATH.FIELD")
    )


def combinations(axes: list[Axis], sample: int | None = None, seed: int = 0) -> Iterator[dict[str, Any]]:
    """Every combination, or ``sample`` distinct ones drawn at random."""
    total = math.prod(len(a.values) for a in axes)
    if sample is None or sample >= total:
        if total > MAX_VARIANTS:
            raise ExploreError(f"{total:,} variants is more than {MAX_VARIANTS:,}: use --random K")
        for combo in itertools.product(*(a.values for a in axes)):
            yield {a.key: v for a, v in zip(axes, combo)}
        return
    if sample > MAX_VARIANTS:
        raise ExploreError(f"--random {sample:,} is more than {MAX_VARIANTS:,} variants")
    rng = random.Random(seed)
    for idx in sorted(rng.sample(range(total), sample)):
        picked: dict[str, Any] = {}
        for a in reversed(axes):
            idx, r = divmod(idx, len(a.values))
            picked[a.key] = a.values[r]
        yield {a.key: picked[a.key] for a in axes}


def activation_bytes(res: CheckResult) -> int | None:
    """Bytes of every layer output for one sample at fp32 (as ``archcheck summary`` counts them)."""
    from .summary import activation_bytes as act

    return act(res)


def receptive_field(res: CheckResult) -> int | None:
    """The receptive field of the network, in input pixels: ``summary``'s RF column at the last layer
    that has one (before a flatten, a global pool, ...), the smallest over its spatial dims; None when
    no layer has one (an MLP)."""
    from .summary import receptive_fields

    fields = receptive_fields(res)
    for n in reversed(res.layers):
        f = fields.get(n.path)
        if f is not None:
            return min(f.rf)
    return None


def run_variant(spec: Spec, axes: list[Axis], combo: dict[str, Any], dims: dict[str, int]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    vdims = dict(dims)
    overrides: dict[str, dict[str, Any]] = {}
    for a in axes:
        v = combo[a.key]
        if a.kind == "param":
            params[a.key] = v
        elif a.kind == "dim":
            vdims[a.key] = v
        else:
            overrides.setdefault(a.path or "", {})[a.field or ""] = v
    res = check(spec, vdims, params, overrides)
    errors = [d for d in res.diagnostics if d.severity == "error"]
    outs = list(res.outputs.values())
    row = dict(combo)
    # validate's contract: shapes as lists (ints, or strings for symbolic dims), diagnostics as objects
    row["outputs"] = {k: shape_json(t.shape if t else None) for k, t in res.outputs.items()}
    row["diagnostics"] = [d.to_json() for d in res.diagnostics]
    row.update(
        ok=not errors,
        status="ok" if not errors else errors[0].code,
        output=", ".join(t.describe() if t else "?" for t in outs),
        params=res.total_params if not errors else None,
        macs=res.total_macs if not errors else None,
        memory=activation_bytes(res) if not errors else None,
        rf=receptive_field(res) if not errors else None,
        error=(f"{errors[0].path + ': ' if errors[0].path else ''}{errors[0].message}" if errors else ""),
    )
    return row


def _identifiers(v: Any, out: set[str]) -> None:
    """Every identifier-like word in the strings of ``v`` (the params and dims a field's value may name)."""
    if isinstance(v, str):
        out.update(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", v))
    elif isinstance(v, list):
        for x in v:
            _identifiers(x, out)
    elif isinstance(v, dict):
        for k, x in v.items():
            _identifiers(k, out)
            _identifiers(x, out)


def _frozen(v: Any) -> Any:
    """A hashable stand-in for a value that keeps apart what a field tells apart (1, 1.0, True; [3], 3)."""
    if type(v) is int:
        return v
    if isinstance(v, list):
        return ("[", *(_frozen(x) for x in v))
    if isinstance(v, dict):
        return ("{", *((k, _frozen(x)) for k, x in v.items()))
    if isinstance(v, (float, str, bool)) or v is None:
        return (type(v).__name__, v)
    raise TypeError(v)


_MISS: Any = object()  # a cache miss (None is a cached 'check this variant in full')
_RF0 = ((1,), (1,))  # summary.receptive_fields' field at the input


class _Bail(Exception):
    """The fast path met something it leaves to ``check``."""


class _FastCtx(Ctx):
    """The ``Ctx`` a shape rule gets in the fast path: any finding or condition sets ``bailed``
    (the variant then goes through ``check``, which reports it), and nothing else is recorded."""

    def __init__(self, bindings: dict[str, int], path: str, given: frozenset[str], inputs: str) -> None:
        self._bindings = bindings
        self._given = given  # type: ignore[assignment]
        self.path = path
        self.input_names = [inputs]
        self.filled: dict[str, Any] = {}
        self.failed = False
        self.recovered = False
        self.bailed = False

    def report(self, severity: str, code: str, message: str, **kw: Any) -> None:
        self.bailed = True
        if severity == "error":
            self.failed = True

    def fill_from(self, x: Tensor, axis: int, /, **values: Any) -> None:
        self.filled.update(values)  # no provenance: nothing here emits code

    def value(self, name: str) -> int | None:
        return self._bindings.get(name)

    def require_equal(self, a: Any, b: Any, what: str) -> bool | None:
        eq = D.equal(a, b)
        if eq is None:
            self.bailed = True
        return eq

    def require_min(self, a: Any, k: int, what: str) -> bool | None:
        if isinstance(a, int):
            return a >= k
        if isinstance(a, str) and k <= 1:
            return True
        self.bailed = True
        return None


@dataclass
class _Fields:
    """A layer's fields for one setting of what they name: validated once."""

    layer: Layer
    given: frozenset[str]
    expect: bool  # the layer has an ``expect:``
    resolved: dict[tuple[Any, ...], tuple[Layer, int]]  # by the fields the rule filled in: layer, params
    plain: tuple[Layer, int] | None = None  # when it fills in nothing


@dataclass(slots=True)
class _Step:
    """What one layer adds to a variant, for one input."""

    output: Tensor
    resolved: Layer
    params: int
    macs: int | None
    macs_per: tuple[str, ...]
    act: int | None  # bytes of one sample of its output (summary.activation_bytes)
    rf: tuple[tuple[int, ...], tuple[int, ...]] | None  # receptive field and cumulative stride (summary.Field)
    ints: bool  # the output's dims are all ints


class Plan:
    """A compiled sweep over a plain chain of layers: variants evaluated from per-layer caches.

    ``check`` walks the whole spec for every variant (names, expressions, pydantic validation, shape
    rules, diagnostics with source spans). The plan does the structural part once, and per layer
    caches (1) the validated layer, by the values of the params and dims its fields name and of its
    swept fields, and (2) the layer's result (output, params, MACs, activation size), by that and its
    input's shape, dtype and dim roles. A cache miss runs the layer type's own shape rule
    (``infer``/``roles``/``param_count``/``macs``); once that rule has passed an input of some signature
    (the fields, the input's dtype, roles and rank), later inputs of that signature go to the type's size
    kernel (``explore_kernels``: conv, pool, activation, dropout, norm, Flatten, Linear), which gives
    the same sizes, params and MACs or declines whenever the rule could report something about the
    sizes (the rule then runs). A variant in which any
    layer reports anything (an error, a warning, a condition on a free dim, an expression or field
    error) is checked again in full by ``check``, so its row is exactly ``run_variant``'s; so is every
    variant of a spec the plan does not cover (``compile`` returns None: blocks, Sequential, repeat,
    several inputs or outputs, explicit ``inputs:``, output expectations, noqa, load or schema
    findings, or an axis on a nested layer). ``tests/test_explore.py`` compares both on random variants.
    """

    MAX_CACHED = 100_000  # entries kept; past that the caches start again (bounded memory)

    def __init__(self, spec: Spec, axes: list[Axis], dims: dict[str, int], names: list[str]) -> None:
        from ..engine.walk import _eval_params
        from ..layers.base import REGISTRY
        from .summary import Sizing

        self.spec, self.axes, self.dims, self.names = spec, axes, dims, names
        self.sizing = Sizing(None, "float32")  # summary.activation_bytes: floats at fp32, others as they are
        self._eval_params = _eval_params
        self.param_axes = [a.key for a in axes if a.kind == "param"]
        self.dim_axes = [a.key for a in axes if a.kind == "dim"]
        self.prev = [next(iter(spec.inputs)), *names[:-1]]
        self.last = names[-1]
        m = spec.model
        pnames = set(m.params) if m is not None and isinstance(m.params, dict) else set()
        pnames.update(self.param_axes)
        dnames = set(free_dims(spec)) | set(dims) | set(self.dim_axes)
        self.items: list[dict[str, Any]] = []
        self.words: list[tuple[tuple[str, ...], tuple[str, ...]]] = []  # params and dims its fields name
        self.swept: list[list[Axis]] = []
        self.classes: list[type[Layer]] = []
        for i, raw in enumerate(spec.raw_layers):
            item = {"type": raw} if isinstance(raw, str) else raw
            swept = [a for a in axes if a.kind == "field" and a.path == names[i]]
            words: set[str] = set()
            _identifiers({k: v for k, v in item.items() if k != "type"}, words)
            for a in swept:  # a swept field's value may be an expression too
                _identifiers([v for v in a.values if isinstance(v, str)], words)
            self.items.append(item)
            self.words.append((tuple(sorted(words & pnames)), tuple(sorted(words & dnames - pnames))))
            self.swept.append(swept)
            self.classes.append(REGISTRY[item["type"]])
        self.kernels = [kernel_for(cls) for cls in self.classes]
        self._clear()

    def _clear(self) -> None:
        self.fields: list[dict[tuple[Any, ...], _Fields | None]] = [{} for _ in self.items]
        self.steps: list[dict[tuple[Any, ...], _Step | None]] = [{} for _ in self.items]
        self.swept_keys = [[a.key for a in swept] for swept in self.swept]
        self.shown: dict[Any, tuple[str, tuple[Any, ...]]] = {}  # a final shape as the row shows it
        self.rfs: dict[tuple[int, Any], Any] = {}
        # per layer, the input signatures (fields, dtype, roles, rank) its own rule passed (see _learn):
        # the size kernel for those fields, the output's roles and dtype, its bytes per element, the layer
        self.known: list[dict[tuple[Any, ...], tuple[Any, ...]]] = [{} for _ in self.items]
        # by the swept params' values: the scope, and each layer's part of its fields' key (see _parts)
        self.scopes: dict[tuple[Any, ...], tuple[dict[str, Any], list[tuple[Any, ...]]] | None] = {}
        # by the swept dims' values: the bindings, the model's input and each layer's part of its key
        # (and whether its dims are all ints)
        self.inputs: dict[tuple[Any, ...], tuple[dict[str, int], Tensor, list[tuple[Any, ...]], bool] | None] = {}
        self.cached = 0

    @classmethod
    def compile(cls, spec: Spec, axes: list[Axis], dims: dict[str, int]) -> Plan | None:
        """The plan for ``spec``, or None when every variant must go through ``check`` (see the class)."""
        from ..engine.walk import MAX_NODES
        from ..layers.base import REGISTRY
        from ..spec.schema import name_problem

        m = spec.model
        src = spec.source
        if m is None or spec.diagnostics or src.diagnostics or "noqa" in src.text:
            return None
        if len(spec.inputs) != 1 or spec.unknown_inputs or spec.output_expect or m.outputs is not None:
            return None
        if m.params is not None and not isinstance(m.params, dict):
            return None
        layers = spec.raw_layers
        if not layers or len(layers) > MAX_NODES:
            return None
        names: list[str] = []
        counts: dict[str, int] = {}
        given = [it.get("name") for it in layers if isinstance(it, dict)]
        for raw in layers:
            item = {"type": raw} if isinstance(raw, str) else raw
            if not isinstance(item, dict) or not isinstance(t := item.get("type"), str):
                return None
            if t not in REGISTRY or t in spec.blocks or t == "Sequential" or "repeat" in item or "inputs" in item:
                return None
            lo, hi = REGISTRY[t].arity
            if not lo <= 1 <= (hi if hi is not None else 1):
                return None
            nm = item.get("name")
            if nm is None:  # the names engine.walk_scope makes up
                base = t.lower() if t.lower().isidentifier() and not name_problem(t.lower() + "1") else "layer"
                while True:
                    counts[base] = counts.get(base, 0) + 1
                    cand = f"{base}{counts[base]}"
                    if cand not in given and cand not in spec.inputs:
                        break
                names.append(cand)
            elif not isinstance(nm, str) or name_problem(nm) is not None or given.count(nm) > 1 or nm in spec.inputs:
                return None  # AC106/AC107: check reports them
            else:
                names.append(nm)
        if any(a.kind == "field" and a.path not in names for a in axes):
            return None
        return cls(spec, axes, dims, names)

    def run(self, combo: dict[str, Any]) -> dict[str, Any] | None:
        """The row of one variant, or None when it must be checked in full."""
        if self.cached > self.MAX_CACHED:
            self._clear()
        try:
            pkey = tuple([_frozen(combo[k]) for k in self.param_axes])
            got: Any = self.scopes.get(pkey, _MISS)
            if got is _MISS:
                scope = self._scope(combo)
                got = self.scopes[pkey] = None if scope is None else (scope, self._parts(scope, 0))
                self.cached += 1
            dkey = tuple([combo[k] for k in self.dim_axes])
            din: Any = self.inputs.get(dkey, _MISS)
            if din is _MISS:
                bindings = self._bindings(combo)
                x0 = self._input(bindings) if bindings is not None else None
                din = None
                if bindings is not None and x0 is not None:
                    din = (bindings, x0, self._parts(bindings, 1), all(type(d) is int for d in x0.shape))
                self.inputs[dkey] = din
                self.cached += 1
            if got is None or din is None:
                return None
            scope, pparts = got
            bindings, x, dparts, ints = din
            shape, dtype, roles = x.shape, x.dtype, x.roles
            batch = shape[0] if shape else None
            rf: Any = _RF0
            last: Any = None
            params = 0
            act: int | None = 0
            macs: int | None = 0
            per: tuple[str, ...] | None = None
            known = self.known
            for i, swept in enumerate(self.swept_keys):
                fkey = pparts[i] + dparts[i]
                if swept:
                    fkey += tuple([_frozen(combo[k]) for k in swept])
                sig = (fkey, dtype, roles, len(shape))
                kn: Any = known[i].get(sig)
                got = self._kernel_step(kn, shape, ints, batch, rf) if kn is not None and 0 not in shape else None
                if got is not None:  # the layer's size kernel; its output stays a shape until a rule needs it
                    shape, p, m, mper, a, rf = got
                    roles, dtype = kn[1], kn[2]
                    x = None
                else:  # the layer's own rule, cached by input
                    if x is None:
                        x = Tensor(shape, dtype, self.prev[i], None, None, roles)
                    cache = self.steps[i]
                    skey = (fkey, shape, dtype, roles, batch, rf)
                    step: Any = cache.get(skey, _MISS)
                    if step is _MISS:
                        step = cache[skey] = self._step(i, fkey, scope, bindings, combo, x, batch, rf)
                        self.cached += 1
                        if step is not None and self.kernels[i] is not None:
                            self._learn(i, sig, fkey, step)
                    if step is None:
                        return None
                    x = step.output
                    shape, dtype, roles, ints = x.shape, x.dtype, x.roles, step.ints
                    p, m, mper, a, rf = step.params, step.macs, step.macs_per, step.act, step.rf
                params += p
                if m is None:
                    macs = None
                elif macs is not None and m:
                    if per is None:
                        per = mper
                    elif per != mper:
                        macs = None  # layers counted per different free dims (engine.total_macs)
                    if macs is not None:
                        macs += m
                if act is not None:
                    act = None if a is None else act + a
                if rf is not None:
                    last = rf
        except _Bail:
            return None
        shown = self.shown.get(shape)
        if shown is None:
            shown = self.shown[shape] = (D.fmt_shape(shape), tuple(shape_json(shape)))
            self.cached += 1
        return {
            **combo,
            "outputs": {self.last: list(shown[1])},
            "diagnostics": [],
            "ok": True,
            "status": "ok",
            "output": shown[0],
            "params": params,
            "macs": macs,
            "memory": act,
            "rf": None if last is None else min(last[0]),
            "error": "",
        }

    def _parts(self, values: Any, which: int) -> list[tuple[Any, ...]]:
        """Per layer, the part of its fields' cache key that the params (``which`` 0: ``values`` is the
        scope) or the free dims (1: the bindings) its fields name give."""
        if which == 0:
            return [tuple([_frozen(values.get(n)) for n in pw]) for pw, _ in self.words]
        return [tuple([values.get(n) for n in dw]) for _, dw in self.words]

    def _scope(self, combo: dict[str, Any]) -> dict[str, Any] | None:
        scratch = CheckResult(spec=self.spec)
        scope = self._eval_params(self.spec, scratch, {k: combo[k] for k in self.param_axes})
        return None if scratch.diagnostics else scope

    def _bindings(self, combo: dict[str, Any]) -> dict[str, int] | None:
        """Free dims as ``check`` binds them; None when one is outside its declared range (AC314)."""
        from ..spec.schema import DimRange

        bindings: dict[str, int] = {}
        m = self.spec.model
        mdims = m.dims if m is not None and isinstance(m.dims, dict) else {}
        for k, v in mdims.items():
            if isinstance(v, int):
                bindings[k] = v
        bindings.update(self.dims)
        for k in self.dim_axes:
            bindings[k] = combo[k]
        for k, v in mdims.items():
            given = bindings.get(k)
            if isinstance(v, DimRange) and isinstance(given, int):
                if not (v.min <= given and (v.max is None or given <= v.max)):
                    return None
        return bindings

    def _input(self, bindings: dict[str, int]) -> Tensor | None:
        from ..engine.walk import too_many_elements
        from ..layers import roles as R

        ((nm, inp),) = self.spec.inputs.items()
        shape = tuple(D.substitute(d, bindings) for d in inp.shape) if isinstance(inp.shape, list) else ()
        dtype = inp.dtype if isinstance(inp.dtype, str) else "float32"
        layout = inp.layout if isinstance(inp.layout, str) else None
        t = Tensor(shape, dtype, producer="", origin=f"the model input {nm}", roles=R.of_input(shape, dtype, layout))
        return None if too_many_elements(t) is not None else t

    def _validated(self, i: int, scope: dict[str, Any], combo: dict[str, Any]) -> _Fields | None:
        """Layer ``i``'s fields as ``engine.leaf`` resolves and validates them; None on any problem."""
        from pydantic import ValidationError

        from ..spec.expr import ExprError, substitute

        item = self.items[i]
        if self.swept[i]:
            item = {**item, **{a.field or "": combo[a.key] for a in self.swept[i]}}
        fields: dict[str, Any] = {}
        try:
            for key, v in item.items():
                if key in ("type", "expect"):
                    continue
                fields[key] = v if key in ("name", "inputs", "noqa") else substitute(v, scope)
            layer = self.classes[i].model_validate(fields)
        except (ExprError, ValidationError):
            return None
        return _Fields(layer, frozenset(layer.model_fields_set) - layer.meta_fields, "expect" in item, {})

    def _step(
        self,
        i: int,
        fkey: tuple[Any, ...],
        scope: dict[str, Any],
        bindings: dict[str, int],
        combo: dict[str, Any],
        x: Tensor,
        batch: Any,
        rf: Any,
    ) -> _Step | None:
        """Layer ``i`` on input ``x``: its own shape rule, as ``engine.leaf`` runs it."""
        fl: Any = self.fields[i].get(fkey, _MISS)
        if fl is _MISS:
            fl = self._validated(i, scope, combo)
            self.fields[i][fkey] = fl
            self.cached += 1
        if fl is None:
            return None
        layer = fl.layer
        if 0 in x.shape and not layer.accepts_empty():
            return None
        ctx = _FastCtx(bindings, self.names[i], fl.given, self.prev[i])
        xs = [x]
        try:
            out = layer.infer(ctx, xs)
            if out is not None and not ctx.bailed:
                roles = layer.roles(ctx, xs, out)
                if roles != out.roles:
                    if out is x:
                        out = replace(out, roles=roles)
                    else:
                        out.roles = roles
        except Exception:
            return None  # check reports it (AC901)
        if out is None or ctx.bailed:
            return None
        if ctx.filled:
            filled = tuple(ctx.filled.items())
            got = fl.resolved.get(filled)
            if got is None:
                resolved = layer.model_copy(update=ctx.filled)
                got = fl.resolved[filled] = (resolved, resolved.param_count())
        else:
            got = fl.plain
            if got is None:
                got = fl.plain = (layer, layer.param_count())
        resolved, params = got
        if params * 4 > MAX_BYTES:
            return None
        shape = out.shape
        ints = all(type(d) is int for d in shape)
        if ints:
            n = math.prod(shape)
            # engine.leaf's AC223 (8 bytes is the widest dtype, so most shapes pass at once), summary.per_sample
            if shape is not x.shape and n * 8 > MAX_BYTES and too_many_elements(out) is not None:
                return None
            act = math.prod(shape[1:]) if shape and batch is not None and shape[0] == batch else n
        else:
            if shape is not x.shape and too_many_elements(out) is not None:
                return None
            act = per_sample(shape, batch)
        if fl.expect and not self._expect_holds(i, scope, bindings, out):
            return None
        per = [d for d in x.shape if type(d) is str]  # engine._macs_per
        per += [d for d in out.shape if type(d) is str]
        if per:
            per = sorted(set(per))
        rkey = (id(resolved), rf)  # resolved layers live as long as this cache (_clear empties both)
        nrf = self.rfs.get(rkey, _MISS)
        if nrf is _MISS:
            nrf = self.rfs[rkey] = resolved.receptive_field([rf]) if rf is not None else None
        if act is not None:
            act *= self.sizing.elem_bytes(out.dtype)
        return _Step(out, resolved, params, resolved.macs(xs, out), tuple(per), act, nrf, ints)

    def _learn(self, i: int, sig: tuple[Any, ...], fkey: tuple[Any, ...], step: _Step) -> None:
        """Layer ``i``'s own rule passed an input of signature ``sig`` (its fields, the input's dtype, roles
        and rank) with nothing to report: later inputs of that signature go to its size kernel."""
        fl = self.fields[i][fkey]
        kernel = self.kernels[i]
        if fl is None or fl.expect or kernel is None:
            return
        fn = kernel(fl.layer)
        if fn is not None:
            out = step.output
            self.known[i][sig] = (fn, out.roles, out.dtype, self.sizing.elem_bytes(out.dtype), fl.layer)
            self.cached += 1

    def _kernel_step(self, kn: tuple[Any, ...], shape: tuple[Any, ...], ints: bool, batch: Any, rf: Any) -> Any:
        """A layer on an input of a known signature by its size kernel (explore_kernels): what ``_step``
        gives (output shape, params, MACs, the free dims they are per, activation bytes, receptive field),
        or None when the kernel declines (the layer's rule then runs)."""
        fn, roles, dtype, size, layer = kn
        got = fn(shape)
        if got is None:
            return None
        oshape, params, macs = got
        if params * 4 > MAX_BYTES:
            return None
        per: Any = ()
        if ints:  # the kernels compute ints from ints and copy the other dims: the output is all ints too
            n = math.prod(oshape)
            if n * 8 > MAX_BYTES and too_many_elements(Tensor(oshape, dtype)) is not None:
                return None
            act = n // batch if oshape and oshape[0] == batch else n  # batch: an int >= 1 here
        else:
            if too_many_elements(Tensor(oshape, dtype)) is not None:
                return None
            act = per_sample(oshape, batch)
            per = tuple(sorted({d for d in shape + oshape if type(d) is str}))
        rkey = (id(layer), rf)  # its receptive field does not depend on the fields the rule fills in
        nrf = self.rfs.get(rkey, _MISS)
        if nrf is _MISS:
            nrf = self.rfs[rkey] = layer.receptive_field([rf]) if rf is not None else None
        return oshape, params, macs, per, None if act is None else act * size, nrf

    def _expect_holds(self, i: int, scope: dict[str, Any], bindings: dict[str, int], out: Tensor) -> bool:
        """The layer's ``expect:`` as ``check`` compares it: True when it holds with nothing to report."""
        from ..engine import expect as EX
        from ..engine.walk import _Walker

        res = CheckResult(spec=self.spec)
        res.bindings = bindings
        walker = _Walker(self.spec, res)
        entries = EX.parse(
            self.items[i]["expect"], ("layers", i, "expect"), self.spec.source, scope, res, None, walker.add
        )
        if entries is None or res.diagnostics:
            return False
        ex = ExpectCheck(self.names[i], ("layers", i, "expect"), "", entries, out)
        EX.compare(entries, out, ex)
        return not ex.pending and not ex.problems


_WORKER: dict[str, Any] = {}


def _init_worker(path: str, axes: list[Axis], dims: dict[str, int], fast: bool = True) -> None:
    from ..spec.schema import load_spec

    spec = load_spec(path)
    old = gc.get_threshold()
    gc.set_threshold(max(old[0], 70_000), old[1], old[2])  # see _fewer_collections; this process only sweeps
    _WORKER.update(spec=spec, axes=axes, dims=dims, plan=Plan.compile(spec, axes, dims) if fast else None)


def _work(combo: dict[str, Any]) -> dict[str, Any]:
    plan = _WORKER["plan"]
    row = plan.run(combo) if plan is not None else None
    return row if row is not None else run_variant(_WORKER["spec"], _WORKER["axes"], combo, _WORKER["dims"])


def explore(
    spec: Spec,
    axes: list[Axis],
    dims: dict[str, int] | None = None,
    *,
    sample: int | None = None,
    seed: int = 0,
    jobs: int = 1,
    progress: Any = None,
    pareto: tuple[str, ...] = ("params", "macs"),
    fast: bool = True,
) -> list[dict[str, Any]]:
    """Check every variant; returns one row per variant (errors are rows, never exceptions).

    ``fast=False`` checks each variant with the full ``check`` instead of the compiled ``Plan``
    (the rows are the same; the tests compare them)."""
    total = math.prod(len(a.values) for a in axes)
    count = total if sample is None else min(sample, total)
    combos = combinations(axes, sample, seed)  # a generator: the rows are kept, not the combinations too
    dims = dims or {}
    if jobs > 1 and count >= 2000:
        import multiprocessing as mp

        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
        with ctx.Pool(jobs, _init_worker, (spec.source.file, axes, dims, fast)) as pool:
            rows = []
            for row in pool.imap(_work, combos, chunksize=256):
                rows.append(row)
                if progress:
                    progress(1)
        return mark_pareto(rows, pareto)
    rows = []
    plan = Plan.compile(spec, axes, dims) if fast else None
    with _fewer_collections():
        for combo in combos:
            got = plan.run(combo) if plan is not None else None
            rows.append(got if got is not None else run_variant(spec, axes, combo, dims))
            if progress:
                progress(1)
    return mark_pareto(rows, pareto)


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """Python's cyclic GC runs every 700 new container objects by default and walks every young one; a sweep
    allocates a few hundred per variant and frees nearly all of them by reference counting (the rows and
    caches hold no cycles), so that was about a fifth of its time. Collections stay on, 100 times rarer."""
    old = gc.get_threshold()
    gc.set_threshold(max(old[0], 70_000), old[1], old[2])
    try:
        yield
    finally:
        gc.set_threshold(*old)


# Each Pareto axis with its label (and unit) for plots and pages, and whether more is better.
LABELS = {
    "params": "parameters",
    "macs": "MACs per sample",
    "memory": "activation bytes per sample (fp32)",
    "rf": "receptive field (input pixels)",
}
PARETO_AXES = ("params", "macs", "memory", "rf")
MAXIMISED = frozenset({"rf"})  # a larger receptive field is better; the others are costs, minimised


def mark_pareto(rows: list[dict[str, Any]], axes: tuple[str, ...] = ("params", "macs")) -> list[dict[str, Any]]:
    """Flag the variants no other variant beats on every one of ``axes`` (costs minimised, ``rf`` maximised).

    A variant without a value on one of the axes (``rf`` of an MLP) is on no front."""
    sign = [-1 if a in MAXIMISED else 1 for a in axes]
    flip = any(v < 0 for v in sign)
    pts: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    for r in rows:
        r["pareto"] = False
        if r["ok"]:
            p: tuple[Any, ...] = tuple([r.get(a) for a in axes])
            if None in p:
                continue
            pts.append((tuple([v * s for v, s in zip(p, sign)]) if flip else p, r))
    pts.sort(key=itemgetter(0))  # stable: ties keep the rows' order
    front: list[tuple[Any, ...]] = []
    low = None  # with two axes: the smallest second value on the front so far
    for p, r in pts:  # lexicographic order: only an earlier point can dominate a later one
        if front and p == front[-1]:
            continue  # an exact tie with a front point: the first one stands for both
        if len(p) == 2:
            if low is not None and low <= p[1]:  # every front point has a first value <= p's
                continue
            low = p[1]
        elif any(all(f[i] <= p[i] for i in range(len(p))) for f in front):
            continue
        r["pareto"] = True
        front.append(p)
    return rows


def cpus() -> int:
    """The CPUs this process may run on (its affinity mask, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def sort_rows(rows: list[dict[str, Any]], key: str) -> None:
    """Sort in place by column ``key``: numbers first (in order), then text, then missing values."""

    def order(r: dict[str, Any]) -> tuple[int, float, str]:
        v = r.get(key)
        if v is None:
            return (2, 0.0, "")
        if isinstance(v, (int, float)):
            return (0, v if v == v else math.inf, "")  # exact for ints of any size; NaN last
        return (1, 0.0, str(v))

    rows.sort(key=order)


def plot_png(rows: list[dict[str, Any]], title: str, axes: tuple[str, ...] = ("params", "macs")) -> bytes:
    """A scatter of the first two ``axes`` (params vs MACs by default) with the Pareto front, as PNG bytes
    (needs matplotlib, the `plot` extra)."""
    xk, yk = axes[0], axes[1]
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if r["ok"] and r[xk] is not None and r[yk] is not None]
    front = sorted((r for r in ok if r["pareto"]), key=lambda r: r[xk])
    fig, ax = plt.subplots(figsize=(7, 5), dpi=110)
    ax.scatter([r[xk] for r in ok], [r[yk] for r in ok], s=18, color="#7f8c8d", label="variant")
    ax.plot([r[xk] for r in front], [r[yk] for r in front], "o-", color="#c0392b", label="Pareto front")
    bad = sum(1 for r in rows if not r["ok"])
    ax.set_xlabel(LABELS[xk])
    ax.set_ylabel(LABELS[yk])
    from ..diagnostics.text import escape
    from .diagram import clip

    # The spec's name as plain text: no mathtext ("$\\frac{" raised), control characters escaped.
    ax.set_title(f"{clip(escape(title), 80)}: {len(rows) - bad} ok, {bad} with errors", parse_math=False)
    if ok and max(r[xk] for r in ok) > 100 * max(1, min(r[xk] for r in ok)):
        ax.set_xscale("log")
    if ok and max(r[yk] for r in ok) > 100 * max(1, min(r[yk] for r in ok)):
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
