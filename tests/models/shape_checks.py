"""A model torch.fx cannot trace (control flow on shapes): archcheck import falls back to forward hooks."""

import torch.nn as nn


class Stage(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)
        self.act = nn.ReLU()

    def forward(self, x):
        if x.shape[1] != self.conv.in_channels:
            raise ValueError("wrong channels")
        return self.act(self.conv(x))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.s1 = Stage(3, 8)
        self.s2 = Stage(8, 16)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flat = nn.Flatten()
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        assert x.dim() == 4, "NCHW"
        if x.shape[-1] < 8:
            raise ValueError("too small")
        return self.fc(self.flat(self.pool(self.s2(self.s1(x)))))
