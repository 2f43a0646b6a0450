"""Bad files are refused with a clear message, before anything expensive happens.

Every file here is real: workbooks written by openpyxl, a zip bomb whose sheet inflates to
300 MB, an OLE2 compound file holding an EncryptedPackage stream (what Excel writes for a
password-protected .xlsx), a PNG, a file of 50 MB.
"""

import io
import struct
import time
import zipfile

import olefile
import pytest
from django.core.files import File
from django.test import override_settings
from django.utils import translation

from bench.hostile_sheets import base_workbook as workbook_bytes
from bench.hostile_sheets import with_parts, zip_bomb
from predictor.sheets import SheetError, read_course, read_upload
from predictor.sheets import xlsx as xlsx_module

PNG = (b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00\x00\x00\x01" * 2
       + b"\x08\x06\x00\x00\x00\x1f\x15\xc4\x89" + b"\x00" * 64)


@pytest.fixture(autouse=True)
def english():
    """Messages are asserted in English; the site's default language is Chinese."""
    with translation.override("en"):
        yield


def rewrite_part(data: bytes, name: str, change) -> bytes:
    """A copy of the .xlsx ``data`` with part ``name`` replaced by ``change(old bytes)``."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        old = archive.read(name)
    return with_parts(data, {name: change(old)})


def refused(data, name="sheet.xlsx", **kwargs):
    with pytest.raises(SheetError) as caught:
        read_upload(data, name=name, **kwargs)
    return caught.value.problems


def compound_file(streams: dict[str, bytes]) -> bytes:
    """A minimal OLE2 compound file (version 3, 512-byte sectors) with the given streams,
    each padded to whole sectors of at least 4096 bytes (so no mini stream is needed)."""
    sector = 512
    free, end, fat_sect, nostream = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
    names = list(streams)
    assert len(names) <= 3
    fat = [fat_sect, end]  # sector 0: the FAT, sector 1: the directory
    starts, sizes, body = [], [], b""
    for name in names:
        content = streams[name].ljust(4096, b"\0")
        content += b"\0" * (-len(content) % sector)
        count = len(content) // sector
        first = len(fat)
        starts.append(first)
        sizes.append(len(streams[name]))
        fat += [first + i + 1 for i in range(count - 1)] + [end]
        body += content
    fat_sector = struct.pack("<128I", *(fat + [free] * (128 - len(fat))))

    def entry(name, kind, left, right, child, start, size):
        encoded = name.encode("utf-16-le") + b"\0\0"
        return (encoded.ljust(64, b"\0") + struct.pack("<HBB3I", len(encoded), kind, 1,
                                                       left, right, child)
                + b"\0" * 16 + b"\0" * 4 + b"\0" * 16 + struct.pack("<IQ", start, size))

    # Siblings form a (degenerate, all black) tree: each stream the right sibling of the last;
    # names sorted by length then upper-case, as the format requires.
    order = sorted(range(len(names)), key=lambda i: (len(names[i]), names[i].upper()))
    entries = [entry("Root Entry", 5, nostream, nostream, order[0] + 1 if names else nostream,
                     end, 0)]
    right_of = {order[k]: order[k + 1] + 1 for k in range(len(order) - 1)}
    for i, name in enumerate(names):
        entries.append(entry(name, 2, nostream, right_of.get(i, nostream), nostream,
                             starts[i], sizes[i]))
    directory = b"".join(entries).ljust(sector, b"\0")
    for k in range(len(entries), 4):  # unused entries: empty, no siblings
        directory = directory[:128 * k] + (b"\0" * 68 + struct.pack("<3I", nostream, nostream,
                                                                     nostream)
                                           + b"\0" * 48)[:128] + directory[128 * (k + 1):]
    header = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 16
              + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6) + b"\0" * 6
              + struct.pack("<IIIIIIIII", 0, 1, 1, 0, 4096, end, 0, end, 0)
              + struct.pack("<109I", 0, *([free] * 108)))
    assert len(header) == sector
    return header + fat_sector + directory + body


def encrypted_xlsx() -> bytes:
    info = struct.pack("<HHI", 4, 4, 0x40) + b"<encryption/>"  # agile encryption, version 4.4
    package = struct.pack("<Q", 12345) + b"\x5a" * 6000  # the ciphertext: opaque bytes
    return compound_file({"EncryptionInfo": info, "EncryptedPackage": package})


def test_the_hand_made_encrypted_file_is_a_valid_compound_file(tmp_path):
    path = tmp_path / "protected.xlsx"
    path.write_bytes(encrypted_xlsx())
    assert olefile.isOleFile(str(path))
    with olefile.OleFileIO(str(path)) as ole:
        assert ole.exists("EncryptedPackage") and ole.exists("EncryptionInfo")
        assert ole.openstream("EncryptedPackage").read(8) == struct.pack("<Q", 12345)


def test_it_refuses_an_encrypted_xlsx():
    [problem] = refused(encrypted_xlsx())
    assert "password" in str(problem.message)


def test_it_refuses_an_old_xls_compound_file():
    [problem] = refused(compound_file({"Workbook": b"\x09\x08" + b"\0" * 100}), name="a.xls")
    assert ".xls" in str(problem.message)


def test_it_refuses_a_png_renamed_xlsx():
    [problem] = refused(PNG, name="labs.xlsx")
    assert "not an Excel workbook" in str(problem.message)


def test_it_refuses_a_png_renamed_csv():
    [problem] = refused(PNG, name="labs.csv")
    assert "not a spreadsheet" in str(problem.message)


def test_it_refuses_a_truncated_xlsx():
    data = workbook_bytes([("day", "il6"), (0, 1)])
    [problem] = refused(data[: len(data) // 2])
    assert "damaged" in str(problem.message)


def test_it_refuses_an_xlsx_whose_sheet_xml_is_broken():
    data = rewrite_part(workbook_bytes([("day", "il6"), (0, 1)]), "xl/worksheets/sheet1.xml",
                        lambda old: old[: len(old) // 2])
    [problem] = refused(data)
    assert "damaged" in str(problem.message)


def test_it_refuses_a_zip_that_is_not_a_workbook():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("word/document.xml", "<w/>")
    [problem] = refused(out.getvalue())
    assert "not an Excel workbook" in str(problem.message)


def test_it_refuses_a_zip_bomb_before_any_part_is_inflated(monkeypatch):
    bomb = zip_bomb(300)
    assert len(bomb) < 1024 * 1024  # small on the wire...
    with zipfile.ZipFile(io.BytesIO(bomb)) as archive:  # ...300 MB declared inside
        assert sum(i.file_size for i in archive.infolist()) > 300 * 1024 * 1024

    def must_not_open(*args, **kwargs):
        raise AssertionError("a part of a zip bomb was inflated")

    monkeypatch.setattr(xlsx_module, "read_package", must_not_open)
    started = time.perf_counter()
    [problem] = refused(bomb)
    assert time.perf_counter() - started < 1.0
    assert "zip bomb" in str(problem.message)


def test_it_refuses_a_small_part_with_an_absurd_compression_ratio():
    bomb = zip_bomb(20)  # 20 MB in total is allowed; a 1000-fold ratio is not
    [problem] = refused(bomb)
    assert "zip bomb" in str(problem.message)


def test_it_refuses_a_formula_without_a_stored_value_naming_the_cell():
    data = workbook_bytes([("day", "IL-6", "CRP"), (0, 10, 5), (1, "=B2*2", 6)])
    [problem] = refused(data)
    assert (problem.row, problem.column) == (3, "IL-6")
    assert "formula" in str(problem.message)


def test_it_reads_the_stored_value_of_a_formula_and_never_evaluates_it():
    data = workbook_bytes([("day", "IL-6"), (0, 10), (1, 33)])
    # Give B3 the formula "1/0" with the stored value 33, as Excel would write it.
    data = rewrite_part(data, "xl/worksheets/sheet1.xml", lambda old: old.replace(
        b'<c r="B3" t="n"><v>33</v></c>', b'<c r="B3"><f>1/0</f><v>33</v></c>'))
    assert b"<f>1/0</f>" in zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml")
    course = read_course(read_upload(data, name="f.xlsx"))
    assert [r.values for r in course.rows] == [{"il6": 10.0}, {"il6": 33.0}]


def test_it_refuses_an_excel_error_value_as_text_in_a_number_column():
    data = workbook_bytes([("day", "IL-6"), (0, 10), (1, 33)])
    data = rewrite_part(data, "xl/worksheets/sheet1.xml", lambda old: old.replace(
        b'<c r="B3" t="n"><v>33</v></c>', b'<c r="B3" t="e"><f>1/0</f><v>#DIV/0!</v></c>'))
    with pytest.raises(SheetError) as caught:
        read_course(read_upload(data, name="f.xlsx"))
    [problem] = caught.value.problems
    assert (problem.row, problem.column) == (3, "IL-6") and "#DIV/0!" in str(problem.message)


def test_it_refuses_more_than_the_row_limit_in_a_workbook():
    rows = [("day", "il6")] + [(i % 60, 1) for i in range(10_001)]
    [problem] = refused(workbook_bytes(rows))
    assert "10000" in str(problem.message) and problem.row == 10_002


def test_it_accepts_exactly_the_row_limit_in_a_csv():
    text = "patient,day,il6\n" + "".join(f"P{i // 50},{i % 50},1\n" for i in range(10_000))
    sheet = read_upload(text.encode(), name="big.csv")
    assert len(sheet.rows) == 10_000


def test_it_refuses_more_than_the_row_limit_in_a_csv():
    text = "day,il6\n" + "0,1\n" * 10_001
    [problem] = refused(text.encode(), name="big.csv")
    assert "10000" in str(problem.message)


@override_settings(PRCRS_SHEET_MAX_ROWS=3)
def test_the_row_limit_is_a_setting():
    [problem] = refused(b"day,il6\n0,1\n1,1\n2,1\n3,1\n", name="c.csv")
    assert "3" in str(problem.message) and problem.row == 5


def test_it_refuses_a_50_mb_file_without_reading_it_whole(tmp_path):
    path = tmp_path / "huge.csv"
    with open(path, "wb") as handle:
        handle.write(b"day,il6\n")
        handle.truncate(50 * 1024 * 1024)
    with open(path, "rb") as handle:  # a plain stream: read at most the limit + 1 byte
        [problem] = refused(handle, name="huge.csv")
        assert handle.tell() == 5 * 1024 * 1024 + 1
    assert "5 MB" in str(problem.message)
    with open(path, "rb") as handle:  # an upload that knows its size: not read at all
        refused(File(handle, name="huge.csv"), name="huge.csv")
        assert handle.tell() == 0


@override_settings(PRCRS_SHEET_MAX_BYTES=1024)
def test_the_size_limit_is_a_setting():
    [problem] = refused(b"day,il6\n" + b"0,1\n" * 300, name="c.csv")
    assert "MB" in str(problem.message)


def test_it_refuses_an_empty_file_and_a_sheet_without_rows():
    refused(b"", name="empty.csv")
    [problem] = refused(workbook_bytes([("day", "il6")]))
    assert "no rows" in str(problem.message)


def test_it_refuses_binary_data_named_csv():
    [problem] = refused(b"day,il6\n\x00\x01\x02\x03", name="c.csv")
    assert "not a spreadsheet" in str(problem.message)


def test_it_refuses_a_malformed_csv_naming_the_row():
    [problem] = refused(b'day,il6\n0,1\n1,"2\n', name="c.csv")
    assert problem.row == 3


def test_it_refuses_a_workbook_with_too_many_columns():
    [problem] = refused(workbook_bytes([[f"c{i}" for i in range(300)], [1] * 300]))
    assert "columns" in str(problem.message)


def test_file_problems_read_in_the_users_language():
    [problem] = refused(encrypted_xlsx())
    with translation.override("zh-hans"):
        assert "密码" in str(problem)


def test_it_refuses_an_xml_entity_bomb_inside_the_sheet_quickly():
    lol = (b'<?xml version="1.0"?><!DOCTYPE ws [<!ENTITY a "aaaaaaaaaaaaaaaaaaaa">'
           + b"".join(b'<!ENTITY %s "%s">' % (bytes([98 + i]), (b"&%s;" % bytes([97 + i])) * 20)
                      for i in range(8))
           + b']><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
           + b'<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&i;</t></is></c></row>'
           + b"</sheetData></worksheet>")
    data = rewrite_part(workbook_bytes([("day", "il6"), (0, 1)]), "xl/worksheets/sheet1.xml",
                        lambda old: lol)
    started = time.perf_counter()
    [problem] = refused(data)
    assert time.perf_counter() - started < 5.0
    assert "DTD" in str(problem.message)


def test_it_reads_every_row_even_when_the_stored_dimension_lies():
    data = workbook_bytes([("day", "il6"), (0, 1), (1, 2), (2, 3)])
    data = rewrite_part(data, "xl/worksheets/sheet1.xml",
                        lambda old: old.replace(b'<dimension ref="A1:B4" />',
                                                b'<dimension ref="A1:A1"/>'))
    assert b'<dimension ref="A1:A1"/>' in zipfile.ZipFile(io.BytesIO(data)).read(
        "xl/worksheets/sheet1.xml")
    course = read_course(read_upload(data, name="lie.xlsx"))
    assert [r.values for r in course.rows] == [{"il6": 1.0}, {"il6": 2.0}, {"il6": 3.0}]


@override_settings(PRCRS_SHEET_MAX_BYTES=100)
def test_pasted_text_is_bounded_by_the_size_limit_too():
    from predictor.sheets import read_pasted
    with pytest.raises(SheetError) as caught:
        read_pasted("day\til6\n" + "0\t1\n" * 40)
    assert "MB" in str(caught.value.problems[0].message)
