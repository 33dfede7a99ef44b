"""The JSON Schema for editors (archcheck schema / docs/archcheck.schema.json)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

jsonschema = pytest.importorskip("jsonschema")

from archcheck.cli.app import main  # noqa: E402
from archcheck.spec.jsonschema import build_schema, schema_text  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.yaml"))
GOOD = [p for p in SPECS if not p.name.startswith("broken_")]
MODELINE = "# yaml-language-server: $schema=../docs/archcheck.schema.json"


@pytest.fixture(scope="module")
def validator() -> Any:
    schema = build_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def _leaves(err: Any) -> list[Any]:
    """The innermost errors under a oneOf/anyOf: where an editor puts the squiggle."""
    if not err.context:
        return [err]
    return [leaf for c in err.context for leaf in _leaves(c)]


def _errors(validator: Any, data: Any) -> list[tuple[tuple[Any, ...], str, str]]:
    return [
        (tuple(leaf.absolute_path), leaf.validator, leaf.message)
        for err in validator.iter_errors(data)
        for leaf in _leaves(err)
    ]


def test_schema_file_is_up_to_date() -> None:
    """Regenerate with: archcheck schema -o docs/archcheck.schema.json"""
    assert (ROOT / "docs" / "archcheck.schema.json").read_text(encoding="utf-8") == schema_text()


def test_schema_is_deterministic_and_draft07() -> None:
    assert schema_text() == schema_text()
    s = build_schema()
    assert s["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert s["additionalProperties"] is False


def test_cli_prints_and_writes_the_schema(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["schema"])
    assert r.exit_code == 0, r.output
    assert r.output == schema_text()
    out = tmp_path / "s.json"
    r = CliRunner().invoke(main, ["schema", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert out.read_text(encoding="utf-8") == schema_text()


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_every_spec_names_the_schema(path: Path) -> None:
    assert path.read_text(encoding="utf-8").splitlines()[-1] == MODELINE


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.name)
def test_good_specs_validate(validator: Any, path: Path) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert _errors(validator, data) == []


def test_broken_typos_fails_at_each_field(validator: Any) -> None:
    data = yaml.safe_load((ROOT / "specs" / "broken_typos.yaml").read_text(encoding="utf-8"))
    errs = _errors(validator, data)
    top = {tuple(e.absolute_path) for e in validator.iter_errors(data)}
    assert top == {("layers", i) for i in range(6)}  # every bad layer, and only those
    # conv1: kernal_size is not a Conv2d field
    assert any(p == ("layers", 0) and v == "additionalProperties" and "'kernal_size'" in m for p, v, m in errs)
    # bn1: BatchNorm2D is no known type, and a block named so is taken for a typo
    assert any(p == ("layers", 1, "type") for p, _, _ in errs)
    assert not any(p == ("layers", 1) and v == "additionalProperties" for p, v, m in errs)
    # conv2: "32" is a string; conv3: 0 < 1; conv4: padding 'sam'; drop: p 1.5 > 1
    assert any(p == ("layers", 2, "out_channels") and v == "type" for p, v, _ in errs)
    assert any(p == ("layers", 3, "out_channels") and v == "minimum" for p, v, _ in errs)
    assert any(p == ("layers", 4, "padding") and v == "enum" for p, v, _ in errs)
    assert any(p == ("layers", 5, "p") and v == "maximum" for p, v, _ in errs)


def _one(layer: Any, **top: Any) -> dict[str, Any]:
    return {"input": {"shape": ["N", 3, 32, 32]}, "layers": [layer], **top}


def test_expressions_validate_where_values_go(validator: Any) -> None:
    spec = _one(
        {
            "type": "Conv2d",
            "out_channels": "$width * 2",
            "kernel_size": ["$k", 3],
            "bias": "$use_bias",
            "padding": "$pad",
            "repeat": "$depth",
        },
        params={"width": 8, "k": 3, "use_bias": False, "pad": "same", "depth": 2},
    )
    assert _errors(validator, spec) == []
    # not a $ expression: still a string where an int belongs
    bad = _one({"type": "Conv2d", "out_channels": "width", "kernel_size": 3})
    assert any(p == ("layers", 0, "out_channels") for p, _, _ in _errors(validator, bad))


def test_layer_forms(validator: Any) -> None:
    ok = [
        "ReLU",
        "MyBlock",  # a bare block name
        {"type": "ReLU", "name": "act", "inputs": ["x"], "repeat": 2},
        {"type": "Linear", "out_features": 4, "inputs": "x"},  # one input may be named without a list
        {"type": "Sequential", "name": "seq", "layers": ["ReLU", {"type": "Linear", "out_features": 4}]},
        {"type": "MyBlock", "planes": 64, "anything": [1, "$w"], "repeat": 3},
    ]
    blocks = {"MyBlock": {"layers": ["ReLU"]}}
    for layer in ok:
        assert _errors(validator, _one(layer, blocks=blocks)) == [], layer
    bad = [
        "Relu",  # a case typo of a type, not a block
        "not an identifier",
        {"type": "Sequential"},  # no layers
        {"type": "Sequential", "layers": [], "bogus": 1},
        {"type": "Linear"},  # out_features is required
        {"type": "ReLU", "repeat": 0},
        {"type": "Linear", "out_features": 4, "inputs": 3},  # inputs are names
        {"name": "no_type"},
    ]
    for layer in bad:
        assert _errors(validator, _one(layer)) != [], layer


def test_top_level_typo_and_layer_docs(validator: Any) -> None:
    errs = _errors(validator, {"input": {"shape": [1, 3]}, "layer": [], "layers": []})
    assert any(v == "additionalProperties" and "'layer'" in m for _, v, m in errs)
    conv = build_schema()["definitions"]["layer.Conv2d"]
    assert conv["properties"]["type"] == {"const": "Conv2d", "description": "The layer type Conv2d."}
    assert conv["properties"]["stride"]["default"] == 1  # torch's default
    assert "torch.nn.Conv2d" in conv["description"]
    assert conv["additionalProperties"] is False


def test_unknown_type_without_blocks(validator: Any) -> None:
    """With no blocks: in the spec, a type that is not a layer type is flagged (an editor underlines it)."""
    for layer in ["NotALayer", {"type": "NotALayer"}, {"type": "Sequential", "layers": [{"type": "NotALayer"}]}]:
        errs = _errors(validator, _one(layer))
        assert errs, layer
        assert all(p[:2] == ("layers", 0) for p, _, _ in errs), errs
        # the same layer is fine where a block of that name may be defined
        assert _errors(validator, _one(layer, blocks={"NotALayer": {"layers": ["ReLU"]}})) == [], layer
    # known types, bare and nested, stay valid without blocks
    fine = _one({"type": "Sequential", "layers": ["ReLU", {"type": "Linear", "out_features": 2}]})
    assert _errors(validator, fine) == []
