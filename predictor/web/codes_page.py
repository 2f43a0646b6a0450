"""The code table page (/<lang>/codes/): the LOINC and site codes and UCUM units an EHR uses to
send the factors as FHIR Observations, in the page's language."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.http import require_safe

from predictor.interop.code_table import code_rows
from predictor.interop.codes import LOINC


@require_safe
def codes_page(request: HttpRequest) -> HttpResponse:
    chinese = (translation.get_language() or "").startswith("zh")
    rows = [{"name": r.name_zh if chinese else r.name_en, "key": r.key,
             "system": "LOINC" if r.system == LOINC else r.system, "code": r.code,
             "display": r.display, "units": r.units, "notes": r.notes,
             "confirmed": r.system == LOINC and not r.checked.startswith("not "),
             "site": r.system != LOINC, "checked": r.checked} for r in code_rows()]
    return render(request, "predictor/codes.html", {"rows": rows})
