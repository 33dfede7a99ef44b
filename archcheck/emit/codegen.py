"""Code generation: a checked spec as a standalone PyTorch module.

The output imports only torch (and math, for a ``ceil`` or ``floor`` in a block) and reads like hand-written code: one class per
block type and one for the model, the layers in ``__init__`` with literal
sizes (a comment where a size was inferred), and ``forward`` with the shape
after each step. Module attribute paths are the spec's dotted paths, so the
``state_dict`` keys follow the spec.

Safety: nothing from the spec reaches the code unless it is a validated
identifier (``schema.name_problem`` is None) or a literal of a checked type:
ints, finite floats, bools, None, and strings only from a field's closed
``Literal`` set. The finished source is parsed and audited once more
(:func:`audit`) before it is returned: it must compile, and no parameter or
local may shadow a global the code uses (a block param ``range`` is ``range_``
in Python, while the spec and the state_dict keep the spec's names).

Formatting follows ruff's (black's) style at 88 columns: a statement that
does not fit is split one argument per line with a trailing comma, which the
formatter keeps as it is.
"""

from __future__ import annotations

import ast
import copy
import functools
import gc
import math
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from ..engine.result import CheckResult, Inferred, Node
from ..engine.walk import pick, split_ref
from ..layers.base import Layer, Tensor
from ..shapes import dims as D
from ..spec.schema import module_name_problem, name_problem

WIDTH = 88
_IND = "    "
_TORCH_NAME = re.compile(r"nn\.[A-Za-z][A-Za-z0-9_]*")
_COMMENT_OK = re.compile(r"[ -~]*")  # printable ASCII: nothing that ends a line


class CodegenError(Exception):
    """The spec cannot be turned into code (it has errors, or fails a safety check)."""


class GeneratedCodeBug(Exception):
    """The generated module does not compile, or a local shadows a name it uses: a bug in archcheck.

    Not a CodegenError on purpose: no spec may cause it (spec errors are caught
    before), so the CLI reports it as an internal error (exit 3).
    """


# Globals that the templates of this module write: the imports and the builtins (``super().__init__()``,
# ``for _ in range(k)``). The layers' expressions add theirs (``torch.cat``); ``audit`` checks that the
# generated code refers to no other global, so this set cannot silently fall behind the templates.
_TEMPLATE_GLOBALS = frozenset({"nn", "torch", "super", "range"})


# ------------------------------------------------------------------ literals


def _literal_strings(ann: Any) -> set[str]:
    """The strings a field's annotation allows by a ``Literal`` (its closed set)."""
    if typing.get_origin(ann) is Literal:
        return {a for a in typing.get_args(ann) if isinstance(a, str)}
    out: set[str] = set()
    for a in typing.get_args(ann):
        out |= _literal_strings(a)
    return out


@functools.cache
def _field_choices(cls: type[Layer], name: str) -> frozenset[str]:
    """The strings field ``name`` of layer type ``cls`` allows (its ``Literal`` set), computed once."""
    return frozenset(_literal_strings(cls.model_fields[name].annotation))


def literal(value: Any, allowed: set[str] | frozenset[str] = frozenset()) -> str:
    """``value`` as Python source; refuses anything but checked literal types."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return repr(int(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CodegenError(f"cannot emit the non-finite number {value!r}")
        return repr(float(value))
    if isinstance(value, str):
        if value not in allowed:
            raise CodegenError(f"refusing to emit the string {value[:40]!r}: not one of the field's fixed choices")
        lit = repr(value)
        return '"' + lit[1:-1] + '"' if lit[0] == "'" and '"' not in value else lit  # the formatter's quotes
    if isinstance(value, (list, tuple)):
        items = [literal(v, allowed) for v in value]
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    raise CodegenError(f"cannot emit a value of type {type(value).__name__}")


def identifier(name: str) -> str:
    """``name`` if it is a validated identifier; raise otherwise."""
    if not isinstance(name, str) or name_problem(name) is not None:
        raise CodegenError(f"refusing to emit the name {str(name)[:40]!r}: {name_problem(str(name))}")
    return name


def _comment(text: str) -> str:
    """A ``# ...`` comment: other than printable ASCII as escapes (a name ``héad`` is ``h\\xe9ad``), and
    checked to hold no line break."""
    text = text.encode("ascii", "backslashreplace").decode("ascii")
    if not _COMMENT_OK.fullmatch(text):
        raise CodegenError(f"refusing to emit the comment {text[:40]!r}")
    return "# " + text


def name_literal(name: str) -> str:
    """A layer name as a Python string literal (``"block1-0"``), for ``add_module`` and ``getattr``.

    Only names the spec checker accepts (``schema.module_name_problem`` is None) are written, and
    the literal is parsed back to be sure it is the name and nothing else.
    """
    if not isinstance(name, str) or module_name_problem(name) is not None:
        raise CodegenError(f"refusing to emit the name {str(name)[:40]!r}: {module_name_problem(str(name))}")
    lit = repr(name)
    if lit[0] == "'" and '"' not in name:  # the formatter's double quotes
        lit = '"' + lit[1:-1] + '"'
    if ast.literal_eval(lit) != name:  # pragma: no cover - repr() is exact
        raise CodegenError(f"cannot write the name {name[:40]!r} as a literal")
    return lit


def attr(obj: str, name: str) -> str:
    """Reading submodule ``name`` of ``obj``: ``self.conv1``, or ``getattr(self, "block1-0")``."""
    if name_problem(name) is None:
        return f"{obj}.{name}"
    return f"getattr({obj}, {name_literal(name)})"


def local_name(name: str) -> str:
    """An identifier for a local holding a layer's output: the name itself, or ``block1_0`` for ``block1-0``."""
    if name_problem(name) is None:
        return name
    out = re.sub(r"\W", "_", name, flags=re.ASCII).strip("_") or "out"
    if out[0].isdigit():
        out = "m" + out
    return out if name_problem(out) is None else out + "_x"


def _shape(shape: Any) -> str:
    for d in shape:
        for n in D.free_names(d):
            if not n.isidentifier() or not n.isascii():
                raise CodegenError(f"the free dim name {n[:40]!r} is not an identifier")
    return D.fmt_shape(shape)


# ------------------------------------------------------------------ expressions and layout


@dataclass
class Call:
    """``func(args)`` with keyword (``(name, expr)``) or positional (``(None, expr)``) args."""

    func: str
    args: list[tuple[str | None, Any]] = field(default_factory=list)

    def flat(self) -> str:
        parts = [(f"{k}={_flat(v)}" if k else _flat(v)) for k, v in self.args]
        return f"{self.func}({', '.join(parts)})"


