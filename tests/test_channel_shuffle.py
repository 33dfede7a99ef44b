"""nn.ChannelShuffle (archcheck/layers/channel_shuffle.py): the shape rule against torch on the meta device, a
free channel count, and the type in every output (types, JSON Schema, generate, render, summary) with no edit
outside its module: the worked example of docs/architecture.md."""

from __future__ import annotations

import itertools
import json

import pytest
from conftest import run_cli

from archcheck import check
from archcheck.emit.codegen import generate
from archcheck.emit.diagram import to_dot
from archcheck.emit.summary import receptive_fields
from archcheck.spec.jsonschema import schema_text


def _spec(shape: list[object], groups: int, before: list[dict] | None = None) -> dict:
    return {
        "name": "Shuffled",
        "input": {"shape": shape},
        "layers": [*(before or []), {"name": "shuffle", "type": "ChannelShuffle", "groups": groups}],
    }


def _archcheck(shape: tuple[int, ...], groups: int) -> tuple[tuple[object, ...] | None, set[str]]:
    res = check(_spec(list(shape), groups))
    out = res.outputs.get("shuffle")
    return (out.shape if out is not None else None), {d.code for d in res.diagnostics if d.severity == "error"}


SHAPES = [(4,), (2, 6), (1, 4, 5), (2, 6, 3, 3), (1, 12, 2, 2, 2), (3, 7, 2, 2), (1, 1, 4)]


@pytest.mark.parametrize("shape,groups", list(itertools.product(SHAPES, [1, 2, 3, 4, 5])))
def test_agrees_with_torch_on_meta(shape, groups):
    torch = pytest.importorskip("torch")
    try:
        want = tuple(torch.nn.ChannelShuffle(groups)(torch.empty(shape, device="meta")).shape)
    except RuntimeError:
        want = None
    got, errors = _archcheck(shape, groups)
    if want is None:
        assert got is None and errors & {"AC204", "AC215"}, (shape, groups, errors)
    else:
        assert not errors and got == want, (shape, groups, errors)


def test_wrong_groups_names_the_field_and_the_sizes():
    res = check(_spec(["N", 6, 8, 8], 4))
    (d,) = [d for d in res.diagnostics if d.severity == "error"]
    assert d.code == "AC215" and "divisible by groups=4" in d.message and "[N, 6, 8, 8]" in d.message
    assert d.hint == "make the channels a multiple of 4, or change groups"


def test_a_free_channel_count_becomes_a_condition():
    res = check({**_spec(["N", "C", 8, 8], 4), "dims": {"C": {"min": 1}}})
    assert [(d.code, d.message) for d in res.diagnostics] == [
        ("AC306", "C must be a multiple of 4 for the shapes to line up (smallest valid sizes: 4, 8, 12)")
    ]
    res = check({**_spec(["N", "C", 8, 8], 4), "dims": {"C": {"min": 1, "max": 3}}})
    assert [d.code for d in res.diagnostics if d.severity == "error"] == ["AC307"]
    assert check({**_spec(["N", "C", 8, 8], 4), "dims": {"C": 8}}).ok


def test_an_inferred_conv_before_it_is_checked():
    conv = {"name": "conv", "type": "Conv2d", "out_channels": 6, "kernel_size": 3, "padding": 1}
    assert check(_spec(["N", 3, 8, 8], 3, [conv])).ok
    assert not check(_spec(["N", 3, 8, 8], 4, [conv])).ok


def test_listed_in_types_and_the_json_schema():
    r = run_cli("types")
    assert r.exit_code == 0 and "ChannelShuffle" in r.output
    schema = json.loads(schema_text())
    layer = schema["definitions"]["layer.ChannelShuffle"]
    assert {"minimum": 1, "type": "integer"} in layer["properties"]["groups"]["anyOf"]
    assert "groups" in layer["required"] and "torch.nn.ChannelShuffle" in layer["description"]


def test_generate_render_and_summary(tmp_path):
    conv = {"name": "conv", "type": "Conv2d", "out_channels": 8, "kernel_size": 3}
    res = check(_spec(["N", 3, 16, 16], 2, [conv]))
    assert res.ok
    code = generate(res)
    assert "self.shuffle = nn.ChannelShuffle(groups=2)" in code
    assert "x = self.shuffle(x)  # [N, 8, 14, 14]" in code
    assert "ChannelShuffle g2" in to_dot(res, depth=None)
    fields = receptive_fields(res)
    assert fields["shuffle"] == fields["conv"] and fields["conv"].rf == (3, 3)  # the conv's, unchanged
    spec = tmp_path / "shuffled.json"
    spec.write_text(json.dumps(_spec(["N", 3, 16, 16], 2, [conv])), encoding="utf-8")
    r = run_cli("summary", str(spec))
    assert r.exit_code == 0 and "ChannelShuffle" in r.output


def test_built_model_runs_on_meta():
    torch = pytest.importorskip("torch")
    from archcheck import build

    conv = {"name": "conv", "type": "Conv2d", "out_channels": 8, "kernel_size": 3}
    model = build(check(_spec([2, 3, 16, 16], 4, [conv])).spec).to("meta")
    assert isinstance(model.shuffle, torch.nn.ChannelShuffle) and model.shuffle.groups == 4
    assert tuple(model(torch.empty(2, 3, 16, 16, device="meta")).shape) == (2, 8, 14, 14)


def test_the_docs_diff_stat_is_the_commits() -> None:
    """docs/architecture.md quotes the ChannelShuffle commit's ``git show --stat``: it must be that commit's."""
    import os
    import re
    import shutil
    import subprocess

    from conftest import ROOT

    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    m = re.search(r"^\$ git show --stat --format= ([0-9a-f]{7,40})\b.*\n((?: .*\n)+)", doc, re.M)
    assert m, "docs/architecture.md no longer quotes `git show --stat --format= <commit>`"
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    done = subprocess.run(
        ["git", "-c", "core.quotepath=off", "show", "--stat", "--format=", m.group(1)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], "COLUMNS": "80"},
    )
    if done.returncode != 0:
        pytest.skip(f"commit {m.group(1)} is not in this checkout (a shallow clone)")
    assert done.stdout == m.group(2)
