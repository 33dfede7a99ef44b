"""Hostile specs for `archcheck render` and `archcheck report` (issue 10).

* No text from a spec is ever DOT syntax: a name built to close a quote or an
  HTML-like string and add statements (a ``javascript:`` URL, ``dpi=3000``)
  stays text. Checked on the DOT itself (parsed back by the real ``dot``: only
  the generated node ids, the expected number of boxes, no attribute the
  renderer does not set), on the SVG (parsed as XML: the name shows as text, no
  link) and on the HTML report (parsed: no script, no ``on*=``, no link; the
  marker in each hostile name appears only as text).
* Control characters and other invisible characters show escaped (``\\x01``)
  and never make ``dot`` fail (that was exit 3).
* Diagrams too large for ``dot`` are refused (exit 2) with the size and the
  limit; a PNG's pixels are bounded.

Every CLI run goes through ``hostile_util.run_cli`` (a subprocess; exit code,
time under 5 s and peak memory under 500 MB asserted by ``assert_clean``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import run_cli as run_in_process
from hostile_util import SPECS, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archcheck import check
from archcheck.diagnostics.text import escape
from archcheck.emit import diagram as R
from archcheck.emit.htmlreport import build
from archcheck.layers.base import Tensor

# Examples per fuzz test: few in the suite, more for a long run (see docs/fuzzing.md).
FUZZ_EXAMPLES = int(os.environ.get("ARCHCHECK_FUZZ_EXAMPLES", "40"))
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")
SVG_NS = "{http://www.w3.org/2000/svg}"

# Each hostile name carries a marker (MKnn) that must end up as text and nowhere else.
HOSTILE = [
    '<MK01>]; a [URL="javascript:alert(1)"]; graph [dpi=3000]; b=<y>',  # the issue's: an HTML-like id
    'MK02"]; evil [URL="javascript:alert(2)" dpi=3000]; x=["',  # closes a quoted string
    "MK03\\",  # a trailing backslash would escape the closing quote
    'MK04\\"]; graph [dpi=3000]; z=["',  # backslash-quote
    'MK05\nnode [URL="javascript:alert(5)"]',  # a newline
    "MK06\x01\x1b[31m\x7f",  # control characters and an ESC sequence
    "MK07]{|}<>&amp;&lt;",  # record-label and HTML specials
    "<<b>MK08</b>>",  # a ready-made HTML-like label
    "<script>alert('MK09')</script>",
    'MK10 <a href="javascript:alert(10)" onclick="x()">link</a>',
    "MK11\u202e\u200b\u2028",  # bidi override, zero-width space, line separator
]
MARKERS = [re.search(r"MK\d\d", h).group(0) for h in HOSTILE]

# What the renderer sets (and dot's layout adds): any other attribute came from a spec.
ALLOWED_ATTRS = {
    # set by archcheck.emit.diagram
    "label", "labeljust", "labelloc", "fontsize", "fontname", "fontcolor", "style", "color", "penwidth",
    "shape", "fillcolor", "width", "height", "peripheries", "rank", "dir", "constraint", "arrowhead",
    "arrowsize", "margin", "bgcolor", "newrank", "nodesep", "ranksep", "rankdir", "nslimit",
    # added by the layout (-Tjson0)
    "bb", "pos", "lp", "lheight", "lwidth", "xlp", "head_lp", "tail_lp",
}  # fmt: skip
JSON_KEYS = {"name", "directed", "strict", "_subgraph_cnt", "objects", "edges", "_gvid", "subgraphs", "nodes"}
JSON_KEYS |= {"tail", "head"}
NODE_ID = re.compile(r"n\d+|note\d+|note_spec|legend")


def _q(s: str) -> str:
    """A YAML double-quoted scalar for ``s`` (JSON's escapes are YAML's)."""
    return json.dumps(s, ensure_ascii=True)


def _specs(name: str) -> dict[str, str]:
    """Specs with ``name`` in every place a name reaches the diagram."""
    q = _q(name)
    return {
        "spec name": f"name: {q}\ninput: {{shape: [N, 4]}}\nlayers:\n  - {{name: fc, type: Linear, out_features: 3}}\n",
        "layer name": (
            f"name: Net\ninput: {{shape: [N, 4]}}\nlayers:\n  - {{name: {q}, type: Linear, out_features: 3}}\n"
            "  - {name: fc2, type: Linear, out_features: 2}\n"
        ),
        "type name": f"name: Net\ninput: {{shape: [N, 4]}}\nlayers:\n  - {{name: fc, type: {q}}}\n",
        "input name": f"name: Net\ninput: {{name: {q}, shape: [N, 4]}}\nlayers:\n  - {{name: fc, type: Linear, out_features: 3}}\n",
        "block param": (
            "name: Net\ninput: {shape: [N, 4]}\nblocks:\n  B:\n    params: {w: 3}\n    layers:\n"
            "      - {name: l, type: Linear, out_features: 3}\n      - {name: m, type: ReLU}\n"
            f"layers:\n  - {{name: b1, type: B, w: {q}}}\n"
        ),
        "block name": (
            f"name: Net\ninput: {{shape: [N, 4]}}\nblocks:\n  {q}:\n    layers:\n"
            f"      - {{name: l, type: Linear, out_features: 3}}\nlayers:\n  - {{name: b1, type: {q}}}\n"
        ),
        "dim name": f"name: Net\ninput: {{shape: [N, {q}]}}\nlayers:\n  - {{name: fc, type: Linear, out_features: 3}}\n",
    }


CASES = [(where, i) for i in range(len(HOSTILE)) for where in _specs("x")]


def _write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def _layout_json(dot_text: str) -> dict:
    """The DOT parsed back by the real dot (``-Tjson0``): graph, objects and edges."""
    out = subprocess.run(["dot", "-Tjson0"], input=dot_text.encode(), capture_output=True, timeout=60, check=True)
    return json.loads(out.stdout)


def _attr_names(obj: dict) -> set[str]:
    return {k for k in obj if k not in JSON_KEYS}


# ---------------------------------------------------------------- the DOT source


def _assert_dot_is_ours(spec: Path, dot: str) -> None:
    """``dot`` (the DOT text drawn for ``spec``, expanded) holds only what the renderer writes."""
    assert dot.startswith("digraph ") and "\x01" not in dot and "\x1b" not in dot
    g = _layout_json(dot)  # it parses: no syntax broken
    assert re.fullmatch(r"[A-Za-z_]\w*", g["name"]), g["name"]
    assert _attr_names(g) <= ALLOWED_ATTRS, _attr_names(g) - ALLOWED_ATTRS
    objs = g.get("objects", [])
    nodes = [o for o in objs if "nodes" not in o and "subgraphs" not in o and not o["name"].startswith("cluster")]
    clusters = [o for o in objs if o["name"].startswith("cluster")]
    for o in objs:
        assert _attr_names(o) <= ALLOWED_ATTRS, (o["name"], _attr_names(o) - ALLOWED_ATTRS)
        assert "javascript:" not in json.dumps({k: v for k, v in o.items() if k != "label"})
    for e in g.get("edges", []):
        assert _attr_names(e) <= ALLOWED_ATTRS, _attr_names(e) - ALLOWED_ATTRS
    assert all(NODE_ID.fullmatch(n["name"]) for n in nodes), [n["name"] for n in nodes]
    assert all(re.fullmatch(r"cluster\d+", c["name"]) for c in clusters)
    # Exactly the boxes the plan draws, and one edge per planned edge (plus note edges).
    p = R.plan(check(spec), expand=True)
    assert sum(bool(re.fullmatch(r"n\d+", n["name"])) for n in nodes) == len(p.boxes)
    assert len(clusters) == p.clusters
    note_edges = sum(1 for b in p.boxes.values() if b.diagnostics)
    assert len(g.get("edges", [])) == len(p.edges) + note_edges
    assert "dpi" not in g and not {"URL", "href", "tooltip", "target", "size", "ratio"} & {
        k for o in [g, *objs, *g.get("edges", [])] for k in o
    }


@needs_dot
@pytest.mark.parametrize(("where", "i"), CASES, ids=[f"{w}-{MARKERS[i]}" for w, i in CASES])
def test_no_statement_injected_into_dot(tmp_path, where, i):
    spec = _write(tmp_path, _specs(HOSTILE[i])[where])
    _assert_dot_is_ours(spec, R.to_dot(check(spec), expand=True))


@needs_dot
@pytest.mark.parametrize("i", range(len(HOSTILE)), ids=MARKERS)
def test_render_cli_with_hostile_names(tmp_path, i):
    """The CLI end to end (a subprocess, measured), the name in the spec's name and a type."""
    name = HOSTILE[i]
    text = _specs(name)["spec name"] + f"  - {{name: bad, type: {_q(name)}}}\n"
    spec = _write(tmp_path, text)
    r = run_cli("render", str(spec), "-o", "-", "--expand").assert_clean(codes=(1,))
    _assert_dot_is_ours(spec, r.stdout)
    assert "internal error" not in r.output


