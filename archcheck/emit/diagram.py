"""Graphviz diagrams of a checked network's channel and spatial flow.

The diagram is drawn from a :class:`~archcheck.engine.walk.CheckResult`, never by
running anything. Each node is one layer, or one block/Sequential collapsed
into a single box (``Basic ×2`` for ``repeat: 2``). Three visual channels carry
the story a reader should get without reading a label:

* box **width** grows with log2(channels), so "channels up" widens the flow,
  and a **channel bar** inside the box (length and a light-to-dark ramp by
  log2(channels)) says the same even where a label would stretch the box;
  edges thicken with the channels they carry;
* box **height** grows with log2(H×W), so "spatial down" flattens it (a free
  dim counts as the smallest size the AC306 condition allows, else 224);
* box **colour** is the layer family (conv, pool, norm, ...), with a legend; a
  collapsed block or Sequential (double border) takes the colour of the family
  that holds most of its parameters, so a block of convs is a conv block.

A network that upsamples back to sizes it had before (a U-Net) is drawn as a
U: the upsampling path climbs back up beside the path down, and each skip
connection runs across between boxes of the same size.

Edges carry the tensor shape without the batch dim (``16×28×28``). A layer
with an error gets a red border and a note with the message; layers that could
not be checked because an input is unknown are drawn dashed and grey.
Parameter-free activations directly after a layer are folded into that
layer's box (``conv1 + ReLU``), as the legend says.

Only the ``graphviz`` Python package is needed to build the DOT text; the
``dot`` binary is needed for svg/png/pdf. Never imports torch.
"""

from __future__ import annotations

import bisect
import html
import math
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import click

from ..diagnostics.codes import Diagnostic
from ..diagnostics.text import escape
from ..engine.result import CheckResult, Node
from ..engine.scope import bind_inputs, ref_base, result_refs, split_ref
from ..layers.base import REGISTRY, Layer, Tensor
from ..layers.roles import CHANNELS, FEATURES, SEQUENCE, SPATIAL
from ..shapes import dims as D
from .report import human as _human

# Formats by the output file's suffix; "dot" is written without the binary.
FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot", ".gv": "dot"}

# Auto depth: open containers level by level while Plan.cost stays this small.
AUTO_BUDGET = 32

FONT = "Helvetica,Arial,sans-serif"

# Fill colour per layer family (ColorBrewer Set3-like pastels; red is kept for errors).
FAMILY_COLORS = {
    "conv": "#80b1d3",
    "pool": "#fdb462",
    "norm": "#bebada",
    "linear": "#b3de69",
    "activation": "#ffffb3",
    "dropout": "#d9d9d9",
    "reshape": "#8dd3c7",
    "merge": "#fccde5",
    "recurrent": "#bc80bd",
    "attention": "#ffed6f",
    "embedding": "#ccebc5",
    "resample": "#e5c494",
    "identity": "#f0f0f0",
    "other": "#ffffff",
}
COLLAPSED_COLOR = "#f2efe6"  # a collapsed container with no family (empty, or all unknown)
# Channel ramp, light to dark by log2(C) from 1 to 4096 (a YlGnBu-like scale).
CHANNEL_RAMP = ["#ffffd9", "#c7e9b4", "#7fcdbb", "#41b6c4", "#1d91c0", "#225ea8", "#253494", "#081d58"]
CHANNEL_MAX_BITS = 12
SKIPPED_COLOR = "#eeeeee"
ERROR_COLOR = "#d62728"
WARNING_COLOR = "#ff7f0e"


class DotNotFound(RuntimeError):
    """The Graphviz ``dot`` binary is not on PATH."""


INSTALL_HINT = (
    "the Graphviz 'dot' program is not installed (or not on PATH); install it with "
    "`apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` (macOS) "
    "or from https://graphviz.org/download/"
)


class DiagramTooLarge(click.ClickException):
    """The diagram has more boxes or edges than ``dot`` can lay out: a usage error (exit 2).

    A ClickException so that the CLI prints the message and exits 2 wherever it
    is raised; a library caller catches it like any exception.
    """

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"archcheck: {self.format_message()}", err=True)


# ---------------------------------------------------------------- the plan


@dataclass
class Box:
    """One drawn node: a layer, a collapsed container, or a model input/output."""

    id: str
    kind: str  # "layer", "collapsed", "input", "output"
    title: str
    subtitle: str
    tensor: Tensor | None
    family: str
    node: Node | None = None
    folded: list[str] = field(default_factory=list)  # activation types folded in
    run: int = 1  # identical collapsed siblings drawn as this one box
    diagnostics: list[Diagnostic] = field(default_factory=list)
    skipped: bool = False  # not checked: an input is unknown
    layout: str = "cf"  # "cf" channels first, "cl" channels last (rank-3 tensors)


@dataclass
class Cluster:
    """An opened container: its boxes and sub-clusters, drawn inside a frame."""

    id: str
    label: str
    node: Node | None = None
    items: list[Union[Box, Cluster]] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)


@dataclass
class Edge:
    src: str
    dst: str
    tensor: Tensor | None
    layout: str = "cf"
    item: str = ""  # which output of a tuple the edge carries: ".1" (Split's second part, LSTM's h_n)


@dataclass
class Src:
    """What a name in scope resolves to: the box that drew its tensor."""

    box: str
    tensor: Tensor | None
    layout: str
    items: tuple[Src, ...] = ()  # a block's several outputs, each from its own box
    item: str = ""  # the output index this source is (".1"), for the edge's label


def _resolve(env: dict[str, Src], ref: str) -> Src | None:
    """The source ``ref`` names: a name, or an item of a tuple (``qkv.1``: the edge from qkv carries part 1)."""
    if ref in env:
        return env[ref]
    sr = split_ref(ref)
    s = env.get(sr[0]) if sr is not None else None
    if s is None or sr is None:
        return None
    index = sr[1]
    t = s.tensor
    for k, i in enumerate(index):
        if k == 0 and s.items:  # a block's outputs: the box that made this one
            if i >= len(s.items):
                return None
            s = s.items[i]
            t = s.tensor
            continue
        if t is None or t.parts is None or i >= len(t.parts):
            return None
        t = t.parts[i]
    return Src(s.box, t, s.layout, item=s.item + "".join(f".{i}" for i in index) if not s.items else s.item)


@dataclass
class Plan:
    root: Cluster
    edges: list[Edge]
    boxes: dict[str, Box]
    loose: list[Diagnostic]  # diagnostics with no box or cluster to attach to
    depth: int | None
    clusters: int = 0
    nominal: dict[str, int] = field(default_factory=dict)  # free dim -> size used for heights

    @property
    def cost(self) -> int:
        """How busy the diagram is: boxes, and nested frames count double."""
        return len(self.boxes) + 2 * self.clusters


def _type(node: Node) -> type[Layer] | None:
    """The layer type of a node (also of a layer whose fields are wrong); None for containers."""
    if node.layer is not None:
        return type(node.layer)
    cls: type[Layer] | None = REGISTRY.get(node.type)
    return cls


def _family(node: Node) -> str:
    cls = _type(node)
    return cls.family if cls is not None else "other"


def _layout(node: Node) -> str | None:
    """How the type draws a 3-d tensor: "cf" [N, C, L], "cl" [N, L, C], or None (as its input)."""
    cls = _type(node)
    return cls.drawn_layout if cls is not None else None


_MINOR = {"activation", "identity", "dropout", "reshape", "other"}


def _block_family(node: Node) -> str:
    """The family a collapsed container is drawn in: the one with most parameters inside.

    Parameter-free blocks go by the count of their layers; activations, dropout
    and reshapes only decide when nothing else is inside.
    """
    weight: dict[str, float] = {}
    for n in node.walk():
        if n.kind != "layer":
            continue
        fam = _family(n)
        weight[fam] = weight.get(fam, 0.0) + (n.params or 0) + 1e-3 * (fam not in _MINOR)
    if not weight:
        return "block"
    major = {f: w for f, w in weight.items() if f not in _MINOR} or weight
    return max(major, key=lambda f: (major[f], -list(FAMILY_COLORS).index(f) if f in FAMILY_COLORS else 0))


def nominal_sizes(res: CheckResult) -> dict[str, int]:
    """Sizes for free dims in box heights: the smallest one AC306 allows (its ``suggested_dims``)."""
    out: dict[str, int] = {}
    for d in res.diagnostics:
        if d.code == "AC306":
            for name, size in d.suggested_dims.items():
                if size > 0:
                    out.setdefault(name, size)
    return out


def _container_depth(nodes: list[Node]) -> int:
    """How many levels of containers there are below ``nodes``."""
    best = 0
    for n in nodes:
        if n.kind != "layer" and n.children:
            best = max(best, 1 + _container_depth(n.children))
    return best


