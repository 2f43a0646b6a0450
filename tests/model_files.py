"""Real, tiny TorchScript model files for tests and benchmarks (spec section 4 contract)."""

from __future__ import annotations

import io
import json
import zipfile

import torch

from predictor.catalogue import CONTEXT_KEYS, FACTORS_BY_KEY, combination_factor_keys


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


def manifest(horizon: int, combination: str, *, context: str = "", **extra) -> dict:
    """A manifest of format version 1 (labs only) or, with ``context``, 2 (labs then CRS grade
    and day, in catalogue order unless ``context_keys`` is given in ``extra``)."""
    keys = combination_factor_keys(combination)
    data = {
        "format_version": 2 if context else 1, "horizon": horizon, "combination": combination,
        "factor_keys": list(keys),
        "medians": {k: sum(FACTORS_BY_KEY[k].typical) / 2 for k in keys},
        "training_data": {"en": "synthetic test data", "zh-hans": "合成测试数据"},
        "metrics": {"patient_cv": {"auroc": 0.5}}, "model_type": "tiny linear",
        "seed": 0, "code_version": "test", "created_at": "2026-11-21T00:00:00Z",
    }
    if context:
        data["context_keys"] = list(CONTEXT_KEYS)
    data.update(extra)
    return data


def tiny_model_bytes(horizon: int, combination: str, *, bias: float = 0.0,
                     with_manifest: bool = True, with_baseline: bool = True,
                     module: torch.nn.Module | None = None, context: str = "",
                     manifest_extra: dict | None = None, baseline: str | None = None,
                     width: int | None = None) -> bytes:
    """A real TorchScript file: labs only, or with ``context`` (format version 2) labs then the
    two context values, n + 2 inputs (combination "0": the 2 context values alone).
    ``width`` overrides the input width (a file that ignores the context, say)."""
    if width is None:
        width = len(combination_factor_keys(combination)) + (len(CONTEXT_KEYS) if context else 0)
    scripted = torch.jit.script(module if module is not None else TinyModel(width, bias))
    extras = {}
    if with_manifest:
        extras["manifest.json"] = json.dumps(manifest(horizon, combination, context=context,
                                                      **(manifest_extra or {})))
    if with_baseline:
        extras["baseline.csv"] = baseline if baseline is not None else baseline_csv()
    buffer = io.BytesIO()
    torch.jit.save(scripted, buffer, _extra_files=extras)
    return buffer.getvalue()


def rewritten_archive(data: bytes, change) -> bytes:
    """A copy of the zip ``data`` (a TorchScript file) rewritten entry by entry:
    ``change(name, content)`` returns the (name, content) pairs to write in its place (none to
    drop the entry, two of one name to double it; zipfile then warns "Duplicate name")."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            for name, content in change(info.filename, source.read(info)):
                target.writestr(name, content)
    return out.getvalue()
