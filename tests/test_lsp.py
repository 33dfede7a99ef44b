"""`archcheck lsp` end to end: a real LSP client (pytest-lsp) talks to the server over stdio."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pygls")
pytest_lsp = pytest.importorskip("pytest_lsp")

from lsprotocol import types as T  # noqa: E402
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BROKEN = ROOT / "specs" / "broken_fc1_in_features.yaml"
SIMPLE = ROOT / "specs" / "simple_cnn.yaml"

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_lsp.fixture(
    config=ClientServerConfig(server_command=[sys.executable, "-m", "archcheck", "lsp"]),
    scope="module",
)
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    await lsp_client.initialize_session(
        T.InitializeParams(capabilities=client_capabilities("visual-studio-code"), root_uri=ROOT.as_uri())
    )
    yield
    await lsp_client.shutdown_session()


_version = 0


async def open_doc(client: LanguageClient, path: Path, text: str | None = None) -> str:
    """Open ``path`` (with ``text``, if given) and wait for its diagnostics."""
    global _version
    _version += 1
    uri = path.as_uri()
    client.text_document_did_open(
        T.DidOpenTextDocumentParams(
            text_document=T.TextDocumentItem(
                uri=uri, language_id="yaml", version=_version, text=path.read_text() if text is None else text
            )
        )
    )
    await client.wait_for_notification(T.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    return uri


async def close_doc(client: LanguageClient, uri: str) -> None:
    """Close ``uri`` and wait for the server to clear its diagnostics."""
    client.text_document_did_close(T.DidCloseTextDocumentParams(text_document=T.TextDocumentIdentifier(uri=uri)))
    await client.wait_for_notification(T.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    assert list(client.diagnostics[uri]) == []


def line_of(path: Path, needle: str) -> int:
    """The 0-based line of ``path`` holding ``needle``."""
    return next(i for i, line in enumerate(path.read_text().splitlines()) if needle in line)


async def test_diagnostics_match_validate(client: LanguageClient) -> None:
    uri = await open_doc(client, BROKEN)
    got = client.diagnostics[uri]
    cli = subprocess.run(
        [sys.executable, "-m", "archcheck", "validate", "--format", "json", str(BROKEN)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    want = json.loads(cli.stdout)["diagnostics"]
    assert [(d.code, d.range.start.line + 1, d.range.start.character + 1) for d in got] == [
        (w["code"], w["line"], w["column"]) for w in want
    ]
    d = got[0]
    assert d.severity == T.DiagnosticSeverity.Error and d.source == "archcheck"
    assert "in_features=512" in d.message and "help: set in_features: 1568" in d.message
    assert d.range.end.character - d.range.start.character == len("512")  # the value, underlined
    await close_doc(client, uri)


async def test_quick_fix_applies_the_hint(client: LanguageClient) -> None:
    uri = await open_doc(client, BROKEN)
    diag = client.diagnostics[uri][0]
    actions = await client.text_document_code_action_async(
        T.CodeActionParams(
            text_document=T.TextDocumentIdentifier(uri=uri),
            range=diag.range,
            context=T.CodeActionContext(diagnostics=[diag]),
        )
    )
    assert actions and actions[0].title == "set in_features: 1568"
    edit = actions[0].edit.changes[uri][0]
    lines = BROKEN.read_text().splitlines(keepends=True)
    line = lines[edit.range.start.line]
    lines[edit.range.start.line] = line[: edit.range.start.character] + edit.new_text + line[edit.range.end.character :]
    await close_doc(client, uri)
    # the edited text checks clean
    fixed = await open_doc(client, BROKEN, "".join(lines))
    assert [d for d in client.diagnostics[fixed] if d.severity == T.DiagnosticSeverity.Error] == []
    await close_doc(client, fixed)


async def test_typing_is_debounced_and_the_last_text_wins(client: LanguageClient) -> None:
    uri = await open_doc(client, SIMPLE)
    assert list(client.diagnostics[uri]) == []
    text = SIMPLE.read_text()
    for i, width in enumerate((7, 70, 700)):  # a burst of edits; only the last one is the document
        client.text_document_did_change(
            T.DidChangeTextDocumentParams(
                text_document=T.VersionedTextDocumentIdentifier(uri=uri, version=100 + i),
                content_changes=[
                    T.TextDocumentContentChangeWholeDocument(
                        text=text.replace("in_features: 1568", f"in_features: {width}")
                    )
                ],
            )
        )
    await client.wait_for_notification(T.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    [d] = client.diagnostics[uri]
    assert d.code == "AC202" and "in_features=700" in d.message
    await close_doc(client, uri)


async def test_hover_shows_shapes_params_and_macs(client: LanguageClient) -> None:
    uri = await open_doc(client, SIMPLE)
    line = line_of(SIMPLE, "name: fc1")
    h = await client.text_document_hover_async(
        T.HoverParams(text_document=T.TextDocumentIdentifier(uri=uri), position=T.Position(line=line, character=12))
    )
    assert h is not None
    text = h.contents.value
    assert "**fc1**" in text and "`[N, 1568]` → `[N, 128]`" in text and "params 200,832" in text and "MACs" in text
    await close_doc(client, uri)


async def test_inlay_hints_give_each_layers_output_shape(client: LanguageClient) -> None:
    uri = await open_doc(client, SIMPLE)
    n = len(SIMPLE.read_text().splitlines())
    hints = await client.text_document_inlay_hint_async(
        T.InlayHintParams(
            text_document=T.TextDocumentIdentifier(uri=uri),
            range=T.Range(start=T.Position(line=0, character=0), end=T.Position(line=n, character=0)),
        )
    )
    by_line = {h.position.line: h.label for h in hints}
    assert by_line[line_of(SIMPLE, "name: conv1")] == "→ [N, 16, 28, 28]"
    assert by_line[line_of(SIMPLE, "name: pool2")] == "→ [N, 32, 7, 7]"
    assert by_line[line_of(SIMPLE, "name: fc2")] == "→ [N, 10]"
    await close_doc(client, uri)


async def _complete(client: LanguageClient, uri: str, line: int, character: int) -> list[T.CompletionItem]:
    r = await client.text_document_completion_async(
        T.CompletionParams(
            text_document=T.TextDocumentIdentifier(uri=uri), position=T.Position(line=line, character=character)
        )
    )
    assert r is not None
    return r.items if isinstance(r, T.CompletionList) else r


async def test_completion_of_types_fields_and_names(client: LanguageClient, tmp_path: Path) -> None:
    text = (
        "name: M\n"
        "input: {shape: [N, 3, 32, 32]}\n"
        "layers:\n"
        "  - {name: stem, type: Conv2d, out_channels: 8, kernel_size: 3}\n"
        "  - {name: act, type: ReLU}\n"
        "  - {name: merge, type: Add, inputs: [stem, ]}\n"
        "  - {type: }\n"
    )
    path = tmp_path / "c.yaml"
    uri = await open_doc(client, path, text)
    types = {i.label for i in await _complete(client, uri, 6, len("  - {type: "))}
    assert {"Conv2d", "Linear", "Sequential"} <= types
    conv_line = "  - {name: stem, type: Conv2d, out_channels: 8, kernel_size: 3"
    fields = {i.label: i.detail for i in await _complete(client, uri, 3, len(conv_line))}
    assert fields["stride"] == "default: 1" and fields["padding"] == "default: 0"
    assert "out_channels" not in fields and "kernel_size" not in fields  # already written
    names = {i.label for i in await _complete(client, uri, 5, len("  - {name: merge, type: Add, inputs: [stem, "))}
    assert {"x", "stem", "act"} <= names and "merge" not in names
    await close_doc(client, uri)


async def test_go_to_definition_of_a_referenced_layer(client: LanguageClient, tmp_path: Path) -> None:
    text = (
        "name: M\n"
        "input: {shape: [N, 3, 32, 32]}\n"
        "layers:\n"
        "  - {name: stem, type: Conv2d, out_channels: 8, kernel_size: 3, padding: 1}\n"
        "  - {name: act, type: ReLU}\n"
        "  - {name: merge, type: Add, inputs: [stem, act]}\n"
    )
    uri = await open_doc(client, tmp_path / "d.yaml", text)
    loc = await client.text_document_definition_async(
        T.DefinitionParams(
            text_document=T.TextDocumentIdentifier(uri=uri),
            position=T.Position(line=5, character=text.splitlines()[5].index("stem") + 1),
        )
    )
    assert isinstance(loc, T.Location) and loc.uri == uri
    assert loc.range.start.line == 3 and text.splitlines()[3][loc.range.start.character :].startswith("stem")
    await close_doc(client, uri)


async def test_completion_in_a_block_offers_its_own_input_names(client: LanguageClient, tmp_path: Path) -> None:
    text = (
        "name: M\n"
        "input: {shape: [N, 8, 16, 16]}\n"
        "blocks:\n"
        "  Mix:\n"
        "    inputs: [main, skip]\n"
        "    layers:\n"
        "      - {name: a, type: ReLU, inputs: [main]}\n"  # 6
        "      - {name: b, type: Add, inputs: [a, ]}\n"  # 7
        "layers:\n"
        "  - {name: stem, type: Conv2d, out_channels: 8, kernel_size: 1}\n"
        "  - {name: mix, type: Mix, inputs: [stem, x]}\n"
    )
    uri = await open_doc(client, tmp_path / "b.yaml", text)
    names = {
        i.label: i.detail for i in await _complete(client, uri, 7, len("      - {name: b, type: Add, inputs: [a, "))
    }
    assert names.get("main") == names.get("skip") == "block input"
    assert "x" not in names and "stem" not in names  # the model's names are not in the block's scope
    await close_doc(client, uri)


# ---------------------------------------------------------------- issue 13's vocabulary: items, use:, tie:, Parameter

VOCAB = (
    "name: M\n"
    "input: {shape: [N, 12], dtype: long}\n"
    "layers:\n"
    "  - {name: wte, type: Embedding, num_embeddings: 50, embedding_dim: 16}\n"  # 3
    "  - {name: pos, type: Parameter, shape: [1, 12, 16], init: normal, std: 0.02}\n"  # 4
    "  - {name: add, type: Add, inputs: [wte, pos]}\n"  # 5
    "  - {name: qkv, type: Split, split_size_or_sections: 8, dim: -1}\n"  # 6
    "  - {name: lstm, type: LSTM, input_size: 8, hidden_size: 8, batch_first: true, inputs: [qkv.0]}\n"  # 7
    "  - {name: mix, type: Add, inputs: [qkv.1, lstm]}\n"  # 8
    "  - {name: act, type: ReLU}\n"  # 9
    "  - {name: act2, use: act}\n"  # 10
    "  - {name: proj, type: Linear, out_features: 16}\n"  # 11
    "  - {name: lm_head, type: Linear, out_features: 50, bias: false, tie: {weight: wte.weight}}\n"  # 12
)


async def _definition(client: LanguageClient, uri: str, line: int, character: int) -> int:
    loc = await client.text_document_definition_async(
        T.DefinitionParams(
            text_document=T.TextDocumentIdentifier(uri=uri), position=T.Position(line=line, character=character)
        )
    )
    assert isinstance(loc, T.Location) and loc.uri == uri
    return loc.range.start.line


async def test_vocabulary_checks_clean(client: LanguageClient, tmp_path: Path) -> None:
    uri = await open_doc(client, tmp_path / "v.yaml", VOCAB)
    assert [d.message for d in client.diagnostics[uri] if d.severity == T.DiagnosticSeverity.Error] == []
    await close_doc(client, uri)


async def test_completion_offers_items_and_use_targets(client: LanguageClient, tmp_path: Path) -> None:
    lines = VOCAB.splitlines()
    lines[8] = "  - {name: mix, type: Add, inputs: [qkv.1, ]}"
    text = "\n".join(lines) + "\n  - {name: again, use: }\n"
    uri = await open_doc(client, tmp_path / "c2.yaml", text)
    names = {
        i.label: i.detail for i in await _complete(client, uri, 8, len("  - {name: mix, type: Add, inputs: [qkv.1, "))
    }
    assert {"qkv.0", "qkv.1", "lstm", "lstm.0", "lstm.1.0", "lstm.1.1", "add", "pos"} <= set(names)
    assert "qkv" not in names  # Split's outputs need an index
    assert names["lstm.1.0"] == "LSTM item → [1, N, 8]"
    await close_doc(client, uri)
    uri = await open_doc(client, tmp_path / "c3.yaml", VOCAB + "  - {name: again, use: }\n")
    uses = {i.label for i in await _complete(client, uri, 13, len("  - {name: again, use: "))}
    assert {"wte", "lstm", "act", "proj", "lm_head"} <= uses
    assert not uses & {"pos", "add", "qkv", "mix", "act2"}  # tensors and tensor operations: nothing to call again
    await close_doc(client, uri)


async def test_definition_of_items_use_and_tie_targets(client: LanguageClient, tmp_path: Path) -> None:
    uri = await open_doc(client, tmp_path / "d2.yaml", VOCAB)
    lines = VOCAB.splitlines()
    assert await _definition(client, uri, 7, lines[7].index("qkv.0") + 4) == 6  # qkv.0 -> qkv
    assert await _definition(client, uri, 10, lines[10].index("use: act") + 6) == 9  # use: act -> act
    assert await _definition(client, uri, 12, lines[12].index("wte.weight") + 1) == 3  # tie -> wte
    await close_doc(client, uri)


async def test_hover_on_a_parameter_a_use_and_a_split(client: LanguageClient, tmp_path: Path) -> None:
    uri = await open_doc(client, tmp_path / "h2.yaml", VOCAB)

    async def hover(line: int) -> str:
        h = await client.text_document_hover_async(
            T.HoverParams(text_document=T.TextDocumentIdentifier(uri=uri), position=T.Position(line=line, character=12))
        )
        assert h is not None
        return h.contents.value

    pos = await hover(4)
    assert "**pos**: `Parameter`" in pos and "shape `[1, 12, 16]`, init normal" in pos and "params 192" in pos
    again = await hover(10)
    assert "use of `act`" in again and "`[N, 12, 8]` → `[N, 12, 8]`" in again
    split = await hover(6)
    assert "outputs: `qkv.0` `[N, 12, 8]`, `qkv.1` `[N, 12, 8]`" in split
    tied = await hover(12)
    assert "tied: weight = wte.weight" in tied
    await close_doc(client, uri)
