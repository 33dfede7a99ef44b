"""archcheck's language server (``archcheck lsp``, over stdio; needs pygls).

What an editor gets while the user types a spec:

* diagnostics: the same codes, ranges and hints as ``archcheck validate``, published
  a short while after the last keystroke (debounced: a burst of edits is checked once);
* hover on a layer: its type, input and output shapes, params and MACs;
* inlay hints: each layer's output shape at the end of its line;
* completion of layer types (and the spec's blocks), of a layer's fields (with torch's
  defaults), and of the names an ``inputs:`` list may refer to;
* go to definition of a referenced layer or block;
* code actions that apply a diagnostic's fix (``set in_features: 1568``).

The analysis is the library's own ``load`` + ``check`` on the editor's text; this module
only translates between archcheck's results (1-based lines, columns in characters) and
the protocol's (0-based, columns in UTF-16 code units).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlparse

from lsprotocol import types as T
from pygls.lsp.server import LanguageServer

from .._version import __version__
from ..api import check, load
from ..diagnostics.codes import Diagnostic
from ..emit.report import human
from ..engine.result import CheckResult, Node
from ..layers.base import REGISTRY, Layer
from ..shapes.dims import fmt_shape
from ..spec.loader import Span

DEBOUNCE_SECONDS = 0.3
SOURCE = "archcheck"
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


# ------------------------------------------------------------ positions


def _utf16_len(s: str) -> int:
    return sum(2 if ord(c) > 0xFFFF else 1 for c in s)


def _to_utf16(line_text: str, column: int) -> int:
    """A 1-based character column of archcheck's as a 0-based UTF-16 offset of the protocol's."""
    return _utf16_len(line_text[: max(column - 1, 0)])


def _from_utf16(line_text: str, character: int) -> int:
    """A 0-based UTF-16 offset as a 0-based character index into ``line_text``."""
    units = 0
    for i, c in enumerate(line_text):
        if units >= character:
            return i
        units += 2 if ord(c) > 0xFFFF else 1
    return len(line_text)


@dataclass
class Analysis:
    """One version of a document, checked."""

    uri: str
    text: str
    lines: list[str]
    result: CheckResult
    nodes: list[Node] = field(default_factory=list)  # every node, depth first

    def line(self, n: int) -> str:
        """Line ``n`` (1-based), or "" past the end."""
        return self.lines[n - 1] if 0 < n <= len(self.lines) else ""

    def range_of(self, span: Span) -> T.Range:
        return T.Range(
            start=T.Position(line=span.line - 1, character=_to_utf16(self.line(span.line), span.column)),
            end=T.Position(line=span.end_line - 1, character=_to_utf16(self.line(span.end_line), span.end_column)),
        )

    def span(self, path: tuple[Any, ...], *, key: bool = False) -> Span | None:
        return self.result.spec.source.span(path, key=key)

    def node_at(self, line: int, column: int) -> Node | None:
        """The innermost node whose spec text covers the 1-based position (a block's layer: its first instance)."""
        best: tuple[int, Node] | None = None
        for n in self.nodes:
            s = self.result.spec.source.values.get(n.src)
            if s is None or not _covers(s, line, column):
                continue
            if best is None or len(n.src) > best[0]:
                best = (len(n.src), n)
        return best[1] if best else None


def _covers(s: Span, line: int, column: int) -> bool:
    if not s.line <= line <= s.end_line:
        return False
    if line == s.line and column < s.column:
        return False
    return not (line == s.end_line and column > s.end_column)


def _walk(nodes: list[Node]) -> list[Node]:
    out: list[Node] = []
    for n in nodes:
        out.append(n)
        out.extend(_walk(n.children))
    return out


def _path_of(uri: str) -> str:
    p = urlparse(uri)
    return unquote(p.path) if p.scheme == "file" else uri


def analyse(uri: str, text: str) -> Analysis:
    """Check ``text`` as the spec at ``uri`` (never raises on the spec's content)."""
    res = check(load(_path_of(uri), text=text))
    return Analysis(uri, text, text.splitlines(), res, _walk(res.root))


# ------------------------------------------------------------ translations


def to_lsp_diagnostic(a: Analysis, d: Diagnostic) -> T.Diagnostic:
    line = max((d.line or 1), 1)
    text = a.line(line)
    start = _to_utf16(text, d.column or 1)
    end = _to_utf16(text, d.end_column) if d.end_column and d.end_column > (d.column or 1) else len(text)
    if end <= start:  # a zero-width span: underline to the end of the line
        end = max(_utf16_len(text), start + 1)
    message = d.message
    if d.path:
        message = f"[{d.path}] {message}"
    if d.hint:
        message += f"\nhelp: {d.hint}"
    message += "".join(f"\nnote: {n}" for n in d.notes)
    severity = {"error": T.DiagnosticSeverity.Error, "warning": T.DiagnosticSeverity.Warning}.get(
        d.severity, T.DiagnosticSeverity.Information
    )
    return T.Diagnostic(
        range=T.Range(start=T.Position(line=line - 1, character=start), end=T.Position(line=line - 1, character=end)),
        message=message,
        severity=severity,
        code=d.code,
        source=SOURCE,
        # a fix replaces the field's value, so it is offered only where the diagnostic spans exactly that value
        data={"fix": d.fix} if d.fix and d.end_column else None,
    )


def _shape(n: Node) -> str:
    return fmt_shape(n.output.shape) if n.output is not None else "?"


def hover_text(n: Node) -> str:
    """Markdown for a hover on a layer (a Parameter: its shape; a use: the module it calls again)."""
    head = f"**{n.path}**: `{n.type}`" + (f" ×{n.repeat}" if n.repeat else "")
    if n.kind == "use" and n.target is not None:
        head += f" (use of `{n.target.path}`: the same module, its weights shared)"
    ins = ", ".join(fmt_shape(s) if s is not None else "?" for s in n.input_shapes) or "?"
    if n.layer is not None and type(n.layer).arity[1] == 0:  # a learnable tensor: no input
        lines = [head, "", f"shape `{_shape(n)}`, init {n.layer.label()}"]
    else:
        lines = [head, "", f"`{ins}` → `{_shape(n)}`"]
    if n.output is not None and n.output.indexed and n.output.parts is not None:
        lines += ["", "outputs: " + ", ".join(f"`{ref}` `{shape}`" for ref, shape in _items(n.name, n.output))]
    counts = []
    if n.params is not None:
        counts.append(f"params {n.params:,}")
    if n.macs:
        counts.append(f"MACs {human(n.macs)}")
    if not n.trainable:
        counts.append("trainable: false")
    ties = getattr(n, "ties", None)
    if ties:
        counts.append("tied: " + ", ".join(f"{k} = {v}" for k, v in ties.items()))
    if counts:
        lines += ["", " · ".join(counts)]
    if n.output is not None and n.output.note:
        lines += ["", n.output.note]
    return "\n".join(lines)


def inlay_hints(a: Analysis, first: int, last: int) -> list[T.InlayHint]:
    """The output shape at the end of each layer written in lines first..last (1-based), layers: only."""
    hints: list[T.InlayHint] = []
    seen: set[int] = set()
    for n in a.nodes:
        if not n.src or n.src[0] != "layers" or n.output is None:
            continue
        s = a.result.spec.source.values.get(n.src)
        if s is None or not first <= s.line <= last or s.line in seen:
            continue
        # at the end of the layer's first line: flow mappings end there; block mappings get it by their type
        seen.add(s.line)
        text = a.line(s.line).rstrip()
        comment = _comment_start(text)
        col = _utf16_len(text[:comment].rstrip()) if comment is not None else _utf16_len(text)
        hints.append(
            T.InlayHint(
                position=T.Position(line=s.line - 1, character=col),
                label=f"→ {_shape(n)}",
                kind=T.InlayHintKind.Type,
                padding_left=True,
            )
        )
    return hints


def _comment_start(text: str) -> int | None:
    """Where a YAML comment starts on the line (outside quotes), if it has one."""
    quote = ""
    for i, c in enumerate(text):
        if quote:
            if c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or text[i - 1] in " \t"):
            return i
    return None


