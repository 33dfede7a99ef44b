"""Lint gates, so CI enforces them: ruff (check and format) and mypy.

The rules are in pyproject.toml ([tool.ruff], [tool.mypy]). The core modules
(spec -> shapes) must pass `mypy --strict`; the whole package plain `mypy`
with the project's settings. ruff and mypy come with the `test` extra; the
checks are skipped where they are not installed.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

CORE = [
    "archcheck/shapes/dims.py",
    "archcheck/spec/expr.py",
    "archcheck/diagnostics/codes.py",
    "archcheck/spec/loader.py",
    "archcheck/engine/walk.py",
    "archcheck/engine/result.py",
    "archcheck/spec/schema.py",
    "archcheck/layers/base.py",
    "archcheck/engine/conditions.py",
    "archcheck/emit/explore.py",
    "archcheck/api.py",
]


def _run(tool: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    if importlib.util.find_spec(tool) is None:
        pytest.skip(f"{tool} is not installed (pip install -e '.[test]')")
    return subprocess.run(
        [sys.executable, "-m", tool, *map(str, args)], capture_output=True, text=True, cwd=ROOT, timeout=600
    )


def test_ruff_check() -> None:
    p = _run("ruff", "check", "--no-cache", "archcheck", "tests")
    assert p.returncode == 0, p.stdout + p.stderr


def test_ruff_format() -> None:
    p = _run("ruff", "format", "--check", "--no-cache", "archcheck", "tests")
    assert p.returncode == 0, "run `ruff format archcheck tests`:\n" + p.stdout + p.stderr


def test_core_modules_are_core() -> None:
    for f in CORE:
        assert (ROOT / f).is_file(), f


def test_mypy_strict_core(tmp_path: Path) -> None:
    p = _run("mypy", "--strict", "--cache-dir", tmp_path, *CORE)
    assert p.returncode == 0, p.stdout + p.stderr


def test_mypy_package(tmp_path: Path) -> None:
    p = _run("mypy", "--cache-dir", tmp_path, "archcheck")
    assert p.returncode == 0, p.stdout + p.stderr