def test_names_never_become_dot_ids():
    """Node ids are generated; the graph's name is the spec's only when it is a plain identifier."""
    res = check(SPECS / "simple_cnn.yaml")
    dot = R.to_dot(res)
    assert dot.startswith("digraph SimpleCNN {")
    ids = [i for i in re.findall(r"^\t(\S+) \[", dot, flags=re.M) if i not in ("graph", "node", "edge")]
    assert ids and all(NODE_ID.fullmatch(i) for i in ids), ids
    for bad in ['a"b', "a\\", "<a>", "graph", "Node", "1abc", "a b", "é"]:
        assert R.graph_name(bad) == "archcheck", bad
    assert R.graph_name("My_Net2") == "My_Net2"


def test_visible_escapes_what_would_not_show():
    assert escape("Re\x01LU") == "Re\\x01LU"
    assert escape("a\nb\tc\r") == "a\\nb\\tc\\r"
    assert escape("a\x1b[31m\x7f\x85") == "a\\x1b[31m\\x7f\\x85"
    assert escape("zero\u200bwidth\u202e\u2028") == "zero\\u200bwidth\\u202e\\u2028"
    assert escape("\ud800\U000e0001") == "\\ud800\\U000e0001"
    assert escape("plain ünïcødé ×→ a\\b") == "plain ünïcødé ×→ a\\b"  # printable text is untouched


