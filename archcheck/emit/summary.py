"""``archcheck summary``: the layer table users of torchinfo and Keras expect.

One row per module (nested paths indented) with the columns the user picks
(``--columns``, named as torchinfo's ``col_names``: input_size, output_size,
kernel_size, num_params, params_percent, mult_adds, trainable; and
archcheck's type, groups, macs, rf, stride). By default: type, output shape,
params, MACs, and along the main path of a conv/pool stack the receptive field
and the cumulative stride (``n/a`` once a flatten, a global pool, an upsampling
or a merge of differently strided branches makes them ambiguous). Then the
totals torchinfo prints (total / trainable / non-trainable params, total
mult-adds, input size, forward/backward pass size, params size, estimated
total size, in decimal MB = 10^6 bytes, computed the way torchinfo computes
them) and archcheck's own (MACs, FLOPs, activations per sample).

Two counts of work:

* MACs (archcheck): the multiply-accumulates of convolutions, linear layers,
  attention and recurrent layers (over the whole sequence), for one sample;
  FLOPs = 2 x MACs.
* Mult-adds (torchinfo's convention, so that the numbers agree with
  torchinfo's): each leaf module's parameter count times its output's first
  dim (batch included), a convolution's times batch x output spatial size, an
  RNN's times its output's first two dims; since torchinfo's PR #318 (after
  1.8.0) a Linear's times every row (all output dims but the last).

Sizes use ``--dtype`` (float32 by default) for parameters and float tensors.
``--torchinfo`` runs torchinfo on the model built on the meta device (its
weights are never materialised, no CPU fallback) and compares every number
both print. Nothing here imports torch, except ``--torchinfo``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..diagnostics.text import escape
from ..engine.result import CheckResult, Node
from ..engine.scope import bind_inputs, ref_base, result_refs
from ..layers.base import Layer, Tensor, TorchLeaf
from ..shapes import dims as D
from .report import human, shape_json

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8}
_OTHER_BYTES = {"long": 8, "int64": 8, "int32": 4, "bool": 1}  # index and mask tensors keep their dtype
# torchinfo's "Input size" is sys.getsizeof() of each input's storage: its bytes plus the
# storage object's own size (64 bytes with CPython 3.11 and torch 2.x; --torchinfo measures it).
STORAGE_OVERHEAD = 64

# Mult-adds conventions: torchinfo 1.8.0 (the release pyproject pins), and torchinfo after PR #318
# (unreleased in 1.8.0: a Linear counts every row of its output, not only the first dim).
CONVENTIONS = {
    "torchinfo-1.8": "torchinfo 1.8's, a Linear counted once per batch row",
    "torchinfo-pr318": "torchinfo PR #318's, a Linear counted for every row",
}
DEFAULT_CONVENTION = "torchinfo-1.8"

# Column key (torchinfo's col_names where it has one) -> header.
COLUMNS = {
    "type": "Type",
    "input_size": "Input Shape",
    "output_size": "Output Shape",
    "kernel_size": "Kernel Shape",
    "groups": "Groups",
    "num_params": "Param #",
    "params_percent": "Param %",
    "mult_adds": "Mult-Adds",
    "macs": "MACs",
    "trainable": "Trainable",
    "rf": "RF",
    "stride": "Stride",
}
DEFAULT_COLUMNS = ("type", "output_size", "num_params", "macs", "rf", "stride")
PRESETS = {
    "default": DEFAULT_COLUMNS,
    "torchinfo": ("output_size", "num_params"),  # torchinfo.summary's default col_names
    "all": tuple(COLUMNS),
}
_RIGHT = frozenset({"groups", "num_params", "params_percent", "mult_adds", "macs", "rf", "stride"})


@dataclass
class Field:
    """Receptive field and cumulative stride per spatial dim (None: n/a)."""

    rf: tuple[int, ...]
    jump: tuple[int, ...]

    def text(self) -> tuple[str, str]:
        return _dims_text(self.rf), _dims_text(self.jump)


def _dims_text(v: tuple[int, ...]) -> str:
    return str(v[0]) if len(set(v)) == 1 else "x".join(map(str, v))


def receptive_fields(res: CheckResult) -> dict[str, Field | None]:
    """Receptive field and cumulative stride at every node's output, by path."""
    out: dict[str, Field | None] = {}

    def scope(nodes: list[Node], env: dict[str, Field | None]) -> None:
        for n in nodes:
            fs = [env.get(ref_base(i)) for i in n.inputs]  # an item (qkv.0): its tuple's field
            if n.kind == "layer":
                if n.layer is None:
                    f = None
                else:
                    got = n.layer.receptive_field([(g.rf, g.jump) if g is not None else None for g in fs])
                    f = Field(*got) if got is not None else None
            elif n.kind == "use":  # a module called again: its layer's step, or unknown for a container
                got = (
                    n.layer.receptive_field([(g.rf, g.jump) if g is not None else None for g in fs])
                    if n.layer is not None and len(fs) == 1
                    else None
                )
                f = Field(*got) if got is not None else None
            else:  # a Sequential, repeat or block: its children in their own scope
                inner = bind_inputs(n, res.spec, fs)
                scope(n.children, inner)
                outs = result_refs(n, res.spec)
                f = inner.get(ref_base(outs[0])) if outs else None
            out[n.path] = f
            env[n.name] = f

    start = Field((1,), (1,))
    scope(res.root, dict.fromkeys(res.inputs, start))
    return out


