"""Shape propagation: the walk over a spec's layers (walk.py), conditions on free dims (conditions.py),
``expect:``/``output:`` assertions (expect.py) and ``noqa`` filtering (noqa.py)."""
