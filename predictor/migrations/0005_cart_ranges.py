"""Ranges that fit CAR-T patients (issue 16 item 5): the development patients' 0.5-99.5
percentile per factor, stored beside the healthy (typical) range. A value outside it is
"unusual even for CAR-T patients"; the healthy range becomes information only. The numbers are
GENERATED data (``python -m predictor.inputs.cart_ranges``), copied here so that this migration
never changes meaning when the code does; editable in the admin afterwards.
"""

from django.db import migrations, models

# 1186 patient-days of the cleaned sheet. Rows with a range warning: 100.0% with the healthy ranges, 19.0% with the CAR-T ranges; values flagged: 35.2% before, 0.7% after.
CART_RANGES = {
    'd_dimer': (0.1693, 16.42),
    'pct': (0.1092, 6.747),
    'bnp': (4.324, 6201.0),
    'hbdh': (2.093, 1782.0),
    'prealbumin': (2.277, 473.4),
    'tumor_burden': (0.0, 0.945),
    'pt': (9.8, 19.67),
    'aptt': (20.92, 76.56),
    'fibrinogen': (0.8333, 6.63),
    'rbc': (1.299, 4.493),
    'hemoglobin': (10.0, 132.1),
    'wbc': (0.1, 39.02),
    'neutrophil_pct': (0.1139, 0.9831),
    'neutrophil_count': (0.1, 14.67),
    'lymphocyte_pct': (0.1, 0.99),
    'lymphocyte_count': (0.1, 4.384),
    'platelets': (1.0, 389.2),
    'monocyte_pct': (0.1, 0.9608),
    'monocyte_count': (0.1, 2.503),
    'sodium': (131.1, 149.0),
    'potassium': (2.858, 5.111),
    'calcium': (1.789, 2.9),
    'uric_acid': (2.77, 581.6),
    'glucose': (2.409, 8.621),
    'triglyceride': (0.5493, 12.21),
    'ggt': (2.193, 729.8),
    'albumin': (5.592, 51.21),
    'alt': (1.1, 144.2),
    'ast': (1.292, 209.5),
    'alp': (1.8, 353.3),
    'ldh': (2.3, 2435.0),
    'creatinine': (5.0, 159.8),
    'crp': (1.0, 315.4),
    'ferritin': (4.97, 17920.0),
    'il2': (1.0, 95.91),
    'il4': (0.5, 25.81),
    'il6': (1.093, 7398.0),
    'il10': (1.0, 201.3),
    'tnf_alpha': (0.3, 24.39),
    'ifn_gamma': (1.0, 1169.0),
    'il17a': (1.1, 41.42),
}


def seed(apps, schema_editor):
    Factor = apps.get_model("predictor", "Factor")
    for factor in Factor.objects.all():
        if factor.key in CART_RANGES:
            factor.cart_min, factor.cart_max = CART_RANGES[factor.key]
            factor.save(update_fields=["cart_min", "cart_max"])


class Migration(migrations.Migration):

    dependencies = [
        ("predictor", "0004_api_keys"),
    ]

    operations = [
        migrations.AddField(
            model_name="factor", name="cart_min",
            field=models.FloatField(blank=True, null=True, verbose_name="unusual for CAR-T patients below",
                                    help_text="Development patients' 0.5th percentile; empty: the typical range warns."),
        ),
        migrations.AddField(
            model_name="factor", name="cart_max",
            field=models.FloatField(blank=True, null=True, verbose_name="unusual for CAR-T patients above",
                                    help_text="Development patients' 99.5th percentile; empty: the typical range warns."),
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