def parse_columns(text: str) -> tuple[str, ...]:
    """``--columns``: names separated by commas, or a preset (default, torchinfo, all).

    Names that all start with ``+`` are added to the default columns. Raises
    ValueError with what is wrong (and a did-you-mean) for an unknown name.
    """
    from ..diagnostics.codes import did_you_mean

    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise ValueError("no column named; give names separated by commas, e.g. input_size,output_size,num_params")
    adding = all(t.startswith("+") for t in items)
    out: list[str] = list(DEFAULT_COLUMNS) if adding else []
    known = [*COLUMNS, *PRESETS]
    for t in items:
        name = t[1:] if adding else t
        if name in PRESETS:
            new: tuple[str, ...] = PRESETS[name]
        elif name in COLUMNS:
            new = (name,)
        else:
            guess = did_you_mean(name, known)
            hint = f"did you mean '{guess}'? " if guess else ""
            raise ValueError(f"unknown column '{escape(name)}': {hint}columns are {', '.join(known)}")
        out += [c for c in new if c not in out]
    return tuple(out)


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


@dataclass
class Sizing:
    """How shapes become numbers of bytes and mult-adds: the batch, the dtype, the convention."""

    batch: Any  # the free batch dim's name (counted as 1), or None
    dtype: str = "float32"
    convention: str = DEFAULT_CONVENTION

    def ints(self, shape: Any) -> tuple[int, ...] | None:
        """The shape with a free batch dim as 1; None while another dim is free."""
        out = []
        for d in shape:
            if isinstance(d, int):
                out.append(d)
            elif isinstance(d, str) and d == self.batch:
                out.append(1)
            else:
                return None
        return tuple(out)

    def elem_bytes(self, dtype: str) -> int:
        return DTYPE_BYTES[self.dtype] if dtype in DTYPE_BYTES else _OTHER_BYTES.get(dtype, DTYPE_BYTES[self.dtype])

    def mult_adds(self, leaf: TorchLeaf) -> int | None:
        """torchinfo's ``LayerInfo.calculate_macs`` for one leaf module (batch included).

        Only the dims the rule reads must be known: an Embedding's count needs the
        batch, not the sequence length.
        """
        shape = tuple(leaf.shape)
        if not leaf.params or not shape:
            return 0
        if leaf.numbered:  # RNNs: weight_ih_l0, ... by the output's first two dims (the sequence and the batch)
            used = shape[:2]
        elif "Conv" in leaf.module:  # torchinfo's own test, on the class name
            used = shape[:1] + shape[2:]
        elif self.convention == "torchinfo-pr318" and "Linear" in leaf.module:
            used = shape[:-1]
        else:
            used = shape[:1]
        s = self.ints(used)
        return None if s is None else leaf.params * math.prod(s)


@dataclass
class Stat:
    """One node's numbers: its own (a layer) or its children's sums (a container)."""

    params: int
    trainable_params: int
    macs: int | None
    mult_adds: int | None
    leaves: list[tuple[TorchLeaf, str, bool, bool]]  # (leaf, output dtype, trainable, a second call of it)
    own_params: int = 0  # a container's Parameter layers: what torchinfo prints on an opened container's row

    @property
    def trainable(self) -> str:
        """torchinfo's Trainable column: True, False, Partial, or -- without params."""
        if not self.params:
            return "--"
        if not self.trainable_params:
            return "False"
        return "True" if self.trainable_params == self.params else "Partial"


