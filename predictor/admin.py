"""Django admin: catalogue texts per language, model uploads, activation and rollback, audit.

The admin only adapts HTTP to the domain functions:
``predictor.model_versions.upload_checks.submit_upload`` checks and records an upload,
``predictor.model_versions.versions.activate`` switches the serving version.
Activation and rollback need the ``predictor.activate_modelversion`` permission and a POST
from a confirmation page; uploads need the add permission; the audit trail and the prediction
log are read-only.
"""

from __future__ import annotations

import csv

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import get_language_info, gettext, gettext_lazy as _
from modeltranslation.admin import TranslationAdmin

from predictor.access.api_keys import issue_key, revoke_key
from predictor.catalogue import CONTEXT_KEYS, FACTOR_KEYS
from predictor.model_versions.upload_checks import UploadRejected, max_upload_bytes, submit_upload
from predictor.model_versions.versions import activate, bump_serving_stamp
from predictor.models import (
    COMBINATION_CHOICES, CONTEXT_CHOICES, HORIZON_CHOICES, ApiKey, AuditEvent, Combination,
    Factor, ModelVersion, Panel, PredictionLog,
)

ACTIVATE_PERMISSION = "predictor.activate_modelversion"


# --- catalogue -----------------------------------------------------------------------------

# Language tabs come from the site's own script (static/admin/prcrs/translation_tabs.js):
# modeltranslation's tabbed admin needs jQuery UI from a CDN, which the CSP blocks and many
# hospital networks (and users in China) cannot reach. Each translated widget carries its
# language and the language's own name ("简体中文", "English") for the tab labels; without the
# script every language keeps its own labelled field ("Name [zh-hans]", "Name [en]").
def language_tab_attrs(db_field) -> dict[str, str]:
    """``data-`` attributes the tab script reads off a translation field's widget."""
    language = db_field.language
    return {"data-mt-field": db_field.translated_field.name,
            "data-mt-field-label": capfirst(db_field.translated_field.verbose_name),
            "data-mt-language": language,
            "data-mt-language-name": get_language_info(language)["name_local"]}


class CatalogueAdmin(TranslationAdmin):
    """Texts (per language) and limits are editable; structure is the model file contract."""

    class Media:
        js = ("admin/prcrs/translation_tabs.js",)
        css = {"all": ("admin/prcrs/translation_tabs.css",)}

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if field is not None and hasattr(db_field, "translated_field"):
            self._get_widget_from_field(field).attrs.update(language_tab_attrs(db_field))
        return field

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            if form.changed_data:
                AuditEvent.objects.create(
                    user=request.user, action=AuditEvent.Action.CATALOGUE_EDIT,
                    detail={"object": obj._meta.model_name, "id": obj.pk, "name": str(obj),
                            "fields": list(form.changed_data)})
                # Every worker re-reads the catalogue (texts, limits) at its next stamp check.
                bump_serving_stamp()


@admin.register(Panel)
class PanelAdmin(CatalogueAdmin):
    list_display = ("number", "key", "name")
    readonly_fields = ("number", "key")
    fields = ("number", "key", "name")


@admin.register(Factor)
class FactorAdmin(CatalogueAdmin):
    list_display = ("position", "key", "name", "unit", "panel", "hard_min", "typical_min",
                    "typical_max", "hard_max")
    list_display_links = ("position", "key")
    list_filter = ("panel",)
    search_fields = ("key", "name_en", "name_zh_hans")
    readonly_fields = ("position", "key", "panel", "sheet_column", "is_fraction")
    fieldsets = (
        (None, {"fields": ("position", "key", "panel", "sheet_column", "is_fraction")}),
        (_("Texts"), {"fields": ("name", "unit", "help_text")}),
        (_("Plausibility limits (model units; fractions 0–1)"),
         {"fields": ("hard_min", "typical_min", "typical_max", "hard_max")}),
    )


@admin.register(Combination)
class CombinationAdmin(CatalogueAdmin):
    list_display = ("rank", "code", "name")
    readonly_fields = ("rank", "code")
    fields = ("rank", "code", "name")


