"""Statements laid out as ruff (black) formats them at 88 columns: a statement that does not fit is split one
argument per line with a trailing comma, which the formatter keeps as it is."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from .safety import comment

WIDTH = 88
IND = "    "


@dataclass
class Call:
    """``func(args)`` with keyword (``(name, expr)``) or positional (``(None, expr)``) args."""

    func: str
    args: list[tuple[str | None, Any]] = field(default_factory=list)

    def flat(self) -> str:
        parts = [(f"{k}={flat(v)}" if k else flat(v)) for k, v in self.args]
        return f"{self.func}({', '.join(parts)})"


def flat(e: Any) -> str:
    """An expression (a :class:`Call` or source text) on one line."""
    return e.flat() if isinstance(e, Call) else str(e)


def split(prefix: str, e: Any, suffix: str, indent: str) -> list[str]:
    """Lay out ``prefix + e + suffix`` at ``indent``: one line if it fits, else one arg per line."""
    line = f"{indent}{prefix}{flat(e)}{suffix}"
    if len(line) > WIDTH and isinstance(e, str):
        e = as_call(e)
    if len(line) <= WIDTH or not isinstance(e, Call) or not e.args:
        return [line]
    out = [f"{indent}{prefix}{e.func}("]
    for k, v in e.args:
        out += split(f"{k}=" if k else "", v, ",", indent + IND)
    out.append(f"{indent})" + suffix)
    return out


def as_call(text: str) -> Any:
    """A layer's call written as source text, as a :class:`Call` that :func:`split` can lay out
    (``text`` itself when it is not one call with plain arguments)."""
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        return text
    if not isinstance(node, ast.Call) or any(k.arg is None for k in node.keywords):
        return text
    if any(isinstance(a, ast.Starred) for a in node.args):
        return text

    def src(n: ast.AST) -> str:
        seg = ast.get_source_segment(text, n)
        assert seg is not None
        return seg

    args: list[tuple[str | None, Any]] = [(None, as_call(src(a))) for a in node.args]
    args += [(k.arg, as_call(src(k.value))) for k in node.keywords]
    return Call(src(node.func), args)


def stmt(lhs: str, e: Any, indent: str, note: str | None = None) -> list[str]:
    """``lhs = e`` (or the bare expression when lhs is empty), with an optional comment ``note``."""
    prefix = f"{lhs} = " if lhs else ""
    lines = split(prefix, e, "", indent)
    if note:
        c = comment(note)
        if len(lines) == 1 and len(lines[0]) + 2 + len(c) <= WIDTH:
            lines[0] += "  " + c
        else:
            lines.insert(0, indent + c)
    return lines


def split_def(params: list[str]) -> list[str]:
    """``def __init__(self, ...):``, one parameter per line when it does not fit."""
    line = f"{IND}def __init__({', '.join(['self', *params])}):"
    if len(line) <= WIDTH:
        return [line]
    return [f"{IND}def __init__(", *[f"{IND * 2}{p}," for p in ["self", *params]], f"{IND}):"]
