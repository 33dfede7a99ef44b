"""Swin's pieces (archcheck/layers/swin.py): ShiftedWindowAttention, PatchMergingPad, and blocks' init_order.

Each type's shape rule, parameter count, state_dict and MACs are checked against the class the generated
file defines, run on tiny real tensors for random configurations (hypothesis); its numbers against a
reference written here from torchvision 0.29's algorithm (swin_transformer.py: the relative position index
from a meshgrid, shifted_window_attention, _patch_merging_pad), with the same weights. torchvision itself
is not needed; with ARCHCHECK_REF_PYTHON set to a Python that has torchvision 0.29, the generated
Swin-T is also compared with torchvision's own swin_t, weight for weight.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from torch.nn import functional as F  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402
from torch_util import ac_run, defined_class, torch_module  # noqa: E402

from archcheck import check, generate  # noqa: E402
from archcheck.emit.diagram import to_dot  # noqa: E402
from archcheck.emit.summary import render as summary_render  # noqa: E402
from archcheck.emit.verify import module_from_result  # noqa: E402
from archcheck.layers.base import REGISTRY  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SWA = REGISTRY["ShiftedWindowAttention"]
PAD = REGISTRY["PatchMergingPad"]


# ---------------------------------------------------------------- the reference: torchvision's algorithm


def ref_index(wh: int, ww: int) -> Any:
    """torchvision's define_relative_position_index."""
    coords = torch.stack(torch.meshgrid(torch.arange(wh), torch.arange(ww), indexing="ij"))
    flat = torch.flatten(coords, 1)
    rel = (flat[:, :, None] - flat[:, None, :]).permute(1, 2, 0).contiguous()
    rel[:, :, 0] += wh - 1
    rel[:, :, 1] += ww - 1
    rel[:, :, 0] *= 2 * ww - 1
    return rel.sum(-1).flatten()


