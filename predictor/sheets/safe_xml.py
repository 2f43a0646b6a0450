"""Streaming XML of an uploaded workbook, hardened: no DTD at all (so no entity expansion and no
external entity or document is ever fetched: defusedxml, as openpyxl recommends), and every
parse failure is a SheetError saying the file is damaged."""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator
from xml.etree.ElementTree import Element, ParseError

from xml.sax import SAXException
from xml.sax.handler import ContentHandler

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse
from defusedxml.expatreader import DefusedExpatParser
from django.utils.translation import gettext_lazy as _

from predictor.sheets.budget import ReadBudget
from predictor.sheets.errors import SheetError
from predictor.sheets.zipguard import BROKEN_XLSX

_UNSAFE = _("This .xlsx file holds XML declarations (a DTD or entities) that a workbook never "
            "has; it was not read. Open it in Excel and save it again.")


_BROKEN_ERRORS = (ParseError, SAXException, ValueError, EOFError, OSError, RuntimeError,
                  zipfile.BadZipFile, zlib.error)


def _refusal(error: Exception) -> Exception:
    """What a failure while parsing an upload becomes: a SheetError (the budget's, the
    caller's bounds) as it is, a DTD or entity the unsafe-file refusal, a file that does not
    parse (a CRC or size mismatch surfaces from inside the parser too) the damaged-file one;
    anything else stays itself (a bug, not a property of the file)."""
    if isinstance(error, SheetError):
        return error
    if isinstance(error, DefusedXmlException):
        return SheetError.of(_UNSAFE)
    if isinstance(error, _BROKEN_ERRORS):
        return SheetError.of(BROKEN_XLSX)
    return error


def local_name(tag: str) -> str:
    """``{namespace}c`` -> ``c``."""
    return tag.rsplit("}", 1)[-1]


def stream(source, budget: ReadBudget, events=("end",)) -> Iterator[tuple[str, Element]]:
    """(event, element) pairs of ``source`` (a binary file object), the budget checked at
    every element. Raises SheetError for a DTD, an entity, or XML that does not parse.

    An element the caller has cleared (``element.clear()``) by the time it asks for the next
    event is dropped from its parent, so a stream of millions of small elements holds only the
    ones being read, not a tree of emptied shells."""
    parents: list[Element] = []
    try:
        for event, element in iterparse(source, events=("start", "end"), forbid_dtd=True,
                                        forbid_entities=True, forbid_external=True):
            budget.check()
            if event == "start":
                parents.append(element)
                if "start" in events:
                    yield event, element
                continue
            parents.pop()
            if "end" in events:
                yield event, element
            if parents and not len(element) and not element.attrib and element.text is None:
                parents[-1].remove(element)
    except Exception as error:  # noqa: BLE001
        raise _refusal(error) from None


def local(qualified: str) -> str:
    """``x:c`` -> ``c`` (SAX without namespace processing gives names as written)."""
    return qualified.rpartition(":")[2]


class Collector(ContentHandler):
    """A SAX handler that gathers finished items (rows, strings) in ``ready`` for ``feed``."""

    def __init__(self):
        super().__init__()
        self.ready: list = []


_CHUNK = 64 * 1024


def feed(source, handler: Collector, budget: ReadBudget) -> Iterator:
    """Parse ``source`` (a binary file object) chunk by chunk with ``handler``, yielding the
    items it has finished after each chunk: a SAX parser on expat, with no DTD, entity or
    external reference allowed (defusedxml), several times faster than building elements for a
    sheet of hundreds of thousands of cells."""
    parser = DefusedExpatParser(forbid_dtd=True, forbid_entities=True, forbid_external=True)
    parser.setContentHandler(handler)
    try:
        while chunk := source.read(_CHUNK):
            parser.feed(chunk)
            budget.check_now()
            if handler.ready:
                yield from handler.ready
                handler.ready.clear()
        parser.close()
    except Exception as error:  # noqa: BLE001
        raise _refusal(error) from None
    yield from handler.ready
    handler.ready.clear()
