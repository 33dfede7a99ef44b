"""The package's import direction (docs/architecture.md): each subpackage imports only those below it, and no
module imports itself back through others. Every import counts: top-level, inside a function (lazy) and under
``if TYPE_CHECKING``."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "archcheck"

# Lowest first. A module may import modules of its own subpackage and of the subpackages before it.
ORDER = [
    "diagnostics",  # codes and the Diagnostic model, escaping of shown text, explanations
    "shapes",  # symbolic dims
    "layers",  # the Layer base, its Ctx interface, the Tensor a rule sees; one module per family
    "spec",  # reading a spec: YAML/JSON, $ expressions, the models (whose words are the layer types)
    "engine",  # the walk that propagates shapes; conditions, expect, noqa; the CheckResult
    "emit",  # everything made from a CheckResult: code, diagrams, summary, reports, torch checks, sweeps
    "api",  # archcheck/__init__.py and api.py: the public functions
    "cli",  # the commands, the language server, `archcheck import`
]
# Leaf modules any module may import (they import no archcheck module).
LEAVES = {"archcheck._version"}


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _tier(module: str) -> int:
    parts = module.split(".")
    if module in ("archcheck", "archcheck.api"):
        return ORDER.index("api")
    if parts[1] == "__main__":
        return ORDER.index("cli")
    return ORDER.index(parts[1])


def _imports(module: str) -> dict[str, int]:
    """The archcheck modules ``module`` imports, each with the line of its first import."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # `from pkg import mod` imports the module pkg.mod; `from mod import name` the module mod
            targets = [f"{target}.{a.name}" if f"{target}.{a.name}" in MODULES else target for a in node.names]
        else:
            continue
        for t in targets:
            if t.startswith("archcheck") and t != module:
                assert t in MODULES, f"{module} line {node.lineno} imports {t}, which does not exist"
                found.setdefault(t, node.lineno)
    return found


GRAPH = {m: _imports(m) for m in MODULES}


def test_every_subpackage_is_placed():
    subpackages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert subpackages == set(ORDER) - {"api"}, "add the new subpackage to ORDER (and to docs/architecture.md)"


def test_imports_go_down_the_order():
    wrong = [
        f"{m} (line {line}) imports {t}: {ORDER[_tier(m)]} is below {ORDER[_tier(t)]}"
        for m, targets in GRAPH.items()
        for t, line in targets.items()
        if t not in LEAVES and _tier(t) > _tier(m)
    ]
    assert not wrong, "\n".join(wrong)


def test_nothing_below_the_cli_imports_the_api_or_the_cli():
    top = {"archcheck", "archcheck.api"}
    wrong = [
        f"{m} imports {t}"
        for m, targets in GRAPH.items()
        for t in targets
        if _tier(m) < ORDER.index("api") and (t in top or t.startswith("archcheck.cli"))
    ]
    assert not wrong, "\n".join(wrong)


def test_leaves_import_nothing_of_archcheck():
    for leaf in LEAVES:
        assert GRAPH[leaf] == {}, leaf


def test_no_import_cycles():
    """Tarjan's strongly connected components of the module graph: every one is a single module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in GRAPH:
        if v not in index:
            visit(v)
    assert not cycles, "\n".join(
        " <-> ".join(c) + ": " + "; ".join(f"{a} -> {b}" for a in c for b in GRAPH[a] if b in c) for c in cycles
    )


def test_the_checker_sees_lazy_and_type_only_imports():
    """The graph is not empty by accident: a lazy import and a TYPE_CHECKING import are edges."""
    assert "archcheck.engine.conditions" in GRAPH["archcheck.engine.walk"]  # inside check()
    assert "archcheck.layers.base" in GRAPH["archcheck.layers.roles"]  # under TYPE_CHECKING
    assert "archcheck.emit.codegen" in GRAPH["archcheck.api"]  # inside generate()


# emit/codegen/: one concern per module, lowest first (the package's __init__ is above them all).
CODEGEN = ["safety", "text", "names", "layout", "forward", "blocks", "generator"]


def test_codegen_parts_import_one_way():
    package = "archcheck.emit.codegen"
    parts = {m.rpartition(".")[2] for m in MODULES if m.startswith(package + ".")}
    assert parts == set(CODEGEN), "add the new module of emit/codegen/ to CODEGEN (lowest first)"
    wrong = [
        f"{m} (line {line}) imports {t}"
        for m, targets in GRAPH.items()
        if m.startswith(package + ".")
        for t, line in targets.items()
        if t == package
        or (t.startswith(package + ".") and CODEGEN.index(t.rpartition(".")[2]) >= CODEGEN.index(m.rpartition(".")[2]))
    ]
    assert not wrong, "\n".join(wrong)


def test_codegen_keeps_no_state_on_classes():
    """The generator's state lives on instances: no class of emit/codegen/ assigns a class attribute
    (a dataclass's field declarations are per instance)."""
    found = []
    for m, path in MODULES.items():
        if not m.startswith("archcheck.emit.codegen"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ClassDef):
                continue
            dataclass = any(
                (d.id if isinstance(d, ast.Name) else getattr(getattr(d, "func", None), "id", None)) == "dataclass"
                for d in node.decorator_list
            )
            for stmt in node.body:
                if isinstance(stmt, ast.Assign) or (isinstance(stmt, ast.AnnAssign) and not dataclass):
                    found.append(f"{m} line {stmt.lineno}: class {node.name}")
    assert not found, "\n".join(found)
