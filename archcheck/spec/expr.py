"""``$`` expressions: arithmetic over spec params, by a small safe evaluator.

``"$width * 2"``, ``"$planes * 4"``, ``"$c // $r"``, ``"max($c // 4, 8)"``,
``"$round(64 * width_mult)"``, ``"$max(8, int(v + 4) // 8 * 8)"``. The text is
parsed with :mod:`ast` and only these nodes are evaluated: numbers (ints and
floats), param names, ``+ - * / // % **``, unary ``-``/``+``, parentheses, calls
of ``min``/``max`` (two or more arguments), ``round``, ``ceil``, ``floor``,
``int``, ``abs``, and the conditional ``a if cond else b`` whose condition
compares numbers (``< <= > >= == !=``, ``and``/``or``/``not``). Every operation
has Python's meaning (``/`` is true division, ``round`` rounds half to even,
``int`` truncates), so the same text in generated code gives the same value.
Python's ``eval`` is never used. Work is bounded: the expression's length, its
node count and the size of every intermediate value are capped (``**`` is
checked before it is computed), and a float must be finite.
"""

from __future__ import annotations

import ast
import functools
import math
from collections.abc import Callable
from typing import Any

MAX_LEN = 500
MAX_NODES = 200
MAX_ABS = 10**18

# The functions an expression may call, with how many arguments each takes (min, max).
FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "min": (2, None),
    "max": (2, None),
    "round": (1, 2),
    "ceil": (1, 1),
    "floor": (1, 1),
    "int": (1, 1),
    "abs": (1, 1),
}
ALLOWED = "numbers, params, + - * / // % ** ( ), min, max, round, ceil, floor, int, abs, and 'a if cond else b'"


class ExprError(Exception):
    """A located problem with an expression; the message is for the user."""


def is_expr(v: Any) -> bool:
    return isinstance(v, str) and v.startswith("$")


def evaluate(text: str, scope: dict[str, Any]) -> Any:
    """Value of the ``$`` expression ``text`` with params from ``scope``."""
    tree = _parse(text)
    for n in sorted(names(tree)):  # also in a branch of ``if`` that is not taken
        if n not in scope:
            _eval(ast.Name(n), scope, text)  # raises: unknown param, did you mean
    try:
        return _eval(tree.body, scope, text)
    except RecursionError:
        raise ExprError(f"'{text}' is too deeply nested") from None


def names(tree: ast.Expression) -> set[str]:
    """The param names an expression reads (function names excluded)."""
    funcs = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in funcs}


def condition(value: Any, scope: dict[str, Any]) -> Any:
    """A ``when:`` value: ``true``/``false``, a param (``$downsample``), or a condition over params
    (``$stride == 1 and inp == oup``: comparisons joined by and/or/not, as in ``a if cond else b``).
    The caller checks that the result is a bool."""
    if not is_expr(value):
        return value
    body = value[1:].strip().replace("$", "")
    try:
        top = ast.parse(body, mode="eval").body if len(body) <= MAX_LEN else None
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        top = None  # _parse says what is wrong
    if not isinstance(top, (ast.Compare, ast.BoolOp)) and not (
        isinstance(top, ast.UnaryOp) and isinstance(top.op, ast.Not)
    ):
        return evaluate(value, scope)
    tree = _parse(f"$0 if {body} else 1")  # the grammar of a condition, checked as one
    test = tree.body.test  # type: ignore[attr-defined]
    for n in sorted(names(tree)):
        if n not in scope:
            _eval(ast.Name(n), scope, value)  # raises: unknown param, did you mean
    try:
        return _cond(test, scope, value)
    except RecursionError:
        raise ExprError(f"'{value}' is too deeply nested") from None


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
    try:
        _static(tree.body, text, False)
    except RecursionError:
        raise ExprError(f"'{text}' is too deeply nested") from None
    return tree


