"""The shape engine: instantiates the spec's layers and propagates shapes.

It walks the spec as written: plain layers, ``Sequential`` nesting, block
instances and ``repeat``, evaluating ``$`` expressions against the params in
scope, validating each layer against its type's schema, and running its
shape rule. It never raises on a finding. A layer whose error leaves its
output determined by its own fields (``ctx.error(..., recover=True)``: a wrong
``in_channels`` still gives ``out_channels``) keeps that output, so later
layers are still checked; any other failed layer gets an unknown output, and
layers that consume an unknown tensor are skipped silently, so one mistake
gives one diagnostic.

The result is a tree of :class:`Node` whose dotted paths (``layer1.0.conv1``)
are the module paths of the generated ``nn.Module``.
"""

from __future__ import annotations

import keyword
import math
import re
import typing
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from pydantic import ValidationError

from ..diagnostics.codes import Diagnostic, did_you_mean
from ..layers import roles as R
from ..layers.base import REGISTRY, Layer, Tensor, tuple_of
from ..layers.base import Ctx as LayerCtx
from ..shapes import dims as D
from ..spec.expr import ExprError, condition, is_expr, non_integral, not_int_message, substitute, to_int
from ..spec.loader import Path
from ..spec.schema import BlockDef, DimRange, Spec, _kind, _short, convert_errors, module_name_problem, name_problem
from . import expect as EX
from .result import CheckResult, Condition, ExpectCheck, Inferred, Node
from .scope import bind_inputs, ref_base, result_refs
from .scope import lookup as lookup
from .scope import pick as pick
from .scope import split_ref as split_ref

MAX_BLOCK_DEPTH = 32
MAX_BYTES = 2**63 - 1  # torch's largest storage, in bytes
MAX_NODES = 100_000


class Ctx:
    """What a shape rule may do: report, fill in inferred fields, describe inputs."""

    def __init__(
        self,
        walker: _Walker,
        src: Path,
        path: str,
        given: set[str],
        inputs: list[str] | None = None,
        xs: list[Tensor] | None = None,
    ) -> None:
        self._w = walker
        self._src = src
        self._given = given
        self.path = path
        self.input_names = list(inputs or [])  # as written in the spec's scope ("" for a container's input)
        self.filled: dict[str, Any] = {}
        self.inferred: dict[str, Inferred] = {}  # what was filled, with where each came from (Node.inferred)
        self._xs = xs or []
        self.failed = False  # an error after which the output is unknown
        self.recovered = False  # an error that leaves the output determined by the fields (``recover=True``)

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
        fix: Any = None,
        recover: bool = False,
    ) -> None:
        """Report a finding. An error with ``recover=True`` is a mistake in a field that the output's shape
        does not depend on (a wrong ``in_channels``): the rule goes on as if the field were right and
        returns that output, so later layers are still checked. Any other error makes the output unknown.
        """
        d = Diagnostic(severity, code, message, path=self.path, hint=hint, notes=list(notes or []))  # type: ignore[arg-type]
        if fix is not None and field and (self._src + (field,)) in self._w.src.values:  # a written field's new value
            d.fix = {"field": field, "value": fix}
        where = self._src + ((field,) if field else ())
        if field and where not in self._w.src.values:  # an inferred field: point at the layer's type
            where = self._src + ("type",)
        self._w.src.locate(d, where)
        if dims:
            d.bindings = {k: self._w.bindings.get(k, "free") for k in dims}
        self._w.add(d)
        if code == "AC222":  # an empty output: the walker checks later layers' inputs for it
            self._w.empty = True
        if severity == "error":
            if recover:
                self.recovered = True
            else:
                self.failed = True

    def error(self, code: str, message: str, **kw: Any) -> None:
        self.report("error", code, message, **kw)

    def warn(self, code: str, message: str, **kw: Any) -> None:
        self.report("warning", code, message, **kw)

    def fill(self, **values: Any) -> None:
        """Record fields inferred from the input (in_channels, in_features, ...)."""
        self.filled.update(values)
        self.inferred.update((k, Inferred(v)) for k, v in values.items())

    def fill_from(self, x: Tensor, axis: int, /, **values: Any) -> None:
        """``fill(**values)``, each read off dim ``axis`` of the input ``x``: recorded with that provenance."""
        self.filled.update(values)
        i = next((i for i, t in enumerate(self._xs) if t is x), None)
        at = axis % x.rank if x.rank else None
        self.inferred.update((k, Inferred(v, i, at, x)) for k, v in values.items())

    def value(self, name: str) -> int | None:
        """The value a free dim was given (``--dim N=4``, ``dims: {N: 4}``), or None while it is free."""
        return self._w.bindings.get(name)

    def given(self, name: str) -> bool:
        """Whether the spec wrote ``name`` for this layer (rather than a default)."""
        return name in self._given

    def require_equal(self, a: Any, b: Any, what: str) -> bool | None:
        """Two dims that must agree. True/False when decidable; None records a condition."""
        eq = D.equal(a, b)
        if eq is None:
            self._w.res.conditions.append(Condition(self.path, self._src, a, b, what))
        return eq

    def require_min(self, a: Any, k: int, what: str) -> bool | None:
        """A size that must be at least ``k``: True/False for an int; a symbolic one records a condition."""
        if isinstance(a, int):
            return a >= k
        if isinstance(a, str) and k <= 1:
            return True  # a free dim is at least 1
        self._w.res.conditions.append(Condition(self.path, self._src, a, k, what, ">="))
        return None

    @staticmethod
    def source(x: Tensor) -> str:
        """Where a tensor came from, for messages: 'flatten of [...] from pool2'."""
        if x.origin:
            return x.origin
        return f"output of {x.producer}" if x.producer else "the model input"

    def nested(self, key: str, given: set[str]) -> LayerCtx:
        return _FieldCtx(self, key, given)


class _FieldCtx:
    """``Ctx.nested``: the context of a layer written inside another layer's field ``key``.

    Every report goes to the outer layer's context (so the walk sees it), located at ``key``; what the
    nested rule fills and which of its fields the spec wrote stay here.
    """

    def __init__(self, outer: LayerCtx, key: str, given: set[str]) -> None:
        self._outer, self._key, self._given = outer, key, given
        self.path = outer.path
        self.input_names = outer.input_names
        self.filled: dict[str, Any] = {}
        self.failed = False
        self.recovered = False

    # ``field`` and ``fix`` name the nested layer's fields: the report points at ``key`` instead
    def error(self, code: str, message: str, *, field: str | None = None, fix: Any = None, **kw: Any) -> None:
        if kw.get("recover"):
            self.recovered = True
        else:
            self.failed = True
        self._outer.error(code, message, field=self._key, **kw)

    def warn(self, code: str, message: str, *, field: str | None = None, fix: Any = None, **kw: Any) -> None:
        self._outer.warn(code, message, field=self._key, **kw)

    def fill(self, **values: Any) -> None:
        self.filled.update(values)

    def fill_from(self, x: Tensor, axis: int, /, **values: Any) -> None:
        self.filled.update(values)  # a nested layer's sizes: the outer layer's value is what the engine records

    def value(self, name: str) -> int | None:
        return self._outer.value(name)

    def given(self, name: str) -> bool:
        return name in self._given

    def require_equal(self, a: Any, b: Any, what: str) -> bool | None:
        return self._outer.require_equal(a, b, what)

    def require_min(self, a: Any, k: int, what: str) -> bool | None:
        return self._outer.require_min(a, k, what)

    def source(self, x: Tensor) -> str:
        return self._outer.source(x)

    def nested(self, key: str, given: set[str]) -> LayerCtx:
        return _FieldCtx(self, key, given)


_CONTAINER_FIELDS = ("name", "inputs", "repeat", "expect", "noqa", "trainable")


class _Later:
    """Whether a name belongs to this layer or a later one in its scope (a cycle if referenced)."""

    __slots__ = ("_pos", "_i")

    def __init__(self, pos: dict[str, int], i: int) -> None:
        self._pos, self._i = pos, i

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._pos.get(name, -1) >= self._i


