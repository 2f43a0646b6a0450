"""The context models (labs + today's CRS grade + day) and the no-lab reference: fitting, the
format version 2 export, chloride pinned in every panel-3 file, the sodium rule in the data, the
shipping rules and determinism. Small synthetic cohorts; real TorchScript files."""

import json

import numpy as np
import pytest
import torch

from predictor.catalogue import CONTEXT_KEYS, combination_factor_keys
from predictor.training import context as cx
from predictor.training import evaluate_context as ec
from predictor.training import pipeline, synthetic
from predictor.training.data import (cart_frame_to_cohort, covid_frame_to_cohort, fix_sodium,
                                     horizon_rows)
from predictor.training.export import check_round_trip, random_raw_inputs, read_extra_files
from predictor.training.folds import patient_folds, patient_table
from predictor.training.recipe import small_recipe


def _cart_frame_with_slips(n=26, seed=3):
    """Synthetic sheet whose sodium has the sheet's factor-10 slip on every 7th row and whose
    chloride is the sheet's ~15 mmol/L quantity."""
    frame = synthetic.cart_frame(n, seed=seed)
    rng = np.random.default_rng(seed)
    frame["sodium"] = rng.normal(139, 3, len(frame))
    frame.loc[frame.index % 7 == 0, "sodium"] = frame["sodium"] / 10
    frame["chlorine"] = rng.normal(15, 1.5, len(frame))
    return frame


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    out = tmp_path_factory.mktemp("ctx_models")
    cart = cart_frame_to_cohort(_cart_frame_with_slips())
    covid = covid_frame_to_cohort(synthetic.covid_frame(40))
    torch.set_num_threads(1)
    summary = pipeline.run(cart, covid, out, small_recipe(max_epochs=2, finetune_max_epochs=2),
                           pipeline.Options(seed=5, workers=1, progress=False, horizons=(1,),
                                            combinations=("3", "4"), row_protocol=False),
                           log=lambda *_: None)
    return out, summary, cart


def _manifest(path):
    return json.loads(read_extra_files(path)["manifest.json"])


def test_it_writes_labs_only_context_and_reference_files(shipped):
    out, _, _ = shipped
    names = sorted(p.name for p in out.glob("*.pt"))
    assert names == ["h1_c0_ctx.pt", "h1_c3.pt", "h1_c3_ctx.pt", "h1_c4.pt", "h1_c4_ctx.pt"]


@pytest.mark.parametrize("code", ["3", "4"])
def test_a_context_file_is_format_2_with_lab_inputs_then_grade_and_day(shipped, code):
    out, summary, _ = shipped
    path = out / f"h1_c{code}_ctx.pt"
    manifest = _manifest(path)
    keys = list(combination_factor_keys(code))
    assert manifest["format_version"] == 2
    assert manifest["context_keys"] == list(CONTEXT_KEYS)
    assert manifest["factor_keys"] == keys and list(manifest["medians"]) == keys
    assert isinstance(manifest["labs_add_information"], bool)
    metrics = manifest["metrics"]
    for part in ("patient_cv", "no_lab_reference_cv", "patient_cv_new_onset"):
        assert {"auroc", "brier", "ece", "auprc"} <= set(metrics[part])
    ref = summary["context_slots"][f"1_{code}"]["all"]["reference"]
    assert metrics["no_lab_reference_cv"]["auroc"] == pytest.approx(ref["auroc"], abs=1e-6)
    module = torch.jit.load(str(path), map_location="cpu")
    medians = list(manifest["medians"].values()) + [1.0, 4.0]
    assert module(random_raw_inputs(len(keys) + 2, medians, batch=5)).shape == (5, 2)
    with pytest.raises(RuntimeError):
        module(random_raw_inputs(len(keys), batch=5))  # a width that ignores the context
    assert read_extra_files(path)["baseline.csv"].startswith("probability,severe,grade,patient\n")


def test_the_reference_file_takes_grade_and_day_only(shipped):
    out, summary, _ = shipped
    path = out / "h1_c0_ctx.pt"
    manifest = _manifest(path)
    assert manifest["combination"] == "0" and manifest["factor_keys"] == []
    assert manifest["medians"] == {} and manifest["context_keys"] == list(CONTEXT_KEYS)
    cv = manifest["metrics"]["patient_cv"]
    assert cv["auroc"] == pytest.approx(summary["reference_slots"]["1"]["all"]["reference"]
                                        ["auroc"], abs=1e-6)
    module = torch.jit.load(str(path), map_location="cpu")
    p = torch.softmax(module(torch.tensor([[0.0, 3.0], [3.0, 3.0]])), dim=1)[:, 1]
    assert p[1] > p[0]  # grade 3 today: severe tomorrow far likelier (synthetic onset model)


