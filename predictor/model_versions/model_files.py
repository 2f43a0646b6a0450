"""Reading what a TorchScript model archive carries besides the module (spec section 4)."""

from __future__ import annotations

import io
import json
import zipfile

MANIFEST_NAME = "manifest.json"
BASELINE_NAME = "baseline.csv"


def read_extra_files(data: bytes) -> dict[str, str]:
    """The archive's extra files (``<archive>/extra/<name>``) by name, read without unpickling.

    Reading the zip directly means nothing in the file is executed to look at its manifest.
    Raises ``zipfile.BadZipFile`` for bytes that are not a zip archive.
    """
    extras = {}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            parts = name.split("/")
            if len(parts) == 3 and parts[1] == "extra":
                extras[parts[2]] = archive.read(name).decode("utf-8")
    return extras


def read_manifest(extras: dict[str, str]) -> dict | None:
    text = extras.get(MANIFEST_NAME)
    return json.loads(text) if text else None
