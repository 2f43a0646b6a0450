"""The code table (factor, code, UCUM units, where checked) as rows for the documentation page
and as Markdown for docs/integration.md, both written from ``predictor.interop.codes``."""

from __future__ import annotations

from dataclasses import dataclass

from predictor.catalogue import FACTORS
from predictor.interop.codes import CONTEXT_CODES, FACTOR_CODES, INFUSION, LOINC, Code

NOT_CONFIRMED = "not confirmed in a public listing during development"
SITE_CODE = "site code (no LOINC code chosen)"

_CONTEXT_NAMES = {"crs_grade": ("Today's CRS grade (ASTCT)", "今日 CRS 分级（ASTCT）"),
                  "day": ("Day since CAR-T infusion", "CAR-T 回输后天数")}


@dataclass(frozen=True)
class CodeRow:
    key: str
    name_en: str
    name_zh: str
    system: str
    code: str
    display: str
    units: str
    checked: str
    notes: str


def _row(key: str, name_en: str, name_zh: str, code: Code) -> CodeRow:
    if code.system == LOINC:
        checked = code.checked or NOT_CONFIRMED
    else:
        checked = SITE_CODE
    notes = "; ".join(sorted({u.note for u in code.units if u.note}))
    return CodeRow(key, name_en, name_zh, code.system, code.code, code.display,
                   ", ".join(u.ucum for u in code.units) or "—", checked, notes)


def code_rows() -> list[CodeRow]:
    rows = [_row(f.key, f.name_en, f.name_zh, code) for f in FACTORS
            for code in FACTOR_CODES[f.key]]
    for key, codes in CONTEXT_CODES.items():
        en, zh = _CONTEXT_NAMES[key]
        rows += [_row(key, en, zh, code) for code in codes]
    rows.append(_row("day", *_CONTEXT_NAMES["day"], INFUSION))
    return rows


def markdown_table() -> str:
    lines = ["| factor | key | system | code | UCUM units | where checked |",
             "|---|---|---|---|---|---|"]
    for r in code_rows():
        system = "LOINC" if r.system == LOINC else f"`{r.system}`"
        units = r.units + (f" ({r.notes})" if r.notes else "")
        lines.append(f"| {r.name_en} | `{r.key}` | {system} | {r.code} | {units} | {r.checked} |")
    return "\n".join(lines)


BEGIN = "<!-- code table: written by python -m predictor.interop.code_table -->"
END = "<!-- end of code table -->"


def write_into(path) -> None:
    """Replace the table between BEGIN and END in ``path`` (docs/integration.md)."""
    from pathlib import Path

    text = Path(path).read_text(encoding="utf-8")
    head, _sep, rest = text.partition(BEGIN)
    _old, _sep2, tail = rest.partition(END)
    Path(path).write_text(f"{head}{BEGIN}\n{markdown_table()}\n{END}{tail}", encoding="utf-8")


if __name__ == "__main__":
    import sys

    write_into(sys.argv[1] if len(sys.argv) > 1 else "docs/integration.md")
