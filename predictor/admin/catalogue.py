"""Catalogue admin: panel, factor and combination texts per language, and the factor limits."""

from __future__ import annotations

from django.contrib import admin
from django.db import transaction
from django.utils.text import capfirst
from django.utils.translation import get_language_info, gettext_lazy as _
from modeltranslation.admin import TranslationAdmin

from predictor.model_versions.versions import bump_serving_stamp
from predictor.models import AuditEvent, Combination, Factor, Panel


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
                    "typical_max", "cart_min", "cart_max", "hard_max")
    list_display_links = ("position", "key")
    list_filter = ("panel",)
    search_fields = ("key", "name_en", "name_zh_hans")
    readonly_fields = ("position", "key", "panel", "sheet_column", "is_fraction")
    fieldsets = (
        (None, {"fields": ("position", "key", "panel", "sheet_column", "is_fraction")}),
        (_("Texts"), {"fields": ("name", "unit", "help_text")}),
        (_("Plausibility limits (model units; fractions 0–1)"),
         {"fields": ("hard_min", "typical_min", "typical_max", "hard_max")}),
        (_("Unusual for CAR-T patients (warning range; model units)"),
         {"fields": ("cart_min", "cart_max")}),
    )


@admin.register(Combination)
class CombinationAdmin(CatalogueAdmin):
    list_display = ("rank", "code", "name")
    readonly_fields = ("rank", "code")
    fields = ("rank", "code", "name")
