"""Dim roles and layout warnings (AC401-AC408), and noqa silencing (AC409, AC410).

The fixtures in tests/fixtures/layout_*.yaml mark each expected warning; here:
how roles are inferred and carried, that the warned specs really run in torch
(the warnings claim torch accepts them), that no spec of the zoo gets a layout
warning (no false positives), and every noqa form.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT

from archcheck.api import check, load
from archcheck.layers.roles import BATCH, CHANNELS, FEATURES, SEQUENCE, SPATIAL, of_input

LAYOUT = ("AC401", "AC402", "AC403", "AC404", "AC405", "AC406", "AC407", "AC408", "AC411")


def run(text: str):
    return check(load("spec.yaml", text=text))


def codes(res, severity: str | None = None) -> list[str]:
    return [d.code for d in res.diagnostics if severity is None or d.severity == severity]


def roles(res, path: str):
    node = next(n for n in res.nodes if n.path == path)
    assert node.output is not None
    return node.output.roles


# ---------------------------------------------------------------- roles


@pytest.mark.parametrize(
    ("shape", "dtype", "layout", "want"),
    [
        (("N", 3, 224, 224), "float32", None, (BATCH, CHANNELS, SPATIAL, SPATIAL)),
        ((4, 3, 224, 224), "float32", None, (BATCH, CHANNELS, SPATIAL, SPATIAL)),  # a fixed batch
        (("N", 3, 8, 16, 16), "float32", None, (BATCH, CHANNELS, SPATIAL, SPATIAL, SPATIAL)),
        (("N", "H", "W", 3), "float32", None, (BATCH, SPATIAL, SPATIAL, "")),  # names win: no NCHW guess
        (("N", "L"), "long", None, (BATCH, SEQUENCE)),
        (("N", 64), "float32", None, (BATCH, FEATURES)),
        (("N", "L", 64), "float32", None, (BATCH, SEQUENCE, FEATURES)),
        (("L", "N", 64), "float32", None, (SEQUENCE, BATCH, FEATURES)),
        (("N", "C", "D", "H", "W"), "float32", None, (BATCH, CHANNELS, SPATIAL, SPATIAL, SPATIAL)),
        (("B", "L", "D"), "float32", None, (BATCH, SEQUENCE, FEATURES)),
        ((2, 3, 4), "float32", None, None),  # rank 3 without names: ambiguous, unknown
        ((10, 20), "float32", None, None),
        (("N", 32, 32, 3), "float32", "NHWC", (BATCH, SPATIAL, SPATIAL, CHANNELS)),
        ((7, 5, 64), "float32", "LNE", (SEQUENCE, BATCH, FEATURES)),
        ((7, 5), "float32", "_N", ("", BATCH)),
        (("B", "N", "C"), "float32", None, (BATCH, "", CHANNELS)),  # ViT's [B, N, C]: N counts tokens
        (("N", "L", "H"), "float32", None, (BATCH, SEQUENCE, FEATURES)),  # H: a hidden size, not a height
        (("T", "B", "H"), "float32", None, (SEQUENCE, BATCH, FEATURES)),
    ],
)
def test_input_roles(shape, dtype, layout, want):
    assert of_input(shape, dtype, layout) == want


def test_roles_follow_the_layers():
    res = run(
        "input: {shape: [N, 3, 32, 32]}\nlayers:\n"
        "  - {name: conv, type: Conv2d, out_channels: 8, kernel_size: 3, padding: 1}\n"
        "  - {name: last, type: Permute, dims: [0, 2, 3, 1]}\n"
        "  - {name: lin, type: Linear, out_features: 16}\n"
        "  - {name: first, type: Permute, dims: [0, 3, 1, 2]}\n"
        "  - {name: patches, type: Flatten, start_dim: 2}\n"
        "  - {name: tokens, type: Transpose, dim0: 1, dim1: 2}\n"
        "  - {name: flat, type: Flatten}\n"
        "  - {name: split, type: Unflatten, dim: 1, unflattened_size: [16, 1024]}\n"
        "  - {name: same, type: Reshape, shape: [N, 16, 1024]}\n"
        "  - {name: merged, type: Reshape, shape: [N, -1]}\n"
    )
    assert codes(res) == []
    assert roles(res, "conv") == (BATCH, CHANNELS, SPATIAL, SPATIAL)
    assert roles(res, "last") == (BATCH, SPATIAL, SPATIAL, CHANNELS)
    assert roles(res, "lin") == (BATCH, SPATIAL, SPATIAL, FEATURES)
    assert roles(res, "first") == (BATCH, FEATURES, SPATIAL, SPATIAL)
    assert roles(res, "patches") == (BATCH, FEATURES, SEQUENCE)  # H*W positions: a sequence
    assert roles(res, "tokens") == (BATCH, SEQUENCE, FEATURES)
    assert roles(res, "flat") == (BATCH, FEATURES)
    assert roles(res, "split") == (BATCH, "", "")  # a split's parts: unknown
    assert roles(res, "same") == (BATCH, "", "")
    assert roles(res, "merged") == (BATCH, "")


def test_roles_through_blocks_and_repeat():
    res = run(
        "blocks:\n  Stage:\n    layers:\n"
        "      - {type: Conv2d, out_channels: 8, kernel_size: 3, padding: 1}\n"
        "      - ReLU\n"
        "input: {shape: [N, 3, 16, 16]}\nlayers:\n"
        "  - {name: s, type: Stage, repeat: 2}\n"
        "  - {name: fc, type: Linear, out_features: 4}\n"
    )
    assert roles(res, "s") == (BATCH, CHANNELS, SPATIAL, SPATIAL)
    assert codes(res) == ["AC401"]


# ---------------------------------------------------------------- warnings


def test_linear_without_flatten_says_which_dim_and_the_fix():
    cnn = (
        "input: {shape: [N, 1, 28, 28]}\nlayers:\n"
        "  - {name: conv1, type: Conv2d, out_channels: 16, kernel_size: 5, padding: 2}\n"
        "  - {name: pool1, type: MaxPool2d, kernel_size: 2}\n"
        "  - {name: conv2, type: Conv2d, out_channels: 32, kernel_size: 5, padding: 2}\n"
        "  - {name: pool2, type: MaxPool2d, kernel_size: 2}\n"
        "  - Flatten\n"
        "  - {name: fc1, type: Linear, out_features: 128}\n"
    )
    assert codes(run(cnn)) == []
    res = run(cnn.replace("  - Flatten\n", ""))
    assert res.ok, "a warning does not fail the spec"
    (d,) = [d for d in res.diagnostics if d.code == "AC401"]
    assert d.severity == "warning" and d.path == "fc1"
    assert "last dim (W=7)" in d.message and "did you forget Flatten?" in d.message
    assert "in_features then is 1568 = 32 * 7 * 7" in (d.hint or "")


def test_concat_whose_inputs_differ_in_dim_1_hints_dim_1():
    res = run(
        "input: {shape: [N, 3, 8, 8]}\nlayers:\n"
        "  - {name: a, type: Conv2d, out_channels: 4, kernel_size: 1}\n"
        "  - {name: b, type: Conv2d, out_channels: 6, kernel_size: 1, inputs: [x]}\n"
        "  - {name: cat, type: Concat, inputs: [a, b]}\n"
    )
    (d,) = [d for d in res.diagnostics if d.code == "AC308"]
    assert "write dim: 1" in (d.hint or "") and "crop or pad" not in (d.hint or "")
    # different in a spatial dim: crop or pad is the right advice still
    res = run(
        "input: {shape: [N, 3, 8, 8]}\nlayers:\n"
        "  - {name: a, type: Conv2d, out_channels: 4, kernel_size: 1}\n"
        "  - {name: b, type: Conv2d, out_channels: 4, kernel_size: 3, inputs: [x]}\n"
        "  - {name: cat, type: Concat, dim: 1, inputs: [a, b]}\n"
    )
    (d,) = [d for d in res.diagnostics if d.code == "AC308"]
    assert "crop or pad" in (d.hint or "")


def test_unknown_roles_never_warn():
    # a rank-3 input without dim names could be [N, C, L] or [N, L, D]: nothing is assumed
    res = run(
        "input: {shape: [4, 16, 50]}\nlayers:\n"
        "  - {type: Linear, out_features: 8}\n"
        "  - {type: LSTM, hidden_size: 8, batch_first: true}\n"
        "  - {type: Softmax, dim: 0}\n"
        "  - {type: Transpose, dim0: 0, dim1: 2}\n"
    )
    assert not set(codes(res)) & set(LAYOUT), codes(res)


@pytest.mark.parametrize(
    "path",
    sorted(
        [*(ROOT / "specs").glob("*.yaml"), *(ROOT / "tests" / "specs").glob("*.yaml")]
        + [*(ROOT / "tests" / "render_specs").glob("*.yaml")]
    ),
    ids=lambda p: p.name,
)
def test_the_zoo_gets_no_layout_warning(path: Path):
    res = check(path)
    assert [d.message for d in res.diagnostics if d.code in LAYOUT or d.code in ("AC409", "AC410")] == []


WARNED = sorted(p for p in FIXTURES.glob("layout_*.yaml") if "# E:" not in p.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", WARNED, ids=lambda p: p.stem)
def test_warned_fixtures_run_in_torch(path: Path):
    """A layout warning is for what torch accepts: the generated module runs, with archcheck's shapes."""
    pytest.importorskip("torch")
    from archcheck.emit.verify import verify

    verdict, res = verify(path)
    assert res.ok
    assert verdict.ok, verdict.problems


