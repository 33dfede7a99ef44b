"""Models in plain torch that use issue 13's vocabulary, for `archcheck import` (tests/test_import_vocab.py)."""

import torch
import torch.nn as nn


class Tower(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3)
        self.act = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, width)

    def forward(self, x):
        x = self.act(self.conv(x))
        x = torch.flatten(self.pool(x), 1)
        return self.act(self.fc(x))  # act called twice


class Siamese(nn.Module):
    """One tower applied to two images: one module, its weights shared."""

    def __init__(self, width=8):
        super().__init__()
        self.tower = Tower(width)
        self.head = nn.Linear(width, 1)

    def forward(self, a, b):
        return self.head(self.tower(a) + self.tower(b))


class TinyLM(nn.Module):
    """GPT-2's tied embeddings: lm_head.weight is wte.weight."""

    def __init__(self, vocab=50, dim=16, ctx=12):
        super().__init__()
        self.wte = nn.Embedding(vocab, dim)
        self.wpe = nn.Parameter(torch.zeros(1, ctx, dim))
        self.ln = nn.LayerNorm(dim)
        self.attn = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.lm_head = nn.Linear(dim, vocab, bias=False)
        self.lm_head.weight = self.wte.weight

    def forward(self, idx):
        x = self.wte(idx) + self.wpe
        q, k, v = self.attn(self.ln(x)).split(16, dim=2)
        a = torch.softmax(q @ k.transpose(1, 2), dim=-1) if False else q + k + v
        return self.lm_head(self.proj(a))


class ClassToken(nn.Module):
    """ViT's class token, written as torchvision writes it."""

    def __init__(self, dim=32):
        super().__init__()
        self.conv_proj = nn.Conv2d(3, dim, kernel_size=4, stride=4)
        self.class_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embedding = nn.Parameter(torch.empty(1, 17, dim).normal_(std=0.02))
        self.head = nn.Linear(dim, 10)

    def forward(self, x):
        n, c, h, w = x.shape
        x = self.conv_proj(x)
        x = x.reshape(n, 32, (h // 4) * (w // 4)).permute(0, 2, 1)
        n = x.shape[0]
        batch_class_token = self.class_token.expand(n, -1, -1)
        x = torch.cat([batch_class_token, x], dim=1)
        x = x + self.pos_embedding
        return self.head(x[:, 0])


class Halves(nn.Module):
    """A block with two outputs."""

    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, 2 * c, 1)

    def forward(self, x):
        a, b = self.conv(x).chunk(2, dim=1)
        return a, b


class Items(nn.Module):
    """Items of tuple outputs: an LSTM's h_n, chunks, a block's two outputs; a frozen stem."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.stem.requires_grad_(False)
        self.halves = Halves(8)
        self.lstm = nn.LSTM(8, 6, batch_first=True)
        self.fc = nn.Linear(6 + 6, 4)

    def forward(self, x):
        a, b = self.halves(self.stem(x))
        s = (a * b).flatten(2).permute(0, 2, 1)
        out, (h, c) = self.lstm(s)
        h0 = h[-1]
        first, second = torch.split(out, [10, 54], dim=1)
        return self.fc(torch.cat([h0, second.mean(1)], dim=1)), first


class Arithmetic(nn.Module):
    """Hand-written attention and scalar arithmetic: @, / 8.0, * 0.5, -, **, sum, squeeze/unsqueeze."""

    def __init__(self):
        super().__init__()
        self.q = nn.Linear(8, 8)
        self.k = nn.Linear(8, 8)

    def forward(self, x):
        scores = self.q(x) @ self.k(x).transpose(1, 2) / 8.0
        attn = torch.softmax(scores, dim=-1) @ x
        y = 0.5 * attn - x
        z = (y**2).sum(-1, keepdim=True).squeeze(-1).unsqueeze(1)
        return z
