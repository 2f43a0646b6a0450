"""Form fields sent more than once in one request: refused, never read as the last copy.

A page the site renders sends each field once; two copies of ``il6`` (or two sheets in
``sheet``) can only come from a hand-made or broken request, and which copy a reader takes is
a guess (Django's ``get`` takes the last). Used by the prediction form, the course page and the
sheet uploads of the batch and validation APIs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.utils.translation import gettext_lazy as _

from predictor.sheets.errors import lazy_format

_SENT_AGAIN = _("“%(name)s” was sent %(count)s times in one request, so it could be read two "
                "ways; send it once.")


def repeated_fields(*sources, names: Iterable[str] | Mapping[str, str]) -> dict[str, list]:
    """{name: [message]} for each of ``names`` that one of ``sources`` (QueryDicts or
    MultiValueDicts, e.g. request.POST and request.FILES) holds more than once; the message
    names the field by ``names[name]`` where ``names`` maps names to labels. A plain dict holds
    each name once by construction and is passed over."""
    labels = names if isinstance(names, Mapping) else {name: name for name in names}
    errors: dict[str, list] = {}
    for name, label in labels.items():
        count = sum(len(source.getlist(name)) for source in sources
                    if hasattr(source, "getlist"))
        if count > 1:
            errors[name] = [lazy_format(_SENT_AGAIN, name=str(label)[:40], count=count)]
    return errors