def stats(res: CheckResult, sizing: Sizing) -> dict[str, Stat]:
    """Every node's numbers, by path; ``trainable: false`` on a container freezes what is inside."""
    out: dict[str, Stat] = {}

    def visit(n: Node, trainable: bool) -> Stat:
        trainable = trainable and n.trainable
        if n.kind == "layer":
            leaves = []
            if n.layer is not None and n.output is not None:
                leaves = [(lf, n.output.dtype, trainable, False) for lf in n.layer.torch_leaves(n.output)]
            adds = [sizing.mult_adds(lf) for lf, _, _, _ in leaves]
            p = n.params or 0
            st = Stat(p, p if trainable else 0, n.macs, None if None in adds else sum(a or 0 for a in adds), leaves)
        elif n.kind == "use":
            # An earlier module called again: torchinfo counts each call's mult-adds and output (its
            # forward hook runs again), its parameters once (the row is "(recursive)").
            t = n.target
            again: list[tuple[TorchLeaf, str, bool, bool]] | None = []
            if n.layer is not None and n.output is not None:
                again = [(lf, n.output.dtype, trainable, True) for lf in n.layer.torch_leaves(n.output)]
            elif t is not None and t.path in out and n.input_shapes == t.input_shapes:
                again = [(lf, dt, tr, True) for lf, dt, tr, _ in out[t.path].leaves]  # the same sizes again
            elif t is not None:
                again = None  # a container on other sizes: its modules' outputs are not kept
            adds = [sizing.mult_adds(lf) for lf, _, _, _ in again or []]
            use_ma = None if again is None or None in adds else sum(a or 0 for a in adds)
            st = Stat(0, 0, n.macs, use_ma, again or [])
        else:
            kids = [visit(c, trainable) for c in n.children]
            ma = [k.mult_adds for k in kids]
            st = Stat(
                sum(k.params for k in kids),
                sum(k.trainable_params for k in kids),
                n.macs,
                None if None in ma else sum(m or 0 for m in ma),
                [lf for k in kids for lf in k.leaves],
                sum(k.params for c, k in zip(n.children, kids) if c.type == "Parameter"),
            )
        out[n.path] = st
        return st

    for n in res.root:
        visit(n, True)
    return out


def _count(n: int | None) -> str:
    return "?" if n is None else "--" if n == 0 else f"{n:,}"


def _percent(n: int, total: int) -> str:
    return "--" if not n or not total else f"{n / total:.2%}"  # torchinfo: params / total params, 2 places


def _kernel(layer: Layer | None) -> str:
    k = layer.kernel_shape() if layer is not None else None
    return "--" if not k else str(k)  # torchinfo prints str(module.kernel_size): "[3, 3]", "2"


def rows(
    res: CheckResult,
    depth: int | None = None,
    columns: tuple[str, ...] = DEFAULT_COLUMNS,
    sizing: Sizing | None = None,
    containers: str = "totals",
) -> list[tuple[str, ...]]:
    """The table rows (header first); ``depth`` limits how deep containers are opened.

    ``containers``: "totals" (a container's row shows the sums of what is in it) or
    "torchinfo" (as torchinfo prints a container it opens: the parameters it holds
    itself, its Parameter layers, else "--", and "--" for mult-adds; a container
    left closed by ``depth`` shows its totals, as torchinfo's at its max depth).
    """
    sizing = sizing or Sizing(_batch_dim(res) if isinstance(_batch_dim(res), str) else None)
    fields = receptive_fields(res) if {"rf", "stride"} & set(columns) else {}
    st = stats(res, sizing)
    total = sum(st[n.path].params for n in res.root)
    out: list[tuple[str, ...]] = [("Layer (path)", *(COLUMNS[c] for c in columns))]

    def cell(n: Node, c: str, opened: bool, level: int) -> str:
        s = st[n.path]
        lay = n.layer if n.kind == "layer" else None
        # a module whose forward runs none of its submodules (MultiheadAttention: its out_proj never runs)
        bare = bool(s.params) and not s.leaves and lay is not None and type(lay).arity[1] != 0
        if containers == "torchinfo" and c == "mult_adds" and bare and (depth is None or level + 1 < depth):
            return "--"  # torchinfo opens it (it has a child module) and prints -- for an opened module
        if containers == "torchinfo" and opened and c in ("num_params", "params_percent", "mult_adds"):
            if c == "mult_adds":
                return "--"
            own = s.own_params
            if c == "params_percent":
                return _percent(own, total)
            return _count(own)
        if c == "type":
            if n.kind == "use" and n.target is not None:
                return f"{n.type} (use {n.target.name})"  # an earlier module called again: no params of its own
            return n.type if n.kind != "sequential" or n.repeat is None else f"Sequential (x{n.repeat})"
        if c == "input_size":
            first = n.input_shapes[0] if n.input_shapes else None
            return D.fmt_shape(first) if first is not None else "--"
        if c == "output_size":  # several outputs (Split): each one's shape
            return n.output.describe_all() if n.output is not None else "?"
        if c == "kernel_size":
            return _kernel(n.layer)
        if c == "groups":
            g = n.layer.groups_count() if n.layer is not None else None
            return "--" if g is None else str(g)
        if c == "num_params":
            text = _count(s.params)
            return f"({text})" if s.params and not s.trainable_params else text  # torchinfo: (frozen)
        if c == "params_percent":
            return _percent(s.params, total)
        if c == "mult_adds":
            if bare and s.mult_adds == 0:
                return "0"  # torchinfo's row left closed: the sum of its leaf children's mult-adds, none ran
            return _count(s.mult_adds)
        if c == "macs":
            return _count(s.macs)
        if c == "trainable":
            return s.trainable
        f = fields.get(n.path)
        rf, jump = f.text() if f else ("n/a", "n/a")
        return rf if c == "rf" else jump

    def add(nodes: list[Node], level: int) -> None:
        for n in nodes:
            label = "  " * level + (n.path if level == 0 else n.name)
            opened = bool(n.children) and (depth is None or level + 1 < depth)
            out.append((label, *(cell(n, c, opened, level) for c in columns)))
            if n.children and (depth is None or level + 1 < depth):
                add(n.children, level + 1)

    add(res.root, 0)
    return out


