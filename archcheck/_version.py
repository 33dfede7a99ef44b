"""The package version, in a leaf module so that any part of the package (SARIF, the language server, the CLI)
can name it without importing the API."""

__version__ = "0.1.0"
