"""Formula cells without a stored value, found in the worksheet XML itself.

The sheet is read with openpyxl's ``data_only=True``: a formula cell gives the value Excel
stored when it last saved the file, and nothing is ever evaluated here. A formula cell with no
stored value (a file written by a program that does not calculate) would read as an empty cell
and silently lose a lab value, and openpyxl cannot tell it from a blank cell, so the XML is
scanned for ``<c><f>..</f></c>`` without ``<v>``. A fast byte search skips the scan for the
usual sheet without formulas.
"""

from __future__ import annotations

import re
import zipfile
from xml.etree import ElementTree

_FORMULA_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?f[\s/>]")
_CHUNK = 1 << 20


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _has_formula_tag(archive: zipfile.ZipFile, path: str) -> bool:
    tail = b""
    with archive.open(path) as stream:
        while chunk := stream.read(_CHUNK):
            if _FORMULA_TAG.search(tail + chunk):
                return True
            tail = chunk[-64:]
    return False


def formula_cells_without_value(archive: zipfile.ZipFile, path: str) -> list[str]:
    """Coordinates (``B7``) of formula cells in worksheet ``path`` that hold no stored value."""
    if not _has_formula_tag(archive, path):
        return []
    found: list[str] = []
    with archive.open(path) as stream:
        for _event, element in ElementTree.iterparse(stream, events=("end",)):
            name = _local(element.tag)
            if name == "c":
                children = {_local(child.tag): child for child in element}
                if "f" in children and not (children.get("v") is not None
                                            and (children["v"].text or "").strip()):
                    found.append(element.get("r") or "?")
                element.clear()
            elif name == "row":
                element.clear()
    return found