class _Planner:
    def __init__(self, res: CheckResult, depth: int | None, fold: bool) -> None:
        self.res = res
        self.depth = depth  # None: open everything
        self.fold = fold
        self.boxes: dict[str, Box] = {}
        self.edges: list[Edge] = []
        self.by_path: dict[str, list[Diagnostic]] = {}
        self.loose: list[Diagnostic] = []
        for d in res.diagnostics:
            if d.path:
                self.by_path.setdefault(d.path, []).append(d)
            else:
                self.loose.append(d)
        self.used: set[str] = set()
        self.clusters = 0
        self.paths = sorted(self.by_path)  # for the paths below a container, by bisection
        self._order = {p: i for i, p in enumerate(self.by_path)}  # first-seen order, as before

    def plan(self) -> Plan:
        root = Cluster("root", self.res.name)
        env: dict[str, Src] = {}
        for nm, t in self.res.inputs.items():
            layout = self._input_layout(nm, t)
            box = Box(f"@in.{nm}", "input", nm, "input", t, "other", layout=layout)
            self._add(root, box)
            env[nm] = Src(box.id, t, layout)
        outputs = list(self.res.spec.model.outputs or []) if self.res.spec.model is not None else []
        keep = set(outputs) | set(self.res.outputs)
        self.scope(self.res.root, env, root, 0, keep=keep | {ref_base(str(o)) for o in keep})
        for nm in self.res.outputs:
            src = _resolve(env, nm)
            if src is None:
                continue
            box = Box(f"@out.{nm}", "output", "output", nm, src.tensor, "other", layout=src.layout)
            self._add(root, box)
            self.edges.append(Edge(src.box, box.id, src.tensor, src.layout, src.item))
        self.loose.extend(d for p, ds in self.by_path.items() if p not in self.used for d in ds)
        self.loose.sort(key=lambda d: (d.line or 0, d.column or 0))
        return Plan(root, self.edges, self.boxes, self.loose, self.depth, self.clusters, nominal_sizes(self.res))

    def _input_layout(self, name: str, t: Tensor) -> str:
        if t.rank != 3:
            return "cf"
        by_roles = _roles_layout(t)
        if by_roles is not None:
            return by_roles
        for n in self.res.root:
            if name in n.inputs:
                return "cf" if _layout(n) == "cf" else "cl"
        return "cl"

    def _add(self, cluster: Cluster, box: Box) -> None:
        cluster.items.append(box)
        self.boxes[box.id] = box

    def _take(self, path: str, prefix: bool = False, peek: bool = False) -> list[Diagnostic]:
        """The diagnostics at ``path`` (and below it with ``prefix``), marked as drawn."""
        out: list[Diagnostic] = []
        found = [path] if path in self.by_path else []
        if prefix:  # linear in what is found, not in every diagnostic (a spec may have 50,000)
            lo = bisect.bisect_left(self.paths, path + ".")
            hi = bisect.bisect_left(self.paths, path + "/")  # "/" sorts right after "."
            found += self.paths[lo:hi]
        for p in sorted(found, key=self._order.__getitem__):
            if p not in self.used:
                out.extend(self.by_path[p])
                if not peek:
                    self.used.add(p)
        return out

    @staticmethod
    def _same(a: Node | None, b: Node) -> bool:
        """Two containers that would draw the same: type, params, repeat and shapes."""
        if a is None or a.kind == "layer" or b.kind != a.kind or not a.children or not b.children:
            return False
        if (a.type, a.block_params, a.repeat) != (b.type, b.block_params, b.repeat):
            return False
        if a.output is None or b.output is None or a.output.shape != b.output.shape:
            return False
        if a.kind == "sequential" and not a.repeat and [c.type for c in a.children] != [c.type for c in b.children]:
            return False
        return True

    def opened(self, node: Node, level: int) -> bool:
        if node.kind == "layer" or not node.children:
            return False
        if self.depth is None:
            return True
        if node.repeat and node.children[0].kind != "layer" and level + 1 >= self.depth:
            return False  # k identical collapsed copies say no more than "Block ×k"
        return level < self.depth

    def scope(self, nodes: list[Node], env: dict[str, Src], cluster: Cluster, level: int, keep: set[str]) -> None:
        """Draw ``nodes`` (one scope) into ``cluster``; ``env`` maps local names to sources."""
        consumers: dict[str, int] = {}
        for n in nodes:
            for i in n.inputs:
                consumers[i] = consumers.get(i, 0) + 1
        prev_box: Box | None = None
        prev: Node | None = None
        for n in nodes:
            srcs = [s for i in n.inputs if (s := _resolve(env, i)) is not None]
            if (
                self.fold
                and prev_box is not None
                and prev is not None
                and n.kind == "layer"
                and (cls := _type(n)) is not None
                and cls.folds
                and not n.params
                and n.inputs == [prev.name]
                and consumers.get(prev.name, 0) == 1
                and prev.name not in keep
                and not self.by_path.get(n.path)
            ):
                prev_box.folded.append(n.type)
                if n.output is not None:
                    prev_box.tensor = n.output
                env[n.name] = Src(prev_box.id, prev_box.tensor, prev_box.layout)
                prev = n
                continue
            if (
                prev_box is not None
                and prev is not None
                and prev_box.kind == "collapsed"
                and not self.opened(n, level)
                and self._same(prev_box.node, n)
                and n.inputs == [prev.name]
                and consumers.get(prev.name, 0) == 1
                and prev.name not in keep
                and not prev_box.folded
                and not self._take(n.path, prefix=True, peek=True)
            ):
                # Identical blocks in a chain (ResNet's Bottleneck x5) become one box.
                prev_box.run += 1
                assert prev_box.node is not None
                prev_box.title = f"{prev_box.node.path}–{n.name}"
                prev_box.tensor = n.output
                env[n.name] = Src(prev_box.id, n.output, prev_box.layout)
                prev = n
                continue
            if self.opened(n, level):
                self.clusters += 1
                sub = Cluster(f"cluster_{n.path}", self._cluster_label(n), n, diagnostics=self._take(n.path))
                cluster.items.append(sub)
                inner = bind_inputs(n, self.res.spec, srcs)  # fewer srcs: an input failed
                outs = result_refs(n, self.res.spec)
                self.scope(n.children, inner, sub, level + 1, keep={ref_base(o) for o in outs})
                if len(outs) > 1:  # a block with several outputs: each item's edge leaves its own box
                    got = [_resolve(inner, o) or Src("", None, "cf") for o in outs]
                    env[n.name] = Src("", n.output, "cf", tuple(got))
                else:
                    env[n.name] = _resolve(inner, outs[0]) or Src("", None, "cf")
                prev_box, prev = None, n
                continue
            box = self._box(n, srcs)
            self._add(cluster, box)
            for s in srcs:
                if s.box:
                    self.edges.append(Edge(s.box, box.id, s.tensor, s.layout, s.item))
            env[n.name] = Src(box.id, n.output, box.layout)
            prev_box, prev = box, n

    def _box(self, n: Node, srcs: list[Src]) -> Box:
        fam = _family(n)
        layout = srcs[0].layout if srcs else "cf"
        by_roles = _roles_layout(n.output) if n.output is not None and n.output.rank == 3 else None
        drawn = _layout(n)
        if by_roles is not None:
            layout = by_roles  # what the engine knows of the dims (a Transpose to tokens turns the layout)
        elif n.output is not None and n.output.rank == 3 and drawn is not None:
            layout = drawn
        if n.kind == "layer":
            label = ""
            if n.layer is not None:
                try:
                    label = n.layer.label()
                except Exception:  # a label is decoration: never fail a diagram on it
                    label = ""
            box = Box(n.path, "layer", n.path, f"{n.type} {label}".strip(), n.output, fam, n, layout=layout)
            box.diagnostics = self._take(n.path)
        elif n.kind == "use" and n.target is not None:  # an earlier module called again: drawn in its colour
            fam = _family(n.target) if n.target.kind == "layer" else _block_family(n.target)
            box = Box(n.path, "layer", n.path, _summary(n), n.output, fam, n, layout=layout)
            box.diagnostics = self._take(n.path)
        else:
            box = Box(n.path, "collapsed", n.path, _summary(n), n.output, _block_family(n), n, layout=layout)
            box.diagnostics = self._take(n.path, prefix=True)
        box.skipped = n.output is None and not any(d.severity == "error" for d in box.diagnostics)
        return box

    def _cluster_label(self, n: Node) -> str:
        return f"{n.path}: {_summary(n)}"


_CHANNEL_ROLES = {CHANNELS, FEATURES}
_LENGTH_ROLES = {SPATIAL, SEQUENCE}


