"""URL layout: language-prefixed pages (/zh-hans/…, /en/…), unprefixed API and health checks."""

from django.conf import settings
from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.urls import include, path, re_path

from predictor.web import health
from predictor.web.views import language_root

urlpatterns = [
    # "/" alone: off to /zh-hans/ or /en/ by the browser's language (Chinese by default).
    path("", language_root, name="language_root"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("api/v1/", include("predictor.api.urls")),
    path("fhir/r4/", include("predictor.fhir.urls")),
    re_path(r"^cds-services/?", include("predictor.cds_hooks.urls")),
]
urlpatterns += i18n_patterns(
    path(settings.PRCRS_ADMIN_URL, admin.site.urls),
    path("", include("predictor.urls")),
    prefix_default_language=True,
)

# Error answers that never raise themselves, JSON on the API (prcrs_site.error_responses).
handler400 = "prcrs_site.error_responses.bad_request"
handler403 = "prcrs_site.error_responses.permission_denied"
handler404 = "prcrs_site.error_responses.page_not_found"
handler500 = "prcrs_site.error_responses.server_error"