def _flat(e: Any) -> str:
    return e.flat() if isinstance(e, Call) else str(e)


def _split(prefix: str, e: Any, suffix: str, indent: str) -> list[str]:
    """Lay out ``prefix + e + suffix`` at ``indent``: one line if it fits, else one arg per line."""
    line = f"{indent}{prefix}{_flat(e)}{suffix}"
    if len(line) <= WIDTH or not isinstance(e, Call) or not e.args:
        return [line]
    out = [f"{indent}{prefix}{e.func}("]
    for k, v in e.args:
        out += _split(f"{k}=" if k else "", v, ",", indent + _IND)
    out.append(f"{indent})" + suffix)
    return out


def _stmt(lhs: str, e: Any, indent: str, comment: str | None = None) -> list[str]:
    """``lhs = e`` (or the bare expression when lhs is empty), with an optional comment."""
    prefix = f"{lhs} = " if lhs else ""
    lines = _split(prefix, e, "", indent)
    if comment:
        c = _comment(comment)
        if len(lines) == 1 and len(lines[0]) + 2 + len(c) <= WIDTH:
            lines[0] += "  " + c
        else:
            lines.insert(0, indent + c)
    return lines


# ------------------------------------------------------------------ the generator


Lit = Callable[[Any, str, "set[str] | frozenset[str]"], str]


def _direct(value: Any, hint: str, allowed: set[str] | frozenset[str] = frozenset()) -> str:
    return literal(value, allowed)


@dataclass
class _Instance:
    """How one block instance is constructed: its class and keyword arguments (rendered)."""

    cls: str
    args: list[tuple[str, str, Any, set[str] | frozenset[str]]]  # (Python name, param, value, allowed strings)


@dataclass
class _ClassDef:
    name: str
    lines: list[str]


def _is_op(layer: Layer) -> bool:
    return type(layer).torch_name is None and type(layer).module_source is None


# Names the fixed code binds as parameters: the wrapper classes' ``forward(self, x)``. No class takes one
# (a model named ``x`` is ``xModel``), or the function binding it would shadow that class.
_TEMPLATE_LOCALS = frozenset({"x"})


def _module_sources(res: CheckResult) -> dict[str, tuple[str, frozenset[str]]]:
    """The classes and functions the generated file defines for types torch lacks (``Layer.module_source``,
    ``Layer.function_source``), by name, in order of first use, with the names their functions bind (no
    class may take one)."""
    import symtable

    out: dict[str, tuple[str, frozenset[str]]] = {}
    for n in res.layers:
        lt = type(n.layer) if n.layer is not None else None
        src = (lt.module_source or lt.function_source) if lt is not None else None
        if src is None or src in (v[0] for v in out.values()):
            continue
        tables = symtable.symtable(src, "<module_source>", "exec").get_children()
        bound: set[str] = set()
        while tables:
            t = tables.pop()
            tables.extend(t.get_children())
            if t.get_type() == "function":
                bound |= {s.get_name() for s in t.get_symbols() if s.is_parameter() or s.is_assigned()}
        out[_class_name(src)] = (src.rstrip("\n"), frozenset(bound - {"self"}))
    return out


def _class_name(module_source: str) -> str:
    """The name of the one class (or function) a ``Layer.module_source`` (``function_source``) defines."""
    (cls,) = ast.parse(module_source).body
    assert isinstance(cls, (ast.ClassDef, ast.FunctionDef))
    return cls.name


def _plain_call(layer: Layer) -> bool:
    return layer.emit_call("M", ["a"]) == "M(a)"


