"""Hostile .xlsx and .csv files, built at run time (nothing is kept on disk): what an attacker or
a broken exporter could upload to the course page, the batch API or the validation API.

``hostile_files()`` returns ``{name: (file name, bytes)}``; tests/test_sheet_bounds.py posts each
to the three ways in against gunicorn, bench/fuzz.py mixes them into its requests. Each file
must be refused quickly with a clear 4xx, never accepted after a long read.
"""

from __future__ import annotations

import io
import warnings
import zipfile

from openpyxl import Workbook

SHEET = "xl/worksheets/sheet1.xml"
STRINGS = "xl/sharedStrings.xml"
WORKBOOK = "xl/workbook.xml"
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
HEADERS = ("patient", "day", "crs_grade", "il6", "il10", "crp", "ferritin", "ifn_gamma")


def base_workbook(rows=(HEADERS, ("P1", 0, 1, 48, 7.2, 10, 300, 12))) -> bytes:
    workbook = Workbook()
    for row in rows:
        workbook.active.append(list(row))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def with_parts(data: bytes, parts: dict[str, bytes]) -> bytes:
    """A copy of the .xlsx ``data`` with the given parts replaced (or added)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            if item.filename not in parts:
                target.writestr(item.filename, source.read(item.filename))
        for name, content in parts.items():
            target.writestr(name, content)
    return out.getvalue()


def with_shared_strings(data: bytes, sst: bytes) -> bytes:
    """``data`` with ``sst`` as its shared strings part, referenced as Excel does (openpyxl
    writes none for a small workbook)."""
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        rels = source.read("xl/_rels/workbook.xml.rels").decode()
        types = source.read("[Content_Types].xml").decode()
    rels = rels.replace("</Relationships>", (
        '<Relationship Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/sharedStrings" Target="sharedStrings.xml" Id="rId99"/></Relationships>'))
    types = types.replace("</Types>", (
        '<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>'))
    return with_parts(data, {STRINGS: sst, "xl/_rels/workbook.xml.rels": rels.encode(),
                             "[Content_Types].xml": types.encode()})


def worksheet_xml(rows: str, dimension: str = "A1") -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{MAIN}">'
            f'<dimension ref="{dimension}"/><sheetData>{rows}</sheetData></worksheet>').encode()


def _header_row() -> str:
    cells = "".join(f'<c r="{chr(65 + i)}1" t="inlineStr"><is><t>{h}</t></is></c>'
                    for i, h in enumerate(HEADERS))
    return f'<row r="1">{cells}</row>'


def sparse_million_rows() -> bytes:
    """About a million rows of one small cell each (the 2.5 MB file that held a worker 50 s)."""
    rows = "".join(f'<row r="{r}"><c r="Z{r}"><v>1</v></c></row>' for r in range(2, 1_000_002))
    return with_parts(base_workbook(), {SHEET: worksheet_xml(_header_row() + rows,
                                                             "A1:Z1000001")})


def far_row_cell() -> bytes:
    """One cell at row 1,048,576, Excel's last row (2.6 KB; 30 s before)."""
    rows = _header_row() + '<row r="1048576"><c r="D1048576"><v>5</v></c></row>'
    return with_parts(base_workbook(), {SHEET: worksheet_xml(rows, "A1:H1048576")})


def far_row_cell_small_dimension() -> bytes:
    """The same with a dimension that lies (A1:H2): only the rows themselves tell."""
    rows = _header_row() + '<row r="1048576"><c r="D1048576"><v>5</v></c></row>'
    return with_parts(base_workbook(), {SHEET: worksheet_xml(rows, "A1:H2")})


def million_shared_strings(declared: int | None = 1) -> bytes:
    """A million shared strings (0.3 MB compressed; 11 s to parse before), with a
    ``uniqueCount`` that lies unless ``declared`` is None."""
    count = "" if declared is None else f' uniqueCount="{declared}"'
    strings = "".join(f"<si><t>{i}</t></si>" for i in range(1_000_000))
    sst = (f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{MAIN}"{count}>'
           f"{strings}</sst>").encode()
    return with_shared_strings(base_workbook(), sst)


def far_column_values(rows: int = 10_001) -> bytes:
    """Rows whose only values sit beyond column 128 (column GR = 200): they once read as blank,
    so 10,001 such rows were accepted as a sheet of a few rows."""
    body = _header_row() + "".join(f'<row r="{r}"><c r="GR{r}"><v>{r}</v></c></row>'
                                   for r in range(2, rows + 2))
    return with_parts(base_workbook(), {SHEET: worksheet_xml(body, f"A1:GR{rows + 1}")})


def entity_expansion(part: str = SHEET) -> bytes:
    """"Billion laughs" in ``part``."""
    entities = '<!ENTITY a "aaaaaaaaaaaaaaaaaaaa">' + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 20}">' for i in range(8))
    doctype = f"<!DOCTYPE ws [{entities}]>"
    if part == STRINGS:
        xml = f'<?xml version="1.0"?>{doctype}<sst xmlns="{MAIN}"><si><t>&i;</t></si></sst>'
        return with_shared_strings(base_workbook(), xml.encode())
    xml = (f'<?xml version="1.0"?>{doctype}<worksheet xmlns="{MAIN}"><sheetData>'
           f'<row r="1"><c r="A1" t="inlineStr"><is><t>&i;</t></is></c></row>'
           f"</sheetData></worksheet>")
    return with_parts(base_workbook(), {part: xml.encode()})


