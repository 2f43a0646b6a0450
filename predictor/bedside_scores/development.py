"""The scores' figures on the development patients, as the pipeline wrote them
(``bedside_scores.json`` in the bundled models folder), for the pages and the model cards."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from predictor.bedside_scores.written_figures import FILE_NAME, read_bedside_evaluation

_cache: dict[tuple, dict | None] = {}


def development_figures() -> dict | None:
    """The written evaluation, re-read only when the file changes; None where there is none."""
    path = Path(settings.PRCRS_BUNDLED_MODELS_DIR) / FILE_NAME
    try:
        stamp = (str(path), path.stat().st_mtime_ns)
    except OSError:
        return None
    if stamp not in _cache:
        _cache.clear()
        _cache[stamp] = read_bedside_evaluation(path.parent)
    return _cache[stamp]


def score_auroc(horizon: int, subset: str, key: str) -> float | None:
    """The AUROC of score ``key`` at ``horizon`` on ``subset`` ("all" or "new_onset")."""
    data = development_figures() or {}
    found = data.get("horizons", {}).get(str(horizon), {}).get(subset, {}).get(key, {})
    value = found.get("auroc") if isinstance(found, dict) else None
    return float(value) if isinstance(value, (int, float)) else None
