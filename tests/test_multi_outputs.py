"""Several outputs: Split/Chunk, tuple items of torch modules (name.0, name.1.0), blocks with outputs.

Every shape archcheck gives is compared with torch's: the ops and modules on tiny real tensors
(hypothesis over their arguments), and whole generated modules against hand-written torch ones
(parameters() count, state_dict keys and shapes, output shapes).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
nn = torch.nn

from hostile_util import run_cli  # noqa: E402

from archcheck.api import check, load  # noqa: E402
from archcheck.emit.codegen import generate  # noqa: E402
from archcheck.emit.verify import module_from_result, verify  # noqa: E402
from archcheck.shapes import dims as D  # noqa: E402

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def spec(layers: list[Any], shape: list[Any], **top: Any) -> dict[str, Any]:
    return {"name": "M", "input": {"shape": shape}, "layers": layers, **top}


def errors(res: Any) -> list[str]:
    return [d.code for d in res.diagnostics if d.severity == "error"]


def shapes_of(y: Any) -> Any:
    """torch's output as nested lists of shapes (None where torch gives None)."""
    if isinstance(y, (tuple, list)):
        return [shapes_of(v) for v in y]
    return None if y is None else list(y.shape)


def items(t: Any) -> Any:
    """archcheck's tensor as nested lists of shapes: every item of a tuple output."""
    if t.parts is not None:
        return [items(p) for p in t.parts]
    return list(t.shape)


# ------------------------------------------------------------------ Split and Chunk against torch


@st.composite
def split_case(draw: Any) -> tuple[list[int], str, Any, int]:
    rank = draw(st.integers(1, 3))
    shape = draw(st.lists(st.integers(1, 9), min_size=rank, max_size=rank))
    dim = draw(st.integers(-rank - 1, rank))
    kind = draw(st.sampled_from(["int", "list", "chunk"]))
    if kind == "int":
        arg: Any = draw(st.integers(1, 10))
    elif kind == "list":
        size = shape[dim] if -rank <= dim < rank else 4
        arg = draw(st.lists(st.integers(0, 5), min_size=1, max_size=4))
        if draw(st.booleans()) and sum(arg) <= size:  # often a list that sums right
            arg[-1] += size - sum(arg)
    else:
        arg = draw(st.integers(1, 10))
    return shape, kind, arg, dim


@SETTINGS
@given(split_case())
def test_split_and_chunk_agree_with_torch(case: tuple[list[int], str, Any, int]) -> None:
    shape, kind, arg, dim = case
    x = torch.zeros(shape)
    try:
        want = [list(p.shape) for p in (x.chunk(arg, dim) if kind == "chunk" else x.split(arg, dim))]
    except (RuntimeError, IndexError) as e:
        want = None
        why = e
    layer = (
        {"name": "s", "type": "Chunk", "chunks": arg, "dim": dim}
        if kind == "chunk"
        else {"name": "s", "type": "Split", "split_size_or_sections": arg, "dim": dim}
    )
    res = check(spec([layer], shape))
    if want is None:
        assert errors(res), f"torch refused ({why}), archcheck did not: {layer} on {shape}"
        return
    assert not errors(res), [d.message for d in res.diagnostics]
    # the model returns every part (its last layer is the Split): s.0, s.1, ...
    assert list(res.outputs) == [f"s.{i}" for i in range(len(want))]
    assert [list(t.shape) for t in res.outputs.values()] == want


def test_chunk_on_a_free_dim_states_the_condition() -> None:
    res = check(spec([{"name": "c", "type": "Chunk", "chunks": 3, "dim": 1}], ["N", "L", 4]))
    assert not errors(res)
    assert [[D.fmt(d) for d in t.shape] for t in res.outputs.values()] == [["N", "floor(L/3)", "4"]] * 3
    cond = [d for d in res.diagnostics if d.code == "AC306"]
    assert cond and "L must be a multiple of 3" in cond[0].message
    # with a value, torch's rule: 7 in 3 chunks is 3 + 3 + 1
    res = check(spec([{"name": "c", "type": "Chunk", "chunks": 3, "dim": 1}], ["N", "L", 4]), {"L": 7})
    assert [list(t.shape) for t in res.outputs.values()] == [["N", 3, 4], ["N", 3, 4], ["N", 1, 4]]
    assert [list(p.shape) for p in torch.zeros(2, 7, 4).chunk(3, dim=1)] == [[2, 3, 4], [2, 3, 4], [2, 1, 4]]


