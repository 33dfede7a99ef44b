"""Diagnostics: the code table and the Diagnostic model (codes.py), escaping of shown text (text.py), the long
explanation of each code (explain.py). The bottom of the package: it imports no other archcheck subpackage."""
