"""The EHR's FHIR server, asked when the hook carries no prefetch: the patient's listed
Observations of the last 48 hours and the infusion Procedure, with the ``fhirAuthorization``
access token the hook supplies. Standard library HTTP, a short timeout, at most a few pages."""

from __future__ import annotations

import datetime as dt
import urllib.error
import urllib.parse
import urllib.request

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from fhir.resources.R4B.bundle import Bundle
from predictor.cds_hooks.service import PREFETCH_COUNT, observation_codes
from predictor.fhir.outcome import FhirRefusal, Issue, say
from predictor.inputs import strict_json
from predictor.interop.codes import INFUSION_CODE, SITE

LOOKBACK = dt.timedelta(hours=48)
MAX_PAGES = 5
MAX_BYTES = 8 * 1024 * 1024


UPSTREAM_FAILED = 424  # the EHR's server failed the query; the hook answers with a card


def _refusal(message) -> FhirRefusal:
    return FhirRefusal(UPSTREAM_FAILED, [Issue("transient", message)])


def _get(url: str, token: str | None) -> Bundle:
    headers = {"Accept": "application/fhir+json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=settings.PRCRS_CDS_FHIR_TIMEOUT) as answer:
            body = answer.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise _refusal(say(_("The EHR's FHIR server answered %(status)s to %(url)s."),
                           status=exc.code, url=url.split("?")[0])) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise _refusal(say(_("The EHR's FHIR server could not be reached (%(reason)s)."),
                           reason=getattr(exc, "reason", exc))) from None
    if len(body) > MAX_BYTES:
        raise _refusal(_("The EHR's FHIR server sent more than this service reads."))
    try:
        return Bundle.model_validate(strict_json.loads(body))
    except ValueError:
        raise _refusal(_("The EHR's FHIR server did not answer with a FHIR Bundle.")) from None


def _search(base: str, query: str, token: str | None) -> list:
    """Every resource of a search, following ``next`` links up to MAX_PAGES."""
    url, resources = f"{base}/{query}", []
    for _page in range(MAX_PAGES):
        bundle = _get(url, token)
        resources.extend(e.resource for e in bundle.entry or [] if e.resource is not None)
        url = next((link.url for link in bundle.link or [] if link.relation == "next"), None)
        if not url:
            break
    return resources


def fetch_patient_data(fhir_server: str, authorization: dict | None, patient_id: str,
                       now: dt.datetime | None = None) -> tuple[list, list]:
    """(Observations, infusion Procedures) of ``patient_id`` from the EHR's server."""
    try:
        parsed = urllib.parse.urlsplit(fhir_server if isinstance(fhir_server, str) else "")
    except ValueError:  # "http://[::1" and the like
        parsed = urllib.parse.urlsplit("")
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise FhirRefusal.one(400, "invalid", _("fhirServer must be an http(s) URL when no "
                                                "prefetch is sent."), "fhirServer")
    token = authorization.get("access_token") if isinstance(authorization, dict) else None
    token = token if isinstance(token, str) else None
    since = ((now or dt.datetime.now(dt.timezone.utc)) - LOOKBACK).strftime("%Y-%m-%dT%H:%M:%SZ")
    base = fhir_server.rstrip("/")
    patient = urllib.parse.quote(patient_id, safe="")
    observations = _search(base, "Observation?" + urllib.parse.urlencode({
        "patient": patient_id, "code": observation_codes(), "date": f"ge{since}",
        "_sort": "-date", "_count": str(PREFETCH_COUNT)}), token)
    procedures = _search(base, f"Procedure?patient={patient}&code="
                         + urllib.parse.quote(f"{SITE}|{INFUSION_CODE}", safe=""), token)
    return observations, procedures
