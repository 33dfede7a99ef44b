"""``archcheck explore``: check every variant of a spec over a grid of settings.

An axis is ``NAME=VALUES``: a spec param (``width=8,16,32``), a free input dim
(``H=28:112:28``, inclusive), or a layer field by dotted path
(``conv1.kernel_size=3,5``). The spec is read and schema-checked once; each
variant re-runs only the shape engine (no file I/O, no re-parsing), which
keeps a SimpleCNN-size variant well under a millisecond. Large sweeps use
every core (``--jobs``).
"""

from __future__ import annotations

import itertools
import math
import os
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..diagnostics.codes import did_you_mean
from ..engine.walk import CheckResult, check
from ..spec.schema import Spec
from .report import shape_json

MAX_VARIANTS = 1_000_000
MAX_DIGITS = 19  # an int in --set: up to 2**63-1, torch's largest size

_INT = re.compile(r"-?[0-9]+")  # ASCII digits only: int() also takes '٣' (and isdigit() '²')
_FLOAT = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


# the result columns of every row: an axis may not take one of these names (a spec param called
# ``params`` would otherwise be overwritten by the count, in the table, the CSV, --where and --sort)
RESULT_COLUMNS = (
    "ok",
    "status",
    "output",
    "outputs",
    "params",
    "macs",
    "memory",
    "pareto",
    "error",
    "diagnostics",
    "set",
)


class ExploreError(Exception):
    """A usage problem with the sweep (bad axis, bad filter): exit 2."""


@dataclass
class Axis:
    key: str
    kind: str  # "param", "dim" or "field"
    values: list[Any]
    path: str | None = None
    field: str | None = None


def parse_values(text: str) -> list[Any]:
    """``8,16,32`` or ``8:64:8`` (inclusive) or ``true,false`` or ``same,valid``."""
    text = text.strip()
    if not text:
        raise ExploreError("no values given")
    if ":" in text and "," not in text:
        parts = [p.strip() for p in text.split(":")]
        if len(parts) not in (2, 3) or not all(_INT.fullmatch(p) for p in parts):
            raise ExploreError(f"a range is START:STOP[:STEP] of ints in ASCII digits, got {_shown(text)}")
        if any(len(p.lstrip("-")) > MAX_DIGITS for p in parts):
            raise ExploreError(f"the range {_shown(text)} has a number beyond 2**63-1")
        start, stop = int(parts[0]), int(parts[1])
        step = int(parts[2]) if len(parts) == 3 else 1
        if step <= 0 or stop < start:
            raise ExploreError(f"the range '{text}' is empty (STOP >= START, STEP >= 1)")
        if (stop - start) // step + 1 > MAX_VARIANTS:
            raise ExploreError(f"the range '{text}' has more than {MAX_VARIANTS:,} values")
        return list(range(start, stop + 1, step))
    return [_scalar(v.strip()) for v in text.split(",")]


def _shown(v: str, limit: int = 60) -> str:
    return repr(v) if len(v) <= limit else repr(v[:limit]) + f"... ({len(v):,} characters)"


def _scalar(v: str) -> Any:
    """An int or float written in ASCII digits, a bool, null, or else the text itself."""
    low = v.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("null", "none"):
        return None
    if _INT.fullmatch(v):
        if len(v.lstrip("-")) > MAX_DIGITS:
            raise ExploreError(f"the value {_shown(v)} is beyond 2**63-1")
        return int(v)
    if _FLOAT.fullmatch(v):
        f = float(v)
        if not math.isfinite(f):
            raise ExploreError(f"the value {_shown(v)} is not a finite number")
        return f
    return v


def free_dims(spec: Spec) -> list[str]:
    names: list[str] = []
    for inp in spec.inputs.values():
        for d in inp.shape if isinstance(inp.shape, list) else []:
            if isinstance(d, str) and d not in names:
                names.append(d)
    if spec.model is not None and isinstance(spec.model.dims, dict):
        names += [k for k in spec.model.dims if k not in names]
    return names