def test_warnings_do_not_change_the_verdict_or_exit_code(cli):
    r = cli("validate", "-q", str(FIXTURES / "layout_several.yaml"))
    assert r.exit_code == 1  # its one error (AC202)
    r = cli("validate", "-q", str(FIXTURES / "layout_batch_first.yaml"))
    assert r.exit_code == 0 and "AC403" in r.output


# ---------------------------------------------------------------- noqa

_FC = "input: {shape: [N, 3, 8, 8]}\nlayers:\n"


@pytest.mark.parametrize(
    "text",
    [
        _FC + "  - {type: Linear, out_features: 4, noqa: [AC401]}\n",
        _FC + "  - {type: Linear, out_features: 4, noqa: AC401}\n",
        _FC + "  - {type: Linear, out_features: 4, noqa: [ac401]}\n",
        _FC + "  - {type: Linear, out_features: 4}  # noqa: AC401\n",
        _FC + "  - {type: Linear, out_features: 4}  #noqa:AC401\n",
        _FC + "  - type: Linear\n    out_features: 4  # noqa: AC401\n",
        _FC + "  - type: Sequential  # noqa: AC401\n    layers:\n      - {type: Linear, out_features: 4}\n",
        _FC + "  - {type: Sequential, noqa: [AC401], layers: [{type: Linear, out_features: 4}]}\n",
        "# archcheck: noqa: AC401\n" + _FC + "  - {type: Linear, out_features: 4}\n",
        "noqa: [AC401]\n" + _FC + "  - {type: Linear, out_features: 4}\n",
        "noqa: AC401\n" + _FC + "  - {type: Linear, out_features: 4}\n",
        "blocks:\n  Head: {layers: [{type: Linear, out_features: 4}]}\n" + _FC + "  - {type: Head, noqa: [AC401]}\n",
        "blocks:\n  Head: {layers: [{type: Linear, out_features: 4}]}  # noqa: AC401\n" + _FC + "  - Head\n",
    ],
)
def test_noqa_forms_silence_the_code(text):
    assert codes(run(text)) == []