@dataclass(frozen=True, slots=True)
class Scope:
    """What the entries of one list share: the model's layers, a block's, a Sequential's children or a
    repeat's copies. The walker's methods take it (through :class:`Entry`) instead of threading each part."""

    params: dict[str, Any]  # the params ``$`` expressions see here
    env: dict[str, Tensor | None]  # the names visible here (inputs, earlier entries) and their tensors; grows
    prefix: str  # the dotted path its entries' names follow ("", "layer1.0.", "features.")
    sequential: bool  # a chain (Sequential, repeat): entries numbered 0, 1, ..., no inputs:, no use:
    blocks: tuple[str, ...] = ()  # the blocks being instantiated around it, outermost first (AC304)
    class_prefix: str = ""  # the path of the generated class holding it: "" for the model, "layer1.0." in a block
    siblings: dict[str, Node] = field(default_factory=dict)  # its entries walked so far, by name (``use:``)

    def nested(self, x: Tensor | None, prefix: str) -> Scope:
        """A Sequential's or repeat's chain inside this scope: same params and class, one input named ''."""
        return Scope(self.params, {"": x}, prefix, True, self.blocks, self.class_prefix)


class Entry(NamedTuple):
    """One entry of a scope as the walker instantiates it (a NamedTuple: immutable, and made for every entry
    of the network, where a frozen dataclass's ``__init__`` costs three times as much)."""

    scope: Scope
    where: Path  # the entry in the source: ("layers", 3), ("blocks", "Bottleneck", "layers", 0)
    name: str  # its name in its scope
    path: str  # its dotted module path (scope.prefix + name)
    default: str | None  # the input it takes when it writes no ``inputs:`` (the previous entry; None: none)
    later: _Later  # this entry's name and the later ones' (naming one is a cycle)


# An entry's inputs: the names as written, their tensors (None where unknown), and whether all resolved.
# A plain tuple: one is made for every entry of the network.
Inputs = tuple[list[str], list[Tensor | None], bool]


def _type_of(item: Any) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, dict) and isinstance(t := item.get("type"), str):
        return t
    return "layer"


def _pick_hint(t: Tensor | None, ref: str, code: str, written: bool, sequential: bool) -> str:
    if code == "AC120":
        if sequential:
            return (
                "a Sequential passes one tensor on: move this layer out of the Sequential and name the item it "
                f"takes (inputs: [{ref}.0])"
            )
        if written:  # a seq2seq decoder given its encoder's (h_n, c_n) as one input
            return f"write {ref}.0 here, or each of its items ({ref}.0, {ref}.1, ...: an LSTM's state is h and c)"
        return f"write {ref}.0 as this layer's input: inputs: [{ref}.0]"
    base = ref_base(ref)
    n = len(t.parts or ()) if t is not None else 0
    return f"use {base}.0 to {base}.{n - 1}" if n else f"use {base}, its one output"


def _own_field_hint(cls: type[Layer], t: str, v: Any, scope: dict[str, Any]) -> str | None:
    """DenseNet's transition written as ``out_channels: $in_channels // 2``: an expression naming a field
    of its own layer (a size inferred from the input), which it cannot read; None for any other mistake."""
    texts = [v] if is_expr(v) else [u for u in v if is_expr(u)] if isinstance(v, list) else []
    own = [
        m for text in texts for m in re.findall(r"[A-Za-z_]\w*", text[1:]) if m not in scope and m in cls.model_fields
    ]
    if not own:
        return None
    return (
        f"{own[0]} is a field of this {t} (inferred from its input), and an expression reads params only: "
        "write the number, or pass it in as a param (on a block: params: {out: null} and out: 128 per instance)"
    )