def external_entity() -> bytes:
    """An external entity naming a local file (and one naming a URL)."""
    xml = (f'<?xml version="1.0"?><!DOCTYPE ws [<!ENTITY x SYSTEM "file:///etc/passwd">'
           f'<!ENTITY y SYSTEM "http://127.0.0.1:9/x">]>'
           f'<worksheet xmlns="{MAIN}"><sheetData><row r="1">'
           f'<c r="A1" t="inlineStr"><is><t>&x;&y;</t></is></c></row></sheetData></worksheet>')
    return with_parts(base_workbook(), {SHEET: xml.encode()})


def zip_bomb(inflated_mb: int = 300) -> bytes:
    """A workbook whose sheet inflates to ``inflated_mb`` MB of spaces."""
    data = base_workbook()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target:
        for item in source.infolist():
            if item.filename != SHEET:
                target.writestr(item.filename, source.read(item.filename))
        with target.open(SHEET, "w", force_zip64=True) as stream:
            stream.write(f'<worksheet xmlns="{MAIN}"><sheetData>'.encode())
            chunk = b" " * (1 << 20)
            for _ in range(inflated_mb):
                stream.write(chunk)
            stream.write(b"</sheetData></worksheet>")
    return out.getvalue()


def one_cell_written_again(times: int = 200_000) -> bytes:
    """One cell (D2) written ``times`` times: which of its values is the sheet's? Before, the
    last silently won (2 s to read a 2.6 MB file of a million)."""
    cells = "".join(f'<c r="D2"><v>{i}</v></c>' for i in range(times))
    rows = _header_row() + f'<row r="2"><c r="A2" t="inlineStr"><is><t>P1</t></is></c>{cells}</row>'
    return with_parts(base_workbook(), {SHEET: worksheet_xml(rows, "A1:H2")})


def rows_out_of_order() -> bytes:
    """Row 3 before row 2, and row 3 again: Excel never writes either; read in file order,
    the same row number would have named two different rows."""
    rows = _header_row() + "".join(
        f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>P1</t></is></c><c r="B{r}"><v>{day}</v>'
        f'</c><c r="D{r}"><v>48</v></c></row>' for r, day in ((3, 1), (2, 0), (3, 2)))
    return with_parts(base_workbook(), {SHEET: worksheet_xml(rows, "A1:H3")})


def unreadable_cell_reference() -> bytes:
    """A cell named "ZZZZZ2" (five letters: no column of Excel's): once placed in the next
    column as if it had no reference."""
    rows = _header_row() + ('<row r="2"><c r="A2" t="inlineStr"><is><t>P1</t></is></c>'
                            '<c r="B2"><v>0</v></c><c r="ZZZZZ2"><v>48</v></c></row>')
    return with_parts(base_workbook(), {SHEET: worksheet_xml(rows, "A1:H2")})


def duplicate_zip_parts() -> bytes:
    """Two worksheet parts of one name: Python's zipfile reads the last, other readers the
    first (a way to show one sheet to a person and another to the server)."""
    decoy = worksheet_xml(_header_row() + '<row r="2"><c r="A2" t="inlineStr"><is><t>P9</t>'
                          '</is></c><c r="B2"><v>0</v></c><c r="D2"><v>9999</v></c></row>')
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(base_workbook())) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            target.writestr(item.filename, source.read(item.filename))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "Duplicate name": the point here
            target.writestr(SHEET, decoy)
    return out.getvalue()


def csv_blank_lines() -> bytes:
    """A header and five million line ends: blank rows cost time too."""
    return ",".join(HEADERS).encode() + b"\n" * 5_000_000


def csv_wrong_encodings() -> dict[str, bytes]:
    text = ",".join(HEADERS) + "\nP1,0,1,48,7.2,10,300,12\n"
    return {
        "utf16_no_bom": text.encode("utf-16-le"),
        "utf32": text.encode("utf-32"),
        "latin1_garbage": bytes(range(128, 256)) * 100,
        "invalid_utf8": b"patient,day,il6\nP1,0,\xff\xfe\xc0\xaf\n",
        "nul_bytes": b"patient,day\x00,il6\nP1,0,48\n",
        "control_chars": b"patient,day,il6\nP1,0,4\x018\n",
    }


def hostile_files() -> dict[str, tuple[str, bytes]]:
    files = {
        "sparse_million_rows": ("sparse.xlsx", sparse_million_rows()),
        "cell_at_row_1048576": ("far.xlsx", far_row_cell()),
        "cell_at_row_1048576_lying_dimension": ("far2.xlsx", far_row_cell_small_dimension()),
        "million_shared_strings": ("strings.xlsx", million_shared_strings()),
        "million_shared_strings_undeclared": ("strings2.xlsx", million_shared_strings(None)),
        "values_beyond_column_128": ("wide.xlsx", far_column_values()),
        "entity_expansion_sheet": ("laughs.xlsx", entity_expansion()),
        "entity_expansion_strings": ("laughs2.xlsx", entity_expansion(STRINGS)),
        "external_entity": ("xxe.xlsx", external_entity()),
        "zip_bomb": ("bomb.xlsx", zip_bomb()),
        "csv_blank_lines": ("blank.csv", csv_blank_lines()),
        "one_cell_written_again": ("again.xlsx", one_cell_written_again()),
        "rows_out_of_order": ("order.xlsx", rows_out_of_order()),
        "unreadable_cell_reference": ("ref.xlsx", unreadable_cell_reference()),
        "duplicate_zip_parts": ("twice.xlsx", duplicate_zip_parts()),
    }
    for name, data in csv_wrong_encodings().items():
        files[f"csv_{name}"] = (f"{name}.csv", data)
    return files
