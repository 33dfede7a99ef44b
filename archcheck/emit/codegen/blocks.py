"""One class per block type (more only if its instances differ in structure): the values that differ between
instances become constructor parameters, named after the block's params or written as the spec's own ``$``
expressions over them (``out_channels=planes * 4``)."""

from __future__ import annotations

import ast
import copy
import re
from typing import Any

from ...engine.result import Node
from ...spec.schema import name_problem
from .forward import Forward
from .layout import ClassDef, Init, Instance, Module
from .names import MATH_FUNCS
from .safety import comment, identifier, literal
from .text import IND, split_def

# A block class's first pass records each value it writes: (value, hint "rel:field", allowed strings).
Slot = tuple[Any, str, "set[str] | frozenset[str]"]


class Blocks:
    """Writes the block classes of ``module`` (into ``module.classes``) and how each instance is built
    (``module.instances``), inner types first."""

    def __init__(self, module: Module) -> None:
        self.module = module
        self.blocks = module.res.spec.blocks

    def write(self) -> None:
        """One class per block type (more only if instances differ in structure), inner types first."""
        all_blocks = [n for n in self.module.res.nodes if n.kind == "block"]
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
        groups: dict[str, list[tuple[Node, list[Slot]]]] = {}
        for n in nodes:
            slots: list[Slot] = []

            def rec(
                v: Any, hint: str, allowed: set[str] | frozenset[str] = frozenset(), slots: list[Slot] = slots
            ) -> str:
                literal(v, allowed)  # checked now: the value may reach a call site
                slots.append((v, hint, allowed))
                return f"@{len(slots) - 1}@"

            init = Init(self.module, rec, keys, n.path + ".").lines(_in_init_order(n.children, bdef.init_order))
            outs = bdef.result_names(n.children[-1].name)
            fwd = Forward(self.module, n.children, list(bdef.inputs), outs, False).lines()
            groups.setdefault("\n".join(init + fwd), []).append((n, slots))
        for gi, members in enumerate(groups.values()):
            name = self.module.names.block_class[t]
            if gi > 0:
                name = self.module.names.unique(name)
            self._emit_group(t, name, members, keys)

    def _emit_group(self, t: str, name: str, members: list[tuple[Node, list[Slot]]], keys: dict[str, set[str]]) -> None:
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
                found = _param_expression(first, hint, bdef.params, members, vec)
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
        py = self.module.names.py_names(ordered)
        counter = iter(range(len(first_slots)))

        def final(v: Any, hint: str, allowed: set[str] | frozenset[str] = frozenset()) -> str:
            i = next(counter)
            if i in slot_expr:
                code = _unparse(slot_expr[i], py)
                self.module.uses_math |= "math." in code
                return code
            return py[slot_param[i]] if i in slot_param else literal(v, allowed)

        init = Init(self.module, final, keys, first.path + ".").lines(_in_init_order(first.children, bdef.init_order))
        n_inst = len(members)
        doc = f"Block {t}" + (f" ({n_inst} instances)" if n_inst > 1 else "") + "."
        lines = [f"class {name}(nn.Module):", f'{IND}"""{doc}"""', ""]
        lines += split_def([py[p] for p in ordered])
        lines.append(f"{IND * 2}super().__init__()")
        lines += init
        lines.append("")
        pyin = self.module.names.py_names([identifier(i) for i in bdef.inputs])
        lines.append(f"{IND}def forward(self, {', '.join(pyin[i] for i in bdef.inputs)}):")
        if n_inst > 1:
            lines.append(f"{IND * 2}{comment('shapes as in ' + first.path)}")
        outs = bdef.result_names(first.children[-1].name)
        lines += Forward(self.module, first.children, list(bdef.inputs), outs, True).lines()
        self.module.classes.append(ClassDef(name, lines))
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
            self.module.instances[m.path] = Instance(name, args)


def _param_expression(
    first: Node, hint: str, params: dict[str, Any], members: list[tuple[Node, list[Slot]]], vec: list[Any]
) -> tuple[ast.expr, list[str]] | None:
    """The spec's ``$`` expression for a varying value, as Python over the block's params.

    Used only when the text is a safe expression (archcheck's evaluator
    allows numbers, names, + - * // %, min and max), every name is a param
    of the block, and it gives each instance's value. Then
    ``out_channels=planes * 4`` stands where a made-up argument would.
    The text is the one the engine recorded (``Node.exprs``).
    """
    from ...spec.expr import ExprError, _parse, evaluate
    from ...spec.expr import names as expr_names

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


def _unparse(expr: ast.expr, py: dict[str, str]) -> str:
    """``expr`` as source, its names replaced by their Python names (``ceil`` is ``math.ceil``)."""
    tree = copy.deepcopy(expr)
    funcs = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    for n in ast.walk(tree):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in MATH_FUNCS:
            n.func = ast.Attribute(ast.Name("math", ast.Load()), n.func.id, ast.Load())
        elif isinstance(n, ast.Name) and id(n) not in funcs:
            n.id = py.get(n.id, n.id)
    return ast.unparse(tree)
