"""The audit trail: read-only, one line of detail per kind of event."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from predictor.admin.read_only import ReadOnlyAdmin
from predictor.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "action", "user", "model_version", "summary")
    list_filter = ("action",)
    date_hierarchy = "at"
    search_fields = ("detail",)

    @admin.display(description=_("detail"))
    def summary(self, obj: AuditEvent) -> str:
        detail = obj.detail or {}
        if obj.action == AuditEvent.Action.VALIDATION_FAILED:
            return format_html("{}: {}", detail.get("slot", ""),
                               " ".join(detail.get("reasons", [])))
        if obj.action in (AuditEvent.Action.ACTIVATE, AuditEvent.Action.ROLLBACK):
            return f"{detail.get('from') or '—'} → {detail.get('to')}"
        if obj.action == AuditEvent.Action.CATALOGUE_EDIT:
            return f"{detail.get('name', '')}: {', '.join(detail.get('fields', []))}"
        if obj.action in (AuditEvent.Action.API_KEY_ISSUED, AuditEvent.Action.API_KEY_REVOKED):
            return f"{detail.get('name', '')} ({detail.get('prefix', '')}…)"
        return detail.get("slot", "")
