"""`archcheck explore --report`: one offline HTML page with an inline-SVG
params-vs-MACs scatter, the Pareto front marked and connected, the variants
with errors and the full table; drawn by a real (headless) browser."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest
from browser_util import needs_browser, rgb, screenshot
from conftest import run_cli

from archcheck.emit.htmlreport import FRONT_COLOR, explore_page, scatter_svg

SVG_NS = "{http://www.w3.org/2000/svg}"
SWEEP = (
    "explore",
    "specs/transformer_text.yaml",
    "--dim",
    "L=64",
    "--set",
    "d_model=32,64,128",
    "--set",
    "depth=1,2",
    "--set",
    "nhead=3,4",
    "--format",
    "json",
)


class _Parse(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)


def _svg_of(page: str) -> ET.Element:
    start, end = page.index("<svg"), page.index("</svg>") + len("</svg>")
    return ET.fromstring(page[start:end])


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "sweep.html"
    r = run_cli(*SWEEP, "--report", str(out))
    assert r.exit_code == 0, r.output
    assert f"wrote {out}" in r.stderr
    return out, r.json()


def test_page_is_self_contained_and_parses(sweep):
    out, rows = sweep
    page = out.read_text(encoding="utf-8")
    p = _Parse()
    p.feed(page)
    p.close()
    assert {"html", "style", "svg", "table"} <= set(p.tags)
    for bad in ("<script", "<link", "src=", "url(", "@import", 'href="http'):
        assert bad not in page, bad
    ok = [r for r in rows if r["status"] == "ok"]
    bad = [r for r in rows if r["status"] != "ok"]
    assert ok and bad  # nhead=3 does not divide d_model: error rows
    for r in bad:
        assert r["error"].split(":")[0] in page and r["status"] in page
    assert page.count("<tr class=") == len(rows)  # the full table: one row per variant


def test_svg_has_one_point_per_ok_variant_and_the_front(sweep):
    out, rows = sweep
    svg = _svg_of(out.read_text(encoding="utf-8"))
    points = [c for c in svg.iter(SVG_NS + "circle") if "point" in (c.get("class") or "").split()]
    ok = [r for r in rows if r["status"] == "ok"]
    assert len(points) == len(ok)
    front = [c for c in points if "pareto" in c.get("class").split()]
    assert len(front) == sum(r["pareto"] for r in rows) >= 1
    assert all(c.get("fill") == FRONT_COLOR for c in front)
    if len(front) > 1:
        line = svg.find(f"{SVG_NS}polyline[@class='front']")
        assert line is not None and len(line.get("points").split()) == len(front)


def test_front_is_connected_in_params_order_and_log_axes():
    rows = [
        {"w": 1, "ok": True, "params": 100, "macs": 90_000, "pareto": True},
        {"w": 2, "ok": True, "params": 1_000, "macs": 20_000, "pareto": True},
        {"w": 3, "ok": True, "params": 100_000, "macs": 1_000, "pareto": True},
        {"w": 4, "ok": True, "params": 50_000, "macs": 500_000, "pareto": False},
        {"w": 5, "ok": False, "params": None, "macs": None, "pareto": False, "status": "AC201", "error": "boom"},
    ]
    svg = ET.fromstring(scatter_svg(rows, ["w"]))
    xs = [float(p.split(",")[0]) for p in svg.find(f"{SVG_NS}polyline").get("points").split()]
    assert xs == sorted(xs) and len(xs) == 3
    texts = " ".join(t.text or "" for t in svg.iter(SVG_NS + "text"))
    assert "parameters (log scale)" in texts and "MACs per sample (log scale)" in texts
    page = explore_page(rows, ["w"], "Toy")
    assert "boom" in page and "1 with errors" in page
    # Nothing ok: still a page, with a note instead of points.
    assert "nothing to plot" in explore_page(rows[4:], ["w"], "Toy")


@needs_browser
def test_explore_report_renders_in_headless_chromium(sweep, tmp_path):
    out, _ = sweep
    w, h, colours, non_white = screenshot(out, tmp_path)
    assert (w, h) == (900, 700)
    assert non_white > 0.01 * w * h
    # The scatter is drawn: the Pareto front's red appears in the screenshot.
    assert rgb(FRONT_COLOR) in colours


RF_SWEEP = (
    "explore",
    "tests/specs/sweep_cnn.yaml",
    "--set",
    "width=4,8,16",
    "--set",
    "conv1.kernel_size=1,3,5,7",
    "--set",
    "conv1.padding=same",
    "--set",
    "fc1.in_features=null",
    "--pareto",
    "params,rf",
    "--format",
    "json",
)


@pytest.fixture(scope="module")
def rf_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("rf") / "rf.html"
    r = run_cli(*RF_SWEEP, "--report", str(out))
    assert r.exit_code == 0, r.output
    return out, r.json()


def test_chart_plots_the_pareto_axes_the_user_picked_with_units(rf_sweep):
    out, rows = rf_sweep
    page = out.read_text(encoding="utf-8")
    assert "<h2>Parameters vs receptive field (input pixels)</h2>" in page
    svg = _svg_of(page)
    labels = {t.get("class"): t.text for t in svg.iter(SVG_NS + "text") if t.get("class")}
    assert labels["xlabel"] == "parameters" and labels["ylabel"] == "receptive field (input pixels)"
    points = [c for c in svg.iter(SVG_NS + "circle") if "point" in (c.get("class") or "").split()]
    assert len(points) == len(rows) == 12 and all(r["ok"] for r in rows)
    # y is the receptive field: a larger field is drawn higher (smaller cy), whatever the params
    by_rf = {}
    for c in points:
        rf = int(c.find(SVG_NS + "title").text.split("receptive field (input pixels) ")[1].split(",")[0].split(" ")[0])
        by_rf.setdefault(rf, set()).add(round(float(c.get("cy")), 1))
    assert all(len(v) == 1 for v in by_rf.values())  # one height per field size
    heights = [next(iter(by_rf[k])) for k in sorted(by_rf)]
    assert heights == sorted(heights, reverse=True) and len(heights) == 4  # fields 10, 12, 14, 16
    # the front (fewest params, largest field) is drawn and connected along x
    front = [c for c in points if "pareto" in c.get("class").split()]
    assert len(front) == sum(r["pareto"] for r in rows) >= 2
    xs = [float(p.split(",")[0]) for p in svg.find(f"{SVG_NS}polyline[@class='front']").get("points").split()]
    assert xs == sorted(xs) and len(xs) == len(front)
    assert "RF (px)" in page and "no other variant has fewer parameters and a larger receptive field" in page


def test_chart_default_axes_stay_params_and_macs(sweep):
    out, _ = sweep
    svg = _svg_of(out.read_text(encoding="utf-8"))
    labels = {t.get("class"): t.text for t in svg.iter(SVG_NS + "text") if t.get("class")}
    assert labels["xlabel"].startswith("parameters") and labels["ylabel"].startswith("MACs per sample")


@needs_browser
def test_rf_chart_renders_in_headless_chromium(rf_sweep, tmp_path):
    out, _ = rf_sweep
    w, h, colours, non_white = screenshot(out, tmp_path)
    assert (w, h) == (900, 700) and non_white > 0.01 * w * h
    assert rgb(FRONT_COLOR) in colours  # the front of params vs receptive field is drawn