def _static(node: ast.AST, text: str, cond: bool) -> None:
    """The grammar, checked on the whole tree (also a branch of ``if`` that a value never takes)."""
    if cond:  # the condition of ``a if cond else b``
        if isinstance(node, ast.Compare):
            for op in node.ops:
                if type(op) not in _CMPS:
                    raise ExprError(f"'{text}' compares with {type(op).__name__}; allowed: < <= > >= == !=")
            for v in [node.left, *node.comparators]:
                _static(v, text, False)
            return
        if isinstance(node, ast.BoolOp):
            for v in node.values:
                _static(v, text, True)
            return
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            _static(node.operand, text, True)
            return
        raise _not_a_condition(node, text)
    if isinstance(node, (ast.Constant, ast.Name)):
        return  # values are checked when evaluated
    if isinstance(node, ast.BinOp) and (type(node.op) in _BINOPS or type(node.op) in _DIV):
        _static(node.left, text, False)
        _static(node.right, text, False)
        return
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        _static(node.operand, text, False)
        return
    if isinstance(node, ast.IfExp):
        _static(node.test, text, True)
        _static(node.body, text, False)
        _static(node.orelse, text, False)
        return
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS:
        _check_arity(node, text)
        for a in node.args:
            _static(a, text, False)
        return
    raise _unsupported(node, text)


_BINOPS: dict[type[ast.operator], tuple[str, Callable[[Any, Any], Any]]] = {
    ast.Add: ("+", lambda a, b: a + b),
    ast.Sub: ("-", lambda a, b: a - b),
    ast.Mult: ("*", lambda a, b: a * b),
    ast.FloorDiv: ("//", lambda a, b: a // b),
    ast.Mod: ("%", lambda a, b: a % b),
}
_DIV: dict[type[ast.operator], tuple[str, Callable[[Any, Any], Any]]] = {
    ast.Div: ("/", lambda a, b: a / b),
    ast.Pow: ("**", lambda a, b: a**b),
}


def _check_arity(node: ast.Call, text: str) -> str:
    """The name of the allowed function ``node`` calls, after checking its arguments' count (no keywords)."""
    fn: str = node.func.id  # type: ignore[attr-defined]
    lo, hi = FUNCTIONS[fn]
    n = len(node.args)
    if node.keywords or any(isinstance(a, ast.Starred) for a in node.args) or n < lo or (hi is not None and n > hi):
        want = f"{lo} or more" if hi is None else f"{lo}" if lo == hi else f"{lo} or {hi}"
        raise ExprError(f"{fn}() takes {want} argument{'s' * (want != '1')} in '{text}', got {n}")
    return fn


def _unsupported(node: ast.AST, text: str) -> ExprError:
    """What an expression may not contain (checked before evaluating and while evaluating)."""
    what = type(node).__name__
    if isinstance(node, ast.Attribute):
        what = "attribute access"
    elif isinstance(node, ast.Call):
        what = "a call of something else than " + ", ".join(FUNCTIONS)
    elif isinstance(node, (ast.Compare, ast.BoolOp)) or (
        isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)
    ):
        what = "a comparison outside the condition of 'a if cond else b'"
    return ExprError(f"'{text}' uses {what}; allowed: {ALLOWED}")


def _not_a_condition(node: ast.AST, text: str) -> ExprError:
    return ExprError(
        f"the condition of 'if' in '{text}' must compare numbers (< <= > >= == !=, and/or/not), "
        f"not {type(node).__name__}"
    )


def _too_large(text: str) -> ExprError:
    return ExprError(f"'{text}' produces a value beyond {MAX_ABS:.0e}")


def _pow_ok(a: Any, b: Any, text: str) -> None:
    """``a ** b`` only where Python's value is a real number within the bound, checked before computing:
    ``9 ** 9 ** 9`` is refused without being computed, and a negative base with a fractional exponent
    (a complex number in Python) is an error."""
    if a == 0 and b < 0:
        raise ExprError(f"division by zero in '{text}' (0 to a negative power)")
    if a < 0 and isinstance(b, float) and not b.is_integer():
        raise ExprError(f"'{text}' raises the negative number {a!r} to the fractional power {b!r}")
    if abs(a) > 1 and b > 0 and b * math.log(abs(a)) > math.log(MAX_ABS) + 1e-9:
        raise _too_large(text)
    if 0 < abs(a) < 1 and b < 0 and -b * math.log(abs(a)) > math.log(MAX_ABS) + 1e-9:
        raise _too_large(text)