def test_every_context_file_round_trips_to_1e5(shipped, tmp_path):
    out, _, cart = shipped
    rows = horizon_rows(cart, 1)
    model = cx.fit_stacked_fixed(rows.context_columns("3"), rows.y, 10.0, seed=1)
    module = cx.LinearContextModule(model)
    path = tmp_path / "stack.pt"
    torch.jit.save(torch.jit.script(module), str(path))
    assert check_round_trip(module, path, len(combination_factor_keys("3")) + 2) <= 1e-5


@pytest.mark.parametrize("name", ["h1_c3.pt", "h1_c3_ctx.pt"])
def test_changing_chloride_does_not_change_a_panel_3_file(shipped, name):
    out, _, _ = shipped
    path = out / name
    manifest = _manifest(path)
    assert manifest["unused_factor_keys"] == ["chloride"]
    assert set(manifest["unused_factor_note"]) == {"en", "zh-hans"}
    keys = manifest["factor_keys"]
    width = len(keys) + len(manifest.get("context_keys", ()))
    module = torch.jit.load(str(path), map_location="cpu")
    x = random_raw_inputs(width, list(manifest["medians"].values()) + [1.0, 4.0][:width - len(keys)],
                          batch=16, seed=3)
    j = keys.index("chloride")
    outputs = []
    for chloride in (15.0, 96.0, 102.0, 108.0, 140.0):
        x[:, j] = chloride
        outputs.append(module(x))
    for other in outputs[1:]:
        assert torch.equal(outputs[0], other)
    # ... while another lab still moves it (the check can fail)
    x2 = x.clone()
    x2[:, keys.index("crp")] *= 50
    assert not torch.equal(module(x), module(x2)) or "lgbm" in manifest["model_type"]


def test_files_without_panel_3_declare_nothing_unused(shipped):
    out, _, _ = shipped
    for name in ("h1_c4.pt", "h1_c4_ctx.pt", "h1_c0_ctx.pt"):
        assert "unused_factor_keys" not in _manifest(out / name)


def test_sodium_is_multiplied_by_ten_only_where_the_slip_is_certain():
    fixed, slip, missing = fix_sodium(np.array([13.9, 14.5, 139.0, 1.43, 38.0, 25.0, 9.5, 95.0]))
    assert slip.tolist() == [True, True, False, False, False, False, True, False]
    assert missing.tolist() == [False, False, False, True, True, True, False, False]
    assert fixed[[0, 1, 2, 6, 7]].tolist() == pytest.approx([139.0, 145.0, 139.0, 95.0, 95.0])
    assert np.isnan(fixed[[3, 4, 5]]).all()


def test_the_cohort_trains_on_fixed_sodium_and_a_constant_chloride_but_keeps_the_sheet():
    frame = _cart_frame_with_slips(8)
    cohort = cart_frame_to_cohort(frame)
    assert cohort.sodium_slip.sum() == (frame.index % 7 == 0).sum()
    assert cohort.values["sodium"].min() > 90
    assert cohort.values["chloride"].nunique() == 1
    assert cohort.sheet_values["sodium"].min() < 30  # the sheet as it was, for the sensitivity
    assert cohort.sheet_values["chloride"].median() < 30


def test_sensitivity_is_zero_for_the_new_files_and_measured_for_an_unpinned_one(shipped, tmp_path):
    from predictor.training import baselines as bl
    from predictor.training.export import build_manifest, save_model
    from predictor.training.sensitivity import folder_sensitivity

    out, summary, cart = shipped
    shipped_sens = summary["sensitivity"]["shipped"]
    for name in ("h1_c3", "h1_c3_ctx"):
        assert shipped_sens[name]["chloride"]["max"] == 0.0
        assert shipped_sens[name]["sodium"]["n"] > 0 and shipped_sens[name]["sodium"]["max"] == 0.0
    # a labs-only file trained on the raw sheet, chloride and all: the shift is measured
    rows = horizon_rows(cart, 1)
    x = rows.columns("3", sheet=True)
    y = ((x[:, list(combination_factor_keys("3")).index("chloride")] > 15) | (rows.y == 1))
    lr, _, _ = bl.fit_logistic(x, y.astype(int), x, y.astype(int), small_recipe(), 1)
    old = tmp_path / "old"
    manifest = build_manifest(1, "3", np.median(x, axis=0), {"en": "", "zh-hans": ""}, "lr", {}, 1)
    save_model(bl.LogisticModule(lr), old / "h1_c3.pt", manifest, "probability,severe\n0.1,0\n")
    sens = folder_sensitivity(old, {1: rows}, seed=1)["h1_c3"]
    assert sens["chloride"]["p90"] > 0.01


