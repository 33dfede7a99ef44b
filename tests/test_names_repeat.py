"""Layer names that are not identifiers, and repeat's name templates (issue 13 item 6), against torch.

Every generated module is built on the meta device and its state_dict keys and shapes are
compared with archcheck's paths: a name such as RegNet's ``block1-0`` reaches the code only as
a checked string literal (``add_module``/``getattr``), and the key keeps it exactly.
"""

from __future__ import annotations

import ast
import json
import types
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archcheck.api import check, load
from archcheck.emit.codegen import audit, generate
from archcheck.spec.schema import module_name_problem

torch = pytest.importorskip("torch")


def build(text: str, name: str = "spec.yaml") -> tuple[Any, Any, str]:
    """The checked result, the generated module built on meta, and its source."""
    res = check(load(name, text=text))
    assert res.ok, [(d.code, d.message) for d in res.diagnostics]
    src = generate(res)
    mod = types.ModuleType("generated")
    exec(compile(src, "<generated>", "exec"), mod.__dict__)  # noqa: S102 - archcheck's own output, audited
    cls = next(v for k, v in vars(mod).items() if isinstance(v, type) and k == res.name)
    with torch.device("meta"):
        model = cls()
    return res, model, src


def expected_keys(res: Any) -> dict[str, tuple[int, ...]]:
    """state_dict keys and shapes archcheck implies: each leaf layer's, built alone in torch, under its path."""
    out: dict[str, tuple[int, ...]] = {}
    for n in res.layers:
        if n.layer is None or type(n.layer).torch_name is None:
            continue
        ctor = getattr(torch.nn, type(n.layer).torch_name.split(".", 1)[1])
        args = {k: tuple(v) if isinstance(v, list) else v for k, v in n.layer.ctor_args().items()}
        with torch.device("meta"):
            m = ctor(**args)
        out.update({f"{n.path}.{k}": tuple(v.shape) for k, v in m.state_dict().items()})
    return out


def keys_of(model: Any) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


REGNET_STAGE = """\
name: RegNetStage
input: {shape: [N, 8, 16, 16]}
blocks:
  ResBottleneckBlock:
    params: {w: 8, stride: 1}
    layers:
      - name: proj
        type: Sequential
        inputs: [x]
        layers:
          - {type: Conv2d, out_channels: $w, kernel_size: 1, stride: $stride, bias: false}
          - BatchNorm2d
      - name: f
        type: Sequential
        inputs: [x]
        layers:
          - {name: a, type: Conv2d, out_channels: $w, kernel_size: 3, stride: $stride, padding: 1, bias: false}
          - {name: a_bn, type: BatchNorm2d}
      - {type: Add, inputs: [proj, f]}
      - {name: activation, type: ReLU}
  Plain:
    params: {w: 8}
    layers:
      - name: f
        type: Sequential
        layers:
          - {name: a, type: Conv2d, out_channels: $w, kernel_size: 3, padding: 1, bias: false}
          - {name: a_bn, type: BatchNorm2d}
      - {type: Add, inputs: [f, x]}
      - {name: activation, type: ReLU}
layers:
  - name: trunk_output
    type: Sequential
    layers:
      - name: block1
        type: Sequential
        layers:
          - {name: block1-0, type: ResBottleneckBlock, w: 24, stride: 2}
          - {type: Plain, w: 24, repeat: {count: 3, name: "block1-{i}", start: 1}}
      - name: block2
        type: Sequential
        layers:
          - {name: block2-0, type: ResBottleneckBlock, w: 56, stride: 2}
"""


def test_regnet_names_keep_torchvisions_keys() -> None:
    res, model, src = build(REGNET_STAGE)
    got = keys_of(model)
    assert got == expected_keys(res)
    assert got["trunk_output.block1.block1-0.proj.0.weight"] == (24, 8, 1, 1)
    assert got["trunk_output.block1.block1-3.f.a_bn.running_var"] == (24,)
    assert got["trunk_output.block2.block2-0.f.a.weight"] == (56, 24, 3, 3)
    assert list(model.trunk_output.block1._modules) == ["block1-0", "block1-1", "block1-2", "block1-3"]
    assert 'add_module(\n            "block1-0",' in src or 'add_module("block1-0"' in src
    out = model(torch.empty(2, 8, 16, 16, device="meta"))
    assert tuple(out.shape) == (2, 56, 4, 4)


