"""The ``$`` expression evaluator (archcheck/expr.py) against Python's own arithmetic.

The evaluator never uses ``eval``; this test does, on expressions it generates itself, as the
reference: every value archcheck computes must be Python's (same number, same type: an int
stays an int, ``/`` gives a float), because generated code evaluates the same text in Python.
"""

from __future__ import annotations

import math
import types
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from archcheck.api import check, load
from archcheck.spec.expr import MAX_ABS, ExprError, evaluate

SCOPE_NAMES = ("a", "b", "c")
PY_FUNCS: dict[str, Any] = {
    "min": min,
    "max": max,
    "round": round,
    "int": int,
    "abs": abs,
    "ceil": math.ceil,
    "floor": math.floor,
}

numbers = st.one_of(
    st.integers(-1000, 1000),
    st.floats(-1000, 1000, allow_nan=False, allow_infinity=False).map(lambda f: round(f, 3)),
)
leaves = st.one_of(numbers.map(lambda v: repr(v) if v >= 0 else f"({v!r})"), st.sampled_from(SCOPE_NAMES))


def _extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    binop = st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "//", "%"]), inner).map(
        lambda t: f"({t[0]} {t[1]} {t[2]})"
    )
    unary = st.tuples(st.sampled_from(["-", "+"]), inner).map(lambda t: f"{t[0]}({t[1]})")
    call1 = st.tuples(st.sampled_from(["round", "int", "abs", "ceil", "floor"]), inner).map(lambda t: f"{t[0]}({t[1]})")
    round2 = st.tuples(inner, st.integers(-3, 3)).map(lambda t: f"round({t[0]}, {t[1]})")
    minmax = st.tuples(st.sampled_from(["min", "max"]), st.lists(inner, min_size=2, max_size=3)).map(
        lambda t: f"{t[0]}({', '.join(t[1])})"
    )
    cond = st.tuples(inner, st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), inner).map(
        lambda t: f"{t[0]} {t[1]} {t[2]}"
    )
    conds = st.one_of(
        cond,
        st.tuples(cond, st.sampled_from(["and", "or"]), cond).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        cond.map(lambda c: f"not ({c})"),
    )
    ifexp = st.tuples(inner, conds, inner).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})")
    power = st.tuples(inner, st.sampled_from(["-2", "-1", "0", "1", "2", "3", "0.5", "1.5"])).map(
        lambda t: f"({t[0]} ** {t[1]})"
    )
    return st.one_of(binop, unary, call1, round2, minmax, ifexp, power)


expressions = st.recursive(leaves, _extend, max_leaves=12)
scopes = st.fixed_dictionaries(dict.fromkeys(SCOPE_NAMES, numbers))


def python_value(text: str, scope: dict[str, Any]) -> Any:
    """Python's own value of ``text`` (the reference), or the exception it raises."""
    try:
        return eval(text, {"__builtins__": {}}, {**PY_FUNCS, **scope})  # noqa: S307 - the test's own text
    except (ZeroDivisionError, OverflowError, ValueError, TypeError) as e:  # TypeError: a complex compared
        return e