class Generator:
    """Builds the module source for one ok CheckResult."""

    def __init__(self, res: CheckResult) -> None:
        if not res.ok:
            raise CodegenError("the spec has errors: fix them before generating code")
        self.res = res
        self.model_name = identifier(res.name)
        # Every name the module's code refers to as a global: the templates' builtins and imports,
        # the layers' own expressions, and the classes. A local or parameter (a spec name) that
        # equals one is renamed in Python (range -> range_), so it never shadows what the code uses.
        self.globals: set[str] = set(_TEMPLATE_GLOBALS) | _emitted_globals(res) | _expression_globals(res)
        self.module_sources = _module_sources(res)  # class name -> (source, the names it binds)
        self.globals |= set(self.module_sources)
        bound = set(_TEMPLATE_LOCALS).union(*(b for _, b in self.module_sources.values()))
        # Class names avoid those, and every spec name (so a wrapper class made later never takes one).
        if any(name_problem(n.name) is not None and module_name_problem(n.name) is None for n in res.nodes):
            self.globals.add("getattr")  # getattr(self, "block1-0"): a layer name that is not an identifier
        self.taken: set[str] = set(self.globals) | _spec_names(res) | bound
        self.model_class = (
            self.model_name
            if self.model_name not in self.globals and self.model_name not in bound
            else self._unique(self.model_name + "Model")
        )
        self.taken.add(self.model_class)
        self.blocks = res.spec.blocks
        self.instances: dict[str, _Instance] = {}  # block node path -> how it is built
        self.classes: list[_ClassDef] = []
        self.wrappers: dict[str, str] = {}  # wrapper class source key -> class name
        self.uses_torch = False
        self.uses_math = False
        self.module_names: set[str] = (
            set()
        )  # layer names written as string literals (add_module, getattr)  # a block's $ expression calls ceil or floor: math.ceil, math.floor
        self.block_class: dict[str, str] = {}
        for b in self.blocks:
            identifier(b)
            nm = b if b != self.model_class and b not in self.globals and b not in bound else b + "Block"
            self.block_class[b] = nm if nm not in self.globals and nm != self.model_class else self._unique(nm)
            self.taken.add(self.block_class[b])
        self.globals |= {self.model_class, *self.block_class.values()}

    # ---- helpers

    def _unique(self, base: str) -> str:
        name, k = base, 1
        while name in self.taken:
            k += 1
            name = f"{base}{k}"
        self.taken.add(name)
        return name

    def _class(self, base: str) -> str:
        """A new class name (a wrapper's): unique, and a global from now on."""
        name = self._unique(base)
        self.globals.add(name)
        return name

    def _py(self, name: str) -> str:
        """The Python name of a local from the spec: itself, unless the code uses it as a global."""
        while name in self.globals:
            name += "_"
        return name

    def _py_names(self, names: list[str]) -> dict[str, str]:
        """Python names for a function's parameters (all distinct): a name the code uses gets a ``_``."""
        keep = {n for n in names if n not in self.globals}
        out: dict[str, str] = {}
        for n in names:
            py = n
            if n not in keep:
                py = n + "_"
                while py in self.globals or py in keep:
                    py += "_"
                keep.add(py)
            out[n] = py
        return out

    def _inferred_note(self, node: Node, field_name: str, inf: Inferred, scope_prefix: str) -> str | None:
        """``in_features 32 * 7 * 7 from pool2`` for a size the spec left out (``Node.inferred``)."""
        x = inf.tensor
        if x is None or inf.input is None:
            return None  # not read off an input (a nested layer's size): nothing to say where it came from
        product = x.product if x.product is not None and x.product.axis == inf.axis else None
        what = " * ".join(D.fmt(f) for f in product.factors) if product is not None else str(inf.value)
        src = x.producer
        local = node.inputs[inf.input] if inf.input < len(node.inputs) else ""
        if product is not None:
            src = product.source or "the input"  # the layer whose output was flattened
        elif x.producer.startswith(scope_prefix) and "." not in x.producer[len(scope_prefix) :]:
            pass  # the sibling that last changed the shape: "from fc1", not the ReLU after it
        elif local and not local.isdigit():
            src = scope_prefix + local  # the sibling's name: "layer1", not its last inner layer
        if not scope_prefix:
            return f"{field_name} {what} from {src or 'the input'}"
        # In a block class the value may differ between instances: name the source only.
        if src.startswith(scope_prefix):
            return f"{field_name} from {src[len(scope_prefix) :]}"
        return None

    # ---- __init__: module construction

    def _layer_expr(self, node: Node, lit: Lit, rel: str, keys: set[str] | None, in_seq: bool) -> Call:
        layer = node.layer
        assert layer is not None
        tn = type(layer).torch_name
        args = layer.ctor_args()
        for k in sorted(keys or ()):
            # another instance may hold a layer of another type here (when: false makes it an Identity)
            if k not in args and k in type(layer).model_fields:
                args[k] = getattr(layer, k)
        init = getattr(layer, "init_expr", None)
        if init is not None:  # an nn.Parameter attribute (layers/parameter.py), not a module
            self.uses_torch = True
            func, _, arg = init(lambda f, v: lit(v, f"{rel}:{f}", frozenset())).partition("(")
            return Call(func, [(None, arg[:-1])])
        order = type(layer).field_order()
        items: list[tuple[str | None, Any]] = []
        for k in sorted(args, key=order.index):
            v = args[k]
            if isinstance(v, Layer):  # a layer written inside a field (encoder_layer, norm): its module
                items.append((identifier_field(k), self._nested_expr(v, lit, f"{rel}:{k}")))
                continue
            items.append((identifier_field(k), lit(v, f"{rel}:{k}", _field_choices(type(layer), k))))
        defined = type(layer).module_source
        if tn is None and defined is not None:
            return Call(_class_name(defined), items)  # a class this file defines (StochasticDepth)
        if tn is None:
            assert in_seq, "a tensor operation is only a module inside nn.Sequential"
            return Call(self._op_wrapper(layer), [])
        if not _TORCH_NAME.fullmatch(tn):
            raise CodegenError(f"bad torch_name {tn!r}")
        if in_seq and not _plain_call(layer):
            return Call(self._module_wrapper(layer), items)
        return Call(tn, items)

    def _nested_expr(self, layer: Layer, lit: Lit, hint: str) -> Call:
        """``nn.TransformerEncoderLayer(d_model=512, ...)``: a module passed as a constructor argument."""
        tn = type(layer).torch_name
        if tn is None or not _TORCH_NAME.fullmatch(tn):
            raise CodegenError(f"bad torch_name {tn!r}")
        items: list[tuple[str | None, Any]] = []
        args = layer.ctor_args()
        order = type(layer).field_order()
        for k in sorted(args, key=order.index):
            v = args[k]
            if isinstance(v, Layer):
                items.append((identifier_field(k), self._nested_expr(v, lit, f"{hint}_{k}")))
            else:
                items.append((identifier_field(k), lit(v, f"{hint}_{k}", _field_choices(type(layer), k))))
        return Call(tn, items)

    def _op_wrapper(self, layer: Layer) -> str:
        """A tensor operation inside an nn.Sequential needs a module: a small class."""
        body = layer.emit_call(None, ["x"])
        key = f"op:{type(layer).__name__}:{body}"
        if key not in self.wrappers:
            name = self._class(type(layer).__name__)
            self.wrappers[key] = name
            self.uses_torch |= "torch." in body
            self.classes.append(
                _ClassDef(
                    name,
                    [
                        f"class {name}(nn.Module):",
                        f'{_IND}"""{type(layer).__name__} as a module, for use in nn.Sequential."""',
                        "",
                        f"{_IND}def forward(self, x):",
                        f"{_IND * 2}return {body}",
                    ],
                )
            )
        return self.wrappers[key]

    def _module_wrapper(self, layer: Layer) -> str:
        """A module whose call is not ``m(x)`` (tuple output, self-attention) inside nn.Sequential."""
        tn = type(layer).torch_name
        body = layer.emit_call("super().forward", ["x"])
        key = f"mod:{tn}:{body}"
        if key not in self.wrappers:
            tuple_out = type(layer).tuple_output
            name = self._class(type(layer).__name__ + ("Out" if tuple_out else ""))
            what = "returning only its first output" if tuple_out else f"as an {tn} subclass"
            self.wrappers[key] = name
            self.classes.append(
                _ClassDef(
                    name,
                    [
                        f"class {name}({tn}):",
                        f'{_IND}"""{type(layer).__name__} {what}, for nn.Sequential."""',
                        "",
                        f"{_IND}def forward(self, x):",
                        f"{_IND * 2}return {body}",
                    ],
                )
            )
        return self.wrappers[key]

    def _expr(self, node: Node, lit: Lit, rel: str, keys: dict[str, set[str]], in_seq: bool) -> Any | None:
        """The construction expression of ``node``, or None if it needs statements."""
        if node.kind == "layer":
            return self._layer_expr(node, lit, rel, keys.get(rel), in_seq)
        if node.kind == "block":
            inst = self.instances[node.path]
            return Call(inst.cls, [(py, lit(v, f"{rel}:{p}", allowed)) for py, p, v, allowed in inst.args])
        if node.repeat is None and all(c.name.isdigit() for c in node.children):
            items = [self._expr(c, lit, _join(rel, c.name), keys, True) for c in node.children]
            if all(i is not None for i in items):
                return Call("nn.Sequential", [(None, i) for i in items])
        return None

    def _module_stmts(
        self,
        node: Node,
        parent: str,
        lit: Lit,
        rel: str,
        keys: dict[str, set[str]],
        ind: str,
        in_seq: bool = False,
    ) -> list[str]:
        """Statements that build ``node`` as the submodule ``node.name`` of ``parent`` (``self``)."""
        comment = None
        if node.kind == "layer" and node.layer is not None:
            notes = [self._inferred_note(node, k, inf, self._prefix) for k, inf in node.inferred.items()]
            comment = "; ".join(n for n in notes if n) or None
        e = self._expr(node, lit, rel, keys, in_seq)
        if e is not None:
            return self._assign(parent, node.name, e, ind, comment)
        lines = self._assign(parent, node.name, Call("nn.Sequential"), ind)
        return lines + self._fill_sequential(node, attr(parent, node.name), lit, rel, keys, ind)

    def _assign(self, parent: str, name: str, e: Any, ind: str, comment: str | None = None) -> list[str]:
        """``self.conv1 = e``; for a name that is not an identifier ``self.add_module("block1-0", e)``."""
        if name_problem(name) is None:
            return _stmt(f"{parent}.{name}", e, ind, comment)
        self.module_names.add(name)
        return _stmt("", Call(f"{parent}.add_module", [(None, name_literal(name)), (None, e)]), ind, comment)

    def _fill_sequential(
        self, node: Node, target: str, lit: Lit, rel: str, keys: dict[str, set[str]], ind: str
    ) -> list[str]:
        lines: list[str] = []
        kids = node.children
        if node.repeat is not None and not all(c.name.isdigit() for c in kids):
            # Copies named by a template (denselayer1, denselayer2, ...): runs of identical copies
            # become a loop over their names.
            exprs = [self._expr(c, lit, _join(rel, c.name), keys, True) for c in kids]
            if all(x is not None for x in exprs):
                flat = [_flat(x) for x in exprs]
                i = 0
                while i < len(kids):
                    j = i
                    while j + 1 < len(kids) and flat[j + 1] == flat[i]:
                        j += 1
                    if j > i:
                        nm = "name"
                        while nm in self.globals or nm in self.taken:  # no block param, class or builtin
                            nm += "_"
                        run = kids[i : j + 1]
                        self.module_names.update(c.name for c in run)
                        head = f"{ind}for {nm} in ({', '.join(name_literal(c.name) for c in run)}):"
                        if len(head) <= WIDTH:
                            lines.append(head)
                        else:
                            lines.append(f"{ind}for {nm} in (")
                            lines += [f"{ind}{_IND}{name_literal(c.name)}," for c in run]
                            lines.append(f"{ind}):")
                        lines += _stmt("", Call(f"{target}.add_module", [(None, nm), (None, exprs[i])]), ind + _IND)
                    else:
                        lines += self._assign(target, kids[i].name, exprs[i], ind)
                    i = j + 1
                return lines
        elif node.repeat is not None:
            # Runs of identical copies become loops; the first copy may differ (its input).
            exprs = [self._expr(c, lit, _join(rel, c.name), keys, True) for c in kids]
            if all(x is not None for x in exprs):
                flat = [_flat(x) for x in exprs]
                i = 0
                while i < len(kids):
                    j = i
                    while j + 1 < len(kids) and flat[j + 1] == flat[i]:
                        j += 1
                    if j > i:
                        lines.append(f"{ind}for _ in range({j - i + 1}):")
                        lines += _stmt("", Call(f"{target}.append", [(None, exprs[i])]), ind + _IND)
                    else:
                        lines += _stmt("", Call(f"{target}.append", [(None, exprs[i])]), ind)
                    i = j + 1
                return lines
        for c in kids:
            crel = _join(rel, c.name)
            if not c.name.isdigit():
                lines += self._module_stmts(c, target, lit, crel, keys, ind, in_seq=True)
                continue
            e = self._expr(c, lit, crel, keys, True)
            if e is not None:
                lines += _stmt("", Call(f"{target}.append", [(None, e)]), ind)
            else:
                lines.append(f"{ind}{target}.append(nn.Sequential())")
                lines += self._fill_sequential(c, f"{target}[{int(c.name)}]", lit, crel, keys, ind)
        return lines

    _prefix = ""
    _items: set[str] = set()

    def _init_lines(self, children: list[Node], lit: Lit, keys: dict[str, set[str]], prefix: str) -> list[str]:
        self._prefix = prefix
        lines: list[str] = []
        for c in children:
            if c.kind == "layer" and c.layer is not None and _is_op(c.layer):
                continue  # a tensor operation: only in forward
            if c.kind == "use":
                continue  # an earlier module called again: only in forward
            lines += self._module_stmts(c, "self", lit, c.name, keys, _IND * 2)
            lines += [f"{_IND * 2}{ref}.requires_grad_(False)" for ref in _frozen_refs(c, attr("self", c.name))]
        for c in children:  # tied weights, once every module exists: self.lm_head.weight = self.wte.weight
            for m in [c] if c.kind == "block" else c.walk():
                for pname, target in m.ties.items():
                    here = _attr_path(m.path[len(prefix) :]) + "." + identifier_field(pname)
                    lines.append(f"{_IND * 2}{here} = {_attr_path(target)}")
        return lines

    # ---- forward

    def _forward_lines(
        self,
        children: list[Node],
        inputs: list[str],
        outputs: list[str],
        shapes: bool,
        training: list[str] | None = None,
    ) -> list[str]:
        """The body of ``forward``; ``training``: the outputs returned only while ``self.training``
        (the layers only they need run under ``if self.training:``)."""
        ind = _IND * 2
        self._items = set()
        # Layers whose tuple items are used (qkv.0, lstm.1.0) are unpacked: `a, (h, _) = self.lstm(x)`.
        # Their plain name then means their first item (a module's default output).
        unpacked = {r[0] for c in children for r in map(split_ref, c.inputs) if r and r[1]}
        unpacked |= {r[0] for r in map(split_ref, outputs) if r and r[1]}

        def canon(ref: str) -> str:
            return f"{ref}.0" if ref in unpacked else ref

        if len(outputs) == 1 and (sr := split_ref(outputs[0])) is not None:
            # A block whose one output is several (a Split last): it returns them all, as its instance is used.
            t = next((c.output for c in children if c.name == sr[0]), None)
            t = pick(t, *sr, whole=True)[0] if t is not None else None
            if t is not None and t.indexed and t.parts is not None:
                outputs = [f"{outputs[0]}.{j}" for j in range(len(t.parts))]
                unpacked.add(sr[0])
        outputs = [canon(o) for o in outputs]
        ins_of = {c.path: [canon(n) for n in c.inputs] for c in children}
        last_use: dict[str, int] = {}
        uses: dict[str, int] = {}
        end = len(children)
        for i, c in enumerate(children):
            for n in ins_of[c.path]:
                last_use[n] = i
                uses[n] = uses.get(n, 0) + 1
        for n in outputs:
            last_use[n] = end
            uses[n] = uses.get(n, 0) + 1
        for n in list(last_use):  # a tuple held whole (lstm.1 = (h_n, c_n)) lives as long as its items' uses
            parts = n.split(".")
            for k in range(1, len(parts)):
                p = ".".join(parts[:k])
                if p in last_use:
                    last_use[p] = max(last_use[p], last_use[n])
        consumers: dict[str, list[Node]] = {}
        for c in children:
            for n in ins_of[c.path]:
                consumers.setdefault(n, []).append(c)
        pyin = self._py_names([identifier(n) for n in inputs])
        var: dict[str, str] = {n: pyin[n] for n in inputs}
        x_, out_ = self._py("x"), self._py("out")
        holder: dict[str, str] = {v: n for n, v in var.items()}  # var -> the name whose value it holds

        def busy(v: str, i: int) -> bool:
            n = holder.get(v)
            return n is not None and last_use.get(n, -1) > i

        lines: list[str] = []
        guarded = False  # the last statement is inside `if self.training:`
        for i, c in enumerate(children):
            args = [var[n] for n in ins_of[c.path]]
            ins = ins_of[c.path]
            if c.name in unpacked and c.output is not None:
                lines += self._unpack(c, args, i, var, holder, uses, busy, ind, shapes)
                continue
            out_var: str | None = None
            if len(ins) == 1 and uses.get(ins[0], 0) == 1 and var[ins[0]] not in self._items:
                out_var = var[ins[0]]
            elif len(ins) > 1:
                v0 = var[ins[0]]
                if v0 in (x_, out_) and not busy(v0, i):
                    out_var = v0
                elif not busy(x_, i):
                    out_var = x_
            else:
                nxt = consumers.get(c.name, [])
                if uses.get(c.name, 0) == 1 and len(nxt) == 1 and len(nxt[0].inputs) == 1 and not busy(out_, i):
                    out_var = out_
            if out_var is None or busy(out_var, i):
                out_var = self._py(local_name(c.name))
                k = 1
                while busy(out_var, i):
                    k += 1
                    out_var = self._py(f"{local_name(c.name)}_{k}")
            call = self._call(c, args, whole=False)
            comment = _shape(c.output.shape) if shapes and c.output is not None else None
            if comment is not None and c.expect is not None:  # the spec's expect: (checked by validate)
                comment += " (expected)" if c.expect == comment else f" (expected {c.expect})"
            if c.training_only and training:  # feeds only training_only outputs (an aux head)
                if not guarded:
                    lines.append(f"{ind}if self.training:")
                lines += _stmt(out_var, call, ind + _IND, comment)
            else:
                lines += _stmt(out_var, call, ind, comment)
            guarded = c.training_only and bool(training)
            var[c.name] = out_var
            holder[out_var] = c.name
        rets = [var[o] for o in outputs]
        if training:
            lines.append(f"{ind}if self.training:")
            lines.append(f"{ind}{_IND}return {', '.join(rets)}")
            rets = [var[o] for o in outputs if o not in training]
        lines.append(f"{ind}return {', '.join(rets)}")
        return lines

    def _call(self, c: Node, args: list[str], whole: bool) -> str:
        """The forward expression of ``c``: its module's call (the earlier module's for ``use:``), or its op.

        ``whole``: the whole tuple a module returns (its items are used), not its first item.
        """
        owner = c.target if c.kind == "use" and c.target is not None else c
        if c.layer is not None and c.kind in ("layer", "use"):
            ref = None if _is_op(c.layer) else attr("self", owner.name)
            call = c.layer.emit_tuple(ref, args) if whole else c.layer.emit_call(ref, args)
            self.uses_torch |= "torch." in call
            return call
        return f"{attr('self', owner.name)}({', '.join(args)})"

    def _unpack(
        self,
        c: Node,
        args: list[str],
        i: int,
        var: dict[str, str],
        holder: dict[str, str],
        uses: dict[str, int],
        busy: Callable[[str, int], bool],
        ind: str,
        shapes: bool,
    ) -> list[str]:
        """``qkv_0, _, qkv_2 = x.split(8, dim=-1)``: a tuple whose items later layers use, one variable each."""
        assert c.output is not None
        fresh: set[str] = set()
        shown: list[str] = []

        def target(t: Tensor, ref: str, top: bool) -> str:
            if t.parts is None or ref in uses or not any(u.startswith(ref + ".") for u in uses):
                if ref not in uses:
                    return "_"
                base = local_name(ref.replace(".", "_"))
                v, k = self._py(base), 1
                while busy(v, i) or v in fresh:
                    k += 1
                    v = self._py(f"{base}_{k}")
                fresh.add(v)
                self._items.add(v)  # named after the item: not reused for a later layer's output
                var[ref], holder[v] = v, ref
                shown.append(_shape(t.shape))
                for u in uses:  # items of a tuple held whole: subscripts of its variable
                    if u.startswith(ref + "."):
                        var[u] = v + "".join(f"[{int(j)}]" for j in u[len(ref) + 1 :].split("."))
                        self._items.add(var[u])
                return v
            items = [target(p, f"{ref}.{j}", False) for j, p in enumerate(t.parts)]
            inner = ", ".join(items) + ("," if len(items) == 1 else "")
            return inner if top and len(items) > 1 else f"({inner})"

        lhs = target(c.output, c.name, True)
        call = self._call(c, args, whole=True)
        comment = ", ".join(shown) if shapes else None
        return _stmt(lhs, call, ind, comment)

    # ---- classes

    def _block_classes(self) -> None:
        """One class per block type (more only if instances differ in structure), inner types first."""
        all_blocks = [n for n in self.res.nodes if n.kind == "block"]
        # The block types each type's instances build directly (not those inside them): linear in the nodes.
        inner: dict[str, dict[str, None]] = {}
        for n in all_blocks:
            deps = inner.setdefault(n.type, {})
            for m in _own_nodes(n):
                if m.kind == "block":
                    deps[m.type] = None
        order: dict[str, None] = {}

        def visit(t: str, seen: tuple[str, ...]) -> None:
            if t in order or t in seen:
                return
            for u in inner.get(t, {}):
                visit(u, seen + (t,))
            order[t] = None

        for n in all_blocks:
            visit(n.type, ())
        for t in order:
            self._block_class(t, [n for n in all_blocks if n.type == t])

    def _block_class(self, t: str, nodes: list[Node]) -> None:
        bdef = self.blocks[t]
        # Fields some instance sets: emitted for every instance, so the bodies align.
        keys: dict[str, set[str]] = {}
        for n in nodes:
            for m in _own_nodes(n):
                if m.kind == "layer" and m.layer is not None:
                    keys.setdefault(m.path[len(n.path) + 1 :], set()).update(m.layer.ctor_args())
        groups: dict[str, list[tuple[Node, list[Any]]]] = {}
        for n in nodes:
            slots: list[Any] = []

            def rec(
                v: Any, hint: str, allowed: set[str] | frozenset[str] = frozenset(), slots: list[Any] = slots
            ) -> str:
                literal(v, allowed)  # checked now: the value may reach a call site
                slots.append((v, hint, allowed))
                return f"@{len(slots) - 1}@"

            init = self._init_lines(_in_init_order(n.children, bdef.init_order), rec, keys, n.path + ".")
            fwd = self._forward_lines(n.children, list(bdef.inputs), bdef.result_names(n.children[-1].name), False)
            groups.setdefault("\n".join(init + fwd), []).append((n, slots))
        for gi, members in enumerate(groups.values()):
            name = self.block_class[t] if gi == 0 else self._unique(self.block_class[t])
            self._emit_block_group(t, name, members, keys)

    def _emit_block_group(
        self, t: str, name: str, members: list[tuple[Node, list[Any]]], keys: dict[str, set[str]]
    ) -> None:
        bdef = self.blocks[t]
        first, first_slots = members[0]
        params = list(bdef.params)
        # Slot i becomes a constructor parameter when its value differs between instances.
        slot_param: dict[int, str] = {}
        slot_expr: dict[int, ast.expr] = {}  # "planes * 4": the spec's own $ expression over block params
        assigned: dict[str, str] = {}
        taken = set(bdef.params)
        used: list[str] = []

        def vec_key(vec: list[Any]) -> str:
            return repr([(type(v).__name__, v) for v in vec])

        # The spec's own expressions first, so that a size inferred from one (bn3's
        # num_features from conv3's "$planes * 4") reads the same: same value in every instance.
        exprs: dict[str, tuple[ast.expr, list[str]]] = {}
        for i, (_, hint, _) in enumerate(first_slots):
            vec = [s[i][0] for _, s in members]
            if not all(_same(v, vec[0]) for v in vec):
                found = self._param_expression(first, hint, bdef.params, members, vec)
                if found is not None:
                    exprs.setdefault(vec_key(vec), found)
        for i, (_, hint, _) in enumerate(first_slots):
            vec = [s[i][0] for _, s in members]
            if all(_same(v, vec[0]) for v in vec):
                continue
            key = vec_key(vec)
            expr = exprs.get(key)
            if expr is not None and any(
                p in bdef.params
                and all(_same(m.block_params.get(p), v) for (m, _), v in zip(members, vec, strict=False))
                for p in params
            ):
                expr = None  # a param that is the value itself reads better than an expression
            if expr is not None:
                slot_expr[i], names = expr
                used.extend(n for n in names if n not in used)
                continue
            pname = assigned.get(key)
            if pname is None:
                for p in params:
                    if all(
                        p in m.block_params and _same(m.block_params[p], v)
                        for (m, _), v in zip(members, vec, strict=False)
                    ):
                        pname = p
                        break
            if pname is None:
                rel, _, fld = hint.rpartition(":")
                for cand in (fld, _ident_from_hint(f"{rel}_{fld}")):
                    if cand not in taken and name_problem(cand) is None:
                        pname = cand
                        break
                else:
                    base, k = _ident_from_hint(f"{rel}_{fld}"), 1
                    pname = base
                    while pname in taken:
                        k += 1
                        pname = f"{base}_{k}"
                taken.add(pname)
            assigned[key] = pname
            slot_param[i] = pname
            if pname not in used:
                used.append(pname)
        ordered = [p for p in bdef.params if p in used] + [p for p in used if p not in bdef.params]
        for p in ordered:
            identifier(p)
        py = self._py_names(ordered)
        counter = iter(range(len(first_slots)))

        def final(v: Any, hint: str, allowed: set[str] | frozenset[str] = frozenset()) -> str:
            i = next(counter)
            if i in slot_expr:
                code = _unparse(slot_expr[i], py)
                self.uses_math |= "math." in code
                return code
            return py[slot_param[i]] if i in slot_param else literal(v, allowed)

        init = self._init_lines(_in_init_order(first.children, bdef.init_order), final, keys, first.path + ".")
        n_inst = len(members)
        doc = f"Block {t}" + (f" ({n_inst} instances)" if n_inst > 1 else "") + "."
        lines = [f"class {name}(nn.Module):", f'{_IND}"""{doc}"""', ""]
        lines += _split_def([py[p] for p in ordered])
        lines.append(f"{_IND * 2}super().__init__()")
        lines += init
        lines.append("")
        pyin = self._py_names([identifier(i) for i in bdef.inputs])
        lines.append(f"{_IND}def forward(self, {', '.join(pyin[i] for i in bdef.inputs)}):")
        if n_inst > 1:
            lines.append(f"{_IND * 2}{_comment('shapes as in ' + first.path)}")
        lines += self._forward_lines(
            first.children, list(bdef.inputs), bdef.result_names(first.children[-1].name), True
        )
        self.classes.append(_ClassDef(name, lines))
        slot_of = {q: i for i, q in sorted(slot_param.items(), reverse=True)}  # a param's first slot
        for m, slots in members:
            args: list[tuple[str, str, Any, set[str] | frozenset[str]]] = []
            for p in ordered:
                i = slot_of.get(p, -1)
                if i < 0:  # a block param used only inside expressions: its value is the instance's
                    args.append((py[p], p, m.block_params[p], frozenset()))
                    continue
                v, _, allowed = slots[i]
                args.append((py[p], p, v, allowed))
            self.instances[m.path] = _Instance(name, args)

    def _param_expression(
        self, first: Node, hint: str, params: dict[str, Any], members: list[tuple[Node, list[Any]]], vec: list[Any]
    ) -> tuple[ast.expr, list[str]] | None:
        """The spec's ``$`` expression for a varying value, as Python over the block's params.

        Used only when the text is a safe expression (archcheck's evaluator
        allows numbers, names, + - * // %, min and max), every name is a param
        of the block, and it gives each instance's value. Then
        ``out_channels=planes * 4`` stands where a made-up argument would.
        """

        from ..spec.expr import ExprError, _parse, evaluate
        from ..spec.expr import names as expr_names

        rel, _, fld = hint.rpartition(":")
        node = next((n for n in first.walk() if n.path == f"{first.path}.{rel}"), None)
        text = node.exprs.get(fld) if node is not None else None
        if not (isinstance(text, str) and text.startswith("$")):
            return None
        try:
            tree = _parse(text)
            names = sorted(expr_names(tree))
            if not names or any(n not in params or name_problem(n) is not None for n in names):
                return None
            for (m, _), v in zip(members, vec, strict=True):
                if not all(n in m.block_params for n in names) or not _same(evaluate(text, m.block_params), v):
                    return None
        except ExprError:
            return None
        return tree.body, names

    def _model_class(self) -> _ClassDef:
        res = self.res
        name = self.model_class
        ins = ", ".join(_shape(t.shape) for t in res.inputs.values())
        outs = ", ".join(_shape(t.shape) for t in res.outputs.values() if t is not None)
        _comment(f"{ins} -> {outs}")
        lines = [f"class {name}(nn.Module):", f'{_IND}"""{self.model_name}: {ins} -> {outs}."""', ""]
        lines.append(f"{_IND}def __init__(self):")
        lines.append(f"{_IND * 2}super().__init__()")
        lines += self._init_lines(res.root, _direct, {}, "")
        lines.append("")
        pyin = self._py_names([identifier(i) for i in res.inputs])
        lines.append(f"{_IND}def forward(self, {', '.join(pyin[i] for i in res.inputs)}):")
        lines += self._forward_lines(res.root, list(res.inputs), list(res.outputs), True, res.training_only_outputs)
        return _ClassDef(name, lines)

    def source(self) -> str:
        self._block_classes()
        model = self._model_class()
        head = [
            f'"""{self.model_name}, generated by archcheck from its spec."""',
            "",
        ]
        if self.uses_math:
            head.append("import math")
        if self.uses_torch or any("torch." in src for src, _ in self.module_sources.values()):
            head.append("import torch")
        head.append("from torch import nn")
        helpers = [_ClassDef(k, src.splitlines()) for k, (src, _) in self.module_sources.items()]
        body = "\n\n\n".join("\n".join(c.lines) for c in [*helpers, *self.classes, model])
        src = "\n".join(head) + "\n\n\n" + body + "\n"
        audit(src, self.globals, frozenset(self.module_names))
        return src