def test_the_shipping_rules_never_ship_the_network_and_are_fixed():
    def slot(scores):
        return {"all": {f: {"auroc": a, "brier": b} for f, (a, b) in scores.items()}}

    summaries = {"1_4": slot({"ctx_lr": (0.8, 0.05), "ctx_lgbm": (0.82, 0.05),
                              "ctx_stack": (0.81, 0.04), "ctx_net": (0.99, 0.01),
                              "ctx_ens": (0.82, 0.04)})}
    assert ec.choose_context_family(summaries) == "ctx_ens"  # AUROC tie -> lower Brier


def test_linear_context_modules_match_their_numpy_models():
    rng = np.random.default_rng(0)
    n = 6
    labs = np.exp(rng.normal(size=(300, n)))
    grade = rng.integers(0, 5, 300).astype(float)
    day = rng.integers(0, 15, 300).astype(float)
    xctx = np.hstack([labs, grade[:, None], day[:, None]])
    y = ((grade >= 2) & (np.log(labs[:, 0]) > -0.3) | (rng.random(300) < 0.05)).astype(int)
    models = [cx.fit_reference(xctx, y, 1), cx.fit_context_lr_fixed(xctx, y, 0.3, 1),
              cx.fit_stacked_fixed(xctx, y, 10.0, 1), cx.fit_stacked_fixed(xctx, y, np.inf, 1)]
    for model in models:
        module = torch.jit.script(cx.LinearContextModule(model))
        width = n if model.transform is not None else 0
        x = np.hstack([labs[:, :width], grade[:, None], day[:, None]]).astype(np.float32)
        p = torch.softmax(module(torch.from_numpy(x)), dim=1)[:, 1].numpy()
        assert np.abs(p - model.predict_proba(x.astype(np.float64))).max() < 1e-5
    ref, inf_stack = models[0], models[3]
    assert not inf_stack.lab_coef.any()  # an infinite penalty keeps the labs out entirely
    assert np.allclose(inf_stack.predict_proba(xctx), ref.predict_proba(xctx), atol=1e-3)


def test_the_context_evaluation_is_deterministic_for_a_seed():
    cohort = cart_frame_to_cohort(synthetic.cart_frame(20, seed=4))
    rows = horizon_rows(cohort, 1)
    ids, ever = patient_table(cohort.patient, cohort.grade)
    fold_of = patient_folds(cohort, 5, seed=2)
    ever_of = {int(p): bool(e) for p, e in zip(ids, ever)}
    torch.set_num_threads(1)
    a = ec.evaluate_context_slot(rows, "4", fold_of, ever_of, small_recipe(), 9)
    b = ec.evaluate_context_slot(rows, "4", fold_of, ever_of, small_recipe(), 9)
    for fam in ec.CTX_FAMILIES + ("reference",):
        assert np.array_equal(a["oof"][fam], b["oof"][fam]), fam
    assert set(ec.CTX_FAMILIES) <= set(a["oof"])


@pytest.mark.django_db
def test_context_and_reference_files_serve_through_the_site_registry(shipped):
    from predictor.catalogue import CONTEXT_BOTH
    from predictor.scoring.registry import REGISTRY
    from tests.conftest import install_model

    out, _, _ = shipped
    for code in ("3", "0"):
        path = out / f"h1_c{code}_ctx.pt"
        install_model(1, code, data=path.read_bytes(), context=CONTEXT_BOTH)
        model = REGISTRY.snapshot().get(1, code, CONTEXT_BOTH)
        assert model is not None and model.context_keys == tuple(CONTEXT_KEYS)
        labs = list(_manifest(path)["medians"].values())
        vector = model.input_vector(labs, {"crs_grade": 2, "day": 5})
        assert len(vector) == len(labs) + 2
        local = torch.jit.load(str(path), map_location="cpu")
        expected = float(torch.softmax(local(torch.tensor([vector])), dim=1)[0, 1])
        assert model.raw_probability(vector) == pytest.approx(expected, abs=1e-6)


def test_the_one_graph_context_ensemble_equals_the_pinned_ensemble_of_its_members():
    from predictor.training import baselines as bl
    from predictor.training.export import EnsembleModule, UnusedFactors

    cohort = cart_frame_to_cohort(_cart_frame_with_slips(20, seed=6))
    rows = horizon_rows(cohort, 1)
    x = rows.context_columns("3")
    keys = list(combination_factor_keys("3"))
    linear = cx.LinearContextModule(cx.fit_stacked_fixed(x, rows.y, 30.0, seed=1))
    booster = bl.fit_lgbm_fixed(x, rows.y, small_recipe(), 1, 15)
    tree = bl.TreeEnsembleModule(booster, np.median(x, axis=0))
    j = keys.index("chloride")
    reference = UnusedFactors(EnsembleModule([linear, tree], [0.5, 0.5]), [j], [102.0]).eval()
    fused = torch.jit.script(cx.ContextEnsembleModule(linear, tree, [0.5, 0.5], len(keys) + 2,
                                                      [j], [102.0]))
    probe = random_raw_inputs(len(keys) + 2, list(np.median(x, axis=0)[:-2]) + [1.0, 4.0],
                              batch=64, seed=2)
    probe[:, j] = 15.0
    with torch.no_grad():
        assert torch.equal(reference(probe), fused(probe))


