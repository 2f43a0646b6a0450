"""End to end on a small synthetic cohort: CV, training, export; the file meets the contract
(spec section 4), round-trips to 1e-5, is deterministic for a seed, and serves through the site.
"""

import json

import numpy as np
import pytest
import torch

from predictor.catalogue import combination_factor_keys
from predictor.training import pipeline, synthetic
from predictor.training.data import cart_frame_to_cohort, covid_frame_to_cohort
from predictor.training.export import check_round_trip, random_raw_inputs, read_extra_files
from predictor.training.fit import train_network
from predictor.training.network import PrCRSNet
from predictor.training.recipe import small_recipe

SLOTS = dict(horizons=(1,), combinations=("4",))
MANIFEST_KEYS = {"format_version", "horizon", "combination", "factor_keys", "medians",
                 "training_data", "model_type", "metrics", "seed", "code_version", "created_at"}


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    out = tmp_path_factory.mktemp("models")
    cart = cart_frame_to_cohort(synthetic.cart_frame(26, seed=3))
    covid = covid_frame_to_cohort(synthetic.covid_frame(40))
    torch.set_num_threads(1)
    summary = pipeline.run(cart, covid, out, small_recipe(max_epochs=2, finetune_max_epochs=2),
                           pipeline.Options(seed=5, workers=1, progress=False, context=False,
                                            **SLOTS),
                           log=lambda *_: None)
    return out, summary


def test_files_meet_the_contract(shipped):
    out, summary = shipped
    for code in SLOTS["combinations"]:
        path = out / f"h1_c{code}.pt"
        n = len(combination_factor_keys(code))
        module = torch.jit.load(str(path), map_location="cpu")
        x = random_raw_inputs(n, batch=5)
        logits = module(x)
        assert logits.shape == (5, 2) and logits.dtype == torch.float32
        p = torch.softmax(logits, dim=1)[:, 1]
        assert torch.isfinite(p).all() and ((p >= 0) & (p <= 1)).all()
        extras = read_extra_files(path)
        manifest = json.loads(extras["manifest.json"])
        assert MANIFEST_KEYS <= set(manifest)
        assert manifest["format_version"] == 1 and manifest["horizon"] == 1
        assert manifest["combination"] == code
        assert manifest["factor_keys"] == list(combination_factor_keys(code))
        assert list(manifest["medians"]) == manifest["factor_keys"]
        assert set(manifest["training_data"]) == {"en", "zh-hans"}
        cv = manifest["metrics"]["patient_cv"]
        assert {"auroc", "auprc", "brier", "ece", "sensitivity", "specificity",
                "threshold"} <= set(cv)
        lines = extras["baseline.csv"].strip().splitlines()
        assert lines[0] == "probability,severe,grade,patient"
        probs = np.array([float(l.split(",")[0]) for l in lines[1:]])
        labels = np.array([int(l.split(",")[1]) for l in lines[1:]])
        assert ((probs >= 0) & (probs <= 1)).all() and set(labels) <= {0, 1}
        assert len(lines) - 1 == summary["slots"][f"1_{code}"]["all"]["lr"]["n"]
        # a file's NaN input (missing value) is imputed inside the module, never NaN out
        x[0, 0] = float("nan")
        assert torch.isfinite(module(x)).all()


def test_every_family_was_evaluated_on_patient_folds(shipped):
    _, summary = shipped
    slot = summary["slots"]["1_4"]
    for fam in ("net_pre", "net", "ens_pre", "ens", "ens3", "lr", "lgbm", "grade", "grade_day",
                "selected", "selected_global"):
        assert fam in slot["all"] and fam in slot["new_onset"]
    assert set(slot["row_level"]) >= {"net", "lr", "lgbm"}
    assert slot["shipped"] in ("net_pre", "net", "ens_pre", "ens", "ens3", "lr", "lgbm")


def test_round_trip_of_the_network_to_1e5(tmp_path):
    torch.manual_seed(0)
    net = PrCRSNet(10, dim=8, heads=2).eval()
    net.scaler.set_stats(np.exp(np.random.default_rng(0).normal(size=(50, 10))))
    path = tmp_path / "net.pt"
    torch.jit.save(torch.jit.script(net), str(path))
    assert check_round_trip(net, path, 10) <= 1e-5


def test_training_is_deterministic_for_a_seed():
    cart = cart_frame_to_cohort(synthetic.cart_frame(12, seed=1))
    x = np.array(cart.values.to_numpy()[:, :10])
    y = (cart.grade >= 3).astype(int)
    recipe = small_recipe()
    a = train_network(x, y, x[:20], y[:20], recipe, seed=11).model
    b = train_network(x, y, x[:20], y[:20], recipe, seed=11).model
    probe = torch.as_tensor(x[:7], dtype=torch.float32)
    with torch.no_grad():
        assert torch.equal(a(probe), b(probe))


@pytest.mark.django_db
def test_shipped_file_serves_through_the_site_registry(shipped):
    pytest.importorskip("predictor.scoring.registry")
    from predictor.scoring.registry import REGISTRY
    from tests.conftest import install_model

    out, _ = shipped
    data = (out / "h1_c4.pt").read_bytes()
    install_model(1, "4", data=data)
    model = REGISTRY.snapshot().get(1, "4")
    assert model is not None
    vector = [5.0, 4.0, 30.0, 6.0, 4.0, 10.0, 5.0]
    local = torch.jit.load(str(out / "h1_c4.pt"), map_location="cpu")
    expected = float(torch.softmax(local(torch.tensor([vector])), dim=1)[0, 1])
    assert model.raw_probability(vector) == pytest.approx(expected, abs=1e-6)
    assert 0.0 <= model.calibration.lookup(expected).probability <= 1.0


def test_lightgbm_and_logistic_modules_match_their_sklearn_models():
    from predictor.training import baselines as bl
    from predictor.training.recipe import Recipe

    rng = np.random.default_rng(0)
    x = np.exp(rng.normal(size=(300, 6)))
    y = (np.log(x[:, 0]) + rng.normal(size=300) > 0.8).astype(int)
    lgbm, _, _ = bl.fit_lgbm(x[:200], y[:200], x[200:], y[200:], Recipe(), 1, x, y)
    lr, _, _ = bl.fit_logistic(x[:200], y[:200], x[200:], y[200:], Recipe(), 1, x, y)
    x32 = x.astype(np.float32)
    for model, module in ((lgbm, bl.TreeEnsembleModule(lgbm, np.median(x, 0))),
                          (lr, bl.LogisticModule(lr))):
        scripted = torch.jit.script(module)
        p = torch.softmax(scripted(torch.from_numpy(x32)), dim=1)[:, 1].numpy()
        assert np.abs(p - model.predict_proba(x32.astype(np.float64))).max() < 1e-5


def test_the_bedside_scores_are_written_beside_the_evaluation(shipped):
    """The model cards' m-EASIX / EASIX comparison comes from the same run, folds and seed."""
    out, summary = shipped
    written = json.loads((out / "bedside_scores.json").read_text())
    assert (written["folds"], written["seed"]) == (summary["recipe"]["outer_folds"], 5)
    assert list(written["horizons"]) == ["1"]
    figures = written["horizons"]["1"]["all"]["m_easix"]
    assert figures["n"] == summary["slots"]["1_4"]["all"]["lr"]["n"]
