"""``archcheck report``: one self-contained HTML page for a spec.

The page holds the diagram (inline SVG from :mod:`archcheck.emit.diagram`), a table
of every layer (path, type, output shape, params, MACs) with totals, and the
diagnostics. Everything is inline (CSS, SVG), with no scripts and no external
resources, so the file works offline and can be attached to a review.

The table is built from ``CheckResult.layers`` directly.
"""

from __future__ import annotations

import html
import re
from typing import Any

from ..diagnostics.codes import Diagnostic
from ..diagnostics.text import escape
from ..engine.result import CheckResult, Node

CSS = """
body { font-family: Helvetica, Arial, sans-serif; margin: 24px; color: #222; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px 0; }
h2 { font-size: 17px; margin: 28px 0 8px 0; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.sub { color: #555; margin-bottom: 12px; }
.verdict { display: inline-block; padding: 3px 10px; border-radius: 4px; font-weight: bold; }
.verdict.ok { background: #e3f4e1; color: #1d6b1d; }
.verdict.bad { background: #fde2e2; color: #a11; }
.diagram { overflow: auto; border: 1px solid #ddd; border-radius: 6px; padding: 8px; max-height: 1400px; }
.diagram svg { max-width: 100%; height: auto; }
table.layers { border-collapse: collapse; font-size: 13px; }
table.layers th, table.layers td { padding: 3px 10px; border-bottom: 1px solid #eee; text-align: left; }
table.layers th { background: #f4f4f4; position: sticky; top: 0; }
table.layers td.num, table.layers th.num { text-align: right; font-variant-numeric: tabular-nums; }
table.layers tr.error td { background: #fde2e2; }
table.layers tr.warning td { background: #fff1de; }
table.layers tr.skipped td { color: #999; }
table.layers tr.total td { font-weight: bold; border-top: 2px solid #bbb; }
code, .mono { font-family: Menlo, Consolas, monospace; font-size: 12px; }
ul.diags { list-style: none; padding: 0; }
ul.diags li { margin: 6px 0; padding: 6px 10px; border-left: 4px solid #999; background: #fafafa; }
ul.diags li.error { border-color: #d62728; }
ul.diags li.warning { border-color: #ff7f0e; }
.sev { font-weight: bold; }
li.error .sev { color: #d62728; }
li.warning .sev { color: #c65f00; }
.hint { color: #1d5f1d; }
.note { color: #555; }
"""


def _e(s: Any) -> str:
    """Text for the page: control and invisible characters shown escaped (``\\x01``), then HTML-escaped."""
    return html.escape(escape(str(s)), quote=True)


def _num(n: int | None) -> str:
    return "?" if n is None else f"{n:,}"


def inline_svg(svg: str) -> str:
    """Graphviz's SVG without the XML prolog, DOCTYPE and comments, ready to inline."""
    svg = re.sub(r"<\?xml[^>]*\?>", "", svg)
    svg = re.sub(r"<!DOCTYPE[^>]*>", "", svg, flags=re.S)
    svg = re.sub(r"<!--.*?-->", "", svg, flags=re.S)
    return svg.strip()


def _where(d: Diagnostic) -> str:
    loc = ":".join(str(x) for x in (d.file, d.line, d.column) if x is not None)
    return loc


def _diagnostics(ds: list[Diagnostic]) -> str:
    if not ds:
        return "<p>No findings.</p>"
    items = []
    for d in ds:
        parts = [f'<span class="sev">{_e(d.severity)} {_e(d.code)}</span>']
        if _where(d):
            parts.append(f'<span class="mono">{_e(_where(d))}</span>')
        if d.path:
            parts.append(f"[<code>{_e(d.path)}</code>]")
        body = " ".join(parts) + f"<br/>{_e(d.message)}"
        for n in d.notes:
            body += f'<br/><span class="note">note: {_e(n)}</span>'
        if d.bindings:
            body += '<br/><span class="note">' + _e(" ".join(f"{k}={v}" for k, v in d.bindings.items())) + "</span>"
        if d.hint:
            body += f'<br/><span class="hint">hint: {_e(d.hint)}</span>'
        items.append(f'<li class="{_e(d.severity)}">{body}</li>')
    return '<ul class="diags">' + "".join(items) + "</ul>"


