"""The model zoo (specs/): published parameter counts and MACs, and agreement with torch.

* Every zoo spec checks without errors, with the exact parameter count, MACs
  (conv and linear multiply-accumulates, torchvision's GFLOPS convention) and
  output shape of the published model.
* The torchvision-named specs (AlexNet, VGG-16, ResNet-18/50, MobileNetV2) give
  exactly torchvision's state_dict keys and shapes, and the output shape of each
  module with parameters: see tests/data/make_torchvision_keys.py, which
  recorded them from torchvision 0.29.1 (torchvision does not import beside
  archcheck's torch, so the data is committed).
* The smaller ones are compared with hand-written torch modules below: parameter
  count, state_dict, MACs and the output shape of every leaf module (forward
  hooks, on the meta device or a small real input).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

import archcheck
from archcheck.engine.result import CheckResult

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"
TV_DATA = Path(__file__).resolve().parent / "data" / "torchvision_keys"

# spec file: (params, MACs (per N when N is symbolic; None: not compared), output shape)
ZOO: dict[str, tuple[int, int | None, list[Any]]] = {
    "lenet5.yaml": (61_706, 416_520, ["N", 10]),
    "alexnet.yaml": (61_100_840, 714_188_480, [1, 1000]),
    "vgg16.yaml": (138_357_544, 15_470_264_320, [1, 1000]),
    "resnet18.yaml": (11_689_512, 1_814_073_344, [1, 1000]),
    "resnet50.yaml": (25_557_032, 4_089_184_256, [1, 1000]),
    "mobilenet_v2.yaml": (3_504_872, 300_774_272, [1, 1000]),
    "unet.yaml": (31_037_698, None, ["N", 2, "H", "W"]),
    "audio_m5.yaml": (26_915, 3_820_736, ["N", 35]),
    "video_c3d.yaml": (1_190_725, 5_375_681_792, ["N", 101]),
}
TORCHVISION = {
    "alexnet.yaml": "alexnet",
    "vgg16.yaml": "vgg16",
    "resnet18.yaml": "resnet18",
    "resnet50.yaml": "resnet50",
    "mobilenet_v2.yaml": "mobilenet_v2",
}


def _check(spec: str, dims: dict[str, int] | None = None) -> CheckResult:
    return archcheck.check(SPECS / spec, dims=dims)


def _errors(res: CheckResult) -> list[str]:
    return [f"{d.code} {d.path}: {d.message}" for d in res.diagnostics if d.severity == "error"]


def _shape(s: Any) -> list[Any]:
    return [d if isinstance(d, int) else str(d) for d in s]


# ---------------------------------------------------------------- published figures


@pytest.mark.parametrize("spec", sorted(ZOO))
def test_published_figures(spec: str) -> None:
    params, macs, out = ZOO[spec]
    res = _check(spec)
    assert _errors(res) == []
    assert res.total_params == params
    if macs is not None:
        assert res.total_macs == macs
    assert [_shape(t.shape) for t in res.outputs.values() if t is not None] == [out]
    if spec != "unet.yaml":
        assert [d.code for d in res.diagnostics] == [], [d.message for d in res.diagnostics]


def test_zoo_specs_have_a_header() -> None:
    """Each zoo spec starts with a comment saying what it is and where it comes from."""
    for name in set(ZOO) | set(EXTRA):
        head = (SPECS / name).read_text().splitlines()[:3]
        assert all(line.startswith("# ") for line in head), name


def test_resnet50_spec_is_short() -> None:
    assert len((SPECS / "resnet50.yaml").read_text().splitlines()) < 80


def test_unet_size_condition() -> None:
    """Four 2x2 poolings and concat skips: H and W must be multiples of 16 (AC306 warnings)."""
    res = _check("unet.yaml")
    warns = [d for d in res.diagnostics if d.severity == "warning"]
    assert {d.code for d in warns} == {"AC306"}
    msgs = sorted(d.message for d in warns)
    assert len(msgs) == 2
    assert "H must be a multiple of 16" in msgs[0]
    assert "W must be a multiple of 16" in msgs[1]
    # A good size: no finding, MACs known; a bad one: an error at the concat.
    ok = _check("unet.yaml", dims={"N": 1, "H": 64, "W": 96})
    assert ok.diagnostics == [] and ok.total_macs is not None and ok.total_macs > 0
    assert [_shape(t.shape) for t in ok.outputs.values() if t is not None] == [[1, 2, 64, 96]]
    bad = _check("unet.yaml", dims={"H": 100, "W": 64})
    assert [d.path for d in bad.diagnostics if d.severity == "error"] == ["up2.cat"]


# ---------------------------------------------------------------- expected state_dict from the Node tree


def expected_state_dict(res: CheckResult) -> dict[str, list[int]]:
    """The state_dict keys and shapes the spec's layers would have in torch."""
    out: dict[str, list[int]] = {}
    for node in res.layers:
        layer = node.layer
        if layer is None:
            continue
        t, p = node.type, node.path + "."
        f = layer.model_dump()
        if t.startswith(("Conv1d", "Conv2d", "Conv3d", "ConvTranspose")):
            nd = int(t[-2])
            k = f["kernel_size"]
            k = list(k) if isinstance(k, (list, tuple)) else [k] * nd
            cin, cout, g = f["in_channels"], f["out_channels"], f["groups"]
            out[p + "weight"] = [cin, cout // g, *k] if t.startswith("ConvTranspose") else [cout, cin // g, *k]
            if f["bias"]:
                out[p + "bias"] = [cout]
        elif t == "Linear":
            out[p + "weight"] = [f["out_features"], f["in_features"]]
            if f["bias"]:
                out[p + "bias"] = [f["out_features"]]
        elif t.startswith("BatchNorm"):
            c = f["num_features"]
            if f["affine"]:
                out[p + "weight"] = out[p + "bias"] = [c]
            if f["track_running_stats"]:
                out[p + "running_mean"] = out[p + "running_var"] = [c]
                out[p + "num_batches_tracked"] = []
        elif t == "Embedding":
            out[p + "weight"] = [f["num_embeddings"], f["embedding_dim"]]
        elif t == "LSTM":
            assert f["proj_size"] == 0
            h = f["hidden_size"]
            for i in range(f["num_layers"]):
                for sfx in ["", "_reverse"] if f["bidirectional"] else [""]:
                    cin = f["input_size"] if i == 0 else h * (2 if f["bidirectional"] else 1)
                    out[f"{p}weight_ih_l{i}{sfx}"] = [4 * h, cin]
                    out[f"{p}weight_hh_l{i}{sfx}"] = [4 * h, h]
                    if f["bias"]:
                        out[f"{p}bias_ih_l{i}{sfx}"] = out[f"{p}bias_hh_l{i}{sfx}"] = [4 * h]
        elif t == "TransformerEncoderLayer":
            d, ff, b = f["d_model"], f["dim_feedforward"], f["bias"]
            shapes = {
                "self_attn.in_proj_weight": [3 * d, d], "self_attn.in_proj_bias": [3 * d],
                "self_attn.out_proj.weight": [d, d], "self_attn.out_proj.bias": [d],
                "linear1.weight": [ff, d], "linear1.bias": [ff], "linear2.weight": [d, ff], "linear2.bias": [d],
                "norm1.weight": [d], "norm1.bias": [d], "norm2.weight": [d], "norm2.bias": [d],
            }  # fmt: skip
            out.update({p + k: v for k, v in shapes.items() if b or not k.endswith(("bias", "_bias"))})
        elif t == "LayerNorm":
            ns = f["normalized_shape"]
            ns = list(ns) if isinstance(ns, (list, tuple)) else [ns]
            if f.get("elementwise_affine", True):
                out[p + "weight"] = ns
                if f.get("bias", True):
                    out[p + "bias"] = ns
        else:
            assert not node.params, f"{node.path}: {t} has parameters; teach expected_state_dict its keys"
    return out


def _node_shapes(res: CheckResult) -> dict[str, list[Any]]:
    return {n.path: _shape(n.output.shape) for n in res.nodes if n.output is not None}


# ---------------------------------------------------------------- torchvision


@pytest.mark.parametrize("spec", sorted(TORCHVISION))
def test_torchvision_state_dict(spec: str) -> None:
    data = json.loads((TV_DATA / f"{TORCHVISION[spec]}.json").read_text())
    res = _check(spec, dims={"N": data["input"][0]})
    assert _errors(res) == []
    assert res.total_params == data["params"]
    got = expected_state_dict(res)
    want = data["state_dict"]
    assert sorted(set(want) - set(got)) == [] and sorted(set(got) - set(want)) == []
    assert {k: got[k] for k in want} == want
    assert list(got) == list(want)  # module order too
    shapes = _node_shapes(res)
    assert {k: shapes.get(k) for k in data["outputs"]} == data["outputs"]


# ---------------------------------------------------------------- hand-written torch references

torch = pytest.importorskip("torch")  # the [torch] extra, installed in CI; without it this module is skipped
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402


class LeNet5(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.pool2 = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool1(F.relu(self.conv1(x)))
        x = self.pool2(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class M5(nn.Module):
    """torchaudio tutorial's M5 (n_channel=32, stride=16), avg pool as AdaptiveAvgPool1d."""

    def __init__(self, n_input: int = 1, n_output: int = 35, stride: int = 16, n_channel: int = 32) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(n_input, n_channel, kernel_size=80, stride=stride)
        self.bn1 = nn.BatchNorm1d(n_channel)
        self.pool1 = nn.MaxPool1d(4)
        self.conv2 = nn.Conv1d(n_channel, n_channel, kernel_size=3)
        self.bn2 = nn.BatchNorm1d(n_channel)
        self.pool2 = nn.MaxPool1d(4)
        self.conv3 = nn.Conv1d(n_channel, 2 * n_channel, kernel_size=3)
        self.bn3 = nn.BatchNorm1d(2 * n_channel)
        self.pool3 = nn.MaxPool1d(4)
        self.conv4 = nn.Conv1d(2 * n_channel, 2 * n_channel, kernel_size=3)
        self.bn4 = nn.BatchNorm1d(2 * n_channel)
        self.pool4 = nn.MaxPool1d(4)
        self.avgpool = nn.AdaptiveAvgPool1d(1)
        self.fc1 = nn.Linear(2 * n_channel, n_output)

    def forward(self, x):
        for i in range(1, 5):
            x = getattr(self, f"pool{i}")(F.relu(getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(x))))
        return F.log_softmax(self.fc1(torch.flatten(self.avgpool(x), 1)), dim=-1)


class SmallC3D(nn.Module):
    def __init__(self, width: int = 32, num_classes: int = 101) -> None:
        super().__init__()
        chans = [3, width, width * 2, width * 4, width * 8]
        for i in range(1, 5):
            setattr(self, f"conv{i}", nn.Conv3d(chans[i - 1], chans[i], 3, padding=1, bias=False))
            setattr(self, f"bn{i}", nn.BatchNorm3d(chans[i]))
            setattr(self, f"pool{i}", nn.MaxPool3d((1, 2, 2), (1, 2, 2)) if i == 1 else nn.MaxPool3d(2))
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(0.5)
        self.fc = nn.Linear(chans[4], num_classes)

    def forward(self, x):
        for i in range(1, 5):
            x = getattr(self, f"pool{i}")(F.relu(getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(x))))
        return self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))


