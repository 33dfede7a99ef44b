"""How diagrams are laid out: the U only for encoder/decoder skips, tall diagrams
wrapped into columns, and no label wider than its box (measured in dot's own
layout, ``-Tjson``, not by eye).

The small specs in tests/fixtures/diagram/ are networks that once drew wrong: a
ViT encoder and a DCGAN generator were drawn as a U-Net.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import FIXTURES, SPECS

from archcheck import check
from archcheck.emit import diagram as R

DIAGRAM = FIXTURES / "diagram"
VIT = DIAGRAM / "vit_encoder.yaml"
DCGAN = DIAGRAM / "dcgan_generator.yaml"
UNET = SPECS / "unet.yaml"

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")


def _u(spec: Path, **kw: object) -> tuple[set[int], list[tuple[str, str]], R.Plan]:
    p = R.plan(check(spec), **kw)  # type: ignore[arg-type]
    up, level = R._u_layout(p)
    return up, level, p


# ---------------------------------------------------------------- the U


@pytest.mark.parametrize("expand", [False, True])
def test_unet_is_drawn_as_a_u(expand):
    up, level, p = _u(UNET, expand=expand)
    # The four skips run level, from the path down to the path up at the same size.
    if expand:
        assert level == [
            (f"{src}.double_conv.4", f"{dst}.cat")
            for src, dst in [
                ("down3.maxpool_conv.1", "up1"),
                ("down2.maxpool_conv.1", "up2"),
                ("down1.maxpool_conv.1", "up3"),
                ("inc", "up4"),
            ]
        ]
    else:
        assert level == [("down3", "up1"), ("down2", "up2"), ("down1", "up3"), ("inc", "up4")]
    climbing = {p.edges[i].dst for i in up}
    assert all(dst in climbing for _, dst in level)
    assert "@out.outc" in climbing  # the output ends the climb, at the top beside the input
    # Nothing of the path down climbs.
    assert not any(p.edges[i].src.startswith(("down", "inc")) and p.edges[i].dst.startswith("down") for i in up)


@pytest.mark.parametrize("spec", [VIT, DCGAN], ids=lambda s: s.stem)
@pytest.mark.parametrize("expand", [False, True])
def test_no_u_without_an_encoder_decoder_skip(spec, expand):
    up, level, _ = _u(spec, expand=expand)
    assert (up, level) == (set(), [])
    dot = R.to_dot(check(spec), expand=expand)
    assert "dir=back" not in dot and "upsampling path" not in dot


def test_vit_tokens_are_read_by_their_roles():
    # [N, 96, 64] after flatten is channels first; the transpose to [N, 64, 96] is
    # tokens x features: the same 96 channels over the same 64 positions, not an upsampling.
    p = R.plan(check(VIT), expand=True)
    flat, tokens = p.boxes["flat"], p.boxes["tokens"]
    assert R.flow(flat.tensor, flat.layout) == (96, 64)
    assert R.flow(tokens.tensor, tokens.layout) == (96, 64)


def test_zoo_only_unet_is_a_u():
    for spec in sorted(SPECS.glob("*.yaml")):
        for expand in (False, True):
            up, level, _ = _u(spec, expand=expand)
            assert bool(level) == (spec.name == "unet.yaml"), (spec.name, expand)
            assert bool(up) == (spec.name == "unet.yaml"), (spec.name, expand)


def test_generator_then_unet_climbs_only_after_the_skip(write_spec):
    # A generator (upsampling only) feeding a small U: the generator's upsampling stays top-down.
    spec = write_spec(
        "name: GenThenU\ninput: {shape: [N, 8, 4, 4]}\nlayers:\n"
        "  - {name: g1, type: ConvTranspose2d, out_channels: 8, kernel_size: 2, stride: 2}\n"
        "  - {name: g2, type: ConvTranspose2d, out_channels: 8, kernel_size: 2, stride: 2}\n"
        "  - {name: enc, type: Conv2d, out_channels: 8, kernel_size: 3, padding: 1}\n"
        "  - {name: down, type: MaxPool2d, kernel_size: 2}\n"
        "  - {name: mid, type: Conv2d, out_channels: 8, kernel_size: 3, padding: 1}\n"
        "  - {name: upc, type: ConvTranspose2d, out_channels: 8, kernel_size: 2, stride: 2}\n"
        "  - {name: cat, type: Concat, dim: 1, inputs: [enc, upc]}\n"
    )
    up, level, p = _u(spec, expand=True)
    assert level == [("enc", "cat")]
    assert {(p.edges[i].src, p.edges[i].dst) for i in up} == {("mid", "upc"), ("upc", "cat"), ("cat", "@out.cat")}


# ---------------------------------------------------------------- labels fit their boxes


# A label's text keeps this far (points) inside its box's border; a note's also clears its folded corner.
TEXT_PAD = 2.0
NOTE_FOLD = 8.0


def _laid_out(dot: str) -> dict:
    """dot's own layout (``-Tjson``): node sizes, and each text's position and width as dot measured it."""
    done = subprocess.run(["dot", "-Tjson"], input=dot, capture_output=True, text=True, timeout=120, check=True)
    return json.loads(done.stdout)


def text_overflows(dot: str) -> list[tuple[str, str, float]]:
    """(node or frame, text, points past the allowed edge) for every text wider than its box or frame."""
    out = []
    for o in _laid_out(dot).get("objects", []):
        if "bb" in o:  # a frame (cluster): its label inside its box
            left, _, right, _ = map(float, o["bb"].split(","))
            pad = fold = 0.0
        elif "pos" in o and "width" in o:
            x, _ = map(float, o["pos"].split(","))
            half = float(o["width"]) * 72 / 2
            left, right = x - half, x + half
            pad, fold = TEXT_PAD, NOTE_FOLD if o.get("shape") == "note" else TEXT_PAD
        else:
            continue
        for op in o.get("_ldraw_", []):
            if op["op"] != "T":
                continue
            x0 = op["pt"][0] - {"l": 0.0, "c": 0.5, "r": 1.0}[op["align"]] * op["width"]
            past = max(left + pad - x0, x0 + op["width"] - (right - fold))
            if past > 0:
                out.append((o["name"], op["text"], round(past, 1)))
    return out


LONG_NAMES = """\
name: AVeryLongNetworkNameThatGoesOnAndOnAndOnForeverAndEverAndMoreAndMoreAndMoreAndMoreAndMoreAndMore
input: {shape: [N, 1, 8, 8]}
blocks:
  ABlockWithAnExtraordinarilyLongNameIndeedYesVeryLongIndeedAndLonger:
    params: {first_parameter_with_long_name: 1, second_parameter_with_long_name: 2, third: 3}
    layers:
      - {name: a_convolution_with_a_remarkably_long_name_that_needs_wrapping, type: Conv2d, out_channels: 1, kernel_size: 1}
      - {name: x2, type: Conv2d, out_channels: 1, kernel_size: 1}
