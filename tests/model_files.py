"""Real, tiny TorchScript model files for tests and benchmarks (spec section 4 contract)."""

from __future__ import annotations

import io
import json

import torch

from predictor.catalogue import FACTORS_BY_KEY, combination_factor_keys


class TinyModel(torch.nn.Module):
    """log1p of the inputs, a linear layer to two logits: cheap, deterministic, monotone."""

    def __init__(self, width: int, bias: float = 0.0):
        super().__init__()
        self.linear = torch.nn.Linear(width, 2)
        with torch.no_grad():
            self.linear.weight.zero_()
            self.linear.weight[1].fill_(1.0 / width)
            self.linear.bias.copy_(torch.tensor([0.0, bias]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(torch.log1p(x.clamp(min=0.0)))


def baseline_csv(rows: int = 60) -> str:
    lines = ["probability,severe"]
    for i in range(rows):
        p = (i + 0.5) / rows
        lines.append(f"{p:.4f},{1 if (i * 7) % rows < p * rows else 0}")
    return "\n".join(lines) + "\n"


def manifest(horizon: int, combination: str, **extra) -> dict:
    keys = combination_factor_keys(combination)
    data = {
        "format_version": 1, "horizon": horizon, "combination": combination,
        "factor_keys": list(keys),
        "medians": {k: sum(FACTORS_BY_KEY[k].typical) / 2 for k in keys},
        "training_data": {"en": "synthetic test data", "zh-hans": "合成测试数据"},
        "metrics": {"patient_cv": {"auroc": 0.5}}, "model_type": "tiny linear",
        "seed": 0, "code_version": "test", "created_at": "2026-11-21T00:00:00Z",
    }
    data.update(extra)
    return data


def tiny_model_bytes(horizon: int, combination: str, *, bias: float = 0.0,
                     with_manifest: bool = True, with_baseline: bool = True,
                     module: torch.nn.Module | None = None) -> bytes:
    width = len(combination_factor_keys(combination))
    scripted = torch.jit.script(module if module is not None else TinyModel(width, bias))
    extras = {}
    if with_manifest:
        extras["manifest.json"] = json.dumps(manifest(horizon, combination))
    if with_baseline:
        extras["baseline.csv"] = baseline_csv()
    buffer = io.BytesIO()
    torch.jit.save(scripted, buffer, _extra_files=extras)
    return buffer.getvalue()
