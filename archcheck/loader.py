"""Reading a spec file: safe YAML/JSON with the line and column of every node.

PyYAML's composer gives a node tree with marks; we build plain Python data
from it and keep, for every path into the data (``("layers", 7,
"in_features")``), where its key and its value stand in the file. JSON is read
by the same composer (JSON is YAML's flow style), so both formats carry
locations; a JSON file the YAML reader rejects falls back to ``json``.

Loading never raises on bad input: problems become diagnostics.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import yaml

from .diagnostics import Diagnostic

try:  # libyaml is five times faster and keeps the marks we need
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

MAX_BYTES = 8 * 1024 * 1024
MAX_NODES = 500_000  # after alias expansion: stops "billion laughs"
MAX_DEPTH = 200

Path = tuple[Any, ...]


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


class _TooBig(Exception):
    pass


def _span(node: yaml.Node) -> Span:
    a, b = node.start_mark, node.end_mark
    return Span(a.line + 1, a.column + 1, b.line + 1, b.column + 1)


def load_text(text: str, file: str = "<spec>") -> Source:
    src = Source(file=file, text=text)
    if not text.strip():
        src.diagnostics.append(Diagnostic("error", "AC006", "the file is empty", file=file, line=1, column=1))
        return src
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as e:
        if file.endswith(".json"):
            return _load_json(src)
        m = e.problem_mark or e.context_mark
        msg = f"{e.problem or 'cannot parse'}" + (f" ({e.context})" if e.context else "")
        d = Diagnostic("error", "AC001", f"not valid YAML: {msg}", file=file)
        if m is not None:
            d.line, d.column = m.line + 1, m.column + 1
        src.diagnostics.append(d)
        return src
    except (yaml.YAMLError, RecursionError) as e:
        src.diagnostics.append(Diagnostic("error", "AC001", f"not valid YAML: {e}", file=file, line=1, column=1))
        return src
    if node is None:
        src.diagnostics.append(Diagnostic("error", "AC006", "the file holds no spec", file=file, line=1, column=1))
        return src
    budget = [MAX_NODES]
    try:
        src.data = _build(node, (), src, loader, budget, 0)
    except _TooBig as e:
        src.data = None
        src.diagnostics.append(Diagnostic("error", "AC005", str(e), file=file, line=1, column=1))
    return src


def _build(node: yaml.Node, path: Path, src: Source, loader: Any, budget: list[int], depth: int) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooBig(f"the spec expands to more than {MAX_NODES:,} nodes (YAML aliases?)")
    if depth > MAX_DEPTH:
        raise _TooBig(f"the spec nests deeper than {MAX_DEPTH} levels")
    src.values[path] = _span(node)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for k, v in node.value:
            key = _scalar(k, path, src, loader) if isinstance(k, yaml.ScalarNode) else None
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                src.diagnostics.append(
                    src.locate(Diagnostic("error", "AC103", "mapping keys must be plain names"), path)
                )
                s = _span(k)
                src.diagnostics[-1].line, src.diagnostics[-1].column = s.line, s.column
                continue
            if key in out:
                s = _span(k)
                src.diagnostics.append(
                    Diagnostic(
                        "error",
                        "AC004",
                        f"duplicate key '{key}': the later value would silently replace the earlier one",
                        file=src.file,
                        line=s.line,
                        column=s.column,
                        end_column=s.end_column,
                        hint="remove one of the two",
                    )
                )
                continue
            src.keys[path + (key,)] = _span(k)
            out[key] = _build(v, path + (key,), src, loader, budget, depth + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(v, path + (i,), src, loader, budget, depth + 1) for i, v in enumerate(node.value)]
    return _scalar(node, path, src, loader)


def _scalar(node: yaml.Node, path: Path, src: Source, loader: Any) -> Any:
    try:
        return loader.construct_object(node, deep=True)
    except yaml.constructor.ConstructorError as e:
        s = _span(node)
        src.diagnostics.append(
            Diagnostic(
                "error",
                "AC003",
                f"unsupported YAML tag {node.tag!r}: specs are plain data",
                file=src.file,
                line=s.line,
                column=s.column,
                hint="remove the tag" if "python" in node.tag else str(e.problem),
            )
        )
        return None


def _load_json(src: Source) -> Source:
    try:
        src.data = json.loads(src.text)
    except json.JSONDecodeError as e:
        src.diagnostics.append(
            Diagnostic("error", "AC001", f"not valid JSON: {e.msg}", file=src.file, line=e.lineno, column=e.colno)
        )
    return src


def load_file(path: str) -> Source:
    """Read and parse ``path``. Raises OSError only when the file cannot be opened."""
    with open(path, "rb") as f:
        raw = f.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        src = Source(file=path, text="")
        src.diagnostics.append(
            Diagnostic(
                "error", "AC005", f"the file is larger than {MAX_BYTES // 2**20} MiB", file=path, line=1, column=1
            )
        )
        return src
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        src = Source(file=path, text="")
        src.diagnostics.append(
            Diagnostic(
                "error",
                "AC002",
                f"the file is not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start})",
                file=path,
                line=line,
                column=1,
            )
        )
        return src
    if "\x00" in text:
        src = Source(file=path, text="")
        src.diagnostics.append(
            Diagnostic("error", "AC002", "the file holds NUL bytes: is it binary?", file=path, line=1, column=1)
        )
        return src
    return load_text(text, path)
