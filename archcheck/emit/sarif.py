"""SARIF 2.1.0 output for CI code scanning (`archcheck validate --format sarif`).

One log with one run for all the specs checked: the rules are archcheck's code
table (so a rule's index never depends on what was found), and each diagnostic
is a result located by file URI, line and column. Columns count Unicode code
points, as PyYAML's marks do, which the run declares with ``columnKind``.

Spec: https://docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .._version import __version__
from ..diagnostics.codes import CODES, Diagnostic, escape, shown
from ..engine.result import CheckResult

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"error": "error", "warning": "warning", "note": "note"}


def rules() -> list[dict[str, Any]]:
    """One reportingDescriptor per code in the table, in table order."""
    from ..diagnostics.explain import EXPLANATIONS

    out = []
    for c in CODES.values():
        rule: dict[str, Any] = {
            "id": c.code,
            "name": c.name,
            "shortDescription": {"text": c.summary},
            "defaultConfiguration": {"level": "warning" if c.code in _WARNING_BY_DEFAULT else "error"},
        }
        e = EXPLANATIONS.get(c.code)
        if e is not None:
            rule["fullDescription"] = {"text": e.what}
            rule["help"] = {
                "text": f"{e.why}\n\nExample:\n{e.example}\nFix:\n{e.fix}",
                "markdown": f"{e.why}\n\n**Example:**\n```yaml\n{e.example}```\n**Fix:**\n```yaml\n{e.fix}```",
            }
        out.append(rule)
    return out


# Codes whose findings are usually warnings (the result's own level always wins).
_WARNING_BY_DEFAULT = {"AC211", "AC212", "AC305", "AC306"}


def artifact_uri(file: str) -> str:
    """A relative path stays relative (forward slashes, percent-encoded); an absolute one is a file: URI."""
    p = Path(file)
    if p.is_absolute():
        try:
            rel = os.path.relpath(p)
        except ValueError:  # another drive on Windows
            return p.as_uri()
        if rel.startswith(".."):
            return p.as_uri()
        p = Path(rel)
    return quote(p.as_posix())


def result(d: Diagnostic, index: dict[str, int]) -> dict[str, Any]:
    """A SARIF result for one diagnostic."""
    # The message's own text is escaped (one line each): only these "\n" separate its parts.
    text = shown(d.message) + (f"\nhelp: {shown(d.hint)}" if d.hint else "")
    for n in d.notes:
        text += f"\nnote: {shown(n)}"
    res: dict[str, Any] = {
        "ruleId": d.code,
        "level": _LEVEL.get(d.severity, "error"),
        "message": {"text": text},
    }
    if d.code in index:
        res["ruleIndex"] = index[d.code]
    if d.file:
        phys: dict[str, Any] = {"artifactLocation": {"uri": artifact_uri(d.file)}}
        if d.line:
            region: dict[str, Any] = {"startLine": d.line}
            if d.column:
                region["startColumn"] = d.column
                if d.end_column and d.end_column > d.column:
                    region["endColumn"] = d.end_column
            phys["region"] = region
        loc: dict[str, Any] = {"physicalLocation": phys}
        if d.path:
            loc["logicalLocations"] = [{"fullyQualifiedName": escape(d.path), "kind": "member"}]
        res["locations"] = [loc]
    props: dict[str, Any] = {"name": d.name}
    if d.path:
        props["path"] = d.path
    if d.hint:
        props["hint"] = d.hint
    if d.bindings:
        props["bindings"] = d.bindings
    res["properties"] = props
    return res


def to_sarif(results: list[CheckResult]) -> dict[str, Any]:
    """The SARIF log for ``results`` (one run)."""
    table = rules()
    index = {r["id"]: i for i, r in enumerate(table)}
    artifacts = []
    seen: set[str] = set()
    for r in results:
        uri = artifact_uri(r.source.file)
        if uri not in seen:
            seen.add(uri)
            artifacts.append(
                {
                    "location": {"uri": uri},
                    "mimeType": "application/json" if uri.endswith(".json") else "application/yaml",
                }
            )
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "archcheck",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "rules": table,
                    }
                },
                "invocations": [{"executionSuccessful": True}],
                "columnKind": "unicodeCodePoints",
                "artifacts": artifacts,
                "results": [result(d, index) for r in results for d in r.diagnostics],
            }
        ],
    }