def parse_axis(spec: Spec, base: CheckResult, text: str) -> Axis:
    key, eq, values = text.partition("=")
    key = key.strip()
    if not eq or not key:
        raise ExploreError(f"--set takes NAME=VALUES, got '{text}'")
    vals = parse_values(values)
    params = list(base.params)
    dims = free_dims(spec)
    if "." in key:
        path, field = key.rsplit(".", 1)
        paths = {n.path: n for n in base.nodes}
        if path not in paths:
            guess = did_you_mean(path, list(paths), ignore_case=False)
            raise ExploreError(f"no layer at path '{path}'" + (f"; did you mean '{guess}'?" if guess else ""))
        node = paths[path]
        if node.kind == "layer" and node.layer is not None:
            fields = [f for f in type(node.layer).model_fields if f not in type(node.layer).meta_fields]
            if field not in fields:
                guess = did_you_mean(field, fields)
                raise ExploreError(
                    f"{node.type} '{path}' has no field '{field}'" + (f"; did you mean '{guess}'?" if guess else "")
                )
        return Axis(key, "field", vals, path, field)
    if key in RESULT_COLUMNS and (key in params or key in dims):
        raise ExploreError(
            f"'{key}' is also the name of a result column ({', '.join(RESULT_COLUMNS)}): "
            "rename the param or dim in the spec to sweep it"
        )
    if key in params:
        return Axis(key, "param", vals)
    if key in dims:
        for v in vals:
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ExploreError(f"dim {key} takes ints >= 1 in ASCII digits, got {v!r}")
        return Axis(key, "dim", vals)
    guess = did_you_mean(key, params + dims, ignore_case=False)
    known = ", ".join(params + dims) or "none"
    raise ExploreError(
        f"'{key}' is neither a param nor a free dim of this spec"
        + (f"; did you mean '{guess}'?" if guess else f" (params and dims: {known}); for a layer field use PATH.FIELD")
    )


def combinations(axes: list[Axis], sample: int | None = None, seed: int = 0) -> Iterator[dict[str, Any]]:
    """Every combination, or ``sample`` distinct ones drawn at random."""
    total = math.prod(len(a.values) for a in axes)
    if sample is None or sample >= total:
        if total > MAX_VARIANTS:
            raise ExploreError(f"{total:,} variants is more than {MAX_VARIANTS:,}: use --random K")
        for combo in itertools.product(*(a.values for a in axes)):
            yield {a.key: v for a, v in zip(axes, combo)}
        return
    if sample > MAX_VARIANTS:
        raise ExploreError(f"--random {sample:,} is more than {MAX_VARIANTS:,} variants")
    rng = random.Random(seed)
    for idx in sorted(rng.sample(range(total), sample)):
        picked: dict[str, Any] = {}
        for a in reversed(axes):
            idx, r = divmod(idx, len(a.values))
            picked[a.key] = a.values[r]
        yield {a.key: picked[a.key] for a in axes}


def activation_bytes(res: CheckResult) -> int | None:
    """Bytes of every layer output for one sample at fp32 (as ``archcheck summary`` counts them)."""
    from .summary import activation_bytes as act

    return act(res)