def test_split_with_an_int_on_a_free_dim_is_ac235() -> None:
    res = check(spec([{"type": "Split", "split_size_or_sections": 4, "dim": 1}], ["N", "L"]))
    assert errors(res) == ["AC235"]
    assert "free dim L" in res.diagnostics[0].message


def test_split_sections_on_a_free_dim_become_a_condition() -> None:
    res = check(spec([{"type": "Split", "split_size_or_sections": [2, 3], "dim": 1}], ["N", "L"], dims={"L": 6}))
    assert errors(res) == ["AC236"]
    res = check(spec([{"type": "Split", "split_size_or_sections": [2, 3], "dim": 1}], ["N", "L"]))
    assert not errors(res)
    assert any(d.code == "AC306" and "L" in d.message for d in res.diagnostics)


# ------------------------------------------------------------------ tuple items of torch modules


@st.composite
def rnn_case(draw: Any) -> tuple[str, dict[str, Any], list[int]]:
    t = draw(st.sampled_from(["LSTM", "GRU", "RNN"]))
    hidden = draw(st.integers(2, 6))
    fields: dict[str, Any] = {
        "hidden_size": hidden,
        "num_layers": draw(st.integers(1, 3)),
        "bidirectional": draw(st.booleans()),
        "batch_first": draw(st.booleans()),
    }
    if t == "LSTM" and draw(st.booleans()):
        fields["proj_size"] = draw(st.integers(1, hidden - 1))
    shape = draw(st.sampled_from([[5, 2, 3], [4, 3], [3, 4, 3]]))
    return t, fields, shape


@SETTINGS
@given(rnn_case())
def test_recurrent_items_agree_with_torch(case: tuple[str, dict[str, Any], list[int]]) -> None:
    t, fields, shape = case
    res = check(spec([{"name": "r", "type": t, **fields}], shape, noqa=["AC403"]))
    assert not errors(res), [d.message for d in res.diagnostics]
    m = getattr(nn, t)(input_size=shape[-1], **fields)
    with torch.no_grad():
        y = m(torch.zeros(shape))
    assert items(res.layers[0].output) == shapes_of(y)


@st.composite
def pool_case(draw: Any) -> tuple[str, dict[str, Any], list[int]]:
    t = draw(st.sampled_from(["MaxPool1d", "MaxPool2d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d"]))
    nd = int(t[-2])
    if t.startswith("Adaptive"):
        fields: dict[str, Any] = {"output_size": draw(st.integers(1, 3))}
    else:
        fields = {"kernel_size": draw(st.integers(1, 3)), "ceil_mode": draw(st.booleans())}
    fields["return_indices"] = True
    shape = [2, 3] + [draw(st.integers(3, 7)) for _ in range(nd)]
    return t, fields, shape


@SETTINGS
@given(pool_case())
def test_pool_indices_agree_with_torch(case: tuple[str, dict[str, Any], list[int]]) -> None:
    t, fields, shape = case
    res = check(spec([{"name": "p", "type": t, **fields}], shape))
    assert not errors(res), [d.message for d in res.diagnostics]
    with torch.no_grad():
        y = getattr(nn, t)(**fields)(torch.randn(shape))
    assert items(res.layers[0].output) == shapes_of(y)
    assert res.layers[0].output.parts[1].dtype == "long" and y[1].dtype == torch.long


@st.composite
def mha_case(draw: Any) -> tuple[dict[str, Any], list[list[int]]]:
    heads = draw(st.integers(1, 3))
    e = heads * draw(st.integers(1, 3))
    bf = draw(st.booleans())
    fields = {
        "num_heads": heads,
        "batch_first": bf,
        "add_bias_kv": draw(st.booleans()),
        "add_zero_attn": draw(st.booleans()),
    }
    lq, lk, n = draw(st.integers(1, 5)), draw(st.integers(1, 5)), draw(st.integers(1, 3))
    if draw(st.booleans()):  # unbatched
        return fields, [[lq, e], [lk, e], [lk, e]]
    q, k = ([n, lq, e], [n, lk, e]) if bf else ([lq, n, e], [lk, n, e])
    return fields, [q, k, k] if draw(st.booleans()) else [q]


