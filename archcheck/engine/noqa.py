"""Silencing warnings where the spec means them, in the style of ruff's ``noqa``.

Four forms, each naming the codes it silences:

* on a layer, a field ``noqa: [AC401]`` (or ``noqa: AC401``);
* on a layer, a YAML comment ``# noqa: AC401, AC404`` on any line of the
  layer's own text (for a Sequential or a block instance: the lines before its
  nested layers); a layer's noqa covers everything inside it (a block
  instance's, every layer of that instance);
* for the whole file, a top-level field ``noqa: [AC401]``;
* for the whole file, a comment ``# archcheck: noqa: AC401`` on any line.

Only warnings are silenced: an error means torch fails, so a noqa never
hides one. A noqa without codes (``# noqa``) silences nothing and is
reported (AC409, as ruff's PGH004 asks for codes); a code that silenced
nothing is reported as unused (AC410, ruff's RUF100), so stale noqa
comments do not pile up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..diagnostics.codes import CODES, Diagnostic

if TYPE_CHECKING:  # pragma: no cover
    from ..spec.loader import Path
    from .result import CheckResult, Node

_CODE = r"[A-Za-z]+[0-9]+"
_COMMENT = re.compile(
    rf"(?:^|\s)#\s*(?P<file>archcheck\s*:\s*)?noqa\b(?P<colon>\s*:\s*(?P<codes>{_CODE}(?:[\s,]+{_CODE})*))?",
    re.IGNORECASE,
)


@dataclass
class _Directive:
    codes: list[str]
    line: int
    column: int
    where: Path | None = None  # a field's path (for locating); None for a comment
    used: set[str] = field(default_factory=set)


def _codes(text: str) -> list[str]:
    return [c.upper() for c in re.split(r"[\s,]+", text.strip()) if c]


def _raw_at(data: Any, path: Path) -> Any:
    for k in path:
        if isinstance(data, dict) and k in data:
            data = data[k]
        elif isinstance(data, list) and isinstance(k, int) and 0 <= k < len(data):
            data = data[k]
        else:
            return None
    return data


def apply_noqa(res: CheckResult) -> None:
    """Drop the warnings a noqa names; report bare and unused noqa (AC409, AC410)."""
    src = res.source
    new: list[Diagnostic] = []
    file_dirs: list[_Directive] = []
    line_dirs: dict[int, _Directive] = {}
    json_file = src.file.lower().endswith(".json")  # JSON has no comments: a noqa there is text
    for n, text in enumerate(src.lines, 1):
        if json_file or "noqa" not in text.lower():
            continue
        m = _COMMENT.search(text)
        if m is None:
            continue
        col = m.start() + (0 if text[m.start()] == "#" else 1) + 1
        codes = _codes(m.group("codes") or "")
        if not codes:
            d = Diagnostic(
                "warning",
                "AC409",
                f"`{m.group(0).strip()}` names no code: it silences nothing",
                file=src.file,
                line=n,
                column=col,
                hint="name the codes it is meant for, e.g. `# noqa: AC401` (see `archcheck explain AC409`)",
            )
            new.append(d)
            continue
        dr = _Directive(codes, n, col)
        if m.group("file"):
            file_dirs.append(dr)
        else:
            line_dirs[n] = dr

    model = res.spec.model
    if model is not None and model.noqa:
        given = [model.noqa] if isinstance(model.noqa, str) else model.noqa
        for i, c in enumerate(given):
            at: Path = ("noqa",) if isinstance(model.noqa, str) else ("noqa", i)
            s = src.span(at)
            file_dirs.append(_Directive([c.upper()], s.line if s else 0, s.column if s else 0, at))

    nodes = {n.path: n for n in res.nodes}
    lines = src.lines
    field_dirs: dict[str, _Directive] = {}  # by node path
    for node in nodes.values():
        raw = _raw_at(src.data, node.src)
        v = raw.get("noqa") if isinstance(raw, dict) else None
        if v is None:
            continue
        where = node.src + ("noqa",)
        s = src.span(where)
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not all(isinstance(c, str) for c in v):
            if node.kind != "layer":  # a layer's own schema reported it already
                d = Diagnostic(
                    "error", "AC103", "noqa must be a code or a list of codes, e.g. noqa: [AC401]", path=node.path
                )
                new.append(src.locate(d, where))
            continue
        field_dirs[node.path] = _Directive([c.upper() for c in v], s.line if s else 0, s.column if s else 0, where)

    def own_lines(node: Node) -> range:
        s = src.values.get(node.src)
        if s is None:
            return range(0)
        end = s.end_line
        if end > s.line and end <= len(lines) and not lines[end - 1][: s.end_column - 1].strip(" -"):
            end -= 1  # a block mapping ends where the next item starts
        for c in node.children:
            cs = src.values.get(c.src)
            if cs is not None and s.line <= cs.line <= end:
                end = min(end, cs.line - 1)
                break
        return range(s.line, max(end, s.line) + 1)

    def silencers(d: Diagnostic) -> list[_Directive]:
        out = list(file_dirs)
        if d.line in line_dirs:
            out.append(line_dirs[d.line])
        path = d.path
        while path:
            node = nodes.get(path)
            if node is not None:
                if path in field_dirs:
                    out.append(field_dirs[path])
                out.extend(line_dirs[n] for n in own_lines(node) if n in line_dirs and n != d.line)
            path = path.rpartition(".")[0]
        return out

    kept: list[Diagnostic] = []
    for d in res.diagnostics:
        if d.severity != "error":
            hit = [dr for dr in silencers(d) if d.code in dr.codes]
            if hit:
                for dr in hit:
                    dr.used.add(d.code)
                continue
        kept.append(d)

    for dr in [*file_dirs, *line_dirs.values(), *field_dirs.values()]:
        for c in dr.codes:
            if c in dr.used:
                continue
            why = (
                f"{c} is not an archcheck code"
                if c not in CODES
                else f"noqa: {c} silenced nothing (no {c} warning here; a noqa silences warnings only)"
            )
            d = Diagnostic(
                "warning",
                "AC410",
                why,
                file=src.file,
                line=dr.line,
                column=dr.column,
                hint=f"remove {c} from this noqa" if c in CODES else "check the code (`archcheck explain` lists them)",
            )
            if dr.where is not None:
                src.locate(d, dr.where)
            new.append(d)
    res.diagnostics = kept + new