DENSE = """\
name: Dense
input: {shape: [N, 8, 8, 8]}
blocks:
  DenseLayer:
    params: {growth: 4}
    layers:
      - {name: norm1, type: BatchNorm2d}
      - {name: relu1, type: ReLU}
      - {name: conv1, type: Conv2d, out_channels: $growth, kernel_size: 3, padding: 1, bias: false}
      - {type: Concat, inputs: [x, conv1], dim: 1}
layers:
  - name: features
    type: Sequential
    layers:
      - {name: denseblock1, type: DenseLayer, repeat: {count: 6, name: "denselayer{i}", start: 1}}
      - {name: transition1, type: Conv2d, out_channels: 16, kernel_size: 1}
      - {name: denseblock2, type: DenseLayer, growth: 2, repeat: {count: "$2 * 2", name: "denselayer{i}", start: 1}}
  - {name: same, type: ReLU, repeat: {count: 3, name: "relu{i}", start: 1}}
"""


def test_densenet_numbering_from_one() -> None:
    res, model, src = build(DENSE)
    got = keys_of(model)
    assert got == expected_keys(res)
    for i in range(1, 7):
        assert got[f"features.denseblock1.denselayer{i}.norm1.weight"] == (8 + 4 * (i - 1),)
    assert "features.denseblock1.denselayer0.norm1.weight" not in got
    assert got["features.denseblock2.denselayer4.conv1.weight"] == (2, 22, 3, 3)
    assert list(model.same._modules) == ["relu1", "relu2", "relu3"]
    assert 'for name in ("relu1", "relu2", "relu3"):' in src
    node = next(n for n in res.nodes if n.path == "features.denseblock1")
    assert node.repeat == 6 and [c.name for c in node.children] == [f"denselayer{i}" for i in range(1, 7)]


def test_plain_repeat_is_unchanged() -> None:
    res, model, _ = build("name: R\ninput: {shape: [N, 4]}\nlayers:\n  - {type: Linear, out_features: 4, repeat: 3}\n")
    assert list(keys_of(model)) == [f"linear1.{i}.{w}" for i in range(3) for w in ("weight", "bias")]


def test_spliced_copies_are_siblings_and_take_the_entrys_inputs_and_expect() -> None:
    text = """\
name: S
input: {shape: [N, 4]}
layers:
  - {name: a, type: Linear, out_features: 6}
  - {type: Linear, out_features: 6, inputs: [a], repeat: {count: 2, name: "fc-{i}", start: 1}, expect: [N, 6]}
  - {name: out, type: Add, inputs: [a, fc-2]}
"""
    res, model, src = build(text)
    assert [n.path for n in res.root] == ["a", "fc-1", "fc-2", "out"]
    assert res.root[1].inputs == ["a"] and res.root[2].inputs == ["fc-1"]
    assert res.root[2].expect == "[N, 6]"
    assert keys_of(model) == expected_keys(res)
    bad = check(load("s.yaml", text=text.replace("expect: [N, 6]", "expect: [N, 7]")))
    assert [(d.code, d.line) for d in bad.diagnostics if d.severity == "error"][0] == ("AC309", 5)


def test_repeat_mistakes_are_located() -> None:
    text = """\
input: {shape: [N, 8]}
layers:
  - {type: ReLU, repeat: {count: 2, name: "a{j}"}}
  - {type: ReLU, repeat: {count: 2, start: 1}}
  - {type: ReLU, repeat: {count: 2, nmae: "x{i}"}}
  - {type: ReLU, repeat: {name: "x{i}"}}
  - {type: ReLU, repeat: {count: $1.5 * 1, name: "x{i}"}}
  - {type: ReLU, repeat: {count: 2, name: "x.{i}"}}
  - {type: ReLU, repeat: {count: 2, name: "r{i}"}}
  - {type: ReLU, name: r1}
  - {type: ReLU, repeat: {count: 2, name: "{i}{0.__class__}"}}
  - {type: ReLU, repeat: {count: 999999999, name: "q{i}"}}
"""
    res = check(load("r.yaml", text=text))
    got = [(d.line, d.code) for d in res.diagnostics if d.severity == "error"]
    assert got == [
        (3, "AC116"),
        (4, "AC116"),
        (5, "AC101"),
        (6, "AC105"),
        (7, "AC115"),
        (8, "AC107"),
        (10, "AC106"),
        (11, "AC116"),
        (12, "AC005"),
    ]
    col = {d.line: d.column for d in res.diagnostics}
    assert col[3] == text.splitlines()[2].index('"a{j}"') + 1  # at the template


# ------------------------------------------------------------------ hostile names, emitted as literals


ODD_NAMES = ["block1-0", "it's", 'say "hi"', "back\\slash", "ünï cödé", "ﬁn", "a b", "x; import os #", "1abc", "😀"]


@pytest.mark.parametrize("name", ODD_NAMES)
def test_odd_names_build_with_their_exact_keys(name: str) -> None:
    spec = {
        "name": "Odd",
        "input": {"shape": ["N", 4]},
        "layers": [
            {"name": name, "type": "Linear", "out_features": 4},
            {"name": "after", "type": "Add", "inputs": [name, "x"]},
        ],
        "outputs": ["after", name],
    }
    res, model, src = build(json.dumps(spec), "odd.json")
    assert set(keys_of(model)) == {f"{name}.weight", f"{name}.bias"}
    audit(src, None, frozenset({name}))
    tree = ast.parse(src)
    consts = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    assert consts.count(name) == 2  # add_module and getattr, nowhere else
    a, b = model(torch.empty(2, 4, device="meta"))
    assert tuple(a.shape) == tuple(b.shape) == (2, 4)


