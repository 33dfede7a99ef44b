"""Write tests/data/reference/<model>.json: the reference facts of issue 13's modern models.

The specs in specs/ (ViT-B/16, ConvNeXt-T, Swin-T, MobileNetV3-Large,
RegNetY-400MF with torchvision's module names, and a GPT-2 stack with tied
embeddings) are compared with these facts by the tests. torchvision does not
import beside archcheck's torch (2.13.0), so the facts are computed once in a
separate environment and committed:

    python3 -m venv /work/refvenv
    /work/refvenv/bin/pip install torch==2.14.1 torchvision==0.29.1
    /work/refvenv/bin/python tests/data/make_reference.py

Every model is built and run on the meta device: no weights are downloaded or
allocated. Per model the JSON records

* ``params`` (``sum(p.numel() for p in model.parameters())``: torch counts a
  tied weight once) and ``trainable_params`` (those with ``requires_grad``);
* ``state_dict``: every key and shape, in torch's order (a tied weight appears
  under both of its keys), and ``tied``: key -> the key it shares storage with;
* ``buffers``: every buffer, its shape and whether it is persistent (a
  persistent buffer is also a ``state_dict`` key);
* ``modules``: every submodule's path and class name;
* ``published``: the torchvision weights enum's ``meta`` (``num_params`` and
  ``_ops``, the "GFLOPS" of torchvision's docs, which are multiply-accumulates:
  ResNet-50's 4.089 is its 4,089,184,256 conv and linear MACs);
* ``runs``: two forward passes in eval mode. Each gives the input, the output
  shape, ``macs`` (half of ``torch.utils.flop_counter.FlopCounterMode``'s
  count: convolutions, matrix products including ``nn.MultiheadAttention``'s
  projections and the two products of attention, QK^T and AV; no element-wise
  operations, norms or softmax), the same split by aten op (``macs_by_op``),
  and the output shape of every module that returned a tensor (forward hooks,
  ``outputs``; for a tuple, the first tensor's). Those module outputs locate a
  mismatch: the first path whose shape differs.

The second run: ViT-B/16 fixes its input size (``image_size``, which also sizes
``encoder.pos_embedding``), so its second run is a second model,
``vit_b_16(image_size=384)``, on a batch of 2; that run records its own
``params``, the ``state_dict`` keys whose shapes change, and the published
figures of torchvision's 384x384 weights (IMAGENET1K_SWAG_E2E_V1). The
convolutional models take any size: a batch of 2 at 193x257 (neither a
multiple of 32, not square: floor rounding in every stride and H/W kept
apart). Swin-T pads its feature maps to multiples of its 7x7 window when they
are not; its second run is 2x3x224x448, whose feature maps (56x112, 28x56,
14x28, 7x14) are multiples of 7, so no padding happens (its shifted windows
still differ from the 224 run: a window as large as a feature map's side is
not shifted along it).

GPT-2: torchvision has none, and Hugging Face's GPT2Model stores its
projections as ``Conv1D`` with transposed ``[in, out]`` weights that no
``nn.Linear`` reproduces. ``NanoGPT`` below re-implements Andrej Karpathy's
nanoGPT ``model.py`` (github.com/karpathy/nanoGPT, class GPT), the widely used
layout: ``transformer.{wte, wpe, drop, h.N.{ln_1, attn.c_attn, attn.c_proj,
attn.attn_dropout, attn.resid_dropout, ln_2, mlp.c_fc, mlp.gelu, mlp.c_proj,
mlp.dropout}, ln_f}`` and ``lm_head``, whose weight is tied to ``wte``'s;
GELU (exact, ``approximate="none"``, as nanoGPT's ``nn.GELU()``); causal
attention through ``F.scaled_dot_product_attention(is_causal=True)`` (nanoGPT's
"flash" path, so no ``attn.bias`` mask buffer). Two differences from nanoGPT,
neither visible in the state_dict: ``nn.LayerNorm`` instead of nanoGPT's own
``LayerNorm`` class (same ``weight``/``bias`` parameters; nanoGPT has its own
only to allow ``bias=False`` in old torch), and ``forward`` returns the logits
of every position ``[B, T, vocab]`` (nanoGPT does so when given targets; at
inference it keeps the last position only). ``gpt2`` is GPT-2 small (12
layers, 12 heads, 768 wide, vocabulary 50257, context 1024, biases: 124,439,808
parameters, the "124M"); ``gpt2_tiny`` (2 layers, 2 heads, 64 wide, vocabulary
1000, context 128) is the same code small enough to run for real in tests.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import nn
from torch.nn import functional as F
from torch.utils.flop_counter import FlopCounterMode
from torchvision import models

OUT = Path(__file__).resolve().parent / "reference"


# ---------------------------------------------------------------- nanoGPT (re-implemented)


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd: int, n_head: int, bias: bool, dropout: float) -> None:
        super().__init__()
        assert n_embd % n_head == 0
        self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=bias)
        self.c_proj = nn.Linear(n_embd, n_embd, bias=bias)
        self.attn_dropout = nn.Dropout(dropout)
        self.resid_dropout = nn.Dropout(dropout)
        self.n_head = n_head
        self.n_embd = n_embd
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=None, dropout_p=self.dropout if self.training else 0, is_causal=True
        )
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, n_embd: int, bias: bool, dropout: float) -> None:
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 4 * n_embd, bias=bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * n_embd, n_embd, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, n_embd: int, n_head: int, bias: bool, dropout: float) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd, bias=bias)
        self.attn = CausalSelfAttention(n_embd, n_head, bias, dropout)
        self.ln_2 = nn.LayerNorm(n_embd, bias=bias)
        self.mlp = MLP(n_embd, bias, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class NanoGPT(nn.Module):
    """nanoGPT's GPT (karpathy/nanoGPT model.py); forward returns every position's logits."""

    def __init__(
        self,
        vocab_size: int = 50257,
        block_size: int = 1024,
        n_layer: int = 12,
        n_head: int = 12,
        n_embd: int = 768,
        dropout: float = 0.0,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.block_size = block_size
        self.transformer = nn.ModuleDict(
            {
                "wte": nn.Embedding(vocab_size, n_embd),
                "wpe": nn.Embedding(block_size, n_embd),
                "drop": nn.Dropout(dropout),
                "h": nn.ModuleList([Block(n_embd, n_head, bias, dropout) for _ in range(n_layer)]),
                "ln_f": nn.LayerNorm(n_embd, bias=bias),
            }
        )
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # weight tying, as nanoGPT

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        b, t = idx.size()
        assert t <= self.block_size
        pos = torch.arange(0, t, dtype=torch.long, device=idx.device)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        for block in self.transformer.h:
            x = block(x)
        return self.lm_head(self.transformer.ln_f(x))


GPT_CONFIGS: dict[str, dict[str, Any]] = {
    "gpt2": {"vocab_size": 50257, "block_size": 1024, "n_layer": 12, "n_head": 12, "n_embd": 768},
    "gpt2_tiny": {"vocab_size": 1000, "block_size": 128, "n_layer": 2, "n_head": 2, "n_embd": 64},
}
GPT_RUNS: dict[str, list[list[int]]] = {"gpt2": [[1, 1024], [2, 64]], "gpt2_tiny": [[2, 16], [1, 128]]}


# ---------------------------------------------------------------- torchvision models

# name: (builder, weights enum attribute, runs: (input shape, builder kwargs, weights for that run or None))
TORCHVISION: dict[str, tuple[str, str, list[tuple[list[int], dict[str, Any], str | None]]]] = {
    "vit_b_16": (
        "vit_b_16",
        "ViT_B_16_Weights.IMAGENET1K_V1",
        [
            ([1, 3, 224, 224], {}, None),
            ([2, 3, 384, 384], {"image_size": 384}, "ViT_B_16_Weights.IMAGENET1K_SWAG_E2E_V1"),
        ],
    ),
    "convnext_tiny": (
        "convnext_tiny",
        "ConvNeXt_Tiny_Weights.IMAGENET1K_V1",
        [([1, 3, 224, 224], {}, None), ([2, 3, 193, 257], {}, None)],
    ),
    "swin_t": (
        "swin_t",
        "Swin_T_Weights.IMAGENET1K_V1",
        [([1, 3, 224, 224], {}, None), ([2, 3, 224, 448], {}, None)],
    ),
    "mobilenet_v3_large": (
        "mobilenet_v3_large",
        "MobileNet_V3_Large_Weights.IMAGENET1K_V1",
        [([1, 3, 224, 224], {}, None), ([2, 3, 193, 257], {}, None)],
    ),
    "regnet_y_400mf": (
        "regnet_y_400mf",
        "RegNet_Y_400MF_Weights.IMAGENET1K_V1",
        [([1, 3, 224, 224], {}, None), ([2, 3, 193, 257], {}, None)],
    ),
}


# Famous models written as users write them (tests/data/zoo/<name>.yaml, tests/test_famous_zoo.py):
# their facts go to tests/data/zoo/<name>.json. Same form as TORCHVISION; each is run at its weights'
# crop size and at a second, odd size (floor rounding in every stride, H and W kept apart).
ZOO: dict[str, tuple[str, str, list[tuple[list[int], dict[str, Any], str | None]]]] = {
    "resnext50_32x4d": (
        "resnext50_32x4d",
        "ResNeXt50_32X4D_Weights.IMAGENET1K_V1",
        [([1, 3, 224, 224], {}, None), ([2, 3, 193, 257], {}, None)],
    ),
    "wide_resnet50_2": (
        "wide_resnet50_2",
        "Wide_ResNet50_2_Weights.IMAGENET1K_V1",
        [([1, 3, 224, 224], {}, None), ([2, 3, 193, 257], {}, None)],
    ),
    "densenet121": (
        "densenet121",
        "DenseNet121_Weights.IMAGENET1K_V1",
        [([1, 3, 224, 224], {}, None), ([2, 3, 193, 257], {}, None)],
    ),
    "inception_v3": (
        "inception_v3",
        "Inception_V3_Weights.IMAGENET1K_V1",
        [([1, 3, 299, 299], {}, None), ([2, 3, 331, 400], {}, None)],
    ),
    "squeezenet1_1": (
        "squeezenet1_1",
        "SqueezeNet1_1_Weights.IMAGENET1K_V1",
        [([1, 3, 224, 224], {}, None), ([2, 3, 193, 257], {}, None)],
    ),
    "shufflenet_v2_x1_0": (
        "shufflenet_v2_x1_0",
        "ShuffleNet_V2_X1_0_Weights.IMAGENET1K_V1",
        [([1, 3, 224, 224], {}, None), ([2, 3, 193, 257], {}, None)],
    ),
    "efficientnet_v2_s": (
        "efficientnet_v2_s",
        "EfficientNet_V2_S_Weights.IMAGENET1K_V1",
        [([1, 3, 384, 384], {}, None), ([2, 3, 193, 257], {}, None)],
    ),
}
ZOO_OUT = Path(__file__).resolve().parent / "zoo"


# ---------------------------------------------------------------- BERT-base (Hugging Face's BertModel, re-implemented)


class BertSelfAttention(nn.Module):
    def __init__(self, hidden: int, heads: int, p: float) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, hidden // heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape

        def heads(y: torch.Tensor) -> torch.Tensor:
            return y.view(b, t, self.heads, self.head_dim).permute(0, 2, 1, 3)

        q, k, v = heads(self.query(x)), heads(self.key(x)), heads(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        probs = self.dropout(scores.softmax(dim=-1))
        return torch.matmul(probs, v).permute(0, 2, 1, 3).reshape(b, t, c)


class BertResidualOutput(nn.Module):
    """BertSelfOutput / BertOutput: dense, dropout, LayerNorm(h + input)."""

    def __init__(self, fan_in: int, hidden: int, p: float) -> None:
        super().__init__()
        self.dense = nn.Linear(fan_in, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=1e-12)
        self.dropout = nn.Dropout(p)

    def forward(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(h)) + x)


class BertAttention(nn.Module):
    def __init__(self, hidden: int, heads: int, p: float) -> None:
        super().__init__()
        self.self = BertSelfAttention(hidden, heads, p)
        self.output = BertResidualOutput(hidden, hidden, p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.self(x), x)


class BertIntermediate(nn.Module):
    def __init__(self, hidden: int, inner: int) -> None:
        super().__init__()
        self.dense = nn.Linear(hidden, inner)
        self.intermediate_act_fn = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.intermediate_act_fn(self.dense(x))


class BertLayer(nn.Module):
    def __init__(self, hidden: int, heads: int, inner: int, p: float) -> None:
        super().__init__()
        self.attention = BertAttention(hidden, heads, p)
        self.intermediate = BertIntermediate(hidden, inner)
        self.output = BertResidualOutput(inner, hidden, p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.attention(x)
        return self.output(self.intermediate(a), a)


class BertEmbeddings(nn.Module):
    def __init__(self, vocab: int, hidden: int, max_pos: int, types: int, p: float) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, hidden, padding_idx=0)
        self.position_embeddings = nn.Embedding(max_pos, hidden)
        self.token_type_embeddings = nn.Embedding(types, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=1e-12)
        self.dropout = nn.Dropout(p)

    def forward(self, ids: torch.Tensor, types: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        e = self.word_embeddings(ids) + self.token_type_embeddings(types) + self.position_embeddings(pos)
        return self.dropout(self.LayerNorm(e))


class BertModel(nn.Module):
    """Hugging Face's BertModel (bert-base-uncased's config), its module names and eager attention;
    forward(input_ids, token_type_ids, position_ids) returns last_hidden_state (and pooler_output)."""

    def __init__(self, vocab: int = 30522, hidden: int = 768, layers: int = 12, heads: int = 12) -> None:
        super().__init__()
        self.embeddings = BertEmbeddings(vocab, hidden, 512, 2, 0.1)
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList([BertLayer(hidden, heads, 4 * hidden, 0.1) for _ in range(layers)])
        self.pooler = nn.Module()
        self.pooler.dense = nn.Linear(hidden, hidden)
        self.pooler.activation = nn.Tanh()

    def forward(self, ids: torch.Tensor, types: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        x = self.embeddings(ids, types, pos)
        for layer in self.encoder.layer:
            x = layer(x)
        self.pooled = self.pooler.activation(self.pooler.dense(x[:, 0]))
        return x


def bert_model() -> dict[str, Any]:
    """BERT-base's facts (published: 110M; 109,482,240 parameters with the pooler)."""
    with torch.device("meta"):
        model = BertModel()
    data: dict[str, Any] = {
        "model": "BertModel(): Hugging Face's BertModel (bert-base-uncased) re-implemented in make_reference.py",
        "torch": torch.__version__,
        "published": {"num_params": 109482240},
        **_facts(model),
    }
    data["runs"] = []
    for shape in ([1, 128], [2, 77]):
        ids = _meta_input(shape, tokens=30522)
        data["runs"].append(_run(model, ids, ids, ids))
    return data