def table(
    res: CheckResult,
    depth: int | None = None,
    columns: tuple[str, ...] = DEFAULT_COLUMNS,
    sizing: Sizing | None = None,
    containers: str = "totals",
) -> str:
    rs = rows(res, depth, columns, sizing, containers)
    widths = [max(len(r[i]) for r in rs) for i in range(len(rs[0]))]
    right = {i + 1 for i, c in enumerate(columns) if c in _RIGHT}
    lines = []
    for j, r in enumerate(rs):
        cells = [r[i].rjust(widths[i]) if i in right else r[i].ljust(widths[i]) for i in range(len(r))]
        lines.append("  ".join(cells).rstrip())
        if j == 0:
            lines.append("=" * len(lines[0]))
    lines.append("=" * len(lines[0]))
    return "\n".join(lines)


def activation_bytes(res: CheckResult, dtype: str = "float32") -> int | None:
    """Bytes of every layer's output for one sample (explore's ``memory``); None while a free dim is unknown."""
    batch = _batch_dim(res)
    sizing = Sizing(None, dtype)
    act = 0
    for n in res.layers:
        e = per_sample(n.output.shape, batch) if n.output is not None else None
        if e is None or n.output is None:
            return None
        act += e * sizing.elem_bytes(n.output.dtype)
    return act


@dataclass
class Totals:
    params: int
    trainable: int
    param_bytes: int  # every parameter, at the dtype
    activation_bytes: int | None  # every layer's output, one sample, at the dtype
    macs: int | None
    macs_per: list[str]
    mult_adds: int | None = None  # torchinfo's convention (batch included)
    input_bytes: int | None = None  # the inputs' own bytes
    inputs: int = 0  # how many input tensors (torchinfo adds a storage object's size for each)
    forward_backward_bytes: int | None = None  # torchinfo: 2 x output bytes of each leaf with params
    leaf_param_bytes: int = 0  # torchinfo's "Params size": parameters of leaf modules only

    @property
    def flops(self) -> int | None:
        return None if self.macs is None else 2 * self.macs

    @property
    def non_trainable(self) -> int:
        return self.params - self.trainable

    def torchinfo_mb(self) -> dict[str, float | None]:
        """torchinfo's four sizes in MB (10^6 bytes), computed as it computes them."""
        inp = None if self.input_bytes is None else self.input_bytes + STORAGE_OVERHEAD * self.inputs
        fb = self.forward_backward_bytes
        tot = None if inp is None or fb is None else inp + fb + self.leaf_param_bytes
        return {
            "Input size (MB)": None if inp is None else inp / 1e6,
            "Forward/backward pass size (MB)": None if fb is None else fb / 1e6,
            "Params size (MB)": self.leaf_param_bytes / 1e6,
            "Estimated Total Size (MB)": None if tot is None else tot / 1e6,
        }


