"""Writing a slot's model file (spec section 4) and checking it.

``torch.jit.save(scripted, path, _extra_files={"manifest.json": ..., "baseline.csv": ...})``;
``forward(x)`` takes float32 [B, n] raw values (catalogue units and order, the combination's
factors only) and returns [B, 2] logits; softmax index 1 is the raw probability of severe CRS.
"""

from __future__ import annotations

import datetime as _dt
import json
import subprocess
from pathlib import Path

import numpy as np
import torch
from torch import nn

from predictor.catalogue import CONTEXT_BOTH, CONTEXT_KEYS, combination_factor_keys, slot_name

FORMAT_VERSION = 1          # labs-only files (no context_keys): unchanged contract
CONTEXT_FORMAT_VERSION = 2  # files that declare context_keys (spec section 4)
MANIFEST_NAME = "manifest.json"
BASELINE_NAME = "baseline.csv"


class EnsembleModule(nn.Module):
    """Weighted mean of the members' probabilities, returned as logits (log(1-p), log(p)); with
    ``logit_mean`` the weighted mean of their log-odds (each probability kept inside
    [1e-7, 1 - 1e-7]), returned as logits (0, mean log-odds)."""

    def __init__(self, members: list[nn.Module], weights: list[float], logit_mean: bool = False):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.weights = [float(w) for w in weights]
        self.logit_mean = bool(logit_mean)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        acc = torch.zeros(x.shape[0], dtype=torch.float32, device=x.device)
        i = 0
        for member in self.members:
            q = torch.softmax(member(x), dim=1)[:, 1]
            if self.logit_mean:
                q = torch.clamp(q, 1e-7, 1.0 - 1e-7)
                q = torch.log(q) - torch.log1p(-q)
            acc = acc + self.weights[i] * q
            i += 1
        if self.logit_mean:
            return torch.stack([torch.zeros_like(acc), acc], dim=1)
        p = torch.clamp(acc, 1e-7, 1.0 - 1e-7)
        return torch.stack([torch.log1p(-p), torch.log(p)], dim=1)


class UnusedFactors(nn.Module):
    """Pins some input columns to constants before the wrapped model sees them, so the file
    accepts those factors (the contract width is unchanged) but its output cannot depend on
    them. Index and value buffers are float/long tensors: scriptable, batch-size free."""

    def __init__(self, inner: nn.Module, columns: list[int], values: list[float]):
        super().__init__()
        self.inner = inner
        self.register_buffer("columns", torch.as_tensor(columns, dtype=torch.long))
        self.register_buffer("values", torch.as_tensor(values, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        x[:, self.columns] = self.values.unsqueeze(0).expand(x.shape[0], -1)
        return self.inner(x)


def code_version(repo: Path | None = None) -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True,
                              cwd=repo or Path(__file__).resolve().parents[2]).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def build_manifest(horizon: int, combination: str, medians: np.ndarray, training_data: dict,
                   model_type: str, metrics: dict, seed: int, *, context: str = "",
                   **extra) -> dict:
    """The manifest of one file; with ``context`` (CONTEXT_BOTH) a format version 2 manifest
    whose ``context_keys`` follow the lab factors in the input (medians: lab keys only)."""
    keys = list(combination_factor_keys(combination))
    if len(medians) != len(keys):
        raise ValueError("one median per factor of the combination is needed")
    manifest = {
        "format_version": CONTEXT_FORMAT_VERSION if context else FORMAT_VERSION,
        "horizon": int(horizon),
        "combination": combination,
        "factor_keys": keys,
    }
    if context:
        if context != CONTEXT_BOTH:
            raise ValueError(f"the site serves one context, {CONTEXT_BOTH!r}")
        manifest["context_keys"] = list(CONTEXT_KEYS)
    manifest.update({
        "medians": {k: float(v) for k, v in zip(keys, medians)},
        "training_data": training_data,
        "model_type": model_type,
        "metrics": metrics,
        "seed": int(seed),
        "code_version": code_version(),
        "created_at": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
    })
    manifest.update(extra)
    return manifest


def input_width(manifest: dict) -> int:
    """Lab factors plus declared context values."""
    return len(manifest["factor_keys"]) + len(manifest.get("context_keys", ()))


def json_clean(obj):
    if isinstance(obj, dict):
        return {str(k): json_clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_clean(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return None if not np.isfinite(v) else round(v, 6)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def save_model(module: nn.Module, path: Path, manifest: dict, baseline_csv_text: str,
               check_seed: int = 0) -> torch.jit.ScriptModule:
    """Script, save with the extra files, reload and check the reloaded output to 1e-5."""
    module = module.eval()
    scripted = torch.jit.script(module)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    extra = {MANIFEST_NAME: json.dumps(json_clean(manifest), ensure_ascii=False, indent=1),
             BASELINE_NAME: baseline_csv_text}
    torch.jit.save(scripted, str(path), _extra_files=extra)
    medians = list(manifest.get("medians", {}).values())
    if manifest.get("context_keys"):
        medians += [1.0, 5.0]  # a mid grade and day, to probe around
    check_round_trip(module, path, input_width(manifest), medians or None, seed=check_seed)
    return scripted


def random_raw_inputs(n: int, medians=None, batch: int = 64, seed: int = 0) -> torch.Tensor:
    """Random raw inputs around the training medians (log-normal spread), float32 [batch, n]."""
    g = torch.Generator().manual_seed(seed)
    base = torch.ones(n) if medians is None else torch.tensor(
        [max(float(v), 1e-3) for v in (medians.values() if isinstance(medians, dict) else medians)])
    return (base * torch.exp(torch.randn(batch, n, generator=g))).float()


def check_round_trip(module: nn.Module, path: Path, n: int, medians=None, seed: int = 0,
                     atol: float = 1e-5) -> float:
    """The loaded file gives the in-memory module's output (to ``atol``) on random raw inputs."""
    loaded = torch.jit.load(str(path), map_location="cpu")
    loaded.eval()
    x = random_raw_inputs(n, medians, seed=seed)
    with torch.no_grad():
        a = module.eval()(x)
        b = loaded(x)
    if tuple(b.shape) != (x.shape[0], 2) or b.dtype != torch.float32:
        raise AssertionError(f"{path}: output shape {tuple(b.shape)} / {b.dtype}, expected [B, 2]")
    diff = float((a - b).abs().max())
    if not np.isfinite(diff) or diff > atol:
        raise AssertionError(f"{path}: reloaded output differs by {diff} (> {atol})")
    return diff


def read_extra_files(path: Path) -> dict[str, str]:
    extra = {MANIFEST_NAME: "", BASELINE_NAME: ""}
    torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    return {k: v.decode("utf-8") if isinstance(v, bytes) else v for k, v in extra.items()}


def model_path(out_dir: Path, horizon: int, combination: str, context: str = "") -> Path:
    return Path(out_dir) / f"{slot_name(horizon, combination, context)}.pt"
