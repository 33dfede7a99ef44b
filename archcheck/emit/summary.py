"""``archcheck summary``: the layer table users of torchinfo and Keras expect.

One row per module (nested paths indented), its type, output shape, params
and MACs; along the main path of a conv/pool stack the receptive field and
the cumulative stride (``n/a`` once a flatten, a global pool, an upsampling
or a merge of differently strided branches makes them ambiguous); then
totals: params, trainable params, parameter memory at fp32, activation
memory per sample, MACs and FLOPs.

``--torchinfo`` runs torchinfo on the model built on the meta device: its
weights are never materialised (no CPU fallback).

Conventions: MACs are multiply-accumulates, counted for one sample (the
batch dim counts as 1); FLOPs = 2 x MACs. Activation memory is the sum of
every layer's output elements x 4 bytes (fp32), for one sample. Nothing here
imports torch, except ``--torchinfo``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..engine.walk import CheckResult, Node
from ..layers.base import Layer, Tensor, as_tuple
from ..shapes import dims as D
from .report import human

BYTES = 4  # fp32

# Layer families that keep the spatial layout as it is (receptive field passes through).
_PASS = frozenset({"activation", "norm", "dropout", "identity"})


@dataclass
class Field:
    """Receptive field and cumulative stride per spatial dim (None: n/a)."""

    rf: tuple[int, ...]
    jump: tuple[int, ...]

    def text(self) -> tuple[str, str]:
        return _dims_text(self.rf), _dims_text(self.jump)


def _dims_text(v: tuple[int, ...]) -> str:
    return str(v[0]) if len(set(v)) == 1 else "x".join(map(str, v))


def _broadcast(v: tuple[int, ...], n: int) -> tuple[int, ...]:
    return v * n if len(v) == 1 else v


def _step(layer: Layer, f: Field | None) -> Field | None:
    """The receptive field after ``layer``, from the one before it."""
    if f is None:
        return None
    fam = type(layer).family
    if fam in _PASS:
        return f
    nd = getattr(type(layer), "nd", None)
    fields = type(layer).model_fields
    if fam not in ("conv", "pool") or nd is None or "kernel_size" not in fields or "output_padding" in fields:
        return None  # flatten, linear, global/adaptive pools, transposed convs, upsampling: n/a
    k = as_tuple(layer.kernel_size, nd)  # type: ignore[attr-defined]
    stride = getattr(layer, "stride", None)
    s = as_tuple(stride if stride is not None else layer.kernel_size, nd)  # type: ignore[attr-defined]
    d = as_tuple(getattr(layer, "dilation", 1), nd)
    rf, jump = _broadcast(f.rf, nd), _broadcast(f.jump, nd)
    if len(rf) != nd:
        return None
    rf2 = tuple(r + di * (ki - 1) * j for r, di, ki, j in zip(rf, d, k, jump, strict=False))
    return Field(rf2, tuple(j * si for j, si in zip(jump, s, strict=False)))


def _merge(fs: list[Field | None]) -> Field | None:
    """Branches that meet: the largest field if they are equally strided, else n/a."""
    if any(f is None for f in fs) or not fs:
        return None
    n = max(len(f.rf) for f in fs if f)
    jumps = {_broadcast(f.jump, n) for f in fs if f}
    if len(jumps) != 1:
        return None
    rfs = [_broadcast(f.rf, n) for f in fs if f]
    return Field(tuple(max(r[i] for r in rfs) for i in range(n)), jumps.pop())


def receptive_fields(res: CheckResult) -> dict[str, Field | None]:
    """Receptive field and cumulative stride at every node's output, by path."""
    out: dict[str, Field | None] = {}
    blocks = res.spec.blocks

    def scope(nodes: list[Node], env: dict[str, Field | None]) -> None:
        for n in nodes:
            fs = [env.get(i) for i in n.inputs]
            if n.kind == "layer":
                if n.layer is None:
                    f = None
                elif len(fs) == 1:
                    f = _step(n.layer, fs[0])
                else:
                    f = _merge(fs) if type(n.layer).family == "merge" else None
            elif n.kind == "sequential":
                inner: dict[str, Field | None] = {"": fs[0] if fs else None}
                scope(n.children, inner)
                f = out.get(n.children[-1].path) if n.children else None
            else:
                bdef = blocks[n.type]
                inner = dict(zip(bdef.inputs, fs, strict=False))
                scope(n.children, inner)
                last = bdef.output or (n.children[-1].name if n.children else None)
                f = inner.get(last) if last else None
            out[n.path] = f
            env[n.name] = f

    start = Field((1,), (1,))
    scope(res.root, dict.fromkeys(res.inputs, start))
    return out