def _roles_layout(t: Tensor) -> str | None:
    """``cf`` for a rank-3 tensor whose roles say [N, C, L], ``cl`` for [N, L, C], None if they do not say."""
    roles = t.roles
    if roles is None or len(roles) != 3:
        return None
    if roles[1] in _CHANNEL_ROLES and roles[2] in _LENGTH_ROLES:
        return "cf"
    if roles[1] in _LENGTH_ROLES and roles[2] in _CHANNEL_ROLES:
        return "cl"
    return None


def _summary(n: Node) -> str:
    """What a container holds: ``Basic ×2``, ``Down planes=32``, ``Conv2d, BatchNorm2d``."""
    if n.kind == "use" and n.target is not None:
        return f"{n.type} (use {n.target.name})"
    if n.repeat:
        inner = n.children[0].type if n.children else "?"
        return f"{inner} ×{n.repeat}"
    if n.kind == "block":
        args = ", ".join(f"{k}={v}" for k, v in n.block_params.items())
        return f"{n.type} {args}".strip()
    runs: list[list[Any]] = []
    for c in n.children:
        t = f"{c.children[0].type if c.children else '?'} ×{c.repeat}" if c.repeat else c.type
        if runs and runs[-1][0] == t:
            runs[-1][1] += 1
        else:
            runs.append([t, 1])
    parts = [t if k == 1 else f"{t} ×{k}" for t, k in runs]
    if len(parts) > 3:
        parts = parts[:2] + [f"… ({len(n.children)} layers)"]
    return "Sequential[" + ", ".join(parts) + "]" if parts else "Sequential"


def plan(res: CheckResult, depth: int | None = None, expand: bool = False, fold: bool = True) -> Plan:
    """Decide what to draw. ``depth``: container levels to open (None: automatic)."""
    if expand:
        return _Planner(res, None, fold).plan()
    if depth is not None:
        return _Planner(res, depth, fold).plan()
    # Automatic: the deepest view that stays readable (at most AUTO_BUDGET boxes).
    most = _container_depth(res.root)
    best = _Planner(res, 0, fold).plan()
    for d in range(1, most + 1):
        p = _Planner(res, d, fold).plan()
        if p.cost > AUTO_BUDGET:
            break
        best = p
    return best


# ---------------------------------------------------------------- geometry


# A free spatial dim (H, floor(H/4)) is sized as if it were this, for box heights only.
NOMINAL_DIM = 224


def _nominal(d: Any, sizes: dict[str, int] | None = None) -> int | None:
    if isinstance(d, int):
        return d
    sizes = sizes or {}
    try:
        v = D.substitute(d, {n: sizes.get(n, NOMINAL_DIM) for n in D.free_names(d)})
    except Exception:  # a dim we cannot evaluate only loses its height cue
        return None
    return v if isinstance(v, int) and v > 0 else None


def flow(t: Tensor | None, layout: str = "cf", nominal: dict[str, int] | None = None) -> tuple[int | None, int | None]:
    """(channels, H×W) of a tensor, or None where unknown.

    Assumes the batch dim comes first. [N, F] has F channels and no spatial
    extent; [N, C, *S] is channels first; rank 3 follows ``layout``. Free
    spatial dims count as ``nominal[name]`` (the smallest valid size) or
    NOMINAL_DIM, so ``floor(H/4)`` still draws smaller than ``H``.
    """
    if t is None or t.rank < 2:
        return None, None
    s = t.shape
    if t.rank == 2:
        return (s[1] if isinstance(s[1], int) else None), None
    if t.rank == 3 and layout == "cl":
        c, spatial = s[2], s[1:2]
    else:
        c, spatial = s[1], s[2:]
    hw: int | None = 1
    for d in spatial:
        v = _nominal(d, nominal)
        hw = hw * v if v is not None and hw is not None else None
    return (c if isinstance(c, int) else None), hw


def box_size(t: Tensor | None, layout: str = "cf", nominal: dict[str, int] | None = None) -> tuple[float, float]:
    """Width and height in inches: width ~ log2(channels), height ~ log2(H×W).

    Labels are wrapped to fit the width (see :func:`text_chars`), so a long
    label never widens a box past what its channels say.
    """
    c, hw = flow(t, layout, nominal)
    width = 0.9 + 0.32 * _bits(c, 32) if c else 1.6
    if t is not None and t.rank == 2:
        height = 0.75
    else:
        height = 0.75 + 0.12 * _bits(hw, 64) if hw else 1.2
    return round(width, 2), round(height, 2)


def _bits(n: int, most: int) -> float:
    """log2(n), at most ``most``: sizes grow with it, so no spec can ask for a mile-wide box."""
    return min(math.log2(n), most) if n > 0 else 0.0


def text_chars(width: float, size: float = 10) -> int:
    """How many characters of ``size``-point Helvetica fit in a box ``width`` inches wide."""
    return max(9, int((width - 0.2) * 72 / (0.52 * size)))


def channel_color(c: int | None) -> str:
    """The channel ramp colour for ``c`` channels (light: few, dark: many)."""
    if not c:
        return "#ffffff"
    f = min(1.0, max(0.0, math.log2(c) / CHANNEL_MAX_BITS))
    return CHANNEL_RAMP[min(len(CHANNEL_RAMP) - 1, int(f * len(CHANNEL_RAMP)))]


def channel_bar(c: int | None) -> int:
    """The channel bar's length in points: 6 + 9 per doubling."""
    return 6 + round(9 * _bits(c, 32)) if c else 0


def shape_label(t: Tensor | None) -> str:
    """``16×28×28``: the shape without the batch dim."""
    if t is None:
        return "?"
    if t.indexed and t.parts:  # several outputs (Split): each one's shape
        return "(" + ", ".join(shape_label(p) for p in t.parts) + ")"
    if t.rank <= 1:
        return D.fmt_shape(t.shape)
    return "×".join(D.fmt(d) for d in t.shape[1:])


# ---------------------------------------------------------------- DOT


def clip(s: str, most: int) -> str:
    """``s`` cut to at most ``most`` characters, ending in … when cut."""
    return s if len(s) <= most else s[: max(0, most - 1)] + "…"


def _esc(s: str) -> str:
    """Text for an HTML-like label: escaped (``text.escape``), HTML-escaped, and backslashes doubled.

    dot reads escapes even in HTML-like labels (entities decoded first): ``\\N``
    would draw the node's id, ``\\G`` the graph's name, ``\\\\`` one backslash.
    """
    # dot's HTML lexer also fails on an element with no text (``<b></b>``, an empty label) and on a
    # text that is just ``]``: a space stands for nothing, and ``]`` is written as its character reference.
    return html.escape(escape(s), quote=True).replace("\\", "\\\\").replace("]", "&#93;") or " "


def _html(s: str) -> str:
    """A plain text as a DOT HTML-like label ``<...>``: the one form of label used here,
    so no spec text is ever parsed as DOT (quotes, backslashes, ``]``) or as markup."""
    return "<" + _esc(s) + ">"


# A note's margin (inches, each side): clear of its folded corner (6 pt) on the right.
NOTE_MARGIN = "0.15,0.06"
# Most characters of one diagnostic's message (or hint) in a note: 8 lines of 48.
NOTE_CHARS = 8 * 48
# Most characters of a frame's label, the title, and an edge's shape.
LABEL_CHARS = 120


def _wrap(s: str, width: int = 48) -> list[str]:
    return textwrap.wrap(s, width, break_long_words=True) or [""]


def _diag_lines(ds: list[Diagnostic], limit: int = 3) -> list[tuple[str, str]]:
    """(severity, text) lines for a note, at most ``limit`` diagnostics."""
    lines: list[tuple[str, str]] = []
    for d in ds[:limit]:
        head = f"{d.severity} {d.code}: {d.message}"
        for i, line in enumerate(_wrap(clip(escape(head), NOTE_CHARS))):
            lines.append((d.severity if i == 0 else "", line))
        if d.hint:
            lines.extend(("hint", line) for line in _wrap(clip(escape(f"hint: {d.hint}"), NOTE_CHARS)))
    if len(ds) > limit:
        lines.append(("", f"… and {len(ds) - limit} more"))
    return lines


def _note_label(ds: list[Diagnostic]) -> str:
    rows = []
    for sev, text in _diag_lines(ds):
        color = ERROR_COLOR if sev == "error" else WARNING_COLOR if sev == "warning" else "#444444"
        rows.append(f'<tr><td align="left"><font color="{color}">{_esc(text)}</font></td></tr>')
    return '<<table border="0" cellborder="0" cellspacing="0" cellpadding="1">' + "".join(rows) + "</table>>"