@pytest.mark.parametrize("name", ["a.b", "", " x", "x ", "7", "new\nline", "tab\there", "nul\x00", "zw\u200bsp", "."])
def test_names_torch_refuses_or_that_hide_a_mistake_are_ac107(name: str) -> None:
    spec = {"input": {"shape": ["N", 4]}, "layers": [{"name": name, "type": "Linear", "out_features": 4}]}
    res = check(load("bad.json", text=json.dumps(spec)))
    assert [d.code for d in res.diagnostics if d.severity == "error"] == ["AC107"]


def test_the_audit_refuses_a_module_name_out_of_place() -> None:
    from archcheck.emit.codegen import CodegenError

    good = 'from torch import nn\n\n\nclass M(nn.Module):\n    def f(self):\n        return getattr(self, "a-b")\n'
    audit(good, None, frozenset({"a-b"}))
    for bad in (
        good.replace('getattr(self, "a-b")', '"a-b"'),  # a bare string
        good.replace('"a-b"', '"c-d"'),  # a name the generator did not write
        good.replace('getattr(self, "a-b")', 'getattr(self, "a-b", 1)'),  # another form of getattr
        good.replace('getattr(self, "a-b")', "getattr(self, name)"),
    ):
        with pytest.raises(CodegenError):
            audit(bad, None, frozenset({"a-b"}))
    with pytest.raises(CodegenError):  # a name that is not one archcheck accepts
        audit(good.replace('"a-b"', '"a.b"'), None, frozenset({"a.b"}))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(st.characters(codec="utf-8"), min_size=1, max_size=12))
def test_any_name_is_refused_or_kept_exactly(name: str) -> None:
    spec = {"name": "P", "input": {"shape": ["N", 4]}, "layers": [{"name": name, "type": "Linear", "out_features": 4}]}
    res = check(load("p.json", text=json.dumps(spec)))
    if module_name_problem(name) is not None:
        assert any(d.code == "AC107" for d in res.diagnostics)
        return
    if not res.ok:  # a name such as 'forward' (AC107) or a YAML-level problem: refused, never emitted
        assert all(d.code.startswith("AC1") or d.code.startswith("AC0") for d in res.diagnostics)
        return
    _, model, _ = build(json.dumps(spec), "p.json")
    assert set(keys_of(model)) == {f"{name}.weight", f"{name}.bias"}


def test_diagram_summary_and_json_show_odd_names() -> None:
    from archcheck.emit.diagram import to_dot
    from archcheck.emit.summary import render

    text = REGNET_STAGE
    res = check(load("r.yaml", text=text))
    dot = to_dot(res)
    assert "block1-0" in dot
    table = render(res)
    assert "block1-0" in table and "block1-3" in table


def test_the_json_schema_takes_the_new_forms() -> None:
    import yaml

    jsonschema = pytest.importorskip("jsonschema")
    from archcheck.spec.jsonschema import build_schema

    v = jsonschema.Draft7Validator(build_schema())
    for text in (REGNET_STAGE, DENSE):
        assert not list(v.iter_errors(yaml.safe_load(text)))
    bad_repeat = yaml.safe_load(DENSE.replace('name: "relu{i}"', 'nmae: "relu{i}"'))
    bad_name = yaml.safe_load(REGNET_STAGE.replace("name: block2-0", "name: block2.0"))
    assert list(v.iter_errors(bad_repeat)) and list(v.iter_errors(bad_name))


def test_import_keeps_names_that_are_not_identifiers(tmp_path: Any) -> None:
    from archcheck.cli.importer import import_model, parse_input_shape

    (tmp_path / "regnetish.py").write_text(
        "import torch.nn as nn\n\n\nclass M(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.trunk_output = nn.Sequential()\n        stage = nn.Sequential()\n"
        "        for i in range(3):\n"
        "            stage.add_module(f'block1-{i}', nn.Sequential(nn.Conv2d(3 if i == 0 else 8, 8, 3), nn.ReLU()))\n"
        "        self.trunk_output.add_module('block1', stage)\n\n"
        "    def forward(self, x):\n        return self.trunk_output(x)\n"
    )
    imp = import_model(str(tmp_path / "regnetish.py") + ":M", {}, [parse_input_shape("N,3,16,16")], {})
    assert 'name: "block1-0"' in imp.text
    res, model, _ = build(imp.text)
    assert "trunk_output.block1.block1-2.0.weight" in keys_of(model)