class _Walker:
    def __init__(self, spec: Spec, res: CheckResult, overrides: dict[str, dict[str, Any]] | None = None) -> None:
        self.overrides = overrides or {}
        self.spec = spec
        self.res = res
        self.src = spec.source
        self.bindings = res.bindings
        self.count = 0
        self._seen: set[tuple[Any, ...]] = set()
        self.empty = False  # a layer made an empty tensor (AC222): later layers check their inputs for it
        self.ties: list[tuple[Node, str, Path]] = []  # layers with tie:, checked after the walk

    # ---- diagnostics

    def add(self, d: Diagnostic) -> None:
        """Append unless the same finding at the same place is already there (block copies)."""
        key = (d.code, d.line, d.column, d.message)
        if key in self._seen:
            return
        self._seen.add(key)
        self.res.diagnostics.append(d)

    def error(
        self,
        code: str,
        message: str,
        where: Path,
        path: str | None = None,
        *,
        key: bool = False,
        hint: str | None = None,
    ) -> None:
        self.add(self.src.locate(Diagnostic("error", code, message, path=path or None, hint=hint), where, key=key))

    # ---- scopes

    def walk_scope(self, items: list[Any], where: Path, sc: Scope, first: str | None) -> tuple[list[Node], str | None]:
        """Instantiate ``items`` (written at ``where``) in order; ``sc.env`` gains each one's output.

        ``first``: the input of the first entry that writes no ``inputs:``.
        """
        env, prefix, sequential = sc.env, sc.prefix, sc.sequential
        # A repeat that names its copies by a template and has no name of its own puts its copies here,
        # as siblings (RegNet's block2-0 written out, then block2-1, block2-2 from a repeat).
        srcs: list[Path] = [where + (i,) for i in range(len(items))]
        name_at: list[Path] = [where + (i, "name") for i in range(len(items))]
        if any(isinstance(it, dict) and isinstance(it.get("repeat"), dict) for it in items):
            items, srcs, name_at = self._splice(items, where, sc.params, sequential)
        if any(isinstance(it, dict) and "when" in it and "name" not in it for it in items):
            # an unnamed entry whose `when` is false is left out (the next one takes the previous output); in
            # a Sequential torch numbers the rest densely, as a list built with `if ...: layers.append(...)`
            keep = [i for i, it in enumerate(items) if not self._left_out(it, sc.params)]
            items, srcs, name_at = [items[i] for i in keep], [srcs[i] for i in keep], [name_at[i] for i in keep]
        # Names first: user names are unique in their scope; the rest are made up.
        user: dict[str, Path] = {}
        user_i: dict[str, int] = {}
        for i, item in enumerate(items):
            nm = item.get("name") if isinstance(item, dict) else None
            if not isinstance(nm, str):
                continue
            if (p := module_name_problem(nm)) is not None:
                self.error("AC107", f"layer name: {p}", name_at[i], hint="use a name like conv1 or fc_out")
                continue
            if nm in user or nm in env:
                first_at = self.src.span(name_at[user_i[nm]]) if nm in user else None
                msg = (
                    f"the name '{nm}' is used twice in this scope"
                    if nm in user
                    else f"the layer name '{nm}' is also an input's name"
                )
                d = Diagnostic("error", "AC106", msg, path=prefix + nm, hint="give each layer its own name")
                if first_at:
                    d.notes.append(f"first used at line {first_at.line}")
                self.add(self.src.locate(d, name_at[i]))
                continue
            user[nm] = srcs[i]
            user_i[nm] = i
        names: list[str] = []
        counts: dict[str, int] = {}
        taken = set(user) | set(env)
        for i, item in enumerate(items):
            nm = item.get("name") if isinstance(item, dict) else None
            if isinstance(nm, str) and user_i.get(nm) == i:
                names.append(nm)
                continue
            if sequential:
                names.append(str(i))
                continue
            base = _type_of(item).lower()
            if isinstance(item, dict) and isinstance(item.get("use"), str) and "type" not in item:
                base = item["use"] + "_call"  # relu1_call1: the second call of relu1
            base = base if base.isidentifier() and not name_problem(base + "1") else "layer"
            while True:
                counts[base] = counts.get(base, 0) + 1
                cand = f"{base}{counts[base]}"
                if cand not in taken:
                    break
            taken.add(cand)
            names.append(cand)

        nodes: list[Node] = []
        prev = first
        pos = {nm: i for i, nm in enumerate(names)}
        for i, (item, nm) in enumerate(zip(items, names)):
            node = self.instantiate(item, Entry(sc, srcs[i], nm, prefix + nm, prev, _Later(pos, i)))
            nodes.append(node)
            sc.siblings[nm] = node
            env[nm] = node.output
            prev = nm
        return nodes, prev

    def _splice(
        self, items: list[Any], where: Path, scope: dict[str, Any], sequential: bool = False
    ) -> tuple[list[Any], list[Path], list[Path]]:
        """``items`` with each nameless repeat that has a name template replaced by its copies.

        The first copy takes the entry's ``inputs``, the last its ``expect``; the rest chain. A repeat
        with a mistake stays as it is: ``repeat()`` reports it. In a Sequential, the template ``"{i}"``
        continues its numbering (torchvision's ResNet: ``layer1.0`` written out, ``layer1.1``,
        ``layer1.2`` from a repeat): the copies are unnamed children, numbered by their position.
        """
        out: list[Any] = []
        srcs: list[Path] = []
        name_at: list[Path] = []
        for i, item in enumerate(items):
            at = where + (i,)
            rs = None
            if isinstance(item, dict) and isinstance(item.get("repeat"), dict) and "name" not in item:
                rs = self.repeat_spec(item, at, scope, "", report=False, numbered=len(out) if sequential else None)
            template = rs[1] if rs is not None else None
            if rs is None or template is None or self.count + len(out) + rs[0] > MAX_NODES:  # repeat() reports
                out.append(item)
                srcs.append(at)
                name_at.append(at + ("name",))
                continue
            k, _, start = rs
            base = {key: v for key, v in item.items() if key not in ("repeat", "inputs", "expect")}
            for j in range(k):
                copy = {**base} if template == "{i}" else {**base, "name": template.replace("{i}", str(start + j))}
                if j == 0 and "inputs" in item:
                    copy["inputs"] = item["inputs"]
                if j == k - 1 and "expect" in item:
                    copy["expect"] = item["expect"]
                out.append(copy)
                srcs.append(at)
                name_at.append(at + ("repeat", "name"))
        return out, srcs, name_at

    def repeat_spec(
        self,
        item: dict[str, Any],
        where: Path,
        scope: dict[str, Any],
        path: str,
        *,
        report: bool = True,
        numbered: int | None = None,
    ) -> tuple[int, str | None, int] | None:
        """``repeat: k`` or ``repeat: {count: k, name: "denselayer{i}", start: 1}`` as (k, template, start).

        None after a mistake (reported when ``report``). ``numbered``: the position of the first copy
        when the copies are children of a Sequential, where the template ``"{i}"`` means torch's own
        numbering, from that position.
        """
        raw = item["repeat"]
        at = where + ("repeat",)

        def err(code: str, msg: str, sub: tuple[str, ...] = (), hint: str | None = None, key: bool = False) -> None:
            if report:
                self.add(
                    self.src.locate(Diagnostic("error", code, msg, path=path or None, hint=hint), at + sub, key=key)
                )

        def number(v: Any, what: str, sub: tuple[str, ...], least: int) -> int | None:
            try:
                n = substitute(v, scope)
            except ExprError as e:
                err("AC109", str(e), sub)
                return None
            if isinstance(n, float) and is_expr(v):
                if not n.is_integer():
                    msg, hint = not_int_message(what, v, n)
                    err("AC115", msg, sub, hint)
                    return None
                n = int(n)
            if isinstance(n, bool) or not isinstance(n, int) or n < least:
                err("AC104", f"{what} must be an int >= {least}, got {_short(n)}", sub)
                return None
            return n

        if not isinstance(raw, dict):
            k = number(raw, "repeat", (), 1)
            return None if k is None else (k, None, 0)
        fields = ("count", "name", "start")
        for key in raw:
            if key not in fields:
                guess = did_you_mean(str(key), list(fields))
                err(
                    "AC101",
                    f"unknown field '{key}' in repeat",
                    (key,),
                    f"did you mean '{guess}'?" if guess else "repeat takes count, name and start",
                    key=True,
                )
                return None
        if "count" not in raw:
            err("AC105", 'repeat needs a count: repeat: {count: 6, name: "denselayer{i}", start: 1}')
            return None
        k = number(raw["count"], "repeat count", ("count",), 1)
        seq_numbers = raw.get("name") == "{i}" and numbered is not None
        start = number(raw.get("start", numbered if seq_numbers else 0), "repeat start", ("start",), 0)
        if k is None or start is None:
            return None
        template = raw.get("name")
        if template is None:
            if "start" in raw:
                err(
                    "AC116",
                    "repeat: start needs a name template: unnamed copies are numbered 0, 1, ... as in nn.Sequential",
                    ("start",),
                    'add name: "block{i}" (the copies are then block1, block2, ... with start: 1)',
                )
                return None
            return k, None, 0
        if not isinstance(template, str):
            err(
                "AC103",
                f'repeat name must be a template string such as "denselayer{{i}}", got {_kind(template)}',
                ("name",),
            )
            return None
        rest = template.replace("{i}", "")
        if "{i}" not in template or "{" in rest or "}" in rest:
            err(
                "AC116",
                f"repeat name '{template}' must contain '{{i}}' (the copy's number) and no other braces",
                ("name",),
                'write e.g. name: "denselayer{i}" or name: "block1-{i}"',
            )
            return None
        if seq_numbers and numbered is not None:
            if start != numbered:
                err(
                    "AC116",
                    f'repeat name "{{i}}" numbers the copies {start}..{start + k - 1}, but they are the children '
                    f"{numbered}..{numbered + k - 1} of this Sequential, which torch numbers by position",
                    ("start",),
                    f"write start: {numbered}, or leave start out",
                )
                return None
            return k, template, start
        for n in (start, start + k - 1):
            if (p := module_name_problem(template.replace("{i}", str(n)))) is not None:
                err("AC107", f"repeat name: {p}", ("name",), "use a template like denselayer{i} or block1-{i}")
                return None
        return k, template, start

    def resolve_inputs(self, item: dict[str, Any], e: Entry, default: str | None) -> Inputs:
        """The tensors ``item``'s ``inputs:`` name (or ``default``'s) in its scope."""
        where, env, path, later, sequential = e.where, e.scope.env, e.path, e.later, e.scope.sequential
        raw = item.get("inputs")
        if raw is None:
            names = [default] if default is not None else []
        else:
            if sequential:
                self.error(
                    "AC303",
                    "layers inside a Sequential form a chain: 'inputs' is not allowed here",
                    where + ("inputs",),
                    path,
                    key=True,
                    hint="move the branching layers out of the Sequential, or into a block",
                )
                return [], [], False
            names = [raw] if isinstance(raw, str) else raw
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names) or not names:
                self.error(
                    "AC103",
                    f"inputs must be a list of layer or input names, got {_kind(raw)} {_short(raw)}",
                    where + ("inputs",),
                    path,
                )
                return [], [], False
        xs: list[Tensor | None] = []
        ok = True
        for j, n in enumerate(names):
            at = where + ("inputs", j) if isinstance(raw, list) else where + ("inputs",)
            sr = split_ref(n)
            base, index = sr if sr is not None else (ref_base(n), ())
            if base in env and sr is None:
                self.error(
                    "AC121",
                    f"'{n}': after a layer's name, '.' takes the index of one of its outputs ({base}.0, {base}.1)",
                    at,
                    path,
                    hint=f"write {base} for its output, or {base}.0, {base}.1 for the items of a tuple",
                )
                ok = False
            elif base in env:
                t = env[base]
                if t is not None:
                    t, code, msg = pick(t, base, index)
                    if code is not None:
                        self.error(
                            code,
                            msg or "",
                            at if raw is not None else where,
                            path,
                            hint=_pick_hint(env[base], n, code, raw is not None, sequential),
                        )
                        ok = False
                        continue
                xs.append(t)
            elif n in later or base in later:
                self.error(
                    "AC302",
                    f"'{n}' is a later layer (or this one): inputs must come before the layer that uses them",
                    at,
                    path,
                    hint="reorder the layers; cycles are not allowed",
                )
                ok = False
            else:
                guess = did_you_mean(base, [k for k in env if k], ignore_case=False)
                self.error(
                    "AC301",
                    f"no layer or input named '{base}' before this layer",
                    at,
                    path,
                    hint=f"did you mean '{guess}'?"
                    if guess
                    else f"names available here: {', '.join(k for k in env) or 'none'}",
                )
                ok = False
        return names, xs, ok

    def chain(self, items: list[Any], where: Path, e: Entry, x: Tensor | None) -> tuple[list[Node], Tensor | None]:
        """A Sequential's children (or a repeat's copies) inside ``e``: each takes the previous one's output."""
        inner = e.scope.nested(x, e.path + ".")
        children, last = self.walk_scope(items, where, inner, first="")
        return children, inner.env.get(last) if last is not None else None

    # ---- one entry

    def instantiate(self, item: Any, e: Entry) -> Node:
        where, scope, name, path = e.where, e.scope.params, e.name, e.path
        self.count += 1
        if self.count > MAX_NODES:
            if self.count == MAX_NODES + 1:
                self.error("AC005", f"the network expands to more than {MAX_NODES:,} layers", where, path)
            return Node(path, name, "?", "layer", where)
        type_where = where if isinstance(item, str) else where + ("type",)
        if isinstance(item, str):
            item = {"type": item}
        if path in self.overrides and isinstance(item, dict):
            item = {**item, **self.overrides[path]}
        if not isinstance(item, dict):
            self.error(
                "AC103",
                f"a layer is a mapping with 'type' (or a bare type name), got {_kind(item)} {_short(item)}",
                where,
                path,
            )
            return Node(path, name, "?", "layer", where)
        if "when" in item:
            kept = self.when(item, where, scope, path)
            if kept is None:  # a mistake in the condition (reported): the output is unknown
                return Node(path, name, str(item.get("type", "?")), "layer", where)
            item = kept
        if "use" in item:
            return self.expect(item, where, scope, self.reuse(item, e))
        t = item.get("type")
        if t is None:
            self.error(
                "AC105",
                "the layer has no 'type'",
                where,
                path,
                hint="add type: Conv2d (or another torch.nn class name)",
            )
            return Node(path, name, "?", "layer", where)
        if not isinstance(t, str):
            self.error("AC103", f"type must be a layer type name, got {_kind(t)} {_short(t)}", type_where, path)
            return Node(path, name, "?", "layer", where)

        if "repeat" in item:
            node = self.repeat(item, e)
            return self.expect(item, where, scope, self.freeze(item, where, scope, node))
        default = e.default
        if not e.scope.sequential and t in REGISTRY and REGISTRY[t].arity[1] == 0:
            default = None  # a layer that takes no input (Parameter) does not take the previous output
        ins = self.resolve_inputs(item, e, default)
        names = ins[0]
        if t in self.spec.broken_blocks:  # its definition was reported: the output is unknown
            node = Node(path, name, t, "block", where, inputs=names)
        elif t == "Sequential":
            node = self.sequential(item, e, ins)
        elif t in self.spec.blocks:
            node = self.block(item, e, ins)
        elif t in REGISTRY:
            node = self.leaf(item, e, ins)
        else:
            choices = sorted(REGISTRY) + sorted(self.spec.blocks) + ["Sequential"]
            guess = did_you_mean(t, choices)
            last = t.rpartition(".")[2]  # torch.nn.ReLU, nn.Conv2d: copied from Python
            self.error(
                "AC102",
                f"unknown layer type '{t}'",
                type_where,
                path,
                hint=f"write type: {last} (the torch.nn class name alone)"
                if "." in t and last in choices
                else f"did you mean '{guess}'?"
                if guess
                else "see `archcheck types` for the layer types archcheck knows",
            )
            node = Node(path, name, t, "layer", where, inputs=names)
        return self.expect(item, where, scope, self.freeze(item, where, scope, node))

    @staticmethod
    def _left_out(item: Any, scope: dict[str, Any]) -> bool:
        """An unnamed entry whose ``when`` is false (a mistake in it: kept, reported later)."""
        if not isinstance(item, dict) or "when" not in item or "name" in item:
            return False
        try:
            return condition(item["when"], scope) is False
        except ExprError:
            return False

    def when(self, item: dict[str, Any], where: Path, scope: dict[str, Any], path: str) -> dict[str, Any] | None:
        """``when: $downsample`` (a condition over params): the entry as it is when the condition holds,
        else an ``nn.Identity`` of the same name that passes its (first) input on, as torchvision writes
        an optional module (``self.downsample = nn.Identity()``): later layers that name it get its input,
        and the state_dict has no key from it. (An unnamed entry is left out instead: ``walk_scope``.)
        None after a mistake in the condition, reported.
        """
        rest = {k: v for k, v in item.items() if k != "when"}
        raw = item["when"]
        try:
            v = condition(raw, scope)
        except ExprError as e:
            self.error("AC109", str(e), where + ("when",), path)
            return None
        if not isinstance(v, bool):
            self.error(
                "AC103",
                f"when must be true or false, got {_kind(v)} {_short(v)}",
                where + ("when",),
                path,
                hint='write a condition over params: when: "$stride == 1 and inp == oup", or when: $downsample',
            )
            return None
        if v:
            return rest
        skipped: dict[str, Any] = {"type": "Identity"}
        if "name" in item:
            skipped["name"] = item["name"]
        ins = item.get("inputs")
        if isinstance(ins, list) and ins:
            skipped["inputs"] = ins[:1]
        return skipped

    def freeze(self, item: dict[str, Any], where: Path, scope: dict[str, Any], node: Node) -> Node:
        """``trainable: false``: the node and everything in it get no gradients (requires_grad_(False))."""
        if "trainable" not in item:
            return node
        raw = item["trainable"]
        try:
            v = substitute(raw, scope)
        except ExprError as e:
            self.error("AC109", str(e), where + ("trainable",), node.path)
            return node
        if not isinstance(v, bool):
            self.error(
                "AC103",
                f"trainable must be true or false, got {_kind(v)} {_short(v)}",
                where + ("trainable",),
                node.path,
                hint="trainable: false freezes the layer's parameters (requires_grad_(False))",
            )
            return node
        if v:
            return node
        node.frozen = True
        for n in node.walk():
            n.trainable = False
        if node.params == 0 and node.output is not None:
            d = Diagnostic(
                "warning",
                "AC230",
                f"{node.type} {node.path} has no parameters: trainable: false changes nothing",
                path=node.path,
                hint="remove trainable: false here, or put it on the layer or block that has the weights",
            )
            self.add(self.src.locate(d, where + ("trainable",)))
        return node

    # ---- tied weights: `tie: {weight: wte.weight}`

    def resolve_ties(self) -> None:
        """Check each ``tie:`` (the parameter exists on both sides, with one shape) and count shared ones once."""
        by_path = {n.path: n for n in self.res.nodes}
        done: list[tuple[Node, str, Node, str]] = []
        for node, prefix, where in self.ties:
            layer = node.layer
            assert layer is not None and layer.tie is not None
            own = layer.param_shapes()
            for pname, target in layer.tie.items():
                at = where + ("tie", pname)
                mod, _, tparam = target.rpartition(".")
                tnode = by_path.get(prefix + mod) if mod else None
                problem, hint = None, None
                if own is None:
                    problem = f"{node.type}'s parameters cannot be tied (tie: works on Linear, Embedding and Conv)"
                    hint = "remove tie:, or tie a Linear, Embedding or Conv layer's weight"
                elif pname not in own:
                    problem = f"{node.type} has no parameter '{pname}' (its parameters: {', '.join(own)})"
                    hint = f"tie one of its parameters: {', '.join(own)}"
                elif not mod:
                    problem = f"tie: '{target}' is not a parameter path"
                    hint = "write the module's path and the parameter: wte.weight, transformer.wte.weight"
                elif tnode is None:
                    guess = did_you_mean(mod, [p[len(prefix) :] for p in by_path if p.startswith(prefix)])
                    problem = f"tie: no module '{mod}' in this scope"
                    hint = (
                        f"did you mean '{guess}.{tparam}'?"
                        if guess
                        else ("the path starts from the scope of this layer: the model's layers, or its block's")
                    )
                elif tnode is node:
                    problem = f"tie: '{target}' is this layer's own parameter"
                    hint = "tie it to another layer's parameter"
                elif tnode.kind != "layer" or tnode.layer is None or tnode.output is None:
                    what = f"a {tnode.kind}" if tnode.kind != "layer" else "a layer with an error"
                    problem = f"tie: '{mod}' is {what}, not a layer whose parameters archcheck knows"
                    hint = f"name a layer inside it: {mod}.<layer>.{tparam}" if tnode.kind != "layer" else None
                elif (tshapes := tnode.layer.param_shapes()) is None or tparam not in tshapes:
                    have = ", ".join(tshapes) if tshapes else "none archcheck knows"
                    problem = f"tie: {tnode.type} '{mod}' has no parameter '{tparam}' (its parameters: {have})"
                    hint = f"tie to one of: {have}" if tshapes else "tie to a Linear, Embedding or Conv layer's weight"
                elif tnode.layer.tie and tparam in tnode.layer.tie:
                    problem = f"tie: '{target}' is itself tied to {tnode.layer.tie[tparam]}"
                    hint = f"tie to {tnode.layer.tie[tparam]} directly"
                if problem is not None:
                    self.error("AC123", problem, at, node.path, hint=hint)
                    continue
                assert own is not None and tnode is not None and tnode.layer is not None
                mine, theirs = own[pname], tnode.layer.param_shapes()[tparam]  # type: ignore[index]
                if mine != theirs and any(d.severity == "error" and d.path == node.path for d in self.res.diagnostics):
                    continue  # a wrong size already reported at this layer (in_features): no second error for it
                if mine != theirs:
                    self.error(
                        "AC238",
                        f"tie: {node.path}.{pname} has shape {list(mine)}, but {tnode.path}.{tparam} has shape "
                        f"{list(theirs)}: one Parameter cannot be both",
                        at,
                        node.path,
                        hint="tied parameters have one shape: Linear(in, out).weight is [out, in], "
                        "Embedding(num, dim).weight is [num, dim] (so Linear(dim, num) ties to Embedding(num, dim))",
                    )
                    continue
                node.ties[pname] = target
                done.append((node, pname, tnode, tparam))
        for node, pname, tnode, _ in done:  # counted once: in the whole model, and in a container holding both
            n = math.prod((node.layer.param_shapes() or {})[pname])  # type: ignore[union-attr]
            self.res.shared_params += n
            if node.trainable and tnode.trainable:
                self.res.shared_trainable += n
            for c in self.res.nodes:
                if c.kind != "layer" and node.path.startswith(c.path + ".") and tnode.path.startswith(c.path + "."):
                    c.params = (c.params or 0) - n
                    if node.trainable and tnode.trainable:
                        c.shared_trainable += n

    # ---- reuse: `use: NAME` calls an earlier module of the scope again (shared weights)

    def reuse(self, item: dict[str, Any], e: Entry) -> Node:
        where, name, path, sequential, siblings = e.where, e.name, e.path, e.scope.sequential, e.scope.siblings
        target = item["use"]
        node = Node(path, name, "?", "use", where)
        bad = False
        for key in item:
            if key in ("use", *_CONTAINER_FIELDS) and key != "repeat":
                continue
            if key == "type":
                self.error(
                    "AC122",
                    "a layer gives either type (a new module) or use (an earlier module, called again), not both",
                    where + (key,),
                    path,
                    key=True,
                    hint="remove type to call the earlier module again, or use to make a new one",
                )
            else:
                self.error(
                    "AC101",
                    f"unknown field '{key}' for a use of an earlier module",
                    where + (key,),
                    path,
                    key=True,
                    hint="a module used again keeps its fields; for other ones, make a new layer with type: ...",
                )
            bad = True
        if not isinstance(target, str):
            self.error(
                "AC103",
                f"use must be the name of an earlier layer, got {_kind(target)} {_short(target)}",
                where + ("use",),
                path,
            )
            return node
        if sequential:
            self.error(
                "AC122",
                "use is not possible inside a Sequential (its children are numbered, not named)",
                where + ("use",),
                path,
                hint="move the layers out of the Sequential, or into a block",
            )
            return node
        tnode = siblings.get(target)
        if tnode is None:
            if target in e.later:
                msg = f"use: '{target}' is a later layer (or this one): a module must be made before it is used again"
                hint = "move this entry after the layer it uses"
            else:
                guess = did_you_mean(target, list(siblings), ignore_case=False)
                msg = f"use: no earlier layer named '{target}' in this scope"
                hint = (
                    f"did you mean '{guess}'?"
                    if guess
                    else "use names an earlier layer, Sequential or block instance of the same scope (the model's "
                    "layers, or those of one block)"
                )
            self.error("AC122", msg, where + ("use",), path, hint=hint)
            return node
        while tnode.kind == "use" and tnode.target is not None:
            tnode = tnode.target  # a use of a use calls the original
        node.type, node.target = tnode.type, tnode
        node.layer = tnode.layer if tnode.kind == "layer" else None
        if node.layer is not None and type(node.layer).torch_name is None and type(node.layer).module_source is None:
            self.error(
                "AC122",
                f"use: '{target}' is {tnode.type}, a tensor operation with no module (no weights) to share",
                where + ("use",),
                path,
                hint=f"write the operation again: {{type: {tnode.type}, ...}}",
            )
            return node
        names, xs, ok = self.resolve_inputs(item, e, e.default)
        node.inputs, node.input_shapes = names, [x.shape if x is not None else None for x in xs]
        if bad or not ok or any(x is None for x in xs) or tnode.output is None:
            return node  # reported already (here, or the module's own error at its first use)
        node.output, node.macs = self.rerun(tnode, xs, where, path)  # type: ignore[arg-type]
        node.params = 0  # torch's parameters() counts a shared module once: at its first use
        if node.output is not None:
            o = node.output
            node.output = replace(o, producer=path)
        return node

    def rerun(
        self, tnode: Node, xs: list[Tensor], where: Path, upath: str, top: Node | None = None
    ) -> tuple[Tensor | None, int | None]:
        """``tnode``'s module run again on ``xs``, its sizes as resolved at its first use; findings at ``where``.

        ``top``: the module the ``use:`` names (``tnode`` or a container holding it), for the messages.
        """
        top = top or tnode
        self.count += 1  # a second run is work too: a block of 1,000 layers used 1,000 times is a large network
        if self.count > MAX_NODES:
            if self.count == MAX_NODES + 1:
                self.error("AC005", f"the network expands to more than {MAX_NODES:,} layers", where, upath)
            return None, None
        if tnode.kind == "use":
            return self.rerun(tnode.target, xs, where, upath, top) if tnode.target is not None else (None, None)
        if tnode.kind == "layer":
            layer = tnode.layer
            if layer is None:
                return None, None
            lo, hi = type(layer).arity
            if not (lo <= len(xs) and (hi is None or len(xs) <= hi)):
                self.error("AC104", f"{tnode.type} takes {lo} to {hi} inputs, got {len(xs)}", where, upath)
                return None, None
            before = len(self.res.diagnostics)
            ctx = Ctx(self, where, upath, set(type(layer).model_fields) - layer.meta_fields)
            try:
                out = layer.infer(ctx, xs)
                if out is not None and not ctx.failed and (items := layer.tuple_items(ctx, xs, out)):
                    out = replace(out, parts=tuple(items))
            except Exception as exc:  # a bug in a rule must not hide the other findings
                ctx.error("AC901", f"internal error in the {tnode.type} shape rule: {exc!r}; please report it")
                out = None
            self._note_reuse(before, tnode, top)
            if ctx.failed or out is None:
                return None, None
            return out, layer.macs(xs, out)
        if tnode.kind != "sequential" and tnode.type not in self.spec.blocks:
            return None, None
        inner: dict[str, Tensor | None] = bind_inputs(tnode, self.spec, list(xs))
        total: int | None = 0
        for c in tnode.children:
            ins = [lookup(inner, r) for r in c.inputs]
            if any(x is None for x in ins):
                return None, None
            out, m = self.rerun(c, ins, where, upath + c.path[len(tnode.path) :], top)  # type: ignore[arg-type]
            if out is None:
                return None, None
            inner[c.name] = out
            total = None if total is None or m is None else total + m
        if tnode.kind == "sequential":
            last = inner.get(tnode.children[-1].name) if tnode.children else None
            if last is not None and not last.indexed:
                last = replace(last, parts=None)
            return last, total
        refs = result_refs(tnode, self.spec)
        got = []
        for ref in refs:
            sr = split_ref(ref)
            t = inner.get(sr[0]) if sr else None
            item = pick(t, *sr, whole=len(refs) == 1)[0] if t is not None and sr else None
            if item is None:
                return None, None
            got.append(item)
        return (got[0] if len(got) == 1 else tuple_of(got, upath)), total

    def _note_reuse(self, before: int, tnode: Node, top: Node) -> None:
        """Findings of a module's second run say so: its sizes come from its first use, not this input."""
        span = self.src.span(top.src)
        at = f" (line {span.line})" if span is not None else ""
        whose = "its sizes are" if tnode is top else f"its layer {tnode.path[len(top.path) + 1 :]} keeps the sizes"
        for d in self.res.diagnostics[before:]:
            d.notes.append(f"'{top.path}' is used again here; {whose} of its first use{at}")
            if d.severity == "error":
                d.hint = (
                    "a module used again keeps its sizes: give it an input like the one at its first use, or make "
                    f"a new layer (type: {tnode.type}) for this input"
                )

    def expect(self, item: dict[str, Any], where: Path, scope: dict[str, Any], node: Node) -> Node:
        """Check the entry's ``expect:`` against its output (of the whole container for Sequential/block/repeat)."""
        if "expect" not in item:
            return node
        entries = EX.parse(item["expect"], where + ("expect",), self.src, scope, self.res, node.path, self.add)
        if entries is not None:
            node.expect = EX.fmt_expect(entries)
            if node.output is not None:  # unknown: an earlier finding was reported
                ex = check_expect(
                    self.res, node.path, where + ("expect",), f"the output of {node.path}", entries, node.output
                )
                node.output = EX.recovered(ex, node.path) or node.output
        return node

    def repeat(self, item: dict[str, Any], e: Entry) -> Node:
        where, name, path = e.where, e.name, e.path
        # a named repeat is an nn.Sequential of its own: "{i}" is torch's numbering of its copies; an
        # unnamed one here is a Sequential's child (its name is its position) whose splice failed
        numbered = 0 if "name" in item else int(name) if e.scope.sequential and name.isdigit() else None
        rs = self.repeat_spec(item, where, e.scope.params, path, numbered=numbered)
        if rs is None:
            return Node(path, name, "Sequential", "sequential", where)
        k, template, start = rs
        if self.count + k > MAX_NODES:
            self.error(
                "AC005",
                f"repeat {k:,} would make the network larger than {MAX_NODES:,} layers",
                where + ("repeat",),
                path,
            )
            self.count = MAX_NODES + 1
            return Node(path, name, "Sequential", "sequential", where)
        names, xs, ok = self.resolve_inputs(item, e, e.default)
        copy = {key: v for key, v in item.items() if key not in _CONTAINER_FIELDS}
        node = _node(path, name, "Sequential", "sequential", where, names, xs, repeat=k)
        if not ok or any(x is None for x in xs) or len(xs) != 1:
            if ok and len(xs) != 1 and all(x is not None for x in xs):
                self.error("AC104", f"a repeated layer takes 1 input, got {len(xs)}", where + ("inputs",), path)
            return node
        copies = (
            [copy] * k
            if template is None or template == "{i}"  # "{i}": torch's own numbering
            else [{**copy, "name": template.replace("{i}", str(start + j))} for j in range(k)]
        )
        node.children, node.output = self.chain(copies, where, e, xs[0])
        _finish(node)
        return node

    def sequential(self, item: dict[str, Any], e: Entry, ins: Inputs) -> Node:
        where, name, path, (names, xs, ok) = e.where, e.name, e.path, ins
        node = _node(path, name, "Sequential", "sequential", where, names, xs)
        for key in item:
            if key not in ("type", "layers", *_CONTAINER_FIELDS):
                guess = did_you_mean(str(key), ["layers", "name", "inputs", "repeat", "noqa"])
                self.error(
                    "AC101",
                    f"unknown field '{key}' for Sequential",
                    where + (key,),
                    path,
                    key=True,
                    hint=f"did you mean '{guess}'?" if guess else "Sequential takes name, inputs, repeat and layers",
                )
        children = item.get("layers")
        if not isinstance(children, list) or not children:
            self.error("AC105", "a Sequential needs a non-empty list 'layers'", where, path)
            return node
        if not ok or len(xs) != 1 or xs[0] is None:
            if ok and len(xs) != 1:
                self.error("AC104", f"a Sequential takes 1 input, got {len(xs)}", where + ("inputs",), path)
            return node
        node.children, node.output = self.chain(children, where + ("layers",), e, xs[0])
        _finish(node)
        return node

    def block(self, item: dict[str, Any], e: Entry, ins: Inputs) -> Node:
        where, scope, name, path, (names, xs, ok) = e.where, e.scope.params, e.name, e.path, ins
        stack = e.scope.blocks
        t = item["type"]
        bdef: BlockDef = self.spec.blocks[t]
        node = _node(path, name, t, "block", where, names, xs)
        if t in stack:
            chain = " -> ".join(stack[stack.index(t) :] + (t,))
            self.error(
                "AC304",
                f"block {t} contains itself ({chain})",
                where + ("type",),
                path,
                hint="a block cannot use itself, directly or through other blocks",
            )
            return node
        if len(stack) >= MAX_BLOCK_DEPTH:
            self.error("AC304", f"blocks nest deeper than {MAX_BLOCK_DEPTH} levels", where + ("type",), path)
            return node
        # Params: the spec's, then the block's defaults overridden by this instance's values.
        params = dict(self.res.params)
        failed = False
        for key in item:
            if key in ("type", *_CONTAINER_FIELDS) or key in bdef.params:
                continue
            guess = did_you_mean(str(key), list(bdef.params))
            self.error(
                "AC101",
                f"unknown param '{key}' for block {t}",
                where + (key,),
                path,
                key=True,
                hint=f"did you mean '{guess}'?" if guess else f"{t}'s params: {', '.join(bdef.params) or 'none'}",
            )
            failed = True
        for pname, default in bdef.params.items():
            if pname in item:
                value, at, env_scope = item[pname], where + (pname,), scope
                if is_expr(value):
                    node.exprs[pname] = value
            else:
                value, at, env_scope = default, ("blocks", t, "params", pname), params
            if value is None and pname not in item:
                self.error("AC105", f"block {t} requires the param '{pname}'", where, path, hint=f"add {pname}: ...")
                failed = True
                continue
            try:
                params[pname] = substitute(value, env_scope)
            except ExprError as exc:
                self.error("AC109", str(exc), at, path)
                failed = True
        node.block_params = {p: params[p] for p in bdef.params if p in params}
        n_in = len(bdef.inputs)
        if ok and len(xs) != n_in:
            self.error(
                "AC104",
                f"block {t} takes {n_in} input{'s' * (n_in != 1)} ({', '.join(bdef.inputs)}), got {len(xs)}",
                where + ("inputs",),
                path,
            )
            return node
        if failed or not ok or any(x is None for x in xs):
            return node
        inner = Scope(params, dict(zip(bdef.inputs, xs)), path + ".", False, stack + (t,), path + ".")
        node.children, last = self.walk_scope(bdef.layers, ("blocks", t, "layers"), inner, first=bdef.inputs[0])
        if last is None:
            return node
        return self.block_outputs(node, bdef, inner.env, last)

    def block_outputs(self, node: Node, bdef: BlockDef, inner: dict[str, Tensor | None], last: str) -> Node:
        """What the block returns: its ``output`` (or last layer), or ``outputs: [a, b]``, a tuple used as
        ``name.0``, ``name.1`` at the instance (as is one output that is itself several: a Split's)."""
        t, path = node.type, node.path
        items: list[Tensor] = []
        seen: set[str] = set()
        refs = bdef.result_names(last)
        for i, ref in enumerate(refs):
            where = (
                ("blocks", t, "outputs", i)
                if bdef.outputs is not None
                else ("blocks", t, "output")
                if bdef.output is not None
                else ("blocks", t, "layers", len(bdef.layers) - 1)
            )
            sr = split_ref(ref)
            if sr is None or sr[0] not in inner:
                what = "layers or inputs" if bdef.outputs is not None else "layers"
                guess = did_you_mean(ref_base(ref), list(inner), ignore_case=False)
                self.error(
                    "AC301",
                    f"block {t}'s output '{ref}' is not one of its {what}",
                    where,
                    path,
                    hint=f"did you mean '{guess}'?" if guess else f"names in block {t}: {', '.join(inner)}",
                )
                return node
            if ref in seen:
                self.error(
                    "AC106",
                    f"block {t} lists the output '{ref}' twice",
                    where,
                    path,
                    hint="list each output once (use name.0 twice where the instance is used)",
                )
                return node
            seen.add(ref)
            x = inner[sr[0]]
            if x is None:
                return node  # an inner layer failed: reported there
            item, code, msg = pick(x, *sr, whole=len(refs) == 1)
            if item is None:
                self.error(code or "AC121", msg or "", where, path, hint=_pick_hint(x, ref, code or "", True, False))
                return node
            items.append(item if len(refs) == 1 else replace(item, producer=path))
        if len(items) == 1:
            node.output = items[0]
        else:
            node.output = tuple_of(items, path)
        _finish(node)
        return node

    def leaf(self, item: dict[str, Any], e: Entry, ins: Inputs) -> Node:
        where, scope, name, path, (names, xs, ok) = e.where, e.scope.params, e.name, e.path, ins
        t = item["type"]
        cls = REGISTRY[t]
        node = _node(path, name, t, "layer", where, names, xs)
        fields: dict[str, Any] = {}
        bad: set[str] = set()
        for key, v in item.items():
            if key == "type":
                continue
            if key in ("name", "inputs", "noqa", "tie"):
                fields[key] = v
                continue
            if key in ("expect", "trainable"):
                continue
            if is_expr(v):
                node.exprs[key] = v
            try:
                fields[key] = substitute(v, scope)
            except ExprError as exc:
                self.error("AC109", str(exc), where + (key,), path, hint=_own_field_hint(cls, t, v, scope))
                bad.add(key)
                continue
            if (is_expr(v) or (isinstance(v, list) and any(is_expr(u) for u in v))) and _int_only(cls, key):
                if (frac := non_integral(fields[key])) is not None:  # "$c * 0.75" for out_channels
                    msg, hint = not_int_message(key, v if is_expr(v) else None, frac)
                    self.error("AC115", msg, where + (key,), path, hint=hint)
                    bad.add(key)
                else:
                    fields[key] = to_int(fields[key])
        failed = bool(bad)
        try:
            layer = cls.model_validate(fields)
        except ValidationError as exc:
            for d in convert_errors(exc, cls, fields, self.src, where, path, t, frozenset(bad)):
                self.add(d)
            return node
        if failed or not ok:
            return node
        lo, hi = cls.arity
        if not (lo <= len(xs) and (hi is None or len(xs) <= hi)):
            want = f"{lo}" if lo == hi else f"{lo} to {hi}" if hi else f"{lo} or more"
            self.error(
                "AC104", f"{t} takes {want} input{'s' * (want != '1')}, got {len(xs)}", where + ("inputs",), path
            )
            return node
        if any(x is None for x in xs):
            return node  # an earlier layer failed: it was reported there
        empty = next((x for x in xs if 0 in x.shape), None) if self.empty else None  # type: ignore[union-attr]
        if empty is not None and not layer.accepts_empty():
            self.error(
                "AC224",
                f"{t} does not take an empty tensor, but its input {empty.describe()} has a dim of size 0 "
                f"({Ctx.source(empty)})",
                where + ("type",),
                path,
                hint="make the earlier layer's output non-empty (see its AC222 warning)",
            )
            return node
        ctx = Ctx(self, where, path, set(layer.model_fields_set) - layer.meta_fields, names, xs)  # type: ignore[arg-type]
        try:
            out = layer.infer(ctx, xs)  # type: ignore[arg-type]
            if out is not None and not ctx.failed:  # the dims' roles (roles.py); may warn about the layout
                roles = layer.roles(ctx, xs, out)  # type: ignore[arg-type]
                if roles != out.roles:
                    if any(out is x for x in xs):  # an input passed on as is (Identity): not ours to change
                        out = replace(out, roles=roles)
                    else:
                        out.roles = roles
            if out is not None and not ctx.failed and (items := layer.tuple_items(ctx, xs, out)):  # type: ignore[arg-type]
                out = replace(out, parts=tuple(items))  # LSTM's (output, (h_n, c_n)): out stays the default
        except Exception as exc:  # a bug in a rule must not hide the other findings
            ctx.error("AC901", f"internal error in the {t} shape rule: {exc!r}; please report it with the spec")
            out = None
        if ctx.failed:
            out = None
        resolved = layer.model_copy(update=ctx.filled) if ctx.filled else layer
        node.layer = resolved
        node.output = out
        node.inferred = ctx.inferred
        if resolved.tie is not None and out is not None:
            self.ties.append((node, e.scope.class_prefix, where))
        if out is not None:
            node.params = resolved.param_count()
            node.macs = resolved.macs(xs, out)  # type: ignore[arg-type]
            if node.params * 4 > MAX_BYTES:  # torch: "Storage size calculation overflowed"
                ctx.error(
                    "AC221",
                    f"{t} would have {node.params:,} parameters ({node.params * 4:.3g} bytes at fp32), "
                    "more than torch can allocate",
                    hint="check the sizes of this layer (a typo, or an expression that grew too far)",
                )
                node.output = None
            elif all(out.shape is not x.shape for x in xs) and (big := too_many_elements(out)) is not None:  # type: ignore[union-attr]
                ctx.error("AC223", f"{t}'s output {out.describe()} {big}", hint=_BIG_HINT)
                node.output = None
        return node


