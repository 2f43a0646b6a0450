"""Register the model files shipped in ``models_store/`` as the default versions.

File names (spec section 4): ``h{h}_c{code}.pt`` (labs only), ``h{h}_c{code}_ctx.pt`` (labs and
today's CRS grade and day) and ``h{h}_c0_ctx.pt`` (the no-lab reference). A ``_ctx`` file is
registered into the context slot only when its manifest declares the two context keys; a
labs-only name whose manifest declares them is skipped (it would be fed the wrong width).

Runs after every ``migrate`` (so a fresh database serves out of the box) and is idempotent: a
file already recorded for its slot (same SHA-256) is skipped. A new bundled file becomes active
only where the slot has no active version or a bundled one; an admin's upload is never replaced.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from django.conf import settings

from predictor.catalogue import (
    COMBINATION_CODES,
    CONTEXT_BOTH,
    CONTEXT_KEYS,
    CONTEXT_NONE,
    HORIZONS,
    REFERENCE_COMBINATION,
)
from predictor.model_versions.baselines import BaselineError, parse_baseline_csv
from predictor.model_versions.model_files import BASELINE_NAME, read_extra_files, read_manifest
from predictor.model_versions.model_store import sha256_of

log = logging.getLogger(__name__)
_SLOT_FILE = re.compile(r"^h(?P<horizon>\d)_c(?P<combination>\d+)(?P<ctx>_ctx)?\.pt$")


def bundled_files(directory: Path, *, with_context: bool = False) -> list[tuple]:
    """The slot files in ``directory``: (horizon, combination, path) for the labs-only files,
    or with ``with_context`` (horizon, combination, context, path) for every kind."""
    found = []
    for path in sorted(directory.glob("h*_c*.pt")):
        match = _SLOT_FILE.match(path.name)
        if not match or int(match["horizon"]) not in HORIZONS:
            continue
        context = CONTEXT_BOTH if match["ctx"] else CONTEXT_NONE
        code = match["combination"]
        if code not in COMBINATION_CODES and not (code == REFERENCE_COMBINATION and context):
            continue
        if with_context:
            found.append((int(match["horizon"]), code, context, path))
        elif not context:
            found.append((int(match["horizon"]), code, path))
    return found


def _manifest_context(manifest: dict | None) -> str:
    keys = (manifest or {}).get("context_keys")
    if isinstance(keys, list) and sorted(keys) == sorted(CONTEXT_KEYS):
        return CONTEXT_BOTH
    return CONTEXT_NONE


def register_bundled_models(directory: Path | None = None) -> list:
    """Record (and where appropriate activate) each bundled file; returns the new versions."""
    from predictor.model_versions.versions import activate, record_version
    from predictor.models import ModelVersion

    directory = Path(directory or settings.PRCRS_BUNDLED_MODELS_DIR)
    created = []
    for horizon, combination, context, path in bundled_files(directory, with_context=True):
        data = path.read_bytes()
        slot = ModelVersion.objects.filter(horizon=horizon, combination=combination,
                                           context=context)
        if slot.filter(sha256=sha256_of(data)).exists():
            continue
        try:
            extras = read_extra_files(data)
            baseline = parse_baseline_csv(extras[BASELINE_NAME])
            manifest = read_manifest(extras)
        except (KeyError, ValueError, BaselineError) as exc:
            log.error("bundled model %s skipped: no usable %s (%s)", path.name, BASELINE_NAME, exc)
            continue
        if _manifest_context(manifest) != context:
            log.error("bundled model %s skipped: its manifest's context_keys (%s) do not match "
                      "its name", path.name, (manifest or {}).get("context_keys"))
            continue
        mv = record_version(horizon=horizon, combination=combination, data=data,
                            original_name=path.name, manifest=manifest,
                            baseline=baseline, source=ModelVersion.Source.BUNDLED,
                            context=context)
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
