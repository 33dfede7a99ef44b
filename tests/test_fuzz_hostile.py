"""Fuzzing the ways in: hostile names reaching DOT, SVG, HTML and the terminal, and hostile CLI options.

Names are made of the pieces that broke archcheck before or break tools like it: control
characters and ESC sequences, line breaks (forged `file:line: error` lines, CI workflow
commands `::error ...::`), quotes and backslashes (DOT and Python string syntax), `<...>`
(DOT's HTML-like strings), `]`, `{`, `|` (DOT records), `javascript:` URLs, `<script>` and
`on*=` attributes (HTML), invisible and look-alike characters. Each name is put where a
user's text goes (the spec's name, a layer's name and type, a field, a model input, a free
dim, a block and its param) and the spec goes through every command that prints or writes.

Properties:
* every command exits 0, 1 or 2, in-process without an escaped exception or traceback;
* `validate --format short` prints one line per diagnostic, each starting with the spec's
  file name (no forged line), and no output holds an ESC or another C0/C1 control
  character but the line break (and tab);
* the DOT that `render` writes is read by `dot` without error; the SVG parses, and neither it
  nor the HTML report holds a `javascript:` URL, a `<script>` or an `on*=` attribute;
* hostile CLI option values (`--dim`, `--set`, `--where`, `--sort`, `--random`, `-j`,
  `--depth`, output paths) end as a usage error or a result, never exit 3.

Runs a few dozen derandomized examples in the suite; ARCHCHECK_FUZZ_EXAMPLES=N for a long run
(docs/fuzzing.md).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from test_fuzz import cli, fuzz

ROOT = Path(__file__).resolve().parents[1]
SIMPLE = yaml.safe_load((ROOT / "specs" / "simple_cnn.yaml").read_text(encoding="utf-8"))

PIECES = [
    "\x1b[31m",
    "\x1b]0;pwned\x07",
    "\x1b[2J",
    "\n",
    "\r",
    "\r\n",
    "\x00",
    "\x01",
    "\x7f",
    "\x85",
    "\u2028",
    "\u200b",
    "\u00a0",
    "\u202e",
    "\ufeff",
    "С",  # Cyrillic capital es
    "о",  # Cyrillic small o
    "::error file=x::forged",
    "\nspec.yaml:1:1: error AC999 forged",
    '"',
    "'",
    "\\",
    "\\\\",
    "<",
    ">",
    "<b>",
    "<<x>>",
    "]",
    "[",
    "{",
    "}",
    "|",
    ";",
    "&amp;",
    "&",
    "javascript:alert(1)",
    '<a href="javascript:alert(1)">x</a>',
    "<script>alert(1)</script>",
    '" onload="alert(1)',
    "' onmouseover='alert(1)",
    'URL="javascript:alert(1)"',
    "dpi=3000",
    '"; dpi=3000; x="',
    "-->",
    "%s%n",
    "{}",
    "$x",
    "Conv2d",
    "relu",
    "x",
    "N",
    "floor",
    "a b",
    "é",
    "𝕏",
    "",
]
hostile = st.lists(st.sampled_from(PIECES), min_size=1, max_size=4).map("".join)
# where a name goes: (path into the spec, as a key or as a value)
PLACES = ["name", "layer-name", "type", "field", "input", "dim", "block", "param", "output"]


def place(data: dict[str, Any], where: str, name: str) -> dict[str, Any]:
    """SimpleCNN with ``name`` written at ``where``."""
    d = json.loads(json.dumps(data))
    layers = d["layers"]
    if where == "name":
        d["name"] = name
    elif where == "layer-name":
        layers[0]["name"] = name
        layers[1] = {"type": "ReLU", "inputs": [name]}
    elif where == "type":
        layers[1] = {"type": name}
    elif where == "field":
        layers[3][name] = 3
    elif where == "input":
        d["inputs"] = {name: d.pop("input")}
        layers[0]["inputs"] = [name]
    elif where == "dim":
        d["input"]["shape"] = [name, 1, 28, 28]
    elif where == "block":
        d["blocks"] = {name: {"params": {"c": 16}, "layers": [{"type": "ReLU"}]}}
        layers[1] = {"type": name, "c": 2}
    elif where == "param":
        d["params"] = {name: 16}
        layers[0]["out_channels"] = "$" + name
    elif where == "output":
        d["outputs"] = [name]
    return d


_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]")


def check_terminal(text: str, what: str) -> None:
    bad = _CONTROL.search(text)
    assert bad is None, f"{what}: raw control character {bad.group()!r} in output: {text[:800]!r}"


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.bad: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.bad.append("<script>")
        for k, v in attrs:
            if k.lower().startswith("on"):
                self.bad.append(f"{tag} {k}=")
            if v and "javascript:" in v.replace(" ", "").lower():
                self.bad.append(f"{tag} {k}={v!r}")


def check_html(html: str) -> None:
    p = _Tags()
    p.feed(html)
    assert p.bad == [], p.bad


@fuzz(40)
@given(st.sampled_from(PLACES), hostile)
def test_hostile_names_reach_no_output_raw(tmp_path_factory: pytest.TempPathFactory, where: str, name: str) -> None:
    tmp = tmp_path_factory.mktemp("names")
    spec = tmp / "spec.yaml"
    # JSON text is YAML too; json.dumps escapes every control character, so the name arrives whole
    spec.write_text(json.dumps(place(SIMPLE, where, name)), encoding="utf-8")
    code, out, err = cli("validate", "--format", "short", str(spec))
    for line in out.splitlines():
        assert line.startswith(f"{spec}:"), f"a forged line: {line!r}"
    check_terminal(out + err, "validate --format short")
    code_p, out, err = cli("validate", "--format", "pretty", "--no-color", str(spec))
    assert code_p == code
    check_terminal(out.replace("\t", " ") + err, "validate --format pretty")
    for fmt in ("json", "sarif"):
        _, out, _ = cli("validate", "--format", fmt, str(spec))
        for line in out.splitlines() if fmt == "json" else [out]:
            if line.strip():
                json.loads(line)
    _, out, err = cli("summary", str(spec))
    check_terminal(out + err, "summary")
    dot_code, dot_text, err = cli("render", str(spec), "-o", "-")
    check_terminal(err, "render")
    if dot_code == 0 and shutil.which("dot"):
        p = subprocess.run(["dot", "-Tsvg"], input=dot_text.encode(), capture_output=True, timeout=60)
        assert p.returncode == 0, p.stderr.decode(errors="replace")[:500]
        svg = p.stdout.decode()
        ET.fromstring(svg)  # well-formed
        check_html(svg)
        assert 'dpi="3000"' not in svg and "dpi=3000" not in dot_text.replace('"', "").split("label")[0]
    report = tmp / "report.html"
    r_code, _, err = cli("report", str(spec), "-o", str(report))
    check_terminal(err, "report")
    if r_code == 0 and report.exists():
        check_html(report.read_text(encoding="utf-8"))


# ------------------------------------------------------------------ CLI options

WEIRD = [
    "",
    "=",
    "N=",
    "=4",
    "N=²",
    "N=٣",
    "N=" + "9" * 5000,
    "N=-1",
    "N=0",
    "N=4=4",
    "N=1e3",
    "N=0x10",
    "H=1:²",
    "width=1:10:0",
    "width=10:1",
    "width=1:100000000",
    "width=a,b",
    "width=" + ",".join(["1"] * 5000),
    "conv1.kernel_size=3,5",
    "nope.kernel_size=3",
    "\x1b[31m=1",
    "N\n=4",
]
WHERE = [
    "ok",
    '"a" + 1',
    "-status",
    '"%s%s" % ok',
    '"a" * 3000000000',
    '"%999999999d" % params',
    "2 ** 2 ** 2 ** 2 ** 2",
    "params ** params",
    "[1] * 10**10",
    "__import__('os')",
    "(lambda: 1)()",
    "ok and",
    "macs > 0 or",
    "params // 0",
    "\x1b[31m",
    "not not not ok",
    "'x' in 'y' * 10**9",
]


@fuzz(40)
@given(
    st.lists(st.sampled_from(WEIRD), max_size=3),
    st.one_of(st.none(), st.sampled_from(WHERE)),
    st.one_of(st.none(), st.sampled_from(["params", "macs", "ok", "width", "status", "nope", "", "\x1b"])),
    st.one_of(st.none(), st.sampled_from(["0", "1", "-1", "5", "10000000", "x", "1e3"])),
    st.one_of(st.none(), st.sampled_from(["1", "2", "0", "-1", "60", "x"])),
)
def test_explore_options(
    sets: list[str], where: str | None, sort: str | None, rand: str | None, jobs: str | None
) -> None:
    args = ["explore", str(ROOT / "specs" / "simple_cnn.yaml"), "--format", "json"]
    for s in sets or ["N=1,2"]:
        args += ["--set", s]
    if where is not None:
        args += ["--where", where]
    if sort is not None:
        args += ["--sort", sort]
    if rand is not None:
        args += ["--random", rand]
    args += ["-j", jobs if jobs is not None else "1"]
    code, out, err = cli(*args)
    check_terminal(err, "explore")


@fuzz(30)
@given(
    st.sampled_from(["validate", "summary", "generate", "render"]),
    st.lists(st.sampled_from(WEIRD), min_size=1, max_size=2),
    st.one_of(st.none(), st.sampled_from(["-1", "0", "1", "999999999999999999999", "x"])),
)
def test_dim_and_depth_options(command: str, dims: list[str], depth: str | None) -> None:
    args = [command, str(ROOT / "specs" / "simple_cnn.yaml")]
    for d in dims:
        args += ["--dim", d]
    if command == "render":
        args += ["-o", "-"]
        if depth is not None:
            args += ["--depth", depth]
    cli(*args)


OUT_PATHS = [
    "{tmp}/missing/dir/x.{ext}",
    "{tmp}",
    "/dev/full",
    "{tmp}/" + "n" * 300 + ".{ext}",
    "{tmp}/exists.{ext}",
    "{tmp}/dangling.{ext}",
    "{spec}",
    "-",
    "{tmp}/ok.{ext}",
]


@fuzz(40)
@given(
    st.sampled_from([("generate", "py"), ("render", "svg"), ("render", "dot"), ("report", "html"), ("schema", "json")]),
    st.sampled_from(OUT_PATHS),
    st.booleans(),
)
def test_output_paths(tmp_path_factory: pytest.TempPathFactory, cmd: tuple[str, str], out: str, force: bool) -> None:
    tmp = tmp_path_factory.mktemp("out")
    spec = tmp / "spec.yaml"
    text = (ROOT / "specs" / "simple_cnn.yaml").read_text(encoding="utf-8")
    spec.write_text(text, encoding="utf-8")
    (tmp / "exists.py").write_text("keep"), (tmp / "exists.svg").write_text("keep")
    (tmp / "exists.dot").write_text("keep"), (tmp / "exists.html").write_text("keep")
    (tmp / "exists.json").write_text("keep")
    (tmp / f"dangling.{cmd[1]}").symlink_to(tmp / "nowhere")
    name, ext = cmd
    path = out.format(tmp=tmp, ext=ext, spec=spec)
    args = [name] + ([str(spec)] if name != "schema" else []) + ["-o", path] + (["--force"] if force else [])
    code, _, err = cli(*args)
    check_terminal(err, name)
    if name != "schema":  # schema reads no spec: there spec.yaml is just a file, which --force may replace
        assert spec.read_text(encoding="utf-8") == text, "the input spec was overwritten"
    if "exists" in out and not force:
        assert code == 2 and (tmp / f"exists.{ext}").read_text() == "keep", "an existing file was overwritten"
    if "dangling" in out and not force:
        assert code == 2 and not (tmp / "nowhere").exists()
    if out in ("{tmp}", "/dev/full") or "missing" in out or "nnnn" in out:
        assert code == 2, (path, code, err)
