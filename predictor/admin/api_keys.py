"""API keys: issued (the key shown once, on the page after saving), revoked, usage shown."""

from __future__ import annotations

from django.contrib import admin
from django.template.response import TemplateResponse
from django.utils.translation import gettext, gettext_lazy as _

from predictor.access.api_keys import issue_key, revoke_key
from predictor.models import ApiKey


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
