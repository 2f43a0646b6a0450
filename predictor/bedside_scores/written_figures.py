"""The file the pipeline writes the scores' development figures to, and reading it back.

Kept apart from ``evaluation`` (which computes them with the training code): the pages only read
the file, and importing the evaluation put the training stack (LightGBM, scikit-learn, pandas)
into every gunicorn worker, ~100 MiB of the 512 MiB a worker may hold.
"""

from __future__ import annotations

import json
from pathlib import Path

FILE_NAME = "bedside_scores.json"  # next to evaluation.json in the models folder


def read_bedside_evaluation(models_dir: Path) -> dict | None:
    """The written figures, or None where there are none (or they cannot be read)."""
    try:
        data = json.loads((Path(models_dir) / FILE_NAME).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
