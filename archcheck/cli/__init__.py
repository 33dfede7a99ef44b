"""The command line (app.py; the entry point is ``archcheck.cli:main``), the language server (lsp.py), ``archcheck
import`` (importer.py), the output-file policy (output.py) and optional-dependency hints (extras.py)."""

from .app import main

__all__ = ["main"]