def ref_attention(x: Any, m: Any, window: list[int], shift: list[int], heads: int) -> Any:
    """torchvision's shifted_window_attention (eval mode), with ``m``'s weights and its own index."""
    n = window[0] * window[1]
    bias = m.relative_position_bias_table[ref_index(*window)].view(n, n, -1).permute(2, 0, 1).unsqueeze(0)
    B, H, W, C = x.shape
    pad_r = (window[1] - W % window[1]) % window[1]
    pad_b = (window[0] - H % window[0]) % window[0]
    x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
    _, pad_H, pad_W, _ = x.shape
    shift = shift.copy()
    if window[0] >= pad_H:
        shift[0] = 0
    if window[1] >= pad_W:
        shift[1] = 0
    if sum(shift) > 0:
        x = torch.roll(x, shifts=(-shift[0], -shift[1]), dims=(1, 2))
    num_windows = (pad_H // window[0]) * (pad_W // window[1])
    x = x.view(B, pad_H // window[0], window[0], pad_W // window[1], window[1], C)
    x = x.permute(0, 1, 3, 2, 4, 5).reshape(B * num_windows, n, C)
    qkv = F.linear(x, m.qkv.weight, m.qkv.bias)
    qkv = qkv.reshape(x.size(0), x.size(1), 3, heads, C // heads).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    attn = (q * (C // heads) ** -0.5).matmul(k.transpose(-2, -1)) + bias
    if sum(shift) > 0:
        mask = x.new_zeros((pad_H, pad_W))
        h_slices = ((0, -window[0]), (-window[0], -shift[0]), (-shift[0], None))
        w_slices = ((0, -window[1]), (-window[1], -shift[1]), (-shift[1], None))
        count = 0
        for h in h_slices:
            for w in w_slices:
                mask[h[0] : h[1], w[0] : w[1]] = count
                count += 1
        mask = mask.view(pad_H // window[0], window[0], pad_W // window[1], window[1])
        mask = mask.permute(0, 2, 1, 3).reshape(num_windows, n)
        mask = mask.unsqueeze(1) - mask.unsqueeze(2)
        mask = mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)
        attn = attn.view(x.size(0) // num_windows, num_windows, heads, n, n) + mask.unsqueeze(1).unsqueeze(0)
        attn = attn.view(-1, heads, n, n)
    x = F.softmax(attn, dim=-1).matmul(v).transpose(1, 2).reshape(x.size(0), n, C)
    x = F.linear(x, m.proj.weight, m.proj.bias)
    x = x.view(B, pad_H // window[0], pad_W // window[1], window[0], window[1], C)
    x = x.permute(0, 1, 3, 2, 4, 5).reshape(B, pad_H, pad_W, C)
    if sum(shift) > 0:
        x = torch.roll(x, shifts=(shift[0], shift[1]), dims=(1, 2))
    return x[:, :H, :W, :]


def ref_merge(x: Any) -> Any:
    """torchvision's _patch_merging_pad."""
    H, W, _ = x.shape[-3:]
    x = F.pad(x, (0, 0, 0, W % 2, 0, H % 2))
    return torch.cat([x[..., 0::2, 0::2, :], x[..., 1::2, 0::2, :], x[..., 0::2, 1::2, :], x[..., 1::2, 1::2, :]], -1)


def _macs(f: Any, *args: Any) -> int:
    with FlopCounterMode(display=False) as counter:
        f(*args)
    return int(counter.get_total_flops()) // 2


# ---------------------------------------------------------------- ShiftedWindowAttention


@st.composite
def attention_cases(draw: Any) -> dict[str, Any]:
    wh, ww = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    heads, head_dim = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return {
        "b": draw(st.integers(1, 2)),
        "h": draw(st.integers(1, 9)),
        "w": draw(st.integers(1, 9)),
        "fields": {
            "window_size": [wh, ww],
            "shift_size": [draw(st.integers(0, wh - 1)), draw(st.integers(0, ww - 1))],
            "num_heads": heads,
            "qkv_bias": draw(st.booleans()),
            "proj_bias": draw(st.booleans()),
        },
        "c": heads * head_dim,
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(attention_cases())
def test_attention_against_torchvisions_algorithm(case: dict[str, Any]) -> None:
    f, shape = case["fields"], (case["b"], case["h"], case["w"], case["c"])
    ac = ac_run("ShiftedWindowAttention", f, shape)
    assert not ac.errors and ac.shape == shape, ac.messages
    torch.manual_seed(0)
    m = torch_module("ShiftedWindowAttention", {**f, "dim": case["c"]}).eval()
    # parameters and the buffer: archcheck's count and keys, torch's order (own params, buffers, children)
    assert sum(p.numel() for p in m.parameters()) == ac.params == ac.layer.param_count()
    shapes = ac.layer.param_shapes()
    n = f["window_size"][0] * f["window_size"][1]
    want = [
        ("relative_position_bias_table", shapes["relative_position_bias_table"]),
        ("relative_position_index", (n * n,)),
    ]
    want += [(k, v) for k, v in shapes.items() if k != "relative_position_bias_table"]
    assert [(k, tuple(v.shape)) for k, v in m.state_dict().items()] == want
    assert m.relative_position_index.dtype == torch.int64
    assert torch.equal(m.relative_position_index, ref_index(*f["window_size"]))
    with torch.no_grad():
        m.relative_position_bias_table.normal_()  # torchvision's init is tiny: make the bias matter
        x = torch.randn(shape)
        y = m(x)
        assert tuple(y.shape) == shape
        torch.testing.assert_close(y, ref_attention(x, m, f["window_size"], f["shift_size"], f["num_heads"]))
        assert _macs(m, x) == ac.layer.macs([ac_input(shape)], ac_input(shape))


def ac_input(shape: tuple[int, ...]) -> Any:
    from archcheck.layers.base import Tensor

    return Tensor(shape)


def test_the_mask_matters_where_windows_shift() -> None:
    """Shifted and unshifted windows differ (the test above would not notice a shift that does nothing)."""
    torch.manual_seed(0)
    base = {"dim": 4, "window_size": [2, 2], "num_heads": 1}
    a = torch_module("ShiftedWindowAttention", {**base, "shift_size": [0, 0]}).eval()
    b = torch_module("ShiftedWindowAttention", {**base, "shift_size": [1, 1]}).eval()
    b.load_state_dict(a.state_dict())
    x = torch.randn(1, 4, 4, 4)
    with torch.no_grad():
        assert not torch.allclose(a(x), b(x))
        # a window as large as the (padded) map is not shifted along it: torchvision's rule
        wide = torch.randn(1, 2, 2, 4)
        torch.testing.assert_close(a(wide), b(wide))


def test_attention_messages() -> None:
    f = {"window_size": [7, 7], "shift_size": [3, 3], "num_heads": 3}
    res = check({"input": {"shape": ["N", 56, 56, 96]}, "layers": [{"type": "ShiftedWindowAttention", "dim": 64, **f}]})
    (d,) = res.diagnostics
    assert d.code == "AC202" and "dim=64" in d.message and "[N, 56, 56, 96]" in d.message
    assert d.hint == "set dim: 96, or leave it out to have it inferred"
    res = check({"input": {"shape": ["N", 8, 8, 10]}, "layers": [{"type": "ShiftedWindowAttention", **f}]})
    (d,) = res.diagnostics
    assert d.code == "AC215" and "dim=10 into num_heads=3" in d.message and d.hint == "use a num_heads that divides dim"
    res = check(
        {
            "input": {"shape": ["N", 96, 56, 56]},
            "layers": [{"type": "Flatten"}, {"type": "ShiftedWindowAttention", **f}],
        }
    )
    assert [d.code for d in res.diagnostics] == ["AC204"] and "[B, H, W, C] (channels last)" in res.diagnostics[
        0
    ].message
    res = check(
        {"input": {"shape": ["N", 8, 8, 6]}, "layers": [{"type": "ShiftedWindowAttention", **f, "shift_size": [7, 0]}]}
    )
    (d,) = res.diagnostics
    assert (d.severity, d.code) == ("warning", "AC260") and "shift_size[0]=7" in d.message and "[3, 3]" in d.hint
    res = check(
        {"input": {"shape": ["N", 8, 8, 6]}, "layers": [{"type": "ShiftedWindowAttention", **f, "window_size": [7]}]}
    )
    assert [d.code for d in res.diagnostics] == ["AC104"]


def test_free_sizes() -> None:
    """Any H and W: the map is padded to whole windows, so there is no condition; MACs need the sizes."""
    spec = {
        "input": {"shape": ["N", "H", "W", 12]},
        "layers": [
            {
                "name": "attn",
                "type": "ShiftedWindowAttention",
                "window_size": [7, 7],
                "shift_size": [3, 3],
                "num_heads": 4,
            },
            {"name": "merge", "type": "PatchMergingPad"},
        ],
    }
    res = check(spec)
    assert res.ok and not res.diagnostics and not res.conditions
    assert res.outputs["merge"].describe() == "[N, floor((H + 1)/2), floor((W + 1)/2), 48]"
    assert res.total_macs is None
    res = check(spec, {"H": 10, "W": 15})
    assert res.outputs["merge"].shape == ("N", 5, 8, 48)
    assert res.total_macs == 14 * 21 * (4 * 144 + 2 * 49 * 12)  # padded to 14 x 21, per N


# ---------------------------------------------------------------- PatchMergingPad


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 3), max_size=2), st.integers(1, 7), st.integers(1, 7), st.integers(1, 3))
def test_merge_against_torchvisions_algorithm(lead: list[int], h: int, w: int, c: int) -> None:
    shape = (*lead, h, w, c)
    ac = ac_run("PatchMergingPad", {}, shape)
    assert not ac.errors, ac.messages
    x = torch.randn(shape)
    y = defined_class(PAD.function_source)(x)
    assert ac.shape == tuple(y.shape)
    assert torch.equal(y, ref_merge(x))
    assert _macs(defined_class(PAD.function_source), x) == 0


def test_merge_needs_three_dims() -> None:
    res = check({"input": {"shape": ["N", 8]}, "layers": [{"type": "PatchMergingPad"}]})
    (d,) = res.diagnostics
    assert d.code == "AC204" and "[N, 8]" in d.message and "Permute the channels last" in d.hint


# ---------------------------------------------------------------- init_order and PatchMerging


def _merging(order: Any, extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {
        "params": {"dim": None},
        "layers": [
            {"type": "PatchMergingPad"},
            {"name": "norm", "type": "LayerNorm", "normalized_shape": "$4 * dim"},
            {"name": "reduction", "type": "Linear", "out_features": "$2 * dim", "bias": False},
            *(extra or []),
        ],
    }
    if order is not None:
        block["init_order"] = order
    return {
        "name": "Merge",
        "input": {"shape": ["N", 7, 9, 8]},
        "blocks": {"PatchMerging": block},
        "layers": [{"name": "down", "type": "PatchMerging", "dim": 8}],
    }


def test_init_order_orders_the_state_dict_not_forward() -> None:
    plain = module_from_result(check(_merging(None)))
    assert list(plain.state_dict()) == ["down.norm.weight", "down.norm.bias", "down.reduction.weight"]
    res = check(_merging(["reduction", "norm"]))
    assert res.ok and res.outputs["down"].shape == ("N", 4, 5, 16)
    model = module_from_result(res)
    assert list(model.state_dict()) == ["down.reduction.weight", "down.norm.weight", "down.norm.bias"]
    code = generate(res)
    assert code.index("self.reduction = ") < code.index("self.norm = ") < code.index("self.norm(")
    assert code.index("self.norm(") < code.index("self.reduction(")  # forward as written
    plain.load_state_dict(model.state_dict())
    x = torch.randn(2, 7, 9, 8)
    with torch.no_grad():
        torch.testing.assert_close(plain(x), model(x))


@pytest.mark.parametrize(
    ("order", "extra", "message", "hint"),
    [
        (
            ["reduce", "norm"],
            None,
            "init_order lists 'reduce', which is not a layer of the block",
            "did you mean 'reduction'?",
        ),
        (["reduction", "reduction"], None, "init_order lists 'reduction' twice", "list each module once"),
        (
            ["sum", "norm"],
            [{"name": "sum", "type": "Add", "inputs": ["reduction", "reduction"]}],
            "'sum', which is Add, a tensor operation with no module",
            None,
        ),
        (
            ["again"],
            [{"name": "again", "use": "reduction"}],
            "'again', which calls an earlier module again (use:)",
            None,
        ),
    ],
)
def test_init_order_problems(order: list[str], extra: Any, message: str, hint: str | None) -> None:
    res = check(_merging(order, extra))
    errs = [d for d in res.diagnostics if d.code == "AC261"]
    assert len(errs) == 1 and message in errs[0].message, [(d.code, d.message) for d in res.diagnostics]
    assert errs[0].line is not None
    if hint:
        assert errs[0].hint == hint


# ---------------------------------------------------------------- the generated file


def test_helper_locals_never_shadow_a_class() -> None:
    """Blocks and a model named like the helpers' locals (mask, h, x0) are renamed; the file runs."""
    spec = {
        "name": "h",
        "input": {"shape": ["N", 6, 6, 8]},
        "blocks": {
            "mask": {
                "layers": [
                    {"type": "ShiftedWindowAttention", "window_size": [3, 3], "shift_size": [1, 1], "num_heads": 2}
                ]
            },
            "x0": {"layers": [{"type": "PatchMergingPad"}]},
        },
        "layers": [{"name": "a", "type": "mask"}, {"name": "b", "type": "x0"}],
    }
    res = check(spec)
    assert res.ok
    code = generate(res)
    assert "class maskBlock(nn.Module)" in code and "class x0Block(nn.Module)" in code and "class hModel(" in code
    assert code.count("class ShiftedWindowAttention(") == 1 and code.count("def patch_merging_pad(") == 1
    y = module_from_result(res)(torch.randn(2, 6, 6, 8))
    assert tuple(y.shape) == (2, 3, 3, 32)


# A stage of Swin-T as specs/swin_t.yaml writes it: a SwinTransformerBlock (shifted) and PatchMerging.
STAGE = {
    "name": "SwinStage",
    "input": {"shape": ["N", 14, 14, 32]},
    "blocks": {
        "SwinTransformerBlock": {
            "params": {"dim": None, "num_heads": None, "shift": 0},
            "layers": [
                {"name": "norm1", "type": "LayerNorm", "normalized_shape": "$dim"},
                {
                    "name": "attn",
                    "type": "ShiftedWindowAttention",
                    "dim": "$dim",
                    "window_size": [7, 7],
                    "shift_size": ["$shift", "$shift"],
                    "num_heads": "$num_heads",
                },
                {"name": "res", "type": "Add", "inputs": ["x", "attn"]},
                {"name": "norm2", "type": "LayerNorm", "normalized_shape": "$dim"},
                {
                    "name": "mlp",
                    "type": "Sequential",
                    "layers": [
                        {"type": "Linear", "out_features": "$4 * dim"},
                        "GELU",
                        {"type": "Linear", "out_features": "$dim"},
                    ],
                },
                {"type": "Add", "inputs": ["res", "mlp"]},
            ],
        },
        "PatchMerging": _merging(["reduction", "norm"])["blocks"]["PatchMerging"],
    },
    "layers": [
        {
            "name": "blocks",
            "type": "Sequential",
            "layers": [
                {"type": "SwinTransformerBlock", "dim": 32, "num_heads": 2, "shift": 0},
                {"type": "SwinTransformerBlock", "dim": 32, "num_heads": 2, "shift": 3},
            ],
        },
        {"name": "down", "type": "PatchMerging", "dim": 32},
    ],
}


def test_generate_render_summary_types() -> None:
    res = check(STAGE)
    assert res.ok and res.outputs["down"].shape == ("N", 7, 7, 64)
    code = generate(res)
    assert code.count("class ShiftedWindowAttention(nn.Module)") == 1 and "import torchvision" not in code
    assert "self.reduction = nn.Linear(" in code and "x = patch_merging_pad(x)" in code
    model = module_from_result(res)
    keys = list(model.state_dict())
    assert keys[2:6] == [
        "blocks.0.attn.relative_position_bias_table",
        "blocks.0.attn.relative_position_index",
        "blocks.0.attn.qkv.weight",
        "blocks.0.attn.qkv.bias",
    ]
    assert keys[-3:] == ["down.reduction.weight", "down.norm.weight", "down.norm.bias"]
    assert sum(p.numel() for p in model.parameters()) == res.total_params
    assert tuple(model(torch.randn(2, 14, 14, 32)).shape) == (2, 7, 7, 64)
    dot = to_dot(res, expand=True).replace("</td></tr><tr><td>", " ")  # the label's lines, joined
    assert "</b> ShiftedWindowAttention 2 heads, 7x7 <font" in dot  # blocks.0.attn
    assert "</b> ShiftedWindowAttention 2 heads, 7x7, shift 3 <font" in dot  # blocks.1.attn
    assert "</b> PatchMergingPad 2x2 -&gt; channels <font" in dot
    table = summary_render(res)
    assert "ShiftedWindowAttention" in table and "PatchMergingPad" in table
    from click.testing import CliRunner

    from archcheck.cli import main

    out = CliRunner().invoke(main, ["types", "ShiftedWindowAttention"])
    assert out.exit_code == 0 and "defined in the generated file" in out.output and "shift_size" in out.output


def test_swin_t_spec_generates_torchvisions_layout() -> None:
    """specs/swin_t.yaml: the two helpers once, PatchMerging's keys reduction-first (test_modern_zoo checks all)."""
    res = check(ROOT / "specs" / "swin_t.yaml")
    code = generate(res)
    assert code.count("class ShiftedWindowAttention(nn.Module)") == 1 and code.count("def patch_merging_pad(") == 1
    keys = list(module_from_result(res).state_dict())
    i = keys.index("features.2.reduction.weight")
    assert keys[i : i + 3] == ["features.2.reduction.weight", "features.2.norm.weight", "features.2.norm.bias"]


@pytest.mark.skipif(not os.environ.get("ARCHCHECK_REF_PYTHON"), reason="needs ARCHCHECK_REF_PYTHON: torchvision 0.29")
def test_generated_swin_t_is_torchvisions(tmp_path: Path) -> None:
    """The generated Swin-T with torchvision's swin_t weights loaded (strict) gives torchvision's outputs exactly,
    at 224 and at an odd size (padding to whole windows, odd PatchMerging inputs)."""
    src = tmp_path / "swin_gen.py"
    src.write_text(generate(check(ROOT / "specs" / "swin_t.yaml")))
    script = (
        "import sys, torch, torchvision\n"
        "ns = {}\n"
        "exec(compile(open(sys.argv[1]).read(), 'gen', 'exec'), ns)\n"
        "ref = torchvision.models.swin_t(weights=None).eval()\n"
        "ours = ns['SwinTransformerTiny']().eval()\n"
        "assert list(ref.state_dict()) == list(ours.state_dict())\n"
        "ours.load_state_dict(ref.state_dict(), strict=True)\n"
        "out = []\n"
        "for shape in [(1, 3, 224, 224), (2, 3, 97, 131)]:\n"
        "    x = torch.randn(*shape)\n"
        "    with torch.no_grad():\n"
        "        out.append((ref(x) - ours(x)).abs().max().item())\n"
        "print(out)\n"
    )
    run = subprocess.run(
        [os.environ["ARCHCHECK_REF_PYTHON"], "-c", script, str(src)], capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == [0.0, 0.0]
