"""Register the model files shipped in ``models_store/`` as the default versions.

Runs after every ``migrate`` (so a fresh database serves out of the box) and is idempotent: a
file already recorded for its slot (same SHA-256) is skipped. A new bundled file becomes active
only where the slot has no active version or a bundled one; an admin's upload is never replaced.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from django.conf import settings

from predictor.baselines import BaselineError, parse_baseline_csv
from predictor.catalogue import COMBINATION_CODES, HORIZONS
from predictor.model_files import BASELINE_NAME, read_extra_files, read_manifest
from predictor.model_store import sha256_of

log = logging.getLogger(__name__)
_SLOT_FILE = re.compile(r"^h(?P<horizon>\d)_c(?P<combination>\d+)\.pt$")


def bundled_files(directory: Path) -> list[tuple[int, str, Path]]:
    found = []
    for path in sorted(directory.glob("h*_c*.pt")):
        match = _SLOT_FILE.match(path.name)
        if match and int(match["horizon"]) in HORIZONS and match["combination"] in COMBINATION_CODES:
            found.append((int(match["horizon"]), match["combination"], path))
    return found


def register_bundled_models(directory: Path | None = None) -> list:
    """Record (and where appropriate activate) each bundled file; returns the new versions."""
    from predictor.models import ModelVersion
    from predictor.versions import activate, record_version

    directory = Path(directory or settings.PRCRS_BUNDLED_MODELS_DIR)
    created = []
    for horizon, combination, path in bundled_files(directory):
        data = path.read_bytes()
        slot = ModelVersion.objects.filter(horizon=horizon, combination=combination)
        if slot.filter(sha256=sha256_of(data)).exists():
            continue
        try:
            extras = read_extra_files(data)
            baseline = parse_baseline_csv(extras[BASELINE_NAME])
        except (KeyError, ValueError, BaselineError) as exc:
            log.error("bundled model %s skipped: no usable %s (%s)", path.name, BASELINE_NAME, exc)
            continue
        mv = record_version(horizon=horizon, combination=combination, data=data,
                            original_name=path.name, manifest=read_manifest(extras),
                            baseline=baseline, source=ModelVersion.Source.BUNDLED)
        active = slot.filter(state=ModelVersion.State.ACTIVE).first()
        if active is None or active.source == ModelVersion.Source.BUNDLED:
            activate(mv)
        created.append(mv)
    return created


def register_after_migrate(sender, **kwargs) -> None:
    if settings.PRCRS_REGISTER_BUNDLED_MODELS:
        created = register_bundled_models()
        if created and kwargs.get("verbosity", 1):
            print(f"  Registered {len(created)} bundled model file(s).")