# --- model versions ------------------------------------------------------------------------

class UploadForm(forms.Form):
    horizon = forms.TypedChoiceField(label=_("horizon"), choices=HORIZON_CHOICES, coerce=int)
    combination = forms.ChoiceField(label=_("combination"), choices=COMBINATION_CHOICES)
    # The slot's clinical context; the file's manifest (context_keys) must agree with it.
    context = forms.ChoiceField(
        label=_("clinical context"), choices=CONTEXT_CHOICES, required=False,
        help_text=_("Labs only, or labs with today's CRS grade and the day since infusion "
                    "(model files of format version 2 with context_keys; combination 0, the "
                    "no-lab reference, exists only with them)."))
    # Empty files reach the upload checks, which reject them with a reason and an audit event.
    model_file = forms.FileField(
        label=_("TorchScript model file"), allow_empty_file=True,
        help_text=_("Saved with torch.jit.save; may carry manifest.json and baseline.csv as "
                    "extra files."))
    baseline_file = forms.FileField(
        label=_("calibration baseline"), required=False, allow_empty_file=True,
        help_text=_("Optional: CSV with the header probability,severe, or the original PrCRS "
                    "workbook. Replaces a baseline.csv inside the model file."))
    notes = forms.CharField(label=_("notes"), required=False, widget=forms.Textarea(
        attrs={"rows": 3}))


def _flat_metrics(manifest: dict | None) -> dict[str, object]:
    """``{"patient_cv": {"auroc": 0.8}}`` -> ``{"patient_cv.auroc": 0.8}``."""
    flat: dict[str, object] = {}

    def walk(prefix: str, value: object) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        else:
            flat[prefix] = value

    walk("", (manifest or {}).get("metrics") or {})
    return flat


def comparison_rows(current: ModelVersion | None, target: ModelVersion) -> list[dict]:
    """Rows of the confirmation page: what the slot serves now next to what it will serve."""
    rows = [
        {"label": _("version"), "old": current.label if current else "—", "new": target.label},
        {"label": _("source"), "old": current.get_source_display() if current else "—",
         "new": target.get_source_display()},
        {"label": _("uploaded at"), "old": current.uploaded_at if current else "—",
         "new": target.uploaded_at},
        {"label": _("SHA-256"), "old": current.sha256[:16] if current else "—",
         "new": target.sha256[:16]},
        {"label": _("model type"), "old": (current.manifest or {}).get("model_type", "—")
         if current else "—", "new": (target.manifest or {}).get("model_type", "—")},
        {"label": _("baseline rows"), "old": len(current.baseline) if current else "—",
         "new": len(target.baseline)},
    ]
    old_metrics = _flat_metrics(current.manifest if current else None)
    new_metrics = _flat_metrics(target.manifest)
    for key in sorted(set(old_metrics) | set(new_metrics)):
        if key.split(".")[-1] == "notes":  # prose, not a figure to compare
            continue
        rows.append({"label": key, "old": _show(old_metrics.get(key)),
                     "new": _show(new_metrics.get(key)), "metric": True})
    return rows