# Bytes per element of each dtype, for the storage size torch computes.
_ITEMSIZE = {"float64": 8, "long": 8, "int64": 8, "float32": 4, "int32": 4, "float16": 2, "bfloat16": 2, "bool": 1}
_BIG_HINT = "check the sizes (a typo, or an expression that grew too far)"


def too_many_elements(t: Tensor) -> str | None:
    """Why torch cannot allocate ``t`` (its bytes exceed 2**63 - 1), or None.

    Free dims count as 1, so a shape whose fixed dims alone are too large is too large for
    every value of its free dims; torch raises "Storage size calculation overflowed".
    """
    n = 1
    for d in t.shape:
        if isinstance(d, int):
            n *= d
    size = _ITEMSIZE.get(t.dtype, 4)
    if n * size <= MAX_BYTES:
        return None
    free = any(not isinstance(d, int) for d in t.shape)
    return (
        f"holds {'at least ' if free else ''}{n:,} elements ({n * size:.3g} bytes as {t.dtype}), "
        "more than torch can allocate (2**63 - 1 bytes)"
    )


def _node(
    path: str,
    name: str,
    t: str,
    kind: str,
    where: Path,
    names: list[str],
    xs: list[Tensor | None],
    repeat: int | None = None,
) -> Node:
    """A node with its inputs as written and their shapes (None where unknown)."""
    shapes = [x.shape if x is not None else None for x in xs]
    return Node(path, name, t, kind, where, inputs=names, input_shapes=shapes, repeat=repeat)