def _weights(spec: str) -> Any:
    enum, member = spec.split(".")
    return getattr(getattr(models, enum), member)


def _published(spec: str) -> dict[str, Any]:
    meta = _weights(spec).meta
    ops = meta["_ops"]
    return {
        "weights": spec,
        "num_params": meta["num_params"],
        "min_size": list(meta["min_size"]),
        "GFLOPS": ops,
        # torchvision's "GFLOPS" are GMACs rounded to 3 decimals: a MAC count m
        # agrees when round(m / 1e9, 3) == GFLOPS.
        "macs_range": [math.ceil((ops - 0.0005) * 1e9), math.floor((ops + 0.0005) * 1e9)],
    }


# ---------------------------------------------------------------- facts


def _shape(o: Any) -> list[int] | None:
    if isinstance(o, torch.Tensor):
        return list(o.shape)
    if isinstance(o, (tuple, list)) and o and isinstance(o[0], torch.Tensor):
        return list(o[0].shape)
    return None


def _tied(model: nn.Module) -> dict[str, str]:
    """state_dict key -> the first key holding the same Parameter (tied weights)."""
    first: dict[int, str] = {}
    tied: dict[str, str] = {}
    for k, v in model.state_dict(keep_vars=True).items():
        if id(v) in first:
            tied[k] = first[id(v)]
        else:
            first[id(v)] = k
    return tied


