"""`archcheck validate --format sarif`: a SARIF 2.1.0 log that code-scanning tools accept."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from archcheck.cli.app import main
from archcheck.diagnostics.codes import CODES

ROOT = Path(__file__).resolve().parents[1]
BROKEN = "specs/broken_fc1_in_features.yaml"
SIMPLE = "specs/simple_cnn.yaml"


def sarif(*specs: str) -> tuple[int, dict]:
    old = os.getcwd()
    os.chdir(ROOT)
    try:
        r = CliRunner().invoke(main, ["validate", "--format", "sarif", *specs], catch_exceptions=False)
    finally:
        os.chdir(old)
    return r.exit_code, json.loads(r.stdout)


def test_log_structure():
    code, log = sarif(BROKEN, SIMPLE)
    assert code == 1
    assert log["version"] == "2.1.0"
    assert log["$schema"].endswith("sarif-2.1.0.json")
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "archcheck"
    assert [r["id"] for r in driver["rules"]] == list(CODES)
    for rule in driver["rules"]:
        assert rule["shortDescription"]["text"] == CODES[rule["id"]].summary
        assert rule["name"] == CODES[rule["id"]].name
    assert run["columnKind"] == "unicodeCodePoints"
    assert {a["location"]["uri"] for a in run["artifacts"]} == {BROKEN, SIMPLE}


def test_results_are_located():
    _, log = sarif(BROKEN)
    run = log["runs"][0]
    results = run["results"]
    assert results, "the broken spec has findings"
    rules = run["tool"]["driver"]["rules"]
    for res in results:
        assert res["ruleId"] in CODES
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
        assert res["level"] in ("error", "warning", "note")
        assert res["message"]["text"]
        phys = res["locations"][0]["physicalLocation"]
        assert phys["artifactLocation"]["uri"] == BROKEN
        assert phys["region"]["startLine"] >= 1 and phys["region"]["startColumn"] >= 1
    fc1 = next(r for r in results if r["ruleId"] == "AC202")
    assert fc1["level"] == "error"
    assert fc1["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == "fc1"
    # the same line and column as the JSON format
    r = CliRunner().invoke(main, ["validate", "--format", "json", str(ROOT / BROKEN)])
    d = next(d for d in json.loads(r.stdout)["diagnostics"] if d["code"] == "AC202")
    region = fc1["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == (d["line"], d["column"])


def test_ok_spec_has_no_results():
    code, log = sarif(SIMPLE)
    assert code == 0
    assert log["runs"][0]["results"] == []


def test_uri_of_awkward_paths():
    from archcheck.emit.sarif import artifact_uri

    assert artifact_uri("specs/my net.yaml") == "specs/my%20net.yaml"
    assert artifact_uri("/nowhere/near/cwd/x.yaml").startswith("file:///")


def _schema() -> Path | None:
    """The official SARIF 2.1.0 JSON schema, if a copy is available offline (never downloaded)."""
    for cand in [os.environ.get("SARIF_SCHEMA"), ROOT / "tests" / "data" / "sarif-schema-2.1.0.json"]:
        if cand and Path(cand).is_file():
            return Path(cand)
    return None


def test_against_the_official_schema():
    schema = _schema()
    if schema is None:
        pytest.skip("no offline copy of sarif-schema-2.1.0.json (set SARIF_SCHEMA to one)")
    jsonschema = pytest.importorskip("jsonschema")
    _, log = sarif(BROKEN, SIMPLE)
    jsonschema.validate(log, json.loads(schema.read_text(encoding="utf-8")))
