"""The prediction log: read-only, exported (all, filtered or selected) as CSV."""

from __future__ import annotations

import csv

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from predictor.admin.read_only import ReadOnlyAdmin
from predictor.catalogue import CONTEXT_KEYS, FACTOR_KEYS
from predictor.models import PredictionLog

PREDICTION_CSV_HEADER = ["time", "horizon", "combination", "model_version", "raw_probability",
                         "probability", "channel", "imputed", *FACTOR_KEYS, "crs_grade", "day",
                         "reference_probability"]


def prediction_csv_rows(queryset):
    """The prediction log as CSV rows: one column per factor, in catalogue order."""
    yield PREDICTION_CSV_HEADER
    for entry in queryset.order_by("at").iterator(chunk_size=2000):
        values = entry.values or {}
        inputs = values.get("inputs", values) if isinstance(values, dict) else {}
        imputed = values.get("imputed", []) if isinstance(values, dict) else []
        yield [entry.at.isoformat(), entry.horizon, entry.combination, entry.model_version,
               entry.raw_probability, entry.probability, entry.channel, " ".join(imputed),
               *("" if inputs.get(k) is None else inputs[k] for k in FACTOR_KEYS),
               *("" if not entry.context else entry.context.get(k, "") for k in CONTEXT_KEYS),
               "" if entry.reference_probability is None else entry.reference_probability]


class Echo:
    """A file-like object whose write returns the line: csv.writer feeding a streamed answer."""

    def write(self, value: str) -> str:
        return value


def prediction_csv_response(queryset) -> StreamingHttpResponse:
    writer = csv.writer(Echo())
    response = StreamingHttpResponse((writer.writerow(row) for row in prediction_csv_rows(
        queryset)), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="prcrs-predictions-{stamp}.csv"'
    return response


@admin.register(PredictionLog)
class PredictionLogAdmin(ReadOnlyAdmin):
    list_display = ("at", "horizon", "combination", "model_version", "raw_probability",
                    "probability", "context", "reference_probability", "channel")
    list_filter = ("horizon", "combination", "channel", "model_version",
                   ("context", admin.EmptyFieldListFilter))
    date_hierarchy = "at"
    actions = ("export_selected_csv",)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("export.csv", self.admin_site.admin_view(self.export_view),
                 name="%s_%s_export" % info),
        ] + super().get_urls()

    def export_view(self, request):
        """The whole log (or the changelist's current filters) as CSV."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        queryset = self.get_changelist_instance(request).get_queryset(request)
        return prediction_csv_response(queryset)

    @admin.action(description=_("Export the selected entries as CSV"), permissions=["view"])
    def export_selected_csv(self, request, queryset):
        return prediction_csv_response(queryset)