def identifier_field(name: str) -> str:
    """A layer field name (from the layer class, not the spec): must be an identifier."""
    if not name.isidentifier():
        raise CodegenError(f"bad field name {name!r}")
    return name


def _names_in(expr: str) -> set[str]:
    """The free names of ``expr`` (a comprehension's own variables are not)."""
    names = [n for n in ast.walk(ast.parse(expr, mode="eval")) if isinstance(n, ast.Name)]
    bound = {n.id for n in names if isinstance(n.ctx, ast.Store)}
    return {n.id for n in names} - bound


def _emitted_globals(res: CheckResult) -> set[str]:
    """The global names the layers' forward expressions use (``torch`` in ``torch.cat([a, b], dim=1)``).

    Each layer's ``emit_call`` is rendered with placeholder arguments (as a module's call,
    as a tensor operation and as the wrapper classes render it); the names left over are globals.
    """
    out: set[str] = set()
    seen: set[str] = set()
    for n in res.layers:
        layer = n.layer
        if layer is None:
            continue
        holes = [f"a{i}" for i in range(max(1, len(n.inputs)))]
        op = _is_op(layer)
        calls = [layer.emit_call(None if op else "self.m", holes)]
        calls.append(layer.emit_call(None, ["a0"]) if op else layer.emit_call("super().forward", ["a0"]))
        for call in calls:
            if call not in seen:
                seen.add(call)
                out |= _names_in(call) - set(holes) - {"self"}
    return out


