"""Reading a posted Bundle with fhir.resources: structure errors as OperationOutcome issues."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from pydantic import ValidationError

from fhir.resources.R4B.bundle import Bundle

from predictor.fhir.outcome import FhirRefusal, Issue, say

_MAX_ISSUES = 20


def fhirpath(loc: tuple) -> str:
    """A pydantic error location as FHIRPath: ("entry", 3, "resource", "status") ->
    Bundle.entry[3].resource.status."""
    path = "Bundle"
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part and not str(part).startswith("function-"):
            path += f".{part}"
    return path


def parse_bundle(data: object, *, types: tuple[str, ...] = ("collection",)) -> Bundle:
    """``data`` as a Bundle of one of ``types``; FhirRefusal 400 naming the element otherwise."""
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        raise FhirRefusal.one(400, "structure", _("The body must be a FHIR Bundle "
                                                  "(\"resourceType\": \"Bundle\")."), "Bundle")
    try:
        bundle = Bundle.model_validate(data)
    except ValidationError as exc:
        issues = [Issue("structure", say(_("%(element)s: %(problem)s"),
                                         element=fhirpath(e["loc"]), problem=e["msg"]),
                        (fhirpath(e["loc"]),)) for e in exc.errors()[:_MAX_ISSUES]]
        raise FhirRefusal(400, issues) from None
    except (ValueError, TypeError, RecursionError) as exc:
        raise FhirRefusal.one(400, "structure", say(_("The Bundle cannot be read: %(problem)s"),
                                                    problem=exc), "Bundle") from None
    if bundle.type not in types:
        raise FhirRefusal.one(400, "invalid", say(
            _("The Bundle must be of type %(wanted)s, not “%(type)s”."),
            wanted=" or ".join(types), type=bundle.type), "Bundle.type")
    return bundle
