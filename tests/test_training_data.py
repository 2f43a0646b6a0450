"""Sheet loading, k-day-ahead labels and unit conversion (synthetic frames; real sheets if present)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from predictor.catalogue import FACTOR_KEYS, FACTORS, FACTORS_BY_KEY, combination_factor_keys
from predictor.training import synthetic
from predictor.training.data import (COVID_UNIT_FACTORS, SheetError, cart_frame_to_cohort,
                                     covid_frame_to_cohort, covid_matrix, default_data_dir,
                                     horizon_rows, load_cart, load_covid)

DATA = default_data_dir()
needs_data = pytest.mark.skipif(not (DATA / "CAR-T.xlsx").exists(),
                                reason=f"public PrCRS sheets not present at {DATA}")


def _tiny_cart(grades_per_patient):
    """A CAR-T frame with given CRS grades per patient (days 0..len-1)."""
    rows = []
    for grades in grades_per_patient:
        for d, g in enumerate(grades):
            row = {f.sheet_column: float(d + 1) for f in FACTORS}
            row.update({"Relative date": d, "CRS": g})
            rows.append(row)
    return pd.DataFrame(rows)


def test_patient_ids_restart_at_day_zero_and_columns_follow_catalogue():
    cohort = cart_frame_to_cohort(_tiny_cart([[0, 1, 3], [0, 0], [0, 4, 4, 1]]))
    assert list(cohort.values.columns) == list(FACTOR_KEYS)
    assert cohort.patient.tolist() == [1, 1, 1, 2, 2, 3, 3, 3, 3]
    assert cohort.n_patients == 3


def test_tumor_burden_comes_from_problast_not_tumor_burden_column():
    frame = _tiny_cart([[0, 1]])
    frame["problast"] = [0.25, 0.5]
    frame["Tumor burden"] = [0.9, 0.9]
    cohort = cart_frame_to_cohort(frame)
    assert cohort.values["tumor_burden"].tolist() == [0.25, 0.5]


@pytest.mark.parametrize("k", [1, 2, 3])
def test_labels_shift_within_patients_and_drop_last_k_days(k):
    grades = [[0, 1, 3, 4, 0], [3, 0, 0], [0, 0, 0, 3]]
    cohort = cart_frame_to_cohort(_tiny_cart(grades))
    rows = horizon_rows(cohort, k)
    expected_y, expected_grade = [], []
    for g in grades:
        for d in range(len(g) - k):
            expected_y.append(int(g[d + k] >= 3))
            expected_grade.append(g[d])
    assert rows.y.tolist() == expected_y
    assert rows.grade_today.tolist() == expected_grade
    assert len(rows) == sum(max(0, len(g) - k) for g in grades)
    # the last k days of every patient are gone; never a label from the next patient
    for p, g in zip((1, 2, 3), grades):
        days = rows.day[rows.patient == p]
        assert days.max(initial=-1) < len(g) - k


def test_horizon_rows_match_by_day_index_so_gaps_never_pair_wrong_days():
    frame = _tiny_cart([[0, 0, 3, 0]])
    frame = frame[frame["Relative date"] != 1].reset_index(drop=True)  # day 1 missing
    rows = horizon_rows(cart_frame_to_cohort(frame), 1)
    assert rows.day.tolist() == [2]  # day 0 has no day 1; day 3 has no day 4
    assert rows.y.tolist() == [0]


def test_combination_columns_are_in_catalogue_order():
    cohort = cart_frame_to_cohort(synthetic.cart_frame(5))
    rows = horizon_rows(cohort, 1)
    for code in ("1234", "4", "23"):
        keys = combination_factor_keys(code)
        idx = [FACTOR_KEYS.index(k) for k in keys]
        assert np.array_equal(rows.columns(code), rows.x[:, idx])


def test_missing_column_is_named():
    frame = _tiny_cart([[0, 1]]).drop(columns=["ferritin"])
    with pytest.raises(SheetError, match="'ferritin'"):
        cart_frame_to_cohort(frame)
    covid = synthetic.covid_frame(5).drop(columns=["Maximum severity"])
    with pytest.raises(SheetError, match="'Maximum severity'"):
        covid_frame_to_cohort(covid)


def test_covid_unit_conversion_and_renamed_columns():
    frame = synthetic.covid_frame(3)
    frame["calcium"] = 8.016
    frame["creatinine"] = 1.0
    frame["glucose"] = 90.08
    frame["albumin"] = 3.5
    frame["fibrinogen"] = 400.0
    frame["erythrocyte"] = 4.5
    frame["neutrophil"] = 3.3
    cohort = covid_frame_to_cohort(frame)
    v = cohort.values.iloc[0]
    assert v["calcium"] == pytest.approx(2.0)
    assert v["creatinine"] == pytest.approx(88.42)
    assert v["glucose"] == pytest.approx(5.0)
    assert v["albumin"] == pytest.approx(35.0)
    assert v["fibrinogen"] == pytest.approx(4.0)
    assert v["rbc"] == pytest.approx(4.5)
    assert v["neutrophil_count"] == pytest.approx(3.3)
    assert set(COVID_UNIT_FACTORS) <= set(cohort.keys)
    x, present = covid_matrix(cohort, "4")
    assert present.tolist() == [k in ("il6", "tnf_alpha") for k in combination_factor_keys("4")]
    assert np.isnan(x[:, ~present]).all()


@needs_data
def test_real_sheets_shape_and_units():
    cart = load_cart(DATA / "CAR-T.xlsx")
    assert cart.n_patients == 162 and len(cart.values) == 1186
    assert int((cart.grade >= 3).sum()) == 60
    for k in (1, 2, 3):
        rows = horizon_rows(cart, k)
        # at most one row per day minus each patient's last k days (fewer where a day is missing)
        assert 1186 - 162 * k - 10 <= len(rows) <= 1186 - 162 * k
        assert 55 <= int(rows.y.sum()) <= 60
    covid = load_covid(DATA / "COVID-19.xlsx")
    assert len(covid.keys) == 28
    # after conversion the medians sit in SI ranges
    med = covid.values.median()
    assert 1.8 < med["calcium"] < 2.8
    assert 40 < med["creatinine"] < 150
    assert 4 < med["glucose"] < 10
    assert 20 < med["albumin"] < 50
    assert 2 < med["fibrinogen"] < 8


@needs_data
def test_real_sheet_sodium_slips_are_fixed_and_chloride_is_not_trained_on():
    cart = load_cart(DATA / "CAR-T.xlsx")
    # about 8 % of sodium values are a factor-10 slip; three impossible values are not certain
    assert 90 <= int(cart.sodium_slip.sum()) <= 100
    assert int(cart.sodium_missing.sum()) == 3
    assert cart.values["sodium"].min() >= 90 and cart.values["sodium"].max() <= 200
    assert cart.values["chloride"].nunique() == 1
    assert cart.sheet_values["chloride"].median() < 20  # the sheet's non-chloride quantity


# --- cleaning rules (item 6 of issue 15): each on rows built here -------------------------------

def _cohort_with(key: str, values: list[float]):
    """A one-patient cohort whose ``key`` column holds ``values`` (one per day); every other
    factor a plausible constant."""
    frame = _tiny_cart([[0] * len(values)])
    for f in FACTORS:
        frame[f.sheet_column] = 0.5 if f.is_fraction else float(np.mean(f.typical) or 1.0)
    frame[FACTORS_BY_KEY[key].sheet_column] = values
    return cart_frame_to_cohort(frame)


def _rows_changed(cohort, rule: str) -> int:
    return next(c["rows"] for c in cohort.cleaning if c["rule"] == rule)


def test_albumin_in_g_per_dl_is_multiplied_by_ten_where_plausible():
    cohort = _cohort_with("albumin", [3.5, 2.0, 40.0, 0.3, 80.0])
    v = cohort.values["albumin"].tolist()
    assert v[:3] == pytest.approx([35.0, 20.0, 40.0])
    # 0.3 x 10 = 3 g/L is still impossible, 80 is above the hard limit: both missing (median)
    median = float(np.median([35.0, 20.0, 40.0]))
    assert v[3:] == pytest.approx([median, median])
    assert _rows_changed(cohort, "albumin_unit_slip") == 2
    assert _rows_changed(cohort, "albumin_outside_hard_limits") == 2


def test_haemoglobin_in_g_per_dl_is_multiplied_by_ten():
    cohort = _cohort_with("hemoglobin", [9.0, 8.5, 120.0, 0.5])
    v = cohort.values["hemoglobin"].tolist()
    assert v[:3] == pytest.approx([90.0, 85.0, 120.0])
    assert v[3] == pytest.approx(90.0)  # 0.5 -> 5 g/L impossible: missing, the median
    assert _rows_changed(cohort, "hemoglobin_unit_slip") == 2


@pytest.mark.parametrize("key,bad,good", [("pt", 1.1, 13.0), ("aptt", 3.2, 35.0),
                                          ("creatinine", 1.2, 80.0)])
def test_impossible_low_values_are_missing_never_converted(key, bad, good):
    cohort = _cohort_with(key, [bad, good, good, bad])
    assert cohort.values[key].tolist() == pytest.approx([good] * 4)
    assert _rows_changed(cohort, f"{key}_impossible") == 2


def test_every_value_the_site_refuses_is_missing_in_training():
    from predictor.catalogue import FACTORS_BY_KEY as F

    cohort = _cohort_with("rbc", [0.14, 4.0, 11.5, 4.2])
    assert cohort.values["rbc"].tolist() == pytest.approx([4.1, 4.0, 4.1, 4.2])
    for f in FACTORS:
        low, high = F[f.key].hard
        if f.key not in ("chloride",):
            assert ((cohort.values[f.key] >= low) & (cohort.values[f.key] <= high)).all(), f.key


def test_cleaning_doc_lists_every_rule_with_its_counts(tmp_path):
    from predictor.training.data import CLEANING_RULES, write_cleaning_doc

    cohort = _cohort_with("pt", [1.0, 12.0, 0.9])
    out = tmp_path / "training-data.md"
    write_cleaning_doc(cohort.cleaning, len(cohort.values), "built.xlsx", out)
    text = out.read_text()
    assert len(CLEANING_RULES) == len(cohort.cleaning)
    for rule in CLEANING_RULES:
        assert f"`{rule.name}`" in text
    assert "| `pt_impossible` | pt < 5 s" in text and text.split("`pt_impossible`")[1] \
        .split("\n")[0].endswith("| 2 |")