def run_variant(spec: Spec, axes: list[Axis], combo: dict[str, Any], dims: dict[str, int]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    vdims = dict(dims)
    overrides: dict[str, dict[str, Any]] = {}
    for a in axes:
        v = combo[a.key]
        if a.kind == "param":
            params[a.key] = v
        elif a.kind == "dim":
            vdims[a.key] = v
        else:
            overrides.setdefault(a.path or "", {})[a.field or ""] = v
    res = check(spec, vdims, params, overrides)
    errors = [d for d in res.diagnostics if d.severity == "error"]
    outs = list(res.outputs.values())
    row = dict(combo)
    # validate's contract: shapes as lists (ints, or strings for symbolic dims), diagnostics as objects
    row["outputs"] = {k: shape_json(t.shape if t else None) for k, t in res.outputs.items()}
    row["diagnostics"] = [d.to_json() for d in res.diagnostics]
    row.update(
        ok=not errors,
        status="ok" if not errors else errors[0].code,
        output=", ".join(t.describe() if t else "?" for t in outs),
        params=res.total_params if not errors else None,
        macs=res.total_macs if not errors else None,
        memory=activation_bytes(res) if not errors else None,
        error=(f"{errors[0].path + ': ' if errors[0].path else ''}{errors[0].message}" if errors else ""),
    )
    return row


_WORKER: dict[str, Any] = {}


def _init_worker(path: str, axes: list[Axis], dims: dict[str, int]) -> None:
    from ..api import load

    _WORKER.update(spec=load(path), axes=axes, dims=dims)


def _work(combo: dict[str, Any]) -> dict[str, Any]:
    return run_variant(_WORKER["spec"], _WORKER["axes"], combo, _WORKER["dims"])


def explore(
    spec: Spec,
    axes: list[Axis],
    dims: dict[str, int] | None = None,
    *,
    sample: int | None = None,
    seed: int = 0,
    jobs: int = 1,
    progress: Any = None,
    pareto: tuple[str, ...] = ("params", "macs"),
) -> list[dict[str, Any]]:
    """Check every variant; returns one row per variant (errors are rows, never exceptions)."""
    total = math.prod(len(a.values) for a in axes)
    count = total if sample is None else min(sample, total)
    combos = combinations(axes, sample, seed)  # a generator: the rows are kept, not the combinations too
    dims = dims or {}
    if jobs > 1 and count >= 2000:
        import multiprocessing as mp

        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
        with ctx.Pool(jobs, _init_worker, (spec.source.file, axes, dims)) as pool:
            rows = []
            for row in pool.imap(_work, combos, chunksize=256):
                rows.append(row)
                if progress:
                    progress(1)
        return mark_pareto(rows, pareto)
    rows = []
    for combo in combos:
        rows.append(run_variant(spec, axes, combo, dims))
        if progress:
            progress(1)
    return mark_pareto(rows, pareto)


LABELS = {"params": "parameters", "macs": "MACs", "memory": "activation bytes per sample"}
PARETO_AXES = ("params", "macs", "memory")  # all minimised; memory = activation bytes per sample


def mark_pareto(rows: list[dict[str, Any]], axes: tuple[str, ...] = ("params", "macs")) -> list[dict[str, Any]]:
    """Flag the variants no other variant beats on every one of ``axes`` (each minimised)."""
    for r in rows:
        r["pareto"] = False
    pts = sorted(
        (r for r in rows if r["ok"] and all(r.get(a) is not None for a in axes)),
        key=lambda r: tuple(r[a] for a in axes),
    )
    front: list[tuple[Any, ...]] = []
    for r in pts:  # lexicographic order: only an earlier point can dominate a later one
        p = tuple(r[a] for a in axes)
        if front and p == front[-1]:
            continue  # an exact tie with a front point: the first one stands for both
        if any(all(f[i] <= p[i] for i in range(len(p))) for f in front):
            continue
        r["pareto"] = True
        front.append(p)
    return rows


def cpus() -> int:
    """The CPUs this process may run on (its affinity mask, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def sort_rows(rows: list[dict[str, Any]], key: str) -> None:
    """Sort in place by column ``key``: numbers first (in order), then text, then missing values."""

    def order(r: dict[str, Any]) -> tuple[int, float, str]:
        v = r.get(key)
        if v is None:
            return (2, 0.0, "")
        if isinstance(v, (int, float)):
            return (0, v if v == v else math.inf, "")  # exact for ints of any size; NaN last
        return (1, 0.0, str(v))

    rows.sort(key=order)


def plot_png(rows: list[dict[str, Any]], title: str, axes: tuple[str, ...] = ("params", "macs")) -> bytes:
    """A scatter of the first two ``axes`` (params vs MACs by default) with the Pareto front, as PNG bytes
    (needs matplotlib, the `plot` extra)."""
    xk, yk = axes[0], axes[1]
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if r["ok"] and r[xk] is not None and r[yk] is not None]
    front = sorted((r for r in ok if r["pareto"]), key=lambda r: r[xk])
    fig, ax = plt.subplots(figsize=(7, 5), dpi=110)
    ax.scatter([r[xk] for r in ok], [r[yk] for r in ok], s=18, color="#7f8c8d", label="variant")
    ax.plot([r[xk] for r in front], [r[yk] for r in front], "o-", color="#c0392b", label="Pareto front")
    bad = len(rows) - len(ok)
    ax.set_xlabel(LABELS[xk])
    ax.set_ylabel(LABELS[yk])
    from ..diagnostics.text import escape
    from .diagram import clip

    # The spec's name as plain text: no mathtext ("$\\frac{" raised), control characters escaped.
    ax.set_title(f"{clip(escape(title), 80)}: {len(ok)} ok, {bad} with errors", parse_math=False)
    if ok and max(r[xk] for r in ok) > 100 * max(1, min(r[xk] for r in ok)):
        ax.set_xscale("log")
    if ok and max(r[yk] for r in ok) > 100 * max(1, min(r[yk] for r in ok)):
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