@SETTINGS
@given(mha_case())
def test_attention_weights_agree_with_torch(case: tuple[dict[str, Any], list[list[int]]]) -> None:
    fields, shapes = case
    names = ["q", "k", "v"][: len(shapes)]
    s = {
        "name": "A",
        "inputs": {nm: {"shape": sh} for nm, sh in zip(names, shapes, strict=True)},
        "layers": [{"name": "a", "type": "MultiheadAttention", "inputs": names, **fields}],
        "outputs": ["a.0", "a.1"],
        "noqa": ["AC403"],
    }
    res = check(s)
    assert not errors(res), [d.message for d in res.diagnostics]
    m = nn.MultiheadAttention(embed_dim=shapes[0][-1], **fields)
    xs = [torch.randn(sh) for sh in shapes]
    with torch.no_grad():
        y = m(*(xs * 3 if len(xs) == 1 else xs))
    assert items(res.layers[0].output) == shapes_of(y)
    # and the generated model returns the same (it calls the module with need_weights on)
    gen = module_from_result(res)
    gen.a.load_state_dict(m.state_dict(), strict=True)
    with torch.no_grad():
        out = gen(*xs)
    assert shapes_of(out) == shapes_of(y)


# ------------------------------------------------------------------ generated modules against torch


QKV = {
    "name": "QKV",
    "input": {"shape": ["N", 6, 24]},
    "blocks": {
        "Heads": {
            "outputs": ["q", "kv.1"],
            "layers": [
                {"name": "proj", "type": "Linear", "out_features": 24},
                {"name": "kv", "type": "Chunk", "chunks": 2, "dim": -1},
                {"name": "q", "type": "Add", "inputs": ["kv.0", "x"]},
            ],
        }
    },
    "layers": [
        {"name": "qkv", "type": "Split", "split_size_or_sections": [8, 8, 8], "dim": -1},
        {"name": "heads", "type": "Heads", "inputs": ["qkv.1"]},
        {"name": "mix", "type": "Add", "inputs": ["qkv.0", "heads.0"]},
        {"name": "lstm", "type": "LSTM", "hidden_size": 5, "batch_first": True, "inputs": ["mix"]},
        {"name": "head", "type": "Linear", "out_features": 3, "inputs": ["lstm.1.1"]},
    ],
    "outputs": ["head", "lstm", "heads.1", "qkv.2"],
}