def _row_class(n: Node, by_path: dict[str, str]) -> str:
    sev = by_path.get(n.path)
    if sev:
        return sev
    return "skipped" if n.output is None else ""


def layer_rows(res: CheckResult) -> list[dict[str, Any]]:
    """One dict per leaf layer: path, type, output shape text, params, MACs."""
    from .diagram import shape_label

    rows = []
    for n in res.layers:
        label = ""
        if n.layer is not None:
            try:
                label = n.layer.label()
            except Exception:  # decoration only
                label = ""
        rows.append(
            {
                "node": n,
                "path": n.path,
                "type": n.type,
                "args": label,
                "shape": n.output.describe() if n.output is not None else "?",
                "chw": shape_label(n.output) if n.output is not None else "?",
                "params": n.params,
                "macs": n.macs,
            }
        )
    return rows


def _table(res: CheckResult) -> str:
    by_path: dict[str, str] = {}
    for d in res.diagnostics:
        if d.path and by_path.get(d.path) != "error":
            by_path[d.path] = d.severity
    head = (
        "<tr><th>#</th><th>path</th><th>type</th><th>args</th><th>output shape</th>"
        '<th class="num">params</th><th class="num">MACs</th></tr>'
    )
    body = []
    for i, r in enumerate(layer_rows(res)):
        cls = _row_class(r["node"], by_path)
        body.append(
            f'<tr class="{cls}"><td class="num">{i}</td><td class="mono">{_e(r["path"])}</td><td>{_e(r["type"])}</td>'
            f'<td>{_e(r["args"])}</td><td class="mono">{_e(r["shape"])}</td>'
            f'<td class="num">{_num(r["params"])}</td><td class="num">{_num(r["macs"])}</td></tr>'
        )
    per = f" (per {'·'.join(res.macs_per)})" if res.macs_per and res.total_macs is not None else ""
    body.append(
        f'<tr class="total"><td></td><td>total</td><td></td><td></td><td>{len(res.layers)} layers</td>'
        f'<td class="num">{res.total_params:,}</td><td class="num">{_num(res.total_macs)}{_e(per)}</td></tr>'
    )
    return '<table class="layers">' + head + "".join(body) + "</table>"


def build(res: CheckResult, svg: str | None, note: str | None = None) -> str:
    """The HTML page; ``svg`` is the diagram (None: ``note`` says why it is missing)."""
    from .report import verdict

    errors = sum(d.severity == "error" for d in res.diagnostics)
    warnings = sum(d.severity == "warning" for d in res.diagnostics)
    ok = res.ok
    badge = ("ok" if ok else f"{errors} error{'s' * (errors != 1)}") + (
        f", {warnings} warning{'s' * (warnings != 1)}" if warnings else ""
    )
    ins = ", ".join(f"{k}: {t.describe()}" for k, t in res.inputs.items())
    outs = ", ".join(f"{k}: {t.describe() if t else '?'}" for k, t in res.outputs.items())
    diagram = f'<div class="diagram">{inline_svg(svg)}</div>' if svg else f"<p>{_e(note or 'no diagram')}</p>"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{_e(res.name)} — archcheck report</title>
