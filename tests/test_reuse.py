"""Reuse: a module called again (`use:`) and tied weights (`tie:`), checked against torch.

Generated modules are compared with hand-written torch ones: parameters() count (a shared
module or Parameter counted once), state_dict keys and shapes (tied parameters under both
keys), output shapes and values; and a reused module's shape check against what torch does
when the generated module runs on the new input.
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


def errors(res: Any) -> list[str]:
    return [d.code for d in res.diagnostics if d.severity == "error"]


def same_as_torch(s: dict[str, Any], ref: nn.Module, xs: list[Any]) -> Any:
    """archcheck's result and the generated module agree with ``ref``: counts, state_dict, outputs."""
    res = check(s)
    assert res.ok, [(d.code, d.message) for d in res.diagnostics]
    gen = module_from_result(res)
    n_ref = sum(p.numel() for p in ref.parameters())
    assert sum(p.numel() for p in gen.parameters()) == n_ref == res.total_params
    assert {k: list(v.shape) for k, v in gen.state_dict().items()} == {
        k: list(v.shape) for k, v in ref.state_dict().items()
    }
    gen.load_state_dict(ref.state_dict())
    with torch.no_grad():
        got, want = gen(*xs), ref(*xs)
    got, want = (got if isinstance(got, tuple) else (got,)), (want if isinstance(want, tuple) else (want,))
    assert [list(g.shape) for g in got] == [list(w.shape) for w in want]
    for g, w in zip(got, want, strict=True):
        assert torch.allclose(g, w)
    assert verify(load(s), {"N": 2})[0].ok
    return res


# ------------------------------------------------------------------ use: a module called again

SIAMESE = {
    "name": "Siamese",
    "inputs": {"a": {"shape": ["N", 3, 12, 12]}, "b": {"shape": ["N", 3, 12, 12]}},
    "blocks": {
        "Tower": {
            "layers": [
                {"name": "conv", "type": "Conv2d", "out_channels": 8, "kernel_size": 3},
                {"name": "act", "type": "ReLU"},
                {"name": "pool", "type": "AdaptiveAvgPool2d", "output_size": 1},
                {"name": "flat", "type": "Flatten"},
                {"name": "fc", "type": "Linear", "out_features": 8},
                {"name": "fc_again", "use": "fc"},  # the same Linear twice: 8 -> 8 -> 8
                {"use": "act"},
            ]
        }
    },
    "layers": [
        {"name": "tower", "type": "Tower", "inputs": ["a"]},
        {"name": "tower_b", "use": "tower", "inputs": ["b"]},
        {"name": "diff", "type": "Add", "inputs": ["tower", "tower_b"]},
        {"name": "head", "type": "Linear", "out_features": 1},
    ],
}


class SiameseRef(nn.Module):
    class Tower(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3)
            self.act = nn.ReLU()
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.flat = nn.Flatten()
            self.fc = nn.Linear(8, 8)

        def forward(self, x: Any) -> Any:
            x = self.fc(self.flat(self.pool(self.act(self.conv(x)))))
            return self.act(self.fc(x))

    def __init__(self) -> None:
        super().__init__()
        self.tower = self.Tower()
        self.head = nn.Linear(8, 1)

    def forward(self, a: Any, b: Any) -> Any:
        return self.head(self.tower(a) + self.tower(b))


def test_siamese_tower_is_one_module_called_twice() -> None:
    res = same_as_torch(SIAMESE, SiameseRef(), [torch.randn(2, 3, 12, 12), torch.randn(2, 3, 12, 12)])
    src = generate(res)
    assert src.count("self.tower = Tower()") == 1 and "self.tower(a)" in src and "self.tower(b)" in src
    assert src.count("self.fc = nn.Linear") == 1 and src.count("self.fc(") == 2
    # MACs happen at every call, parameters are counted once
    conv = 8 * 3 * 9 * 10 * 10
    assert res.total_macs == 2 * (conv + 2 * 64) + 8
    tower_b = next(n for n in res.nodes if n.path == "tower_b")
    assert tower_b.kind == "use" and tower_b.params == 0 and tower_b.macs == conv + 2 * 64


def test_reuse_in_summary_render_and_json(tmp_path: Any) -> None:
    f = tmp_path / "siamese.json"
    f.write_text(json.dumps(SIAMESE))
    r = run_cli("summary", f).assert_clean(codes=(0,))
    assert "Tower (use tower)" in r.stdout and "Linear (use fc)" in r.stdout
    data = json.loads(run_cli("validate", "--format", "json", f).stdout)
    assert data["total_params"] == sum(p.numel() for p in SiameseRef().parameters())
    dot = tmp_path / "s.dot"
    run_cli("render", f, "-o", dot).assert_clean(codes=(0,))
    assert "Tower (use tower)" in dot.read_text()


