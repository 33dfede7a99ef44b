"""Schema errors: each has its code, the line and column of the offending field, and a fix.

Every case also checks exit 1 and that no traceback leaks out.
"""

from __future__ import annotations

import pytest

HEAD = "name: Net\ninput:\n  shape: [N, 3, 32, 32]\nlayers:\n"


def _diags(cli, path):
    r = cli("validate", "--format", "json", str(path))
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output
    (obj,) = r.json()
    assert obj["ok"] is False
    return obj["diagnostics"]


def _one(cli, write_spec, text):
    diags = _diags(cli, write_spec(text))
    assert len(diags) == 1, diags
    return diags[0]


def _at(d):
    return d["code"], d["line"], d["column"]


# (layer line, expected code, column, a piece of the message or hint)
LAYER_CASES = {
    "typo-field": (
        "  - {name: conv1, type: Conv2d, out_channels: 16, kernal_size: 3}",
        "AC101",
        51,
        "did you mean 'kernel_size'?",
    ),
    "typo-field-case": (
        "  - {name: fc, type: Linear, Out_Features: 10}",
        "AC101",
        30,
        "did you mean 'out_features'?",
    ),
    "wrong-case-type": (
        "  - {name: c, type: Conv2D, out_channels: 8, kernel_size: 3}",
        "AC102",
        21,
        "did you mean 'Conv2d'?",
    ),
    "typo-type-bare": ("  - Relu", "AC102", 5, "did you mean 'ReLU'?"),
    "quoted-int": (
        '  - {name: c, type: Conv2d, out_channels: "5", kernel_size: 3}',
        "AC103",
        43,
        "write out_channels: 5 without quotes",
    ),
    "float-for-int": ("  - {name: c, type: Conv2d, out_channels: 8.0, kernel_size: 3}", "AC103", 43, "an int"),
    "zero": ("  - {name: c, type: Conv2d, out_channels: 0, kernel_size: 3}", "AC104", 43, "got 0"),
    "negative": ("  - {name: c, type: Conv2d, out_channels: -3, kernel_size: 3}", "AC104", 43, "got -3"),
    "bad-literal": (
        "  - {name: c, type: Conv2d, out_channels: 8, kernel_size: 3, padding: sam}",
        "AC104",
        71,
        "did you mean 'same'?",
    ),
    "missing-required": ("  - {name: c, type: Conv2d, kernel_size: 3}", "AC105", 5, "out_channels"),
    "missing-type": ("  - {name: c, out_channels: 3}", "AC105", 5, "type"),
    "not-a-mapping": ("  - 42", "AC103", 5, "a layer is a mapping"),
    "keyword-name": ("  - {name: class, type: ReLU}", "AC107", 12, "keyword"),
    "module-attr-name": ("  - {name: forward, type: ReLU}", "AC107", 12, "forward"),
    "dotted-name": ("  - {name: a.b, type: ReLU}", "AC107", 12, "contains '.'"),  # 1abc is a name torch takes
}


@pytest.mark.parametrize("case", list(LAYER_CASES))
def test_layer_schema_error(cli, write_spec, case):
    line, code, column, text = LAYER_CASES[case]
    d = _one(cli, write_spec, HEAD + line + "\n")
    assert _at(d) == (code, 5, column)
    assert d["severity"] == "error"
    assert text in (d["message"] + " " + (d["hint"] or ""))


def test_duplicate_names(cli, write_spec):
    d = _one(cli, write_spec, HEAD + "  - {name: a, type: ReLU}\n  - {name: a, type: ReLU}\n")
    assert _at(d) == ("AC106", 6, 12)
    assert d["path"] == "a"


def test_name_clashing_with_input(cli, write_spec):
    d = _one(cli, write_spec, HEAD + "  - {name: x, type: ReLU}\n")
    assert _at(d) == ("AC106", 5, 12)


def test_top_level_typo(cli, write_spec):
    d = _one(cli, write_spec, "name: Net\ninput: {shape: [N, 3]}\nlayer: [ReLU]\n")
    assert _at(d) == ("AC101", 3, 1)
    assert "did you mean 'layers'?" in d["hint"]


def test_duplicate_yaml_key(cli, write_spec):
    d = _one(
        cli,
        write_spec,
        HEAD + "  - name: c\n    type: Conv2d\n    out_channels: 4\n    out_channels: 8\n    kernel_size: 3\n",
    )
    assert _at(d) == ("AC004", 8, 5)
    assert "out_channels" in d["message"]