# milesial/Pytorch-UNet, unet/unet_parts.py and unet/unet_model.py (bilinear=False)
class DoubleConv(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.double_conv = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        )  # fmt: skip

    def forward(self, x):
        return self.double_conv(x)


class Down(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.maxpool_conv = nn.Sequential(nn.MaxPool2d(2), DoubleConv(cin, cout))

    def forward(self, x):
        return self.maxpool_conv(x)


class Up(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, cin // 2, kernel_size=2, stride=2)
        self.conv = DoubleConv(cin, cout)

    def forward(self, x1, x2):
        x1 = self.up(x1)
        dy, dx = x2.size()[2] - x1.size()[2], x2.size()[3] - x1.size()[3]
        x1 = F.pad(x1, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
        return self.conv(torch.cat([x2, x1], dim=1))


class OutConv(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size=1)

    def forward(self, x):
        return self.conv(x)


class UNet(nn.Module):
    def __init__(self, n_channels: int = 3, n_classes: int = 2) -> None:
        super().__init__()
        self.inc = DoubleConv(n_channels, 64)
        self.down1, self.down2 = Down(64, 128), Down(128, 256)
        self.down3, self.down4 = Down(256, 512), Down(512, 1024)
        self.up1, self.up2, self.up3, self.up4 = Up(1024, 512), Up(512, 256), Up(256, 128), Up(128, 64)
        self.outc = OutConv(64, n_classes)

    def forward(self, x):
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        x5 = self.down4(x4)
        x = self.up1(x5, x4)
        x = self.up2(x, x3)
        x = self.up3(x, x2)
        x = self.up4(x, x1)
        return self.outc(x)


class LSTMTextClassifier(nn.Module):
    def __init__(self, vocab_size: int = 20000, embed_dim: int = 128, hidden: int = 256, num_classes: int = 4) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.lstm = nn.LSTM(embed_dim, hidden, num_layers=2, batch_first=True, dropout=0.2)
        self.dropout = nn.Dropout(0.5)
        self.fc = nn.Linear(hidden, num_classes)

    def forward(self, tokens):
        out, _ = self.lstm(self.embedding(tokens))
        return self.fc(self.dropout(out[:, -1]))


class TransformerTextClassifier(nn.Module):
    def __init__(self, vocab_size: int = 20000, max_len: int = 512, d: int = 128, num_classes: int = 4) -> None:
        super().__init__()
        self.tok_embed = nn.Embedding(vocab_size, d)
        self.pos_embed = nn.Embedding(max_len, d)
        self.encoder = nn.Sequential(
            *[nn.TransformerEncoderLayer(d, 4, 256, 0.1, batch_first=True, norm_first=True) for _ in range(2)]
        )
        self.norm = nn.LayerNorm(d)
        self.fc = nn.Linear(d, num_classes)

    def forward(self, tokens, positions):
        x = self.tok_embed(tokens) + self.pos_embed(positions)
        return self.fc(self.norm(self.encoder(x)).mean(dim=1))


def _torch_macs(mod: Any, inp: Any, out: Any) -> int:
    """torchvision's convention: multiply-accumulates of conv and linear layers; for
    recurrent layers the weight matrices at each step, for attention also QK^T and AV."""
    if isinstance(mod, nn.Linear):
        return out.numel() * mod.in_features
    if isinstance(mod, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        return out.numel() * (mod.in_channels // mod.groups) * math.prod(mod.kernel_size)
    if isinstance(mod, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
        return inp[0].numel() * (mod.out_channels // mod.groups) * math.prod(mod.kernel_size)
    if isinstance(mod, nn.LSTM):
        steps = inp[0].numel() // inp[0].shape[-1]
        return steps * sum(w.numel() for n, w in mod.named_parameters() if n.startswith("weight_"))
    if isinstance(mod, nn.TransformerEncoderLayer):
        assert mod.self_attn.batch_first
        n, seq, d = inp[0].shape
        ff = mod.linear1.out_features
        return n * seq * (4 * d * d + 2 * d * ff) + 2 * n * seq * seq * d
    return 0


def compare_with_torch(
    spec: str, model: Any, x: Any, dims: dict[str, int], *, meta: bool = True, check_macs: bool = True
) -> CheckResult:
    """Parameter count, state_dict, MACs and every leaf module's output shape."""
    res = _check(spec, dims=dims)
    assert _errors(res) == []
    assert res.total_params == sum(p.numel() for p in model.parameters())
    want_sd = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert expected_state_dict(res) == want_sd
    seen: dict[str, list[int]] = {}
    macs = [0]

    def hook(path: str):
        def f(mod: Any, inp: Any, out: Any) -> None:
            seen[path] = list((out[0] if isinstance(out, tuple) else out).shape)
            macs[0] += _torch_macs(mod, inp, out)

        return f

    # The modules that are leaf layers of the spec (a TransformerEncoderLayer is one),
    # and every torch leaf module outside them.
    spec_leaves = {n.path for n in res.layers}
    hooked = [
        (p, m)
        for p, m in model.named_modules()
        if p in spec_leaves
        or (p and next(m.children(), None) is None and not any(p.startswith(s + ".") for s in spec_leaves))
    ]
    for path, mod in hooked:
        mod.register_forward_hook(hook(path))
    model.eval()
    with torch.no_grad():
        y = model(*x) if isinstance(x, tuple) else model(x)
    shapes = _node_shapes(res)
    assert set(seen) == {p for p, _ in hooked}  # every module ran
    assert {p: shapes.get(p) for p in seen} == seen
    assert [_shape(t.shape) for t in res.outputs.values() if t is not None] == [list(y.shape)]
    if check_macs:
        assert res.total_macs == macs[0]
    return res


def _meta(model_cls: type, *args: Any) -> Any:
    with torch.device("meta"):
        return model_cls(*args)


def test_lenet5_vs_torch() -> None:
    compare_with_torch("lenet5.yaml", LeNet5(), torch.zeros(2, 1, 32, 32), {"N": 2})


def test_audio_m5_vs_torch() -> None:
    compare_with_torch("audio_m5.yaml", M5(), torch.zeros(2, 1, 16000), {"N": 2})


def test_video_c3d_vs_torch() -> None:
    x = torch.empty(2, 3, 16, 112, 112, device="meta")
    compare_with_torch("video_c3d.yaml", _meta(SmallC3D), x, {"N": 2})


def test_unet_vs_milesial() -> None:
    x = torch.empty(2, 3, 64, 96, device="meta")
    compare_with_torch("unet.yaml", _meta(UNet), x, {"N": 2, "H": 64, "W": 96})


def test_lstm_text_vs_torch() -> None:
    tokens = torch.randint(0, 20000, (2, 16))
    res = compare_with_torch("lstm_text.yaml", LSTMTextClassifier(), tokens, {"N": 2, "L": 16})
    assert res.total_macs == 2 * (16 * 4 * 256 * (128 + 256 + 256 + 256) + 256 * 4)


def test_transformer_text_vs_torch() -> None:
    tokens = torch.randint(0, 20000, (2, 16))
    positions = torch.arange(16).expand(2, 16)
    compare_with_torch("transformer_text.yaml", TransformerTextClassifier(), (tokens, positions), {"N": 2, "L": 16})


# Specs beyond the table at the top (published figures do not exist for them: the
# sequence length L is free, so MACs are compared with torch at L=16 above).
EXTRA: dict[str, tuple[int, int | None, list[Any]]] = {
    "lstm_text.yaml": (3_482_628, None, ["N", 4]),
    "transformer_text.yaml": (2_891_268, None, ["N", 4]),
}


@pytest.mark.parametrize("spec", sorted(EXTRA))
def test_sequence_models(spec: str) -> None:
    params, _, out = EXTRA[spec]
    res = _check(spec)
    assert _errors(res) == [] and [d.code for d in res.diagnostics] == []
    assert res.total_params == params
    assert [_shape(t.shape) for t in res.outputs.values() if t is not None] == [out]


# ---------------------------------------------------------------- the generated module


@pytest.mark.parametrize("spec", sorted(TORCHVISION))
def test_generated_module_has_torchvision_state_dict(spec: str) -> None:
    """archcheck.build (the generate path) yields torchvision's state_dict, keys in order, and runs."""
    data = json.loads((TV_DATA / f"{TORCHVISION[spec]}.json").read_text())
    with torch.device("meta"):
        model = archcheck.build(SPECS / spec)
    assert [(k, list(v.shape)) for k, v in model.state_dict().items()] == list(data["state_dict"].items())
    model.eval()
    y = model(torch.empty(*data["input"], device="meta"))
    assert list(y.shape) == [1, 1000]


@pytest.mark.parametrize(
    ("spec", "ref"),
    [("lenet5.yaml", LeNet5), ("audio_m5.yaml", M5), ("video_c3d.yaml", SmallC3D), ("unet.yaml", UNet),
     ("lstm_text.yaml", LSTMTextClassifier), ("transformer_text.yaml", TransformerTextClassifier)],
)  # fmt: skip
def test_generated_module_matches_reference(spec: str, ref: type) -> None:
    with torch.device("meta"):
        dims = {"N": 2, "H": 64, "W": 64} if spec == "unet.yaml" else {"N": 2}
        model, want = archcheck.build(SPECS / spec, dims=dims), ref()
    assert {k: list(v.shape) for k, v in model.state_dict().items()} == {
        k: list(v.shape) for k, v in want.state_dict().items()
    }