@st.composite
def reuse_case(draw: Any) -> tuple[str, dict[str, Any], list[int], list[int]]:
    kind = draw(st.sampled_from(["Linear", "Conv2d", "LayerNorm", "Embedding"]))
    if kind == "Linear":
        a, b = draw(st.integers(1, 6)), draw(st.integers(1, 6))
        return kind, {"out_features": draw(st.integers(1, 5))}, [2, a], [2, b]
    if kind == "LayerNorm":
        a, b = draw(st.integers(1, 6)), draw(st.integers(1, 6))
        return kind, {}, [2, 3, a], [2, draw(st.integers(1, 3)), b]
    if kind == "Embedding":
        return kind, {"num_embeddings": 5, "embedding_dim": 3}, [2, draw(st.integers(1, 4))], [draw(st.integers(1, 3))]
    ca, cb = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    k = draw(st.integers(1, 4))
    fields = {"out_channels": draw(st.integers(1, 4)), "kernel_size": k}
    return kind, fields, [2, ca, 5, 5], [2, cb, draw(st.integers(1, 6)), draw(st.integers(1, 6))]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reuse_case())
def test_a_reused_module_takes_what_torch_takes(case: tuple[str, dict[str, Any], list[int], list[int]]) -> None:
    """The second call is checked with the module's sizes: archcheck refuses exactly what torch refuses."""
    kind, fields, sa, sb = case
    dtype = {"dtype": "long"} if kind == "Embedding" else {}
    s = {
        "name": "R",
        "inputs": {"a": {"shape": sa, **dtype}, "b": {"shape": sb, **dtype}},
        "layers": [{"name": "m", "type": kind, "inputs": ["a"], **fields}, {"name": "m2", "use": "m", "inputs": ["b"]}],
        "outputs": ["m", "m2"],
    }
    res = check(s)
    first = check({**s, "layers": s["layers"][:1], "outputs": ["m"], "inputs": {"a": s["inputs"]["a"]}})
    if not first.ok:  # the first use itself is wrong: not this test's subject
        return
    args = [torch.zeros(sh, dtype=torch.long) if dtype else torch.randn(sh) for sh in (sa, sb)]
    ref = getattr(nn, kind)(
        **({"in_features": sa[-1]} if kind == "Linear" else {}),
        **({"in_channels": sa[1]} if kind == "Conv2d" else {}),
        **({"normalized_shape": sa[-1]} if kind == "LayerNorm" else {}),
        **fields,
    )
    try:
        with torch.no_grad():
            ref(args[0])
            want = list(ref(args[1]).shape)
    except RuntimeError:
        want = None
    if want is None:
        assert errors(res), f"torch refuses the second call, archcheck does not: {s}"
        d = next(d for d in res.diagnostics if d.severity == "error")
        assert any("used again" in n for n in d.notes), d
        return
    assert res.ok, [(d.code, d.message) for d in res.diagnostics]
    assert list(res.outputs["m2"].shape) == want
    gen = module_from_result(res)
    gen.m.load_state_dict(ref.state_dict())
    with torch.no_grad():
        assert [list(y.shape) for y in gen(*args)][1] == want
    assert sum(p.numel() for p in gen.parameters()) == res.total_params == sum(p.numel() for p in ref.parameters())


def test_reusing_a_block_on_a_wrong_input_points_at_the_use() -> None:
    s = json.loads(json.dumps(SIAMESE))
    s["inputs"]["b"]["shape"] = ["N", 4, 12, 12]
    res = check(load(s))
    d = next(d for d in res.diagnostics if d.severity == "error")
    assert d.code == "AC201" and "in_channels=3" in d.message and "[N, 4, 12, 12]" in d.message
    assert d.line is not None and "tower_b" in (d.path or "")
    assert any("'tower' is used again here" in n for n in d.notes)
    assert "keeps its sizes" in (d.hint or "")


# ------------------------------------------------------------------ tie: tied weights (GPT-2's lm_head)

