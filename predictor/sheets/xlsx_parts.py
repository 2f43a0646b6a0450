"""The parts of an .xlsx package the first worksheet needs, each read as a bounded stream: where
the first worksheet is, the shared strings (counted as they stream), and which cell formats
show dates or percentages. Every count is checked against the limits while reading."""

from __future__ import annotations

import posixpath
import zipfile
from dataclasses import dataclass, field

from django.utils.translation import gettext_lazy as _
from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format

from predictor.sheets.budget import ReadBudget
from predictor.sheets.errors import SheetError, lazy_format
from predictor.sheets.limits import MAX_CELL_STYLES, MAX_SHARED_STRINGS
from predictor.sheets.safe_xml import Collector, feed, local, local_name, stream
from predictor.sheets.zipguard import BROKEN_XLSX

_REL_OFFICE = "/officeDocument"
_REL_WORKSHEET = "/worksheet"
_REL_SHARED_STRINGS = "/sharedStrings"
_REL_STYLES = "/styles"
_NO_WORKSHEET = _("This workbook has no worksheet to read.")
_TOO_MANY_STRINGS = _("This workbook holds more than %(max)s different texts; a course sheet "
                      "holds numbers. Split it, or save it again as .csv.")
_TOO_MANY_STYLES = _("This workbook holds more than %(max)s cell formats; save it again as a "
                     "plain .xlsx or .csv file.")


@dataclass
class CellFormats:
    """Per cell style index (``s`` of a cell), whether its number format shows a date or
    time, or a percentage."""

    dates: set[int] = field(default_factory=set)
    percents: set[int] = field(default_factory=set)


@dataclass
class Package:
    worksheet: str
    shared_strings: list[str]
    formats: CellFormats


def _open(archive: zipfile.ZipFile, name: str):
    try:
        return archive.open(name)
    except KeyError:
        raise SheetError.of(BROKEN_XLSX) from None


def _relationships(archive: zipfile.ZipFile, part: str, budget: ReadBudget) -> dict:
    """Relationship id -> (type, part name) of ``part`` (its ``_rels/<name>.rels``)."""
    folder, name = posixpath.split(part)
    rels = posixpath.join(folder, "_rels", name + ".rels")
    if rels not in archive.NameToInfo:
        return {}
    found = {}
    with _open(archive, rels) as source:
        for _event, element in stream(source, budget):
            if local_name(element.tag) == "Relationship":
                target = element.get("Target") or ""
                if element.get("TargetMode") == "External":
                    continue
                path = (target.lstrip("/") if target.startswith("/")
                        else posixpath.normpath(posixpath.join(folder, target)))
                found[element.get("Id")] = (element.get("Type") or "", path)
                element.clear()
            if len(found) > 10_000:
                raise SheetError.of(BROKEN_XLSX)
    return found


def _of_type(relations: dict, suffix: str) -> str | None:
    return next((path for kind, path in relations.values() if kind.endswith(suffix)), None)


def _first_worksheet(archive, workbook: str, relations: dict, budget: ReadBudget) -> str:
    with _open(archive, workbook) as source:
        for _event, element in stream(source, budget):
            if local_name(element.tag) != "sheet":
                continue
            rel_id = next((v for k, v in element.attrib.items() if local_name(k) == "id"), None)
            kind, path = relations.get(rel_id, ("", ""))
            if kind.endswith(_REL_WORKSHEET) and path in archive.NameToInfo:
                return path  # the first sheet in the workbook's order, as Excel shows it
    raise SheetError.of(_NO_WORKSHEET)


class _SharedStrings(Collector):
    """SAX handler of the shared strings part: each ``<si>``'s text (its ``<t>`` and rich-text
    runs, without phonetic guides) to ``ready``, refused past MAX_SHARED_STRINGS, counted as
    they stream (a declared ``uniqueCount`` over the limit is refused at once)."""

    def __init__(self):
        super().__init__()
        self.count = 0
        self.parts: list[str] = []
        self.text: list[str] | None = None
        self.phonetic = False

    def _refuse(self) -> SheetError:
        return SheetError.of(lazy_format(_TOO_MANY_STRINGS, max=MAX_SHARED_STRINGS))

    def startElement(self, name, attrs):  # noqa: N802 - the SAX interface
        name = local(name)
        if name == "si":
            self.count += 1
            if self.count > MAX_SHARED_STRINGS:
                raise self._refuse()
            self.parts = []
        elif name == "t" and not self.phonetic:
            self.text = []
        elif name == "rPh":
            self.phonetic = True
        elif name == "sst" and _declared_over(attrs.get("uniqueCount"), MAX_SHARED_STRINGS):
            raise self._refuse()

    def characters(self, content):
        if self.text is not None:
            self.text.append(content)

    def endElement(self, name):  # noqa: N802
        name = local(name)
        if name == "t" and self.text is not None:
            self.parts.append("".join(self.text))
            self.text = None
        elif name == "rPh":
            self.phonetic = False
        elif name == "si":
            self.ready.append("".join(self.parts))


def _shared_strings(archive, path: str | None, budget: ReadBudget) -> list[str]:
    if path is None or path not in archive.NameToInfo:
        return []
    with _open(archive, path) as source:
        return list(feed(source, _SharedStrings(), budget))


def _declared_over(value: str | None, limit: int) -> bool:
    try:
        return value is not None and int(value) > limit
    except ValueError:
        return False


def _formats(archive, path: str | None, budget: ReadBudget) -> CellFormats:
    formats = CellFormats()
    if path is None or path not in archive.NameToInfo:
        return formats
    codes: dict[int, str] = {}
    in_cell_xfs = False
    index = 0
    with _open(archive, path) as source:
        for event, element in stream(source, budget, events=("start", "end")):
            name = local_name(element.tag)
            if name == "cellXfs":
                in_cell_xfs = event == "start"
            elif event == "end" and name == "numFmt":
                try:
                    codes[int(element.get("numFmtId", ""))] = element.get("formatCode") or ""
                except ValueError:
                    pass
            elif event == "end" and name == "xf" and in_cell_xfs:
                if index >= MAX_CELL_STYLES:
                    raise SheetError.of(lazy_format(_TOO_MANY_STYLES, max=MAX_CELL_STYLES))
                try:
                    number_format = int(element.get("numFmtId", "0"))
                except ValueError:
                    number_format = 0
                code = codes.get(number_format, BUILTIN_FORMATS.get(number_format, "General"))
                if "%" in code:
                    formats.percents.add(index)
                elif is_date_format(code):
                    formats.dates.add(index)
                index += 1
    return formats


def read_package(archive: zipfile.ZipFile, budget: ReadBudget) -> Package:
    """The first worksheet's part name, the shared strings and the cell formats."""
    root = _relationships(archive, "", budget)
    workbook = _of_type(root, _REL_OFFICE) or "xl/workbook.xml"
    if workbook not in archive.NameToInfo:
        raise SheetError.of(BROKEN_XLSX)
    relations = _relationships(archive, workbook, budget)
    worksheet = _first_worksheet(archive, workbook, relations, budget)
    return Package(worksheet=worksheet,
                   shared_strings=_shared_strings(
                       archive, _of_type(relations, _REL_SHARED_STRINGS), budget),
                   formats=_formats(archive, _of_type(relations, _REL_STYLES), budget))
