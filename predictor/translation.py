"""django-modeltranslation: which catalogue texts exist once per language."""

from modeltranslation.translator import TranslationOptions, register

from predictor.models import Combination, Factor, Panel


@register(Panel)
class PanelTranslation(TranslationOptions):
    fields = ("name",)


@register(Factor)
class FactorTranslation(TranslationOptions):
    fields = ("name", "unit", "help_text")


@register(Combination)
class CombinationTranslation(TranslationOptions):
    fields = ("name",)