layers:
  - {name: WWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWW, type: Conv2d, out_channels: 1, kernel_size: 1}
  - {name: b, type: ABlockWithAnExtraordinarilyLongNameIndeedYesVeryLongIndeedAndLonger}
  - {name: c, type: Sequential, layers: [{type: Conv2d, out_channels: 1, kernel_size: 1}, BatchNorm2d, ReLU]}
  - {name: d, type: Conv2d, out_channels: 1, kernel_size: 99}
  - {name: e, type: Linear, out_features: 3}
"""


@needs_dot
def test_overflow_measure_finds_a_cut_label():
    # The measure itself: a fixed-size box narrower than its text is reported.
    dot = 'digraph { a [shape=box, fixedsize=true, width=0.5, label="a label far wider than half an inch"] }'
    assert [(n, t) for n, t, _ in text_overflows(dot)] == [("a", "a label far wider than half an inch")]
    # The AC306 note of the U-Net as it was drawn (4.3 pt margin): its longest line ran into the folded corner.
    old = R.to_dot(check(UNET)).replace(f'margin="{R.NOTE_MARGIN}"', 'margin="0.06,0.03"')
    assert any(t.startswith("warning AC306") for _, t, _ in text_overflows(old))


@needs_dot
@pytest.mark.parametrize(
    "spec",
    sorted(SPECS.glob("*.yaml")) + sorted(DIAGRAM.glob("*.yaml")) + ["long_names"],
    ids=lambda s: getattr(s, "stem", s),
)
def test_no_label_wider_than_its_box(spec, write_spec):
    res = check(write_spec(LONG_NAMES) if spec == "long_names" else spec)
    for kw in ({}, {"expand": True}, {"depth": 0}):
        if kw.get("expand") and getattr(spec, "name", "") in TOO_LARGE_EXPANDED:
            with pytest.raises(R.DiagramTooLarge):  # render --expand refuses it (exit 2): nothing is drawn
                R.to_dot(res, **kw)
            continue
        assert text_overflows(R.to_dot(res, **kw)) == [], kw


# Specs whose every block opened is more than dot is given (ConvNeXt-T: 194 boxes, 46 frames).
TOO_LARGE_EXPANDED = {"convnext_tiny.yaml"}


# Parameters [1, 1, D] and [C, 1, 1] draw the narrowest boxes there are (one channel): their names must
# still read whole, a name longer than a box line breaks after a '.', '_' or '-', and nothing is cut.
NARROW = """\
name: Narrow
input: {shape: [N, 3, 16]}
layers:
  - {name: class_token, type: Parameter, shape: [1, 1, 16]}
  - {name: layer_scale_of_the_first_one, type: Parameter, shape: [3, 1, 1]}
  - {name: a_parameter_whose_name_is_longer_than_any_box_is_wide_even_a_wide_one, type: Parameter, shape: [1, 1, 1]}
  - {name: WWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWW, type: Parameter, shape: [1, 1, 1]}
  - {name: t, type: Add, inputs: [x, class_token]}
  - {name: u, type: Multiply, inputs: [t, a_parameter_whose_name_is_longer_than_any_box_is_wide_even_a_wide_one]}
  - {name: v, type: Multiply, inputs: [u, WWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWW]}