def _lines(s: str, chars: int, most: int = 2) -> list[str]:
    """``s`` wrapped to ``chars`` per line, at most ``most`` lines (the last one cut with …)."""
    s = clip(escape(s), chars * most + 1)
    out = textwrap.wrap(s.replace("[", "[ "), chars, break_long_words=True, break_on_hyphens=False) or [""]
    out = [t.replace("[ ", "[") for t in out]
    if len(out) > most:
        out = out[:most]
        out[-1] = out[-1][: max(1, chars - 1)].rstrip() + "…"
    return out


# A box's title (the layer's name or path) is not broken inside a word of up to this many characters (a
# name, or a part of a dotted path): a box narrower than that is widened by its label (dot sizes it), so a
# [1, 1, D] Parameter's narrow box shows ``class_token``, not ``class_tok`` over ``en``. Longer words break
# after a '.', '_' or '-' first. A title is cut (with …) only past LABEL_CHARS.
TITLE_WORD_CHARS = 28


def _title_lines(title: str, chars: int) -> list[str]:
    """``title`` in lines of at least ``chars`` characters, its words whole where they fit TITLE_WORD_CHARS."""
    s = clip(escape(title), LABEL_CHARS)
    words = s.split()
    chars = max(chars, min(TITLE_WORD_CHARS, max((len(w) for w in words), default=0)))
    pieces: list[tuple[str, str]] = []  # (text, the separator before it: " " between words, "" inside one)
    for w in words:
        sep = " "
        for part in re.findall(r"[^._-]*[._-]|[^._-]+", w):  # a word's parts, each with its '.', '_' or '-'
            while len(part) > chars:  # no break point for a whole line: mid-part
                pieces.append((part[:chars], sep))
                part, sep = part[chars:], ""
            pieces.append((part, sep))
            sep = ""
    lines: list[str] = []
    for text, sep in pieces:
        if lines and len(lines[-1]) + len(sep) + len(text) <= chars:
            lines[-1] += sep + text
        else:
            lines.append(text)
    return lines or [""]


def _box_title(b: Box) -> str:
    return b.title + "".join(f" + {t}" for t in b.folded)


def node_width(b: Box, p: Plan) -> float:
    """The box's width in inches: its channels' (``box_size``), or what its title's longest line needs
    (by :func:`text_chars`' measure) when that is more: a one-channel Parameter showing ``class_token``."""
    w = box_size(b.tensor, b.layout, p.nominal)[0]
    longest = max(len(t) for t in _title_lines(_box_title(b), text_chars(w)))
    return max(w, round(0.2 + longest * 0.52 * 10 / 72, 2))


def _box_label(b: Box, width: float = 2.0, channels: int | None = None) -> str:
    """The node label: title, type, shape (each wrapped to the box width) and the channel bar."""
    chars = text_chars(width)
    rows = [f"<b>{_esc(t)}</b>" for t in _title_lines(_box_title(b), chars)]
    if b.subtitle:
        rows += [_esc(t) for t in _lines(b.subtitle + (f" ×{b.run}" if b.run > 1 else ""), chars)]
    shape = shape_label(b.tensor) if b.tensor is not None else ("not checked" if b.skipped else "?")
    rows += [f'<font point-size="9">{_esc(t)}</font>' for t in _lines(shape, text_chars(width, 9))]
    cells = "".join(f"<tr><td>{r}</td></tr>" for r in rows)
    if channels and not b.skipped:
        bar = (
            f'<table border="1" color="#333333" cellborder="0" cellspacing="0" cellpadding="0" fixedsize="true" '
            f'width="{channel_bar(channels)}" height="6" bgcolor="{channel_color(channels)}"><tr><td></td></tr></table>'
        )
        cells += f'<tr><td cellpadding="2">{bar}</td></tr>'
    return '<<table border="0" cellborder="0" cellspacing="0" cellpadding="0">' + cells + "</table>>"


def _worst(ds: list[Diagnostic]) -> str | None:
    if any(d.severity == "error" for d in ds):
        return "error"
    return "warning" if ds else None


def _has_free_spatial(p: Plan) -> bool:
    for b in p.boxes.values():
        if b.tensor is not None and b.tensor.rank > 2 and any(not isinstance(d, int) for d in b.tensor.shape[1:]):
            return True
    return False


def _legend(p: Plan, climbs: bool = False) -> str:
    fams: list[str] = []
    folded = False
    collapsed = False
    for b in p.boxes.values():
        folded |= bool(b.folded)
        if b.kind == "collapsed":
            collapsed = True
        if b.kind in ("layer", "collapsed") and b.family not in fams:
            fams.append(b.family)
        for t in b.folded:
            cls = REGISTRY.get(t)
            if cls is not None and cls.family not in fams:
                fams.append(cls.family)
    order = list(FAMILY_COLORS)
    fams.sort(key=lambda f: order.index(f) if f in order else len(order))
    rows = ['<tr><td colspan="2" align="left"><b>Legend</b></td></tr>']
    swatches = []
    for f in fams:
        color = FAMILY_COLORS.get(f, COLLAPSED_COLOR if f == "block" else "#ffffff")
        swatches.append(f'<tr><td align="left"><font color="{color}" point-size="14">■</font> {_esc(f)}</td></tr>')
    if swatches:
        rows.append(
            '<tr><td colspan="2" align="left"><table border="0" cellborder="0" cellspacing="0" cellpadding="0">'
            + "".join(swatches)
            + "</table></td></tr>"
        )
    ramp = "".join(f'<td bgcolor="{c}" width="14" height="8"></td>' for c in CHANNEL_RAMP)
    rows.append(
        '<tr><td colspan="2" align="left"><table border="0" cellborder="0" cellspacing="0" cellpadding="0">'
        f'<tr><td colspan="{len(CHANNEL_RAMP)}" align="left"><font point-size="9">channel bar: length and shade ~ log2(C)</font></td></tr>'
        f'<tr>{ramp}</tr><tr><td colspan="{len(CHANNEL_RAMP) // 2}" align="left"><font point-size="8">C=1</font></td>'
        f'<td colspan="{len(CHANNEL_RAMP) - len(CHANNEL_RAMP) // 2}" align="right"><font point-size="8">{2**CHANNEL_MAX_BITS}</font></td></tr>'
        "</table></td></tr>"
    )
    free = ""
    if _has_free_spatial(p):
        named = ", ".join(f"{k}={v}" for k, v in sorted(p.nominal.items()))
        free = f" (free dims as {named}, the smallest valid)" if named else f" (free dims as {NOMINAL_DIM})"
        if named and any(n not in p.nominal for n in _free_names(p)):
            free = f" (free dims as {named}, the smallest valid; others {NOMINAL_DIM})"
    notes = [
        "box width, edge width ~ log2(channels)",
        "box height ~ log2(H×W)" + free,
        "edges: shape without the batch dim",
    ]
    if collapsed:
        notes.append("double border: a collapsed block / Sequential,")
        notes.append("coloured by the family with most parameters")
        notes.append("×k: repeated k times")
    if climbs:
        notes.append("upward arrows: the upsampling path, drawn")
        notes.append("climbing back up beside the path down (a U)")
    if folded:
        notes.append('"+ ReLU": a parameter-free activation')
        notes.append("folded into the layer before it")
    notes.append("red border: error; dashed: not checked")
    rows.append(
        '<tr><td colspan="2" align="left"><font point-size="9">'
        + "<br/>".join(_esc(n) for n in notes)
        + "</font></td></tr>"
    )
    return '<<table border="0" cellborder="0" cellspacing="1" cellpadding="2">' + "".join(rows) + "</table>>"


def _free_names(p: Plan) -> list[str]:
    names: list[str] = []
    for b in p.boxes.values():
        if b.tensor is not None and b.tensor.rank > 2:
            for d in b.tensor.shape[1:]:
                if not isinstance(d, int):
                    names += [n for n in D.free_names(d) if n not in names]
    return names