# ------------------------------------------------------------ completion


def _defaults(cls: type[Layer]) -> list[tuple[str, str]]:
    out = []
    for fname, info in cls.model_fields.items():
        if fname in ("type", "name", "inputs"):
            continue
        default = "required" if info.is_required() else repr(info.default)
        out.append((fname, default))
    return out


def completions(a: Analysis | None, line_text: str, line: int, col: int) -> list[T.CompletionItem]:
    """What may be typed at 0-based character ``col`` of ``line_text`` (line ``line``, 1-based)."""
    before = line_text[:col]
    blocks = sorted(a.result.spec.blocks) if a is not None else []
    types = [*sorted(REGISTRY), "Sequential"]
    if re.search(r"(?:^|[{,\s])type:\s*[\w]*$", before) or re.search(r"^\s*-\s*[\w]*$", before):
        items = [T.CompletionItem(label=t, kind=T.CompletionItemKind.Class, detail=_torch_name(t)) for t in types]
        items += [T.CompletionItem(label=b, kind=T.CompletionItemKind.Module, detail="block") for b in blocks]
        return items
    if re.search(r"(?:^|[{,\s])use:\s*[\w-]*$", before) and a is not None:
        return [
            T.CompletionItem(label=name, kind=T.CompletionItemKind.Module, detail=f"call again: {detail}")
            for name, detail in _modules_in_scope(a, line)
        ]
    if re.search(r"(?:^|[{,\s])inputs:\s*(?:\[[^\]]*)?[\w.]*$", before) and a is not None:
        return [
            T.CompletionItem(label=name, kind=T.CompletionItemKind.Reference, detail=detail)
            for name, detail in _names_in_scope(a, line)
        ]
    if a is None:
        return []
    n = a.node_at(line, col + 1) or _node_on_line(a, line)
    cls = REGISTRY.get(n.type) if n is not None and n.kind == "layer" else None
    if cls is None:
        return []
    present = set(re.findall(r"(\w+)\s*:", line_text))
    raw = _raw_at(a, n.src) if n is not None else None
    if isinstance(raw, dict):
        present |= set(raw)
    return [
        T.CompletionItem(
            label=f,
            kind=T.CompletionItemKind.Field,
            detail=f"default: {d}",
            insert_text=f"{f}: ",
        )
        for f, d in _defaults(cls)
        if f not in present
    ]


