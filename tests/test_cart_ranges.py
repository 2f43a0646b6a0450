"""Issue 16 item 5: ranges that fit CAR-T patients. The healthy (typical) range is information;
a value is flagged only when it is unusual even for the development CAR-T patients (outside
their 0.5-99.5 percentile, stored with the catalogue by migration 0005, editable in the admin).
Real database, real pages in both languages, the real sheet where it is present.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from django.test import Client

from predictor.catalogue import FACTORS
from predictor.inputs.cart_ranges import cart_ranges, warning_share
from predictor.inputs.cart_ranges_data import CART_RANGES
from predictor.inputs.validation import DEFAULT_LIMITS, check_values
from predictor.live_catalogue import forget_cached_catalogue, live_catalogue
from tests.test_pages import field_block

SHEET = Path(__file__).resolve().parents[2] / "shared" / "data" / "prcrs-public" / "CAR-T.xlsx"
# What a CAR-T ward has on the chart (issue 16): high for a healthy adult, usual in CRS.
REALISTIC = {"il6": "48", "crp": "35", "ferritin": "900", "il10": "7.2", "ifn_gamma": "12",
             "il2": "3.1", "il4": "2.5", "tnf_alpha": "4.4", "il17a": "6"}


def test_the_migration_seeds_the_generated_ranges(db):
    from predictor.models import Factor

    seeded = {f.key: (f.cart_min, f.cart_max) for f in Factor.objects.all()
              if f.cart_min is not None}
    assert seeded == CART_RANGES
    assert Factor.objects.get(key="chloride").cart_min is None  # its sheet column is not chloride


def test_a_realistic_car_t_entry_raises_no_warning_and_a_hundredfold_slip_does():
    assert check_values(REALISTIC, percent_input=False).flags == {}
    slipped = check_values(dict(REALISTIC, ferritin="90000", crp="3500"), percent_input=False)
    assert set(slipped.errors) == {"crp"}  # 3500 mg/L is past the hard limit: refused
    assert set(check_values(dict(REALISTIC, ferritin="90000"), percent_input=False).flags) == {
        "ferritin"}


def test_the_warning_range_covers_the_healthy_range():
    for key, limits in DEFAULT_LIMITS.items():
        assert limits.warn_min <= limits.typical_min and limits.warn_max >= limits.typical_max


@pytest.mark.parametrize(("page", "info", "warning"), [
    ("/en/", "Healthy adults: 0–10", "is unusual even for CAR-T patients"),
    ("/zh-hans/", "健康成人参考范围：0–10", "即使对 CAR-T 患者也不寻常"),
])
def test_the_page_shows_the_healthy_range_as_information_and_warns_only_when_unusual(
        tiny_models, page, info, warning):
    client = Client()
    usual = client.post(page, {**REALISTIC, "horizon": "1"})
    block = field_block(usual, "il6")
    assert info in " ".join(block.split()) and "field-warning" not in block
    unusual = client.post(page, {**REALISTIC, "il6": "150000", "horizon": "1"})
    assert warning in field_block(unusual, "il6")


def test_an_admin_edit_of_the_range_takes_effect(db):
    from predictor.models import Factor

    Factor.objects.filter(key="il6").update(cart_max=40.0)
    forget_cached_catalogue()
    limits = live_catalogue(None).limits
    assert set(check_values(REALISTIC, limits=limits, percent_input=False).flags) == {"il6"}
    Factor.objects.filter(key="il6").update(cart_min=None, cart_max=None)
    forget_cached_catalogue()
    limits = live_catalogue(None).limits
    assert "il6" in check_values(REALISTIC, limits=limits, percent_input=False).flags  # healthy


@pytest.mark.skipif(not SHEET.exists(), reason="the public CAR-T sheet (../shared) is absent")
def test_the_ranges_come_from_the_sheet_and_cut_the_warnings():
    from predictor.training.data import UNUSED_FACTOR_KEYS, load_cart

    cohort = load_cart(SHEET)
    values = {k: cohort.values[k].to_numpy() for k in cohort.values.columns}
    assert cart_ranges(values, skip=UNUSED_FACTOR_KEYS) == CART_RANGES
    healthy = {f.key: f.typical for f in FACTORS}
    after = {k: (DEFAULT_LIMITS[k].warn_min, DEFAULT_LIMITS[k].warn_max) for k in healthy}
    rows_before, values_before = warning_share(values, healthy)
    rows_after, values_after = warning_share(values, after)
    assert rows_before > 0.9 and values_after < 0.02 and rows_after < rows_before


def test_warning_share_counts_rows_and_values():
    values = {"a": np.array([1.0, 5.0, 9.0, 2.0]), "b": np.array([0.0, 0.0, 3.0, 0.0])}
    assert warning_share(values, {"a": (0, 6), "b": (0, 1)}) == (0.25, 2 / 8)
