"""JSON read the one way it can be read: an object that names a key twice is refused.

JSON leaves duplicate names undefined (RFC 8259, section 4); Python keeps the last, other
parsers the first or refuse. ``{"il6": 48, "il6": 4800}`` is two readings of one patient, and a
proxy or an EHR that validated the first would see another request than the model scores. Every
way in that takes JSON (the API, the batch and validation APIs, FHIR, CDS Hooks, a Bundle on
the course page, an uploaded model's manifest) reads it here.
"""

from __future__ import annotations

import json

from django.utils.translation import gettext_lazy as _

from predictor.sheets.errors import lazy_format

_REPEATED = _("The JSON names “%(key)s” twice in one object, so it could be read two ways; "
              "send each key once.")


class RepeatedKey(ValueError):
    """A JSON object named ``key`` more than once. A ValueError, as json's own errors are, so a
    caller that refuses invalid JSON refuses this too."""

    def __init__(self, key: str):
        super().__init__(key)
        self.key = key

    @property
    def message(self):
        return lazy_format(_REPEATED, key=self.key[:80])


def _one_reading(pairs: list[tuple[str, object]]) -> dict:
    found = dict(pairs)
    if len(found) != len(pairs):  # rare: only then look for which key came back
        seen: set[str] = set()
        for key, _value in pairs:
            if key in seen:
                raise RepeatedKey(key)
            seen.add(key)
    return found


def loads(text: str | bytes) -> object:
    """``json.loads`` that raises RepeatedKey for an object naming a key twice (bytes are read
    as UTF-8, strictly)."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8")
    return json.loads(text, object_pairs_hook=_one_reading)