def _torch_name(t: str) -> str:
    cls = REGISTRY.get(t)
    if cls is not None and (cls.module_source or cls.function_source) is not None:
        return "defined in the generated file"
    return f"torch.{cls.torch_name}" if cls is not None and cls.torch_name else "tensor operation"


def _raw_at(a: Analysis, path: tuple[Any, ...]) -> Any:
    cur: Any = a.result.spec.source.data
    for k in path:
        try:
            cur = cur[k]
        except (KeyError, IndexError, TypeError):
            return None
    return cur


def _node_on_line(a: Analysis, line: int) -> Node | None:
    """The last layer written at or before ``line`` (for a cursor in a block mapping's gap)."""
    best: Node | None = None
    for n in a.nodes:
        s = a.result.spec.source.values.get(n.src)
        if s is not None and s.line <= line <= s.end_line:
            best = n if best is None or len(n.src) >= len(best.src) else best
    return best


def _names_in_scope(a: Analysis, line: int) -> list[tuple[str, str]]:
    """Model inputs and the layers written before ``line`` in the same list (names an `inputs:` may use)."""
    block = _in_block(a, line)
    if block is None:
        out = [(name, "model input") for name in a.result.inputs]
    else:  # a block's layers see its inputs under the names it declares (engine/scope.py)
        out = [(name, "block input") for name in a.result.spec.blocks[block].inputs]
    here = _node_on_line(a, line)
    for n in a.nodes:
        s = a.result.spec.source.values.get(n.src)
        if s is None or s.line >= line or n is here:
            continue
        if here is not None and n.src[:-1] != here.src[:-1]:
            continue
        out += _refs(n)
    return out


def _items(name: str, t: Any) -> list[tuple[str, str]]:
    """``(ref, shape)`` of each item of a tuple output: ``qkv.0``, ``lstm.1.0`` (nested tuples opened)."""
    out: list[tuple[str, str]] = []
    for i, p in enumerate(t.parts or ()):
        ref = f"{name}.{i}"
        if p.parts is not None:
            out += _items(ref, p)
        else:
            out.append((ref, fmt_shape(p.shape)))
    return out


