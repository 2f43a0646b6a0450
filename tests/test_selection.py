"""Which combination's model runs for the entered values (predictor.scoring.selection)."""

from __future__ import annotations

import pytest

from predictor.catalogue import (
    COMBINATION_CODES,
    FACTOR_KEYS,
    FACTORS_BY_KEY,
    combination_factor_keys,
    panel_factor_keys,
)
from predictor.scoring.selection import (
    Shortfall,
    cheapest_shortfall,
    choose_combination,
    imputable_count,
)


def values_of(*panels: int) -> dict[str, float]:
    return {k: sum(FACTORS_BY_KEY[k].typical) / 2 for p in panels for k in panel_factor_keys(p)}


def medians_for(*codes: str) -> dict[str, dict[str, float]]:
    """Training medians per combination, as the models' manifests give them (distinct values)."""
    return {code: {k: 1000.0 + i for i, k in enumerate(combination_factor_keys(code))}
            for code in codes}


ALL_MEDIANS = medians_for(*COMBINATION_CODES)


# --- the ranking ---------------------------------------------------------------------------------

@pytest.mark.parametrize("panels, expected", [
    ((1, 2, 3, 4), "1234"),
    ((1, 2, 3), "123"),
    ((4,), "4"),
    ((2, 3), "23"),
    ((3,), "3"),
    ((2,), "2"),
])
def test_each_combination_is_chosen_when_it_is_the_best_available(panels, expected):
    values = values_of(*panels)

    selection = choose_combination(values)

    assert selection is not None
    assert selection.combination == expected
    keys = combination_factor_keys(expected)
    assert selection.vector == tuple(values[k] for k in keys)
    assert selection.ignored == () and selection.imputed == {}


def test_the_vector_is_in_catalogue_order_whatever_order_values_come_in():
    values = dict(reversed(list(values_of(2, 3).items())))
    selection = choose_combination(values)
    assert selection.vector == tuple(values[k] for k in FACTOR_KEYS if k in values)


def test_cytokines_outrank_blood_routine_and_biochemistry():
    # Panels 2, 3 and 4 present: 1234 and 123 need panel 1, so the cytokine model (rank 3) wins.
    selection = choose_combination(values_of(2, 3, 4))
    assert selection.combination == "4"
    assert selection.ignored == panel_factor_keys(2) + panel_factor_keys(3)


def test_biochemistry_outranks_blood_routine():
    assert choose_combination(values_of(2, 3)).combination == "23"
    assert choose_combination(values_of(3) | {"wbc": 5.0}).combination == "3"


def test_panel_one_alone_is_not_a_combination():
    assert choose_combination(values_of(1)) is None


def test_panel_one_with_cytokines_uses_the_cytokine_model_and_ignores_panel_one():
    values = values_of(1, 4)

    selection = choose_combination(values)

    assert selection.combination == "4"
    assert selection.ignored == panel_factor_keys(1)
    assert len(selection.vector) == 7


def test_partly_entered_panels_are_ignored_too():
    values = values_of(3) | {"d_dimer": 0.3, "wbc": 5.0, "il6": 12.0}
    selection = choose_combination(values)
    assert selection.combination == "3"
    assert set(selection.ignored) == {"d_dimer", "wbc", "il6"}


def test_a_panel_with_one_value_missing_is_not_present_without_imputation():
    values = values_of(1, 2, 3, 4)
    del values["il6"]
    selection = choose_combination(values)
    assert selection.combination == "123"
    assert set(selection.ignored) == set(panel_factor_keys(4)) - {"il6"}


# --- imputation ----------------------------------------------------------------------------------

@pytest.mark.parametrize("panel, size, allowed", [(1, 9, 1), (2, 10, 2), (3, 16, 3), (4, 7, 1)])
def test_at_most_a_fifth_of_a_panel_may_be_imputed_rounded_down(panel, size, allowed):
    assert len(panel_factor_keys(panel)) == size
    assert imputable_count(panel, 0.2) == allowed
    assert imputable_count(panel, 0.0) == 0


@pytest.mark.parametrize("panel, allowed", [(1, 1), (2, 2), (3, 3), (4, 1)])
def test_a_panel_is_completed_up_to_its_limit_and_no_further(panel, allowed):
    keys = panel_factor_keys(panel)
    others = {1: (2, 3), 2: (), 3: (), 4: ()}[panel]  # panel 1 only counts inside 123 / 1234
    code = {1: "123", 2: "2", 3: "3", 4: "4"}[panel]

    at_limit = values_of(panel, *others)
    for key in keys[:allowed]:
        del at_limit[key]
    selection = choose_combination(at_limit, medians=ALL_MEDIANS, max_imputed_fraction=0.2)
    assert selection.combination == code
    assert selection.imputed == {k: ALL_MEDIANS[code][k] for k in keys[:allowed]}
    index = combination_factor_keys(code).index(keys[0])
    assert selection.vector[index] == ALL_MEDIANS[code][keys[0]]

    beyond = dict(at_limit)
    del beyond[keys[allowed]]
    fallback = choose_combination(beyond, medians=ALL_MEDIANS, max_imputed_fraction=0.2)
    assert fallback is None or fallback.combination != code


