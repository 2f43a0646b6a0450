"""The PrCRS network, written from the paper's description.

The factor vector of one patient-day is treated as a short sequence (one position per factor,
catalogue order). A 1-D convolution embeds it into ``dim`` channels (plus a learned embedding of
each factor's position); a time U-Net (full-length block -> stride-2 downsampled block ->
upsampled and added to the skip -> full-length block) is built from Squeezeformer-style blocks
(multi-head attention then feed-forward, convolution module then feed-forward; each sub-module is
residual with post-LayerNorm and a learned per-channel scaling of its input); the sequence is
mean-pooled and classified into logits.

Normalisation lives inside the module (``RobustScaler``): log1p of the raw value, centred and
scaled by the median and IQR of the training patients, clamped, so the exported file takes RAW
values in catalogue units and order. Everything here is TorchScript-scriptable.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

CLAMP_Z = 6.0


def robust_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw medians, and median / IQR of log1p(raw) per column (IQR floored so it is never 0)."""
    x = np.asarray(x, dtype=np.float64)
    with warnings.catch_warnings():  # columns absent from a cohort are all-NaN: stats become NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        raw_median = np.nanmedian(x, axis=0)
        logx = np.log1p(np.clip(x, 0.0, None))
        med = np.nanmedian(logx, axis=0)
        q75, q25 = np.nanpercentile(logx, 75, axis=0), np.nanpercentile(logx, 25, axis=0)
        iqr = np.nan_to_num(q75 - q25, nan=0.0)
        spread = np.nan_to_num(np.nanstd(logx, axis=0) * 1.349, nan=0.0)
    iqr = np.where(iqr > 1e-6, iqr, np.where(spread > 1e-6, spread, 1.0))
    iqr = np.maximum(iqr, 1e-3)
    return raw_median, med, iqr


class RobustScaler(nn.Module):
    """Raw values -> clamp((log1p(max(x,0)) - median) / IQR, -c, c); NaN -> the training median."""

    def __init__(self, n: int, clamp: float = CLAMP_Z):
        super().__init__()
        self.register_buffer("raw_median", torch.zeros(n))
        self.register_buffer("log_median", torch.zeros(n))
        self.register_buffer("log_iqr", torch.ones(n))
        self.clamp = clamp

    def set_stats(self, x: np.ndarray) -> None:
        raw_median, med, iqr = robust_stats(x)
        raw_median = np.where(np.isnan(raw_median), 0.0, raw_median)
        med = np.where(np.isnan(med), 0.0, med)
        self.raw_median.copy_(torch.as_tensor(raw_median, dtype=torch.float32))
        self.log_median.copy_(torch.as_tensor(med, dtype=torch.float32))
        self.log_iqr.copy_(torch.as_tensor(iqr, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.where(torch.isnan(x), self.raw_median.unsqueeze(0).expand_as(x), x)
        z = (torch.log1p(torch.clamp(x, min=0.0)) - self.log_median) / self.log_iqr
        return torch.clamp(z, -self.clamp, self.clamp)


class Scale(nn.Module):
    """Learned per-channel scaling and shift of a sub-module's input (Squeezeformer)."""

    def __init__(self, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight + self.bias


class FeedForward(nn.Module):
    def __init__(self, dim: int, expansion: int, dropout: float):
        super().__init__()
        self.fc1 = nn.Linear(dim, dim * expansion)
        self.fc2 = nn.Linear(dim * expansion, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(F.silu(self.fc1(x)))))


class ConvModule(nn.Module):
    """Pointwise conv + GLU, depthwise conv, channel norm, SiLU, pointwise conv (on [B, L, D])."""

    def __init__(self, dim: int, kernel: int, dropout: float):
        super().__init__()
        self.pw1 = nn.Conv1d(dim, 2 * dim, 1)
        self.dw = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=dim)
        self.norm = nn.LayerNorm(dim)  # per position: independent of batch size
        self.pw2 = nn.Conv1d(dim, dim, 1)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.glu(self.pw1(x.transpose(1, 2)), dim=1)
        h = self.dw(h).transpose(1, 2)
        h = F.silu(self.norm(h)).transpose(1, 2)
        return self.drop(self.pw2(h).transpose(1, 2))


class SqueezeBlock(nn.Module):
    """MHSA -> FF -> Conv -> FF, each residual with post-LayerNorm and scaled input."""

    def __init__(self, dim: int, heads: int, kernel: int, expansion: int, dropout: float):
        super().__init__()
        self.scale_att = Scale(dim)
        self.att = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm_att = nn.LayerNorm(dim)
        self.scale_ff1 = Scale(dim)
        self.ff1 = FeedForward(dim, expansion, dropout)
        self.norm_ff1 = nn.LayerNorm(dim)
        self.scale_conv = Scale(dim)
        self.conv = ConvModule(dim, kernel, dropout)
        self.norm_conv = nn.LayerNorm(dim)
        self.scale_ff2 = Scale(dim)
        self.ff2 = FeedForward(dim, expansion, dropout)
        self.norm_ff2 = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.scale_att(x)
        a, _ = self.att(h, h, h, need_weights=False)
        x = self.norm_att(x + self.drop(a))
        x = self.norm_ff1(x + self.ff1(self.scale_ff1(x)))
        x = self.norm_conv(x + self.conv(self.scale_conv(x)))
        x = self.norm_ff2(x + self.ff2(self.scale_ff2(x)))
        return x


class PrCRSNet(nn.Module):
    """Raw factor vector [B, n] -> logits [B, n_classes]."""

    def __init__(self, n_factors: int, n_classes: int = 2, dim: int = 32, heads: int = 4,
                 kernel: int = 3, expansion: int = 2, dropout: float = 0.1):
        super().__init__()
        self.n_factors = n_factors
        self.scaler = RobustScaler(n_factors)
        self.embed = nn.Conv1d(1, dim, kernel, padding=kernel // 2)
        self.position = nn.Parameter(torch.randn(1, n_factors, dim) * 0.02)
        self.enc = SqueezeBlock(dim, heads, kernel, expansion, dropout)
        self.down = nn.Conv1d(dim, dim, 3, stride=2, padding=1)
        self.mid = SqueezeBlock(dim, heads, kernel, expansion, dropout)
        self.up = nn.Linear(dim, dim)
        self.dec = SqueezeBlock(dim, heads, kernel, expansion, dropout)
        self.head = nn.Linear(dim, n_classes)

    def features(self, z: torch.Tensor) -> torch.Tensor:
        """Normalised factors [B, n] -> pooled representation [B, dim]."""
        h = self.embed(z.unsqueeze(1)).transpose(1, 2) + self.position  # [B, n, dim]
        skip = self.enc(h)
        low = self.down(skip.transpose(1, 2)).transpose(1, 2)  # [B, ceil(n/2), dim]
        low = self.mid(low)
        up = torch.repeat_interleave(low, 2, dim=1)[:, : skip.shape[1], :]
        h = self.dec(skip + self.up(up))
        return h.mean(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(self.scaler(x)))

    def replace_head(self, n_classes: int) -> None:
        dim = self.head.in_features
        self.head = nn.Linear(dim, n_classes)

    def frozen_parameter_names(self) -> list[str]:
        """The convolution and attention layers (frozen when fine-tuning a pre-trained net)."""
        names = []
        for name, _ in self.named_parameters():
            if name.startswith(("embed.", "down.")) or ".att." in name or ".conv." in name:
                names.append(name)
        return names


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def init_seed(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))


__all__ = ["PrCRSNet", "RobustScaler", "robust_stats", "count_parameters", "init_seed", "math"]