def test_noqa_silences_only_its_layer_and_code():
    res = run(
        _FC + "  - {name: a, type: Linear, out_features: 4}  # noqa: AC404\n"
        "  - {name: b, type: Linear, out_features: 4, inputs: [x]}  # noqa: AC401\n"
    )
    # a: its AC401 stays (the noqa names AC404, unused: AC410); its output is dead (AC305). b: silenced.
    assert sorted((d.code, d.line) for d in res.diagnostics) == [("AC305", 3), ("AC401", 3), ("AC410", 3)]


def test_bare_noqa_silences_nothing_and_says_so():
    res = run(_FC + "  - {type: Linear, out_features: 4}  # noqa\n")
    assert sorted(codes(res)) == ["AC401", "AC409"]
    res = run("# archcheck: noqa\n" + _FC + "  - {type: Linear, out_features: 4}\n")
    assert sorted(codes(res)) == ["AC401", "AC409"]


def test_noqa_never_silences_an_error():
    res = run(_FC + "  - {type: Conv2d, in_channels: 4, out_channels: 4, kernel_size: 1}  # noqa: AC201\n")
    assert not res.ok
    assert sorted(codes(res)) == ["AC201", "AC410"]
    (d,) = [d for d in res.diagnostics if d.code == "AC410"]
    assert "warnings only" in d.message