# ---------------------------------------------------------------- the SVG

# Short names (each fits one line of a box or the title) with every troublesome character.
RENDERABLE = ["MK21\\", 'MK22"q"', "MK23<lt>", "MK24]]", "MK25\nnl", "MK26\x01\x02", "MK27{|}", "MK28&amp;"]
RENDERABLE += ["MK29\\N\\G\\l", "MK30\\\\x"]  # dot's escapes: \N would draw the node id, \\ one backslash


@needs_dot
@pytest.mark.parametrize("name", RENDERABLE, ids=[n[:4] for n in RENDERABLE])
def test_svg_renders_the_name_as_text(tmp_path, name):
    spec = _write(
        tmp_path,
        f"name: {_q(name)}\ninput: {{shape: [N, 4]}}\nlayers:\n  - {{name: fc, type: {_q(name)}}}\n",
    )
    out = tmp_path / "net.svg"
    r = run_cli("render", str(spec), "-o", str(out)).assert_clean(codes=(1,))  # the type is unknown: exit 1
    assert "internal error" not in r.output
    root = ET.parse(out).getroot()  # well-formed XML (a raw \x01 would not be)
    texts = [t.text or "" for t in root.iter(SVG_NS + "text")]
    shown = escape(name)
    assert any(t.startswith(shown + " — ") for t in texts), texts  # the title: "NAME — 1 error"
    assert shown in texts, texts  # the type, on the box
    for el in root.iter():
        for k, v in el.attrib.items():
            assert "href" not in k and "javascript:" not in v, (k, v)


