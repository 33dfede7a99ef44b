"""Hostile names and values never reach generated code: archcheck rejects them first,
and the generator itself refuses anything but validated identifiers and checked literals."""

from __future__ import annotations

import ast
import json

import pytest

import archcheck
from archcheck.emit.codegen import CodegenError, audit, generate, identifier, literal

HOSTILE_NAMES = [
    "__import__",
    "os.system",
    "x; import os",
    "__class__",
    "a\nimport os",
    "self",
    "torch",
    "nn",
    "def",
    "é",
]
MARKERS = ("import os", "os.system", "__import__", "__class__", "rm -rf")


def _spec(**over) -> dict:
    spec = {
        "name": "Net",
        "input": {"shape": ["N", 3, 8, 8]},
        "layers": [{"name": "conv", "type": "Conv2d", "out_channels": 4, "kernel_size": 3}, "ReLU"],
    }
    spec.update(over)
    return spec


def _outcome(spec: dict) -> str | None:
    """The generated source, or None when archcheck refuses the spec (errors or CodegenError)."""
    res = archcheck.check(archcheck.load("hostile.json", text=json.dumps(spec)))
    if not res.ok:
        return None
    try:
        return generate(res)
    except CodegenError:
        return None


def _assert_clean(src: str | None) -> None:
    if src is not None:
        for m in MARKERS:
            assert m not in src


# Layer names torch's add_module takes (issue 13: RegNet's block1-0): emitted only as a checked string literal.
# self, torch and nn are no nn.Module attributes (Hugging Face's BERT has attention.self): literals too.
LAYER_NAMES_TORCH_TAKES = {"x; import os", "é", "self", "torch", "nn"}


@pytest.mark.parametrize("bad", HOSTILE_NAMES)
def test_hostile_layer_names(bad: str) -> None:
    spec = _spec(layers=[{"name": bad, "type": "Conv2d", "out_channels": 4, "kernel_size": 3}])
    src = _outcome(spec)
    if bad not in LAYER_NAMES_TORCH_TAKES:
        assert src is None
        return
    assert src is not None
    tree = ast.parse(src)
    assert [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value == bad] == [bad, bad]
    assert {a.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names} == {"nn"}
    calls = {
        n.func.attr if isinstance(n.func, ast.Attribute) else n.func.id  # type: ignore[attr-defined]
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and any(isinstance(a, ast.Constant) and a.value == bad for a in n.args)
    }
    assert calls == {"add_module", "getattr"}


@pytest.mark.parametrize("bad", HOSTILE_NAMES)
def test_hostile_model_block_input_and_param_names(bad: str) -> None:
    assert _outcome(_spec(name=bad)) is None
    block = {"layers": [{"type": "Conv2d", "out_channels": 4, "kernel_size": 3}]}
    assert _outcome(_spec(blocks={bad: block}, layers=[{"type": bad}])) is None
    assert _outcome(_spec(input={"name": bad, "shape": ["N", 3, 8, 8]})) is None
    pblock = {"params": {bad: 4}, "layers": [{"type": "Conv2d", "out_channels": 4, "kernel_size": 3}]}
    assert _outcome(_spec(blocks={"B": pblock}, layers=[{"type": "B"}])) is None


@pytest.mark.parametrize(
    "field,value",
    [
        ("out_channels", "__import__('os').system('rm -rf /')"),
        ("kernel_size", "3); import os; (3"),
        ("padding_mode", "zeros'); import os; ('"),
        ("padding", "same'); import os #"),
        ("bias", "os.system"),
    ],
)
def test_strings_in_fields_are_rejected(field: str, value: str) -> None:
    layer = {"name": "conv", "type": "Conv2d", "out_channels": 4, "kernel_size": 3, field: value}
    assert _outcome(_spec(layers=[layer])) is None


def test_hostile_dim_names_never_reach_code() -> None:
    for dim in ["N\nimport os", "N; import os", "__import__('os')"]:
        _assert_clean(_outcome(_spec(input={"shape": [dim, 3, 8, 8]})))
        reshape = [{"type": "Flatten"}, {"type": "Reshape", "shape": [dim, -1]}]
        _assert_clean(_outcome(_spec(input={"shape": [dim, 3, 8, 8]}, layers=reshape)))


def test_hostile_param_values() -> None:
    spec = _spec(params={"w": "__import__('os')"}, layers=[{"type": "Conv2d", "out_channels": "$w", "kernel_size": 3}])
    assert _outcome(spec) is None


def test_description_never_reaches_code() -> None:
    src = _outcome(_spec(description='"""; import os; """'))
    assert src is not None
    _assert_clean(src)


def test_literal_and_identifier_guards() -> None:
    assert literal(3) == "3" and literal(True) == "True" and literal([1, 2]) == "(1, 2)" and literal(0.5) == "0.5"
    assert literal("zeros", {"zeros"}) == '"zeros"'  # the formatter's quotes
    for bad in ["os.system", float("nan"), float("inf"), object(), b"x"]:
        with pytest.raises(CodegenError):
            literal(bad)
    for bad in ["__import__", "os.system", "x; import os", "self", ""]:
        with pytest.raises(CodegenError):
            identifier(bad)


@pytest.mark.parametrize(
    "src",
    [
        "import os\n",
        "from os import system\n",
        "x = 'rm -rf'\n",
        "__import__('os')\n",
        "x = eval\n",
        "y = x.__class__\n",
        "f = lambda: 0\n",
    ],
)
def test_audit_refuses(src: str) -> None:
    with pytest.raises(CodegenError):
        audit(src)