def _buffers(model: nn.Module) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path, mod in model.named_modules():
        for name, buf in mod.named_buffers(recurse=False):
            if buf is None:
                continue
            key = f"{path}.{name}" if path else name
            out[key] = {
                "shape": list(buf.shape),
                "dtype": str(buf.dtype).removeprefix("torch."),
                "persistent": name not in mod._non_persistent_buffers_set,
            }
    return out


def _run(model: nn.Module, x: torch.Tensor, *more: torch.Tensor) -> dict[str, Any]:
    outputs: dict[str, list[int]] = {}
    handles = []
    for path, mod in model.named_modules():
        if not path:
            continue

        def hook(m: nn.Module, a: Any, o: Any, path: str = path) -> None:
            s = _shape(o)
            if s is not None and path not in outputs:  # a module called twice: its first call
                outputs[path] = s

        handles.append(mod.register_forward_hook(hook))
    model.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        y = model(x, *more)
    for h in handles:
        h.remove()
    by_op = {str(op).removeprefix("aten."): n // 2 for op, n in counter.get_flop_counts()["Global"].items()}
    assert all(n % 2 == 0 for n in counter.get_flop_counts()["Global"].values())
    return {
        "input": list(x.shape),
        "output": list(y.shape),
        "macs": counter.get_total_flops() // 2,
        "macs_by_op": dict(sorted(by_op.items())),
        "outputs": outputs,
    }


def _facts(model: nn.Module) -> dict[str, Any]:
    sd = model.state_dict()
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "state_dict": {k: list(v.shape) for k, v in sd.items()},
        "tied": _tied(model),
        "buffers": _buffers(model),
        "modules": {p: type(m).__name__ for p, m in model.named_modules() if p},
    }