def _check(v: Any, text: str) -> Any:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ExprError(f"'{text}' uses a non-numeric value {v!r}")
    if isinstance(v, float) and not math.isfinite(v):
        raise ExprError(f"'{text}' produces the non-finite number {v!r}")
    if abs(v) > MAX_ABS:
        raise _too_large(text)
    return v


def _call(node: ast.Call, scope: dict[str, Any], text: str) -> Any:
    fn = _check_arity(node, text)
    args = [_eval(a, scope, text) for a in node.args]
    if fn == "min":
        return min(args)
    if fn == "max":
        return max(args)
    if fn == "abs":
        return _check(abs(args[0]), text)
    if fn == "int":
        return _check(int(args[0]), text)
    if fn == "ceil":
        return _check(math.ceil(args[0]), text)
    if fn == "floor":
        return _check(math.floor(args[0]), text)
    if len(args) == 2:  # round(x, ndigits): ndigits an int of a sensible size
        nd = args[1]
        if not isinstance(nd, int) or abs(nd) > 30:
            raise ExprError(f"round()'s ndigits must be an int from -30 to 30 in '{text}', got {nd!r}")
        return _check(round(args[0], nd), text)
    return _check(round(args[0]), text)


def _cond(node: ast.AST, scope: dict[str, Any], text: str) -> bool:
    """The condition of ``a if cond else b``: comparisons of numbers joined by and/or/not."""
    if isinstance(node, ast.Compare):
        left = _eval(node.left, scope, text)
        for op, right_node in zip(node.ops, node.comparators):
            if type(op) not in _CMPS:
                raise ExprError(f"'{text}' compares with {type(op).__name__}; allowed: < <= > >= == !=")
            right = _eval(right_node, scope, text)
            if not _CMPS[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            return all(_cond(v, scope, text) for v in node.values)
        return any(_cond(v, scope, text) for v in node.values)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return not _cond(node.operand, scope, text)
    raise _not_a_condition(node, text)


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
    if isinstance(node, ast.BinOp) and (type(node.op) in _BINOPS or type(node.op) in _DIV):
        sym, fn = _BINOPS.get(type(node.op)) or _DIV[type(node.op)]
        a, b = _eval(node.left, scope, text), _eval(node.right, scope, text)
        if sym in ("/", "//", "%") and b == 0:
            raise ExprError(f"division by zero in '{text}'")
        if sym == "**":
            _pow_ok(a, b, text)
        try:
            return _check(fn(a, b), text)
        except (OverflowError, ZeroDivisionError):  # a float too large or too small for its operation
            raise _too_large(text) from None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _eval(node.operand, scope, text)
        return _check(-v if isinstance(node.op, ast.USub) else v, text)
    if isinstance(node, ast.IfExp):
        return _eval(node.body if _cond(node.test, scope, text) else node.orelse, scope, text)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS:
        return _call(node, scope, text)
    raise _unsupported(node, text)


def non_integral(value: Any) -> float | None:
    """The first float in ``value`` (a number or a list) that is not a whole number, or None."""
    for v in value if isinstance(value, list) else [value]:
        if isinstance(v, float) and not v.is_integer():
            return v
    return None


def to_int(value: Any) -> Any:
    """``value`` with whole floats made ints (``$c / 2`` gives 32.0: an int field takes 32)."""
    if isinstance(value, list):
        return [to_int(v) for v in value]
    return int(value) if isinstance(value, float) and value.is_integer() else value


def not_int_message(what: str, text: Any, value: float) -> tuple[str, str]:
    """AC115's message and hint: ``what`` (a field) is an int, but the expression gives ``value``."""
    shown = f"'{text}'" if isinstance(text, str) else "its expression"
    return (
        f"{what} must be an int, but {shown} gives {value!r}",
        "round it explicitly: $round(...), $int(...) (towards zero), $ceil(...) or $floor(...); "
        "or divide with // instead of /",
    )


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
