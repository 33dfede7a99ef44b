"""What writing famous models as users write them ran into (tests/data/zoo), each fixed and checked against torch.

* ``repeat: {count: k, name: "{i}"}`` inside a Sequential continues its numbering: torchvision's
  ResNet writes ``layer1.0`` (the downsampling block) and then ``layer1.1``, ``layer1.2``; a plain
  ``repeat: 2`` there would nest a Sequential (``layer1.1.0``), and a number was refused as a name.
* ``when:`` on an entry: torchvision builds optional modules conditionally (a Bottleneck's
  ``downsample``, an inverted residual's shortcut, FusedMBConv's projection), which needed one block
  per combination (MobileNetV3's spec has eight). False: a named entry is an ``nn.Identity`` passing
  its first input on (later layers still name it), an unnamed one is left out (a Sequential numbers
  the rest densely, as a list built with ``if ...: layers.append(...)``).
"""

from __future__ import annotations

import types
from typing import Any

import pytest

from archcheck.api import check, load
from archcheck.emit.codegen import generate

torch = pytest.importorskip("torch")


def build(text: str) -> tuple[Any, Any]:
    """The checked result and the generated module, built on the meta device."""
    res = check(load("spec.yaml", text=text))
    assert res.ok, [(d.code, d.message) for d in res.diagnostics]
    mod = types.ModuleType("generated")
    exec(compile(generate(res), "<generated>", "exec"), mod.__dict__)  # noqa: S102 - archcheck's own output
    with torch.device("meta"):
        model = getattr(mod, res.name)()
    return res, model


def errors(text: str) -> list[tuple[str, int, int, str, str | None]]:
    res = check(load("spec.yaml", text=text))
    return [(d.code, d.line or 0, d.column or 0, d.message, d.hint) for d in res.diagnostics if d.severity == "error"]


def keys(model: Any) -> list[tuple[str, list[int]]]:
    return [(k, list(v.shape)) for k, v in model.state_dict().items()]


# ------------------------------------------------------------------ repeat "{i}" in a Sequential

STAGE = """\
name: Stage
input: {shape: [N, 4, 8, 8]}
blocks:
  Block:
    params: {c: 4}
    layers:
      - {name: conv, type: Conv2d, out_channels: $c, kernel_size: 3, padding: 1, bias: false}
      - {type: Add, inputs: [conv, x]}
layers:
  - name: layer1
    type: Sequential
    layers:
      - {type: Block}
      - {type: Block, REPEAT}
"""