def _finish(node: Node) -> None:
    """A container's totals; its output is named after it ("output of down2"), not its last inner layer."""
    _sum_counts(node)
    if node.output is not None:
        o = node.output
        # Several outputs (Split, a block's outputs) stay addressable; a module's extra items (LSTM's
        # h_n) do not leave the container: nn.Sequential passes on the first one only.
        parts = o.parts if o.indexed else None
        node.output = replace(o, producer=node.path, parts=parts)


def _sum_counts(node: Node) -> None:
    """Totals from the children (containers among them are already summed)."""
    node.params = sum(c.params or 0 for c in node.children)
    macs = [c.macs for c in node.children if c.output is not None or c.kind != "layer"]
    node.macs = None if any(m is None for m in macs) else sum(m or 0 for m in macs)


def _int_only(cls: type[Layer], key: str) -> bool:
    """Whether field ``key`` of a layer type takes ints but no floats (``out_channels``, ``kernel_size``)."""
    f = cls.model_fields.get(key)
    if f is None:
        return False
    kinds: set[Any] = set()
    stack = [f.annotation]
    while stack:
        a = stack.pop()
        if a in (int, float):
            kinds.add(a)
        stack.extend(typing.get_args(a))
    return kinds == {int}


def _eval_params(spec: Spec, res: CheckResult, overrides: dict[str, Any]) -> dict[str, Any]:
    """The spec's params in order (a param may use earlier ones), then overrides."""
    out: dict[str, Any] = {}
    raw = spec.model.params if spec.model is not None and isinstance(spec.model.params, dict) else {}
    for k, v in raw.items():
        if k in overrides:
            out[k] = overrides[k]
            continue
        # a param need not be an attribute name, but `$if` cannot be parsed: keywords are refused too
        if (p := name_problem(k)) is not None and (not k.isidentifier() or keyword.iskeyword(k)):
            res.diagnostics.append(
                spec.source.locate(Diagnostic("error", "AC107", f"param name: {p}"), ("params", k), key=True)
            )
            continue
        try:
            out[k] = substitute(v, out) if is_expr(v) else v
        except ExprError as e:
            res.diagnostics.append(spec.source.locate(Diagnostic("error", "AC109", str(e)), ("params", k)))
    for k, v in overrides.items():
        out.setdefault(k, v)
    return out