@settings(max_examples=600, deadline=None)
@given(expressions, scopes)
@example("round((((b ** 3) ** 3) ** 0.5), 0)", {**dict.fromkeys(SCOPE_NAMES, 1), "b": -101})  # found by CI
@example("((a ** 0.5) + (0 ** -2))", {**dict.fromkeys(SCOPE_NAMES, 1), "a": -1})  # found by CI
def test_evaluator_agrees_with_python(text: str, scope: dict[str, Any]) -> None:
    want = python_value(text, scope)
    try:
        got = evaluate("$" + text, scope)
    except ExprError as e:
        msg = str(e)
        # archcheck stops at the first bad intermediate from left to right, where Python carries a complex
        # value on (a negative number to a fractional power) or a big int and fails later: an earlier
        # "fractional power" or "beyond" is the right report for any of Python's later failures.
        earlier = "fractional power" in msg or "beyond" in msg
        if isinstance(want, ZeroDivisionError):
            event("division by zero")
            assert "division by zero" in msg or earlier, msg
        elif isinstance(want, TypeError):  # min() or round() of a complex (a negative number to a fractional power)
            event("complex")
            # Evaluation stops at the first bad intermediate: the power itself, or a value beyond the
            # bound computed before it (round(((-101 ** 3) ** 3) ** 0.5): -1.03e18 is refused first).
            assert "fractional power" in msg or "beyond" in msg, msg
        elif isinstance(want, Exception):
            event("python overflow")
            assert "non-finite" in msg or earlier, msg
        elif isinstance(want, complex):  # a negative number to a fractional power
            event("complex")
            assert "fractional power" in msg or "beyond" in msg, msg
        else:  # an intermediate beyond the bound (a product of large values), or a non-finite float
            event("bounded")  # or a complex intermediate that Python's abs() made real again
            assert "beyond" in msg or "non-finite" in msg or "fractional power" in msg, (msg, want)
        return
    event("value")
    assert not isinstance(want, Exception), (text, scope, got, want)
    assert type(got) is type(want), (text, scope, got, want)
    assert got == want or (isinstance(got, float) and math.isnan(got) and math.isnan(want)), (text, got, want)
    assert abs(got) <= MAX_ABS


@pytest.mark.parametrize(
    "text, scope, value",
    [
        ("$c / 2", {"c": 64}, 32.0),
        ("$round(64 * 0.75)", {}, 48),
        ("$round(2.5)", {}, 2),  # Python's: half to even
        ("$round(c * 0.35, 1)", {"c": 3}, 1.0),
        ("$int(-2.7)", {}, -2),  # towards zero
        ("$ceil(1 / 3)", {}, 1),
        ("$floor(-1 / 3)", {}, -1),
        ("$abs(-3)", {}, 3),
        ("$4 if c > 3 else 8", {"c": 5}, 4),
        ("$1 if c > 3 and not c == 5 else 2", {"c": 5}, 2),
        ("$1e3", {}, 1000.0),
        ("$(image_size // 16) ** 2 + 1", {"image_size": 224}, 197),  # ViT's sequence length
        ("$d ** -0.5", {"d": 64}, 0.125),
    ],
)
def test_new_operations(text: str, scope: dict[str, Any], value: Any) -> None:
    got = evaluate(text, scope)
    assert got == value and type(got) is type(value)


def build_module(src: str) -> types.ModuleType:
    mod = types.ModuleType("generated")
    exec(compile(src, "<generated>", "exec"), mod.__dict__)  # noqa: S102 - archcheck's own output, audited
    return mod


