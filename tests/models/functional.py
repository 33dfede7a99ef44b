"""Functional calls and tensor methods between modules: F.relu, F.max_pool2d, x.view(x.size(0), ...), permute, an LSTM's tuple, x[:, -1], torch.cat, mean, F.softmax."""

import torch
import torch.nn as nn
import torch.nn.functional as F


class V(nn.Module):
    def __init__(self, n_cls: int = 10):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding="same")
        self.lstm = nn.LSTM(8, 16, batch_first=True)
        self.head = nn.Linear(16, n_cls)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv(x)), 2)
        x = x.view(x.size(0), 8, -1).permute(0, 2, 1).contiguous()
        out, _ = self.lstm(x)
        y = out[:, -1]
        z = torch.cat([y, out.mean(dim=1)], dim=1)
        return F.softmax(self.head(z[:, :16] if False else y), dim=-1)
