"""`archcheck explain` and docs/diagnostics.md: one explanation per code, examples that really trigger it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from archcheck.api import check, load
from archcheck.cli.app import main
from archcheck.diagnostics.codes import CODES
from archcheck.diagnostics.explain import DIRECTORY, EXPLANATIONS, HEADINGS, ExplanationError, markdown, parse

ROOT = Path(__file__).resolve().parents[1]


def explain(*args: str):
    return CliRunner().invoke(main, ["explain", *args], catch_exceptions=False)


def test_every_code_has_an_explanation():
    assert set(CODES) - set(EXPLANATIONS) == set(), "add archcheck/diagnostics/explanations/<CODE>.md"
    assert set(EXPLANATIONS) - set(CODES) == set(), "an explanation for a code not in the table"
    for code, e in EXPLANATIONS.items():
        assert e.what and e.why and e.example.strip() and e.fix.strip(), code


def test_explanations_are_data_files_in_one_format():
    text = (DIRECTORY / "AC201.md").read_text(encoding="utf-8")
    assert text.startswith("# AC201 channel-mismatch\n\n## What it means\n\n")
    assert parse(text, "AC201") == EXPLANATIONS["AC201"] and EXPLANATIONS["AC201"].checked
    unchecked = text.replace("\n\n## What", "\n\n<!-- not checked: why -->\n\n## What", 1)
    assert not parse(unchecked, "AC201").checked
    with pytest.raises(ExplanationError, match="titled AC201 channel-mismatch"):
        parse(text, "AC202")
    with pytest.raises(ExplanationError, match="does not follow the format"):
        parse(text.replace("## Why it matters", "## Why"), "AC201")
    with pytest.raises(KeyError):
        EXPLANATIONS["AC999"]


def test_the_doc_is_up_to_date():
    doc = (ROOT / "docs" / "diagnostics.md").read_text(encoding="utf-8")
    assert doc == markdown(), "run: python -m archcheck.diagnostics.explain --markdown > docs/diagnostics.md"


@pytest.mark.parametrize("code", sorted(c for c, e in EXPLANATIONS.items() if e.checked))
def test_example_triggers_the_code_and_fix_clears_it(code):
    e = EXPLANATIONS[code]
    found = [d.code for d in check(load("example.yaml", text=e.example)).diagnostics]
    assert code in found, found
    fixed = check(load("fix.yaml", text=e.fix)).diagnostics
    assert code not in [d.code for d in fixed]
    assert not [d for d in fixed if d.severity == "error"], [d.message for d in fixed]


def test_explain_by_code_and_by_name():
    by_code = explain("AC201")
    assert by_code.exit_code == 0
    for heading in HEADINGS:
        assert f"\n{heading}\n" in by_code.stdout
    assert explain("channel-mismatch").stdout == by_code.stdout
    assert explain("ac201").stdout == by_code.stdout


def test_unknown_code_suggests_and_exits_2():
    r = explain("chanel-mismatch")
    assert r.exit_code == 2
    assert "did you mean 'channel-mismatch'" in r.stderr
    r = explain("AC2O1")
    assert r.exit_code == 2 and "did you mean 'AC201'" in r.stderr


def test_explain_without_code_lists_all():
    r = explain()
    assert r.exit_code == 0
    assert len(r.stdout.splitlines()) == len(CODES)
