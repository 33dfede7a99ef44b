"""`archcheck validate` must not pay for torch, sympy or graphviz (DESIGN.md)."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import ROOT

HEAVY = ("torch", "torchinfo", "sympy", "graphviz", "numpy")

PROBE = """
import json, sys
from archcheck.cli import main
try:
    main(sys.argv[1:])
except SystemExit as e:
    code = e.code
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(sys.stdin.read())))
print("\\n" + json.dumps({"exit": code, "heavy": heavy}))
"""


def _probe(*args: str) -> dict:
    p = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        input=json.dumps(HEAVY),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert "Traceback" not in p.stderr, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_validate_imports_no_heavy_module():
    out = _probe("validate", "specs/simple_cnn.yaml")
    assert out == {"exit": 0, "heavy": []}


def test_validate_json_and_errors_import_no_heavy_module():
    out = _probe("validate", "--format", "json", "specs/broken_fc1_in_features.yaml", "specs/broken_shapes.yaml")
    assert out == {"exit": 1, "heavy": []}


def test_import_archcheck_is_light():
    p = subprocess.run(
        [sys.executable, "-c", "import sys, archcheck; print(sorted(set(sys.modules) & set(sys.argv[1:])))", *HEAVY],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert p.stdout.strip() == "[]", p.stderr
