"""Error recovery (issue 11, item 1): a layer whose own fields fix its output keeps it after a mistake.

The recovered output must be exactly what torch gives once the mistake is fixed, so it never
causes errors of its own downstream: every zoo spec, with one size field made wrong, reports
exactly one error (at that layer), and every other layer keeps the shape torch computes for
the correct model.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from conftest import FIXTURES, SPECS

import archcheck
from archcheck.engine.walk import check

# The size fields a layer checks against its input (and that do not shape its output).
SIZE_FIELDS = ("in_channels", "in_features", "num_features", "num_channels", "input_size", "embed_dim", "d_model")

TWO_MISTAKES = """\
name: SimpleCNN
input:
  shape: [N, 1, 28, 28]
layers:
  - {name: conv1, type: Conv2d, in_channels: 1, out_channels: 16, kernel_size: 5, padding: 2}
  - ReLU
  - {name: pool1, type: MaxPool2d, kernel_size: 2, stride: 2}
  - {name: conv2, type: Conv2d, in_channels: 8, out_channels: 32, kernel_size: 5, padding: 2}
  - ReLU
  - {name: pool2, type: MaxPool2d, kernel_size: 2}
  - Flatten
  - {name: fc1, type: Linear, in_features: 1568, out_features: 128}
  - ReLU
  - {name: fc2, type: Linear, in_features: 100, out_features: 10}
"""


def test_simple_cnn_two_mistakes_two_errors(write_spec):
    res = archcheck.check(write_spec(TWO_MISTAKES))
    errs = [(d.code, d.path, d.line) for d in res.diagnostics if d.severity == "error"]
    assert errs == [("AC201", "conv2", 8), ("AC202", "fc2", 14)]
    assert not res.ok
    by = {n.path: n for n in res.layers}
    assert by["conv2"].output is not None and by["conv2"].output.shape == ("N", 32, 14, 14)
    assert by["fc1"].output is not None and by["fc1"].output.shape == ("N", 128)
    assert by["fc2"].output is not None and by["fc2"].output.shape == ("N", 10)
    msgs = " ".join(d.message for d in res.diagnostics)
    assert "in_channels=8" in msgs and "[N, 16, 14, 14]" in msgs
    assert "in_features=100" in msgs and "[N, 128]" in msgs


def test_outputs_do_not_pretend_ok(cli, write_spec, tmp_path):
    """A recovered spec still has errors: every command says so and exits 1."""
    p = write_spec(TWO_MISTAKES)
    r = cli("validate", str(p))
    assert r.exit_code == 1 and "2 errors" in r.output
    r = cli("validate", "--format", "json", str(p))
    assert r.exit_code == 1
    obj = r.json()[0]
    assert obj["ok"] is False and [d["code"] for d in obj["diagnostics"] if d["severity"] == "error"] == [
        "AC201",
        "AC202",
    ]
    out = tmp_path / "m.py"
    r = cli("generate", str(p), "-o", str(out))
    assert r.exit_code == 1 and not out.exists()
    dot = tmp_path / "net.dot"
    r = cli("render", str(p), "-o", str(dot))
    assert r.exit_code == 1
    r = cli("summary", str(p))
    assert r.exit_code == 1


def test_unknown_output_still_stops(write_spec):
    """A kernel that does not fit leaves no output: its consumers are skipped, not guessed."""
    res = archcheck.check(
        write_spec(
            """\
name: T
input: {shape: [N, 3, 4, 4]}
layers:
  - {name: conv, type: Conv2d, out_channels: 8, kernel_size: 7}
  - Flatten
  - {name: fc, type: Linear, in_features: 5, out_features: 2}
"""
        )
    )
    assert [d.code for d in res.diagnostics if d.severity == "error"] == ["AC203"]
    by = {n.path: n for n in res.layers}
    assert by["conv"].output is None and by["fc"].output is None


def test_recovered_layer_with_a_second_fatal_error_is_unknown(write_spec):
    """A wrong in_channels plus a kernel that does not fit: both reported, the output is unknown."""
    res = archcheck.check(
        write_spec(
            """\
name: T
input: {shape: [N, 3, 4, 4]}
layers:
  - {name: conv, type: Conv2d, in_channels: 5, out_channels: 8, kernel_size: 7}
  - {name: fc, type: Linear, in_features: 5, out_features: 2}