def totals(res: CheckResult, sizing: Sizing | None = None) -> Totals:
    batch = _batch_dim(res)
    sizing = sizing or Sizing(batch if isinstance(batch, str) else None)
    eb = DTYPE_BYTES[sizing.dtype]
    act = activation_bytes(res, sizing.dtype)
    st = stats(res, sizing)
    roots = [st[n.path] for n in res.root]
    leaves = [lf for s in roots for lf in s.leaves]
    ma = [s.mult_adds for s in roots]
    inp: int | None = 0
    for t in res.inputs.values():
        s = sizing.ints(t.shape)
        inp = None if s is None or inp is None else inp + math.prod(s) * sizing.elem_bytes(t.dtype)
    fb: int | None = 0
    for lf, dtype, _, _ in leaves:
        if lf.params:
            s = sizing.ints(lf.shape)
            fb = None if s is None or fb is None else fb + 2 * math.prod(s) * sizing.elem_bytes(dtype)
    p = sum(s.params for s in roots)
    return Totals(
        params=p,
        trainable=sum(s.trainable_params for s in roots),
        param_bytes=p * eb,
        activation_bytes=act,
        macs=res.total_macs,
        macs_per=res.macs_per,
        mult_adds=None if None in ma else sum(m or 0 for m in ma),
        input_bytes=inp,
        inputs=len(res.inputs),
        forward_backward_bytes=fb,
        leaf_param_bytes=sum(lf.params for lf, _, _, again in leaves if not again) * eb,
    )


def _training_only_lines(res: CheckResult) -> list[str]:
    """Outputs marked training_only: their layers run only in training mode, outside the MACs above."""
    names = res.training_only_outputs
    if not names:
        return []
    only = [n for n in res.layers if n.training_only]
    macs = sum(n.macs or 0 for n in only)
    return [
        f"Training-only outputs: {', '.join(escape(n) for n in names)} ({len(only)} layers, "
        f"{sum(n.params or 0 for n in only):,} params, {_count(macs)} MACs: run and returned only in training mode; "
        "MACs above are eval mode's)"
    ]


def mult_adds_parts(n: int | None) -> tuple[str, str]:
    """torchinfo's total, label and value: ``Total mult-adds (M)``, ``3.02`` (M, G or T; an integer as is)."""
    if n is None:
        return "Total mult-adds", "?"
    unit, size = ("T", 1e12) if n >= 1e12 else ("G", 1e9) if n >= 1e9 else ("M", 1e6)
    v = n / size
    return f"Total mult-adds ({unit})", f"{int(v):,}" if v.is_integer() else f"{v:,.2f}"


def mb(n: int | float | None) -> str:
    """Bytes in decimal megabytes (10^6, as torchinfo), two places: ``0.86 MB``."""
    return "?" if n is None else f"{n / 1e6:,.2f} MB"


def _total(n: int | None, per: str, unknown: str) -> str:
    if n is None:
        return "?" + unknown
    return f"{n:,}{per} ({human(n)})"