def check(
    spec: Spec,
    dims: dict[str, int] | None = None,
    params: dict[str, Any] | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
) -> CheckResult:
    """Propagate shapes through ``spec``; every finding lands in ``result.diagnostics``.

    ``dims`` gives free dims values (``{"N": 4}``); ``params`` overrides spec
    params; ``overrides`` sets fields by layer path (``{"conv1": {"kernel_size": 5}}``).
    """
    res = CheckResult(spec=spec)
    res.diagnostics.extend(spec.source.diagnostics)
    res.diagnostics.extend(spec.diagnostics)
    src = spec.source
    bindings: dict[str, int] = {}
    ranges: dict[str, DimRange] = {}
    if spec.model is not None and isinstance(spec.model.dims, dict):
        for k, v in spec.model.dims.items():
            if isinstance(v, int):
                bindings[k] = v
            elif isinstance(v, DimRange):
                ranges[k] = v
    bindings.update(dims or {})
    for k, r in ranges.items():  # a value given per run must lie in the range the spec declares
        given = bindings.get(k)
        if isinstance(given, int) and not (r.min <= given and (r.max is None or given <= r.max)):
            span = f"from {r.min} to {r.max}" if r.max is not None else f"at least {r.min}"
            d = Diagnostic(
                "error",
                "AC314",
                f"{k}={given} is outside the range the spec declares for {k} ({span})",
                hint=f"use a size {span}, or widen dims: {{{k}: ...}}",
            )
            res.diagnostics.append(src.locate(d, ("dims", k)))
    res.bindings = bindings
    res.params = _eval_params(spec, res, params or {})

    env: dict[str, Tensor | None] = {}
    for nm, inp in spec.inputs.items():
        shape = tuple(D.substitute(d, bindings) for d in inp.shape) if isinstance(inp.shape, list) else ()
        dtype = inp.dtype if isinstance(inp.dtype, str) else "float32"
        layout = inp.layout if isinstance(inp.layout, str) else None
        roles = R.of_input(shape, dtype, layout)
        t = Tensor(shape, dtype, producer="", origin=f"the model input {nm}", roles=roles)
        env[nm] = t
        res.inputs[nm] = t
        if (big := too_many_elements(t)) is not None:
            d = Diagnostic("error", "AC223", f"the model input {nm} {t.describe()} {big}", hint=_BIG_HINT)
            res.diagnostics.append(src.locate(d, spec.input_src.get(nm, ("input",)) + ("shape",)))
            env[nm] = None  # its consumers are not checked: each would repeat this

    for nm in spec.unknown_inputs:  # invalid input specs were reported: their shapes are unknown
        env.setdefault(nm, None)
    walker = _Walker(spec, res, overrides)
    if spec.model is not None:
        top = Scope(res.params, env, "", False)
        res.root, last = walker.walk_scope(spec.raw_layers, ("layers",), top, first=next(iter(env), None))
        if isinstance(spec.model.outputs, list):
            for i, nm in enumerate(spec.model.outputs):
                if isinstance(nm, str) and nm in res.outputs:
                    d = Diagnostic(
                        "error",
                        "AC106",
                        f"outputs names '{nm}' twice: the model would return it twice",
                        hint=f"list each output once (remove this '{nm}')",
                    )
                    res.diagnostics.append(src.locate(d, ("outputs", i)))
                elif isinstance(nm, str) and nm in env:
                    res.outputs[nm] = env[nm]
                    if (x := env[nm]) is not None and x.indexed and x.parts is not None:
                        _, code, msg = pick(x, nm, ())
                        d = Diagnostic("error", code or "AC120", f"outputs: {msg}", hint=f"list {nm}.0, {nm}.1, ...")
                        res.diagnostics.append(src.locate(d, ("outputs", i)))
                elif isinstance(nm, str) and (sr := split_ref(nm)) is not None and sr[0] in env and sr[1]:
                    x = env[sr[0]]
                    item, code, msg = pick(x, *sr) if x is not None else (None, None, None)
                    if code is not None:
                        d = Diagnostic("error", code, f"outputs: {msg}", hint=_pick_hint(x, nm, code, True, False))
                        res.diagnostics.append(src.locate(d, ("outputs", i)))
                    res.outputs[nm] = item
                else:
                    guess = did_you_mean(str(nm), list(env), ignore_case=False)
                    d = Diagnostic(
                        "error",
                        "AC301",
                        f"outputs: no layer named '{nm}'",
                        hint=f"did you mean '{guess}'?" if guess else None,
                    )
                    raw = src.data if isinstance(src.data, dict) else {}
                    if isinstance(raw.get("outputs"), dict):  # outputs: {name: {shape: ...}}
                        res.diagnostics.append(src.locate(d, ("outputs", nm), key=True))
                    elif "outputs" not in raw and isinstance(raw.get("output"), dict):  # output: {name: ...}
                        res.diagnostics.append(src.locate(d, ("output", "name")))
                    else:
                        res.diagnostics.append(src.locate(d, ("outputs", i)))
        elif last is not None:
            x = env.get(last)
            if x is not None and x.indexed and x.parts is not None:  # a Split last: the model returns its parts
                for i, p in enumerate(x.parts):
                    res.outputs[f"{last}.{i}"] = p
            else:
                res.outputs[last] = x
        if walker.ties:
            walker.resolve_ties()
        _warn_dead_branches(res, env)
        if spec.training_only:
            _mark_training_only(res)
        _expect_outputs(res, walker, env, last)
    if res.conditions or res.expects:
        from .conditions import analyse

        analyse(res, ranges)
    if "noqa" in src.text:  # silencing in ruff's style (noqa.py): only files that say noqa pay for it
        from .noqa import apply_noqa

        apply_noqa(res)
    res.diagnostics.sort(key=lambda d: (d.line or 0, d.column or 0))
    return res


