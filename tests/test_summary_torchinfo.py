"""summary's totals equal torchinfo's on the zoo: parameters, and mult-adds in torchinfo's own convention."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
torchinfo = pytest.importorskip("torchinfo")

from archcheck.api import load  # noqa: E402
from archcheck.emit.summary import torchinfo_mult_adds  # noqa: E402
from archcheck.emit.verify import module_from_result  # noqa: E402
from archcheck.engine.walk import check  # noqa: E402

SPECS = sorted(p for p in (Path(__file__).parents[1] / "specs").glob("*.yaml") if not p.name.startswith("broken_"))
DIMS = {"N": 1, "H": 64, "W": 64, "L": 12}


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_totals_equal_torchinfo(path: Path) -> None:
    res = check(load(path), DIMS)
    assert res.ok, [d.message for d in res.diagnostics]
    model = module_from_result(res)
    inputs = []
    for t in res.inputs.values():
        shape = tuple(int(d) for d in t.shape)
        if t.dtype in ("long", "int64"):
            inputs.append(torch.zeros(shape, dtype=torch.long, device="meta"))
        else:
            inputs.append(torch.empty(shape, device="meta"))
    info = torchinfo.summary(model, input_data=inputs, device="meta", verbose=0, depth=99)
    assert info.total_params == res.total_params
    assert info.total_mult_adds == torchinfo_mult_adds(res)