def render(
    res: CheckResult,
    depth: int | None = None,
    columns: tuple[str, ...] = DEFAULT_COLUMNS,
    dtype: str = "float32",
    convention: str = DEFAULT_CONVENTION,
    containers: str = "totals",
) -> str:
    """The whole summary: table, torchinfo's totals, archcheck's, conventions (``containers``: see ``rows``)."""
    batch = _batch_dim(res)
    sizing = Sizing(batch if isinstance(batch, str) else None, dtype, convention)
    t = totals(res, sizing)
    ins = ", ".join(f"{k} {D.fmt_shape(v.shape)}" for k, v in res.inputs.items())
    per = f" per {'·'.join(t.macs_per)}" if t.macs_per else ""
    other = [d for d in t.macs_per if d != batch]
    act_note = f" (free dims {', '.join(other)} counted as 1)" if other else ""
    free = sorted({n for v in res.inputs.values() for d in v.shape for n in D.free_names(d)} - {batch})
    unknown = f" (depends on {', '.join(free)}: give --dim {free[0]}=...)" if free else ""
    at = f"batch {batch} = 1" if isinstance(batch, str) else f"batch {batch}" if batch is not None else "no batch"
    sizes = t.torchinfo_mb()
    leaf_note = ""
    if t.leaf_param_bytes != t.param_bytes:
        leaf_note = f" (torchinfo counts leaf modules only; all parameters: {mb(t.param_bytes)})"
    w = 33
    ma_label, ma_value = mult_adds_parts(t.mult_adds)
    lines = [
        f"{res.name}: input {ins}",
        table(res, depth, columns, sizing, containers),
        f"{'Total params:':<{w}}{t.params:,}",
        f"{'Trainable params:':<{w}}{t.trainable:,}",
        f"{'Non-trainable params:':<{w}}{t.non_trainable:,}",
        f"{ma_label + ':':<{w}}{ma_value}"
        + (unknown if t.mult_adds is None else f" ({at}, {convention}'s convention)"),
    ]
    for label, v in sizes.items():
        lines.append(f"{label + ':':<{w}}" + (f"{v:0.2f}" if v is not None else "?" + unknown))
    lines[-2] += leaf_note
    lines += [
        f"{'MACs:':<{w}}{_total(t.macs, per, unknown)}",
        f"{'FLOPs:':<{w}}{_total(t.flops, per, unknown)}",
        *_training_only_lines(res),
        f"{'Activations / sample (MB):':<{w}}"
        + (f"{t.activation_bytes / 1e6:0.2f}{act_note}" if t.activation_bytes is not None else "?" + unknown),
        f"Conventions: MB = 10^6 bytes; sizes at {dtype} ({DTYPE_BYTES[dtype]} bytes a parameter or float element), {at}.",
        "torchinfo's totals as torchinfo computes them: the input tensors; forward/backward = 2 x the output of",
        "every leaf module with parameters; params = the parameters of leaf modules; mult-adds = each leaf",
        "module's parameters x its output rows, batch included. MACs = multiply-accumulates of conv, linear,",
        "attention and recurrent layers (every step of the sequence), per free batch dim or for the batch",
        "given; FLOPs = 2 x MACs; activations = every layer's output, one sample. "
        + (
            "A container's row shows what torchinfo prints for a module it opens: the parameters it holds itself "
            "(its Parameter layers, listed on their own rows too), else --."
            if containers == "torchinfo"
            else "A container's row shows its total."
        ),
        "A module called again (use:) counts its mult-adds and output at each call, its parameters once.",
    ]
    if "rf" in columns or "stride" in columns:
        lines += [
            "RF = receptive field and Stride = cumulative stride of the main path, in input pixels",
            "(n/a after a flatten, a global pool, an upsampling or a merge of differently strided branches).",
        ]
    return "\n".join(lines)


def to_json(
    res: CheckResult,
    columns: tuple[str, ...] = DEFAULT_COLUMNS,
    dtype: str = "float32",
    convention: str = DEFAULT_CONVENTION,
) -> dict[str, Any]:
    """The summary as data: every row's exact numbers and the totals in bytes (``--format json``)."""
    batch = _batch_dim(res)
    sizing = Sizing(batch if isinstance(batch, str) else None, dtype, convention)
    st = stats(res, sizing)
    fields = receptive_fields(res)
    t = totals(res, sizing)
    out_rows = []
    for n in res.nodes:
        s = st[n.path]
        f = fields.get(n.path)
        out_rows.append(
            {
                "path": n.path,
                "type": n.type,
                "kind": n.kind,
                "input_shape": shape_json(n.input_shapes[0]) if n.input_shapes else None,
                "output_shape": shape_json(n.output.shape) if n.output is not None else None,
                "kernel_shape": n.layer.kernel_shape() if n.layer is not None else None,
                "groups": n.layer.groups_count() if n.layer is not None else None,
                "params": s.params,
                "trainable_params": s.trainable_params,
                "trainable": s.trainable,
                "macs": s.macs,
                "mult_adds": s.mult_adds,
                "receptive_field": list(f.rf) if f else None,
                "stride": list(f.jump) if f else None,
            }
        )
    return {
        "name": res.name,
        "inputs": {k: shape_json(v.shape) for k, v in res.inputs.items()},
        "dtype": dtype,
        "batch": D.to_json(batch) if batch is not None else None,
        "mult_adds_convention": convention,
        "columns": list(columns),
        "rows": out_rows,
        "totals": {
            "params": t.params,
            "trainable_params": t.trainable,
            "non_trainable_params": t.non_trainable,
            "mult_adds": t.mult_adds,
            "macs": t.macs,
            "macs_per": t.macs_per,
            "flops": t.flops,
            "input_bytes": t.input_bytes,
            "forward_backward_bytes": t.forward_backward_bytes,
            "params_bytes": t.param_bytes,
            "leaf_params_bytes": t.leaf_param_bytes,
            "activation_bytes_per_sample": t.activation_bytes,
            "torchinfo_mb": t.torchinfo_mb(),
        },
    }