@needs_dot
def test_control_characters_in_a_type_name_render_and_report(tmp_path):
    spec = _write(tmp_path, 'name: Net\ninput: {shape: [N, 4]}\nlayers:\n  - {name: fc, type: "Re\\x01LU"}\n')
    svg = tmp_path / "net.svg"
    r = run_cli("render", str(spec), "-o", str(svg)).assert_clean(codes=(1,))
    assert "internal error" not in r.output and "\x01" not in r.output
    texts = {t.text for t in ET.parse(svg).getroot().iter(SVG_NS + "text")}
    assert "Re\\x01LU" in texts
    page = tmp_path / "net.html"
    r = run_cli("report", str(spec), "-o", str(page)).assert_clean(codes=(1,))
    assert "internal error" not in r.output
    html = page.read_text(encoding="utf-8")
    assert "\x01" not in html and "Re\\x01LU" in html
    assert run_cli("validate", str(spec)).code == 1


# ---------------------------------------------------------------- the HTML report


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += [(k, v or "") for k, v in attrs]

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        self.text.append(data)


def _assert_page_inert(page: str, markers: list[str]) -> None:
    p = _Page()
    p.feed(page)
    p.close()
    for bad in ("script", "a", "iframe", "object", "embed", "link", "img", "image", "foreignobject", "use"):
        assert bad not in p.tags, bad
    for k, v in p.attrs:
        assert not k.startswith("on"), (k, v)
        assert "javascript:" not in v.lower() and "href" not in k, (k, v)
        for m in markers:
            assert m not in k and m not in v, (m, k, v)  # a marker in an attribute came from the spec
    for t in p.tags:
        assert not any(m.lower() in t for m in markers), t
    text = "".join(p.text)
    for m in markers:
        assert m in text, m  # shown, as text
    assert "<script" not in page.lower()


@needs_dot
@pytest.mark.parametrize("where", list(_specs("x")))
def test_report_holds_no_link_or_script_from_the_spec(tmp_path, where):
    """Every hostile name in every place (in-process, for speed; the subprocess runs below)."""
    for i, name in enumerate(HOSTILE):
        spec = _write(tmp_path, _specs(name)[where], f"s{i}.yaml")
        out = tmp_path / f"r{i}.html"
        r = run_in_process("report", str(spec), "-o", str(out), "--expand")
        assert r.exit_code in (0, 1), r.output
        page = out.read_text(encoding="utf-8")
        _assert_page_inert(page, [MARKERS[i]])


@needs_dot
def test_report_cli_with_all_hostile_names(tmp_path):
    """One spec with every hostile name (spec name, layer types, a block param), end to end."""
    name = "".join(HOSTILE)
    layers = "".join(f"  - {{name: t{i}, type: {_q(h)}, inputs: [x]}}\n" for i, h in enumerate(HOSTILE))
    spec = _write(tmp_path, _specs(name)["spec name"] + layers)
    out = tmp_path / "r.html"
    r = run_cli("report", str(spec), "-o", str(out), "--expand").assert_clean(codes=(1,))
    assert "internal error" not in r.output
    _assert_page_inert(out.read_text(encoding="utf-8"), MARKERS)


def test_explore_report_holds_no_link_or_script_from_the_spec(tmp_path):
    name = HOSTILE[0] + HOSTILE[9] + HOSTILE[5]
    spec = _write(
        tmp_path,
        f"name: {_q(name)}\ninput: {{shape: [N, 4]}}\nparams: {{w: 3}}\n"
        "layers:\n  - {name: fc, type: Linear, out_features: $w}\n",
    )
    out = tmp_path / "explore.html"
    run_cli("explore", str(spec), "--set", "w=2,3", "--report", str(out)).assert_clean(codes=(0, 1))
    page = out.read_text(encoding="utf-8")
    _assert_page_inert(page, ["MK01", "MK10", "MK06"])
    assert "\x01" not in page and "\x1b" not in page


