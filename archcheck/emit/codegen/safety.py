"""What may go from a spec into Python, and the audit of the finished source.

Nothing from the spec reaches the code unless it is a validated identifier
(``schema.name_problem`` is None) or a literal of a checked type: ints, finite
floats, bools, None, and strings only from a field's closed ``Literal`` set.
The finished source is parsed and audited once more (:func:`audit`): it must
compile, and no parameter or local may shadow a global the code uses.
"""

from __future__ import annotations

import ast
import functools
import math
import re
import typing
from typing import Any, Literal

from ...layers.base import Layer
from ...shapes import dims as D
from ...spec.schema import module_name_problem, name_problem

TORCH_NAME = re.compile(r"nn\.[A-Za-z][A-Za-z0-9_]*")
_COMMENT_OK = re.compile(r"[ -~]*")  # printable ASCII: nothing that ends a line


class CodegenError(Exception):
    """The spec cannot be turned into code (it has errors, or fails a safety check)."""


class GeneratedCodeBug(Exception):
    """The generated module does not compile, or a local shadows a name it uses: a bug in archcheck.

    Not a CodegenError on purpose: no spec may cause it (spec errors are caught
    before), so the CLI reports it as an internal error (exit 3).
    """


# ------------------------------------------------------------------ literals and names


def _literal_strings(ann: Any) -> set[str]:
    """The strings a field's annotation allows by a ``Literal`` (its closed set)."""
    if typing.get_origin(ann) is Literal:
        return {a for a in typing.get_args(ann) if isinstance(a, str)}
    out: set[str] = set()
    for a in typing.get_args(ann):
        out |= _literal_strings(a)
    return out


@functools.cache
def field_choices(cls: type[Layer], name: str) -> frozenset[str]:
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


def identifier_field(name: str) -> str:
    """A layer field name (from the layer class, not the spec): must be an identifier."""
    if not name.isidentifier():
        raise CodegenError(f"bad field name {name!r}")
    return name


def comment(text: str) -> str:
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


def shape(dims: Any) -> str:
    """A shape for a comment (``[N, 16, 14, 14]``): its free dims' names must be identifiers."""
    for d in dims:
        for n in D.free_names(d):
            if not n.isidentifier() or not n.isascii():
                raise CodegenError(f"the free dim name {n[:40]!r} is not an identifier")
    return D.fmt_shape(dims)


# ------------------------------------------------------------------ the audit


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
    from ...layers.base import REGISTRY

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


_FORBIDDEN = frozenset(
    {
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
)