def test_unknown_code_in_noqa_is_reported():
    res = run(_FC + "  - {type: Linear, out_features: 4, noqa: [AC401, AC999]}\n")
    (d,) = [d for d in res.diagnostics if d.code == "AC410"]
    assert "AC999 is not an archcheck code" in d.message and d.line == 3


def test_noqa_field_in_json():
    res = check(
        load(
            "spec.json",
            text='{"input": {"shape": ["N", 3, 8, 8]}, "noqa": ["AC305"], '
            '"layers": [{"type": "Linear", "out_features": 4, "noqa": ["AC401"]}]}',
        )
    )
    assert sorted(codes(res)) == ["AC410"]  # AC305: nothing to silence
    # JSON has no comments: a noqa comment inside a string is text, not a directive
    text = '{"name": "M", "description": "x # noqa", "input": {"shape": ["N", 3, 8, 8]}, "layers": ["ReLU"]}'
    assert codes(check(load("spec.json", text=text))) == []


def test_bad_noqa_values_are_errors_not_crashes():
    res = run(_FC + "  - {type: Linear, out_features: 4, noqa: 5}\n")
    assert not res.ok and "AC103" in codes(res)
    res = run(_FC + "  - {type: Sequential, noqa: {a: 1}, layers: [ReLU]}\n")
    assert not res.ok and "AC103" in codes(res)
    res = run("noqa: 5\n" + _FC + "  - ReLU\n")
    assert not res.ok and "AC103" in codes(res)
    res = run(_FC.replace("8, 8]}", "8, 8], layout: NCXW}") + "  - ReLU\n")
    assert not res.ok and "AC104" in codes(res)


def test_noqa_on_a_huge_line_is_fast():
    import time

    line = "  - {type: Linear, out_features: 4}  # noqa: " + ", ".join(["AC401"] * 20_000) + "\n"
    t = time.perf_counter()
    res = run(_FC + line)
    assert time.perf_counter() - t < 2.0
    assert codes(res) == []


def test_layout_checks_do_not_import_sympy():
    """Roles are tuples of strings: a spec whose free dims only pass through still never needs sympy."""
    import subprocess

    code = (
        "import sys, archcheck\n"
        "r = archcheck.check(sys.argv[1])\n"
        "assert [d.code for d in r.diagnostics] == ['AC403'] * 3, r.diagnostics\n"
        "print('sympy' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(FIXTURES / "layout_batch_first.yaml")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_a_next_layers_noqa_comment_does_not_reach_back():
    """A block-style layer's span ends where the next item starts: that item's comment is not its own."""
    res = run(
        _FC + "  - name: a\n    type: Linear\n    out_features: 4\n"
        "  - {name: b, type: Linear, out_features: 4, inputs: [x]}  # noqa: AC401\n"
        "outputs: [a, b]\n"
    )
    assert [(d.code, d.path) for d in res.diagnostics] == [("AC401", "a")]
