"""Where model files live on disk: immutable files under PRCRS_MODELS_DIR.

The database keeps each version's bytes as well, so a replica that has never seen a file (another
container, a fresh volume) writes it out from there before loading it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from django.conf import settings

from predictor.catalogue import slot_name


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stored_file_name(horizon: int, combination: str, version: int, sha256: str) -> str:
    return f"{slot_name(horizon, combination)}_v{version}_{sha256[:12]}.pt"


def models_dir() -> Path:
    path = Path(settings.PRCRS_MODELS_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_immutable(file_name: str, data: bytes) -> Path:
    """Write ``data`` under ``file_name`` unless a file with that name and content is there.

    Written to a temporary file and renamed, so no reader ever sees half a file.
    """
    target = models_dir() / file_name
    if target.exists() and target.stat().st_size == len(data):
        return target
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, target)
    return target


def materialise(file_name: str, size: int, load_content) -> Path:
    """The local path of a stored version, written from ``load_content()`` if missing here."""
    target = models_dir() / file_name
    if target.exists() and target.stat().st_size == size:
        return target
    return write_immutable(file_name, bytes(load_content()))
