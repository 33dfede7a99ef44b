"""Swin Transformer's two own pieces (torchvision/models/swin_transformer.py): ShiftedWindowAttention, PatchMergingPad.

torch.nn has neither, and generated code imports only torch, so each is emitted as a small
definition in the generated file (``module_source``, ``function_source``) that follows torchvision 0.29's code line by
line, with the same ``state_dict`` keys and the same numbers:

* ShiftedWindowAttention(dim, window_size, shift_size, num_heads, qkv_bias, proj_bias,
  attention_dropout, dropout): window multi-head self-attention over a channels-last feature map
  [B, H, W, C] (C = dim), with a learned relative position bias, shifted windows and their
  attention mask. The map is padded on the right and bottom to multiples of the window
  (``window_size``), cyclically shifted by ``shift_size`` (not along a side one window covers),
  cut into windows of ``Wh * Ww`` tokens, attended within each window, and put back: the output
  is [B, H, W, C]. Keys, in torch's order: ``relative_position_bias_table``
  [(2*Wh - 1) * (2*Ww - 1), num_heads] (a Parameter), ``relative_position_index`` [Wh*Ww*Wh*Ww]
  (a persistent int64 buffer: the table row of each pair of window positions), ``qkv.weight``
  [3C, C], ``qkv.bias``, ``proj.weight`` [C, C], ``proj.bias``. ``dim`` may be left out: it is
  the input's last dim. MACs, as torch's FlopCounterMode counts them (and torchvision's GFLOPS):
  the qkv and proj projections of every padded position (4 * C^2 each) and attention's two
  products (Wh*Ww * C each); the bias, mask and softmax are not counted.
* PatchMergingPad: torchvision's ``_patch_merging_pad``, the first step of PatchMerging: [..., H,
  W, C] -> [..., ceil(H/2), ceil(W/2), 4C]: an odd H or W is padded by one, and each 2x2
  neighbourhood goes to the channels (in torchvision's order x0, x1, x2, x3). A spec writes
  PatchMerging as a block of it, ``norm`` (LayerNorm 4C) and ``reduction`` (Linear 4C -> 2C,
  no bias), with ``init_order: [reduction, norm]`` (torchvision creates reduction first, so its
  key comes first in the state_dict): see specs/swin_t.yaml.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, ClassVar, Optional

from pydantic import Field

from ..shapes import dims as D
from ..shapes.dims import Dim
from ._rules import exact_div, expect_rank, match_size, need_float
from .base import Example, Layer, NonNeg, Pos, Prob, Tensor, TorchLeaf, numel_per, register

if TYPE_CHECKING:  # pragma: no cover
    from .base import Ctx

Pair = Annotated[list[Pos], Field(min_length=2, max_length=2)]
NonNegPair = Annotated[list[NonNeg], Field(min_length=2, max_length=2)]

# torchvision's ShiftedWindowAttention and shifted_window_attention in one class, for the generated file.
# Written as ruff formats it (the generated file is checked with `ruff format --check`).
ATTENTION_SOURCE = '''\
class ShiftedWindowAttention(nn.Module):
    """torchvision's ShiftedWindowAttention: attention in shifted windows (Swin)."""

    def __init__(
        self,
        dim,
        window_size,
        shift_size,
        num_heads,
        qkv_bias=True,
        proj_bias=True,
        attention_dropout=0.0,
        dropout=0.0,
    ):
        super().__init__()
        self.window_size = window_size
        self.shift_size = shift_size
        self.num_heads = num_heads
        self.attention_dropout = attention_dropout
        self.dropout = dropout
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim, bias=proj_bias)
        wh, ww = window_size
        table = torch.zeros((2 * wh - 1) * (2 * ww - 1), num_heads)
        self.relative_position_bias_table = nn.Parameter(table)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        # the table row of each pair of positions in a window: their relative offset
        coords = torch.cartesian_prod(torch.arange(wh), torch.arange(ww)).T
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)
        index = (rel[:, :, 0] + wh - 1) * (2 * ww - 1) + rel[:, :, 1] + ww - 1
        self.relative_position_index = nn.Buffer(index.flatten())

    def shift_mask(self, x, pad_h, pad_w, sh, sw):
        """-100 between positions that the cyclic shift brought into one window."""
        wh, ww = self.window_size
        mask = x.new_zeros((pad_h, pad_w))
        count = 0
        for h in ((0, -wh), (-wh, -sh), (-sh, None)):
            for w in ((0, -ww), (-ww, -sw), (-sw, None)):
                mask[h[0] : h[1], w[0] : w[1]] = count
                count += 1
        mask = mask.view(pad_h // wh, wh, pad_w // ww, ww).permute(0, 2, 1, 3)
        mask = mask.reshape(-1, wh * ww)
        mask = mask.unsqueeze(1) - mask.unsqueeze(2)
        return mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)

    def forward(self, x):
        wh, ww = self.window_size
        n = wh * ww
        bias = self.relative_position_bias_table[self.relative_position_index]
        bias = bias.view(n, n, -1).permute(2, 0, 1).contiguous().unsqueeze(0)
        b, h, w, c = x.shape
        # pad the feature map to multiples of the window size
        x = nn.functional.pad(x, (0, 0, 0, (ww - w % ww) % ww, 0, (wh - h % wh) % wh))
        _, pad_h, pad_w, _ = x.shape
        # no shift along a side that one window covers
        sh = self.shift_size[0] if wh < pad_h else 0
        sw = self.shift_size[1] if ww < pad_w else 0
        if sh + sw > 0:
            x = torch.roll(x, shifts=(-sh, -sw), dims=(1, 2))
        # partition windows: [B * windows, Wh * Ww, C]
        x = x.view(b, pad_h // wh, wh, pad_w // ww, ww, c).permute(0, 1, 3, 2, 4, 5)
        x = x.reshape(-1, n, c)
        heads = self.num_heads
        qkv = nn.functional.linear(x, self.qkv.weight, self.qkv.bias)
        qkv = qkv.reshape(x.size(0), n, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        q = q * (c // heads) ** -0.5
        attn = q.matmul(k.transpose(-2, -1)) + bias
        if sh + sw > 0:
            mask = self.shift_mask(x, pad_h, pad_w, sh, sw)
            attn = attn.view(b, -1, heads, n, n) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, heads, n, n)
        attn = nn.functional.softmax(attn, dim=-1)
        p = self.attention_dropout
        attn = nn.functional.dropout(attn, p=p, training=self.training)
        x = attn.matmul(v).transpose(1, 2).reshape(x.size(0), n, c)
        x = nn.functional.linear(x, self.proj.weight, self.proj.bias)
        x = nn.functional.dropout(x, p=self.dropout, training=self.training)
        # reverse windows and the shift, and cut the padding off
        x = x.view(b, pad_h // wh, pad_w // ww, wh, ww, c).permute(0, 1, 3, 2, 4, 5)
        x = x.reshape(b, pad_h, pad_w, c)
        if sh + sw > 0:
            x = torch.roll(x, shifts=(sh, sw), dims=(1, 2))
        return x[:, :h, :w, :].contiguous()
'''

PAD_SOURCE = '''\
def patch_merging_pad(x):
    """torchvision's _patch_merging_pad: [..., H, W, C] -> [..., H/2, W/2, 4*C]."""
    h, w, _ = x.shape[-3:]
    x = nn.functional.pad(x, (0, 0, 0, w % 2, 0, h % 2))
    x0 = x[..., 0::2, 0::2, :]  # ... H/2 W/2 C
    x1 = x[..., 1::2, 0::2, :]  # ... H/2 W/2 C
    x2 = x[..., 0::2, 1::2, :]  # ... H/2 W/2 C
    x3 = x[..., 1::2, 1::2, :]  # ... H/2 W/2 C
    return torch.cat([x0, x1, x2, x3], -1)  # ... H/2 W/2 4*C
'''


def _ceil_to(size: Dim, k: int) -> Dim:
    """``size`` rounded up to a multiple of ``k`` (torchvision pads the map to whole windows)."""
    return D.mul(D.floordiv(D.add(size, k - 1), k), k)


@register
class ShiftedWindowAttention(Layer):
    """torchvision's ShiftedWindowAttention: multi-head self-attention in (shifted) windows of [B, H, W, C]."""

    family: ClassVar[str] = "attention"
    module_source = ATTENTION_SOURCE
    arg_order = (
        "dim",
        "window_size",
        "shift_size",
        "num_heads",
        "qkv_bias",
        "proj_bias",
        "attention_dropout",
        "dropout",
    )
    examples = [
        Example({"dim": 8, "window_size": [2, 2], "shift_size": [1, 1], "num_heads": 2}, (2, 4, 6, 8), (2, 4, 6, 8)),
        Example({"window_size": [3, 3], "shift_size": [0, 0], "num_heads": 3}, (1, 5, 4, 6), (1, 5, 4, 6)),
        Example(
            {"window_size": [7, 7], "shift_size": [3, 3], "num_heads": 1, "qkv_bias": False}, (1, 5, 5, 4), (1, 5, 5, 4)
        ),
        Example(
            {"dim": 6, "window_size": [2, 2], "shift_size": [1, 1], "num_heads": 2},
            (1, 4, 4, 8),
            error="AC202",
            fixed={"dim": 8},
        ),
        Example({"window_size": [2, 2], "shift_size": [1, 1], "num_heads": 3}, (1, 4, 4, 8), error="AC215"),
        Example({"window_size": [2, 2], "shift_size": [1, 1], "num_heads": 2}, (4, 4, 8), error="AC204"),
    ]

    dim: Optional[Pos] = None  # torchvision requires it; archcheck reads it from the input's last dim
    window_size: Pair
    shift_size: NonNegPair
    num_heads: Pos
    qkv_bias: bool = True
    proj_bias: bool = True
    attention_dropout: Prob = 0.0
    dropout: Prob = 0.0

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        (x,) = xs
        if not expect_rank(ctx, x, (4,), "ShiftedWindowAttention", "[B, H, W, C] (channels last)"):
            return None
        if not need_float(ctx, x, "ShiftedWindowAttention"):
            return None
        c = match_size(ctx, "dim", self.dim, x, -1, "ShiftedWindowAttention", "AC202", "last dim")
        if c is None:
            return None
        if exact_div(c, self.num_heads)[1] is False:
            ctx.error(
                "AC215",
                f"ShiftedWindowAttention splits dim={c} into num_heads={self.num_heads} heads, but {c} is not "
                f"divisible by {self.num_heads} (input {x.describe()}, {ctx.source(x)})",
                field="num_heads",
                hint="use a num_heads that divides dim",
            )
            return None
        for i, (s, w) in enumerate(zip(self.shift_size, self.window_size, strict=True)):
            if s >= w:
                ctx.warn(
                    "AC260",
                    f"shift_size[{i}]={s} is not smaller than window_size[{i}]={w}: the shifted windows and "
                    "their attention mask are meant for a shift inside one window (Swin shifts by half of it)",
                    field="shift_size",
                    hint=f"use shift_size [{self.window_size[0] // 2}, {self.window_size[1] // 2}] (or 0: no shift)",
                )
                break
        return x.passed()

    def _dim(self) -> int:
        assert self.dim is not None  # filled by infer
        return self.dim

    def param_shapes(self) -> dict[str, tuple[int, ...]] | None:
        c, (wh, ww) = self._dim(), self.window_size
        out: dict[str, tuple[int, ...]] = {
            "relative_position_bias_table": ((2 * wh - 1) * (2 * ww - 1), self.num_heads)
        }
        out["qkv.weight"] = (3 * c, c)
        if self.qkv_bias:
            out["qkv.bias"] = (3 * c,)
        out["proj.weight"] = (c, c)
        if self.proj_bias:
            out["proj.bias"] = (c,)
        return out

    def param_count(self) -> int:
        shapes = self.param_shapes()
        assert shapes is not None
        total = 0
        for s in shapes.values():
            k = 1
            for d in s:
                k *= d
            total += k
        return total

    def macs(self, xs: list[Tensor], out: Tensor) -> int | None:
        b, h, w, c = xs[0].shape
        wh, ww = self.window_size
        ph, pw = _ceil_to(h, wh), _ceil_to(w, ww)
        positions = numel_per((b, ph, pw))  # the batch N counted as 1 (MACs per N)
        if positions is None or not isinstance(c, int):
            return None
        return positions * (4 * c * c + 2 * wh * ww * c)  # qkv + proj, QK^T + AV (torch's FlopCounterMode)

    def torch_leaves(self, out: Tensor) -> list[TorchLeaf]:
        return []  # its forward uses qkv's and proj's weights (F.linear), as torchvision's: no module runs

    def label(self) -> str:
        wh, ww = self.window_size
        sh, sw = self.shift_size
        shift = "" if not (sh or sw) else f", shift {sh}" if sh == sw else f", shift {sh}x{sw}"
        return f"{self.num_heads} heads, {wh}x{ww}{shift}"


@register
class PatchMergingPad(Layer):
    """torchvision's _patch_merging_pad: [..., H, W, C] -> [..., ceil(H/2), ceil(W/2), 4C] (PatchMerging's first step)."""

    family: ClassVar[str] = "reshape"
    function_source = PAD_SOURCE
    examples = [
        Example({}, (2, 4, 6, 3), (2, 2, 3, 12)),
        Example({}, (1, 5, 7, 2), (1, 3, 4, 8)),
        Example({}, (3, 3, 5), (2, 2, 20)),
        Example({}, (4, 5), error="AC204"),
    ]

    def infer(self, ctx: Ctx, xs: list[Tensor]) -> Tensor | None:
        (x,) = xs
        if x.rank < 3:
            ctx.error(
                "AC204",
                f"PatchMergingPad expects an input [..., H, W, C] with at least 3 dims, but its input is "
                f"{x.describe()} ({ctx.source(x)})",
                hint="PatchMerging works on a channels-last map [B, H, W, C]: Permute the channels last first",
            )
            return None
        *lead, h, w, c = x.shape
        half_h, half_w = D.floordiv(D.add(h, 1), 2), D.floordiv(D.add(w, 1), 2)
        return x.derived(
            (*lead, half_h, half_w, D.mul(c, 4)),
            ctx.path,
            origin=f"2x2 patches of {x.describe()} to the channels ({ctx.source(x)})",
        )

    def emit_call(self, ref: str | None, args: list[str]) -> str:
        return f"patch_merging_pad({args[0]})"

    def label(self) -> str:
        return "2x2 -> channels"
