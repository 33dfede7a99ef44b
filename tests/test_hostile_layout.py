"""Hostile inputs for dim roles and noqa: bounded time and memory, a clean exit, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

from hostile_util import run_cli

HEAD = "input: {shape: [N, 3, 8, 8]}\nlayers:\n"


def _spec(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "spec.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_many_silenced_warnings(tmp_path):
    """10,000 Linear-on-spatial layers in a Sequential, each warning silenced on its own line: linear."""
    rows = "".join(
        "      - {type: Conv2d, out_channels: 3, kernel_size: 1}\n"
        "      - {type: Linear, out_features: 8}  # noqa: AC401\n"
        for _ in range(10_000)
    )
    p = _spec(tmp_path, HEAD + "  - type: Sequential\n    layers:\n" + rows)
    r = run_cli("validate", "-q", p, timeout=120).assert_clean(max_seconds=30, max_mb=800, codes=(0,))
    assert ": warning AC" not in r.stdout and "Model ok" in r.stdout


def test_a_megabyte_of_noqa_codes_on_one_line(tmp_path):
    codes = ", ".join(["AC401"] * 150_000)  # ~1 MB
    p = _spec(tmp_path, HEAD + f"  - {{type: Linear, out_features: 4}}  # noqa: {codes}\n")
    r = run_cli("validate", "-q", p, timeout=60).assert_clean(max_seconds=10, codes=(0,))
    assert "AC401" not in r.stdout


def test_many_bare_noqa_comments(tmp_path):
    p = _spec(tmp_path, "# noqa\n" * 5_000 + HEAD + "  - ReLU\n")
    r = run_cli("validate", "-q", "--format", "json", p, timeout=60).assert_clean(max_seconds=10, codes=(0,))
    assert [d["code"] for d in json.loads(r.stdout)["diagnostics"]].count("AC409") == 5_000
    # the text shows the first 1,000 findings and counts the rest (h-text's cap on printed diagnostics)
    r = run_cli("validate", "-q", p, timeout=60).assert_clean(max_seconds=10, codes=(0,))
    assert r.stdout.count("warning AC409") == 1_000 and "4,000 more" in r.stdout, r.stdout[-300:]


def test_layout_letters_and_odd_noqa_values(tmp_path):
    text = (
        "inputs:\n  x: {shape: [N, 3, 8, 8], layout: 'NC\\u0130W'}\n  y: {shape: [N, 4], layout: ''}\n"
        "noqa: [AC401, 'AC4011', '']\nlayers:\n  - {type: ReLU, inputs: [x], noqa: [null]}\n"
    )
    r = run_cli("validate", "-q", _spec(tmp_path, text), timeout=30).assert_clean(codes=(1,))
    assert "layout" in r.stdout
