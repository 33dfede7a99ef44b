"""The seed tutorial's SimpleCNN, and the fc1 mistake it exists to catch."""

from __future__ import annotations

from conftest import ROOT

import archcheck

BROKEN = "specs/broken_fc1_in_features.yaml"


def _line_of(path: str, needle: str) -> int:
    for i, line in enumerate((ROOT / path).read_text().splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(f"{needle!r} not in {path}")


def test_simple_cnn_shapes_and_params():
    res = archcheck.check(ROOT / "specs/simple_cnn.yaml")
    assert res.ok, res.diagnostics
    assert res.name == "SimpleCNN"
    (out,) = res.outputs.values()
    assert out is not None and out.shape == ("N", 10)
    assert res.total_params == 215_370
    shapes = {r.path: r.output.shape for r in res.layers if r.output is not None}
    assert shapes["pool2"] == ("N", 32, 7, 7)
    assert shapes["flatten1"] == ("N", 1568)
    # in_channels of conv2 was left out and is inferred
    conv2 = next(r for r in res.layers if r.path == "conv2")
    assert conv2.layer is not None and conv2.layer.in_channels == 16


def test_simple_cnn_with_batch_4():
    res = archcheck.check(ROOT / "specs/simple_cnn.yaml", {"N": 4})
    (out,) = res.outputs.values()
    assert out is not None and out.shape == (4, 10)
    assert res.total_macs == 12_097_536


def test_broken_fc1_cli(cli):
    r = cli("validate", "--format", "json", BROKEN)
    assert r.exit_code == 1
    (obj,) = r.json()
    errors = [d for d in obj["diagnostics"] if d["severity"] == "error"]
    assert len(errors) == 1
    (d,) = errors
    assert d["path"] == "fc1"
    assert d["line"] == _line_of(BROKEN, "name: fc1")
    assert "1568" in d["message"] and "pool2" in d["message"]
    assert "512" in d["message"]


def test_broken_fc1_text_names_the_fix(cli):
    r = cli("validate", "--format", "short", BROKEN)
    assert r.exit_code == 1
    line = _line_of(BROKEN, "name: fc1")
    assert f"{BROKEN}:{line}:" in r.stdout
    assert "in_features: 1568" in r.stdout
    assert "Traceback" not in r.output