def check_expect(
    res: CheckResult, path: str | None, src: Path, what: str, entries: list[Any], x: Tensor
) -> ExpectCheck:
    """Compare; decided mismatches are reported now, undecided dims go to the solver (conditions.py)."""
    ex = ExpectCheck(path, src, what, entries, x)
    EX.compare(entries, x, ex)
    if ex.pending:
        res.expects.append(ex)
    elif ex.problems:
        ex.report(res, ex.problems)
    return ex


def _expect_outputs(res: CheckResult, walker: _Walker, env: dict[str, Tensor | None], last: str | None) -> None:
    """The model's expected outputs: ``output: {shape: ...}`` and shapes given in ``outputs``."""
    for nm, (raw, where) in res.spec.output_expect.items():
        name = nm if nm is not None else last
        x = res.outputs.get(name) if name is not None else None
        entries = EX.parse(raw, where, res.source, res.params, res, None, walker.add)
        if entries is None or x is None:
            continue
        check_expect(res, name, where, f"the model output {name}", entries, x)


def _mark_training_only(res: CheckResult) -> None:
    """The top-level layers that only outputs marked ``training_only`` need: forward runs them only
    while ``self.training`` (as torchvision's GoogLeNet computes its aux heads)."""
    marked = res.spec.training_only
    main = [n for n in res.outputs if n not in marked]
    if res.outputs and not main:
        name = next(iter(marked))
        d = Diagnostic(
            "error",
            "AC117",
            "every output is training_only: in eval mode the model would return nothing",
            hint="keep the main output (the logits) without training_only",
        )
        res.diagnostics.append(res.source.locate(d, marked[name]))
        return
    by_name = {n.name: n for n in res.root}
    needed: set[str] = set()
    stack = list(main)
    while stack:
        nm = stack.pop()
        if nm in needed or nm not in by_name:
            continue
        needed.add(nm)
        stack.extend(by_name[nm].inputs)
    for n in res.root:
        if n.name not in needed:
            for m in n.walk():
                m.training_only = True


