"""The Python names of the generated module: the globals its code uses, the names given out so far, and how a
spec's name becomes an attribute, a local or a parameter without shadowing one of those globals."""

from __future__ import annotations

import ast
import re
from typing import Any

from ...engine.result import CheckResult
from ...layers.base import Layer
from ...spec.schema import module_name_problem, name_problem
from .safety import identifier, name_literal

# Globals that the templates write: the imports and the builtins (``super().__init__()``, ``for _ in range(k)``).
# The layers' expressions add theirs (``torch.cat``); ``audit`` checks that the generated code refers to no
# other global, so this set cannot silently fall behind the templates.
TEMPLATE_GLOBALS = frozenset({"nn", "torch", "super", "range"})
MATH_FUNCS = frozenset({"ceil", "floor"})
# Names the fixed code binds as parameters: the wrapper classes' ``forward(self, x)``. No class takes one
# (a model named ``x`` is ``xModel``), or the function binding it would shadow that class.
_TEMPLATE_LOCALS = frozenset({"x"})


class Names:
    """The names of one generated module: the globals its code uses and every name given out.

    A local or parameter from the spec that equals a global is renamed in Python (range -> range_), so it
    never shadows what the code uses; class names avoid the globals and every spec name.
    """

    def __init__(self, res: CheckResult) -> None:
        self.model_name = identifier(res.name)
        # Every name the module's code refers to as a global: the templates' builtins and imports,
        # the layers' own expressions, and the classes.
        self.globals: set[str] = set(TEMPLATE_GLOBALS) | _emitted_globals(res) | _expression_globals(res)
        self.module_sources = module_sources(res)  # class name -> (source, the names it binds)
        self.globals |= set(self.module_sources)
        bound = set(_TEMPLATE_LOCALS).union(*(b for _, b in self.module_sources.values()))
        # Class names avoid those, and every spec name (so a wrapper class made later never takes one).
        if any(name_problem(n.name) is not None and module_name_problem(n.name) is None for n in res.nodes):
            self.globals.add("getattr")  # getattr(self, "block1-0"): a layer name that is not an identifier
        self.taken: set[str] = set(self.globals) | _spec_names(res) | bound
        self.model_class = (
            self.model_name
            if self.model_name not in self.globals and self.model_name not in bound
            else self.unique(self.model_name + "Model")
        )
        self.taken.add(self.model_class)
        self.block_class: dict[str, str] = {}  # block type -> its class name
        for b in res.spec.blocks:
            identifier(b)
            nm = b if b != self.model_class and b not in self.globals and b not in bound else b + "Block"
            self.block_class[b] = nm if nm not in self.globals and nm != self.model_class else self.unique(nm)
            self.taken.add(self.block_class[b])
        self.globals |= {self.model_class, *self.block_class.values()}

    def unique(self, base: str) -> str:
        """``base``, or ``base2``, ``base3``, ...: a name not given out yet (and given out now)."""
        name, k = base, 1
        while name in self.taken:
            k += 1
            name = f"{base}{k}"
        self.taken.add(name)
        return name

    def new_class(self, base: str) -> str:
        """A new class name (a wrapper's): unique, and a global from now on."""
        name = self.unique(base)
        self.globals.add(name)
        return name

    def py(self, name: str) -> str:
        """The Python name of a local from the spec: itself, unless the code uses it as a global."""
        while name in self.globals:
            name += "_"
        return name

    def py_names(self, names: list[str]) -> dict[str, str]:
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


def attr(obj: str, name: str) -> str:
    """Reading submodule ``name`` of ``obj``: ``self.conv1``, or ``getattr(self, "block1-0")``."""
    if name_problem(name) is None:
        return f"{obj}.{name}"
    return f"getattr({obj}, {name_literal(name)})"


def attr_path(path: str) -> str:
    """``layer1.0.conv1`` as the attribute expression ``self.layer1[0].conv1`` (each part checked)."""
    out = "self"
    for part in path.split("."):
        out = f"{out}[{int(part)}]" if part.isdigit() else attr(out, part)
    return out


def local_name(name: str) -> str:
    """An identifier for a local holding a layer's output: the name itself, or ``block1_0`` for ``block1-0``."""
    if name_problem(name) is None:
        return name
    out = re.sub(r"\W", "_", name, flags=re.ASCII).strip("_") or "out"
    if out[0].isdigit():
        out = "m" + out
    return out if name_problem(out) is None else out + "_x"


def is_op(layer: Layer) -> bool:
    """A tensor operation (``torch.cat``, ``x.view``), not a module (of torch's, or one the file defines)."""
    return type(layer).torch_name is None and type(layer).module_source is None


def module_sources(res: CheckResult) -> dict[str, tuple[str, frozenset[str]]]:
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
        out[class_name(src)] = (src.rstrip("\n"), frozenset(bound - {"self"}))
    return out


def class_name(module_source: str) -> str:
    """The name of the one class (or function) a ``Layer.module_source`` (``function_source``) defines."""
    (cls,) = ast.parse(module_source).body
    assert isinstance(cls, (ast.ClassDef, ast.FunctionDef))
    return cls.name


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
        op = is_op(layer)
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


def _expression_globals(res: CheckResult) -> set[str]:
    """The builtins (``round``, ``int``, ...) and ``math`` that the blocks' ``$`` expressions may bring into
    the code: a block param named like one is then renamed in Python, so it never shadows the function."""
    from ...spec.expr import FUNCTIONS, ExprError, _parse, is_expr

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
                    out.add("math" if n.func.id in MATH_FUNCS else n.func.id)
    return out