class QKVRef(nn.Module):
    """The same network written by hand."""

    class Heads(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Linear(8, 16)

        def forward(self, x: Any) -> Any:
            k, v = self.proj(x).chunk(2, dim=-1)
            return k + x, v

    def __init__(self) -> None:
        super().__init__()
        self.heads = self.Heads()
        self.lstm = nn.LSTM(8, 5, batch_first=True)
        self.head = nn.Linear(5, 3)

    def forward(self, x: Any) -> Any:
        q, k, v = x.split([8, 8, 8], dim=-1)
        hq, hv = self.heads(k)
        out, (h, c) = self.lstm(q + hq)
        return self.head(c), out, hv, v


def compare_with(s: dict[str, Any], ref: nn.Module, xs: list[Any]) -> Any:
    res = check(s)
    assert res.ok, [d.message for d in res.diagnostics]
    gen = module_from_result(res)
    assert sum(p.numel() for p in gen.parameters()) == sum(p.numel() for p in ref.parameters()) == res.total_params
    want = {k: list(v.shape) for k, v in ref.state_dict().items()}
    assert {k: list(v.shape) for k, v in gen.state_dict().items()} == want
    gen.load_state_dict(ref.state_dict())
    with torch.no_grad():
        got, exp = gen(*xs), ref(*xs)
    assert shapes_of(got) == shapes_of(exp)
    for a, b in zip(got if isinstance(got, tuple) else [got], exp if isinstance(exp, tuple) else [exp], strict=True):
        assert torch.allclose(a, b)  # the same computation, not only the same shapes
    return res


def test_indexed_items_build_the_same_module_as_torch() -> None:
    # proj maps 8 -> 24, chunked into 12 + 12: x (8) + k (12) does not line up. archcheck says so
    # (torch would fail at the first forward).
    res = check(QKV)
    assert "AC308" in errors(res)
    s = json.loads(json.dumps(QKV))
    s["blocks"]["Heads"]["layers"][0]["out_features"] = 16  # chunks of 8 + 8
    res = compare_with(s, QKVRef(), [torch.randn(2, 6, 24)])
    assert [list(t.shape) for t in res.outputs.values()] == [[1, "N", 3], ["N", 6, 5], ["N", 6, 8], ["N", 6, 8]]
    src = generate(res)
    assert "qkv_0, qkv_1, qkv_2 = x.split([8, 8, 8], dim=-1)" in src
    assert "_, (_, lstm_1_1) = self.lstm(" in src or "lstm_0, (_, lstm_1_1) = self.lstm(" in src
    assert "kv_0, kv_1 = out.chunk(2, dim=-1)" in src and "return x, kv_1" in src  # the block returns two
    assert verify(load(s), {"N": 2})[0].ok


def test_a_split_last_in_a_block_or_sequential() -> None:
    s = spec(
        [
            {
                "name": "seq",
                "type": "Sequential",
                "layers": [{"type": "Linear", "out_features": 6}, {"type": "Chunk", "chunks": 3, "dim": 1}],
            },
            {"name": "blk", "type": "Halves", "inputs": ["seq.2"]},
            {"name": "m", "type": "Multiply", "inputs": ["blk.0", "blk.1"]},
        ],
        ["N", 4],
        blocks={"Halves": {"layers": [{"type": "Split", "split_size_or_sections": 1, "dim": 1}]}},
    )

    class Ref(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.seq = nn.Sequential(nn.Linear(4, 6))

        def forward(self, x: Any) -> Any:
            a, b = self.seq(x).chunk(3, dim=1)[2].split(1, dim=1)
            return a * b

    res = compare_with(s, Ref(), [torch.randn(3, 4)])
    assert items(res.nodes[-2].output) == [["N", 1], ["N", 1]]


def test_model_returns_every_part_of_a_final_split() -> None:
    res = compare_with(
        spec([{"name": "p", "type": "Chunk", "chunks": 2, "dim": 1}], ["N", 4]),
        type("Ref", (nn.Module,), {"forward": lambda self, x: x.chunk(2, dim=1)})(),
        [torch.randn(2, 4)],
    )
    assert list(res.outputs) == ["p.0", "p.1"]


def test_pool_indices_feed_a_later_layer() -> None:
    s = spec(
        [
            {"name": "pool", "type": "MaxPool2d", "kernel_size": 2, "return_indices": True},
            {"name": "conv", "type": "Conv2d", "out_channels": 4, "kernel_size": 1, "inputs": ["pool"]},
        ],
        ["N", 3, 8, 8],
        outputs=["conv", "pool.1"],
    )

    class Ref(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pool = nn.MaxPool2d(2, return_indices=True)
            self.conv = nn.Conv2d(3, 4, 1)

        def forward(self, x: Any) -> Any:
            y, idx = self.pool(x)
            return self.conv(y), idx

    res = compare_with(s, Ref(), [torch.randn(2, 3, 8, 8)])
    assert res.outputs["pool.1"].dtype == "long"


def test_default_output_of_tuple_modules_is_unchanged() -> None:
    """A spec that names an LSTM without an index keeps meaning its first output (as before)."""
    s = spec(
        [{"name": "r", "type": "GRU", "hidden_size": 4, "batch_first": True}, {"type": "Linear", "out_features": 2}],
        ["N", 5, 3],
    )
    src = generate(check(s))
    assert "self.r(x)[0]" in src
    assert verify(load(s), {"N": 2})[0].ok


# ------------------------------------------------------------------ diagnostics


BAD = [
    (
        "AC120",
        spec([{"name": "s", "type": "Split", "split_size_or_sections": 2, "dim": 1}, {"type": "ReLU"}], ["N", 4]),
    ),
    (
        "AC120",
        spec([{"name": "s", "type": "Chunk", "chunks": 2, "dim": 1}, {"type": "ReLU", "inputs": ["s"]}], ["N", 4]),
    ),
    (
        "AC120",
        spec(
            [{"name": "s", "type": "Chunk", "chunks": 2, "dim": 1}, {"type": "ReLU", "inputs": ["s.0"]}],
            ["N", 4],
            outputs=["s"],
        ),
    ),
    ("AC120", spec([{"type": "Sequential", "layers": [{"type": "Chunk", "chunks": 2, "dim": 1}, "ReLU"]}], ["N", 4])),
    (
        "AC121",
        spec([{"name": "s", "type": "Chunk", "chunks": 2, "dim": 1}, {"type": "ReLU", "inputs": ["s.2"]}], ["N", 4]),
    ),
    ("AC121", spec([{"name": "r", "type": "ReLU"}, {"type": "Tanh", "inputs": ["r.0"]}], ["N", 4])),
    ("AC121", spec([{"name": "r", "type": "ReLU"}, {"type": "Tanh", "inputs": ["r.weight"]}], ["N", 4])),
    (
        "AC121",
        spec([{"name": "r", "type": "LSTM", "hidden_size": 2}, {"type": "Tanh", "inputs": ["r.1.2"]}], ["L", "N", 4]),
    ),
    ("AC121", spec([{"name": "r", "type": "ReLU"}], ["N", 4], outputs=["r.1"])),
    (
        "AC121",
        spec([{"name": "p", "type": "MaxPool1d", "kernel_size": 2}, {"type": "Tanh", "inputs": ["p.1"]}], ["N", 2, 4]),
    ),
    (
        "AC124",
        spec(
            [{"type": "B"}],
            ["N", 4],
            blocks={"B": {"output": "a", "outputs": ["a"], "layers": [{"name": "a", "type": "ReLU"}]}},
        ),
    ),
    (
        "AC121",
        spec(
            [{"name": "b", "type": "B"}, {"type": "Tanh", "inputs": ["b.2"]}],
            ["N", 4],
            blocks={"B": {"outputs": ["a", "x"], "layers": [{"name": "a", "type": "ReLU"}]}},
        ),
    ),
    (
        "AC301",
        spec(
            [{"type": "B"}], ["N", 4], blocks={"B": {"outputs": ["a", "zz"], "layers": [{"name": "a", "type": "ReLU"}]}}
        ),
    ),
    ("AC235", spec([{"type": "Split", "split_size_or_sections": 1, "dim": 1}], ["N", 20000])),
    ("AC236", spec([{"type": "Split", "split_size_or_sections": [1, 2], "dim": 1}], ["N", 4])),
]


@pytest.mark.parametrize("code,s", BAD, ids=[f"{c}-{i}" for i, (c, _) in enumerate(BAD)])
def test_mistakes_get_their_code(code: str, s: dict[str, Any], tmp_path: Any) -> None:
    res = check(s)
    assert code in errors(res), [(d.code, d.message) for d in res.diagnostics]
    d = next(d for d in res.diagnostics if d.code == code)
    assert d.line is not None and d.hint, d  # located, with a fix
    f = tmp_path / "s.json"
    f.write_text(json.dumps(s))
    r = run_cli("validate", f).assert_clean(codes=(1,))
    assert code in r.stdout


# ------------------------------------------------------------------ the other outputs of a spec


def test_validate_summary_json_and_render_show_every_item(tmp_path: Any) -> None:
    s = json.loads(json.dumps(QKV))
    s["blocks"]["Heads"]["layers"][0]["out_features"] = 16
    f = tmp_path / "qkv.json"
    f.write_text(json.dumps(s))
    r = run_cli("validate", f).assert_clean(codes=(0,))
    assert "([N, 6, 8], [N, 6, 8], [N, 6, 8])" in r.stdout
    data = json.loads(run_cli("validate", "--format", "json", f).stdout)
    split = next(layer for layer in data["layers"] if layer["path"] == "qkv")
    assert split["output_shapes"] == [["N", 6, 8]] * 3
    assert data["outputs"]["lstm"] == ["N", 6, 5] and data["outputs"]["heads.1"] == ["N", 6, 8]
    r = run_cli("summary", f).assert_clean(codes=(0,))
    assert "([N, 6, 8], [N, 6, 8], [N, 6, 8])" in r.stdout
    dot = tmp_path / "qkv.dot"
    run_cli("render", f, "-o", dot).assert_clean(codes=(0,))
    text = dot.read_text()
    assert ".1 6×8" in text and ".2 6×8" in text and ".1.1 " in text  # edges say which item they carry
    r = run_cli("types", "Split").assert_clean(codes=(0,))
    assert "outputs: one per part" in r.stdout
    assert "name.1.0" in run_cli("types", "LSTM").stdout
