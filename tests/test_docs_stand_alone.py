"""The README files and docs/ stand alone: they cite no document a reader of the repository
does not have (the product specification's sections, issue numbers, the development machine's
folders), and they name where the training data is published and how to fetch it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = sorted([ROOT / "README.md", ROOT / "models_store" / "README.md",
                    *(ROOT / "docs").glob("*.md")])
OUTSIDE = re.compile(r"\bspec(ification)?\s+sections?\b|\bspec\s*§|\bissues?\s+\d+|"
                     r"product\.md|/work/|briefs/|\.\./\.\./spec", re.IGNORECASE)


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_reference_to_a_document_outside_the_repository(document):
    lines = document.read_text(encoding="utf-8").splitlines()
    found = [f"{number}: {line.strip()}" for number, line in enumerate(lines, 1)
             if OUTSIDE.search(line)]
    assert found == []


def test_the_readme_names_the_public_training_data_and_how_to_fetch_it():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "doi.org/10.1186/s12859-024-05804-8" in readme
    for sheet in ("CAR-T.xlsx", "COVID-19.xlsx"):
        assert sheet in readme
    assert "https://github.com/wzy38828201/PrCRS/raw/main/main/data/$sheet" in readme