def per_sample(shape: Any, batch: Any) -> int | None:
    """Elements of one sample: a leading dim equal to the input's batch dim counts as 1."""
    dims = list(shape)
    if dims and batch is not None and dims[0] == batch:
        dims = dims[1:]
    return D.numel(tuple(dims))


def _batch_dim(res: CheckResult) -> Any:
    """The model input's dim 0, free (``N``) or given (``--dim N=4``); None for a scalar input."""
    for t in res.inputs.values():
        if t.shape:
            return t.shape[0]
    return None


def _bytes(n: int | None) -> str:
    if n is None:
        return "?"
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n} B"


def _total(n: int | None, per: str, unknown: str) -> str:
    if n is None:
        return "?" + unknown
    return f"{n:,}{per} ({human(n)})"


def _count(n: int | None) -> str:
    return "?" if n is None else "--" if n == 0 else f"{n:,}"


def rows(res: CheckResult, depth: int | None = None) -> list[tuple[str, ...]]:
    """The table rows (header first); ``depth`` limits how deep containers are opened."""
    fields = receptive_fields(res)
    head = ("Layer (path)", "Type", "Output shape", "Params", "MACs", "RF", "Stride")
    out: list[tuple[str, ...]] = [head]

    def add(nodes: list[Node], level: int) -> None:
        for n in nodes:
            f = fields.get(n.path)
            rf, jump = f.text() if f else ("n/a", "n/a")
            label = "  " * level + (n.path if level == 0 else n.name)
            kind = n.type if n.kind != "sequential" or n.repeat is None else f"Sequential (x{n.repeat})"
            out.append(
                (
                    label,
                    kind,
                    D.fmt_shape(n.output.shape) if n.output is not None else "?",
                    _count(n.params),
                    _count(n.macs),
                    rf,
                    jump,
                )
            )
            if n.children and (depth is None or level + 1 < depth):
                add(n.children, level + 1)

    add(res.root, 0)
    return out


def table(res: CheckResult, depth: int | None = None) -> str:
    rs = rows(res, depth)
    widths = [max(len(r[i]) for r in rs) for i in range(len(rs[0]))]
    right = {3, 4, 5, 6}
    lines = []
    for j, r in enumerate(rs):
        cells = [r[i].rjust(widths[i]) if i in right else r[i].ljust(widths[i]) for i in range(len(r))]
        lines.append("  ".join(cells).rstrip())
        if j == 0:
            lines.append("=" * len(lines[0]))
    lines.append("=" * len(lines[0]))
    return "\n".join(lines)


@dataclass
class Totals:
    params: int
    trainable: int
    param_bytes: int
    activation_bytes: int | None
    macs: int | None
    macs_per: list[str]

    @property
    def flops(self) -> int | None:
        return None if self.macs is None else 2 * self.macs


def totals(res: CheckResult) -> Totals:
    batch = _batch_dim(res)
    act: int | None = 0
    for n in res.layers:
        e = per_sample(n.output.shape, batch) if n.output is not None else None
        act = None if e is None or act is None else act + e
    p = res.total_params
    return Totals(p, p, p * BYTES, None if act is None else act * BYTES, res.total_macs, res.macs_per)


def render(res: CheckResult, depth: int | None = None) -> str:
    """The whole summary: table, totals, conventions."""
    t = totals(res)
    ins = ", ".join(f"{k} {D.fmt_shape(v.shape)}" for k, v in res.inputs.items())
    per = f" per {'·'.join(t.macs_per)}" if t.macs_per else ""
    other = [d for d in t.macs_per if d != _batch_dim(res)]
    act_note = f" (free dims {', '.join(other)} counted as 1)" if other else ""
    free = sorted({n for v in res.inputs.values() for d in v.shape for n in D.free_names(d)} - {_batch_dim(res)})
    unknown = f" (depends on {', '.join(free)}: give --dim {free[0]}=...)" if free else ""
    lines = [
        f"{res.name}: input {ins}",
        table(res, depth),
        f"Total params:          {t.params:,}",
        f"Trainable params:      {t.trainable:,}",
        "Non-trainable params:  0",
        f"Param memory (fp32):   {_bytes(t.param_bytes)}",
        f"Activations / sample:  {_bytes(t.activation_bytes)}{act_note if t.activation_bytes is not None else unknown}",
        f"MACs:                  {_total(t.macs, per, unknown)}",
        f"FLOPs:                 {_total(t.flops, per, unknown)}",
        "Conventions: MACs are multiply-accumulates for one sample (batch dim = 1); FLOPs = 2 x MACs;",
        "activation memory = sum of every layer's output elements x 4 bytes (fp32) for one sample;",
        "RF = receptive field and Stride = cumulative stride of the main path, in input pixels",
        "(n/a after a flatten, a global pool, an upsampling or a merge of differently strided branches).",
    ]
    return "\n".join(lines)