def torchinfo_mult_adds(res: CheckResult, convention: str = DEFAULT_CONVENTION) -> int | None:
    """Total mult-adds counted the way torchinfo counts them (see ``Sizing.mult_adds``), batch included."""
    batch = _batch_dim(res)
    return totals(res, Sizing(batch if isinstance(batch, str) else None, "float32", convention)).mult_adds


# ------------------------------------------------------------------ --torchinfo


def probe_convention(torch: Any, torchinfo: Any) -> str | None:
    """The mult-adds convention of the torchinfo installed: how it counts a Linear(2, 3) on [1, 4, 2].

    torchinfo 1.8.0 counts its 9 parameters once per batch row (9); after PR #318
    once per row of every leading dim (36). Probing the behaviour, not the
    version string, also tells a source install of torchinfo's master apart.
    """
    lin = torch.nn.Linear(2, 3, device="meta")
    info = torchinfo.summary(lin, input_data=[torch.empty(1, 4, 2, device="meta")], device="meta", verbose=0)
    return {9: "torchinfo-1.8", 36: "torchinfo-pr318"}.get(int(info.total_mult_adds))


def _info_path(info: Any) -> str:
    names = []
    while info is not None and info.depth > 0:
        names.append(str(info.var_name))
        info = info.parent_info
    return ".".join(reversed(names))


@dataclass
class Comparison:
    """archcheck's numbers beside torchinfo's (``summary --torchinfo``)."""

    text: str
    totals: dict[str, tuple[str, str]]  # label -> (archcheck, torchinfo), as printed
    rows: int = 0  # torch modules compared row by row
    differences: list[str] | None = None
    convention: str | None = None

    @property
    def agree(self) -> bool:
        return not self.differences and all(a == b for a, b in self.totals.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "agree": self.agree,
            "convention": self.convention,
            "rows_compared": self.rows,
            "differences": self.differences or [],
            "totals": {k: {"archcheck": a, "torchinfo": b} for k, (a, b) in self.totals.items()},
        }