"""
        )
    )
    assert sorted(d.code for d in res.diagnostics if d.severity == "error") == ["AC201", "AC203"]
    assert {n.path: n for n in res.layers}["conv"].output is None


# ---------------------------------------------------------------- one mistake in each zoo spec


def _mutations(res):
    """(path, field, wrong value) for every size field of every layer, and a groups that divides nothing."""
    out = []
    for n in res.layers:
        if n.layer is None or n.output is None:
            continue
        for f in SIZE_FIELDS:
            v = getattr(n.layer, f, None)
            if isinstance(v, int) and not isinstance(v, bool):
                out.append((n.path, f, v + 3))
        if n.type == "LayerNorm" and isinstance(n.layer.normalized_shape, int):
            out.append((n.path, "normalized_shape", n.layer.normalized_shape + 3))
        if n.type.startswith("Conv") and n.layer.groups == 1 and n.layer.in_channels > 1:
            # in_channels + 1 divides neither channel count (out_channels is not a multiple of it here).
            g = n.layer.in_channels + 1
            if n.layer.out_channels % g:
                out.append((n.path, "groups", g))
    return out


ZOO = sorted(p for p in SPECS.glob("*.yaml") if not p.stem.startswith("broken"))


@pytest.mark.parametrize("path", ZOO, ids=[p.stem for p in ZOO])
def test_one_wrong_size_gives_one_error_and_no_cascade(path):
    spec = archcheck.load(path)
    base = check(spec)
    assert base.ok
    want = {n.path: n.output.shape for n in base.nodes if n.output is not None}
    muts = _mutations(base)
    assert muts
    # Bound the time on the big specs (a spec with free dims solves its conditions on every check).
    step = max(1, len(muts) // 12)
    for at, f, v in muts[::step]:
        res = check(spec, overrides={at: {f: v}})
        errs = [d for d in res.diagnostics if d.severity == "error"]
        assert [(d.path, d.code) for d in errs] in (
            [(at, "AC201")],
            [(at, "AC202")],
            [(at, "AC205")],
            [(at, "AC213")],
        ), f"{path.stem}: {at}.{f}={v}: {[(d.path, d.code, d.message) for d in errs]}"
        got = {n.path: n.output.shape for n in res.nodes if n.output is not None}
        assert got == want, f"{path.stem}: {at}.{f}={v} changed shapes"
        assert res.conditions == [] or len(res.conditions) == len(base.conditions)


# ---------------------------------------------------------------- against torch


TORCH_SPECS = ["simple_cnn", "lenet5", "lstm_text", "transformer_text", "unet", "audio_m5"]


@pytest.mark.parametrize("stem", TORCH_SPECS)
def test_recovered_shapes_are_torchs(stem):
    """Each recovered output equals the shape torch computes for the correct model (meta device)."""
    torch = pytest.importorskip("torch")
    from archcheck.emit.verify import build, concrete_dims
    from archcheck.shapes import dims as D

    spec = archcheck.load(SPECS / f"{stem}.yaml")
    values, base = concrete_dims(spec)
    assert base.ok
    with torch.device("meta"):
        model = build(spec, values)
        seen: dict[str, tuple[int, ...]] = {}
        for name, m in model.named_modules():
            if name:
                m.register_forward_hook(
                    lambda mod, args, out, name=name: seen.__setitem__(
                        name, tuple((out[0] if isinstance(out, tuple) else out).shape)
                    )
                )
        xs = [
            torch.zeros(tuple(int(d) for d in t.shape), dtype=torch.long if t.dtype in ("long", "int64") else None)
            for t in base.inputs.values()
        ]
        model.eval()
        model(*xs)
    assert seen
    n_checked = 0
    for at, f, v in _mutations(base):
        res = check(spec, values, overrides={at: {f: v}})
        assert len([d for d in res.diagnostics if d.severity == "error"]) == 1
        for n in res.nodes:
            if n.path in seen and seen[n.path] is not None:
                assert n.output is not None, f"{at}.{f}={v}: {n.path} lost its output"
                got = tuple(D.substitute(d, values) for d in n.output.shape)
                assert got == seen[n.path], f"{at}.{f}={v}: {n.path} is {got}, torch {seen[n.path]}"
                n_checked += 1
    assert n_checked > 0


# ---------------------------------------------------------------- fixtures: each mark once


MINE = sorted(FIXTURES.glob("recover_*.yaml")) + sorted(FIXTURES.glob("edge_*.yaml"))


@pytest.mark.parametrize("path", MINE, ids=[p.stem for p in MINE])
def test_fixture_reports_each_mistake_once(path: Path):
    res = archcheck.check(path)
    counts = Counter((d.line, d.severity, d.code) for d in res.diagnostics if d.severity in ("error", "warning"))
    assert all(c == 1 for c in counts.values()), f"{path.name}: reported more than once: {counts}"


def test_enough_recovery_fixtures():
    assert len(list(FIXTURES.glob("recover_*.yaml"))) >= 10


def test_json_layers_show_recovered_shapes(cli, write_spec):
    r = cli("validate", "--format", "json", "--dim", "N=4", str(write_spec(TWO_MISTAKES)))
    obj = json.loads(r.stdout.splitlines()[0])
    shapes = {row["path"]: row["output_shape"] for row in obj["layers"]}
    assert shapes["conv2"] == [4, 32, 14, 14] and shapes["fc2"] == [4, 10]
    assert obj["outputs"] == {"fc2": [4, 10]}
