"""Shared helpers: run the CLI in-process (click's CliRunner) from the repo root."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from archcheck.cli.app import main

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def json(self) -> list[dict[str, Any]]:
        """One object per line, as `--format json` prints them."""
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


def run_cli(*args: str, cwd: Path = ROOT) -> Run:
    """Invoke `archcheck ARGS...` in-process; relative paths are taken from ``cwd``."""
    old = os.getcwd()
    os.chdir(cwd)
    try:
        res = CliRunner().invoke(main, list(args), catch_exceptions=False)
    finally:
        os.chdir(old)
    try:
        err = res.stderr
    except ValueError:  # click < 8.2 mixes stderr into stdout by default
        err = ""
    return Run(res.exit_code, res.stdout, err)


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def write_spec(tmp_path):
    """Write ``text`` to a spec file in a temp dir and return its path."""

    def write(text: str, name: str = "spec.yaml") -> Path:
        p = tmp_path / name
        p.write_text(text, encoding="utf-8")
        return p

    return write


def pytest_addoption(parser):
    parser.addoption(
        "--update-goldens",
        action="store_true",
        default=False,
        help="Rewrite golden files (tests/golden/) from the current output instead of comparing.",
    )


@pytest.fixture
def update_goldens(request) -> bool:
    return bool(request.config.getoption("--update-goldens"))


def pytest_terminal_summary(terminalreporter):
    """The hostile-input table: every run of tests/hostile_util.run_cli with exit code, seconds, peak MB."""
    import hostile_util

    lines = hostile_util.report_lines()
    if lines:
        terminalreporter.section("hostile-input runs (exit code, wall and CPU seconds, child peak RSS)")
        for line in lines:
            terminalreporter.write_line(line)