def _show(value: object) -> object:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return value


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

    # The add page is the upload form: a version only exists once its file passed the checks.
    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = UploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                mv = submit_upload(horizon=data["horizon"], combination=data["combination"],
                                   context=data.get("context") or "",
                                   model_file=data["model_file"],
                                   baseline_file=data.get("baseline_file"),
                                   notes=data.get("notes", ""), user=request.user)
            except UploadRejected as rejection:
                for message in rejection.messages:
                    form.add_error(None, message)
            else:
                self.log_addition(request, mv, [{"added": {}}])
                messages.success(request, gettext(
                    "%(version)s passed every check and was recorded as validated. It is not "
                    "serving yet: activate it when you are ready.") % {"version": mv.label})
                return HttpResponseRedirect(
                    reverse("admin:predictor_modelversion_change", args=[mv.pk]))
        return self._upload_page(request, form, status=400 if request.method == "POST" else 200,
                                 extra_context=extra_context)

    def _upload_page(self, request, form, *, status: int, extra_context=None) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts, "form": form, "title": gettext("Upload a model version"),
            "max_upload_mb": round(max_upload_bytes() / (1024 * 1024), 1),
            "has_view_permission": self.has_view_permission(request),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/predictor/modelversion/upload.html", context,
                                status=status)

    def oversize_body_response(self, request, *, url_name: str, limit: int, length: int):
        """The upload page with the reason, for an upload over the request-size limit, and an
        audit entry (called by RequestBodyLimitMiddleware before the body is read, so the
        slot chosen is unknown). None elsewhere or for a user who may not upload."""
        if url_name != "%s_%s_add" % (self.opts.app_label, self.opts.model_name):
            return None
        user = getattr(request, "user", None)
        if not (user is not None and user.is_active and user.is_staff
                and self.has_add_permission(request)):
            return None
        message = gettext("The upload was refused before it was read: the request carried "
                          "%(size)s MB, at most %(limit)s MB are accepted.") % {
            "size": f"{length / (1024 * 1024):.3g}", "limit": f"{limit / (1024 * 1024):.3g}"}
        AuditEvent.objects.create(user=user, action=AuditEvent.Action.VALIDATION_FAILED, detail={
            "slot": "", "size": length, "reasons": [message], "codes": ["request_too_large"]})
        form = UploadForm()
        form.cleaned_data = {}  # unbound, yet it shows this reason like any rejection
        form.add_error(None, message)
        return self._upload_page(request, form, status=413).render()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = dict(extra_context or {})
        obj = self.get_object(request, object_id)
        if obj is not None:
            extra.update(self._activation_context(request, obj))
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def _activation_context(self, request, obj: ModelVersion) -> dict:
        current = self._active_version(obj)
        can = (request.user.has_perm(ACTIVATE_PERMISSION)
               and obj.state in (ModelVersion.State.VALIDATED, ModelVersion.State.RETIRED))
        return {"can_activate": can, "is_rollback": _is_rollback(current, obj),
                "activate_url": reverse("admin:predictor_modelversion_activate", args=[obj.pk]),
                "model_card_url": _model_card_url(obj)}

    @staticmethod
    def _active_version(obj: ModelVersion) -> ModelVersion | None:
        return ModelVersion.objects.defer("content").filter(
            horizon=obj.horizon, combination=obj.combination, context=obj.context,
            state=ModelVersion.State.ACTIVE).first()

    def activate_view(self, request, object_id):
        """GET: what would change; POST (CSRF-checked by admin_view) with confirm: do it."""
        if not request.user.has_perm(ACTIVATE_PERMISSION):
            raise PermissionDenied
        target = get_object_or_404(ModelVersion.objects.defer("content"), pk=object_id)
        changelist = reverse("admin:predictor_modelversion_changelist")
        if target.state not in (ModelVersion.State.VALIDATED, ModelVersion.State.RETIRED):
            messages.error(request, gettext("%(version)s is %(state)s and cannot be activated.")
                           % {"version": target.label, "state": target.get_state_display()})
            return HttpResponseRedirect(changelist)
        current = self._active_version(target)
        if request.method == "POST" and request.POST.get("confirm") == "yes":
            rollback = _is_rollback(current, target)
            previous = activate(target, user=request.user)
            self.log_change(request, target, [{"changed": {"fields": ["state"]}}])
            messages.success(request, gettext(
                "%(slot)s now serves %(to)s (was %(from)s). Every worker switches within "
                "seconds; %(from)s is kept for rollback.") % {
                "slot": _slot(target), "to": target.label,
                "from": previous.label if previous else gettext("nothing")}
                if not rollback else gettext(
                "Rolled back %(slot)s from %(from)s to %(to)s.") % {
                "slot": _slot(target), "to": target.label,
                "from": previous.label if previous else gettext("nothing")})
            return HttpResponseRedirect(changelist)
        return self._confirmation_page(request, target, current)

    def _confirmation_page(self, request, target: ModelVersion, current: ModelVersion | None):
        rollback = _is_rollback(current, target)
        title = (gettext("Roll back %(slot)s to %(version)s?") if rollback
                 else gettext("Activate %(version)s for %(slot)s?")) % {
            "slot": _slot(target), "version": target.label}
        context = {
            **self.admin_site.each_context(request), "opts": self.opts, "title": title,
            "target": target, "current": current, "is_rollback": rollback,
            "rows": comparison_rows(current, target),
            "action_url": reverse("admin:predictor_modelversion_activate", args=[target.pk]),
            "cancel_url": reverse("admin:predictor_modelversion_change", args=[target.pk]),
        }
        return TemplateResponse(request, "admin/predictor/modelversion/activate_confirm.html",
                                context)

    @admin.action(description=_("Activate or roll back to the selected version"),
                  permissions=["activate"])
    def activate_selected(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, gettext("Select exactly one version to activate."),
                              messages.WARNING)
            return None
        target = queryset.get()
        if target.state not in (ModelVersion.State.VALIDATED, ModelVersion.State.RETIRED):
            self.message_user(request, gettext("%(version)s is %(state)s and cannot be "
                                               "activated.") % {
                "version": target.label, "state": target.get_state_display()}, messages.ERROR)
            return None
        return self._confirmation_page(request, target, self._active_version(target))

    def has_activate_permission(self, request) -> bool:
        return request.user.has_perm(ACTIVATE_PERMISSION)


