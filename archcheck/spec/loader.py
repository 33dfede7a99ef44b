"""Reading a spec file: safe YAML/JSON with the line and column of every node.

We drive PyYAML's event parser ourselves (libyaml when present) and compose
the node tree without recursion, so that hostile input stops early with a
located diagnostic instead of a crash: nesting deeper than ``MAX_DEPTH``
(libyaml's own composer recurses in C and overflows the stack), aliases that
would expand past ``MAX_NODES`` ("billion laughs", counted before anything is
expanded), scalars longer than ``MAX_SCALAR``, and a wall-clock budget. Then
we build plain Python data and keep, for every path into it
(``("layers", 7, "in_features")``), where its key and its value stand.

Only plain data is accepted: null, booleans, ints, floats, strings, lists and
mappings with string keys. Any other tag (``!!python/...``, ``!!binary``,
``!!set``, custom ``!tags``) is a diagnostic, never constructed. Floats are
read as in YAML 1.2 and JSON (``1e-5`` is a number, not a string), ints must
fit torch's int64 and floats must be finite.

JSON is read by the same composer (JSON is YAML's flow style), so both
formats carry locations; a ``.json`` file must also be strict JSON (no
trailing commas, comments or anchors).

Loading never raises on bad input: problems become diagnostics.
"""

from __future__ import annotations

import errno
import gc
import json
import math
import os
import re
import stat
import time
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..diagnostics.codes import Diagnostic

try:  # libyaml is five times faster and keeps the marks we need
    from yaml import CSafeLoader as _Loader

    FAST = True
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader  # type: ignore[assignment, unused-ignore]  # (used with types-PyYAML)

    FAST = False

# The pure-Python parser reads about 1 MB/s: keep its worst case short.
MAX_BYTES = 8 * 1024 * 1024 if FAST else 1024 * 1024
MAX_NODES = 200_000  # after alias expansion: stops "billion laughs"
MAX_DEPTH = 100  # a real spec nests about 10 deep
MAX_SCALAR = 65_536  # characters in one string, name or number
TIME_LIMIT = 10.0  # CPU seconds for reading one file
INT_MAX = 2**63 - 1  # torch's int64: no constructor argument is larger

Path = tuple[Any, ...]

_T = "tag:yaml.org,2002:"
_PLAIN_SCALARS = {_T + "null", _T + "bool", _T + "int", _T + "float", _T + "str"}
_FLOAT_12 = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_JSON_CONSTANTS = {"NaN", "Infinity", "-Infinity"}
_SURROGATE = re.compile("[\ud800-\udfff]")
# What YAML 1.2's core schema (and JSON) reads as a number or boolean. PyYAML resolves plain
# scalars by YAML 1.1, which also reads 010 as octal 8, 1:30 as 90 (base 60), 0b101, 1_000
# and yes/no/on/off: those forms are reported (AC007, AC008), never read silently.
_INT_12 = re.compile(r"^[-+]?(?:0|[1-9][0-9]*|0x[0-9a-fA-F]+|0o[0-7]+)$")
_OCT_12 = re.compile(r"^[-+]?0o[0-7]+$")
_SPECIAL_FLOAT = re.compile(r"^(?:[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")
_BOOL_12 = {"true", "True", "TRUE", "false", "False", "FALSE"}
_YAML11 = "archcheck:yaml11:"  # prefix of the tag of a plain scalar read differently by YAML 1.1 and 1.2


@dataclass(frozen=True)
class Span:
    line: int  # 1-based
    column: int  # 1-based
    end_line: int
    end_column: int