def compare_torchinfo(res: CheckResult, dims: dict[str, int], dtype: str = "float32") -> Comparison:
    """Run torchinfo.summary on the built model; every per-layer number and total both print, side by side.

    The model and its inputs live on the meta device only (torchinfo runs
    there): no weights are materialised, whatever the model's size. Where
    torch cannot run the model on meta, the text says so; there is no CPU
    fallback. Free dims get small values (N=1 unless given).
    """
    import torch
    import torchinfo

    from .verify import _first_line, _inputs, _is_missing_meta_kernel, concrete_dims, meta_model

    values, r1 = concrete_dims(res.spec, {**{k: 1 for k in ("N",) if k not in dims}, **dims})
    if not r1.ok:
        text = "torchinfo: the spec does not check with " + ", ".join(f"{k}={v}" for k, v in values.items())
        return Comparison(text, {})
    tdt = getattr(torch, dtype)
    model = meta_model(torch, r1).to(tdt)
    inputs = [x.to(tdt) if x.is_floating_point() else x for x in _inputs(torch, r1, "meta")]
    version = getattr(torchinfo, "__version__", "?")
    try:
        convention = probe_convention(torch, torchinfo)
        info = torchinfo.summary(model, input_data=inputs, device="meta", verbose=0, depth=99)
    except Exception as e:  # torchinfo wraps the forward's error in a RuntimeError
        cause = e.__cause__ or e
        what = f"{type(cause).__name__}: {_first_line(cause)}"
        if _is_missing_meta_kernel(cause) or _is_missing_meta_kernel(e):
            why = "torch cannot run this model on the meta device"
        else:
            why = "torch failed to run this model on the meta device"
        text = (
            f"torchinfo: not run: {why} ({what}); archcheck runs torchinfo only on the meta device, "
            "so that no weights are materialised, and does not fall back to the CPU"
        )
        return Comparison(text, {})
    sizing = Sizing(None, dtype, convention or DEFAULT_CONVENTION)
    ours = totals(r1, sizing)
    st = stats(r1, sizing)
    nodes = {n.path: n for n in r1.nodes}
    diffs: list[str] = []
    compared = 0
    for li in info.summary_list:
        path = _info_path(li)
        n = nodes.get(path)
        if n is None or li.is_recursive or not path:
            continue
        compared += 1
        s = st[path]
        theirs_ma = li.macs if li.is_leaf_layer else sum(c.macs for c in li.children if c.is_leaf_layer)
        out_shape = n.output.shape if n.output is not None else None
        if li.is_leaf_layer and len(s.leaves) == 1:
            out_shape = s.leaves[0][0].shape  # the module's own output
        shape = list(sizing.ints(out_shape) or ()) if out_shape is not None else None
        for what, a, b in (
            ("params", s.params, li.num_params),
            ("trainable params", s.trainable_params, li.trainable_params),
            ("output shape", shape, list(li.output_size)),
            ("mult-adds", s.mult_adds if convention else theirs_ma, theirs_ma),
        ):
            if a != b:
                diffs.append(f"{escape(path)} {what}: archcheck {a}, torchinfo {b}")
    mb_ours = ours.torchinfo_mb()
    # torchinfo's input size includes each storage object's own size: measure it here, not assume it
    overhead = int(info.total_input) - (ours.input_bytes or 0)
    inp = ((ours.input_bytes or 0) + STORAGE_OVERHEAD * ours.inputs) / 1e6
    theirs = {
        "Total params": (f"{ours.params:,}", f"{int(info.total_params):,}"),
        "Trainable params": (f"{ours.trainable:,}", f"{int(info.trainable_params):,}"),
        "Non-trainable params": (f"{ours.non_trainable:,}", f"{int(info.total_params - info.trainable_params):,}"),
        "Total mult-adds": (_fmt_int(ours.mult_adds), f"{int(info.total_mult_adds):,}"),
        "Input size (MB)": (f"{inp:0.2f}", f"{info.total_input / 1e6:0.2f}"),
        "Forward/backward pass size (MB)": (
            f"{mb_ours['Forward/backward pass size (MB)'] or 0:0.2f}",
            f"{info.total_output_bytes / 1e6:0.2f}",
        ),
        "Params size (MB)": (f"{mb_ours['Params size (MB)'] or 0:0.2f}", f"{info.total_param_bytes / 1e6:0.2f}"),
        "Estimated Total Size (MB)": (
            f"{mb_ours['Estimated Total Size (MB)'] or 0:0.2f}",
            f"{(info.total_input + info.total_output_bytes + info.total_param_bytes) / 1e6:0.2f}",
        ),
    }
    at = ", ".join(f"{k}={v}" for k, v in values.items())
    conv_text = (
        f"its mult-adds convention: {CONVENTIONS[convention]}"
        if convention
        else "its mult-adds follow neither torchinfo 1.8's convention nor PR #318's: archcheck shows torchinfo's own"
    )
    w = max(16, *(len(c) + 2 for pair in theirs.values() for c in pair))
    head = f"  {'':33}{'archcheck':>{w}}{'torchinfo':>{w}}"
    lines = [
        f"torchinfo {escape(str(version))} ({at}, {dtype}; {conv_text}):",
        head,
        *(f"  {k:33}{a:>{w}}{b:>{w}}" + ("" if a == b else "   <- differs") for k, (a, b) in theirs.items()),
    ]
    if overhead != STORAGE_OVERHEAD * ours.inputs:
        lines.append(
            f"  (torchinfo's input size counts {overhead:,} bytes beyond the inputs' {ours.input_bytes:,}: "
            f"archcheck assumes {STORAGE_OVERHEAD} per input for the storage object)"
        )
    if diffs:
        lines.append(f"  {len(diffs)} per-module difference(s) in {compared} torch modules compared:")
        lines += [f"    {d}" for d in diffs[:20]] + ([f"    ... and {len(diffs) - 20} more"] if len(diffs) > 20 else [])
    else:
        lines.append(
            f"  every one of the {compared} torch modules both list agrees: params, trainable params, "
            "output shape, mult-adds"
        )
    return Comparison("\n".join(lines), theirs, compared, diffs, convention)


def torchinfo_totals(res: CheckResult, dims: dict[str, int]) -> tuple[str, dict[str, Any]]:
    """``compare_torchinfo``'s text and totals (torchinfo's params and mult-adds), as before."""
    c = compare_torchinfo(res, dims)
    if not c.totals:
        return c.text, {}
    return c.text, {
        "params": int(c.totals["Total params"][1].replace(",", "")),
        "mult_adds": int(c.totals["Total mult-adds"][1].replace(",", "")),
    }


def _fmt_int(v: int | None) -> str:
    return "?" if v is None else f"{v:,}"


__all__ = [
    "COLUMNS",
    "Comparison",
    "Field",
    "Tensor",
    "compare_torchinfo",
    "parse_columns",
    "receptive_fields",
    "render",
    "rows",
    "table",
    "to_json",
    "totals",
]
