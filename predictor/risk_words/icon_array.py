"""An icon array of 100 drawn on the server as SVG: ``count`` filled icons grouped in reading
order (whole rows first, then the rest of the next row), never scattered, so the filled part is
one block whose size the eye can judge; blocks of 5 x 10 with a gap help counting.

CSP-safe like ``predictor.cohorts.charts``: no script, no inline style; classes (styled by
``static/css/bedside.css``) plus presentation attributes so it still reads without the
stylesheet and in print; an accessible image with an escaped ``<title>``.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from django.utils.safestring import SafeString, mark_safe

COLUMNS, ROWS = 10, 10
CELL, GAP, BLOCK_GAP = 12, 2, 4  # icon size, gap between icons, extra gap after 5 columns
FILLED_COLOUR, EMPTY_COLOUR = "#b3261e", "#d5dbe2"


def _x(column: int) -> int:
    return column * (CELL + GAP) + (BLOCK_GAP if column >= COLUMNS // 2 else 0)


def _y(row: int) -> int:
    return row * (CELL + GAP) + (BLOCK_GAP if row >= ROWS // 2 else 0)


def icon_array(count: int, *, title: str, chart_id: str) -> SafeString:
    """The SVG of ``count`` filled of 100 (clamped to 0-100); ``title`` already translated."""
    count = max(0, min(COLUMNS * ROWS, int(count)))
    width, height = _x(COLUMNS - 1) + CELL, _y(ROWS - 1) + CELL
    safe_id = "".join(ch for ch in chart_id if ch.isalnum() or ch in "-_") or "icons"
    parts = [f'<svg class="icon-array" viewBox="0 0 {width} {height}" role="img" '
             f'aria-labelledby="{safe_id}-title" xmlns="http://www.w3.org/2000/svg">',
             f'<title id="{safe_id}-title">{escape(title)}</title>']
    for i in range(COLUMNS * ROWS):
        row, column = divmod(i, COLUMNS)
        filled = i < count
        # A person-like icon would be prettier; a rounded square stays legible at 12 units.
        parts.append(f'<rect class="icon {"icon-filled" if filled else "icon-empty"}" '
                     f'x="{_x(column)}" y="{_y(row)}" width="{CELL}" height="{CELL}" rx="3" '
                     f'fill="{FILLED_COLOUR if filled else EMPTY_COLOUR}"/>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # the only text, the title, is escaped above
