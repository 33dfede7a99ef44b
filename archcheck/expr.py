"""``$`` expressions: arithmetic over spec params, by a small safe evaluator.

``"$width * 2"``, ``"$planes * 4"``, ``"$c // $r"``, ``"max($c // 4, 8)"``.
The text is parsed with :mod:`ast` and only these nodes are evaluated:
numbers, param names, ``+ - * // %``, unary ``-``/``+``, parentheses and calls
of ``min``/``max``. Python's ``eval`` is never used. Work is bounded: the
expression's length, its node count and the size of every intermediate value
are capped, so ``9**9**9`` (no ``**`` anyway) or a huge product cannot hang.
"""

from __future__ import annotations

import ast
from typing import Any

MAX_LEN = 500
MAX_NODES = 200
MAX_ABS = 10**18

Number = int | float


class ExprError(Exception):
    """A located problem with an expression; the message is for the user."""


def is_expr(v: Any) -> bool:
    return isinstance(v, str) and v.startswith("$")


def evaluate(text: str, scope: dict[str, Any]) -> Any:
    """Value of the ``$`` expression ``text`` with params from ``scope``."""
    body = text[1:].strip()
    if len(body) > MAX_LEN:
        raise ExprError(f"the expression is longer than {MAX_LEN} characters")
    # "$width" and "$c // $r": a '$' before each name is allowed, and optional.
    body = body.replace("$", "")
    if not body:
        raise ExprError("empty expression after '$'")
    try:
        tree = ast.parse(body, mode="eval")
    except SyntaxError as e:
        raise ExprError(f"cannot parse '{text}': {e.msg}") from None
    count = sum(1 for _ in ast.walk(tree))
    if count > MAX_NODES:
        raise ExprError(f"the expression has more than {MAX_NODES} parts")
    return _eval(tree.body, scope, text)


_BINOPS = {
    ast.Add: ("+", lambda a, b: a + b),
    ast.Sub: ("-", lambda a, b: a - b),
    ast.Mult: ("*", lambda a, b: a * b),
    ast.FloorDiv: ("//", lambda a, b: a // b),
    ast.Mod: ("%", lambda a, b: a % b),
}


def _check(v: Any, text: str) -> Any:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ExprError(f"'{text}' uses a non-numeric value {v!r}")
    if abs(v) > MAX_ABS:
        raise ExprError(f"'{text}' produces a value beyond {MAX_ABS:.0e}")
    return v


def _eval(node: ast.AST, scope: dict[str, Any], text: str) -> Any:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise ExprError(f"only numbers and param names may appear in '{text}', not {node.value!r}")
        return _check(node.value, text)
    if isinstance(node, ast.Name):
        if node.id not in scope:
            from .diagnostics import did_you_mean

            guess = did_you_mean(node.id, sorted(scope), ignore_case=False)
            known = ", ".join(sorted(scope)) or "none"
            raise ExprError(
                f"unknown param '{node.id}' in '{text}'"
                + (f"; did you mean '{guess}'?" if guess else f" (params here: {known})")
            )
        v = scope[node.id]
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            if len(text[1:].strip().replace("$", "")) == len(node.id):
                return v  # "$act" alone may carry any value (a bool, a string)
            raise ExprError(f"param '{node.id}' is {v!r}, not a number, in '{text}'")
        return v
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        sym, fn = _BINOPS[type(node.op)]
        a, b = _eval(node.left, scope, text), _eval(node.right, scope, text)
        if sym in ("//", "%") and b == 0:
            raise ExprError(f"division by zero in '{text}'")
        return _check(fn(a, b), text)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _eval(node.operand, scope, text)
        return _check(-v if isinstance(node.op, ast.USub) else v, text)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("min", "max")
        and not node.keywords
        and node.args
    ):
        args = [_eval(a, scope, text) for a in node.args]
        return min(args) if node.func.id == "min" else max(args)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        raise ExprError(f"'/' is not allowed in '{text}': sizes are ints, use '//'")
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        raise ExprError(f"'**' is not allowed in '{text}': use '*'")
    what = type(node).__name__
    if isinstance(node, ast.Attribute):
        what = "attribute access"
    elif isinstance(node, ast.Call):
        what = "a call (only min and max are allowed)"
    raise ExprError(f"'{text}' uses {what}; allowed: numbers, params, + - * // % ( ), min, max")


def substitute(value: Any, scope: dict[str, Any]) -> Any:
    """``value`` with every ``$`` string (also inside lists) evaluated."""
    if is_expr(value):
        return evaluate(value, scope)
    if isinstance(value, list):
        return [substitute(v, scope) for v in value]
    return value