"""


def _titles(dot: str) -> dict[str, list[str]]:
    """Each box's title rows (the bold text of its label), by the title they spell."""
    import re

    out = {}
    for label in re.findall(r"label=<(<table.*?</table>)>", dot):
        rows = re.findall(r"<b>(.*?)</b>", label)
        if rows:
            out["".join(rows)] = rows
    return out


@needs_dot
@pytest.mark.parametrize("spec", ["narrow", SPECS / "vit_b_16.yaml"], ids=str)
def test_narrow_boxes_show_their_names_whole(spec, write_spec):
    res = check(write_spec(NARROW) if spec == "narrow" else spec)
    names = [n.path for n in res.nodes if n.kind == "layer" and n.type == "Parameter"]
    for kw in ({}, {"expand": True}):
        dot = R.to_dot(res, **kw)
        assert text_overflows(dot) == [], kw
        titles = _titles(dot)
        shown = [n for n in names if n in titles]
        assert shown, kw  # every spec here draws a Parameter box at its path
        for name in shown:
            rows = titles[name]  # joined, the rows are the whole name: nothing cut
            if len(name) <= R.TITLE_WORD_CHARS:
                assert rows == [name], (name, rows)
            else:
                assert all(len(r) <= R.TITLE_WORD_CHARS for r in rows), rows
                assert all(r.endswith(("_", ".", "-")) for r in rows[:-1]) or set(name) == {"W"}, rows


# ---------------------------------------------------------------- tall diagrams in columns

RESNET50 = SPECS / "resnet50.yaml"


def _positions(dot: str, p: R.Plan) -> tuple[dict[str, tuple[float, float]], tuple[float, float]]:
    """Each box's centre (points, y up) by box id, and the drawing's width and height in inches."""
    laid = _laid_out(dot)
    back = {v: k for k, v in R.dot_ids(p).items()}
    pos = {}
    for o in laid.get("objects", []):
        if o.get("name") in back and "pos" in o:
            x, y = map(float, o["pos"].split(","))
            pos[back[o["name"]]] = (x, y)
    _, _, w, h = map(float, laid["bb"].split(","))
    return pos, (w / 72, h / 72)