def _warn_dead_branches(res: CheckResult, env: dict[str, Tensor | None]) -> None:
    """A top-level layer whose output nothing uses and that is not an output is dead weight."""
    used: set[str] = {ref_base(ref) for ref in res.outputs}
    for n in res.nodes:
        used.update(ref_base(ref) for ref in n.inputs)
    # A layer with an error (whose output was recovered) is reported once, for its error.
    errored = {d.path for d in res.diagnostics if d.severity == "error" and d.path}
    for n in res.root:
        if (
            n.name not in used
            and n.output is not None
            and not any(p == n.path or p.startswith(n.path + ".") for p in errored)
        ):
            d = Diagnostic(
                "warning",
                "AC305",
                f"the output of '{n.name}' reaches no model output",
                path=n.path,
                hint="use it as an input of a later layer, list it in outputs, or remove it",
            )
            res.diagnostics.append(res.source.locate(d, n.src))
    known = all(n.inputs for n in res.root)  # a layer that failed before naming its inputs may read any
    for nm, t in res.inputs.items():  # a model input nothing reads: forward takes it and ignores it
        if known and nm not in used and nm in res.spec.input_src:
            d = Diagnostic(
                "warning",
                "AC408",
                f"the model input '{nm}' {t.describe()} is used by no layer: the generated forward ignores it",
                hint=f"name it in a layer's inputs (inputs: [{nm}, ...]), or remove it",
            )
            res.diagnostics.append(res.source.locate(d, res.spec.input_src[nm], key=True))
    seen: set[tuple[str, str]] = set()
    for n in res.nodes:  # inside a block: a layer that neither a later layer nor the block's output uses
        if n.kind != "block" or not n.children or n.type not in res.spec.blocks:
            continue
        inner: set[str] = {ref_base(ref) for ref in result_refs(n, res.spec)}
        for c in n.children:
            inner.update(ref_base(ref) for ref in c.inputs)
        for c in n.children:
            if c.name in inner or c.output is None or (n.type, c.name) in seen or c.path in errored:
                continue
            seen.add((n.type, c.name))
            d = Diagnostic(
                "warning",
                "AC305",
                f"the output of '{c.name}' in block {n.type} is used by no later layer of the block, nor is it "
                "the block's output",
                path=c.path,
                hint="use it as an input of a later layer of the block, make it the block's output, or remove it",
            )
            res.diagnostics.append(res.source.locate(d, c.src))
