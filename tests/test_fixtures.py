"""mypy-style fixtures: each `tests/fixtures/*.yaml` marks its offending lines.

A line ending in `# E: AC201` must get an error with that code, `# W: AC211`
a warning; several marks may stand on one line. The (line, severity, code)
set archcheck reports must equal the annotated set: nothing missing, nothing
extra. A fixture without marks must check clean.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import FIXTURES

import archcheck

MARK = re.compile(r"#\s*([EW]):\s*(AC\d{3})\b")
SEVERITY = {"E": "error", "W": "warning"}


def expected(path: Path) -> set[tuple[int, str, str]]:
    out = set()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        for sev, code in MARK.findall(line):
            out.add((n, SEVERITY[sev], code))
    return out


def reported(path: Path) -> set[tuple[int, str, str]]:
    res = archcheck.check(path)
    return {(d.line or 0, d.severity, d.code) for d in res.diagnostics if d.severity in ("error", "warning")}


FILES = sorted(FIXTURES.glob("*.yaml"))


def test_there_are_fixtures():
    assert len(FILES) >= 5


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_fixture(path):
    want, got = expected(path), reported(path)
    missing, extra = sorted(want - got), sorted(got - want)
    assert not missing and not extra, f"{path.name}: missing {missing}, unexpected {extra}"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_fixture_exit_code(cli, path):
    errors = any(sev == "error" for _, sev, _ in expected(path))
    r = cli("validate", "-q", str(path))
    assert r.exit_code == (1 if errors else 0), r.output
    assert "Traceback" not in r.output