def _u_layout(p: Plan) -> tuple[set[int], list[tuple[str, str]]]:
    """Which edges to lay out upwards, and which box pairs share a rank, for a U.

    A network is drawn as a U only when it has an encoder/decoder skip: an
    edge between two boxes of the same H×W where another path between them
    first goes down to a smaller H×W and climbs back (U-Net, FPN). A residual
    add (the other path never shrinks), a transformer's transposes, or a
    generator that only upsamples has none, and stays a plain top-down flow.

    In a U, an edge into a larger H×W than it leaves (upsampling) after a
    skip's source climbs; so does an edge out of a climbing box that does not
    shrink H×W again. Each skip is drawn level, between boxes of the same size.
    """
    hw = {
        b.id: flow(b.tensor, b.layout, p.nominal)[1] if b.tensor is not None and b.tensor.rank > 2 else None
        for b in p.boxes.values()
    }
    for box in p.boxes.values():  # attention heads [B, nh, T, hs]: dims of unknown role are no H×W to dip in
        t = box.tensor
        if t is not None and t.roles is not None and t.rank > 3 and "" in t.roles[2:]:
            hw[box.id] = None
    skips = _skips(p, hw)
    if not skips:
        return set(), []
    bit, desc, _ = _reach(p)
    after_skip = 0  # the boxes below a skip's source: the up path is among them
    for i in skips:
        after_skip |= desc[p.edges[i].src]
    up: set[int] = set()
    climbing: set[str] = set()
    for i, e in enumerate(p.edges):
        a, b = hw.get(e.src), hw.get(e.dst)
        if a is not None and b is not None and b > a and after_skip & bit[e.src]:
            up.add(i)
            climbing.add(e.dst)
    changed = True
    while changed:
        changed = False
        for i, e in enumerate(p.edges):
            if i in up or e.src not in climbing:
                continue
            a, b = hw.get(e.src), hw.get(e.dst)
            if b is None and e.dst.startswith("@out.") or (a is not None and b is not None and b >= a):
                if not any(
                    f.dst == e.dst and f.src not in climbing and j not in up
                    for j, f in enumerate(p.edges)
                    if hw.get(f.src) is not None and hw.get(f.src) != hw.get(e.dst)
                ):
                    up.add(i)
                    if e.dst not in climbing:
                        climbing.add(e.dst)
                        changed = True
    level = [(p.edges[i].src, p.edges[i].dst) for i in sorted(skips) if p.edges[i].dst in climbing]
    return up, level


def _reach(p: Plan) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """Each box's bit, and its descendants and ancestors along the edges as bit sets
    (bit k: the k-th box): linear in the edges, in big-int operations."""
    ids = list(p.boxes)
    for e in p.edges:  # an edge's end that is not a box still gets a bit
        for b in (e.src, e.dst):
            if b not in p.boxes and b not in ids:
                ids.append(b)
    bit = {b: 1 << k for k, b in enumerate(ids)}
    succ: dict[str, list[str]] = {}
    indeg = dict.fromkeys(ids, 0)
    for e in p.edges:
        succ.setdefault(e.src, []).append(e.dst)
        indeg[e.dst] += 1
    order: list[str] = []  # topological (Kahn); the plan's edges never form a cycle
    todo = [b for b in ids if indeg[b] == 0]
    while todo:
        b = todo.pop()
        order.append(b)
        for d in succ.get(b, ()):
            indeg[d] -= 1
            if indeg[d] == 0:
                todo.append(d)
    desc = dict.fromkeys(ids, 0)
    for b in reversed(order):
        for d in succ.get(b, ()):
            desc[b] |= bit[d] | desc[d]
    anc = dict.fromkeys(ids, 0)
    for b in order:
        for d in succ.get(b, ()):
            anc[d] |= bit[b] | anc[b]
    return bit, desc, anc


def _skips(p: Plan, hw: dict[str, int | None]) -> list[int]:
    """The encoder/decoder skips: edges a -> b with H×W(a) = H×W(b) where another path from a
    to b goes down to a smaller H×W and back up through an upsampling layer (a box larger than
    all its inputs), or into b if b is a collapsed block (U-Net's Up drawn as one box). A
    squeeze-and-excitation's scale (down to 1×1, broadcast back only in a Multiply) is not one."""
    bit, desc, anc = _reach(p)
    ids = list(bit)
    ins: dict[str, list[int | None]] = {}
    for e in p.edges:
        ins.setdefault(e.dst, []).append(hw.get(e.src))
    rises = 0  # the upsampling boxes
    for b, srcs in ins.items():
        v = hw.get(b)
        if v is not None and b in bit and all(a is not None and a < v for a in srcs):
            rises |= bit[b]
    smaller: dict[int, int] = {}  # H×W -> the boxes with a smaller H×W
    out: list[int] = []
    for i, e in enumerate(p.edges):
        h = hw.get(e.src)
        if h is None or hw.get(e.dst) != h:
            continue
        if h not in smaller:
            smaller[h] = sum(bit[b] for b, v in hw.items() if v is not None and v < h and b in bit)
        low = desc[e.src] & anc[e.dst] & smaller[h]
        if low and e.dst in p.boxes and p.boxes[e.dst].kind == "collapsed":
            out.append(i)
            continue
        up = desc[e.src] & anc[e.dst] & rises  # upsampling boxes on the way (few: usually none)
        while low and up:
            k = up.bit_length() - 1
            if anc[ids[k]] & low:  # it comes after the dip
                out.append(i)
                break
            up ^= 1 << k
    return out


# ---------------------------------------------------------------- wrapping tall diagrams

# A frame (or the whole diagram) taller than this (inches, as estimated) lays its items out
# in columns side by side, and the columns in rows at most WRAP_WIDTH wide: a ResNet-50
# with every layer drawn is ~280 inches tall in one column.
WRAP_HEIGHT = 45.0
WRAP_WIDTH = 42.0
# The fewest boxes a frame holds to be drawn as a column of its own (a ResNet BasicBlock has 5).
BLOCK_BOXES = 5
# The most columns the top level is cut into.
MAX_COLUMNS = 12
# Estimates of dot's layout (inches): the step per rank beyond a box's height (the
# rank gap and the edge's label), a frame's margin, the gap between columns.
_RANK_STEP = 0.5
_FRAME = 0.35
_COLUMN_GAP = 0.6


@dataclass
class Wrap:
    """A frame drawn in columns: ``rows`` of columns, each column a run of the frame's items (indexes)."""

    rows: list[list[list[int]]]


def _box_extent(b: Box, p: Plan) -> tuple[float, float]:
    w, h = node_width(b, p), box_size(b.tensor, b.layout, p.nominal)[1]
    if b.diagnostics:  # its note beside it
        w += 3.3
    return w, h + _RANK_STEP


def _item_of(cl: Cluster) -> dict[str, int]:
    """Each box below ``cl``, mapped to the index of the item of ``cl`` that holds it."""
    out: dict[str, int] = {}

    def walk(c: Cluster, i: int) -> None:
        for it in c.items:
            if isinstance(it, Cluster):
                walk(it, i)
            else:
                out[it.id] = i

    for i, it in enumerate(cl.items):
        if isinstance(it, Cluster):
            walk(it, i)
        else:
            out[it.id] = i
    return out


def _stack(ext: list[tuple[float, float]], idx: list[int], preds: dict[int, set[int]]) -> tuple[float, float]:
    """Width and height of the items ``idx`` drawn top-down along their edges: the height of
    the longest path, the width of the widest band of items that share a height."""
    start: dict[int, float] = {}
    for i in idx:  # items are in drawing order, which follows the edges
        start[i] = max((start[j] + ext[j][1] for j in preds.get(i, ()) if j in start), default=0.0)
    height = max((start[i] + ext[i][1] for i in idx), default=0.0)
    # The widest band: sweep the items' tops and bottoms (an item ends before one that starts there).
    events = sorted([(start[i], 1, i) for i in idx] + [(start[i] + ext[i][1], 0, i) for i in idx])
    width = band = 0.0
    count = 0
    for _, kind, i in events:
        band += ext[i][0] if kind else -ext[i][0]
        count += 1 if kind else -1
        width = max(width, band + 0.3 * max(0, count - 1))
    return width, height


def _pack_height(
    ext: list[tuple[float, float]], idx: list[int], preds: dict[int, set[int]], most: float
) -> list[list[int]]:
    """``idx`` cut into runs (columns) at most ``most`` tall (an item taller than that alone), in one pass."""
    cols: list[list[int]] = [[]]
    start: dict[int, float] = {}
    height = 0.0
    for i in idx:
        top = max((start[j] + ext[j][1] for j in preds.get(i, ()) if j in start), default=0.0)
        if cols[-1] and max(height, top + ext[i][1]) > most:
            cols.append([])
            start, height, top = {}, 0.0, 0.0
        cols[-1].append(i)
        start[i] = top
        height = max(height, top + ext[i][1])
    return cols


