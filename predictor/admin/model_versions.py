"""The model version list and pages; the add page is the upload (``uploads``), activation and
rollback go through a confirmation page (``activation``)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path
from django.utils.translation import gettext, gettext_lazy as _

from predictor.admin import activation, uploads
from predictor.models import ModelVersion


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("label", "horizon", "combination", "context", "version", "state", "source",
                    "short_sha", "uploaded_by", "uploaded_at", "activated_at")
    list_filter = ("state", "source", "horizon", "combination", "context")
    search_fields = ("sha256", "original_name", "notes")
    ordering = ("horizon", "combination", "context", "-version")
    actions = ("activate_selected",)
    fields = ("horizon", "combination", "context", "version", "state", "source", "sha256", "size",
              "original_name", "file_name", "uploaded_by", "uploaded_at", "activated_by",
              "activated_at", "manifest", "validation_report", "baseline_summary", "notes")
    readonly_fields = tuple(f for f in fields if f != "notes")

    def get_queryset(self, request):
        # The file bytes (up to PRCRS_MAX_UPLOAD_MB each) are never needed on admin pages.
        return super().get_queryset(request).defer("content")

    @admin.display(description=_("SHA-256"))
    def short_sha(self, obj: ModelVersion) -> str:
        return obj.sha256[:12]

    @admin.display(description=_("calibration baseline"))
    def baseline_summary(self, obj: ModelVersion) -> str:
        rows = obj.baseline or []
        return gettext("%(rows)d patient-days, %(severe)d severe") % {
            "rows": len(rows), "severe": sum(int(row[1]) for row in rows)}

    # Retired versions keep their files and rows: rollback must always be possible.
    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("<int:object_id>/activate/", self.admin_site.admin_view(self.activate_view),
                 name="%s_%s_activate" % info),
        ] + super().get_urls()

    def add_view(self, request, form_url="", extra_context=None):
        return uploads.upload_view(self, request, extra_context)

    def oversize_body_response(self, request, *, url_name: str, limit: int, length: int):
        """Called by RequestBodyLimitMiddleware before the body is read: the upload page with
        the reason for an upload over the limit; None for any other page of this admin."""
        if url_name != "%s_%s_add" % (self.opts.app_label, self.opts.model_name):
            return None
        return uploads.oversize_upload_response(self, request, limit=limit, length=length)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = dict(extra_context or {})
        obj = self.get_object(request, object_id)
        if obj is not None:
            extra.update(activation.activation_context(request, obj))
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def activate_view(self, request, object_id):
        return activation.activate_view(self, request, object_id)

    @admin.action(description=_("Activate or roll back to the selected version"),
                  permissions=["activate"])
    def activate_selected(self, request, queryset):
        return activation.activate_selected(self, request, queryset)

    def has_activate_permission(self, request) -> bool:
        return request.user.has_perm(activation.ACTIVATE_PERMISSION)