def make_divisible(v: float, divisor: int, min_value: int | None = None) -> int:
    """torchvision.models._utils._make_divisible, as in its source."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


MAKE_DIVISIBLE = "$max(8, int(v + 4) // 8 * 8) + (8 if max(8, int(v + 4) // 8 * 8) < 0.9 * v else 0)"


@given(st.integers(1, 2000), st.sampled_from([0.25, 0.35, 0.5, 0.75, 1.0, 1.3, 1.4, 2.0]))
def test_make_divisible_as_an_expression(channels: int, mult: float) -> None:
    assert evaluate(MAKE_DIVISIBLE, {"v": channels * mult}) == make_divisible(channels * mult, 8)


@pytest.mark.parametrize(
    "text",
    [
        "$1e400",  # parses as inf
        "$9 ** 9 ** 9",  # refused before it is computed
        "$(-8) ** 0.5",  # complex in Python
        "$0 ** -1",
        "$a * 1e300 * 1e300",
        "$round(a, 99)",
        "$round(a, 0.5)",
        "$min(a)",  # Python: 'int' object is not iterable
        "$ceil(a, 2)",
        "$int(a, base=2)",
        "$int('3')",
        "$a if a else 1",  # a condition must compare
        "$a < 2",  # a comparison outside a condition
        "$not a",
        "$a if a < 1 < b else 1",  # unknown b
        "$a is 1",
        "$a in (1, 2)",
        "$math.ceil(a)",
        "$sqrt(a)",
        "$a / 0.0",
        "$a % 0",
        "$" + "ceil(" * 300 + "1" + ")" * 300,
    ],
)
def test_refused(text: str) -> None:
    with pytest.raises(ExprError):
        evaluate(text, {"a": 1})


def test_make_divisible_in_a_spec_and_in_generated_code(tmp_path: Path) -> None:
    """A MobileNetV3-style width multiplier in a block: archcheck's channels are torchvision's
    _make_divisible's, and the generated block class computes them from the same expression."""
    torch = pytest.importorskip("torch")
    from archcheck.emit.codegen import generate

    mult = 0.75
    widths = [16, 24, 40, 80, 112, 160]
    text = f"""\
name: WidthMult
params: {{width_mult: {mult}}}
input: {{shape: [N, 3, 16, 16]}}
blocks:
  Stage:
    params: {{c: 16}}
    layers:
      - {{name: conv, type: Conv2d, out_channels: "{MAKE_DIVISIBLE.replace("v", "c")}", kernel_size: 3, padding: 1}}
      - {{name: bn, type: BatchNorm2d}}
      - {{name: head, type: Conv2d, out_channels: "$ceil(c / 3) + floor(c / 5)", kernel_size: 1}}
layers:
""" + "".join(f"  - {{name: s{i}, type: Stage, c: '$round({w} * width_mult, 2)'}}\n" for i, w in enumerate(widths))
    res = check(load("w.yaml", text=text))
    assert res.ok, [d.message for d in res.diagnostics]
    src = generate(res)
    assert "import math" in src and "math.ceil(c / 3) + math.floor(c / 5)" in src
    assert "int(c + 4) // 8 * 8" in src  # the spec's expression, not per-instance constants
    with torch.device("meta"):
        model = build_module(src).WidthMult()
    sd = model.state_dict()
    for i, w in enumerate(widths):
        c = round(w * mult, 2)
        assert sd[f"s{i}.conv.weight"].shape[0] == make_divisible(c, 8)
        assert sd[f"s{i}.head.weight"].shape[0] == math.ceil(c / 3) + math.floor(c / 5)
    static = {n.path: n.params for n in res.nodes}
    for i in range(len(widths)):
        got = sum(p.numel() for k, p in model.named_parameters() if k.startswith(f"s{i}."))
        assert got == static[f"s{i}"]


def test_a_fraction_for_an_int_field_is_ac115_with_the_value() -> None:
    text = """\
params: {wm: 0.75}
input: {shape: [N, 3, 32, 32]}
layers:
  - {type: Conv2d, out_channels: $30 * wm, kernel_size: 3}
  - {type: Conv2d, out_channels: $32 * wm, kernel_size: [3, $6 / 2], inputs: [x]}
  - {type: Dropout, p: $wm / 3}
  - {type: Sequential, repeat: $wm * 2, layers: [ReLU]}
  - {type: Sequential, repeat: $wm * 4, layers: [ReLU], expect: [N, 24, 30, 30.5]}
  - {type: Sequential, repeat: $wm * 4, layers: [ReLU], expect: [N, 24, "$60 / 2", 30]}
"""
    res = check(load("f.yaml", text=text))
    errs = [(d.code, d.line, d.message) for d in res.diagnostics if d.severity == "error"]
    assert ("AC115", 4, "out_channels must be an int, but '$30 * wm' gives 22.5") in errs
    assert ("AC115", 7, "repeat must be an int, but '$wm * 2' gives 1.5") in errs
    assert [e[1] for e in errs if e[0] == "AC115"] == [4, 7]  # 24.0 and [3, 3.0] are ints; p takes a float
    assert any(e[1] == 8 and e[0] == "AC103" for e in errs)  # a literal float in expect: not an expression
    conv2 = res.layers[1].layer
    assert conv2 is not None and conv2.out_channels == 24 and conv2.kernel_size == [3, 3]
    assert type(conv2.out_channels) is int
    assert abs(res.layers[2].layer.p - 0.25) < 1e-12  # type: ignore[union-attr]
