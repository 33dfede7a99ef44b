"""Shape assertions: `expect:` on layers and containers, `output:`/`outputs` shapes, checked symbolically."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
import yaml

from archcheck.emit.codegen import generate
from archcheck.engine.walk import check
from archcheck.spec.loader import load_text
from archcheck.spec.schema import parse_spec

ROOT = Path(__file__).resolve().parents[1]


def run(text: str, **dims: int):
    return check(parse_spec(load_text(textwrap.dedent(text), "t.yaml")), dims)


def errors(res):
    return [d for d in res.diagnostics if d.severity == "error"]


def test_simple_cnn_states_the_tutorials_shapes_and_they_hold():
    """Every "Shape after X: [Batch Size, ...]" of the seed tutorial is an expect: in specs/simple_cnn.yaml."""
    tutorial = Path("/work/shared/seed/simple_cnn_tutorial.txt")
    spec = yaml.safe_load((ROOT / "specs" / "simple_cnn.yaml").read_text())
    expects = [layer["expect"] for layer in spec["layers"] if isinstance(layer, dict) and "expect" in layer]
    if tutorial.exists():
        stated = re.findall(r"Shape after \w+: \[Batch Size, ([\d, ]+)\]", tutorial.read_text())
        assert [["N", *map(int, s.split(","))] for s in stated] == expects
    assert len(expects) == 5
    res = check(parse_spec(load_text((ROOT / "specs" / "simple_cnn.yaml").read_text(), "s.yaml")))
    assert res.ok and not res.diagnostics
    code = generate(res)
    assert "x = self.pool1(x)  # [N, 16, 14, 14] (expected)" in code
    compile(code, "gen", "exec")


def test_a_wrong_expectation_is_located_with_expected_and_actual():
    res = run(
        """
        input: {shape: [N, 3, 32, 32]}
        layers:
          - {name: conv, type: Conv2d, out_channels: 16, kernel_size: 3}
          - {name: pool, type: MaxPool2d, kernel_size: 2, expect: [N, 16, 16, 16]}
        """
    )
    (d,) = errors(res)
    assert d.code == "AC309" and d.path == "pool"
    assert (d.line, d.column) == (5, 59)  # the expect field
    assert "expected [N, 16, 16, 16], but the output of pool is [N, 16, 15, 15]" in d.message
    assert "expect: [N, 16, 15, 15]" in (d.hint or "")


def test_one_mistake_one_error_later_layers_see_the_expected_shape():
    res = run(
        """
        input: {shape: [N, 1, 28, 28]}
        layers:
          - {name: conv1, type: Conv2d, out_channels: 16, kernel_size: 5}
          - {name: pool1, type: MaxPool2d, kernel_size: 2, expect: [N, 16, 14, 14]}
          - {name: conv2, type: Conv2d, out_channels: 32, kernel_size: 5, padding: 2}
          - {name: pool2, type: MaxPool2d, kernel_size: 2, expect: [N, 32, 7, 7]}
          - Flatten
          - {name: fc1, type: Linear, in_features: 1568, out_features: 10}
        """
    )
    assert [(d.code, d.path) for d in errors(res)] == [("AC309", "pool1")]


def test_autoencoder_output_states_for_which_sizes_it_equals_the_input():
    res = run(
        """
        input: {shape: [N, 1, H, W]}
        output: {shape: [N, 1, H, W]}
        layers:
          - {type: Conv2d, out_channels: 8, kernel_size: 3, stride: 2, padding: 1}
          - {type: Conv2d, out_channels: 8, kernel_size: 3, stride: 2, padding: 1}
          - {type: ConvTranspose2d, out_channels: 8, kernel_size: 2, stride: 2}
          - {name: dec, type: ConvTranspose2d, out_channels: 1, kernel_size: 2, stride: 2}
        """
    )
    (d,) = errors(res)
    assert d.code == "AC309" and d.line == 3
    assert "equals H only when H is a multiple of 4 (smallest valid sizes: 4, 8, 12)" in d.message
    assert "equals W only when W is a multiple of 4" in d.message
    # with sizes that work, or a range of them, it holds
    assert run(
        """
        input: {shape: [N, 1, H, W]}
        output: {shape: [N, 1, H, W]}
        layers:
          - {type: Conv2d, out_channels: 8, kernel_size: 3, stride: 2, padding: 1}
          - {type: ConvTranspose2d, out_channels: 1, kernel_size: 2, stride: 2}
        """,
        H=32,
        W=64,
    ).ok


def test_expectation_that_holds_wherever_the_network_works_is_fine():
    """A merge already restricts H to multiples of 2; an output [N, 8, H] holds for all of those."""
    res = run(
        """
        input: {shape: [N, 8, H]}
        layers:
          - {name: down, type: MaxPool1d, kernel_size: 2}
          - {name: up, type: Upsample, scale_factor: 2, expect: [N, 8, H]}
          - {name: sum, type: Add, inputs: [x, up], expect: [N, 8, H]}
        """
    )
    assert res.ok, res.diagnostics
    assert [d.code for d in res.diagnostics] == ["AC306"]


def test_a_free_dim_that_never_matches_says_so():
    res = run(
        """
        input: {shape: [N, 8, L]}
        layers:
          - {name: c, type: Conv1d, out_channels: 8, kernel_size: 3, expect: [N, 8, L]}
        """
    )
    (d,) = errors(res)
    assert "dim 2: expected L, got L - 2 (for every size)" in d.message
    assert "expect: [N, 8, _]" in (d.hint or "")


def test_entries_names_values_expressions_and_wildcards():
    text = """
        params: {width: 16}
        input: {shape: [N, 3, 32, 32]}
        layers:
          - {name: c, type: Conv2d, out_channels: $width, kernel_size: 3, padding: 1, expect: [N, $width, _, 32]}
          - {name: d, type: Conv2d, out_channels: 8, kernel_size: 1, expect: [..., 32, 32]}
          - {name: e, type: Flatten, expect: [N, ...]}
        """
    assert run(text).ok
    assert run(text, N=4).ok  # a name given a value compares by value
    res = run(text.replace("[..., 32, 32]", "[..., 8, 32, 32, 32, 32]"))
    assert [d.code for d in errors(res)] == ["AC309"]
    assert "rank: expected at least 5 dims, got 4" in errors(res)[0].message


def test_unknown_name_and_bad_entries_are_located():
    res = run(
        """
        input: {shape: [N, 3, 8, 8]}
        layers:
          - {name: a, type: ReLU, expect: [Nn, 3, 8, 8]}
          - {name: b, type: ReLU, expect: 12}
          - {name: c, type: ReLU, expect: [N, 3.5, 8, 8]}
          - {name: d, type: ReLU, expect: [..., 8, ...]}
        """
    )
    got = [(d.code, d.line) for d in errors(res)]
    assert got == [("AC310", 4), ("AC103", 5), ("AC103", 6), ("AC104", 7)]
    assert "did you mean N?" in (errors(res)[0].hint or "")


def test_outputs_forms():
    base = """
        input: {shape: [N, 64]}
        OUT
        layers:
          - {name: body, type: Linear, out_features: 32}
          - {name: main, type: Linear, out_features: 10}
          - {name: aux, type: Linear, out_features: 4, inputs: [body]}
        """
    assert run(base.replace("OUT", "outputs: [main, aux]")).ok  # the DESIGN.md form
    assert run(base.replace("OUT", "outputs: [main, {name: aux, shape: [N, 4]}]")).ok
    assert run(base.replace("OUT", "outputs: {main: {shape: [N, 10]}, aux: {shape: [N, 4]}}")).ok
    res = run(base.replace("OUT", "outputs: {main: {shape: [N, 10]}, aux: {shape: [N, 5]}}"))
    assert [(d.code, d.path) for d in errors(res)] == [("AC309", "aux")]
    assert list(res.outputs) == ["main", "aux"]
    res = run(base.replace("OUT", "output: {name: main, shape: [N, 10]}"))
    assert res.ok and list(res.outputs) == ["main"]
    res = run(base.replace("OUT", "outputs: [main]\n        output: {shape: [N, 10]}"))
    assert [d.code for d in errors(res)] == ["AC108"]
    res = run(base.replace("OUT", "outputs: [{shape: [N, 10]}]"))
    assert [d.code for d in errors(res)] == ["AC105"]


def test_expect_inside_a_block_definition_uses_its_params():
    res = run(
        """
        input: {shape: [N, 3, 16, 16]}
        blocks:
          Stage:
            params: {c: 8}
            layers:
              - {type: Conv2d, out_channels: $c, kernel_size: 3, padding: 1, expect: [N, $c, _, _]}
              - {type: MaxPool2d, kernel_size: 2, expect: [N, $c, _, 8]}
        layers:
          - {name: s1, type: Stage, c: 8}
          - {name: s2, type: Stage, c: 16}
        """
    )
    # s2's pool sees 8 -> 4: one error at the block's line (the same place for both instances would dedupe)
    assert [(d.code, d.path) for d in errors(res)] == [("AC309", "s2.maxpool2d1")]


@pytest.mark.parametrize(
    "layer",
    [
        {"type": "Conv2d", "out_channels": 4, "kernel_size": 3, "expect": ["N", 4, "_", "..."]},
        {"type": "Sequential", "layers": ["ReLU"], "expect": ["N", 3, 32, 32]},
        {"type": "Conv2d", "out_channels": 3, "kernel_size": 1, "repeat": 2, "expect": ["N", 3, "$s", 32]},
    ],
)
def test_json_schema_accepts_expect(layer):
    jsonschema = pytest.importorskip("jsonschema")
    from archcheck.spec.jsonschema import build_schema

    spec = {
        "params": {"s": 32},
        "input": {"shape": ["N", 3, 32, 32]},
        "output": {"shape": ["N", "..."]},
        "layers": [layer],
    }
    jsonschema.Draft7Validator(build_schema()).validate(spec)
    spec2 = {"input": {"shape": ["N", 3]}, "outputs": [{"name": "a", "shape": ["N", 3]}], "layers": [layer]}
    jsonschema.Draft7Validator(build_schema()).validate(spec2)
    spec3 = {"input": {"shape": ["N", 3]}, "outputs": {"a": {"shape": ["N", 3]}}, "layers": [layer]}
    jsonschema.Draft7Validator(build_schema()).validate(spec3)
    assert run(yaml.safe_dump(spec)).ok


def test_an_unknown_output_name_is_located_in_each_form():
    for out, line in (
        ("output: {name: mian, shape: [N, 10]}", 3),
        ("outputs:\n          mian: {shape: [N, 10]}", 4),
        ("outputs: [{name: mian, shape: [N, 10]}]", 3),
    ):
        res = run(
            f"""
        input: {{shape: [N, 64]}}
        {out}
        layers:
          - {{name: main, type: Linear, out_features: 10}}
        """
        )
        (d,) = errors(res)
        assert d.code == "AC301" and d.line == line and "did you mean 'main'?" in (d.hint or ""), out