def _spec_names(res: CheckResult) -> set[str]:
    """Every name from the spec that may become a Python local: inputs, layer names, block params and inputs."""
    names = set(res.inputs) | {n.name for n in res.nodes}
    for b in res.spec.blocks.values():
        names |= set(b.params) | set(b.inputs)
    return names


def _unparse(expr: ast.expr, py: dict[str, str]) -> str:
    """``expr`` as source, its names replaced by their Python names (``ceil`` is ``math.ceil``)."""
    tree = copy.deepcopy(expr)
    funcs = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    for n in ast.walk(tree):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in _MATH_FUNCS:
            n.func = ast.Attribute(ast.Name("math", ast.Load()), n.func.id, ast.Load())
        elif isinstance(n, ast.Name) and id(n) not in funcs:
            n.id = py.get(n.id, n.id)
    return ast.unparse(tree)


_MATH_FUNCS = frozenset({"ceil", "floor"})


def _expression_globals(res: CheckResult) -> set[str]:
    """The builtins (``round``, ``int``, ...) and ``math`` that the blocks' ``$`` expressions may bring into
    the code: a block param named like one is then renamed in Python, so it never shadows the function."""
    from ..spec.expr import FUNCTIONS, ExprError, _parse, is_expr

    out: set[str] = set()
    stack: list[Any] = [b.layers for b in res.spec.blocks.values()]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
        elif is_expr(v):
            try:
                tree = _parse(v)
            except ExprError:
                continue
            for n in ast.walk(tree):
                if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in FUNCTIONS:
                    out.add("math" if n.func.id in _MATH_FUNCS else n.func.id)
    return out


