"""Hostile text: control characters, invisible and look-alike characters, YAML 1.1 numbers,
lone surrogates, FIFOs and devices as spec paths, names that reach sympy, 50,000 errors.

Subprocess cases go through the shared harness (exit code, wall time, peak memory, no
traceback); the text functions and the loader are also checked in-process.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
import threading
import time
from pathlib import Path

import pytest
from hostile_util import run_cli

from archcheck import api
from archcheck.diagnostics.codes import Diagnostic, did_you_mean, render_pretty, render_short
from archcheck.diagnostics.text import escape, shown, skeleton, unusual
from archcheck.emit.report import MAX_SHOWN, render_text
from archcheck.spec import loader

HEAD = "name: M\ninput: {shape: [N, 3, 8, 8]}\nlayers:\n"
FORMATS = ("short", "pretty", "json", "sarif", "text")
# What must never reach the output raw: C0/C1 controls but \n, and the invisible format characters.
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff\u00a0]")


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def diags(stdout: str) -> list[dict]:
    return [d for line in stdout.splitlines() if line.startswith("{") for d in json.loads(line)["diagnostics"]]


# ------------------------------------------------------------ escaping, in-process


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Re\x01LU", "Re\\x01LU"),
        ("a\nb\rc\td", "a\\nb\\rc\\td"),
        ("\x1b[31mred", "\\x1b[31mred"),
        ("Conv2d\u200b", "Conv2d\\u200b"),
        ("ReLU\u00a0", "ReLU\\xa0"),
        ("\u202eULeR", "\\u202eULeR"),
        ("\ufeffReLU", "\\ufeffReLU"),
        ("x\u2028y", "x\\u2028y"),
        ("bad\udcff", "bad\\udcff"),  # a file name that was not UTF-8 (surrogateescape)
        ("\U000e0041tag", "\\U000e0041tag"),
        ("plain ascii: ok", "plain ascii: ok"),
        ("Сonv2d", "Сonv2d"),  # printable: shown as is (and named, see below)
    ],
)
def test_escape(raw, expected):
    assert escape(raw) == expected
    assert escape(expected) == expected  # idempotent
    assert escape(raw).isprintable()


def test_shown_names_invisible_and_lookalike_characters():
    assert shown("unknown layer type 'Conv2d\u200b'") == (
        "unknown layer type 'Conv2d\\u200b' (contains U+200B ZERO WIDTH SPACE)"
    )
    text = shown("unknown layer type '\u0421onv2d'")
    assert "contains U+0421 CYRILLIC CAPITAL LETTER ES, which looks like Latin 'C'" in text
    assert "U+03BF GREEK SMALL LETTER OMICRON, which looks like Latin 'o'" in shown("c\u03bfnv")
    assert "U+FF32 FULLWIDTH LATIN CAPITAL LETTER R, which looks like Latin 'R'" in shown("\uff32eLU")
    assert "U+00A0 NO-BREAK SPACE" in shown("ReLU\u00a0")
    assert "U+202E RIGHT-TO-LEFT OVERRIDE" in shown("\u202eULeR")
    assert shown(shown("'\u0421onv2d\u200b'")) == shown("'\u0421onv2d\u200b'")  # idempotent
    # an all-Cyrillic name is a name, not a look-alike; plain ASCII is untouched
    assert unusual("слой") == []
    assert shown("layer conv1") == "layer conv1"


def test_skeleton_and_did_you_mean_see_what_the_text_looks_like():
    assert skeleton("\u0421onv2d\u200b") == "Conv2d"
    assert skeleton("\uff32eLU") == "ReLU"
    types = ["Conv2d", "Linear", "ReLU", "ELU"]
    assert did_you_mean("\u0421onv2d", types) == "Conv2d"
    assert did_you_mean("Conv2d\u200b", types) == "Conv2d"
    assert did_you_mean("\uff32eLU", types) == "ReLU"
    assert did_you_mean("Lin\u0435ar", types) == "Linear"


def test_rendered_diagnostic_has_one_line_per_part_and_no_raw_controls():
    d = Diagnostic(
        "error",
        "AC102",
        "unknown layer type 'Re\x01LU\nspecs/x.yaml:1:1: error AC999 forged\n::error ::pwned\x1b[2J'",
        path="layer\x1b1",
        file="a\nb.yaml",
        line=1,
        column=3,
        end_column=8,
        hint="see\x07 types",
        notes=["note\nwith a newline"],
    )
    d.notes.append("added later\x1b[0m")  # set after creation: escaped where written out
    short = render_short(d)
    assert "\n" not in short and not RAW.search(short)
    assert short.startswith("a\\nb.yaml:1:3: error AC102 [layer\\x1b1] unknown layer type 'Re\\x01LU\\nspecs")
    pretty = render_pretty(d, ['- {type: "Re\x01LU"}'], color=False)
    assert not RAW.search(pretty)
    assert len(pretty.splitlines()) == 8, pretty  # header, -->, |, source, caret, 2 notes, help
    assert "added later\\x1b[0m" in pretty
    js = d.to_json()
    assert js["message"] == d.message and "\\x01" in str(js["message"])  # JSON shows the same text


def test_caret_moves_with_escaped_characters():
    line = 'name: "\u200b\u200b", type: X'
    col = line.index("X") + 1
    d = Diagnostic("error", "AC102", "m", file="f.yaml", line=1, column=col, end_column=col + 1)
    out = render_pretty(d, [line], color=False).splitlines()
    src, caret = out[3], out[4]
    assert src[caret.index("^")] == "X", out


# ------------------------------------------------------------ injection through the CLI


INJECT = (
    HEAD + '  - {type: "Re\\x01LU\\nspecs/x.yaml:1:1: error AC999 forged\\n::error file=a::pwned\\e[31m"}\n'
    '  - {type: Conv2d, out_channels: 4, kernel_size: 3, "bad\\nfield\\e[2J": 2}\n'
)


@pytest.mark.parametrize("fmt", FORMATS)
def test_spec_text_cannot_forge_lines_or_reach_the_terminal(tmp_path, fmt):
    p = write(tmp_path, INJECT)
    r = run_cli("validate", "--format", fmt, p).assert_clean(codes=(1,))
    assert not RAW.search(r.stdout), r.stdout
    for line in r.stdout.splitlines():
        assert not line.startswith(("specs/x.yaml", "::error")), line
    if fmt == "short":
        assert all(line.startswith(str(p)) for line in r.stdout.splitlines()), r.stdout
        assert len(r.stdout.splitlines()) == 2  # the two findings
    if fmt == "json":
        msgs = [d["message"] for d in diags(r.stdout)]
        assert "unknown layer type 'Re\\x01LU\\nspecs/x.yaml:1:1: error AC999 forged\\n::error" in msgs[0]
        assert "unknown field 'bad\\nfield\\x1b[2J'" in msgs[1]
    if fmt == "sarif":
        results = json.loads(r.stdout)["runs"][0]["results"]
        assert all("\x1b" not in res["message"]["text"] for res in results)
        assert "'Re\\x01LU\\nspecs" in results[0]["message"]["text"]


def test_spec_name_with_controls_is_escaped_in_the_verdict(tmp_path):
    p = write(tmp_path, 'name: "M\\e]0;title\\a\\nx.yaml: ok"\ninput: {shape: [N, 3]}\nlayers: [ReLU]\n')
    r = run_cli("validate", "--format", "text", p).assert_clean(codes=(1,))  # piped: findings and the verdict
    assert not RAW.search(r.stdout)
    assert "M\\x1b]0;title\\x07\\nx.yaml: ok" in r.stdout.splitlines()[-1]
    assert len(r.stdout.splitlines()) == 2


@pytest.mark.parametrize("fmt", FORMATS)
def test_file_name_with_newline_and_escape_is_shown_escaped(tmp_path, fmt):
    p = write(tmp_path, HEAD + "  - {type: Linaer}\n", "a\n::error file=x::forged\x1b[2J.yaml")
    r = run_cli("validate", "--format", fmt, p).assert_clean(codes=(1,))
    assert not RAW.search(r.stdout), r.stdout
    assert not any(line.startswith("::error") for line in r.stdout.splitlines())
    if fmt in ("short", "pretty", "text"):
        assert "a\\n::error file=x::forged\\x1b[2J.yaml" in r.stdout
    if fmt == "json":  # JSON keeps the real name (JSON-escaped): a tool can open the file
        assert json.loads(r.stdout.splitlines()[0])["spec"] == str(p)
    if fmt == "sarif":
        uri = json.loads(r.stdout)["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
        assert "%0A" in uri["uri"] and "%1B" in uri["uri"]


@pytest.mark.skipif(sys.platform != "linux", reason="a file name that is not UTF-8 needs a Linux file system")
def test_file_name_that_is_not_utf8(tmp_path):
    raw = os.fsencode(str(tmp_path)) + b"/bad\xff.yaml"
    with open(raw, "w", encoding="utf-8") as f:
        f.write(HEAD + "  - {type: Linaer}\n")
    for fmt in ("short", "pretty", "json", "sarif"):
        r = run_cli("validate", "--format", fmt, os.fsdecode(raw)).assert_clean(codes=(1,))
        assert "AC102" in r.stdout


def test_lookalike_and_invisible_names_are_named_and_suggested(tmp_path):
    text = HEAD + (
        '  - {type: "\\u0421onv2d", out_channels: 4, kernel_size: 3}\n'
        '  - {type: "Conv2d\\u200b", out_channels: 4, kernel_size: 3}\n'
        '  - {type: "ReLU\\u00a0"}\n'
        '  - {type: "\\ufeffReLU"}\n'
        '  - {type: Conv2d, out_channels: 4, kernel_size: 3, "p\\u0430dding": 1}\n'
    )
    r = run_cli("validate", "--format", "json", write(tmp_path, text)).assert_clean(codes=(1,))
    ds = diags(r.stdout)
    assert [d["code"] for d in ds] == ["AC102", "AC102", "AC102", "AC102", "AC101"]
    assert "which looks like Latin 'C'" in ds[0]["message"] and "Conv2d" in ds[0]["hint"]
    assert ds[1]["message"] == "unknown layer type 'Conv2d\\u200b' (contains U+200B ZERO WIDTH SPACE)"
    assert "U+00A0 NO-BREAK SPACE" in ds[2]["message"] and "'ReLU'" in ds[2]["hint"]
    assert "U+FEFF" in ds[3]["message"] and "'ReLU'" in ds[3]["hint"]
    assert "U+0430 CYRILLIC SMALL LETTER A, which looks like Latin 'a'" in ds[4]["message"]
    assert "'padding'" in ds[4]["hint"]


# ------------------------------------------------------------ YAML 1.1 numbers and booleans


@pytest.mark.parametrize(
    "value, code, fix",
    [
        ("010", "AC007", "write 10"),
        ("-010", "AC007", "write -10"),
        ("1:30", "AC007", "write 90"),
        ("0b101", "AC007", "write 5"),
        ("1_000", "AC007", "write 1000"),
        ("0x1_F", "AC007", "write 31"),
        ("yes", "AC008", "write true"),
        ("Off", "AC008", "write false"),
        ("ON", "AC008", "write true"),
        ("no", "AC008", "write false"),
    ],
)
def test_yaml11_forms_are_errors_at_the_value(tmp_path, value, code, fix):
    field = "bias" if code == "AC008" else "out_features"
    line = f"  - {{type: Linear, out_features: 4, {field}: {value}}}\n".replace(
        "out_features: 4, out_features", "out_features"
    )
    r = run_cli("validate", "--format", "json", write(tmp_path, HEAD + "  - Flatten\n" + line))
    r.assert_clean(codes=(1,))
    (d,) = diags(r.stdout)
    assert d["code"] == code
    assert (d["line"], d["column"]) == (5, line.index(value) + 1)
    assert d["hint"].startswith(fix) and "quote" in d["hint"]


@pytest.mark.parametrize("value", ["1:2.5", "1_0.5"])
def test_yaml11_floats_are_errors(value):
    src = loader.load_text(HEAD + f"  - {{type: Dropout, p: {value}}}\n", "s.yaml")
    assert [d.code for d in src.diagnostics] == ["AC007"]


@pytest.mark.parametrize(
    "value, expected",
    [("0x1F", 31), ("0o17", 15), ("-0o17", -15), ("007", 7), ("0", 0), ("+12", 12), ("true", True)]
    + [("FALSE", False), ("True", True), ("1e-5", 1e-5), (".5", 0.5), ("'010'", "010"), ('"yes"', "yes")],
)
def test_yaml12_forms_are_read(value, expected):
    src = loader.load_text(f"v: {value}\n", "s.yaml")
    assert src.diagnostics == []
    assert src.data["v"] == expected and type(src.data["v"]) is type(expected)


def test_yaml11_forms_never_reach_generate(tmp_path):
    p = write(tmp_path, HEAD + "  - Flatten\n  - {type: Linear, out_features: 010}\n")
    r = run_cli("generate", p).assert_clean(codes=(1,))
    assert "nn.Linear" not in r.stdout


# ------------------------------------------------------------ lone surrogates


def test_json_lone_surrogate_escape_is_located(tmp_path):
    text = '{"input": {"shape": ["N", 4]}, "layers": [{"type": "Linear\\ud800", "out_features": 3}]}'
    for fmt in ("json", "short", "pretty", "sarif"):
        r = run_cli("validate", "--format", fmt, write(tmp_path, text, "s.json")).assert_clean(codes=(1,))
        assert "AC002" in r.stdout
    (d,) = diags(run_cli("validate", "--format", "json", tmp_path / "s.json").stdout)
    assert (d["line"], d["column"]) == (1, text.index("\\ud800") + 1)


@pytest.mark.parametrize("esc", ["\\udc00", "\\ud83d", "\\ud83d\\u0041", "\\\\\\ud800"])
def test_json_lone_surrogate_forms(esc):
    src = loader.load_text('{"name": "M' + esc + '", "layers": []}', "s.json")
    assert [d.code for d in src.diagnostics] == ["AC002"], src.diagnostics


@pytest.mark.parametrize("esc", ["\\ud83d\\ude00", "\\\\ud800"])  # a pair; an escaped backslash then text
def test_json_surrogate_pairs_and_escaped_backslashes_are_fine(esc):
    src = loader.load_text('{"name": "M' + esc + '", "layers": []}', "s.json")
    assert src.diagnostics == [], src.diagnostics


# ------------------------------------------------------------ FIFOs, devices, directories


def _fifo(tmp_path: Path) -> Path:
    p = tmp_path / "pipe.yaml"
    os.mkfifo(p)
    return p


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("cmd", ["validate", "summary", "generate", "verify"])
def test_fifo_spec_is_a_usage_error(tmp_path, cmd):
    r = run_cli(cmd, _fifo(tmp_path), timeout=20).assert_clean(codes=(2,))
    assert "named pipe (FIFO), not a spec file" in r.stderr


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_device_and_directory_are_usage_errors(tmp_path):
    r = run_cli("validate", "/dev/zero").assert_clean(codes=(2,))
    assert "character device" in r.stderr
    r = run_cli("validate", tmp_path).assert_clean(codes=(2,))
    assert "directory" in r.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_loader_refuses_a_fifo_without_blocking(tmp_path):
    p = _fifo(tmp_path)
    box: list[object] = []
    t = threading.Thread(target=lambda: box.append(loader.load_file(str(p))), daemon=True)
    t.start()
    t.join(5)
    assert box, "load_file blocked on a FIFO"
    src = box[0]
    assert isinstance(src, loader.Source)
    assert [d.code for d in src.diagnostics] == ["AC002"]
    assert "named pipe" in src.diagnostics[0].message
    assert stat.S_ISFIFO(os.stat(p).st_mode)
    for path, what in (("/dev/null", "character device"), (str(tmp_path), "directory")):
        if os.path.exists(path):
            assert what in loader.load_file(path).diagnostics[0].message


# ------------------------------------------------------------ spec content that crashed (exit 3)


def test_empty_inputs_with_a_block_without_inputs(tmp_path):
    text = "name: M\ninputs: {}\nblocks:\n  B: {inputs: [], layers: [ReLU]}\nlayers:\n  - {type: B}\n"
    for cmd in ("validate", "generate", "summary"):
        run_cli(cmd, write(tmp_path, text)).assert_clean(codes=(1,))
    (a, b) = diags(run_cli("validate", "--format", "json", tmp_path / "spec.yaml").stdout)
    assert (a["code"], a["line"]) == ("AC104", 2) and (b["code"], b["line"]) == ("AC104", 4)


def test_block_without_inputs_alone(tmp_path):
    text = HEAD + "  - {type: B}\nblocks:\n  B: {inputs: [], layers: [ReLU]}\n"
    (d,) = diags(run_cli("validate", "--format", "json", write(tmp_path, text)).assert_clean(codes=(1,)).stdout)
    assert d["code"] == "AC104" and d["line"] == 6


# Names that sympy's printers, lambdify's namespace or its parser would read as something else.
SYMPY_NAMES = ["floor", "ceiling", "Mod", "Max", "Min", "sin", "E", "I", "S", "N", "Q", "pi", "oo", "zoo", "nan"]
SYMPY_NAMES += ["lambda", "math", "Symbol", "Integer", "Rational", "sqrt", "exp", "log", "Abs", "x", "_Dummy_1"]


@pytest.mark.parametrize("name", SYMPY_NAMES)
def test_free_dim_named_like_a_sympy_function(name):
    # a merge whose condition is solved for the dim: floor((H + 1)/2) == H holds only for H = 1
    spec = {
        "name": "M",
        "input": {"shape": ["N", 3, name, 8] if name != "N" else ["N", 3, "N", 8]},
        "layers": [
            {"name": "a", "type": "Conv2d", "out_channels": 3, "kernel_size": 3, "stride": 2, "padding": 1},
            {"name": "b", "type": "Add", "inputs": ["a", "x"]},
        ],
    }
    res = api.check(spec)
    codes = [d.code for d in res.diagnostics]
    assert "AC901" not in codes
    assert any(d.code in ("AC306", "AC307") and name in d.message for d in res.diagnostics), res.diagnostics


def test_free_dim_floor_through_the_cli(tmp_path):
    text = (
        "name: M\ninput: {shape: [N, 3, floor, sin]}\nlayers:\n"
        "  - {name: a, type: Conv2d, out_channels: 3, kernel_size: 3, stride: 2, padding: 1}\n"
        "  - {name: b, type: Add, inputs: [a, x]}\n"
    )
    p = write(tmp_path, text)
    for args in (("validate",), ("summary",), ("explore", "--set", "floor=2,4")):
        run_cli(*args, p).assert_clean(codes=(0, 1))


def test_input_named_with_a_trailing_backslash(tmp_path):
    text = 'name: M\ninputs: {"a\\\\": {shape: [N, 4]}}\nlayers:\n  - {type: ReLU, inputs: ["a\\\\"]}\n'
    p = write(tmp_path, text)
    for cmd in ("validate", "generate", "summary"):
        r = run_cli(cmd, p).assert_clean(codes=(1,))
    assert "'a\\' is not a Python identifier" in r.output or "AC107" in r.output
    r = run_cli("validate", "--format", "json", p)
    assert "AC107" in [d["code"] for d in diags(r.stdout)]


# ------------------------------------------------------------ 50,000 errors


def _many_errors(n: int) -> str:
    return HEAD + "".join("  - {type: Linaer}\n" if i % 2 else "  - Conv2e\n" for i in range(n))


def test_50k_errors_in_process_cpu_time():
    t = time.process_time()
    res = api.check(api.load("many.yaml", text=_many_errors(50_000)))
    text = render_text(res, pretty=True, color=False, table=True)
    cpu = time.process_time() - t
    assert len(res.diagnostics) == 50_000
    assert f"... and {50_000 - MAX_SHOWN:,} more diagnostics not shown" in text
    assert text.count("error[AC102]") == MAX_SHOWN
    assert cpu < 10, f"{cpu:.1f} s of CPU for 50,000 errors"


@pytest.mark.parametrize("fmt", ["json", "pretty", "short"])
def test_50k_errors_report_in_seconds(tmp_path, fmt):
    p = write(tmp_path, _many_errors(50_000))
    # the wall-clock bound is loose: the suite runs on a shared, loaded machine (about 3 s of CPU)
    r = run_cli("validate", "--format", fmt, p, timeout=120).assert_clean(codes=(1,), max_seconds=60)
    if fmt == "json":
        assert len(diags(r.stdout)) == 50_000  # JSON lists every one
    elif fmt == "short":  # one line per finding, for problem matchers: all of them
        assert len(r.stdout.splitlines()) == 50_000
    else:
        assert f"and {50_000 - MAX_SHOWN:,} more diagnostics not shown" in r.stdout
        assert "50000 errors" in r.stdout.splitlines()[-1]


# ------------------------------------------------------------ file names and values in the CLI's own messages

WEIRD = "o\n::error file=x::forged\x1b[31m"


def test_output_file_name_is_escaped_in_messages(tmp_path):
    spec = write(tmp_path, HEAD + "  - ReLU\n")
    r = run_cli("render", spec, "-o", tmp_path / (WEIRD + ".dot")).assert_clean(codes=(0, 1, 2))
    assert not RAW.search(r.output), r.output
    assert not any(line.startswith("::error") for line in r.output.splitlines())
    out = tmp_path / (WEIRD + ".py")
    out.write_text("x = 1\n", encoding="utf-8")  # exists: refused, and the message names it escaped
    r = run_cli("generate", spec, "-o", out).assert_clean(codes=(2,))
    assert not RAW.search(r.output) and "\\x1b[31m" in r.output, r.output


def test_explore_table_escapes_values_from_the_command_line():
    r = run_cli("explore", "specs/simple_cnn.yaml", "--set", "conv1.padding_mode=zeros,a\x1b[31mb")
    r.assert_clean(codes=(0, 1))
    assert not RAW.search(r.stdout) and "a\\x1b[31mb" in r.stdout, r.stdout


def test_param_named_like_a_keyword_is_refused_at_its_name(tmp_path):
    # a sibling of the sympy names: a param name reaches the $ expression parser
    text = 'name: M\nparams: {class: 2}\ninput: {shape: [N, 3]}\nlayers:\n  - {type: Linear, out_features: "$class"}\n'
    r = run_cli("validate", "--format", "json", write(tmp_path, text)).assert_clean(codes=(1,))
    d = diags(r.stdout)[0]
    assert (d["code"], d["line"], d["column"]) == ("AC107", 2, 10) and "keyword" in d["message"]
