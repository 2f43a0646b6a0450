"""Batch intake (predictor.scoring.batch_intake): rows read as matrices per key pattern give
exactly what one prediction's checks give, and every row those checks would refuse is refused
with their words."""

from __future__ import annotations

from django.utils import translation

from predictor.inputs.context import check_context
from predictor.inputs.validation import DEFAULT_LIMITS, check_values
from predictor.scoring.batch import BatchRow
from predictor.scoring.batch_intake import take_rows

CYTOKINES = {"il2": 3.1, "il4": 2, "il6": 48000.0, "il10": 7.2, "tnf_alpha": 4.4,
             "ifn_gamma": 12.0, "il17a": 600.0}


def _take(rows, percent_input=False):
    return take_rows(rows, limits=DEFAULT_LIMITS, percent_input=percent_input, min_values=5)


def _where(intake, i):
    for group in intake.groups:
        found = group.rows.tolist()
        if i in found:
            return group, found.index(i)
    return None, None


def test_plain_number_rows_are_read_as_one_matrix_with_check_values_answers():
    rows = [BatchRow(CYTOKINES), BatchRow({**CYTOKINES, "il6": 30.0}),
            BatchRow(CYTOKINES, {"crs_grade": 1, "day": 4})]
    intake = _take(rows)
    assert not intake.errors
    group, j = _where(intake, 0)
    assert group.flags is None, "plain numbers take the quick reading"
    assert len(group.rows) == 2 and not group.context and group.x.shape == (2, 7)
    want = check_values(CYTOKINES, percent_input=False)
    values = group.values(j)
    assert values == want.values
    flags = group.row_flags(j, values, DEFAULT_LIMITS)
    assert set(flags) == set(want.flags) == {"il6", "il17a"}
    assert group.flagged(j) == ["il17a", "il6"]
    with translation.override("zh-hans"):
        assert str(flags["il17a"]) == str(want.flags["il17a"])
    with_context, k = _where(intake, 2)
    assert with_context.context and with_context.row_context(k) == check_context(
        {"crs_grade": 1, "day": 4}).values


def test_every_row_the_single_checks_refuse_is_refused_with_their_words():
    bad_rows = [
        ({**CYTOKINES, "il6": 1e6}, None),  # over the hard limit
        ({**CYTOKINES, "il6": float("nan")}, None),
        ({**CYTOKINES, "il6": 10 ** 400}, None),  # overflows a float
        ({**CYTOKINES, "il6": True}, None),  # JSON true is not 1
        ({**CYTOKINES, "il99": 1.0}, None),  # unknown key
        ({"il6": 4.0}, None),  # too few values
        ({}, None),
        (CYTOKINES, {"crs_grade": 1}),  # half a context
        (CYTOKINES, {"crs_grade": True, "day": 3}),
        (CYTOKINES, {"crs_grade": 5, "day": 3}),  # grade out of range
        (CYTOKINES, {"crs_grade": 1, "day": -1}),
        ({}, {"crs_grade": 1, "day": 99}),
    ]
    with translation.override("en"):
        intake = _take([BatchRow(values, context) for values, context in bad_rows])
        assert sorted(intake.errors) == list(range(len(bad_rows)))
        for i, (values, context) in enumerate(bad_rows):
            checked_context = check_context(context)
            reference_only = bool(context) and not values
            checked = check_values(values, percent_input=False,
                                   min_values=0 if reference_only else 5)
            want = {k: [str(m) for m in v] for k, v in checked.errors.items()}
            for key, messages in checked_context.errors.items():
                want.setdefault(key, []).extend(str(m) for m in messages)
            got = {k: [str(m) for m in v] for k, v in intake.errors[i].items()}
            assert got == want, bad_rows[i]


def test_text_and_percent_rows_are_checked_one_by_one_and_still_grouped():
    rows = [BatchRow({**CYTOKINES, "il6": "48"}),  # text: parsed as one prediction parses it
            BatchRow({"neutrophil_pct": 45, **CYTOKINES}),
            BatchRow({}, {"crs_grade": "2", "day": "3"}),  # the no-lab reference alone
            BatchRow({"il6": ""}, {"crs_grade": 0, "day": 1})]  # a blank counts as nothing
    intake = _take(rows, percent_input=True)
    assert not intake.errors
    group, j = _where(intake, 0)
    assert group.flags is not None and group.values(j)["il6"] == 48.0
    percent, k = _where(intake, 1)
    assert percent.values(k)["neutrophil_pct"] == 0.45
    for i in (2, 3):
        reference, k = _where(intake, i)
        assert reference.reference_only and reference.keys == ()
    assert _where(intake, 2)[0].row_context(_where(intake, 2)[1]) == {"crs_grade": 2, "day": 3}


def test_one_bad_value_sends_only_its_own_row_the_slow_way():
    rows = [BatchRow(CYTOKINES), BatchRow({**CYTOKINES, "il6": "oops"}), BatchRow(CYTOKINES)]
    intake = _take(rows)
    assert list(intake.errors) == [1]
    group, _ = _where(intake, 0)
    assert group.flags is None and sorted(group.rows.tolist()) == [0, 2]
