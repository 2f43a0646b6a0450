"""What is wrong with a sheet: problems that name the row and column the user sees.

Messages are lazy: they are rendered in whatever language is active when shown, so a problem
found while parsing reads right on a page or in an API answer in either language.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _


def _format(message, params: dict) -> str:
    return str(message) % {k: str(v) for k, v in params.items()}


_format_lazy = lazy(_format, str)


def lazy_format(message, **params):
    """``message % params``, evaluated only when shown (``gettext_lazy(...) % x`` would
    translate at once, in whatever language is active while parsing)."""
    return _format_lazy(message, params)


@dataclass(frozen=True)
class Problem:
    """One thing wrong: ``row`` is the sheet row number as the user sees it (None for the file
    as a whole), ``column`` the header as written (or the column letter), ``message`` lazy."""

    message: object
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        if self.row is not None and self.column:
            where = _("Row %(row)s, column “%(column)s”") % {"row": self.row,
                                                             "column": self.column}
        elif self.row is not None:
            where = _("Row %(row)s") % {"row": self.row}
        elif self.column:
            where = _("Column “%(column)s”") % {"column": self.column}
        else:
            return str(self.message)
        return f"{where}: {self.message}"

    def as_dict(self) -> dict:
        """JSON-ready, in the active language."""
        return {"row": self.row, "column": self.column, "message": str(self.message)}


class SheetError(ValueError):
    """The sheet is refused; ``problems`` says every reason found (at least one)."""

    def __init__(self, problems: list[Problem] | Problem):
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))

    def __str__(self) -> str:
        # Rendered when asked, so the language is the one active then.
        return "; ".join(str(p) for p in self.problems)

    @classmethod
    def of(cls, message, *, row: int | None = None, column: str | None = None) -> SheetError:
        return cls(Problem(message, row=row, column=column))
