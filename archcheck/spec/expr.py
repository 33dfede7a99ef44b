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
import functools
from collections.abc import Callable
from typing import Any

MAX_LEN = 500
MAX_NODES = 200
MAX_ABS = 10**18


class ExprError(Exception):
    """A located problem with an expression; the message is for the user."""


def is_expr(v: Any) -> bool:
    return isinstance(v, str) and v.startswith("$")


def evaluate(text: str, scope: dict[str, Any]) -> Any:
    """Value of the ``$`` expression ``text`` with params from ``scope``."""
    tree = _parse(text)
    try:
        return _eval(tree.body, scope, text)
    except RecursionError:
        raise ExprError(f"'{text}' is too deeply nested") from None


@functools.lru_cache(maxsize=4096)
def _parse(text: str) -> ast.Expression:
    """The checked syntax tree of an expression (cached: explore evaluates the same text per variant)."""
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
    except (RecursionError, MemoryError, ValueError):
        raise ExprError(f"'{text}' is too deeply nested") from None
    count = sum(1 for _ in ast.walk(tree))
    if count > MAX_NODES:
        raise ExprError(f"the expression has more than {MAX_NODES} parts")
    return tree


_BINOPS: dict[type[ast.operator], tuple[str, Callable[[Any, Any], Any]]] = {
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
            from ..diagnostics.codes import did_you_mean

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
    """``value`` with every ``$`` string (also inside lists and mappings) evaluated."""
    if is_expr(value):
        return evaluate(value, scope)
    if isinstance(value, list):
        return [substitute(v, scope) for v in value]
    if isinstance(value, dict):  # a layer written inside a field (TransformerEncoder's encoder_layer)
        return {k: substitute(v, scope) for k, v in value.items()}
    return value


# ------------------------------------------------------------ predicates

_CMPS: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
}


def compile_predicate(text: str) -> ast.Expression:
    """Parse a filter such as ``ok and params < 1e6``; raises ExprError on anything else."""
    if len(text) > MAX_LEN:
        raise ExprError(f"the filter is longer than {MAX_LEN} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as e:
        raise ExprError(f"cannot parse '{text}': {e.msg}") from None
    except (RecursionError, MemoryError, ValueError):
        raise ExprError(f"'{text}' is too deeply nested") from None
    allowed = (
        ast.Expression,
        ast.BoolOp,
        ast.And,
        ast.Or,
        ast.UnaryOp,
        ast.Not,
        ast.USub,
        ast.UAdd,
        ast.Compare,
        ast.Name,
        ast.Load,
        ast.Constant,
        ast.BinOp,
        *_BINOPS,
        *_CMPS,
    )
    for node in ast.walk(tree):
        if not isinstance(node, allowed):
            raise ExprError(
                f"'{text}' uses {type(node).__name__}; allowed: names, numbers, strings, "
                "+ - * // %, comparisons, and/or/not"
            )
        if isinstance(node, ast.Constant) and not (
            node.value is None or isinstance(node.value, (bool, int, float, str))
        ):
            raise ExprError(f"'{text}' uses the value {node.value!r}; allowed: numbers, strings, True/False/None")
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise ExprError(f"the filter has more than {MAX_NODES} parts")
    return tree


def test_predicate(tree: ast.Expression, row: dict[str, Any]) -> bool:
    """Evaluate a compiled filter against ``row``; unknown values (None) make a comparison false."""
    return bool(_pred(tree.body, row))


def _kind(v: Any) -> str:
    """A value for a message: its type and a short repr."""
    r = repr(v)
    return f"{type(v).__name__} {r if len(r) <= 40 else r[:37] + '...'}"


def _pred(node: ast.AST, row: dict[str, Any]) -> Any:
    if isinstance(node, ast.BoolOp):
        vals = (_pred(v, row) for v in node.values)
        return all(vals) if isinstance(node.op, ast.And) else any(vals)
    if isinstance(node, ast.UnaryOp):
        v = _pred(node.operand, row)
        if isinstance(node.op, ast.Not):
            return not v
        if v is None:
            return None
        if not isinstance(v, (int, float)):
            sign = "-" if isinstance(node.op, ast.USub) else "+"
            raise ExprError(f"'{sign}' needs a number, got {_kind(v)}")
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.Compare):
        left = _pred(node.left, row)
        for op, right_node in zip(node.ops, node.comparators):
            right = _pred(right_node, row)
            if left is None or right is None:
                return False
            try:
                if not _CMPS[type(op)](left, right):
                    return False
            except TypeError:
                return False
            left = right
        return True
    if isinstance(node, ast.Name):
        if node.id not in row:
            raise ExprError(f"unknown name '{node.id}' in the filter (known: {', '.join(sorted(row))})")
        return row[node.id]
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.BinOp):
        # Numbers only, and '+' of two strings: no string repetition ("a" * 3000000000) or
        # %-formatting ("%999999999d" % n), whose results could be gigabytes. A string can then
        # be no longer than the filter's strings and the row's values put together.
        a, b = _pred(node.left, row), _pred(node.right, row)
        if a is None or b is None:
            return None
        sym, fn = _BINOPS[type(node.op)]
        if sym == "+" and isinstance(a, str) and isinstance(b, str):
            return a + b
        if not (isinstance(a, (int, float)) and isinstance(b, (int, float))):
            also = " (or two strings, for '+')" if sym == "+" else ""
            raise ExprError(f"'{sym}' needs numbers{also}, got {_kind(a)} and {_kind(b)}")
        if isinstance(node.op, (ast.FloorDiv, ast.Mod)) and b == 0:
            return None
        try:
            return fn(a, b)
        except (OverflowError, ValueError, ZeroDivisionError) as e:
            raise ExprError(f"'{sym}' fails on {_kind(a)} and {_kind(b)}: {e}") from None
    raise ExprError(f"unsupported filter element {type(node).__name__}")  # pragma: no cover