def wrap_plan(p: Plan) -> dict[str, Wrap]:
    """Which frames (by cluster id; ``root`` for the whole diagram) to draw in columns.

    Nothing, if the diagram is at most WRAP_HEIGHT tall. Else a frame that holds
    several blocks (a ResNet stage, a transformer's layers) draws them side by
    side, one column each, in rows at most WRAP_WIDTH wide; and if the whole is
    still too tall, its top level is cut into columns of about equal height.
    """
    preds_of: dict[str, list[str]] = {}
    for e in p.edges:
        preds_of.setdefault(e.dst, []).append(e.src)
    wraps: dict[str, Wrap] = {}
    parts: dict[str, tuple[list[tuple[float, float]], dict[int, set[int]]]] = {}

    def extent(cl: Cluster) -> tuple[float, float]:
        ext = [extent(it) if isinstance(it, Cluster) else _box_extent(it, p) for it in cl.items]
        item = _item_of(cl)
        preds: dict[int, set[int]] = {}
        for b, i in item.items():
            for a in preds_of.get(b, ()):
                j = item.get(a)
                if j is not None and j != i:
                    preds.setdefault(i, set()).add(j)
        parts[cl.id] = (ext, preds)
        w = wraps.get(cl.id)
        width, height = _grid(ext, w.rows, preds) if w else _stack(ext, list(range(len(ext))), preds)
        pad = _FRAME if cl.id != "root" else 0.0
        return width + 2 * pad, height + 2 * pad

    def frames(cl: Cluster) -> list[Cluster]:
        subs = [it for it in cl.items if isinstance(it, Cluster)]
        return [f for s in subs for f in frames(s)] + [cl]

    if extent(p.root)[1] <= WRAP_HEIGHT:
        return {}
    for cl in frames(p.root):  # blocks side by side
        if cl.id == "root" or not _holds_blocks(cl) or extent(cl)[1] <= WRAP_HEIGHT / 4:
            continue
        blocks: list[list[int]] = []
        for i, it in enumerate(cl.items):
            if isinstance(it, Cluster) or not blocks:
                blocks.append([])
            blocks[-1].append(i)
        ext, preds = parts[cl.id]
        wraps[cl.id] = Wrap(_rows(ext, blocks, preds))
        extent(cl)  # its new size, for the frames around it
    width, height = extent(p.root)
    if height > WRAP_HEIGHT and len(p.root.items) > 1:  # the top level in columns of about equal height
        ext, preds = parts["root"]
        idx = list(range(len(ext)))
        best: tuple[float, list[list[list[int]]]] | None = None
        for k in range(2, min(len(idx), MAX_COLUMNS) + 1):
            cols = _pack_height(ext, idx, preds, height / k)
            tallest = max(_stack(ext, c, preds)[1] for c in cols)
            for j in range(len(cols) - 1, -1, -1):  # a short column (an input alone) joins its neighbour
                if len(cols) > 1 and _stack(ext, cols[j], preds)[1] < tallest / 4:
                    if j == 0:
                        cols[1] = cols[0] + cols[1]
                    else:
                        cols[j - 1] += cols[j]
                    del cols[j]
            if any(isinstance(p.root.items[c[0]], Cluster) for c in cols[1:]):
                continue  # a column must start with a box: dot cannot be made to keep frames in order
            w, h = _grid(ext, [cols], preds)
            if w <= WRAP_WIDTH and (best is None or max(w, h) < best[0]):
                best = (max(w, h), [cols])
        if best is not None and best[0] < max(width, height):
            wraps["root"] = Wrap(best[1])
    return wraps


def _holds_blocks(cl: Cluster) -> bool:
    """Whether ``cl`` is mostly blocks of some size, at least two (a ResNet stage's Bottlenecks;
    not a block's own parts, such as MobileNetV3's conv-norm-activation triples)."""
    blocks = sum(isinstance(it, Cluster) and len(_box_ids(it)) >= BLOCK_BOXES for it in cl.items)
    return blocks >= 2 and 3 * blocks >= 2 * len(cl.items)