D, V, L = 16, 50, 8
GPT = {
    "name": "TinyGPT",
    "input": {"shape": ["N", L], "dtype": "long"},
    "params": {"d": D},
    "blocks": {
        "Block": {
            "layers": [
                {"name": "ln_1", "type": "LayerNorm"},
                {"name": "attn", "type": "MultiheadAttention", "num_heads": 2, "batch_first": True},
                {"name": "res1", "type": "Add", "inputs": ["x", "attn"]},
                {"name": "ln_2", "type": "LayerNorm"},
                {"name": "mlp", "type": "Linear", "out_features": "$d"},
                {"name": "res2", "type": "Add", "inputs": ["res1", "mlp"]},
            ]
        },
        "GPT2Model": {
            "layers": [
                {"name": "wte", "type": "Embedding", "num_embeddings": V, "embedding_dim": "$d"},
                {"name": "h", "type": "Block", "repeat": 2},
                {"name": "ln_f", "type": "LayerNorm"},
            ]
        },
    },
    "layers": [
        {"name": "transformer", "type": "GPT2Model"},
        {
            "name": "lm_head",
            "type": "Linear",
            "out_features": V,
            "bias": False,
            "tie": {"weight": "transformer.wte.weight"},
        },
    ],
}


class GPTRef(nn.Module):
    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln_1 = nn.LayerNorm(D)
            self.attn = nn.MultiheadAttention(D, 2, batch_first=True)
            self.ln_2 = nn.LayerNorm(D)
            self.mlp = nn.Linear(D, D)

        def forward(self, x: Any) -> Any:
            h = self.ln_1(x)
            x = x + self.attn(h, h, h, need_weights=False)[0]
            return x + self.mlp(self.ln_2(x))

    class GPT2Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.wte = nn.Embedding(V, D)
            self.h = nn.Sequential(GPTRef.Block(), GPTRef.Block())
            self.ln_f = nn.LayerNorm(D)

        def forward(self, x: Any) -> Any:
            return self.ln_f(self.h(self.wte(x)))

    def __init__(self) -> None:
        super().__init__()
        self.transformer = self.GPT2Model()
        self.lm_head = nn.Linear(D, V, bias=False)
        self.lm_head.weight = self.transformer.wte.weight

    def forward(self, x: Any) -> Any:
        return self.lm_head(self.transformer(x))


def test_tied_embedding_is_one_parameter_under_two_keys() -> None:
    ref = GPTRef()
    res = same_as_torch(GPT, ref, [torch.randint(0, V, (2, L))])
    sd = ref.state_dict()
    assert "lm_head.weight" in sd and "transformer.wte.weight" in sd  # both keys, as torch lists them
    assert res.shared_params == V * D
    lm = next(n for n in res.nodes if n.path == "lm_head")
    assert lm.params == V * D  # lm_head's own parameters() (torch counts it there too)
    gen = module_from_result(res)
    assert gen.lm_head.weight is gen.transformer.wte.weight
    assert "self.lm_head.weight = self.transformer.wte.weight" in generate(res)


