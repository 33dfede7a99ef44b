"""Turning a CheckResult into text (a table and diagnostics) or DESIGN.md's JSON."""

from __future__ import annotations

from typing import Any

from ..diagnostics.codes import escape, render_pretty, render_short
from ..engine.result import CheckResult
from ..shapes import dims as D

# Text output shows this many diagnostics per spec: the rest of 50,000 would only scroll past.
MAX_SHOWN = 1000


def human(n: int | None) -> str:
    """1254400 -> '1.25M'."""
    if n is None:
        return "?"
    for unit, size in (("P", 10**15), ("T", 10**12), ("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if abs(n) >= size:
            return f"{n / size:.2f}{unit}"
    return str(n)


def shape_json(shape: Any) -> Any:
    return None if shape is None else [D.to_json(d) for d in shape]


def items_json(t: Any) -> Any:
    """Several outputs (Split, a block's ``outputs``): their shapes, nested like the tuple."""
    if t is None or t.parts is None or not t.indexed:
        return shape_json(t.shape) if t is not None else None
    return [items_json(p) for p in t.parts]


def to_json(res: CheckResult) -> dict[str, Any]:
    """The object DESIGN.md specifies, one per spec."""
    return {
        "spec": res.source.file,
        "name": res.name,
        "ok": res.ok,
        "inputs": {k: shape_json(t.shape) for k, t in res.inputs.items()},
        "outputs": {k: shape_json(t.shape if t else None) for k, t in res.outputs.items()},
        "layers": [
            {
                "path": r.path,
                "type": r.type,
                "inputs": r.inputs,
                "output_shape": shape_json(r.output.shape if r.output else None),
                "params": r.params,
                "macs": r.macs,
                "trainable": r.trainable,
                "training_only": r.training_only,
                # a layer with several outputs (Split, Chunk): each one's shape; output_shape is the first's
                **({"output_shapes": items_json(r.output)} if r.output is not None and r.output.indexed else {}),
            }
            for r in res.layers
        ],
        "total_params": res.total_params,
        "trainable_params": res.trainable_params,
        "non_trainable_params": res.total_params - res.trainable_params,
        "training_only_outputs": res.training_only_outputs,
        "total_macs": res.total_macs,
        "macs_per": res.macs_per,
        "bindings": res.bindings,
        "diagnostics": [d.to_json() for d in res.diagnostics],
    }


def layer_table(res: CheckResult) -> str:
    rows = [("layer", "type", "output shape", "params")]
    for r in res.layers:
        shape = r.output.describe_all() if r.output else "?"
        rows.append((escape(r.path), escape(r.type), escape(shape), f"{r.params:,}" if r.params is not None else "?"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = []
    for j, row in enumerate(rows):
        cells = [row[i].ljust(widths[i]) if i < 3 else row[i].rjust(widths[i]) for i in range(4)]
        lines.append("  ".join(cells).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def verdict(res: CheckResult) -> str:
    file, name = escape(res.source.file), escape(str(res.name))
    errors = sum(d.severity == "error" for d in res.diagnostics)
    warnings = sum(d.severity == "warning" for d in res.diagnostics)
    if errors:
        return f"{file}: {name}: {errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"
    ins = escape(", ".join(t.describe() for t in res.inputs.values()))
    outs = escape(", ".join(t.describe() for t in res.outputs.values() if t))
    per = f" per {'·'.join(res.macs_per)}" if res.macs_per and res.total_macs is not None else ""
    warn = f", {warnings} warning{'s' * (warnings != 1)}" if warnings else ""
    return f"{file}: {name} ok: {ins} -> {outs}, {res.total_params:,} params, {human(res.total_macs)} MACs{per}{warn}"


def render_text(res: CheckResult, *, pretty: bool, color: bool, table: bool) -> str:
    parts = []
    if table and res.layers and not any(d.severity == "error" for d in res.diagnostics):
        parts.append(layer_table(res))
    lines = res.source.lines
    for d in res.diagnostics[:MAX_SHOWN]:
        parts.append(render_pretty(d, lines, color) + ("\n" if pretty else "") if pretty else render_short(d))
    more = len(res.diagnostics) - MAX_SHOWN
    if more > 0:
        parts.append(
            f"{escape(res.source.file)}: ... and {more:,} more diagnostic{'s' * (more != 1)} not shown "
            f"(the first {MAX_SHOWN:,} are; --format json or sarif lists all {len(res.diagnostics):,})"
        )
    parts.append(verdict(res))
    return "\n".join(parts)