def _rows(ext: list[tuple[float, float]], cols: list[list[int]], preds: dict[int, set[int]]) -> list[list[list[int]]]:
    """Columns in rows at most WRAP_WIDTH wide (a wider column alone)."""
    widths = [_stack(ext, c, preds)[0] for c in cols]
    per = len(cols)  # columns per row: as many as fit, then evened out (6 in 3 + 3, not 5 + 1)
    while per > 1 and any(
        sum(widths[i : i + per]) + _COLUMN_GAP * (per - 1) > WRAP_WIDTH for i in range(0, len(cols), per)
    ):
        per -= 1
    nrows = -(-len(cols) // per)
    per = -(-len(cols) // nrows)
    return [cols[i : i + per] for i in range(0, len(cols), per)]


def _grid(
    ext: list[tuple[float, float]], rows: list[list[list[int]]], preds: dict[int, set[int]]
) -> tuple[float, float]:
    width = height = 0.0
    for row in rows:
        sizes = [_stack(ext, c, preds) for c in row]
        width = max(width, sum(w for w, _ in sizes) + _COLUMN_GAP * (len(row) - 1))
        height += max(h for _, h in sizes) + _RANK_STEP
    return width, height


@dataclass
class Column:
    """One column of a frame drawn in columns: an invisible point, or the title of the block
    that starts it (``block``, drawn without its own frame), on the rank above its first box."""

    title: str  # the DOT node
    head: str  # the first box
    block: Cluster | None = None
    sources: list[str] = field(default_factory=list)  # the other boxes fed only from outside the column


@dataclass
class WrapLayout:
    """What a wrap adds to the DOT: each wrapped frame's rows of columns (their titles on one
    rank, in order: dot keeps the order of an edge between two nodes of one frame on one rank,
    but not between two frames, so the blocks of a column lose their own frame); the edges
    between columns, which do not push ranks (``loose``); and invisible edges that keep a row
    below the row before, and what follows a frame below all its columns (``below``)."""

    rows: dict[str, list[list[Column]]] = field(default_factory=dict)  # by frame (cluster id)
    dissolved: set[str] = field(default_factory=set)  # blocks drawn as a column with a title
    loose: set[int] = field(default_factory=set)
    below: list[tuple[str, str, int]] = field(default_factory=list)  # (above, below, x-alignment weight)


# The weight that keeps what follows a frame drawn in columns under its first column (not
# under its last, where its edge comes from: each stage of a ResNet would start further right).
ALIGN = 10


def wrap_layout(p: Plan, wraps: dict[str, Wrap]) -> WrapLayout:
    out = WrapLayout()
    if not wraps:
        return out
    titles = 0

    def first_box(it: Box | Cluster) -> str | None:
        if isinstance(it, Box):
            return it.id
        return first_box(it.items[0]) if it.items else None

    def heads(it: Box | Cluster) -> list[str]:
        if isinstance(it, Cluster) and it.id in out.rows:
            return [out.rows[it.id][0][0].title]
        b = first_box(it)
        return [b] if b is not None else []

    def tails(it: Box | Cluster) -> list[str]:
        if isinstance(it, Box):
            return [it.id]
        w = wraps.get(it.id)
        if w is None:
            return tails(it.items[-1]) if it.items else []
        return [t for col in w.rows[-1] for t in tails(it.items[col[-1]])]

    def columns(cl: Cluster, w: Wrap) -> None:  # titles first: heads() of a wrapped frame is its first title
        nonlocal titles
        rows = []
        for row in w.rows:
            cols = []
            for col in row:
                it = cl.items[col[0]]
                head = first_box(it)
                if head is None:
                    continue
                titles += 1
                block = it if isinstance(it, Cluster) and cl.id != "root" else None
                cols.append(Column(f"wrap{titles}", head, block))
                if block is not None:
                    out.dissolved.add(block.id)
            rows.append(cols)
        out.rows[cl.id] = rows

    def prepare(cl: Cluster) -> None:
        for it in cl.items:
            if isinstance(it, Cluster):
                prepare(it)
        if cl.id in wraps:
            columns(cl, wraps[cl.id])

    prepare(p.root)
    column: dict[str, dict[str, int]] = {}  # wrapped frame -> box -> its column there

    def assign(cl: Cluster, after: list[str]) -> None:
        w = wraps.get(cl.id)
        if w is None:
            for k, it in enumerate(cl.items):
                if isinstance(it, Cluster):
                    assign(it, heads(cl.items[k + 1]) if k + 1 < len(cl.items) else after)
            return
        col_of = column.setdefault(cl.id, {})
        n = 0
        for r, row in enumerate(w.rows):
            if r > 0 and out.rows[cl.id][r]:
                first = out.rows[cl.id][r][0].title
                prev = w.rows[r - 1]
                out.below += [
                    (t, first, ALIGN * (c == 0)) for c, col in enumerate(prev) for t in tails(cl.items[col[-1]])
                ]
            last_row = r == len(w.rows) - 1
            for c, col in enumerate(row):
                for k, i in enumerate(col):
                    it = cl.items[i]
                    for b in _box_ids(it):
                        col_of[b] = n
                    if isinstance(it, Cluster):
                        nxt = heads(cl.items[col[k + 1]]) if k + 1 < len(col) else (after if last_row else [])
                        assign(it, nxt)
                if last_row and after:
                    out.below += [(t, after[0], ALIGN * (c == 0)) for t in tails(cl.items[col[-1]])]
                n += 1

    assign(p.root, [])
    inner: set[str] = set()  # boxes fed from inside their column
    for e in p.edges:
        if any(c.get(e.src) == c.get(e.dst) is not None for c in column.values()):
            inner.add(e.dst)
    for cid, rows in out.rows.items():
        col_of = column.get(cid, {})
        for row in rows:
            for col in row:
                n = col_of.get(col.head)
                col.sources = [b for b, k in col_of.items() if k == n and b != col.head and b not in inner]
    for i, e in enumerate(p.edges):
        for col_of in column.values():
            a, b = col_of.get(e.src), col_of.get(e.dst)
            if a is not None and b is not None and a != b:
                out.loose.add(i)
                break
    out.below = [(a, b, w) for a, b, w in dict.fromkeys(out.below) if a != b]
    return out


def _box_ids(it: Box | Cluster) -> list[str]:
    if isinstance(it, Box):
        return [it.id]
    return [b for sub in it.items for b in _box_ids(sub)]


def _title(res: CheckResult) -> str:
    if res.ok:
        per = f" per {'·'.join(res.macs_per)}" if res.macs_per else ""
        macs = res.total_macs
        stats = f"{res.total_params:,} params, " + (
            f"{_human(macs)} MACs{per}" if macs is not None else "MACs depend on free dims (give --dim)"
        )
    else:
        errors = sum(d.severity == "error" for d in res.diagnostics)
        stats = f"{errors} error{'s' * (errors != 1)}"
    return f"{res.name} — {stats}"


def to_graph(res: CheckResult, depth: int | None = None, expand: bool = False, fold: bool = True) -> Any:
    """The diagram as a ``graphviz.Digraph`` (no binary needed until it is rendered).

    A tall diagram is drawn in columns (:func:`wrap_plan`). dot has no way to fix the
    left-to-right order of frames on a rank, only hints, so a wrapped diagram is laid out
    (when ``dot`` is installed) and its columns checked: if a variant does not come out in
    order, the diagram is drawn in one column as before.
    """
    p = plan(res, depth, expand, fold)
    cost = check_size(p)
    up, level = _u_layout(p)
    wraps = {} if up else wrap_plan(p)
    if not wraps:
        return _build(res, p, cost, up, level, WrapLayout(), 0)
    wl = wrap_layout(p, wraps)
    for variant in range(WRAP_TRIES):
        g = _build(res, p, cost, up, level, wl, variant)
        if _columns_in_order(str(g.source), p, wl):
            return g
    return _build(res, p, cost, up, level, WrapLayout(), 0)


# Variants of a wrapped diagram tried until one lays out with its columns in order: as planned,
# with the wrapped frames' items declared last first, and each with dot's crossing minimisation
# cut short (mclimit), which changes which of the equally good orders it keeps.
WRAP_TRIES = 4


def _columns_in_order(dot: str, p: Plan, wl: WrapLayout) -> bool:
    """Whether each row of columns comes out left to right in dot's layout (True without ``dot``)."""
    import json

    import graphviz

    try:
        laid = json.loads(graphviz.Source(dot).pipe(format="json", encoding="utf-8"))
    except graphviz.ExecutableNotFound:
        return True
    except Exception:  # a layout that fails here fails when rendered too, with its own message
        return True
    ids = dot_ids(p)
    x = {}
    for o in laid.get("objects", []):
        if "pos" in o:
            x[o["name"]] = float(o["pos"].split(",")[0])
    for rows in wl.rows.values():
        for row in rows:
            xs = [x.get(ids[c.head], math.nan) for c in row]
            if any(math.isnan(v) for v in xs) or xs != sorted(xs):
                return False
    return True


def _build(
    res: CheckResult,
    p: Plan,
    cost: int,
    up: set[int],
    level: list[tuple[str, str]],
    wl: WrapLayout,
    variant: int,
) -> Any:
    import graphviz

    # No text from the spec is a DOT id: nodes are n0, n1, ..., frames cluster0, ...,
    # and the graph is named by the spec's name only where that is a plain identifier.
    ids = dot_ids(p)
    frames = 0
    g = graphviz.Digraph(graph_name(res.name))
    g.attr(
        rankdir="TB",
        newrank="true",
        nodesep="0.3",
        ranksep="0.32",
        fontname=FONT,
        fontsize="16",
        label=_html(clip(_title(res), LABEL_CHARS)),
        labelloc="t",
        labeljust="l",
        bgcolor="white",
    )
    if variant >= 2:
        g.attr(mclimit="0.05")
    if cost > BIG_LAYOUT_COST:
        # Bound dot's network simplex (x positions) to 0.2 iterations per node: 2x faster
        # at the limit (dense22: 5.9 s -> 2.7 s), and leaves ordinary diagrams untouched.
        g.attr(nslimit="0.2")
    g.attr("node", fontname=FONT, fontsize="10", margin="0.06,0.03")
    g.attr("edge", fontname=FONT, fontsize="8", fontcolor="#555555", color="#666666", arrowsize="0.6")

    notes = 0

    def draw(graph: Any, cl: Cluster) -> None:
        nonlocal notes, frames
        for row in wl.rows.get(cl.id, []):
            # A row of columns: each column's title (or an invisible point) on the rank above its
            # first box, the titles on one rank, left to right.
            for col in row:
                if col.block is None:
                    graph.node(col.title, shape="point", style="invis", width="0", height="0")
                else:
                    worst = _worst(col.block.diagnostics)
                    color = ERROR_COLOR if worst == "error" else WARNING_COLOR if worst else "#444444"
                    graph.node(col.title, _html(clip(col.block.label, LABEL_CHARS)), shape="plaintext", fontcolor=color)
                    if col.block.diagnostics:
                        notes += 1
                        graph.node(
                            f"note{notes}",
                            _note_label(col.block.diagnostics),
                            shape="note",
                            margin=NOTE_MARGIN,
                            style="filled",
                            fillcolor="#fff4f4",
                            color=color,
                            fontsize="9",
                        )
                        with graph.subgraph() as same:
                            same.attr(rank="same")
                            same.node(col.title)
                            same.node(f"note{notes}")
                        graph.edge(col.title, f"note{notes}", style="dashed", arrowhead="none", color=color)
                for top in [col.head, *col.sources]:  # the column hangs from its title
                    graph.edge(col.title, ids[top], style="invis")
            with graph.subgraph() as same:
                same.attr(rank="same")
                for col in row:
                    same.node(col.title)
                for left, right in zip(row, row[1:]):
                    same.edge(left.title, right.title, style="invis")
        for item in reversed(cl.items) if variant % 2 and cl.id in wl.rows else cl.items:
            if isinstance(item, Cluster) and item.id in wl.dissolved:
                draw(graph, item)  # a block as a column: its title says what the frame would
                continue
            if isinstance(item, Cluster):
                frames += 1
                with graph.subgraph(name=f"cluster{frames}") as sub:
                    worst = _worst(item.diagnostics)
                    sub.attr(
                        label=_html(clip(item.label, LABEL_CHARS)),
                        labeljust="l",
                        fontsize="10",
                        style="rounded,dashed",
                        color=ERROR_COLOR if worst == "error" else WARNING_COLOR if worst else "#888888",
                        penwidth="2" if worst else "1",
                    )
                    draw(sub, item)
                    if item.diagnostics:
                        notes += 1
                        sub.node(
                            f"note{notes}",
                            _note_label(item.diagnostics),
                            shape="note",
                            margin=NOTE_MARGIN,
                            style="filled",
                            fillcolor="#fff4f4",
                            color=ERROR_COLOR,
                        )
                continue
            b = item
            w, h = node_width(b, p), box_size(b.tensor, b.layout, p.nominal)[1]
            c = flow(b.tensor, b.layout, p.nominal)[0]
            attrs = {
                "width": str(w),
                "height": str(h),
                "label": _box_label(b, w, c),
                "style": "filled",
                "penwidth": "1",
            }
            if b.kind in ("input", "output"):
                attrs.update(shape="box", style="rounded,filled", fillcolor="white", penwidth="1.5")
            elif b.kind == "collapsed":
                attrs.update(
                    shape="box",
                    style="rounded,filled,bold",
                    peripheries="2",
                    fillcolor=FAMILY_COLORS.get(b.family, COLLAPSED_COLOR),
                )
            else:
                attrs.update(shape="box", style="rounded,filled", fillcolor=FAMILY_COLORS.get(b.family, "#ffffff"))
            if b.skipped:
                attrs.update(
                    style=attrs["style"].replace("filled", "filled,dashed"),
                    fillcolor=SKIPPED_COLOR,
                    fontcolor="#777777",
                    color="#999999",
                )
            worst = _worst(b.diagnostics)
            if worst:
                attrs.update(color=ERROR_COLOR if worst == "error" else WARNING_COLOR, penwidth="3")
            graph.node(ids[b.id], **attrs)
            if b.diagnostics:
                notes += 1
                nid = f"note{notes}"
                graph.node(
                    nid,
                    _note_label(b.diagnostics),
                    shape="note",
                    margin=NOTE_MARGIN,
                    style="filled",
                    fillcolor="#fff4f4",
                    color=ERROR_COLOR if worst == "error" else WARNING_COLOR,
                    fontsize="9",
                )
                with graph.subgraph() as same:
                    same.attr(rank="same")
                    same.node(ids[b.id])
                    same.node(nid)
                graph.edge(
                    ids[b.id],
                    nid,
                    style="dashed",
                    arrowhead="none",
                    color=ERROR_COLOR if worst == "error" else WARNING_COLOR,
                )

    draw(g, p.root)
    if p.loose:
        color = ERROR_COLOR if _worst(p.loose) == "error" else WARNING_COLOR
        g.node(
            "note_spec",
            _note_label(p.loose),
            shape="note",
            margin=NOTE_MARGIN,
            style="filled",
            fillcolor="#fff4f4",
            color=color,
            fontsize="9",
        )
    for i, e in enumerate(p.edges):
        dashed = e.tensor is None
        attrs = {"style": "dashed", "color": "#aaaaaa"} if dashed else {}
        c = flow(e.tensor, e.layout, p.nominal)[0] if e.tensor is not None else None
        if c:
            attrs["penwidth"] = f"{0.7 + 0.2 * _bits(c, 32):.1f}"
        label = _html(" " + clip((e.item + " " if e.item else "") + shape_label(e.tensor), LABEL_CHARS))
        if i in up:  # laid out upwards, drawn from src to dst
            g.edge(ids[e.dst], ids[e.src], label=label, dir="back", **attrs)
        elif (e.src, e.dst) in level or i in wl.loose:
            g.edge(ids[e.src], ids[e.dst], label=label, constraint="false", **attrs)
        else:
            g.edge(ids[e.src], ids[e.dst], label=label, **attrs)
    for a, b in level:
        with g.subgraph() as same:
            same.attr(rank="same")
            same.node(ids[a])
            same.node(ids[b])
    for above, under, weight in wl.below:
        g.edge(ids.get(above, above), ids.get(under, under), style="invis", weight=str(weight))
    g.node("legend", _legend(p, bool(up)), shape="box", style="rounded", color="#bbbbbb", fontsize="10")
    return g


# The most work `dot` is given: boxes, frames and edge segments (see layout_cost).
# Measured with Graphviz 2.43 on this project's 2-core test machine: dot segfaults
# on a chain of 20,000 layers (cost ~40,000); a chain of 10,000 takes 4.4 s and
# 150 MB; but width and long edges cost far more than length: 200 branches of 10
# layers (cost ~4,400) take 17 s, 1,000 parallel layers then a chain of 1,000
# (cost ~5,000) 40 s and, as PNG, 2.4 GB; 78 layers each taking all the earlier
# ones (3,000 edges spanning up to 78 ranks, cost ~80,000) do not finish in 120 s.
# At cost 2,000 the worst of these shapes lays out in a few seconds, and the real
# networks here are far below it (resnet50 expanded: ~300).
MAX_LAYOUT_COST = 1500
# Beyond this cost, dot's x-positioning is bounded (nslimit) to keep the time down.
BIG_LAYOUT_COST = 500
# A PNG gets at most this many pixels (4 bytes each in cairo): 40M, 160 MB. dot
# alone caps each side at 32,767 px, which is still 4.3 GB for a square.
PNG_PIXELS = 40_000_000
PNG_DPI = 96  # dot's default for bitmaps


def layout_cost(p: Plan) -> int:
    """About how many nodes ``dot`` lays out: one per box, frame and note, plus one per
    rank each edge spans (dot routes a long edge through a virtual node on every rank
    it crosses, and that, not the number of layers, is what makes dense graphs slow)."""
    succ: dict[str, list[str]] = {}
    indeg = dict.fromkeys(p.boxes, 0)
    for e in p.edges:
        succ.setdefault(e.src, []).append(e.dst)
        indeg[e.dst] = indeg.get(e.dst, 0) + 1
        indeg.setdefault(e.src, 0)
    rank = dict.fromkeys(indeg, 0)
    todo = [b for b, k in indeg.items() if k == 0]
    while todo:  # longest path from the inputs: the rank dot will give each box, about
        b = todo.pop()
        for d in succ.get(b, ()):
            rank[d] = max(rank[d], rank[b] + 1)
            indeg[d] -= 1
            if indeg[d] == 0:
                todo.append(d)
    spans = sum(max(1, rank.get(e.dst, 0) - rank.get(e.src, 0)) for e in p.edges)
    notes = sum(1 for b in p.boxes.values() if b.diagnostics)
    return len(p.boxes) + p.clusters + notes + spans


def check_size(p: Plan) -> int:
    """The plan's :func:`layout_cost`; :class:`DiagramTooLarge` (with the cost and the limit) beyond the limit."""
    cost = layout_cost(p)
    if cost <= MAX_LAYOUT_COST:
        return cost
    depth = "" if p.depth is None else f" at depth {p.depth}"
    raise DiagramTooLarge(
        f"the diagram would be too large for Graphviz's dot to lay out{depth}: {len(p.boxes):,} boxes, "
        f"{p.clusters:,} frames and {len(p.edges):,} edges (size {cost:,}: boxes, frames, notes and the ranks "
        f"each edge spans; the limit is {MAX_LAYOUT_COST:,}); "
        + (
            "draw fewer with --depth (--depth 0 shows only the top-level layers and blocks)"
            if p.depth != 0
            else "the top level alone is too large to draw (`archcheck validate` still checks the spec)"
        )
    )


def dot_ids(p: Plan) -> dict[str, str]:
    """The DOT node id of each box (``n0``, ``n1``, ... in drawing order), by box id."""
    return {bid: f"n{i}" for i, bid in enumerate(p.boxes)}


def graph_name(name: str) -> str:
    """The DOT graph's name: the spec's name if it is a plain identifier, else a safe one.

    The name shows only as the SVG's ``<title>``; the drawn title is a label.
    """
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", name) and name.lower() not in _DOT_KEYWORDS:
        return name
    return "archcheck"


_DOT_KEYWORDS = {"node", "edge", "graph", "digraph", "subgraph", "strict"}


def to_dot(res: CheckResult, depth: int | None = None, expand: bool = False, fold: bool = True) -> str:
    """The diagram as DOT text."""
    return str(to_graph(res, depth, expand, fold).source)  # str(): graphviz is untyped where its stubs are missing


def pipe(res_or_dot: CheckResult | str, fmt: str, **kw: Any) -> bytes:
    """Run ``dot`` to produce ``fmt`` (svg/png/pdf); raises :class:`DotNotFound`."""
    import graphviz

    dot = res_or_dot if isinstance(res_or_dot, str) else to_dot(res_or_dot, **kw)
    try:
        if fmt == "png":
            dot = _fit_bitmap(dot)
        return bytes(graphviz.Source(dot).pipe(format=fmt))
    except graphviz.ExecutableNotFound as e:
        raise DotNotFound(INSTALL_HINT) from e


def _fit_bitmap(dot: str) -> str:
    """``dot`` with a lower ``dpi`` if its PNG would have more than PNG_PIXELS pixels.

    Small diagrams (most) are not laid out twice: only one with more than 150
    statements is laid out first (``-Tdot``) to read its size.
    """
    import graphviz

    if dot.count("\n") <= 150:
        return dot
    laid = graphviz.Source(dot).pipe(format="dot", encoding="utf-8")
    m = re.search(r'\bbb="([-\d.]+),([-\d.]+),([-\d.]+),([-\d.]+)"', laid)
    if m is None:
        return dot
    w, h = (float(m[3]) - float(m[1])) / 72, (float(m[4]) - float(m[2])) / 72  # inches
    if w * h * PNG_DPI**2 <= PNG_PIXELS:
        return dot
    dpi = max(1.0, math.sqrt(PNG_PIXELS / (w * h)))
    head, sep, body = dot.partition("{\n")
    return f"{head}{sep}\tdpi={dpi:.2f}\n{body}"


def format_for(out: str | Path) -> str | None:
    """The output format for a file name by its suffix, or None if unsupported."""
    return FORMATS.get(Path(out).suffix.lower())


def write(res: CheckResult, out: str | Path, depth: int | None = None, expand: bool = False) -> Path:
    """Write the diagram to ``out`` in the format its suffix names.

    Without the ``dot`` binary, :class:`DotNotFound` is raised and nothing is
    written (a ``.dot`` ``out`` needs no ``dot``).
    """
    out = Path(out)
    fmt = format_for(out)
    if fmt is None:
        raise ValueError(f"unsupported output format '{out.suffix}': use one of {', '.join(sorted(FORMATS))}")
    dot = to_dot(res, depth, expand)
    if fmt == "dot":
        out.write_text(dot, encoding="utf-8")
        return out
    out.write_bytes(pipe(dot, fmt))
    return out