def _grade_day_grid(module, n_labs: int, labs: list[float], days) -> np.ndarray:
    """p[grade, day] of a context module at fixed lab values."""
    rows = [labs + [float(g), float(d)] for g in range(5) for d in days]
    x = torch.tensor(rows, dtype=torch.float32).reshape(len(rows), n_labs + 2)
    with torch.no_grad():
        p = torch.softmax(module(x), dim=1)[:, 1].numpy()
    return p.reshape(5, len(days))


@pytest.mark.parametrize("name", ["h1_c0_ctx.pt", "h1_c3_ctx.pt", "h1_c4_ctx.pt"])
def test_every_trained_context_file_records_its_ranges_and_is_monotone_in_grade(shipped, name):
    out, _, cart = shipped
    manifest = _manifest(out / name)
    ranges = manifest["trained_ranges"]
    rows = horizon_rows(cart, 1)
    assert ranges["day"] == {"min": int(rows.day.min()), "max": int(rows.day.max())}
    assert ranges["crs_grade"]["rows"] == {str(g): int((rows.grade_today == g).sum())
                                          for g in range(5)}
    assert set(ranges["labs"]) == set(manifest["factor_keys"]) - {"chloride"}
    module = torch.jit.load(str(out / name), map_location="cpu")
    n = len(manifest["factor_keys"])
    last = ranges["day"]["max"]
    days = list(range(0, 61))
    for labs in ([float(v) for v in manifest["medians"].values()],
                 [float(r["max"]) for r in ranges["labs"].values()]):
        labs = labs + [102.0] * (n - len(labs))  # chloride (pinned) at the end of panel 3
        p = _grade_day_grid(module, n, labs, days)
        assert (np.diff(p, axis=0) >= -1e-6).all()  # risk never falls as the grade rises
        # beyond the last trained day the answer is the last day's: no extrapolation
        assert np.allclose(p[:, last + 1:], p[:, [last]], atol=1e-6)


def test_baseline_patient_column_is_an_anonymous_index(shipped):
    out, _, cart = shipped
    lines = read_extra_files(out / "h1_c3.pt")["baseline.csv"].splitlines()
    assert lines[0] == "probability,severe,grade,patient"
    patients = [int(line.split(",")[3]) for line in lines[1:]]
    rows = horizon_rows(cart, 1)
    assert sorted(set(patients)) == list(range(1, len(np.unique(rows.patient)) + 1))
    assert patients[0] == 1  # numbered in order of appearance, not the sheet's ids


def test_the_reference_fit_is_monotone_even_where_the_data_say_otherwise():
    rng = np.random.default_rng(1)
    grade = rng.integers(0, 5, 600).astype(float)
    day = rng.integers(0, 10, 600).astype(float)
    y = ((grade == 3) & (rng.random(600) < 0.8)).astype(int)  # grade 4: never severe here
    model = cx.fit_reference(np.column_stack([grade, day]), y, seed=0)
    steps = model.context_coef[:5]
    assert (np.diff(steps) >= -1e-9).all()
    assert model.context_coef[6] == 0.0  # a linear day term: nothing to run away beyond the data
    assert model.max_day == 9.0
    worse = np.column_stack([grade, day])
    y_falling = ((grade == 0) & (rng.random(600) < 0.5)).astype(int)  # risk FALLS with grade
    flat = cx.fit_reference(worse, y_falling, seed=0).context_coef[:5]
    assert np.allclose(flat, 0.0, atol=1e-9)  # bounded at zero, never negative


def test_every_file_records_the_calibration_chosen_for_its_kind(shipped):
    from predictor.training.calibration_choice import CANDIDATES

    out, summary, _ = shipped
    kinds = {"h1_c3.pt": "labs", "h1_c4.pt": "labs", "h1_c3_ctx.pt": "context",
             "h1_c4_ctx.pt": "context", "h1_c0_ctx.pt": "reference"}
    for name, kind in kinds.items():
        entry = _manifest(out / name)["calibration"]
        assert entry["method"] in dict(CANDIDATES)
        assert entry == {"method": summary["calibration"][kind]["method"],
                         "params": summary["calibration"][kind]["params"]}
    # the flag compares the served figures of the shipped family with the reference's
    s = summary["context_slots"]["1_4"]
    a, r = s["all"][s["shipped"]], s["all"]["reference"]
    assert s["labs_add_information"] == (a["auroc"] > r["auroc"] and a["brier"] < r["brier"])