def test_explore_plot_draws_the_name_as_plain_text(tmp_path):
    """matplotlib parses $...$ as mathtext: a spec named 'Net$\\frac{a}{$x' made --plot exit 3."""
    pytest.importorskip("matplotlib")
    spec = _write(
        tmp_path,
        'name: "Net$\\\\frac{a}{$x\\x01"\ninput: {shape: [N, 4]}\nparams: {w: 3}\n'
        "layers:\n  - {name: fc, type: Linear, out_features: $w}\n",
    )
    out = tmp_path / "front.png"
    r = run_cli("explore", str(spec), "--set", "w=2,3", "--plot", str(out)).assert_clean(max_seconds=10, codes=(0, 1))
    assert "internal error" not in r.output
    assert out.read_bytes().startswith(b"\x89PNG")


# ---------------------------------------------------------------- size limits


def _flat(n: int) -> str:
    layers = "".join(f"  - {{name: l{i}, type: Linear, out_features: {4 + i % 3}}}\n" for i in range(n))
    return "name: Flat\ninput: {shape: [N, 4]}\nlayers:\n" + layers


def _nested(blocks: int, per: int) -> str:
    inner = "".join(f"      - {{name: l{i}, type: Linear, out_features: $w}}\n" for i in range(per))
    outer = "".join(f"  - {{name: b{b}, type: B, w: {4 + b}}}\n" for b in range(blocks))  # all different
    return f"name: Nested\ninput: {{shape: [N, 4]}}\nblocks:\n  B:\n    params: {{w: 4}}\n    layers:\n{inner}layers:\n{outer}"


def test_render_refuses_a_diagram_too_large_for_dot(tmp_path):
    n = R.MAX_LAYOUT_COST // 2 + 10  # a chain: about 2 per layer (its box and its edge)
    spec = _write(tmp_path, _flat(n))
    out = tmp_path / "big.svg"
    r = run_cli("render", str(spec), "-o", str(out)).assert_clean(codes=(2,))
    msg = r.one_line_error()
    assert f"{n + 2:,} boxes" in msg and f"{R.MAX_LAYOUT_COST:,}" in msg and "dot" in msg
    assert not out.exists()
    r = run_cli("render", str(spec), "-o", "-").assert_clean(codes=(2,))
    assert r.stdout == ""
    r = run_cli("report", str(spec), "-o", str(tmp_path / "big.html")).assert_clean(codes=(2,))
    assert not (tmp_path / "big.html").exists()


def test_too_large_when_expanded_suggests_depth(tmp_path):
    spec = _write(tmp_path, _nested(60, 15))  # 900 layers in 60 different blocks
    r = run_cli("render", str(spec), "-o", "-", "--expand").assert_clean(codes=(2,))
    assert "--depth" in r.one_line_error()
    r = run_cli("render", str(spec), "-o", "-", "--depth", "0").assert_clean(codes=(0,))
    assert r.stdout.count("peripheries=2") == 60  # 60 collapsed blocks
    auto = run_cli("render", str(spec), "-o", "-").assert_clean(codes=(0,))  # the automatic depth fits
    assert auto.stdout.startswith("digraph Nested")


def test_layout_cost_counts_the_ranks_long_edges_span(write_spec):
    # Every layer takes all the earlier ones: few layers, many long edges.
    n = 12
    layers = "  - {name: l0, type: Linear, out_features: 4}\n" + "".join(
        f"  - {{name: l{i}, type: Add, inputs: [{', '.join(f'l{j}' for j in range(i))}]}}\n" for i in range(1, n)
    )
    dense = R.plan(check(write_spec("name: D\ninput: {shape: [N, 4]}\nlayers:\n" + layers)))
    chain = R.plan(check(write_spec(_flat(n), "chain.yaml")))
    assert len(dense.boxes) == len(chain.boxes)
    assert R.layout_cost(dense) > 4 * R.layout_cost(chain)