def _meta_input(shape: list[int], tokens: int | None = None) -> torch.Tensor:
    if tokens is None:
        return torch.empty(*shape, device="meta")
    return torch.empty(*shape, dtype=torch.long, device="meta")


def _build(builder: str, **kwargs: Any) -> nn.Module:
    if builder.startswith("regnet"):
        # RegNet's builder computes its stage widths with torch ops, which the
        # meta device cannot turn into ints: build it on the CPU (4M parameters,
        # random init, nothing downloaded) and move it to the meta device.
        return getattr(models, builder)(weights=None, **kwargs).to("meta")
    with torch.device("meta"):
        return getattr(models, builder)(weights=None, **kwargs)


def torchvision_model(name: str) -> dict[str, Any]:
    builder, weights, runs = TORCHVISION[name] if name in TORCHVISION else ZOO[name]
    model = _build(builder)
    data: dict[str, Any] = {
        "model": f"torchvision.models.{builder}(weights=None)",
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "published": _published(weights),
        **_facts(model),
    }
    data["runs"] = []
    for shape, kwargs, run_weights in runs:
        run: dict[str, Any] = {}
        m = model
        if kwargs:
            m = _build(builder, **kwargs)
            facts = _facts(m)
            run["model_kwargs"] = kwargs
            run["params"] = facts["params"]
            run["state_dict_changes"] = {k: v for k, v in facts["state_dict"].items() if data["state_dict"].get(k) != v}
            assert list(facts["state_dict"]) == list(data["state_dict"])
        if run_weights is not None:
            run["published"] = _published(run_weights)
        run.update(_run(m, _meta_input(shape)))
        data["runs"].append(run)
    return data