def _slot(mv: ModelVersion) -> str:
    return f"h{mv.horizon}-{mv.combination}" + ("-ctx" if mv.context else "")


def _is_rollback(current: ModelVersion | None, target: ModelVersion) -> bool:
    return current is not None and target.version < current.version


def _model_card_url(mv: ModelVersion) -> str | None:
    try:
        if mv.context:
            return reverse("model_card_context", args=[mv.horizon, mv.combination])
        return reverse("model_card", args=[mv.horizon, mv.combination])
    except Exception:  # noqa: BLE001 - the public page may not be wired yet
        return None


# --- read-only records -----------------------------------------------------------------------

class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


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


class _Echo:
    def write(self, value: str) -> str:
        return value


def prediction_csv_response(queryset) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
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


# --- API keys --------------------------------------------------------------------------------

@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Issue keys (the key is shown once, on the page after saving), revoke them, see usage."""

    list_display = ("name", "prefix", "state", "limit", "predictions", "requests", "refused",
                    "last_used_at", "created_at", "created_by")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("name", "prefix")
    actions = ("revoke_selected",)
    readonly_fields = ("prefix", "state", "created_at", "created_by", "revoked_at", "revoked_by",
                       "predictions", "requests", "refused", "last_used_at")

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("name", "limit")
        return ("name", "limit", *self.readonly_fields)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # revoked keys stay, with their usage, for the record

    @admin.display(description=_("state"))
    def state(self, obj: ApiKey) -> str:
        return gettext("revoked") if obj.revoked_at else gettext("active")

    def save_model(self, request, obj, form, change) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        issued, key = issue_key(name=obj.name, limit=obj.limit, user=request.user)
        for name in ("pk", "prefix", "key_hash", "created_at", "created_by"):
            setattr(obj, name, getattr(issued, name))
        obj._state.adding = False
        request.prcrs_issued_key = key

    def response_add(self, request, obj, post_url_continue=None):
        """The only time the key is visible: a page of its own, never a stored message."""
        key = getattr(request, "prcrs_issued_key", None)
        if key is None:
            return super().response_add(request, obj, post_url_continue)
        context = {**self.admin_site.each_context(request), "opts": self.opts, "api_key": obj,
                   "key": key, "title": gettext("API key issued")}
        response = TemplateResponse(request, "admin/predictor/apikey/issued.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description=_("Revoke the selected API keys"), permissions=["change"])
    def revoke_selected(self, request, queryset):
        revoked = sum(revoke_key(api_key=key, user=request.user) for key in queryset)
        self.message_user(request, gettext("%(count)d API key(s) revoked. Every replica refuses "
                                           "them within seconds.") % {"count": revoked})