@needs_dot
def test_resnet50_expanded_draws_each_stage_side_by_side():
    res = check(RESNET50)
    p = R.plan(res, expand=True)
    wraps = R.wrap_plan(p)
    stages = {"cluster_layer1": 3, "cluster_layer2": 4, "cluster_layer3": 6, "cluster_layer4": 3}
    assert set(wraps) == set(stages)
    for cid, blocks in stages.items():  # one block per column, in one row, in order
        assert wraps[cid].rows == [[[i] for i in range(blocks)]]
    dot = R.to_dot(res, expand=True)
    pos, (width, height) = _positions(dot, p)
    # One column it was 283 inches tall (27,205 px at 96 dpi); as rows of blocks it is under 100.
    assert height < 100 and width < 50, (width, height)
    for cid, blocks in stages.items():
        stage = cid.removeprefix("cluster_")
        heads = [pos[f"{stage}.{k}.conv1"] for k in range(blocks)]
        assert len({round(y) for _, y in heads}) == 1, heads  # the blocks start on one rank
        assert [x for x, _ in heads] == sorted(x for x, _ in heads), heads  # left to right in order
        if stage != "layer1":  # each stage below the one before, all of it
            before = f"layer{int(stage[-1]) - 1}"
            lowest = min(y for b, (_, y) in pos.items() if b.startswith(before + "."))
            assert heads[0][1] < lowest
    # Every edge is still drawn, with its shape.
    assert dot.count("label=< ") >= len(p.edges)


def test_short_diagrams_are_not_wrapped():
    for spec in sorted(SPECS.glob("*.yaml")):
        p = R.plan(check(spec))  # the automatic depth keeps every zoo diagram short
        assert R.wrap_plan(p) == {}, spec.name
        assert "wrap1" not in R.to_dot(check(spec)), spec.name


def test_a_long_chain_wraps_into_columns(write_spec):
    # 60 convolutions with no blocks: the top level itself is cut into columns, in order.
    layers = "".join(
        f"  - {{name: c{i}, type: Conv2d, out_channels: 8, kernel_size: 3, padding: 1}}\n" for i in range(60)
    )
    spec = write_spec(f"name: Chain\ninput: {{shape: [N, 8, 32, 32]}}\nlayers:\n{layers}")
    p = R.plan(check(spec))
    wraps = R.wrap_plan(p)
    assert set(wraps) == {"root"}
    (row,) = wraps["root"].rows
    assert len(row) >= 2 and [i for col in row for i in col] == list(range(len(p.root.items)))


@needs_dot
@pytest.mark.parametrize("name", ["resnet18", "resnet50", "mobilenet_v2"])
def test_wrapped_zoo_diagrams_keep_their_columns_in_order(name):
    res = check(SPECS / f"{name}.yaml")
    p = R.plan(res, expand=True)
    wl = R.wrap_layout(p, R.wrap_plan(p))
    dot = R.to_dot(res, expand=True)
    assert "wrap1" in dot  # drawn wrapped, not fallen back to one column
    assert R._columns_in_order(dot, p, wl)
    _, (_, height) = _positions(dot, p)
    assert height < 100, height


def test_columns_out_of_order_fall_back_to_one_column(monkeypatch):
    monkeypatch.setattr(R, "_columns_in_order", lambda *a: False)
    dot = R.to_dot(check(RESNET50), expand=True)
    assert "wrap1" not in dot and "constraint=false" not in dot


def test_squeeze_excitation_is_not_a_skip(write_spec):
    # x -> 1x1 pool -> fc -> scale, multiplied back onto x, then a residual add: the scale is
    # broadcast in the Multiply, nothing upsamples, so this is no encoder/decoder.
    spec = write_spec(
        "name: SE\ninput: {shape: [N, 8, 16, 16]}\nlayers:\n"
        "  - {name: conv, type: Conv2d, out_channels: 8, kernel_size: 3, padding: 1}\n"
        "  - {name: pool, type: AdaptiveAvgPool2d, output_size: 1}\n"
        "  - {name: fc, type: Conv2d, out_channels: 8, kernel_size: 1}\n"
        "  - {name: gate, type: Sigmoid}\n"
        "  - {name: scale, type: Multiply, inputs: [conv, gate]}\n"
        "  - {name: add, type: Add, inputs: [scale, x]}\n"
    )
    for expand in (False, True):
        assert _u(spec, expand=expand)[:2] == (set(), [])