def _refs(n: Node) -> list[tuple[str, str]]:
    """The names an ``inputs:`` list may use for ``n``'s output: its name, and ``name.i`` for its items."""
    o = n.output
    if o is None or o.parts is None:
        return [(n.name, f"{n.type} → {_shape(n)}")]
    whole = [] if o.indexed else [(n.name, f"{n.type} → {_shape(n)} (item 0)")]
    return whole + [(ref, f"{n.type} item → {shape}") for ref, shape in _items(n.name, o)]


def _modules_in_scope(a: Analysis, line: int) -> list[tuple[str, str]]:
    """What ``use:`` may name: the modules (layers with weights or a torch module, Sequentials, blocks) before ``line``."""
    here = _node_on_line(a, line)
    out = []
    for n in a.nodes:
        s = a.result.spec.source.values.get(n.src)
        if s is None or s.line >= line or n is here or n.kind == "use":
            continue
        if here is not None and n.src[:-1] != here.src[:-1]:
            continue
        if n.kind == "layer" and (n.layer is None or type(n.layer).torch_name is None or type(n.layer).arity[1] == 0):
            continue  # a tensor operation or a Parameter: nothing to call again
        out.append((n.name, f"{n.type} → {_shape(n)}"))
    return out


def _in_block(a: Analysis, line: int) -> str | None:
    """The block whose definition holds ``line``, if any."""
    for name in a.result.spec.blocks:
        s = a.span(("blocks", name))
        if s is not None and s.line <= line <= s.end_line:
            return name
    return None


# ------------------------------------------------------------ definition and code actions


def definition(a: Analysis, line: int, col: int) -> T.Location | None:
    """Where the word at the 1-based position is defined: a layer's name, a block, a model input."""
    text = a.line(line)
    word = None
    for m in _WORD.finditer(text):
        if m.start() <= col - 1 <= m.end():
            word = m.group()
            break
    if word is None:
        return None
    candidates: list[tuple[Any, ...]] = []
    if word in a.result.spec.blocks:
        candidates.append(("blocks", word))
    candidates += [n.src + ("name",) for n in a.nodes if n.name == word]
    if not candidates and "." in word:
        # qkv.0, lstm.1.0: an item of a layer's output -> the layer
        base = re.sub(r"(\.[0-9]+)+$", "", word)
        candidates += [n.src + ("name",) for n in a.nodes if n.name == base and base != word]
    if not candidates and "." in word:
        # tie: {weight: transformer.wte.weight}: the module path, then its parameter -> the module
        module = word.rpartition(".")[0]
        for n in a.nodes:
            if n.path == module or n.path.endswith("." + module):
                candidates.append(n.src + ("name",))
    if word in a.result.spec.input_src:
        candidates.append(a.result.spec.input_src[word])
    for path in candidates:
        key = path[:1] == ("blocks",) and len(path) == 2
        s = a.span(path, key=key)
        if s is not None and not (s.line == line and s.column <= col <= s.end_column):
            return T.Location(uri=a.uri, range=a.range_of(s))
    return None


def code_actions(a: Analysis, diagnostics: list[T.Diagnostic]) -> list[T.CodeAction]:
    """A quick fix for each diagnostic that carries one (the value a field should have)."""
    actions = []
    for d in diagnostics:
        fix = (d.data or {}).get("fix") if isinstance(d.data, dict) else None
        if not fix or d.source != SOURCE:
            continue
        field_name, value = fix["field"], fix["value"]
        new = str(value)
        actions.append(
            T.CodeAction(
                title=f"set {field_name}: {new}",
                kind=T.CodeActionKind.QuickFix,
                diagnostics=[d],
                is_preferred=True,
                edit=T.WorkspaceEdit(changes={a.uri: [T.TextEdit(range=d.range, new_text=new)]}),
            )
        )
    return actions


# ------------------------------------------------------------ the server


class ArchcheckServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("archcheck", __version__)
        self.analyses: dict[str, Analysis] = {}
        self.pending: dict[str, asyncio.Task[None]] = {}

    def analysis(self, uri: str) -> Analysis | None:
        """The latest analysis of ``uri``, made now if the document changed since."""
        doc = self.workspace.get_text_document(uri)
        a = self.analyses.get(uri)
        if a is None or a.text != doc.source:
            a = self.analyses[uri] = analyse(uri, doc.source)
        return a

    def publish(self, uri: str) -> None:
        a = self.analysis(uri)
        if a is None:
            return
        self.text_document_publish_diagnostics(
            T.PublishDiagnosticsParams(uri=uri, diagnostics=[to_lsp_diagnostic(a, d) for d in a.result.diagnostics])
        )

    def schedule(self, uri: str, delay: float = DEBOUNCE_SECONDS) -> None:
        """Check ``uri`` once the edits pause for ``delay`` seconds."""
        old = self.pending.pop(uri, None)
        if old is not None:
            old.cancel()

        async def later() -> None:
            await asyncio.sleep(delay)
            self.pending.pop(uri, None)
            self.publish(uri)

        self.pending[uri] = asyncio.ensure_future(later())


server = ArchcheckServer()


@server.feature(T.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: ArchcheckServer, params: T.DidOpenTextDocumentParams) -> None:
    ls.schedule(params.text_document.uri, delay=0)


@server.feature(T.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: ArchcheckServer, params: T.DidChangeTextDocumentParams) -> None:
    ls.schedule(params.text_document.uri)


@server.feature(T.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: ArchcheckServer, params: T.DidSaveTextDocumentParams) -> None:
    ls.schedule(params.text_document.uri, delay=0)


@server.feature(T.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: ArchcheckServer, params: T.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    task = ls.pending.pop(uri, None)
    if task is not None:
        task.cancel()
    ls.analyses.pop(uri, None)
    ls.text_document_publish_diagnostics(T.PublishDiagnosticsParams(uri=uri, diagnostics=[]))


def _position(a: Analysis, pos: T.Position) -> tuple[int, int]:
    """The protocol's 0-based UTF-16 position as archcheck's 1-based line and character column."""
    return pos.line + 1, _from_utf16(a.line(pos.line + 1), pos.character) + 1


@server.feature(T.TEXT_DOCUMENT_HOVER)
def hover(ls: ArchcheckServer, params: T.HoverParams) -> T.Hover | None:
    a = ls.analysis(params.text_document.uri)
    if a is None:
        return None
    n = a.node_at(*_position(a, params.position))
    if n is None:
        return None
    s = a.result.spec.source.values.get(n.src)
    return T.Hover(
        contents=T.MarkupContent(kind=T.MarkupKind.Markdown, value=hover_text(n)),
        range=a.range_of(s) if s is not None else None,
    )


@server.feature(T.TEXT_DOCUMENT_INLAY_HINT)
def inlay_hint(ls: ArchcheckServer, params: T.InlayHintParams) -> list[T.InlayHint]:
    a = ls.analysis(params.text_document.uri)
    if a is None:
        return []
    return inlay_hints(a, params.range.start.line + 1, params.range.end.line + 1)


@server.feature(
    T.TEXT_DOCUMENT_COMPLETION, T.CompletionOptions(trigger_characters=[":", " ", "[", ","], resolve_provider=False)
)
def completion(ls: ArchcheckServer, params: T.CompletionParams) -> T.CompletionList:
    a = ls.analysis(params.text_document.uri)
    doc = ls.workspace.get_text_document(params.text_document.uri)
    lines = doc.source.splitlines()
    text = lines[params.position.line] if params.position.line < len(lines) else ""
    col = _from_utf16(text, params.position.character)
    return T.CompletionList(is_incomplete=False, items=completions(a, text, params.position.line + 1, col))


@server.feature(T.TEXT_DOCUMENT_DEFINITION)
def goto_definition(ls: ArchcheckServer, params: T.DefinitionParams) -> T.Location | None:
    a = ls.analysis(params.text_document.uri)
    return definition(a, *_position(a, params.position)) if a is not None else None


@server.feature(T.TEXT_DOCUMENT_CODE_ACTION, T.CodeActionOptions(code_action_kinds=[T.CodeActionKind.QuickFix]))
def code_action(ls: ArchcheckServer, params: T.CodeActionParams) -> list[T.CodeAction]:
    a = ls.analysis(params.text_document.uri)
    return code_actions(a, list(params.context.diagnostics)) if a is not None else []


def serve() -> None:
    """Run the server on stdin/stdout until the client ends it."""
    server.start_io()