def torchinfo_mult_adds(res: CheckResult) -> int | None:
    """Mult-adds counted the way torchinfo 1.8 counts them, from the static result.

    torchinfo (``LayerInfo.calculate_macs``) takes each leaf module's parameters
    and multiplies: a conv's weight and bias by batch x output spatial size; an
    RNN's by batch x sequence (its first two output dims); any other module's
    by the output's first dim only. MultiheadAttention's projections run inside
    ``F.multi_head_attention_forward``, so torchinfo counts none of them. This lets ``summary --torchinfo`` show
    both numbers agree, and says exactly where torchinfo's figure differs from
    archcheck's conv + linear MACs. None where a dim is not concrete.
    """
    total = 0
    for n in res.layers:
        layer, out = n.layer, n.output
        if layer is None or out is None or not n.params or not type(layer).torch_name:
            continue
        shape = [d for d in out.shape if isinstance(d, int)]
        if len(shape) != out.rank:
            return None
        t = type(layer).__name__
        params = n.params
        if t == "MultiheadAttention":
            continue  # its projections run inside F.multi_head_attention_forward: torchinfo sees none
        if t.startswith("Transformer"):
            e = getattr(layer, "d_model", None)
            if not isinstance(e, int):
                return None
            attn = 4 * e * e + (4 * e if getattr(layer, "bias", True) else 0)  # in_proj + out_proj
            params -= attn * (2 if t == "TransformerDecoderLayer" else 1)
        if "Conv" in t:
            total += params * math.prod([shape[0], *shape[2:]])
        elif t in ("LSTM", "GRU", "RNN"):
            total += params * math.prod(shape[:2])
        else:
            total += params * shape[0]
    return total


def torchinfo_totals(res: CheckResult, dims: dict[str, int]) -> tuple[str, dict[str, Any]]:
    """Run torchinfo.summary on the built model (batch 1); its totals, beside archcheck's.

    The model and its inputs live on the meta device only (torchinfo runs
    there): no weights are materialised, whatever the model's size. Where
    torch cannot run the model on meta, the text says so; there is no CPU
    fallback.
    """
    import torch
    import torchinfo

    from .verify import _first_line, _inputs, _is_missing_meta_kernel, concrete_dims, meta_model

    values, r1 = concrete_dims(res.spec, {**{k: 1 for k in ("N",) if k not in dims}, **dims})
    if not r1.ok:
        return "torchinfo: the spec does not check with " + ", ".join(f"{k}={v}" for k, v in values.items()), {}
    model = meta_model(torch, r1)
    try:
        info = torchinfo.summary(model, input_data=_inputs(torch, r1, "meta"), device="meta", verbose=0, depth=99)
    except Exception as e:  # torchinfo wraps the forward's error in a RuntimeError
        cause = e.__cause__ or e
        what = f"{type(cause).__name__}: {_first_line(cause)}"
        if _is_missing_meta_kernel(cause) or _is_missing_meta_kernel(e):
            why = "torch cannot run this model on the meta device"
        else:
            why = "torch failed to run this model on the meta device"
        return (
            f"torchinfo: not run: {why} ({what}); archcheck runs torchinfo only on the meta device, "
            "so that no weights are materialised, and does not fall back to the CPU"
        ), {}
    got = {"params": int(info.total_params), "mult_adds": int(info.total_mult_adds)}
    at = ", ".join(f"{k}={v}" for k, v in values.items())
    cells = [
        ("", "archcheck", "torchinfo"),
        ("params", f"{r1.total_params:,}", f"{got['params']:,}"),
        ("mult-adds", _fmt_int(torchinfo_mult_adds(r1)), f"{got['mult_adds']:,}"),
        ("MACs (conv+linear)", _fmt_int(r1.total_macs), ""),
    ]
    w = max(16, *(len(c) + 2 for row in cells for c in row[1:]))  # columns stay apart for any count
    lines = [
        f"torchinfo ({at}):",
        *(f"  {a:20}{b:>{w}}{c:>{w}}" for a, b, c in cells),
        "  (torchinfo's mult-adds count every parameter of a leaf module: biases and norms too, and a",
        "   Linear only once per batch row; archcheck's MACs count conv and linear multiply-accumulates)",
    ]
    return "\n".join(lines), got


def _fmt_int(v: int | None) -> str:
    return "?" if v is None else f"{v:,}"


__all__ = ["Field", "Tensor", "receptive_fields", "render", "rows", "table", "totals"]
