"""``archcheck report``: one self-contained HTML page for a spec.

The page holds the diagram (inline SVG from :mod:`archcheck.render`), a table
of every layer (path, type, output shape, params, MACs) with totals, and the
diagnostics. Everything is inline (CSS, SVG), with no scripts and no external
resources, so the file works offline and can be attached to a review.

The table is built from ``CheckResult.layers`` directly.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from .diagnostics import Diagnostic
from .engine import CheckResult, Node

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
    return html.escape(str(s), quote=True)


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
    from .render import shape_label

    rows = []
    for n in res.layers:
        label = ""
        if n.layer is not None:
            try:
                label = n.layer.label()
            except Exception:  # decoration only
                label = ""
        rows.append({
            "node": n,
            "path": n.path,
            "type": n.type,
            "args": label,
            "shape": n.output.describe() if n.output is not None else "?",
            "chw": shape_label(n.output) if n.output is not None else "?",
            "params": n.params,
            "macs": n.macs,
        })
    return rows


def _table(res: CheckResult) -> str:
    by_path: dict[str, str] = {}
    for d in res.diagnostics:
        if d.path and by_path.get(d.path) != "error":
            by_path[d.path] = d.severity
    head = ('<tr><th>#</th><th>path</th><th>type</th><th>args</th><th>output shape</th>'
            '<th class="num">params</th><th class="num">MACs</th></tr>')
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
    badge = ("ok" if ok else f"{errors} error{'s' * (errors != 1)}") + (f", {warnings} warning{'s' * (warnings != 1)}" if warnings else "")
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
<h1>{_e(res.name)} <span class="verdict {'ok' if ok else 'bad'}">{_e(badge)}</span></h1>
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


def command(spec: str, out: str, *, depth: int | None = None, expand: bool = False,
            dims: dict[str, int] | None = None, echo: Any = print) -> int:
    """``archcheck report``: write the page; returns the exit code (see the CLI help)."""
    from .api import check
    from .render import DotNotFound, pipe, to_dot

    res = check(spec, dims)
    code = 0 if res.ok else 1
    svg: str | None = None
    note = None
    try:
        svg = pipe(to_dot(res, depth, expand), "svg").decode("utf-8")
    except DotNotFound as e:
        note = f"No diagram: {e}."
        echo(f"archcheck: {e}; the report has no diagram", err=True)
        code = 1
    Path(out).write_text(build(res, svg, note), encoding="utf-8")
    if not res.ok:
        echo(f"archcheck: {spec} has errors; the report lists them", err=True)
    echo(f"wrote {out}", err=True)
    return code
