"""What to install for an optional feature, said so that the advice works.

The name `archcheck` on PyPI belongs to an unrelated project, so a hint never
says `pip install 'archcheck[torch]'`: it names the packages the extra holds,
and, when archcheck was installed from a source tree (pip records it in
`direct_url.json`), the extra from that tree.
"""

from __future__ import annotations

import json
from importlib import metadata
from urllib.parse import unquote, urlparse

# Used when archcheck's metadata cannot be read (run from a source tree that is not installed).
_FALLBACK: dict[str, tuple[str, ...]] = {
    "torch": ("torch", "torchinfo", "numpy"),
    "plot": ("matplotlib",),
    "lsp": ("pygls",),
}
# The top-level module that is missing -> the extra that provides it.
MODULE_EXTRA = {
    "torch": "torch",
    "torchinfo": "torch",
    "numpy": "torch",
    "matplotlib": "plot",
    "pygls": "lsp",
    "lsprotocol": "lsp",
}
CPU_TORCH = "pip install torch --index-url https://download.pytorch.org/whl/cpu"


def source_tree() -> str | None:
    """The local directory archcheck was installed from, if pip recorded one."""
    try:
        raw = metadata.distribution("archcheck").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    if not raw:
        return None
    try:
        url = urlparse(json.loads(raw).get("url", ""))
    except (ValueError, AttributeError):
        return None
    return unquote(url.path) if url.scheme == "file" and url.path else None


def requirements(extra: str) -> tuple[str, ...]:
    """The requirements of an extra, read from archcheck's installed metadata (pyproject.toml's lists)."""
    try:
        lines = metadata.requires("archcheck") or []
    except metadata.PackageNotFoundError:
        lines = []
    marker = f'extra == "{extra}"'
    found = tuple(req.split(";")[0].strip().replace(" ", "") for req in lines if marker in req)
    return found or _FALLBACK.get(extra, ())


def install_hint(extra: str) -> str:
    """One sentence: how to get the packages of `extra` (e.g. 'torch')."""
    packages = " ".join(f"'{p}'" if any(c in p for c in "<>=,") else p for p in requirements(extra))
    hint = f"pip install {packages}"
    tree = source_tree()
    if tree:
        hint += f", or the extra from archcheck's source: pip install '{tree}[{extra}]'"
    if extra == "torch":
        hint += f" (for torch's CPU-only build: {CPU_TORCH})"
    return hint
