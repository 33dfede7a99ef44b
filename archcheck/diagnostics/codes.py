"""Diagnostics are data: every finding is appended, nothing is raised.

The table of codes below is the one place where codes are defined. A code is
never reused for another meaning; a retired code stays in the table.
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass, field
from typing import Any, Literal

from .text import escape, shown, skeleton

__all__ = ["escape", "shown"]  # re-exported: the functions that make spec text safe to print

Severity = Literal["error", "warning", "note"]


@dataclass(frozen=True)
class Code:
    code: str
    name: str
    summary: str


_CODES = [
    # 0xx: reading the file
    Code("AC001", "yaml-syntax", "the file is not well-formed YAML or JSON"),
    Code("AC002", "unreadable-file", "the file cannot be read as UTF-8 text"),
    Code("AC003", "unsafe-tag", "the file uses a YAML tag outside the safe set"),
    Code("AC004", "duplicate-key", "a mapping has the same key twice"),
    Code("AC005", "too-large", "the file or its expansion exceeds archcheck's limits"),
    Code("AC006", "empty-spec", "the file holds no spec"),
    Code("AC007", "yaml11-number", "a plain number YAML 1.1 reads otherwise than YAML 1.2 (010, 1:30, 0b101, 1_000)"),
    Code("AC008", "yaml11-bool", "yes/no/on/off, a boolean in YAML 1.1 but a string in YAML 1.2"),
    # 1xx: the schema
    Code("AC101", "unknown-field", "a field that the layer type (or spec) does not have"),
    Code("AC102", "unknown-type", "a layer type that archcheck does not know"),
    Code("AC103", "wrong-value-type", "a value of the wrong type (a string where an int belongs)"),
    Code("AC104", "out-of-range", "a value outside its allowed range or set"),
    Code("AC105", "missing-field", "a required field is absent"),
    Code("AC106", "duplicate-name", "two layers share a name in one scope"),
    Code("AC107", "invalid-name", "a name that is not a usable Python identifier"),
    Code("AC108", "invalid-option", "a combination of options that torch rejects"),
    Code("AC109", "bad-expression", "a $ expression that cannot be evaluated safely"),
    Code("AC115", "non-integral-number", "an expression gives a fraction where an int is needed (out_channels: 22.5)"),
    Code("AC116", "repeat-template", "a repeat's name template or start that cannot name its copies"),
    Code("AC117", "training-only-output", "outputs marked training_only leave the model no output in eval mode"),
    Code("AC120", "several-outputs", "a layer's several outputs (Split, a block's outputs) used as one tensor"),
    Code("AC121", "no-such-output", "an output index (name.2) that the layer does not have"),
    Code("AC122", "bad-use", "use: names no earlier module of the scope (or a tensor operation, or has a type too)"),
    Code("AC123", "bad-tie", "tie: names a parameter or module that does not exist or cannot be tied"),
    Code("AC124", "output-and-outputs", "a block gives both output and outputs"),
    # 2xx: shapes
    Code("AC201", "channel-mismatch", "the input's channel count differs from the layer's"),
    Code("AC202", "feature-mismatch", "the input's last dim differs from the layer's in_features"),
    Code("AC203", "output-too-small", "the kernel or window does not fit the (padded) input"),
    Code("AC204", "rank-mismatch", "the input has a rank the layer does not accept"),
    Code("AC205", "groups-mismatch", "channels are not divisible by groups"),
    Code("AC206", "pool-padding", "pooling padding larger than half the kernel"),
    Code("AC207", "free-dim-required", "a fixed size is required but depends on a free dim"),
    Code("AC208", "dim-out-of-range", "a dim index outside the input's rank"),
    Code("AC209", "padding-too-large", "reflect/circular padding not smaller than the input"),
    Code("AC210", "output-padding", "output_padding not smaller than stride or dilation"),
    Code("AC211", "single-value-batchnorm", "BatchNorm sees one value per channel, which fails in training"),
    Code("AC212", "implicit-dim", "Softmax/LogSoftmax without dim picks one implicitly"),
    Code("AC213", "normalized-shape-mismatch", "LayerNorm's normalized_shape differs from the input's trailing dims"),
    Code("AC214", "dtype-mismatch", "the input's dtype is one the layer cannot take (float vs integer indices)"),
    Code("AC215", "not-divisible", "a size is not divisible by the factor the layer needs (heads, pixel shuffle)"),
    Code("AC216", "element-count", "reshape/unflatten sizes that do not multiply to the input's element count"),
    Code("AC217", "batch-dim-lost", "a Reshape whose first dim is not the input's batch dim"),
    Code("AC218", "index-out-of-range", "an index outside the size of the selected dim"),
    Code("AC219", "attention-mismatch", "query, key and value (or tgt and memory) have shapes that do not fit"),
    Code(
        "AC220", "single-value-norm", "GroupNorm/InstanceNorm sees one value per group or instance, which torch refuses"
    ),
    Code("AC221", "too-large-to-allocate", "a layer's parameters would not fit in memory addressable by torch"),
    Code("AC222", "empty-output", "a layer's output has a dim of size 0 (torch returns an empty tensor)"),
    Code("AC223", "too-many-elements", "a tensor holds more bytes than torch can allocate (2**63 - 1)"),
    Code("AC224", "empty-input", "a layer that torch refuses an empty tensor gets one (a dim of size 0)"),
    Code("AC230", "frozen-without-params", "trainable: false on a layer or block that has no parameters"),
    Code("AC235", "split-count-unknown", "Split/Chunk outputs whose number depends on a free dim (or is absurd)"),
    Code("AC236", "split-sizes-sum", "Split's list of sizes does not sum to the size of the dim"),
    Code("AC238", "tied-shape-mismatch", "tie: joins two parameters of different shapes"),
    Code(
        "AC240",
        "matmul-mismatch",
        "MatMul's inputs do not fit torch.matmul's rule (inner dims, batch dims, rank, dtype)",
    ),
    Code(
        "AC241",
        "scalar-op-dtype",
        "a scalar operation torch refuses for the input's dtype (integer to a negative power)",
    ),
    Code("AC242", "roll-shifts-dims", "Roll's shifts and dims do not pair up"),
    Code(
        "AC250",
        "cell-state-mismatch",
        "a recurrent cell's state (hx, or h and c) does not fit its input and hidden_size",
    ),
    Code("AC251", "unpool-mismatch", "MaxUnpool's indices or output size do not fit its input"),
    Code("AC252", "fold-blocks-mismatch", "Fold's input holds another number of blocks than its output_size makes"),
    Code("AC260", "shift-not-in-window", "ShiftedWindowAttention's shift_size is not smaller than its window_size"),
    Code("AC261", "bad-init-order", "a block's init_order names a layer it does not have, an operation, or twice"),
    Code("AC265", "embedding-index-range", "an Embedding looks up positions beyond its num_embeddings"),
    Code("AC266", "dim-maximum", "a free dim must be at most some size (positions within an Embedding's table)"),
    Code("AC267", "arange-bounds", "Arange's start lies beyond its end (the input's size along its dim)"),
    # 3xx: graphs, composition, free dims
    Code("AC301", "unknown-reference", "inputs or outputs name a layer or input that does not exist"),
    Code("AC302", "forward-reference", "inputs name a later layer (or the layer itself): a cycle"),
    Code("AC303", "inputs-in-sequential", "a layer inside a Sequential names its inputs"),
    Code("AC304", "recursive-block", "a block that contains itself, directly or through others"),
    Code("AC305", "dead-branch", "a layer whose output reaches no model output"),
    Code("AC306", "dim-condition", "the network works only for some sizes of a free dim"),
    Code("AC307", "unsatisfiable-dims", "no size of the free dims makes the network work"),
    Code("AC308", "merge-mismatch", "tensors joined by Add/Multiply/Concat do not line up"),
    Code("AC309", "shape-assertion", "a layer's or the model's output differs from its expect/output shape"),
    Code("AC310", "unknown-dim-name", "an expected shape names a free dim that the spec does not have"),
    Code("AC311", "dim-minimum", "a free dim must be at least some size for every layer to have an output"),
    Code("AC312", "inverted-dim-range", "a dims range whose min is larger than its max"),
    Code("AC313", "unsolved-condition", "a condition on a free dim that archcheck cannot state exactly"),
    Code("AC314", "dim-outside-range", "a value given for a free dim (--dim, explore) outside its declared dims range"),
    # 4xx: layout (warnings: torch runs, but the dims are used in a way that is almost surely unintended)
    Code("AC401", "linear-on-spatial-dim", "Linear on a conv/pool output acts on its last spatial dim only"),
    Code("AC402", "rnn-over-channels", "an RNN/GRU/LSTM reads a conv's channels as time and its length as features"),
    Code("AC403", "sequence-axis-is-batch", "a recurrent or attention layer runs over the batch (batch_first unset)"),
    Code("AC404", "concat-along-batch", "Concat joins along the batch dim (dim 0 by default)"),
    Code("AC405", "reduces-batch", "Mean, Softmax, Select (...) act along the batch dim, mixing the samples"),
    Code("AC406", "merges-batch", "Flatten (or Reshape) merges the batch dim into another dim"),
    Code("AC407", "moves-batch", "Permute/Transpose moves the batch dim behind the others"),
    Code("AC408", "unused-input", "a model input that no layer uses"),
    Code("AC409", "blanket-noqa", "a noqa comment that names no code"),
    Code("AC410", "unused-noqa", "a noqa code that silenced nothing"),
    Code("AC411", "conv-over-features", "a Conv1d on [N, L, E] token features takes the positions as channels"),
    # 9xx: archcheck itself
    Code("AC901", "internal-error", "archcheck failed; please report it with the spec"),
]

CODES = {c.code: c for c in _CODES}
BY_NAME = {c.name: c for c in _CODES}


@dataclass
class Diagnostic:
    """One finding, located in the spec file."""

    severity: Severity
    code: str
    message: str
    path: str | None = None  # the layer's dotted path
    file: str | None = None
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based
    end_column: int | None = None
    hint: str | None = None
    notes: list[str] = field(default_factory=list)
    bindings: dict[str, int | str] = field(default_factory=dict)
    # a machine-applicable fix: the value the located field should have ({"field": "in_features", "value": 1568})
    fix: dict[str, Any] | None = None
    # sizes for free dims the finding suggests, as data (AC306: the smallest size that lines the shapes up);
    # the hint says the same in words ("fix H with --dim H=32")
    suggested_dims: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Text from the spec or the command line is escaped (and its invisible and look-alike
        # characters named) here, so that every output format shows the same safe text; what is
        # set later is escaped again where it is written out (escaping is idempotent).
        if isinstance(self.message, str):
            self.message = shown(self.message)
        if self.hint is not None:
            self.hint = shown(self.hint)
        if self.path is not None:
            self.path = escape(self.path)
        if self.notes:
            self.notes = [shown(n) for n in self.notes]

    @property
    def name(self) -> str:
        return CODES[self.code].name

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "severity": self.severity,
            "code": self.code,
            "name": self.name,
            "path": self.path,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "message": shown(self.message),
            "hint": None if self.hint is None else shown(self.hint),
        }
        if self.notes:
            out["notes"] = [shown(n) for n in self.notes]
        if self.bindings:
            out["bindings"] = self.bindings
        if self.fix:
            out["fix"] = self.fix
        if self.suggested_dims:
            out["suggested_dims"] = self.suggested_dims
        return out


def did_you_mean(word: str, choices: list[str] | tuple[str, ...], *, ignore_case: bool = True) -> str | None:
    """The closest of ``choices`` to ``word``, if any is close enough.

    ``word`` is compared as it looks: a zero-width space dropped, a Cyrillic 'С' read as 'C'.
    Answers are cached: a spec that repeats one typo 50,000 times asks difflib once.
    """
    return _did_you_mean(word, tuple(choices), ignore_case)


@functools.lru_cache(maxsize=4096)
def _did_you_mean(word: str, choices: tuple[str, ...], ignore_case: bool) -> str | None:
    word = skeleton(word)
    if ignore_case:
        lowered = {c.lower(): c for c in choices}
        if word.lower() in lowered:
            return lowered[word.lower()]
        hit = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
        return lowered[hit[0]] if hit else None
    hit = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return hit[0] if hit else None


# ---------------------------------------------------------------- rendering

_COLORS = {"error": "\033[1;31m", "warning": "\033[1;33m", "note": "\033[1;36m"}
_BOLD, _BLUE, _RESET = "\033[1m", "\033[1;34m", "\033[0m"


def render_short(d: Diagnostic) -> str:
    """One line, as pyflakes and ruff print when piped."""
    where = f"{escape(d.file or '<spec>')}:{d.line or 0}:{d.column or 0}"
    path = f" [{escape(d.path)}]" if d.path else ""
    hint = f" (hint: {shown(d.hint)})" if d.hint else ""
    return f"{where}: {d.severity} {d.code}{path} {shown(d.message)}{hint}"


def render_pretty(d: Diagnostic, source_lines: list[str] | None, color: bool = False) -> str:
    """rustc-style: header, location arrow, the source line with a caret, notes, help."""

    def c(style: str, text: str) -> str:
        return f"{style}{text}{_RESET}" if color else text

    # Every piece of text is escaped (idempotent): the spec's and the command line's text holds anything.
    head = c(_COLORS[d.severity], f"{d.severity}[{d.code}]") + c(_BOLD, f": {shown(d.message)}")
    out = [head]
    gutter = " " * (len(str(d.line)) if d.line else 1)
    if d.file:
        loc = f"{escape(d.file)}:{d.line}:{d.column}" if d.line else escape(d.file)
        path = f" ({escape(d.path)})" if d.path else ""
        out.append(f"{gutter}{c(_BLUE, '-->')} {loc}{path}")
    if d.line and source_lines and 0 < d.line <= len(source_lines):
        raw = source_lines[d.line - 1].rstrip("\n").replace("\t", " ")
        col = max((d.column or 1) - 1, 0)
        width = max(((d.end_column or 0) - (d.column or 0)), 1)
        text = escape(raw)
        if text != raw:  # escaped characters before or under the caret move or widen it
            col, width = len(escape(raw[:col])), max(len(escape(raw[col : col + width])), 1)
        if len(text) > 160:  # a minified or huge line: show a window around the caret
            start = max(col - 60, 0)
            text = ("..." if start else "") + text[start : start + 120] + ("..." if start + 120 < len(text) else "")
            col = col - start + (3 if start else 0)
        width = min(width, max(len(text) - col, 1))
        out.append(f"{gutter} {c(_BLUE, '|')}")
        out.append(f"{c(_BLUE, str(d.line))} {c(_BLUE, '|')} {text}")
        out.append(f"{gutter} {c(_BLUE, '|')} {' ' * col}{c(_COLORS[d.severity], '^' * width)}")
    for n in d.notes:
        out.append(f"{gutter} {c(_BLUE, '=')} note: {shown(n)}")
    if d.bindings:  # as jaxtyping prints them: the values the free dims had here
        free = [k for k, v in d.bindings.items() if v == "free"]
        bound = " ".join(f"{k}={v}" for k, v in d.bindings.items() if v != "free")
        text = "; ".join(
            t
            for t in (
                f"dims: {bound}" if bound else "",
                f"{' and '.join(free)} {'has' if len(free) == 1 else 'have'} no value (free)" if free else "",
            )
            if t
        )
        out.append(f"{gutter} {c(_BLUE, '=')} note: {escape(text)}")
    if d.hint:
        out.append(f"{gutter} {c(_BLUE, '=')} help: {shown(d.hint)}")
    return "\n".join(out)