def torch_stage() -> Any:
    class Block(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(4, 4, 3, padding=1, bias=False)

    m = torch.nn.Module()
    m.layer1 = torch.nn.Sequential(*[Block() for _ in range(3)])
    return m


@pytest.mark.parametrize(
    "repeat", ['repeat: {count: 2, name: "{i}"}', 'repeat: {count: 2, name: "{i}", start: 1}', "repeat: 2"]
)
def test_repeat_continues_a_sequentials_numbering(repeat: str) -> None:
    res, model = build(STAGE.replace("REPEAT", repeat))
    with torch.device("meta"):
        want = keys(torch_stage())
    if repeat == "repeat: 2":  # a plain repeat is an nn.Sequential of its own, as documented
        assert keys(model) == [want[0]] + [(f"layer1.1.{i}.conv.weight", [4, 4, 3, 3]) for i in range(2)]
        return
    assert keys(model) == want == [(f"layer1.{i}.conv.weight", [4, 4, 3, 3]) for i in range(3)]
    assert [n.path for n in res.root[0].children] == ["layer1.0", "layer1.1", "layer1.2"]
    y = model(torch.empty(2, 4, 8, 8, device="meta"))
    assert list(y.shape) == [2, 4, 8, 8]


def test_repeat_numbering_that_disagrees_with_the_position_is_located() -> None:
    text = STAGE.replace("REPEAT", 'repeat: {count: 2, name: "{i}", start: 2}')
    ((code, line, col, msg, hint),) = errors(text)
    assert (code, line) == ("AC116", 14)
    assert col == text.splitlines()[13].index("start: 2") + len("start: ") + 1  # at the value
    assert "numbers the copies 2..3, but they are the children 1..2 of this Sequential" in msg
    assert hint == "write start: 1, or leave start out"


def test_numbered_copies_outside_a_sequential_are_still_refused() -> None:
    """In a block's own layers, a number is no module name torch would give."""
    text = """\
input: {shape: [N, 4]}
blocks:
  B:
    layers:
      - {type: ReLU, repeat: {count: 2, name: "{i}"}}
layers:
  - B
"""
    ((code, line, _, msg, _),) = errors(text)
    assert (code, line) == ("AC107", 5) and "is a number" in msg


# ------------------------------------------------------------------ when:

BOTTLENECK = """\
name: Net
input: {shape: [N, 8, 16, 16]}
blocks:
  Bottleneck:
    params: {planes: 4, stride: 1, downsample: false}
    layers:
      - {name: conv1, type: Conv2d, out_channels: $planes, kernel_size: 3, stride: $stride, padding: 1, bias: false}
      - {name: conv2, type: Conv2d, out_channels: $planes * 4, kernel_size: 1, bias: false}
      - name: downsample
        type: Sequential
        when: $downsample
        inputs: [x]
        layers:
          - {type: Conv2d, out_channels: $planes * 4, kernel_size: 1, stride: $stride, bias: false}
          - BatchNorm2d
      - {type: Add, inputs: [conv2, downsample]}
layers:
  - {name: b0, type: Bottleneck, stride: 2, downsample: true}
  - {name: b1, type: Bottleneck}
"""


class TorchBottleneck(torch.nn.Module):
    """torchvision's way: downsample is None (here nn.Identity) unless the block changes the shape."""

    def __init__(self, inp: int, planes: int, stride: int, downsample: bool) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(inp, planes, 3, stride, 1, bias=False)
        self.conv2 = torch.nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.downsample = (
            torch.nn.Sequential(
                torch.nn.Conv2d(inp, planes * 4, 1, stride, bias=False), torch.nn.BatchNorm2d(planes * 4)
            )
            if downsample
            else torch.nn.Identity()
        )

    def forward(self, x: Any) -> Any:
        return self.conv2(self.conv1(x)) + self.downsample(x)


def test_when_false_makes_a_named_entry_an_identity_of_its_input() -> None:
    res, model = build(BOTTLENECK)
    ref = torch.nn.Module()
    with torch.device("meta"):
        ref.b0 = TorchBottleneck(8, 4, 2, True)
        ref.b1 = TorchBottleneck(16, 4, 1, False)
    assert keys(model) == keys(ref)
    assert type(model.b1.downsample) is torch.nn.Identity
    assert res.total_params == sum(p.numel() for p in ref.parameters())
    y = model(torch.empty(2, 8, 16, 16, device="meta"))
    assert list(y.shape) == list(ref.b1(ref.b0(torch.empty(2, 8, 16, 16, device="meta"))).shape) == [2, 16, 8, 8]
    node = next(n for n in res.nodes if n.path == "b1.downsample")
    assert node.type == "Identity" and node.inputs == ["x"]


FUSED = """\
name: Fused
input: {shape: [N, 8, 16, 16]}
blocks:
  FusedMBConv:
    params: {expand_ratio: 4, stride: 1, inp: 8, out: 8}
    layers:
      - name: block
        type: Sequential
        layers:
          - type: Sequential
            layers:
              - {type: Conv2d, out_channels: "$out if expand_ratio == 1 else inp * expand_ratio", kernel_size: 3, stride: $stride, padding: 1, bias: false}
              - BatchNorm2d
          - type: Sequential
            when: $expand_ratio != 1
            layers:
              - {type: Conv2d, out_channels: $out, kernel_size: 1, bias: false}
              - BatchNorm2d
      - {type: Add, inputs: [block, x], when: $stride == 1 and inp == out}
layers:
  - {name: a, type: FusedMBConv, expand_ratio: 1}
  - {name: b, type: FusedMBConv, stride: 2, out: 16}
  - {name: c, type: FusedMBConv, inp: 16, out: 16}
"""


def test_when_false_leaves_an_unnamed_entry_out_and_a_sequential_numbers_densely() -> None:
    res, model = build(FUSED)
    got = [k for k, s in keys(model) if len(s) == 4]  # the convs' weights
    # a: no projection (block.0 only); b, c: expand then project (block.0, block.1), as torchvision's FusedMBConv
    assert got == [
        "a.block.0.0.weight",
        "b.block.0.0.weight",
        "b.block.1.0.weight",
        "c.block.0.0.weight",
        "c.block.1.0.weight",
    ]
    adds = [n.path for n in res.nodes if n.type == "Add"]
    assert adds == ["a.add1", "c.add1"]  # b changes the shape: no shortcut
    assert not any(n.type == "Identity" for n in res.nodes)
    y = model(torch.empty(2, 8, 16, 16, device="meta"))
    assert list(y.shape) == [2, 16, 8, 8]


@pytest.mark.parametrize(
    ("when", "code", "fragment"),
    [
        ("$downsampel", "AC109", "did you mean 'downsample'"),
        ("$planes", "AC103", "when must be true or false, got an int 4"),
        ("$stride = 1", "AC109", "cannot parse"),
        ("always", "AC103", "when must be true or false, got a string"),
    ],
)
def test_when_mistakes_are_located_and_stop_nothing_else(when: str, code: str, fragment: str) -> None:
    text = BOTTLENECK.replace("when: $downsample", f"when: {when}").replace(
        "{name: b1, type: Bottleneck}", "{name: b1, type: Bottleneck, planes: 4.5, inputs: [x]}"
    )
    errs = errors(text)
    lines = text.splitlines()
    at = [(c, ln, col) for c, ln, col, m, _ in errs if c == code and fragment in m]
    assert at and all(ln == 11 and col == lines[10].index(when) + 1 for _, ln, col in at), errs
    # b1's own mistake (planes 4.5) is still reported; the downsample's unknown output stops only the Add
    assert any(c == "AC115" for c, *_ in errs), errs
    assert not any(c == "AC308" for c, *_ in errs), errs


# ------------------------------------------------------------------ names torch takes: Hugging Face's attention.self


def test_a_layer_named_self_keeps_its_key() -> None:
    """BERT's ``encoder.layer.0.attention.self.query``: 'self' is no nn.Module attribute, torch takes it."""
    text = """\
name: Att
input: {shape: [N, 4]}
blocks:
  SelfAttention:
    layers:
      - {name: query, type: Linear, out_features: 4}
  Attention:
    layers:
      - {name: self, type: SelfAttention}
      - {name: output, type: Linear, out_features: 4}
      - {name: torch, type: Add, inputs: [output, x]}
layers:
  - {name: attention, type: Attention}
  - {name: nn, type: Linear, out_features: 2}
"""
    res, model = build(text)
    assert [k for k, _ in keys(model)] == [
        "attention.self.query.weight",
        "attention.self.query.bias",
        "attention.output.weight",
        "attention.output.bias",
        "nn.weight",
        "nn.bias",
    ]
    assert list(model(torch.empty(3, 4, device="meta")).shape) == [3, 2]
    # the nn.Module attributes stay refused: torch's add_module raises for them
    bad = errors(text.replace("name: self,", "name: forward,"))
    assert [(c, ln) for c, ln, *_ in bad] == [("AC107", 9)]


# ------------------------------------------------------------------ a number for Divide: point at Arith


@pytest.mark.parametrize(
    ("op", "field", "hint"),
    [
        ("Divide", "other: 8.0", "{type: Arith, op: div, value: 8.0} (x / 8.0)"),
        ("Multiply", "value: 0.125", "{type: Arith, op: mul, value: 0.125} (x * 0.125)"),
        ("Add", "alpha: 2", "{type: Arith, op: add, value: 2} (x + 2)"),
    ],
)
def test_a_number_for_a_merge_points_at_arith(op: str, field: str, hint: str) -> None:
    text = f"input: {{shape: [N, 4]}}\nlayers:\n  - {{type: {op}, {field}}}\n"
    ((code, line, col, msg, got),) = errors(text)
    assert (code, line, col) == ("AC101", 3, text.splitlines()[2].index(field) + 1)
    assert msg == f"unknown field '{field.split(':')[0]}' for {op}"
    assert got is not None and got.endswith(hint) and "combines the tensors named in inputs" in got
    fixed = text.replace(f"type: {op}, {field}", hint.split(" (")[0][1:-1])
    assert errors(fixed) == []


# ------------------------------------------------------------------ seq2seq: a decoder LSTM starts from the encoder's state

SEQ2SEQ = """\
name: Seq2Seq
params: {hidden: 32, layers: 2}
inputs:
  src: {shape: [N, S], dtype: long}
  tgt: {shape: [N, T], dtype: long}
layers:
  - {name: src_embed, type: Embedding, num_embeddings: 50, embedding_dim: 16, inputs: [src]}
  - {name: encoder, type: LSTM, hidden_size: $hidden, num_layers: $layers, batch_first: true}
  - {name: tgt_embed, type: Embedding, num_embeddings: 40, embedding_dim: 16, inputs: [tgt]}
  - {name: decoder, type: LSTM, hidden_size: $hidden, num_layers: $layers, batch_first: true, STATE}
  - {name: out, type: Linear, out_features: 40, inputs: [decoder]}
"""


def test_a_decoder_lstm_takes_the_encoders_state() -> None:
    res, model = build(SEQ2SEQ.replace("STATE", "inputs: [tgt_embed, encoder.1.0, encoder.1.1]"))

    class Ref(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.src_embed = torch.nn.Embedding(50, 16)
            self.encoder = torch.nn.LSTM(16, 32, 2, batch_first=True)
            self.tgt_embed = torch.nn.Embedding(40, 16)
            self.decoder = torch.nn.LSTM(16, 32, 2, batch_first=True)
            self.out = torch.nn.Linear(32, 40)

        def forward(self, src: Any, tgt: Any) -> Any:
            _, state = self.encoder(self.src_embed(src))
            return self.out(self.decoder(self.tgt_embed(tgt), state)[0])

    torch.manual_seed(0)
    with torch.device("cpu"):
        ref = Ref()
        src, tgt = torch.randint(0, 40, (3, 7)), torch.randint(0, 40, (3, 5))
        real = build_cpu(res)
        real.load_state_dict(ref.state_dict())  # same keys and shapes, and the same computation:
        assert torch.equal(real(src, tgt), ref(src, tgt))
    assert keys(model) == keys(ref)
    node = next(n for n in res.nodes if n.path == "decoder")
    assert node.inputs == ["tgt_embed", "encoder.1.0", "encoder.1.1"]


def build_cpu(res: Any) -> Any:
    mod = types.ModuleType("generated_cpu")
    exec(compile(generate(res), "<generated>", "exec"), mod.__dict__)  # noqa: S102 - archcheck's own output
    return getattr(mod, res.name)().eval()


def test_a_state_of_the_wrong_shape_or_a_whole_tuple_is_located() -> None:
    text = SEQ2SEQ.replace("STATE", "inputs: [tgt_embed, encoder.1.0, encoder.1.1]").replace(
        "{name: decoder, type: LSTM, hidden_size: $hidden, num_layers: $layers",
        "{name: decoder, type: LSTM, hidden_size: $hidden, num_layers: 1",
    )
    ((code, line, _, msg, hint),) = errors(text)
    assert (code, line) == ("AC250", 10)
    assert msg.startswith(
        "LSTM's h_0 must be [1, N, 32] (num_layers=1, the input's batch, H_out=32), but it is [2, N, 32]"
    )
    assert hint is not None and "give h_0 the shape [1, N, 32]" in hint
    whole = SEQ2SEQ.replace("STATE", "inputs: [tgt_embed, encoder.1]")
    ((code, line, _, _, hint),) = errors(whole)
    assert (code, line) == ("AC120", 10)
    assert (
        hint
        == "write encoder.1.0 here, or each of its items (encoder.1.0, encoder.1.1, ...: an LSTM's state is h and c)"
    )
    one = SEQ2SEQ.replace("STATE", "inputs: [tgt_embed, encoder.1.0]")
    ((code, line, _, msg, _),) = errors(one)
    assert (code, line) == ("AC104", 10) and "with its initial state (h_0, c_0): 3 inputs, got 2" in msg


# ------------------------------------------------------------------ DCGAN's [N, $nz, 1, 1]: one error, with the fix


def test_an_expression_in_the_input_shape_says_what_to_write_and_nothing_cascades() -> None:
    text = """\
params: {nz: 100}
input: {shape: [N, $nz, 1, 1]}
layers:
  - {type: ConvTranspose2d, out_channels: 8, kernel_size: 4}
output: {shape: [N, 8, 4, 4]}
"""
    ((code, line, _, msg, _),) = errors(text)
    assert (code, line) == ("AC104", 2)
    assert "not an expression: write the number nz stands for, or a free dim with its size in dims:" in msg
    fixed = text.replace("input: {shape: [N, $nz, 1, 1]}", "input: {shape: [N, Z, 1, 1]}\ndims: {Z: 100}")
    assert errors(fixed) == []


# ------------------------------------------------------------------ DenseNet's transition: $in_channels // 2


def test_an_expression_naming_its_own_inferred_field_says_how_to_pass_the_size() -> None:
    text = """\
input: {shape: [N, 256, 8, 8]}
blocks:
  Transition:
    layers:
      - {name: conv, type: Conv2d, out_channels: $in_channels // 2, kernel_size: 1}
layers:
  - {name: transition1, type: Transition}
"""
    ((code, line, col, msg, hint),) = errors(text)
    assert (code, line, col) == ("AC109", 5, text.splitlines()[4].index("$in_channels") + 1)
    assert msg.startswith("unknown param 'in_channels' in '$in_channels // 2'")
    assert hint is not None and hint.startswith("in_channels is a field of this Conv2d (inferred from its input)")
    fixed = text.replace("    layers:", "    params: {out: null}\n    layers:", 1)
    fixed = fixed.replace("$in_channels // 2", "$out").replace("type: Transition}", "type: Transition, out: 128}")
    assert errors(fixed) == []
    # any other unknown name keeps its did-you-mean, without this hint
    ((_, _, _, msg2, hint2),) = errors(text.replace("$in_channels // 2", "$in_chanels // 2"))
    assert "unknown param 'in_chanels'" in msg2 and hint2 is None


# ------------------------------------------------------------------ spellings copied from Python


def test_python_spellings_get_one_error_each_with_the_yaml_spelling() -> None:
    text = """\
input: {shape: [N, 3, 32, 32]}
layers:
  - {type: torch.nn.Conv2d, out_channels: 8, kernel_size: 3}
  - {type: nn.ReLU}
  - {type: Conv2d, out_channels: 8, kernel_size: (3, 3), padding: 1}
  - {type: MaxPool2d, kernel_size: 2, stride: (2, 1)}
"""
    got = [(c, ln, m, h) for c, ln, _, m, h in errors(text)]
    assert got == [
        ("AC102", 3, "unknown layer type 'torch.nn.Conv2d'", "write type: Conv2d (the torch.nn class name alone)"),
        ("AC102", 4, "unknown layer type 'nn.ReLU'", "write type: ReLU (the torch.nn class name alone)"),
        (
            "AC103",
            5,
            "kernel_size: (3, 3) is a Python tuple, which YAML reads as the text '(3' followed by keys",
            "write a list: kernel_size: [3, 3]",
        ),
        (
            "AC103",
            6,
            "stride: (2, 1) is a Python tuple, which YAML reads as the text '(2' followed by keys",
            "write a list: stride: [2, 1]",
        ),
    ]
    fixed = (text.replace("torch.nn.Conv2d", "Conv2d").replace("nn.ReLU", "ReLU").replace("(3, 3)", "[3, 3]")).replace(
        "(2, 1)", "[2, 1]"
    )
    assert errors(fixed) == []
