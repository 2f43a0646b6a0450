"""Seed the catalogue (4 panels, 42 factors, 6 combinations) in both languages.

It reads ``predictor.catalogue``, the code-side contract, so the seeded order can never drift
from the order the models expect.
"""

from django.db import migrations


def seed(apps, schema_editor):
    from predictor.catalogue import COMBINATIONS, FACTORS, PANELS

    Panel = apps.get_model("predictor", "Panel")
    Factor = apps.get_model("predictor", "Factor")
    Combination = apps.get_model("predictor", "Combination")
    panels = {}
    for spec in PANELS:
        panels[spec.number] = Panel.objects.create(
            number=spec.number, key=spec.key, name=spec.name_zh,
            name_zh_hans=spec.name_zh, name_en=spec.name_en,
        )
    for position, spec in enumerate(FACTORS, start=1):
        Factor.objects.create(
            key=spec.key, panel=panels[spec.panel], position=position,
            sheet_column=spec.sheet_column, is_fraction=spec.is_fraction,
            name=spec.name_zh, name_zh_hans=spec.name_zh, name_en=spec.name_en,
            unit=spec.unit, unit_zh_hans=spec.unit, unit_en=spec.unit,
            help_text=spec.help_zh, help_text_zh_hans=spec.help_zh, help_text_en=spec.help_en,
            hard_min=spec.hard[0], hard_max=spec.hard[1],
            typical_min=spec.typical[0], typical_max=spec.typical[1],
        )
    for spec in COMBINATIONS:
        Combination.objects.create(
            code=spec.code, rank=spec.rank,
            name=spec.name_zh, name_zh_hans=spec.name_zh, name_en=spec.name_en,
        )
    apps.get_model("predictor", "ServingState").objects.create(pk=1, stamp=1)


def unseed(apps, schema_editor):
    for model in ("Factor", "Panel", "Combination", "ServingState"):
        apps.get_model("predictor", model).objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("predictor", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
