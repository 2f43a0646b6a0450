"""The model version add page, which is the upload form: a version only exists once its file
passed the checks (``predictor.model_versions.upload_checks.submit_upload``)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext, gettext_lazy as _

from predictor.model_versions.upload_checks import UploadRejected, max_upload_bytes, submit_upload
from predictor.models import COMBINATION_CHOICES, CONTEXT_CHOICES, HORIZON_CHOICES, AuditEvent


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


def upload_view(model_admin, request, extra_context=None):
    """GET: the form; POST: the checked upload recorded as validated, or the form with why."""
    if not model_admin.has_add_permission(request):
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
            model_admin.log_addition(request, mv, [{"added": {}}])
            messages.success(request, gettext(
                "%(version)s passed every check and was recorded as validated. It is not "
                "serving yet: activate it when you are ready.") % {"version": mv.label})
            return HttpResponseRedirect(
                reverse("admin:predictor_modelversion_change", args=[mv.pk]))
    return upload_page(model_admin, request, form,
                       status=400 if request.method == "POST" else 200,
                       extra_context=extra_context)


def upload_page(model_admin, request, form, *, status: int,
                extra_context=None) -> TemplateResponse:
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts, "form": form, "title": gettext("Upload a model version"),
        "max_upload_mb": round(max_upload_bytes() / (1024 * 1024), 1),
        "has_view_permission": model_admin.has_view_permission(request),
        **(extra_context or {}),
    }
    return TemplateResponse(request, "admin/predictor/modelversion/upload.html", context,
                            status=status)


def oversize_upload_response(model_admin, request, *, limit: int, length: int):
    """The upload page with the reason, for an upload over the request-size limit, and an
    audit entry (the body is not read, so the slot chosen is unknown). None for a user who
    may not upload."""
    user = getattr(request, "user", None)
    if not (user is not None and user.is_active and user.is_staff
            and model_admin.has_add_permission(request)):
        return None
    message = gettext("The upload was refused before it was read: the request carried "
                      "%(size)s MB, at most %(limit)s MB are accepted.") % {
        "size": f"{length / (1024 * 1024):.3g}", "limit": f"{limit / (1024 * 1024):.3g}"}
    AuditEvent.objects.create(user=user, action=AuditEvent.Action.VALIDATION_FAILED, detail={
        "slot": "", "size": length, "reasons": [message], "codes": ["request_too_large"]})
    form = UploadForm()
    form.cleaned_data = {}  # unbound, yet it shows this reason like any rejection
    form.add_error(None, message)
    return upload_page(model_admin, request, form, status=413).render()