<style>{CSS}</style>
</head>
<body>
<h1>{_e(res.name)} <span class="verdict {"ok" if ok else "bad"}">{_e(badge)}</span></h1>
<div class="sub"><span class="mono">{_e(res.source.file)}</span> · inputs {_e(ins)} · outputs {_e(outs)}</div>
<div class="sub">{_e(verdict(res))}</div>
<h2>Diagnostics</h2>
{_diagnostics(res.diagnostics)}
<h2>Diagram</h2>
{diagram}
<h2>Layers</h2>
{_table(res)}
<p class="note">MACs are multiply-accumulates (FLOPs ≈ 2 × MACs). Generated by archcheck.</p>
</body>
</html>
"""


# ---------------------------------------------------------------- explore sweeps


EXPLORE_CSS = """
.plot { border: 1px solid #ddd; border-radius: 6px; padding: 8px; display: inline-block; }
.plot svg { max-width: 100%; height: auto; }
table.layers tr.pareto td { background: #fdecea; font-weight: bold; }
ul.errs li { margin: 3px 0; }
"""

FRONT_COLOR = "#c0392b"
POINT_COLOR = "#7f8c8d"


def _mb(n: float) -> str:
    from .summary import mb  # decimal MB, as summary and torchinfo

    return mb(n)


def _short(n: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= size:
            v = n / size
            return f"{v:.3g}{unit}"
    return f"{n:.3g}"


def _ticks(lo: float, hi: float, log: bool) -> list[float]:
    """Axis ticks: powers of ten (with 2 and 5 when few) on a log axis, 5 nice steps on a linear one."""
    import math

    if log:
        ticks: list[float] = []
        for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
            ticks += [m * 10.0**e for m in (1, 2, 5)]
        inside = [t for t in ticks if lo <= t <= hi]
        if len([t for t in inside if math.log10(t).is_integer()]) >= 2:
            inside = [t for t in inside if math.log10(t).is_integer()]
        return inside or [lo, hi]
    span = hi - lo or abs(hi) or 1.0
    raw = span / 5
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step) + 1)]


# The axes a sweep's plot can show: (key, label with its unit, maximised). The default is params vs MACs.
Axis = tuple[str, str, bool]
DEFAULT_AXES: tuple[Axis, ...] = (("params", "parameters", False), ("macs", "MACs per sample", False))


def scatter_svg(
    rows: list[dict[str, Any]],
    axis_keys: list[str],
    width: int = 640,
    height: int = 420,
    axes: tuple[Axis, ...] = DEFAULT_AXES,
) -> str:
    """The ok variants on the first two of ``axes`` (params (x) vs MACs (y) by default) as an inline SVG,
    the Pareto front in red and connected.

    Each point is a ``<circle class="point">`` (``class="point pareto"`` on the
    front) with a ``<title>`` naming the variant and its values. An axis is
    logarithmic when its values span more than a factor of 20. Each axis is
    labelled with its quantity and unit (``<text class="xlabel">``, ``"ylabel"``).
    """
    import math

    (xk, xlabel, _), (yk, ylabel, _) = axes[0], axes[1]
    ok = [r for r in rows if r.get("ok") and r.get(xk) is not None and r.get(yk) is not None]
    ml, mr, mt, mb = 78, 20, 28, 52
    pw, ph = width - ml - mr, height - mt - mb
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'font-family="Helvetica, Arial, sans-serif" font-size="11" role="img" aria-label="{_e(xlabel)} vs {_e(ylabel)}">',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    if not ok:
        out.append(
            f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" fill="#a11">no variant checked ok: nothing to plot</text></svg>'
        )
        return "".join(out)
    xs = [float(r[xk]) for r in ok]
    ys = [float(r[yk]) for r in ok]

    def scale(vals: list[float]) -> tuple[bool, float, float]:
        lo, hi = min(vals), max(vals)
        log = lo > 0 and hi / lo > 20
        if log:
            return True, math.log10(lo) - 0.05, math.log10(hi) + 0.05
        pad = (hi - lo) * 0.06 or max(abs(hi) * 0.1, 1.0)
        return False, max(0.0, lo - pad) if lo >= 0 else lo - pad, hi + pad

    xlog, x0, x1 = scale(xs)
    ylog, y0, y1 = scale(ys)

    def px(v: float) -> float:
        t = math.log10(v) if xlog else v
        return ml + (t - x0) / (x1 - x0) * pw

    def py(v: float) -> float:
        t = math.log10(v) if ylog else v
        return mt + ph - (t - y0) / (y1 - y0) * ph

    out.append(f'<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="#fbfbfb" stroke="#999"/>')
    xlo, xhi = (10**x0, 10**x1) if xlog else (x0, x1)
    ylo, yhi = (10**y0, 10**y1) if ylog else (y0, y1)
    for t in _ticks(xlo, xhi, xlog):
        x = px(t)
        out.append(f'<line x1="{x:.1f}" y1="{mt}" x2="{x:.1f}" y2="{mt + ph}" stroke="#e4e4e4"/>')
        out.append(f'<text x="{x:.1f}" y="{mt + ph + 15}" text-anchor="middle" fill="#444">{_short(t)}</text>')
    for t in _ticks(ylo, yhi, ylog):
        y = py(t)
        out.append(f'<line x1="{ml}" y1="{y:.1f}" x2="{ml + pw}" y2="{y:.1f}" stroke="#e4e4e4"/>')
        out.append(f'<text x="{ml - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#444">{_short(t)}</text>')
    out.append(
        f'<text class="xlabel" x="{ml + pw / 2}" y="{height - 12}" text-anchor="middle" fill="#222">'
        f"{_e(xlabel)}{' (log scale)' if xlog else ''}</text>"
    )
    out.append(
        f'<text class="ylabel" x="16" y="{mt + ph / 2}" text-anchor="middle" fill="#222" '
        f'transform="rotate(-90 16 {mt + ph / 2})">{_e(ylabel)}{" (log scale)" if ylog else ""}</text>'
    )

    def name(r: dict[str, Any]) -> str:
        vals = ", ".join(f"{label} {r[k]:,}" for k, label, _ in axes if r.get(k) is not None)
        return ", ".join(f"{k}={r.get(k)}" for k in axis_keys) + f": {vals}"

    front = sorted((r for r in ok if r.get("pareto")), key=lambda r: (r[xk], r[yk]))
    for r in ok:
        if not r.get("pareto"):
            out.append(
                f'<circle class="point" cx="{px(r[xk]):.1f}" cy="{py(r[yk]):.1f}" r="4" fill="{POINT_COLOR}" '
                f'fill-opacity="0.75"><title>{_e(name(r))}</title></circle>'
            )
    if len(front) > 1:
        pts = " ".join(f"{px(r[xk]):.1f},{py(r[yk]):.1f}" for r in front)
        out.append(f'<polyline class="front" points="{pts}" fill="none" stroke="{FRONT_COLOR}" stroke-width="2"/>')
    for r in front:
        out.append(
            f'<circle class="point pareto" cx="{px(r[xk]):.1f}" cy="{py(r[yk]):.1f}" r="5.5" fill="{FRONT_COLOR}" '
            f'stroke="#ffffff" stroke-width="1"><title>{_e(name(r))} (Pareto front)</title></circle>'
        )
    # the legend above the plot area, where it can hide no point
    lx, ly = ml, 12
    out.append(
        f'<circle cx="{lx + 5}" cy="{ly}" r="4" fill="{POINT_COLOR}"/><text x="{lx + 13}" y="{ly + 4}">variant</text>'
    )
    out.append(
        f'<line x1="{lx + 62}" y1="{ly}" x2="{lx + 80}" y2="{ly}" stroke="{FRONT_COLOR}" stroke-width="2"/>'
        f'<circle cx="{lx + 71}" cy="{ly}" r="5" fill="{FRONT_COLOR}"/><text x="{lx + 86}" y="{ly + 4}">Pareto front</text>'
    )
    out.append("</svg>")
    return "".join(out)


def explore_page(
    rows: list[dict[str, Any]], axis_keys: list[str], title: str, axes: tuple[Axis, ...] = DEFAULT_AXES
) -> str:
    """``archcheck explore --report``: one offline page with the plot of the first two Pareto ``axes``
    (``--pareto``: params vs MACs by default), the Pareto front, the variants with errors and the full table."""
    ok = [r for r in rows if r.get("ok")]
    bad = [r for r in rows if not r.get("ok")]
    front = sorted((r for r in ok if r.get("pareto")), key=lambda r: tuple(r[k] for k, _, _ in axes))

    def setting(r: dict[str, Any]) -> str:
        return ", ".join(f"{k}={r.get(k)}" for k in axis_keys)

    front_html = "".join(
        f"<li><b>{_e(setting(r))}</b>: " + ", ".join(f"{label} {_num(r[k])}" for k, label, _ in axes) + "</li>"
        for r in front
    )
    errs = "".join(
        f'<li><b>{_e(setting(r))}</b> <span class="sev">{_e(r.get("status"))}</span> {_e(r.get("error", ""))}</li>'
        for r in bad
    )
    head = "".join(f"<th>{_e(k)}</th>" for k in axis_keys) + (
        '<th>status</th><th>output</th><th class="num">params</th><th class="num">MACs</th>'
        '<th class="num">act/sample</th><th class="num">RF (px)</th><th>error</th>'
    )
    body = []
    for r in rows:
        cls = "pareto" if r.get("pareto") else ("" if r.get("ok") else "error")
        cells = "".join(f"<td>{_e(r.get(k))}</td>" for k in axis_keys)
        mem = r.get("memory")
        body.append(
            f'<tr class="{cls}">{cells}<td>{_e(r.get("status"))}{" ★" if r.get("pareto") else ""}</td>'
            f'<td class="mono">{_e(r.get("output", ""))}</td><td class="num">{_num(r.get("params"))}</td>'
            f'<td class="num">{_num(r.get("macs"))}</td><td class="num">{"?" if mem is None else _mb(mem)}</td>'
            f'<td class="num">{_num(r.get("rf"))}</td><td>{_e(r.get("error", ""))}</td></tr>'
        )
    better = " and ".join(f"{'a larger' if mx else 'fewer'} {label}" for _, label, mx in axes)
    plot_title = f"{axes[0][1][:1].upper()}{axes[0][1][1:]} vs {axes[1][1]}"
    three = (
        " (the front is over all three axes: a point on it may look beaten on the two plotted)" if len(axes) > 2 else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{_e(title)} — archcheck explore</title>
<style>{CSS}{EXPLORE_CSS}</style>
</head>
<body>
<h1>{_e(title)} <span class="verdict {"ok" if not bad else "bad"}">{len(ok)} ok, {len(bad)} with errors</span></h1>
<div class="sub">{len(rows)} variants over {_e(", ".join(axis_keys) or "no axes")} · {len(front)} on the Pareto front (no other variant has {_e(better)}){_e(three)}</div>
<h2>{_e(plot_title)}</h2>
<div class="plot">{scatter_svg(rows, axis_keys, axes=axes)}</div>
<h2>Pareto front</h2>
{f"<ol>{front_html}</ol>" if front else "<p>No variant checked ok.</p>"}
<h2>Variants with errors</h2>
{f'<ul class="errs">{errs}</ul>' if bad else "<p>None.</p>"}
<h2>All variants</h2>
<table class="layers"><tr>{head}</tr>{"".join(body)}</table>
<p class="note">MACs are multiply-accumulates per sample (FLOPs ≈ 2 × MACs); act/sample is the fp32 size of every layer output for one sample (MB = 10<sup>6</sup> bytes); RF is the receptive field in input pixels, as archcheck summary shows it at the last layer that has one. ★: on the Pareto front. Generated by archcheck.</p>
</body>
</html>
"""