def test_big_diagrams_bound_dots_positioning(write_spec):
    small = R.to_dot(check(write_spec(_flat(10))))
    big = R.to_dot(check(write_spec(_flat(R.BIG_LAYOUT_COST // 2 + 10), "big.yaml")))
    assert "nslimit" not in small and "nslimit=0.2" in big


def test_sizes_from_the_spec_are_capped():
    # Huge channel counts and spatial sizes: boxes stay within a few inches.
    w, _ = R.box_size(Tensor((1, 2**62)))
    _, h = R.box_size(Tensor((1, 3, 2**62, 2**62, 2**62)))
    assert w <= 0.9 + 0.32 * 32 + 0.01 and h <= 0.75 + 0.12 * 64 + 0.01
    assert R.channel_bar(2**62) == 6 + 9 * 32


@needs_dot
def test_png_pixels_are_bounded(monkeypatch, tmp_path):
    res = check(SPECS / "resnet18.yaml")
    dot = R.to_dot(res, expand=True)
    assert dot.count("\n") > 150
    full = R.pipe(dot, "png")
    monkeypatch.setattr(R, "PNG_PIXELS", 200_000)
    small = R.pipe(dot, "png")

    def size(png: bytes) -> tuple[int, int]:
        return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")

    fw, fh = size(full)
    sw, sh = size(small)
    assert fw * fh > 200_000 >= sw * sh * 0.98, (size(full), size(small))
    assert abs(sw / sh - fw / fh) < 0.05  # scaled, not cropped


# ---------------------------------------------------------------- fuzzing names


@needs_dot
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.text(
        alphabet=st.one_of(
            st.sampled_from('<>"\\[]{}|;=&#\n\r\t\x00\x01\x1b\x7f\u200b\u202e\u2028 '), st.characters(codec="utf-8")
        ),
        max_size=40,
    )
)
def test_fuzzed_names_stay_text(tmp_path, name):
    """Any text as the spec's name and a layer type: the DOT parses back to only our statements,
    the SVG is well-formed XML that shows the name's first characters, and the HTML report
    built around it holds no script, handler or link."""
    spec = tmp_path / "f.yaml"
    spec.write_text(
        f"name: {_q(name)}\ninput: {{shape: [N, 4]}}\nlayers:\n  - {{name: fc, type: {_q(name)}}}\n", encoding="utf-8"
    )
    res = check(spec)
    dot = R.to_dot(res, expand=True)
    _assert_dot_is_ours(spec, dot)
    root = ET.fromstring(R.pipe(dot, "svg"))
    words = escape(name).split()
    if res.name == name and words:
        texts = "".join(t.text or "" for t in root.iter(SVG_NS + "text"))
        assert words[0][:20] in texts, (words[0], texts)
    page = _Page()
    page.feed(build(res, R.pipe(dot, "svg").decode("utf-8")))
    assert not {"script", "a", "iframe", "object", "embed", "link", "img"} & set(page.tags)
    for k, v in page.attrs:
        assert not k.startswith("on") and "href" not in k and "javascript:" not in v.lower(), (k, v)


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's `dot` is not installed")
@pytest.mark.parametrize("name", ["]", "", "]]", "<b>", "]x"])
def test_label_texts_dot_rejects(tmp_path: Path, name: str) -> None:
    """dot's HTML lexer fails on a text that is just ``]`` and on an empty element (``<b></b>``): found by the
    long fuzz run as an input named ']' (report exited 3). Both draw, in the SVG and in the report."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        json.dumps({"name": "M", "inputs": {name: {"shape": ["N", 3]}}, "layers": [{"type": "ReLU", "inputs": [name]}]})
    )
    for args in (
        ["render", str(spec), "-o", str(tmp_path / "x.svg")],
        ["report", str(spec), "-o", str(tmp_path / "r.html")],
    ):
        r = run_cli(*args)
        assert r.code in (0, 1, 2) and r.code != 3, r.stderr
        assert "internal error" not in r.stderr, r.stderr
    ET.fromstring((tmp_path / "x.svg").read_text())
