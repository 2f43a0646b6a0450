"""A wall-clock budget for reading one sheet: a file crafted to be slow is refused when the
budget runs out, whatever made it slow, instead of holding a worker."""

from __future__ import annotations

import time

from django.utils.translation import gettext_lazy as _

from predictor.sheets.errors import SheetError

_TOO_SLOW = _("This sheet takes too long to read (it holds far more than a course sheet); "
              "split it, or save it again as a plain .xlsx or .csv file.")


class ReadBudget:
    """``check()`` raises SheetError once ``seconds`` have passed since the budget began.
    Cheap enough to call per row or per XML element (it looks at the clock every 256th call)."""

    __slots__ = ("_deadline", "_calls")

    def __init__(self, seconds: float):
        self._deadline = time.monotonic() + seconds
        self._calls = 0

    def check(self) -> None:
        self._calls += 1
        if self._calls & 0xFF == 0 and time.monotonic() > self._deadline:
            raise SheetError.of(_TOO_SLOW)

    def check_now(self) -> None:
        if time.monotonic() > self._deadline:
            raise SheetError.of(_TOO_SLOW)


def unlimited() -> ReadBudget:
    """A budget for callers that set none (tests, the page's own carried sheet)."""
    return ReadBudget(float("inf"))