def test_an_empty_panel_is_never_imputed():
    # Panel 4 has 7 factors; even a generous limit must not invent a whole panel.
    selection = choose_combination(values_of(1, 2, 3), medians=ALL_MEDIANS,
                                   max_imputed_fraction=1.0)
    assert selection.combination == "123"
    assert selection.imputed == {}


def test_nothing_is_imputed_without_medians():
    values = values_of(2, 3)
    del values["sodium"]
    selection = choose_combination(values, medians=None, max_imputed_fraction=0.2)
    assert selection.combination == "2"
    assert selection.imputed == {}


def test_nothing_is_imputed_from_another_combinations_medians():
    values = values_of(2, 3)
    del values["sodium"]
    selection = choose_combination(values, medians=medians_for("3"), max_imputed_fraction=0.2)
    # 23 has no medians of its own; 3 alone may be imputed from its own.
    assert selection.combination == "3"
    assert selection.imputed == {"sodium": ALL_MEDIANS["3"]["sodium"]}


def test_medians_missing_a_needed_key_do_not_impute():
    values = values_of(3)
    del values["sodium"]
    medians = {"3": {k: v for k, v in ALL_MEDIANS["3"].items() if k != "sodium"}}
    assert choose_combination(values, medians=medians, max_imputed_fraction=0.2) is None


def test_imputation_is_off_by_default():
    values = values_of(2, 3)
    del values["sodium"]
    selection = choose_combination(values, medians=ALL_MEDIANS)
    assert selection.combination == "2"


def test_imputation_lets_a_better_ranked_combination_win_and_says_so():
    values = values_of(1, 2, 3, 4)
    del values["il6"]
    del values["fibrinogen"]
    selection = choose_combination(values, medians=ALL_MEDIANS, max_imputed_fraction=0.2)
    assert selection.combination == "1234"
    assert selection.imputed == {"fibrinogen": ALL_MEDIANS["1234"]["fibrinogen"],
                                 "il6": ALL_MEDIANS["1234"]["il6"]}
    assert selection.ignored == ()


def test_entered_values_are_never_replaced_by_medians():
    values = values_of(3)
    del values["crp"]
    selection = choose_combination(values, medians=ALL_MEDIANS, max_imputed_fraction=0.2)
    keys = combination_factor_keys("3")
    for key, value in zip(keys, selection.vector):
        assert value == (ALL_MEDIANS["3"][key] if key == "crp" else values[key])


# --- cheapest_shortfall --------------------------------------------------------------------------

def test_panel_one_alone_is_told_to_add_the_cytokines():
    assert cheapest_shortfall(values_of(1)) == Shortfall("4", panel_factor_keys(4))


def test_nothing_entered_is_told_to_add_the_smallest_panel():
    # The cytokines (7 values) are fewer than blood routine (10) or biochemistry (16).
    assert cheapest_shortfall({}) == Shortfall("4", panel_factor_keys(4))


def test_a_nearly_complete_panel_names_only_its_missing_values():
    values = values_of(3)
    del values["ldh"]
    del values["crp"]
    assert cheapest_shortfall(values) == Shortfall("3", ("ldh", "crp"))


def test_the_shortfall_is_counted_across_combinations():
    # Blood routine lacks one value; cytokines lack three: the one value is the cheaper fix.
    values = values_of(2, 4)
    del values["platelets"]
    for key in ("il2", "il4", "il6"):
        del values[key]
    assert cheapest_shortfall(values) == Shortfall("2", ("platelets",))


def test_on_a_tie_the_better_ranked_combination_is_named():
    values = values_of(2, 4)
    del values["il6"]  # 4 lacks one
    del values["wbc"]  # 2 lacks one as well
    assert cheapest_shortfall(values) == Shortfall("4", ("il6",))


def test_the_named_values_do_make_a_combination_usable():
    values = values_of(1) | {"wbc": 5.0, "sodium": 140.0, "il6": 8.0}
    shortfall = cheapest_shortfall(values)
    completed = values | {k: 1.0 for k in shortfall.missing}
    assert choose_combination(values) is None
    assert choose_combination(completed).combination == shortfall.combination