def test_a_tie_inside_a_block_is_emitted_in_the_block_class() -> None:
    s = {
        "name": "AE",
        "input": {"shape": ["N", 6]},
        "blocks": {
            "AE": {
                "layers": [
                    {"name": "enc", "type": "Linear", "out_features": 6, "bias": False},
                    {
                        "name": "dec",
                        "type": "Linear",
                        "out_features": 6,
                        "bias": False,
                        "tie": {"weight": "enc.weight"},
                    },
                ]
            }
        },
        "layers": [{"name": "ae", "type": "AE"}, {"name": "ae2", "type": "AE"}],
    }

    class AE(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc = nn.Linear(6, 6, bias=False)
            self.dec = nn.Linear(6, 6, bias=False)
            self.dec.weight = self.enc.weight

        def forward(self, x: Any) -> Any:
            return self.dec(self.enc(x))

    ref = nn.Module()
    ref.ae, ref.ae2 = AE(), AE()
    ref.forward = lambda x: ref.ae2(ref.ae(x))  # type: ignore[method-assign]
    res = same_as_torch(s, ref, [torch.randn(3, 6)])
    ae = next(n for n in res.nodes if n.path == "ae")
    assert ae.params == 36 and res.total_params == 72  # counted once inside the block, too
    assert generate(res).count("self.dec.weight = self.enc.weight") == 1  # in class AE


# ------------------------------------------------------------------ diagnostics

VEC = {"inputs": {"a": {"shape": ["N", 4]}, "b": {"shape": ["N", 4]}}}
BAD = [
    (
        "AC122",
        {
            **VEC,
            "layers": [
                {"name": "f", "type": "Linear", "out_features": 2, "inputs": ["a"]},
                {"use": "g", "inputs": ["b"]},
            ],
        },
    ),
    (
        "AC122",
        {
            **VEC,
            "layers": [
                {"use": "f", "inputs": ["b"]},
                {"name": "f", "type": "Linear", "out_features": 2, "inputs": ["a"]},
            ],
        },
    ),
    (
        "AC122",
        {**VEC, "layers": [{"name": "s", "type": "Add", "inputs": ["a", "b"]}, {"use": "s", "inputs": ["a", "b"]}]},
    ),
    (
        "AC122",
        {
            **VEC,
            "layers": [{"name": "f", "type": "ReLU", "inputs": ["a"]}, {"use": "f", "type": "ReLU", "inputs": ["b"]}],
        },
    ),
    (
        "AC122",
        {
            **VEC,
            "layers": [
                {"name": "f", "type": "ReLU", "inputs": ["a"]},
                {"type": "Sequential", "inputs": ["b"], "layers": [{"use": "f"}]},
            ],
        },
    ),
    (
        "AC101",
        {
            **VEC,
            "layers": [{"name": "f", "type": "ReLU", "inputs": ["a"]}, {"use": "f", "inputs": ["b"], "inplace": True}],
        },
    ),
    (
        "AC202",
        {
            "inputs": {"a": {"shape": ["N", 4]}, "b": {"shape": ["N", 5]}},
            "layers": [
                {"name": "f", "type": "Linear", "out_features": 2, "inputs": ["a"]},
                {"use": "f", "inputs": ["b"]},
            ],
        },
    ),
    (
        "AC123",
        {
            "input": {"shape": ["N", 4]},
            "layers": [
                {"name": "f", "type": "Linear", "out_features": 4},
                {"type": "Linear", "out_features": 4, "tie": {"weight": "g.weight"}},
            ],
        },
    ),
    (
        "AC123",
        {
            "input": {"shape": ["N", 4]},
            "layers": [
                {"name": "f", "type": "Linear", "out_features": 4, "bias": False},
                {"type": "Linear", "out_features": 4, "tie": {"bias": "f.bias"}},
            ],
        },
    ),
    (
        "AC123",
        {
            "input": {"shape": ["N", 4]},
            "layers": [
                {"name": "f", "type": "Linear", "out_features": 4},
                {"type": "Linear", "out_features": 4, "tie": {"weight": "weight"}},
            ],
        },
    ),
    (
        "AC123",
        {
            "input": {"shape": ["N", 4]},
            "layers": [{"name": "f", "type": "Linear", "out_features": 4, "tie": {"weight": "f.weight"}}],
        },
    ),
    (
        "AC123",
        {
            "input": {"shape": ["N", 4]},
            "layers": [{"name": "f", "type": "LayerNorm"}, {"type": "LayerNorm", "tie": {"weight": "f.weight"}}],
        },
    ),
    (
        "AC238",
        {
            "input": {"shape": ["N", 4]},
            "layers": [
                {"name": "f", "type": "Linear", "out_features": 4},
                {"type": "Linear", "out_features": 3, "tie": {"weight": "f.weight"}},
            ],
        },
    ),
]


@pytest.mark.parametrize("code,s", BAD, ids=[f"{c}-{i}" for i, (c, _) in enumerate(BAD)])
def test_mistakes_get_their_code(code: str, s: dict[str, Any], tmp_path: Any) -> None:
    s = {"name": "M", **s}
    res = check(s)
    assert code in errors(res), [(d.code, d.message) for d in res.diagnostics]
    d = next(d for d in res.diagnostics if d.code == code)
    assert d.line is not None and d.hint, d
    f = tmp_path / "s.json"
    f.write_text(json.dumps(s))
    r = run_cli("validate", f).assert_clean(codes=(1,))
    assert code in r.stdout


def test_uses_count_toward_the_size_limit() -> None:
    """A block of 2,000 layers used 100 times is 200,000 layer runs: AC005, not a long wait."""
    layers = [{"type": "ReLU"} for _ in range(2000)]
    s = {
        "name": "Big",
        "input": {"shape": ["N", 4]},
        "blocks": {"B": {"layers": layers}},
        "layers": [{"name": "b", "type": "B"}] + [{"use": "b"} for _ in range(100)],
    }
    res = check(s)
    assert errors(res) == ["AC005"]
    assert "more than 100,000 layers" in res.diagnostics[0].message


def test_the_json_schema_takes_use_tie_items_and_block_outputs() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from pathlib import Path

    schema = json.loads((Path(__file__).resolve().parents[1] / "docs" / "archcheck.schema.json").read_text())
    v = jsonschema.Draft7Validator(schema)
    from test_multi_outputs import QKV

    for s in (SIAMESE, GPT, QKV):
        assert not list(v.iter_errors(s)), [e.message for e in v.iter_errors(s)]
    bad = {"input": {"shape": ["N", 4]}, "layers": [{"name": "r", "type": "ReLU"}, {"use": "r", "inplace": True}]}
    assert list(v.iter_errors(bad))  # a use keeps its module's fields: none of its own