@dataclass
class Source:
    """A loaded spec file: its data and where each piece came from."""

    file: str
    text: str
    data: Any = None
    values: dict[Path, Span] = field(default_factory=dict)
    keys: dict[Path, Span] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # Paths whose value the loader rejected (and set to None): already reported.
    reported: set[Path] = field(default_factory=set)

    @property
    def lines(self) -> list[str]:
        return self.text.splitlines()

    def span(self, path: Path, *, key: bool = False) -> Span | None:
        """The span of the value (or key) at ``path``, else of its nearest parent."""
        table = self.keys if key else self.values
        while True:
            if path in table:
                return table[path]
            if key and path in self.values:
                return self.values[path]
            if not path:
                return None
            path = path[:-1]

    def locate(self, d: Diagnostic, path: Path, *, key: bool = False) -> Diagnostic:
        """Fill ``d``'s file, line and columns from ``path``."""
        d.file = self.file
        s = self.span(path, key=key)
        if s is not None:
            d.line, d.column = s.line, s.column
            d.end_column = s.end_column if s.end_line == s.line else None
        return d


class _Stop(Exception):
    """Reading stops here: a located diagnostic ends the load."""

    def __init__(self, code: str, message: str, mark: Any = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.mark, self.hint = code, message, mark, hint


def _span(node: yaml.Node) -> Span:
    a, b = node.start_mark, node.end_mark
    return Span(a.line + 1, a.column + 1, b.line + 1, b.column + 1)


def _diag(src: Source, code: str, message: str, line: int = 1, column: int = 1, **kw: Any) -> Diagnostic:
    d = Diagnostic("error", code, message, file=src.file, line=line, column=column, **kw)
    src.diagnostics.append(d)
    return d


def _tag_name(tag: str) -> str:
    return "!!" + tag[len(_T) :] if tag.startswith(_T) else tag


def _short(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


# ------------------------------------------------------------------ composing


def _resolve_scalar(loader: Any, ev: yaml.ScalarEvent, json_mode: bool) -> str:
    tag: str | None = ev.tag
    if tag is None or tag == "!":
        tag = loader.resolve(yaml.ScalarNode, ev.value, ev.implicit)
        if tag == _T + "str" and ev.implicit[0]:
            # YAML 1.1 reads 1e-5 as a string; YAML 1.2 and JSON read a number.
            if _FLOAT_12.match(ev.value) or (json_mode and ev.value in _JSON_CONSTANTS):
                tag = _T + "float"
            elif _OCT_12.match(ev.value):  # YAML 1.2's octal 0o17 (PyYAML reads it as int(v, 8))
                tag = _T + "int"
        elif ev.implicit[0] and _yaml11_only(tag, ev.value):
            tag = _YAML11 + tag
        elif tag == _T + "timestamp" and ev.implicit[0]:
            tag = _T + "str"  # a bare date is text to us, not a datetime
    return tag


def _yaml11_only(tag: str, value: str) -> bool:
    """Whether a plain scalar resolved to ``tag`` by YAML 1.1 is read otherwise (a string) by YAML 1.2."""
    if tag == _T + "int":
        # 010 is 8 in YAML 1.1 and 10 in YAML 1.2; 007 is 7 in both (and accepted)
        digits = value.lstrip("+-")
        return not _INT_12.match(value) and not (digits.isdigit() and int(digits, 8) == int(digits, 10))
    if tag == _T + "float":
        return not (_FLOAT_12.match(value) or _SPECIAL_FLOAT.match(value))
    if tag == _T + "bool":
        return value not in _BOOL_12
    return False


def _compose(text: str, json_mode: bool, deadline: float) -> yaml.Node | None:
    """Compose the single document of ``text`` into nodes, iteratively and within limits."""
    loader = _Loader(text)
    try:
        anchors: dict[str, tuple[yaml.Node, int]] = {}
        open_anchors: set[str] = set()
        # Open collections: [node, anchor, expanded size, children]
        stack: list[list[Any]] = []
        expanded = 0  # nodes the open part of the document expands to
        aliased = False
        root: yaml.Node | None = None
        docs = 0
        count = 0

        def add(node: yaml.Node, size: int, mark: Any) -> None:
            nonlocal root, expanded, aliased
            if stack:
                stack[-1][2] += size
                stack[-1][3].append(node)
                expanded += size
                if expanded > MAX_NODES:
                    raise _Stop(
                        "AC005",
                        f"the spec expands to more than {MAX_NODES:,} values"
                        + (" through its YAML aliases" if aliased else ""),
                        mark,
                        hint="write the repeated part once, or use `repeat:` and blocks",
                    )
            else:
                root = node

        while True:
            ev = loader.get_event()
            count += 1
            if count & 0xFFF == 0 and _clock() > deadline:
                raise _Stop("AC005", f"reading the file took longer than {TIME_LIMIT:g} s of CPU time", ev.start_mark)
            if isinstance(ev, yaml.StreamEndEvent):
                return root
            if isinstance(ev, yaml.DocumentStartEvent):
                docs += 1
                if docs > 1:
                    raise _Stop(
                        "AC001",
                        "the file holds more than one YAML document",
                        ev.start_mark,
                        hint="keep one spec per file (remove the second '---')",
                    )
                continue
            if isinstance(ev, (yaml.StreamStartEvent, yaml.DocumentEndEvent)):
                continue
            if isinstance(ev, yaml.AliasEvent):
                if ev.anchor not in anchors:
                    why = "refers to the node it is in" if ev.anchor in open_anchors else "has no anchor &" + ev.anchor
                    raise _Stop("AC001", f"not valid YAML: the alias *{ev.anchor} {why}", ev.start_mark)
                node, size = anchors[ev.anchor]
                aliased = True
                add(node, size, ev.start_mark)
                continue
            if isinstance(ev, yaml.ScalarEvent):
                if len(ev.value) > MAX_SCALAR:
                    raise _Stop(
                        "AC005",
                        f"a value is {len(ev.value):,} characters long (the limit is {MAX_SCALAR:,})",
                        ev.start_mark,
                    )
                tag = _resolve_scalar(loader, ev, json_mode)
                node = yaml.ScalarNode(tag, ev.value, ev.start_mark, ev.end_mark, style=ev.style)
                if ev.anchor is not None:
                    anchors[ev.anchor] = (node, 1)
                add(node, 1, ev.start_mark)
                continue
            if isinstance(ev, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                if len(stack) >= MAX_DEPTH:
                    raise _Stop(
                        "AC005",
                        f"the spec nests deeper than {MAX_DEPTH} levels",
                        ev.start_mark,
                        hint="flatten the structure; a spec nests about 10 levels deep",
                    )
                seq = isinstance(ev, yaml.SequenceStartEvent)
                kind = yaml.SequenceNode if seq else yaml.MappingNode
                tag = ev.tag
                if tag is None or tag == "!":
                    tag = loader.resolve(kind, None, ev.implicit)
                node = kind(tag, [], ev.start_mark, None, flow_style=ev.flow_style)
                if ev.anchor is not None:
                    open_anchors.add(ev.anchor)
                stack.append([node, ev.anchor, 1, []])
                expanded += 1
                continue
            if isinstance(ev, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                node, anchor, size, children = stack.pop()
                expanded -= size
                node.end_mark = ev.end_mark
                if isinstance(node, yaml.MappingNode):
                    node.value = list(zip(children[0::2], children[1::2], strict=False))
                else:
                    node.value = children
                if anchor is not None:
                    open_anchors.discard(anchor)
                    anchors[anchor] = (node, size)
                add(node, size, node.start_mark)
                continue
    finally:
        loader.dispose()


# ------------------------------------------------------------------ building


_BAD = object()  # a value the loader reported; it becomes None in the data


class _Builder:
    """Plain data from nodes, recording spans and reporting what is not plain data."""

    def __init__(self, src: Source, loader: Any, deadline: float) -> None:
        self.src, self.loader, self.deadline, self.count = src, loader, deadline, 0

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.count += 1
        if self.count & 0xFFF == 0 and _clock() > self.deadline:
            raise _Stop("AC005", f"reading the file took longer than {TIME_LIMIT:g} s of CPU time", node.start_mark)
        self.src.values[path] = _span(node)
        if isinstance(node, yaml.ScalarNode):
            value = self.scalar(node)
        elif node.tag != _T + ("map" if isinstance(node, yaml.MappingNode) else "seq"):
            self.unsafe(node)
            value = _BAD
        else:
            return self.collection(node, path)
        if value is _BAD:
            self.src.reported.add(path)
            return None
        return value

    def collection(self, node: yaml.CollectionNode, path: Path) -> Any:
        if isinstance(node, yaml.SequenceNode):
            return [self.build(v, path + (i,)) for i, v in enumerate(node.value)]
        out: dict[str, Any] = {}
        merges = []
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.tag == _T + "merge":
                merges.append(v)
                continue
            key = self.key(k)
            if key is None:
                continue
            if key in out:
                s = _span(k)
                _diag(
                    self.src,
                    "AC004",
                    f"duplicate key '{_short(key)}': the later value would silently replace the earlier one",
                    s.line,
                    s.column,
                    end_column=s.end_column,
                    hint="remove one of the two",
                )
                continue
            self.src.keys[path + (key,)] = _span(k)
            out[key] = self.build(v, path + (key,))
        for m in merges:  # `<<: *defaults`: keys written here win over merged ones
            for part in m.value if isinstance(m, yaml.SequenceNode) else [m]:
                if not isinstance(part, yaml.MappingNode) or part.tag != _T + "map":
                    s = _span(part)
                    _diag(self.src, "AC103", "a merge key '<<' takes a mapping or a list of mappings", s.line, s.column)
                    continue
                for k, v in part.value:
                    key = self.key(k)
                    if key is not None and key not in out:
                        self.src.keys[path + (key,)] = _span(k)
                        out[key] = self.build(v, path + (key,))
        return out

    def key(self, k: yaml.Node) -> str | None:
        """A mapping key, which must be a string; else report it and return None."""
        if isinstance(k, yaml.ScalarNode) and k.tag == _T + "str":
            value: str = k.value
            return value
        s = _span(k)
        tag = k.tag.removeprefix(_YAML11)  # `on:` is a boolean key to YAML 1.1: not a name either way
        if isinstance(k, yaml.ScalarNode) and tag in _PLAIN_SCALARS:
            kind = tag[len(_T) :]
            _diag(
                self.src,
                "AC103",
                f"mapping keys must be names, got the {kind} {_short(k.value)}",
                s.line,
                s.column,
                end_column=s.end_column if s.end_line == s.line else None,
                hint=f"quote it if it is meant as a name: '{_short(k.value)}'",
            )
        else:
            _diag(self.src, "AC103", "mapping keys must be names, not lists or mappings", s.line, s.column)
        return None

    def unsafe(self, node: yaml.Node) -> None:
        s = _span(node)
        _diag(
            self.src,
            "AC003",
            f"unsupported YAML tag {_short(_tag_name(node.tag), 60)!r}: specs are plain data",
            s.line,
            s.column,
            hint="remove the tag",
        )

    def yaml11(self, node: yaml.ScalarNode) -> None:
        """Report a plain scalar that YAML 1.1 reads as a number or boolean and YAML 1.2 as text."""
        tag = node.tag[len(_YAML11) :]
        s = _span(node)
        text = _short(node.value, 30)
        try:
            read = self.loader.construct_object(yaml.ScalarNode(tag, node.value, node.start_mark, node.end_mark))
        except (yaml.YAMLError, ValueError, OverflowError):  # pragma: no cover - the resolver matched its form
            read = None
        end = s.end_column if s.end_line == s.line else None
        if tag == _T + "bool":
            word = "true" if read else "false"
            _diag(
                self.src,
                "AC008",
                f"{text} is the boolean {word} in YAML 1.1 but the string {node.value!r} in YAML 1.2",
                s.line,
                s.column,
                end_column=end,
                hint=f"write {word} for the boolean, or quote it ('{text}') for the text",
            )
            return
        sign = -1 if node.value.startswith("-") else 1
        digits = node.value.lstrip("+-")
        if tag == _T + "int" and digits.isdigit():  # a leading 0: octal in YAML 1.1, decimal in YAML 1.2
            decimal = sign * int(digits, 10)
            what = f"{text} is octal for {read} in YAML 1.1 but {decimal} in YAML 1.2: archcheck will not guess"
            octal = ("-" if sign < 0 else "") + "0o" + digits.lstrip("0")
            hint = f"write {decimal} (or {octal} for {read}, the octal reading)"
        else:
            if ":" in digits:
                why = f"the number {read} in YAML 1.1 (base 60, as in a clock time)"
            elif digits.startswith("0b"):
                why = f"binary for {read} in YAML 1.1"
            else:
                why = f"{read} in YAML 1.1 (which drops the underscores)"
            what = f"{text} is {why}, but the string {node.value!r} in YAML 1.2"
            hint = f"write {read}"
        _diag(
            self.src,
            "AC007",
            what,
            s.line,
            s.column,
            end_column=end,
            hint=f"{hint}, or quote it ('{text}') if it is text",
        )

    def scalar(self, node: yaml.ScalarNode) -> Any:
        if node.tag.startswith(_YAML11):
            self.yaml11(node)
            return _BAD
        if node.tag not in _PLAIN_SCALARS:
            self.unsafe(node)
            return _BAD
        s = _span(node)
        if node.tag == _T + "int" and len(node.value.lstrip("+-0").replace("_", "")) > 19:
            _diag(
                self.src,
                "AC104",
                f"the integer {_short(node.value, 30)} is too large: torch sizes are at most 2**63 - 1",
                s.line,
                s.column,
                end_column=s.end_column if s.end_line == s.line else None,
            )
            return _BAD
        try:
            value = self.loader.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError) as e:
            _diag(self.src, "AC103", f"cannot read {_short(node.value)!r}: {e}", s.line, s.column)
            return _BAD
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > INT_MAX:
            _diag(
                self.src,
                "AC104",
                f"the integer {_short(node.value, 30)} is too large: torch sizes are at most 2**63 - 1",
                s.line,
                s.column,
            )
            return _BAD
        if isinstance(value, float) and not math.isfinite(value):
            _diag(
                self.src,
                "AC104",
                f"{node.value} is not a finite number",
                s.line,
                s.column,
                end_column=s.end_column if s.end_line == s.line else None,
                hint="give a finite value"
                + (" (numbers this large overflow to infinity)" if "e" in node.value.lower() else ""),
            )
            return _BAD
        return value


# ------------------------------------------------------------------ entry points


# The budget is this process's CPU time: on a loaded machine a wall-clock limit refuses good specs.
_clock = time.process_time


def load_text(text: str, file: str = "<spec>") -> Source:
    """Parse ``text`` (named ``file``, whose suffix .json asks for strict JSON)."""
    # The loader makes up to MAX_NODES nodes and no reference cycles: the cyclic garbage
    # collector would only walk them again and again (half the time of a 50,000-layer spec).
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _load_text(text, file)
    finally:
        if enabled:
            gc.enable()


def _load_text(text: str, file: str) -> Source:
    src = Source(file=file, text=text)
    if not text.strip():
        _diag(src, "AC006", "the file is empty")
        return src
    bad = _SURROGATE.search(text)
    if bad is not None:  # only from the API (files are decoded strictly): libyaml cannot encode it
        line, col = _line_col(text, bad.start())
        what = f"the text holds a lone surrogate (U+{ord(bad.group()):04X}), which is not Unicode"
        _diag(src, "AC002", what, line, col)
        return src
    json_mode = file.lower().endswith(".json")
    deadline = _clock() + TIME_LIMIT
    try:
        node = _compose(text, json_mode, deadline)
    except _Stop as e:
        return _stopped(src, e)
    except yaml.MarkedYAMLError as e:
        if json_mode:
            return _load_json(src)
        m = e.problem_mark or e.context_mark
        if "maximum nesting depth" in (e.problem or ""):
            # libyaml (PyYAML >= 6.0.4's) refuses deep flow nesting while scanning ahead, before the
            # composer sees the level past MAX_DEPTH: the same finding, located where that level opens
            line, col = _flow_too_deep(text)
            hint = "flatten the structure; a spec nests about 10 levels deep"
            _diag(src, "AC005", f"the spec nests deeper than {MAX_DEPTH} levels", line, col, hint=hint)
            return src
        msg = f"{e.problem or 'cannot parse'}" + (f" ({e.context})" if e.context else "")
        d = _diag(src, "AC001", f"not valid YAML: {msg}")
        if m is not None:
            d.line, d.column = m.line + 1, m.column + 1
        return src
    except yaml.reader.ReaderError as e:
        pos = e.position
        if getattr(yaml, "CSafeLoader", None) is not None and issubclass(_Loader, yaml.CSafeLoader):
            pos = len(text.encode("utf-8")[:pos].decode("utf-8", "ignore"))  # libyaml counts UTF-8 bytes
        line, col = _line_col(text, pos)
        _diag(
            src, "AC002", f"the file holds a character YAML does not allow ({e.reason}: #x{e.character:04x})", line, col
        )
        return src
    except (yaml.YAMLError, RecursionError, MemoryError) as e:  # pragma: no cover - defensive
        _diag(src, "AC001", f"not valid YAML: {type(e).__name__}: {e}")
        return src
    if node is None:
        _diag(src, "AC006", "the file holds no spec", hint="a spec is a mapping with input and layers")
        return src
    if json_mode and _json_error(src):
        return src
    loader = _Loader("")
    try:
        src.data = _Builder(src, loader, deadline).build(node, ())
    except _Stop as e:
        src.data = None
        return _stopped(src, e)
    finally:
        loader.dispose()
    return src


def _stopped(src: Source, e: _Stop) -> Source:
    line, col = (e.mark.line + 1, e.mark.column + 1) if e.mark is not None else (1, 1)
    _diag(src, e.code, e.message, line, col, hint=e.hint)
    src.data = None
    return src


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def _json_error(src: Source) -> bool:
    """Report (and return True) if a .json file is not strict JSON."""
    try:
        json.loads(src.text)
    except json.JSONDecodeError as e:
        _diag(src, "AC001", f"not valid JSON: {e.msg}", e.lineno, e.colno)
        return True
    except (RecursionError, ValueError) as e:  # pragma: no cover - depth was checked by the composer
        _diag(src, "AC005", f"not readable as JSON: {e}")
        return True
    return False


_JSON_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|.)", re.DOTALL)


def _lone_surrogate(text: str) -> tuple[int, int] | None:
    """Where valid JSON ``text`` has a \\uD800-\\uDFFF escape that is not half of a pair, and its code."""
    pending: tuple[int, int, int] | None = None  # an unpaired high surrogate: start, end, code
    for m in _JSON_ESCAPE.finditer(text):  # in valid JSON every backslash starts an escape
        code = int(m.group(1), 16) if m.group(1) else -1
        if pending is not None:
            if 0xDC00 <= code <= 0xDFFF and m.start() == pending[1]:
                pending = None
                continue
            return pending[0], pending[2]
        if 0xD800 <= code <= 0xDBFF:
            pending = (m.start(), m.end(), code)
        elif 0xDC00 <= code <= 0xDFFF:
            return m.start(), code
    return (pending[0], pending[2]) if pending is not None else None


def _load_json(src: Source) -> Source:
    """A .json file the YAML reader rejected: report JSON's own error, or read it without locations."""
    if _json_error(src):
        return src
    lone = _lone_surrogate(src.text)
    if lone is not None:  # json accepts "\ud800", but it is no character: nothing could print or encode it
        line, col = _line_col(src.text, lone[0])
        _diag(
            src,
            "AC002",
            f"the escape \\u{lone[1]:04x} is half of a UTF-16 surrogate pair, which is not a character",
            line,
            col,
            end_column=col + 6,
            hint="write the character itself, or both halves of the pair (\\ud83d\\ude00 is one emoji)",
        )
        return src

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in items:
            if k in out:
                _diag(
                    src, "AC004", f"duplicate key '{_short(k)}': the later value would silently replace the earlier one"
                )
            out.setdefault(k, v)
        return out

    try:
        src.data = json.loads(src.text, object_pairs_hook=pairs)
    except (RecursionError, ValueError) as e:  # pragma: no cover - _json_error already parsed it
        _diag(src, "AC005", f"not readable as JSON: {e}")
    return src


_KINDS = [
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
]


def not_a_file(path: str) -> str | None:
    """What ``path`` is when it exists but is no regular file ("a named pipe (FIFO)"), else None.

    Reading a FIFO waits for a writer forever and a device never ends: such paths are refused.
    """
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None  # missing or unreadable: opening it says why
    for test, what in _KINDS:
        if test(mode):
            return what
    return None if stat.S_ISREG(mode) else "not a regular file"


def _flow_too_deep(text: str) -> tuple[int, int]:
    """Line and column of the flow bracket that opens nesting level MAX_DEPTH + 1 (quotes skipped)."""
    depth, quote = 0, ""
    for i, c in enumerate(text):
        if quote:
            quote = "" if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return _line_col(text, i)
        elif c in "]}":
            depth -= 1
    return 1, 1


def load_file(path: str) -> Source:
    """Read and parse ``path``. Never raises: an unreadable file is a diagnostic too."""
    what = not_a_file(path)
    if what is not None:
        src = Source(file=path, text="")
        _diag(
            src,
            "AC002",
            f"cannot read the spec: it is {what}, not a file",
            hint="give the path of a .yaml or .json file",
        )
        return src
    try:
        # O_NONBLOCK: a FIFO that was swapped in after the check still cannot block the open
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise OSError(errno.EINVAL, "not a regular file")
            raw = f.read(MAX_BYTES + 1)
    except OSError as e:
        src = Source(file=path, text="")
        _diag(src, "AC002", f"cannot read the file: {e.strerror or e}")
        return src
    if len(raw) > MAX_BYTES:
        src = Source(file=path, text="")
        _diag(src, "AC005", f"the file is larger than {MAX_BYTES // 2**20} MiB")
        return src
    return load_bytes(raw, path)


def load_bytes(raw: bytes, path: str) -> Source:
    """Decode and parse the bytes of a spec named ``path`` (a file's, or standard input's)."""
    if len(raw) > MAX_BYTES:
        src = Source(file=path, text="")
        _diag(src, "AC005", f"the file is larger than {MAX_BYTES // 2**20} MiB")
        return src
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        # e.start counts from after a BOM; the column is in characters, as everywhere else.
        start = e.start + (3 if raw.startswith(b"\xef\xbb\xbf") else 0)
        line = raw[:start].count(b"\n") + 1
        col = len(raw[raw.rfind(b"\n", 0, start) + 1 : start].decode("utf-8-sig")) + 1
        src = Source(file=path, text="")
        _diag(
            src,
            "AC002",
            f"the file is not UTF-8 text (byte 0x{raw[start]:02x} at offset {start})",
            line,
            col,
            hint="save it as UTF-8",
        )
        return src
    if "\x00" in text:
        src = Source(file=path, text="")
        pos = text.index("\x00")
        line, col = _line_col(text, pos)
        _diag(src, "AC002", "the file holds NUL bytes: is it binary?", line, col)
        return src
    return load_text(text, path)