def test_duplicate_top_level_key(cli, write_spec):
    d = _one(cli, write_spec, "name: A\nname: B\ninput: {shape: [N, 3]}\nlayers: [ReLU]\n")
    assert _at(d) == ("AC004", 2, 1)


def test_top_level_not_a_mapping(cli, write_spec):
    d = _one(cli, write_spec, "- ReLU\n- Flatten\n")
    assert _at(d) == ("AC103", 1, 1)
    assert "mapping" in d["message"]


@pytest.mark.parametrize("text", ["", "\n\n", "   \n"])
def test_empty_file(cli, write_spec, text):
    d = _one(cli, write_spec, text)
    assert d["code"] == "AC006" and d["line"] == 1


def test_comment_only_file(cli, write_spec):
    d = _one(cli, write_spec, "# nothing here\n")
    assert d["code"] == "AC006"


@pytest.mark.parametrize(
    "text, line, column",
    [
        ("name: A\nlayers: [\n  - foo\n", 3, 3),
        ("name: A\ninput: {shape: [N, 3]\nlayers: [ReLU]\n", 3, 1),
        ("name: A\n  bad: indent\n", 2, 6),
        ("name: 'unterminated\n", 2, 1),
    ],
)
def test_invalid_yaml(cli, write_spec, text, line, column):
    d = _one(cli, write_spec, text)
    assert _at(d) == ("AC001", line, column)
    assert d["message"].startswith("not valid YAML")


def test_invalid_json(cli, write_spec):
    d = _one(cli, lambda t: write_spec(t, "spec.json"), '{"name": "A", "layers": [}\n')
    assert d["code"] == "AC001" and d["line"] == 1


def test_json_spec_is_located(cli, write_spec):
    text = '{"name": "A",\n "input": {"shape": ["N", 3]},\n "layers": [{"type": "Linear", "out_featurs": 4}]}\n'
    d = _one(cli, lambda t: write_spec(t, "spec.json"), text)
    assert _at(d) == ("AC101", 3, 32)
    assert "did you mean 'out_features'?" in d["hint"]


def test_unsafe_tag(cli, write_spec):
    text = HEAD + "  - {type: Linear, out_features: !!python/name:os.system ''}\n"
    d = _diags(cli, write_spec(text))[0]
    assert _at(d) == ("AC003", 5, 34)


def test_all_layer_errors_in_one_run(cli, write_spec):
    lines = [case[0].replace("name: c,", f"name: c{i},") for i, case in enumerate(LAYER_CASES.values())]
    diags = _diags(cli, write_spec(HEAD + "\n".join(lines) + "\n"))
    assert [(d["line"], d["code"]) for d in diags] == [(5 + i, case[1]) for i, case in enumerate(LAYER_CASES.values())]


def test_error_on_a_later_layer_keeps_earlier_shapes(cli, write_spec):
    text = HEAD + "  - {name: c, type: Conv2d, out_channels: 8, kernel_size: 3}\n  - {type: Linear, out_feature: 3}\n"
    r = cli("validate", "--format", "json", str(write_spec(text)))
    (obj,) = r.json()
    assert obj["layers"][0]["output_shape"] == ["N", 8, 30, 30]


# ---- errors nested under `input` and cascades (were bugs in archcheck/spec/schema.py).


def test_nested_input_typo(cli, write_spec):
    d = _one(cli, write_spec, "name: A\ninput:\n  shape: [N, 3]\n  dtyp: float32\nlayers: [ReLU]\n")
    assert _at(d) == ("AC101", 4, 3)
    assert "did you mean 'dtype'?" in d["hint"]


def test_nested_input_dim_out_of_range(cli, write_spec):
    d = _one(cli, write_spec, "name: A\ninput:\n  shape: [N, 3, 0]\nlayers: [ReLU]\n")
    assert _at(d) == ("AC104", 3, 17)
    assert "got 0" in d["message"]


def test_top_level_error_does_not_cascade(cli, write_spec):
    diags = _diags(cli, write_spec("name: 5\ninput: {shape: [N, 3]}\nlayers: [ReLU]\n"))
    assert [_at(d) for d in diags] == [("AC103", 1, 7)]


def test_unsafe_tag_on_a_sequence(cli, write_spec):
    text = HEAD + "  - {type: Linear, out_features: !!python/object/apply:os.system [echo pwned]}\n"
    d = _diags(cli, write_spec(text))[0]
    assert _at(d) == ("AC003", 5, 34)