def _frozen_refs(node: Node, ref: str) -> list[str]:
    """The modules under ``node`` (at ``ref``) that ``trainable: false`` freezes, topmost only; a block
    instance's own layers are frozen by its class (``self.conv.requires_grad_(False)`` there)."""
    if node.frozen:
        return [ref] if node.params else []
    if node.kind == "block":
        return []
    out: list[str] = []
    for c in node.children:
        out += _frozen_refs(c, f"{ref}[{int(c.name)}]" if c.name.isdigit() else attr(ref, c.name))
    return out


def _in_init_order(children: list[Node], order: list[str] | None) -> list[Node]:
    """A block's layers in the order its ``__init__`` creates them: ``init_order`` first, then as written."""
    if not order:
        return children
    first = [c for name in order for c in children if c.name == name]
    return first + [c for c in children if c.name not in order]


def _own_nodes(block: Node) -> list[Node]:
    """The nodes a block's own class builds: its descendants, not descending into nested blocks."""
    out: list[Node] = []
    stack = list(reversed(block.children))
    while stack:
        m = stack.pop()
        out.append(m)
        if m.kind != "block":
            stack.extend(reversed(m.children))
    return out


def _attr_path(path: str) -> str:
    """``layer1.0.conv1`` as the attribute expression ``self.layer1[0].conv1`` (each part checked)."""
    out = "self"
    for part in path.split("."):
        out = f"{out}[{int(part)}]" if part.isdigit() else attr(out, part)
    return out


