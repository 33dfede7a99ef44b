"""`archcheck render` and `archcheck report`: DOT goldens, the SVG's content,
error highlighting, output formats, a missing `dot`, and the HTML page in a
real (headless) browser.

Goldens live in tests/golden/render_*.dot; rewrite them with
`pytest tests/test_render.py --update-goldens` and review the diff.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from browser_util import needs_browser, rgb, screenshot
from conftest import ROOT, SPECS, run_cli

from archcheck import check
from archcheck.emit import diagram as R
from archcheck.emit.htmlreport import build, inline_svg

RENDER_SPECS = Path(__file__).resolve().parent / "render_specs"
GOLDEN = Path(__file__).resolve().parent / "golden"
MINI = RENDER_SPECS / "mini_resnet.yaml"
BROKEN = SPECS / "broken_shapes.yaml"
SIMPLE = SPECS / "simple_cnn.yaml"
SVG_NS = "{http://www.w3.org/2000/svg}"

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")


def _svg(res, **kw) -> ET.Element:
    return ET.fromstring(R.pipe(R.to_dot(res, **kw), "svg"))


def _texts(root: ET.Element) -> set[str]:
    return {(t.text or "").strip() for t in root.iter(SVG_NS + "text")}


def _nodes(root: ET.Element, plan: R.Plan | None = None) -> dict[str, ET.Element]:
    """Graphviz SVG: <g class="node"><title>ID</title>...</g>, by DOT node id, or by box id
    (the layer path) when ``plan`` is given (DOT ids are generated: n0, n1, ...)."""
    back = {v: k for k, v in R.dot_ids(plan).items()} if plan is not None else {}
    out = {}
    for g in root.iter(SVG_NS + "g"):
        if g.get("class") == "node":
            nid = g.find(SVG_NS + "title").text
            out[back.get(nid, nid)] = g
    return out


def _stroke(g: ET.Element) -> tuple[str | None, str | None]:
    for el in g:
        if el.tag in (SVG_NS + "path", SVG_NS + "polygon") and el.get("stroke"):
            return el.get("stroke"), el.get("stroke-width")
    return None, None


# ---------------------------------------------------------------- DOT goldens


@pytest.mark.parametrize(
    ("golden", "spec", "kw"),
    [
        ("render_simple_cnn.dot", SIMPLE, {}),
        ("render_mini_resnet.dot", MINI, {}),
        ("render_mini_resnet_depth0.dot", MINI, {"depth": 0}),
        ("render_mini_resnet_expand.dot", MINI, {"expand": True}),
        ("render_broken_shapes.dot", BROKEN, {}),
    ],
)
def test_dot_golden(golden, spec, kw, update_goldens):
    dot = R.to_dot(check(spec), **kw)
    path = GOLDEN / golden
    if update_goldens or not path.exists():
        path.parent.mkdir(exist_ok=True)
        path.write_text(dot, encoding="utf-8")
        if not update_goldens:
            pytest.fail(f"wrote missing golden {path.name}; review and commit it")
    assert dot == path.read_text(encoding="utf-8"), f"{golden} changed; run pytest --update-goldens and review the diff"


# ---------------------------------------------------------------- what is drawn


def test_plan_collapses_repeats_and_folds_activations():
    res = check(MINI)
    p0 = R.plan(res, depth=0)
    b = p0.boxes["layer1"]
    assert b.kind == "collapsed" and b.subtitle == "Basic ×2"
    assert p0.boxes["conv1"].folded == []  # conv1 feeds bn1, not an activation
    assert p0.boxes["bn1"].folded == ["ReLU"]
    # Expanded: every leaf is drawn, apart from the folded activations.
    full = R.plan(res, expand=True)
    folded = {f"{b.id}+{t}" for b in full.boxes.values() for t in b.folded}
    leaves = list(res.layers)
    drawn = [n for n in leaves if n.path in full.boxes]
    assert len(drawn) + len(folded) == len(leaves)
    # The Add has two in-edges (branch + shortcut).
    assert sum(e.dst == "layer2.add" for e in full.edges) == 2
    assert sum(e.dst == "cat" for e in full.edges) == 2


def test_auto_depth_stays_readable():
    for spec in sorted(SPECS.glob("*.yaml")):
        p = R.plan(check(spec))
        assert p.cost <= R.AUTO_BUDGET or p.depth == 0, spec.name


def test_identical_blocks_merge_into_one_box(write_spec):
    # ResNet's stages: a first block, then identical blocks written out (torchvision's names).
    spec = write_spec(
        "name: Stages\ninput: {shape: [N, 8, 16, 16]}\n"
        "blocks:\n  B:\n    params: {c: 8}\n    layers:\n"
        "      - {name: conv, type: Conv2d, out_channels: $c, kernel_size: 3, padding: 1}\n"
        "      - {type: Add, inputs: [conv, x]}\n"
        "layers:\n  - {name: stage, type: Sequential, layers: [{type: Conv2d, out_channels: 8, kernel_size: 1},"
        " {type: B}, {type: B}, {type: B}]}\n"
    )
    p = R.plan(check(spec), depth=1)
    merged = [b for b in p.boxes.values() if b.run > 1]
    assert [(b.title, b.run, b.subtitle) for b in merged] == [("stage.1–3", 3, "B c=8")]
    # A repeat whose copies would all be collapsed stays one box: "Basic ×2".
    mini = R.plan(check(MINI), depth=1)
    assert mini.boxes["layer1"].subtitle == "Basic ×2"


def test_geometry_encodes_channels_and_spatial_size():
    res = check(SIMPLE)
    p = R.plan(res)
    w_in, h_in = R.box_size(p.boxes["@in.x"].tensor)
    w_c2, h_c2 = R.box_size(p.boxes["conv2"].tensor)
    w_p2, h_p2 = R.box_size(p.boxes["pool2"].tensor)
    assert w_c2 > w_in  # 32 channels wider than 1
    assert h_p2 < h_c2  # 7x7 flatter than 14x14
    assert R.flow(p.boxes["fc1"].tensor) == (128, None)
    assert R.shape_label(p.boxes["pool2"].tensor) == "32×7×7"


@needs_dot
def test_svg_has_every_layer_name_and_shape():
    res = check(MINI)
    root = _svg(res, expand=True, fold=False)
    texts = _texts(root)
    for n in res.layers:
        assert n.path in texts, n.path
        assert R.shape_label(n.output) in texts, n.path
    # Edge labels carry the shapes too.
    edge_texts = {
        (t.text or "").strip()
        for g in root.iter(SVG_NS + "g")
        if g.get("class") == "edge"
        for t in g.iter(SVG_NS + "text")
    }
    assert {"16×32×32", "32×16×16", "48×16×16", "48"} <= edge_texts


@needs_dot
def test_broken_spec_highlights_the_failing_layers():
    res = check(BROKEN)
    failing = {d.path for d in res.diagnostics if d.severity == "error"}
    root = _svg(res)
    nodes = _nodes(root, R.plan(res))
    assert failing <= set(nodes)
    for nid, g in nodes.items():
        stroke, width = _stroke(g)
        if nid in failing:
            assert stroke == R.ERROR_COLOR and width == "3", nid
        elif nid in ("conv_ok", "conv_b"):
            assert stroke != R.ERROR_COLOR, nid
    text = " ".join(_texts(root))
    assert "AC201" in text and "AC204" in text


def test_cli_render_stdout_dot():
    r = run_cli("render", "specs/simple_cnn.yaml", "-o", "-")
    assert r.exit_code == 0
    assert r.stdout.startswith("digraph SimpleCNN {") and "conv1" in r.stdout


def test_cli_render_broken_exit_1_and_still_draws():
    r = run_cli("render", "specs/broken_shapes.yaml", "-o", "-")
    assert r.exit_code == 1
    assert "digraph" in r.stdout and R.ERROR_COLOR in r.stdout


@needs_dot
@pytest.mark.parametrize(
    ("suffix", "magic"), [(".svg", b"<?xml"), (".png", b"\x89PNG"), (".pdf", b"%PDF"), (".dot", b"digraph")]
)
def test_cli_render_formats_by_suffix(tmp_path, suffix, magic):
    out = tmp_path / f"net{suffix}"
    r = run_cli("render", "specs/simple_cnn.yaml", "-o", str(out), "--depth", "1")
    assert r.exit_code == 0, r.output
    assert out.read_bytes().startswith(magic)


def test_cli_render_unknown_suffix_is_usage_error(tmp_path):
    r = run_cli("render", "specs/simple_cnn.yaml", "-o", str(tmp_path / "net.jpg"))
    assert r.exit_code == 2
    assert not (tmp_path / "net.jpg").exists()


def test_cli_render_without_dot_writes_nothing_and_says_how_to_install(tmp_path, monkeypatch):
    # issue 10: without `dot`, render writes no file the user did not name (it used to write
    # net.dot beside net.svg); it says how to install dot and how to get the DOT source
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no `dot` anywhere
    out = tmp_path / "net.svg"
    r = run_cli("render", "specs/simple_cnn.yaml", "-o", str(out))
    assert r.exit_code == 1
    assert not out.exists()
    assert not (tmp_path / "net.dot").exists()
    assert f"-o {tmp_path / 'net.dot'}" in r.output
    assert "apt-get install graphviz" in r.output and "brew install graphviz" in r.output
    # report still writes its page, without the diagram
    page = tmp_path / "r.html"
    r = run_cli("report", "specs/simple_cnn.yaml", "-o", str(page))
    assert r.exit_code == 1 and "No diagram" in page.read_text()


def test_render_does_not_import_torch(tmp_path):
    code = (
        "import sys\nfrom click.testing import CliRunner\nfrom archcheck.cli import main\n"
        f"r = CliRunner().invoke(main, ['render', 'specs/simple_cnn.yaml', '-o', {str(tmp_path / 'n.dot')!r}])\n"
        "assert r.exit_code == 0, r.output\nassert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


# ---------------------------------------------------------------- HTML report


@needs_dot
def test_report_is_self_contained(tmp_path):
    out = tmp_path / "report.html"
    r = run_cli("report", "specs/broken_shapes.yaml", "-o", str(out))
    assert r.exit_code == 1
    page = out.read_text(encoding="utf-8")
    assert "<svg" in page and "<style>" in page
    for bad in ("<script", "<link", "src=", "url(", "@import", 'href="http'):
        assert bad not in page, bad
    assert "<!DOCTYPE svg" not in page
    res = check(BROKEN)
    for n in res.layers:
        assert f">{n.path}<" in page
    for d in res.diagnostics:
        assert d.code in page


def test_report_table_totals():
    res = check(SIMPLE)
    page = build(res, None, "no diagram here")
    assert "215,370" in page and f"{res.total_macs:,}" in page
    assert "no diagram here" in page
    assert inline_svg('<?xml version="1.0"?>\n<!DOCTYPE svg PUBLIC "x" "y">\n<!-- c -->\n<svg/>') == "<svg/>"


@needs_dot
@needs_browser
def test_report_renders_in_headless_chromium(tmp_path):
    out = tmp_path / "report.html"
    assert run_cli("report", "specs/simple_cnn.yaml", "-o", str(out)).exit_code == 0
    w, h, colours, non_white = screenshot(out, tmp_path)
    assert (w, h) == (900, 700)
    assert non_white > 0.01 * w * h  # text, table, diagram
    # The inline SVG is drawn: the conv family's fill colour appears.
    assert rgb(R.FAMILY_COLORS["conv"]) in colours


def test_cli_render_dims_fill_free_dims(write_spec):
    spec = write_spec(
        "name: Free\ninput: {shape: [N, 3, H, W]}\nlayers:\n  - {type: Conv2d, out_channels: 8, kernel_size: 3, padding: 1}\n"
    )
    free = run_cli("render", str(spec), "-o", "-")
    assert free.exit_code == 0 and "8×H×W" in free.stdout
    fixed = run_cli("render", str(spec), "-o", "-", "--dim", "H=32", "--dim", "W=16")
    assert fixed.exit_code == 0 and "8×32×16" in fixed.stdout