def gpt_model(name: str) -> dict[str, Any]:
    config = GPT_CONFIGS[name]
    with torch.device("meta"):
        model = NanoGPT(**config)
    data: dict[str, Any] = {
        "model": f"NanoGPT(**{config}): nanoGPT's GPT re-implemented in make_reference.py",
        "torch": torch.__version__,
        "config": config,
        **_facts(model),
    }
    data["runs"] = [_run(model, _meta_input(shape, tokens=config["vocab_size"])) for shape in GPT_RUNS[name]]
    return data


# ---------------------------------------------------------------- output


def dumps(obj: Any, indent: int = 0) -> str:
    """JSON with one key per line; lists of scalars on one line (readable diffs)."""
    pad = " " * (indent + 1)
    if isinstance(obj, dict) and obj:
        items = [f"{pad}{json.dumps(k)}: {dumps(v, indent + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    if isinstance(obj, list) and any(isinstance(v, (dict, list)) and v for v in obj):
        if all(isinstance(v, list) and not any(isinstance(w, (dict, list)) for w in v) for v in obj):
            return json.dumps(obj)
        items = [pad + dumps(v, indent + 1) for v in obj]
        return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"
    return json.dumps(obj)


def zoo(names: list[str]) -> None:
    """The famous models' facts (all of ZOO, or those named on the command line after `zoo`)."""
    ZOO_OUT.mkdir(exist_ok=True)
    if not names or "bert_base" in names:
        data = bert_model()
        (ZOO_OUT / "bert_base.json").write_text(dumps(data) + "\n")
        print(f"bert_base: {len(data['state_dict'])} keys, {data['params']:,} params")
        assert data["params"] == data["published"]["num_params"]
    for name in [n for n in names if n != "bert_base"] if names else list(ZOO):
        data = torchvision_model(name)
        pub = data["published"]
        assert data["params"] == pub["num_params"], (name, data["params"], pub["num_params"])
        (ZOO_OUT / f"{name}.json").write_text(dumps(data) + "\n")
        macs = [r["macs"] for r in data["runs"]]
        print(
            f"{name}: {len(data['state_dict'])} keys, {data['params']:,} params, MACs {macs}, published {pub['GFLOPS']}"
        )


def main() -> None:
    if sys.argv[1:2] == ["zoo"]:  # make_reference.py zoo [name...]
        zoo(sys.argv[2:])
        return
    OUT.mkdir(exist_ok=True)
    for name in TORCHVISION:
        data = torchvision_model(name)
        pub = data["published"]
        assert data["params"] == pub["num_params"], (name, data["params"], pub["num_params"])
        (OUT / f"{name}.json").write_text(dumps(data) + "\n")
        macs = [r["macs"] for r in data["runs"]]
        print(
            f"{name}: {len(data['state_dict'])} keys, {data['params']:,} params, MACs {macs}, published {pub['GFLOPS']}"
        )
    for name in GPT_CONFIGS:
        data = gpt_model(name)
        (OUT / f"{name}.json").write_text(dumps(data) + "\n")
        macs = [r["macs"] for r in data["runs"]]
        print(f"{name}: {len(data['state_dict'])} keys, {data['params']:,} params, MACs {macs}")


if __name__ == "__main__":
    main()