def _join(rel: str, name: str) -> str:
    return f"{rel}.{name}" if rel else name


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _ident_from_hint(hint: str) -> str:
    parts = [p for p in re.split(r"[._]+", hint) if p]
    name = "_".join(parts)
    if not name or name[0].isdigit():
        name = "m_" + name
    if name_problem(name) is not None:
        name = name + "_"
    return name


def _split_def(params: list[str]) -> list[str]:
    line = f"{_IND}def __init__({', '.join(['self', *params])}):"
    if len(line) <= WIDTH:
        return [line]
    return [f"{_IND}def __init__(", *[f"{_IND * 2}{p}," for p in ["self", *params]], f"{_IND}):"]


# ------------------------------------------------------------------ the audit


_ALLOWED_CALL_ROOTS = {"nn", "torch", "self", "super", "range"}


def audit(
    src: str, globals_used: set[str] | frozenset[str] | None = None, module_names: frozenset[str] = frozenset()
) -> None:
    """Check the generated source: it compiles, only expected names, imports and string constants.

    Every string constant must be a docstring or a Literal choice of some
    layer field, or one of ``module_names`` (layer names that are not identifiers,
    checked by ``schema.module_name_problem``) in one of three places only: the
    name of ``x.add_module("block1-0", ...)``, of ``getattr(x, "block1-0")``, or
    in the tuple a ``for`` loop of ``add_module`` calls runs over. ``getattr`` is
    allowed in that form only; every import is of torch (or math). A failure here is a bug in archcheck
    or a layer's emit_call: refuse rather than emit. ``globals_used``: the
    globals the generator wrote (imports, builtins, classes); no function may
    bind one of them, and the code may refer to no other (``GeneratedCodeBug``).
    """
    from ..layers.base import REGISTRY

    _check_scopes(src, globals_used)

    allowed: set[str] = set()
    for cls in REGISTRY.values():
        for f in cls.model_fields.values():
            allowed |= _literal_strings(f.annotation)
    tree = ast.parse(src)
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    names_ok: set[int] = set()  # the module-name constants in their places, and getattr in its form

    def module_name(c: ast.expr) -> bool:
        return (
            isinstance(c, ast.Constant)
            and isinstance(c.value, str)
            and c.value in module_names
            and module_name_problem(c.value) is None
        )

    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and len(node.args) == 2 and not node.keywords:
            f = node.func
            if isinstance(f, ast.Name) and f.id == "getattr" and module_name(node.args[1]):
                names_ok.update((id(f), id(node.args[1])))
            elif isinstance(f, ast.Attribute) and f.attr == "add_module" and module_name(node.args[0]):
                names_ok.add(id(node.args[0]))
        elif isinstance(node, ast.For) and isinstance(node.iter, ast.Tuple) and isinstance(node.target, ast.Name):
            body = node.body[0] if len(node.body) == 1 else None
            if (
                isinstance(body, ast.Expr)
                and isinstance(body.value, ast.Call)
                and isinstance(body.value.func, ast.Attribute)
                and body.value.func.attr == "add_module"
                and all(module_name(e) for e in node.iter.elts)
            ):
                names_ok.update(id(e) for e in node.iter.elts)
    for node in ast.walk(tree):
        if id(node) in names_ok:
            continue
        if isinstance(node, ast.Import):
            if [a.name for a in node.names] not in (["torch"], ["math"]) or node.names[0].asname:
                raise CodegenError("audit: unexpected import")
        elif isinstance(node, ast.ImportFrom):
            if node.module != "torch" or [a.name for a in node.names] != ["nn"]:
                raise CodegenError("audit: unexpected import")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docstrings and node.value not in allowed:
                raise CodegenError(f"audit: unexpected string constant {node.value[:40]!r}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, bytes):
            raise CodegenError("audit: unexpected bytes constant")
        elif isinstance(node, (ast.Lambda, ast.Global, ast.Nonlocal, ast.AsyncFunctionDef, ast.Await, ast.Delete)):
            raise CodegenError(f"audit: unexpected {type(node).__name__}")
        elif isinstance(node, ast.Name) and (node.id.startswith("__") or node.id in _FORBIDDEN):
            raise CodegenError(f"audit: unexpected name {node.id!r}")
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and node.attr != "__init__":
            raise CodegenError(f"audit: unexpected attribute {node.attr!r}")


def _check_scopes(src: str, declared: set[str] | frozenset[str] | None) -> None:
    """The module compiles, and no parameter or local shadows a global the code uses.

    ``declared`` (the generator's own list) is checked both ways: every global
    the code refers to is in it, and no function binds a name in it. Without it,
    the globals are those the module defines or refers to.
    """
    import symtable

    name = "<archcheck generated>"
    try:
        compile(src, name, "exec", dont_inherit=True)
        top = symtable.symtable(src, name, "exec")
    except (SyntaxError, ValueError) as e:
        where = f" (line {e.lineno}: {e.text.strip()[:80]!r})" if isinstance(e, SyntaxError) and e.text else ""
        raise GeneratedCodeBug(f"the generated code does not compile: {e}{where}") from e
    defined = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported()}
    tables, referenced = [top], set()
    scopes = []
    while tables:
        t = tables.pop()
        tables.extend(t.get_children())
        scopes.append(t)
        referenced |= {s.get_name() for s in t.get_symbols() if s.is_referenced() and (s.is_global() or t is top)}
    globals_ = set(declared) if declared is not None else defined | referenced
    if declared is not None and (extra := referenced - globals_ - defined):
        raise GeneratedCodeBug(f"the generated code refers to globals the generator did not declare: {sorted(extra)}")
    for t in scopes:
        if t.get_type() != "function":
            continue
        for sym in t.get_symbols():
            if (sym.is_parameter() or sym.is_assigned()) and sym.get_name() in globals_:
                raise GeneratedCodeBug(
                    f"in the generated {t.get_name()}(), the local name {sym.get_name()!r} shadows the global "
                    "the code uses"
                )


_FORBIDDEN = {
    "eval",
    "exec",
    "compile",
    "open",
    "getattr",
    "setattr",
    "delattr",
    "globals",
    "locals",
    "vars",
    "__import__",
    "input",
    "breakpoint",
    "os",
    "sys",
    "subprocess",
    "builtins",
}


# ------------------------------------------------------------------ API


def generate(res: CheckResult) -> str:
    """The standalone PyTorch module for an ok result (raises CodegenError otherwise)."""
    return generate_module(res)[0]


def generate_module(res: CheckResult) -> tuple[str, str]:
    """The module's source and its model class's name (the spec's name unless that is a name the code uses).

    The cyclic GC is paused meanwhile: generating makes no cycles, and with 100,000
    nodes alive its collections took half the time of a large spec (2.1 s -> 1.1 s CPU).
    """
    was = gc.isenabled()
    gc.disable()
    try:
        gen = Generator(res)
        return gen.source(), gen.model_class
    finally:
        if was:
            gc.enable()
