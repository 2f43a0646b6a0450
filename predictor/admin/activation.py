"""Activation and rollback from the admin: a confirmation page that sets what a slot serves
now beside what it will serve, then ``predictor.model_versions.versions.activate`` on a
confirmed POST. Needs the ``predictor.activate_modelversion`` permission."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext, gettext_lazy as _

from predictor.model_versions.versions import activate
from predictor.models import ModelVersion

ACTIVATE_PERMISSION = "predictor.activate_modelversion"
ACTIVATABLE = (ModelVersion.State.VALIDATED, ModelVersion.State.RETIRED)


def flat_metrics(manifest: dict | None) -> dict[str, object]:
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
    old_metrics = flat_metrics(current.manifest if current else None)
    new_metrics = flat_metrics(target.manifest)
    for key in sorted(set(old_metrics) | set(new_metrics)):
        if key.split(".")[-1] == "notes":  # prose, not a figure to compare
            continue
        rows.append({"label": key, "old": shown(old_metrics.get(key)),
                     "new": shown(new_metrics.get(key)), "metric": True})
    return rows


def shown(value: object) -> object:
    """A metric as the comparison table shows it: a dash when absent, 4 significant digits."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return value


def slot_name(mv: ModelVersion) -> str:
    return f"h{mv.horizon}-{mv.combination}" + ("-ctx" if mv.context else "")


def is_rollback(current: ModelVersion | None, target: ModelVersion) -> bool:
    return current is not None and target.version < current.version


def model_card_url(mv: ModelVersion) -> str | None:
    try:
        if mv.context:
            return reverse("model_card_context", args=[mv.horizon, mv.combination])
        return reverse("model_card", args=[mv.horizon, mv.combination])
    except Exception:  # noqa: BLE001 - the public page may not be wired yet
        return None


def active_version(obj: ModelVersion) -> ModelVersion | None:
    """The version the slot of ``obj`` serves now, if any."""
    return ModelVersion.objects.defer("content").filter(
        horizon=obj.horizon, combination=obj.combination, context=obj.context,
        state=ModelVersion.State.ACTIVE).first()


def activation_context(request, obj: ModelVersion) -> dict:
    """What the change page needs for its activate / roll back button."""
    current = active_version(obj)
    can = request.user.has_perm(ACTIVATE_PERMISSION) and obj.state in ACTIVATABLE
    return {"can_activate": can, "is_rollback": is_rollback(current, obj),
            "activate_url": reverse("admin:predictor_modelversion_activate", args=[obj.pk]),
            "model_card_url": model_card_url(obj)}


def not_activatable_message(target: ModelVersion) -> str:
    return gettext("%(version)s is %(state)s and cannot be activated.") % {
        "version": target.label, "state": target.get_state_display()}


def activated_message(target: ModelVersion, previous: ModelVersion | None,
                      rollback: bool) -> str:
    names = {"slot": slot_name(target), "to": target.label,
             "from": previous.label if previous else gettext("nothing")}
    if rollback:
        return gettext("Rolled back %(slot)s from %(from)s to %(to)s.") % names
    return gettext(
        "%(slot)s now serves %(to)s (was %(from)s). Every worker switches within "
        "seconds; %(from)s is kept for rollback.") % names


def activate_view(model_admin, request, object_id):
    """GET: what would change; POST (CSRF-checked by admin_view) with confirm: do it."""
    if not request.user.has_perm(ACTIVATE_PERMISSION):
        raise PermissionDenied
    target = get_object_or_404(ModelVersion.objects.defer("content"), pk=object_id)
    changelist = reverse("admin:predictor_modelversion_changelist")
    if target.state not in ACTIVATABLE:
        messages.error(request, not_activatable_message(target))
        return HttpResponseRedirect(changelist)
    current = active_version(target)
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        rollback = is_rollback(current, target)
        previous = activate(target, user=request.user)
        model_admin.log_change(request, target, [{"changed": {"fields": ["state"]}}])
        messages.success(request, activated_message(target, previous, rollback))
        return HttpResponseRedirect(changelist)
    return confirmation_page(model_admin, request, target, current)


def confirmation_page(model_admin, request, target: ModelVersion,
                      current: ModelVersion | None) -> TemplateResponse:
    rollback = is_rollback(current, target)
    title = (gettext("Roll back %(slot)s to %(version)s?") if rollback
             else gettext("Activate %(version)s for %(slot)s?")) % {
        "slot": slot_name(target), "version": target.label}
    context = {
        **model_admin.admin_site.each_context(request), "opts": model_admin.opts,
        "title": title, "target": target, "current": current, "is_rollback": rollback,
        "rows": comparison_rows(current, target),
        "action_url": reverse("admin:predictor_modelversion_activate", args=[target.pk]),
        "cancel_url": reverse("admin:predictor_modelversion_change", args=[target.pk]),
    }
    return TemplateResponse(request, "admin/predictor/modelversion/activate_confirm.html",
                            context)


def activate_selected(model_admin, request, queryset):
    """The changelist action: exactly one activatable version -> its confirmation page."""
    if queryset.count() != 1:
        model_admin.message_user(request, gettext("Select exactly one version to activate."),
                                 messages.WARNING)
        return None
    target = queryset.get()
    if target.state not in ACTIVATABLE:
        model_admin.message_user(request, not_activatable_message(target), messages.ERROR)
        return None
    return confirmation_page(model_admin, request, target, active_version(target))
