"""How much a model file's predicted probability moves when the sheet's chloride or sodium
artefact is replaced by a plausible value (issue 8, item 5).

For every file in a folder (labs-only and context files alike; the no-lab reference has no lab
and is skipped), on the development rows of its horizon:
- chloride: every row's chloride is replaced by a plausible one, drawn uniformly from 96-108
  mmol/L (seeded, the same draws for every file of a horizon); shift = |p(plausible) - p(sheet)|
  over all rows;
- sodium: on the rows whose sheet sodium is a factor-10 slip (``data.fix_sodium``), the value the
  file's own pipeline fed it is replaced by ten times the sheet's value; shift over those rows.

"The value the file's own pipeline fed it": files trained on the raw sheet (before the fixes)
get the raw sheet; files trained after the fixes (``manifest.sodium_rule`` present) get the
corrected sodium, so for them the sodium shift is zero by construction: the fix lives in the
data, not in the model. Chloride always starts from the sheet's value (about 15 mmol/L).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from predictor.catalogue import FACTOR_KEYS
from predictor.training.data import HorizonRows
from predictor.training.export import read_extra_files

PLAUSIBLE_CHLORIDE = (96.0, 108.0)


def _probability(module, x: np.ndarray) -> np.ndarray:
    with torch.inference_mode(), torch.jit.optimized_execution(False):
        logits = module(torch.as_tensor(np.asarray(x, dtype=np.float32)))
        return torch.softmax(logits, dim=1)[:, 1].double().numpy()


def _stats(shift: np.ndarray) -> dict:
    if len(shift) == 0:
        return {"n": 0, "p50": None, "p90": None, "max": None}
    return {"n": int(len(shift)), "p50": float(np.percentile(shift, 50)),
            "p90": float(np.percentile(shift, 90)), "max": float(shift.max())}


def file_sensitivity(path: Path, rows: HorizonRows, *, seed: int) -> dict | None:
    """The chloride and sodium shifts of one file (None for a file without lab factors)."""
    manifest = json.loads(read_extra_files(path)["manifest.json"])
    keys = manifest["factor_keys"]
    if not keys:
        return None
    idx = [FACTOR_KEYS.index(k) for k in keys]
    fixed = "sodium_rule" in manifest
    x = (rows.x if fixed else rows.x_sheet)[:, idx].copy()
    sheet = rows.x_sheet[:, idx]
    if "chloride" in keys:  # every file starts from the sheet's chloride
        x[:, keys.index("chloride")] = sheet[:, keys.index("chloride")]
    if manifest.get("context_keys"):
        ctx = {"crs_grade": rows.grade_today, "day": rows.day}
        x = np.hstack([x] + [np.asarray(ctx[k], dtype=np.float64)[:, None]
                             for k in manifest["context_keys"]])
    module = torch.jit.load(str(path), map_location="cpu").eval()
    base = _probability(module, x)
    out = {"chloride": None, "sodium": None}
    if "chloride" in keys:
        rng = np.random.default_rng(seed + rows.horizon)
        alt = x.copy()
        alt[:, keys.index("chloride")] = rng.uniform(*PLAUSIBLE_CHLORIDE, size=len(x))
        out["chloride"] = _stats(np.abs(_probability(module, alt) - base))
    if "sodium" in keys and rows.sodium_slip is not None:
        j = keys.index("sodium")
        slip = rows.sodium_slip
        alt = x[slip].copy()
        alt[:, j] = sheet[slip, j] * 10.0
        out["sodium"] = _stats(np.abs(_probability(module, alt) - base[slip]))
    return out


def folder_sensitivity(folder: Path, rows_by_horizon: dict[int, HorizonRows], *,
                       seed: int = 0) -> dict:
    """{file stem: {"chloride": stats, "sodium": stats}} for every model file in ``folder``."""
    out = {}
    for path in sorted(Path(folder).glob("h*_c*.pt")):
        horizon = int(path.stem.split("_")[0][1:])
        if horizon not in rows_by_horizon:
            continue
        result = file_sensitivity(path, rows_by_horizon[horizon], seed=seed)
        if result is not None:
            out[path.stem] = result
    return out
