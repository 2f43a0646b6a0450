"""Model files of format version 2 (labs then CRS grade and day; combination 0, the no-lab
reference) through the admin's upload checks, activation and rollback, and the bundled
registration, with real TorchScript files, the real database and the real limited dry run.
Also the issue-10 hazard: a model that works on typical values but fails at values the site
accepts must never pass the upload checks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import translation

from predictor.catalogue import CONTEXT_BOTH
from predictor.model_versions.bundled import bundled_files, register_bundled_models
from predictor.model_versions.check_model_file import extreme_inputs
from predictor.model_versions.upload_checks import input_specs
from predictor.models import AuditEvent, ModelVersion
from predictor.scoring.prediction import predict
from tests.conftest import CYTOKINES, install_model
from tests.model_files import tiny_model_bytes

CONTEXT = {"crs_grade": 1, "day": 4}


def admin_url(name: str, *args) -> str:
    with translation.override("en"):
        return reverse(f"admin:predictor_modelversion_{name}", args=args)


@pytest.fixture
def admin_client(db) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(User.objects.create_superuser("root", password="pw-root"))
    return client


def upload(client: Client, data: bytes, *, horizon=1, combination="4", context=CONTEXT_BOTH):
    with translation.override("en"):
        return client.post(admin_url("add"), {
            "horizon": horizon, "combination": combination, "context": context, "notes": "",
            "model_file": SimpleUploadedFile("m.pt", data, "application/octet-stream")})


def rejected_for(response, reason: str) -> None:
    assert response.status_code == 400, response.status_code
    page = response.content.decode().replace("&quot;", '"').replace("&#x27;", "'")
    assert reason in page, page[page.find("errorlist"):][:1500]
    assert not ModelVersion.objects.filter(context=CONTEXT_BOTH, state="validated").exists()
    event = AuditEvent.objects.filter(action=AuditEvent.Action.VALIDATION_FAILED).latest("at")
    assert any(reason in r for r in event.detail["reasons"])


def served(context=None) -> str:
    return predict(CYTOKINES, [1], percent_input=False, context=context)[0].model_version


# --- accepted --------------------------------------------------------------------------------

def test_a_v2_file_is_uploaded_into_its_context_slot_activated_and_rolled_back(admin_client):
    install_model(1, "4")  # the labs-only slot serves throughout
    assert upload(admin_client, tiny_model_bytes(1, "4", context=CONTEXT_BOTH)).status_code == 302
    first = ModelVersion.objects.get(context=CONTEXT_BOTH)
    assert first.label == "h1-4-ctx-v1" and first.state == "validated"
    assert first.validation_report["width"] == 9
    assert first.validation_report["context_keys"] == ["crs_grade", "day"]
    assert first.validation_report["extreme_rows"] > 64

    admin_client.post(admin_url("activate", first.pk), {"confirm": "yes"})
    assert served(CONTEXT) == "h1-4-ctx-v1" and served() == "h1-4-v1"

    upload(admin_client, tiny_model_bytes(1, "4", context=CONTEXT_BOTH, bias=2.0))
    second = ModelVersion.objects.get(context=CONTEXT_BOTH, version=2)
    confirm = admin_client.get(admin_url("activate", second.pk)).content.decode()
    assert "h1-4-ctx-v1" in confirm and "h1-4-ctx-v2" in confirm
    admin_client.post(admin_url("activate", second.pk), {"confirm": "yes"})
    assert served(CONTEXT) == "h1-4-ctx-v2"

    admin_client.post(admin_url("activate", first.pk), {"confirm": "yes"})
    assert served(CONTEXT) == "h1-4-ctx-v1" and served() == "h1-4-v1"
    rollback = AuditEvent.objects.get(action="rollback")
    assert rollback.detail == {"slot": "h1-4-ctx-v1", "from": "h1-4-ctx-v2", "to": "h1-4-ctx-v1"}
    # Versions count per slot: the labs-only slot still has its one version.
    assert ModelVersion.objects.get(context="").label == "h1-4-v1"


def test_the_no_lab_reference_is_uploaded_into_combination_0_with_context(admin_client):
    assert upload(admin_client, tiny_model_bytes(2, "0", context=CONTEXT_BOTH),
                  horizon=2, combination="0").status_code == 302
    mv = ModelVersion.objects.get()
    assert mv.label == "h2-0-ctx-v1" and mv.validation_report["width"] == 2


def test_a_v2_file_taking_the_context_in_another_order_is_accepted(admin_client):
    data = tiny_model_bytes(1, "4", context=CONTEXT_BOTH,
                            manifest_extra={"context_keys": ["day", "crs_grade"]})
    assert upload(admin_client, data).status_code == 302


def test_a_file_without_manifest_for_a_context_slot_must_take_n_plus_2(admin_client):
    data = tiny_model_bytes(1, "4", context=CONTEXT_BOTH, with_manifest=False)
    assert upload(admin_client, data).status_code == 302
    assert ModelVersion.objects.get().context == CONTEXT_BOTH


def test_a_v1_file_still_uploads_into_the_labs_only_slot(admin_client):
    assert upload(admin_client, tiny_model_bytes(1, "4"), context="").status_code == 302
    assert ModelVersion.objects.get().label == "h1-4-v1"


def test_the_upload_form_offers_the_slots_context(admin_client):
    page = admin_client.get(admin_url("add")).content.decode()
    assert 'name="context"' in page and "labs with CRS grade and day since infusion" in page
    assert 'value="0"' in page  # combination 0, the no-lab reference


def test_the_list_shows_and_filters_by_context(admin_client):
    install_model(1, "4")
    install_model(1, "4", context=CONTEXT_BOTH)
    with translation.override("en"):
        listing = admin_client.get(admin_url("changelist") + "?context=crs_grade%2Bday")
    page = listing.content.decode()
    assert listing.status_code == 200
    assert 'field-label">h1-4-ctx-v1<' in page or ">h1-4-ctx-v1</a>" in page
    assert ">h1-4-v1</a>" not in page


# --- refused ---------------------------------------------------------------------------------

@pytest.mark.parametrize("keys", [["crs_grade"], ["crs_grade", "crs_grade"],
                                  ["crs_grade", "day", "weight"], "crs_grade,day"])
def test_it_refuses_wrong_context_keys(admin_client, keys):
    data = tiny_model_bytes(1, "4", context=CONTEXT_BOTH, manifest_extra={"context_keys": keys})
    rejected_for(upload(admin_client, data), "context_keys must list crs_grade and day, each once")


def test_it_refuses_a_v2_manifest_in_a_labs_only_slot(admin_client):
    rejected_for(upload(admin_client, tiny_model_bytes(1, "4", context=CONTEXT_BOTH), context=""),
                 "but this upload is for a labs-only slot")


def test_it_refuses_a_labs_only_manifest_in_a_context_slot(admin_client):
    rejected_for(upload(admin_client, tiny_model_bytes(1, "4")),
                 "the manifest declares no context_keys")


def test_it_refuses_a_file_whose_width_ignores_the_context(admin_client):
    # Declares the context but takes only the 7 lab values: the dry run feeds 9.
    data = tiny_model_bytes(1, "4", context=CONTEXT_BOTH, width=7)
    rejected_for(upload(admin_client, data), "The model failed on an input of 9 values: the 7 "
                                             "lab values of combination 4, then crs_grade, day")


def test_it_refuses_a_file_without_manifest_taking_n_plus_2_in_a_labs_only_slot(admin_client):
    data = tiny_model_bytes(1, "4", context=CONTEXT_BOTH, with_manifest=False)
    rejected_for(upload(admin_client, data, context=""), "The model failed on an input of 7 values")


def test_it_refuses_combination_0_without_context(admin_client):
    rejected_for(upload(admin_client, tiny_model_bytes(1, "0", context=CONTEXT_BOTH),
                        combination="0", context=""),
                 "Combination 0 is the no-lab reference")


# --- issue 10: what works on typical values must work on every accepted value ----------------

class RaisesOnHighValues(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if bool((x > 1000.0).any()):
            raise RuntimeError("index out of range in self")
        return torch.zeros([x.shape[0], 2])


class NaNLateInTheCourse(torch.nn.Module):
    """Fine on typical values, NaN from day 30 on (an extrapolation gone wrong)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = torch.where(x[:, -1:] >= 30.0, torch.full_like(x[:, -1:], float("nan")),
                        x[:, -1:] / 100.0)
        return torch.cat([torch.zeros_like(z), z], dim=1)


def test_an_upload_that_only_fails_at_the_hard_limits_is_rejected(admin_client):
    install_model(1, "4")
    response = upload(admin_client, tiny_model_bytes(1, "4", module=RaisesOnHighValues()),
                      context="")
    rejected_for(response, "The model works on typical values but fails on values the site "
                           "accepts")
    assert "index out of range in self" in response.content.decode()
    assert served() == "h1-4-v1"


def test_an_upload_with_nan_only_at_the_high_limit_is_rejected(admin_client):
    response = upload(admin_client, tiny_model_bytes(1, "0", context=CONTEXT_BOTH,
                                                     module=NaNLateInTheCourse()), combination="0")
    rejected_for(response, "NaN or infinite for values the site accepts")


def test_the_dry_run_covers_every_limit_and_seeded_random_points():
    specs = input_specs("4", ("crs_grade", "day"))
    rows = extreme_inputs(specs)
    assert rows == extreme_inputs(specs)  # seeded: the same check every time
    kinds = [where["kind"] for where, _ in rows]
    assert kinds.count("low") == kinds.count("high") == 9 and kinds.count("random") == 64
    assert rows[1][0] == {"kind": "all_high"}
    everything_high = rows[1][1]
    assert everything_high[-2:] == [4.0, 60.0] and max(everything_high) == 200000.0
    for _, row in rows:
        for value, spec in zip(row, specs):
            assert spec["low"] <= value <= spec["high"]
        assert row[-2] == int(row[-2]) and row[-1] == int(row[-1])  # context values are integers


def test_the_dry_run_uses_limits_an_admin_widened(db):
    from predictor.models import Factor

    Factor.objects.filter(key="il6").update(hard_max=500000)
    assert {s["key"]: s["high"] for s in input_specs("4")}["il6"] == 500000


# --- bundled files ---------------------------------------------------------------------------

def test_bundled_v2_files_are_registered_into_their_context_slots(db, tmp_path):
    bundle = Path(tmp_path)
    (bundle / "h1_c4.pt").write_bytes(tiny_model_bytes(1, "4"))
    (bundle / "h1_c4_ctx.pt").write_bytes(tiny_model_bytes(1, "4", context=CONTEXT_BOTH))
    (bundle / "h1_c0_ctx.pt").write_bytes(tiny_model_bytes(1, "0", context=CONTEXT_BOTH))
    (bundle / "h1_c0.pt").write_bytes(tiny_model_bytes(1, "0", context=CONTEXT_BOTH))  # no slot
    # A context file under a labs-only name would be fed the wrong width: skipped.
    (bundle / "h2_c4.pt").write_bytes(tiny_model_bytes(2, "4", context=CONTEXT_BOTH))

    assert [p.name for *_, p in bundled_files(bundle)] == ["h1_c4.pt", "h2_c4.pt"]
    created = register_bundled_models(bundle)

    assert sorted(mv.label for mv in created) == ["h1-0-ctx-v1", "h1-4-ctx-v1", "h1-4-v1"]
    assert all(mv.source == "bundled" for mv in created)
    assert register_bundled_models(bundle) == []
    assert served() == "h1-4-v1" and served(CONTEXT) == "h1-4-ctx-v1"
    [alone] = predict({}, [1], percent_input=False, context=CONTEXT)
    assert alone.model_version == "h1-0-ctx-v1"


def test_the_prediction_log_lists_filters_and_exports_the_context(admin_client):
    install_model(1, "4", context=CONTEXT_BOTH)
    install_model(1, "0", context=CONTEXT_BOTH)
    install_model(1, "4")
    from predictor.scoring.prediction_log import record

    record(predict(CYTOKINES, [1], percent_input=False, context=CONTEXT), channel="web")
    record(predict(CYTOKINES, [1], percent_input=False), channel="web")
    with translation.override("en"):
        changelist = reverse("admin:predictor_predictionlog_changelist")
        export = reverse("admin:predictor_predictionlog_export")
    with_context = admin_client.get(changelist + "?context__isempty=0")
    assert with_context.status_code == 200
    page = with_context.content.decode()
    assert 'field-model_version">h1-4-ctx-v1<' in page
    assert 'field-model_version">h1-4-v1<' not in page
    rows = b"".join(admin_client.get(export).streaming_content).decode().splitlines()
    header = rows[0].split(",")
    assert header[-3:] == ["crs_grade", "day", "reference_probability"]
    by_version = {row.split(",")[3]: row.split(",") for row in rows[1:]}
    assert by_version["h1-4-ctx-v1"][-3:-1] == ["1", "4"]
    assert float(by_version["h1-4-ctx-v1"][-1]) > 0
    assert by_version["h1-4-v1"][-3:] == ["", "", ""]


def test_a_refused_v2_upload_gives_its_reason_in_chinese(admin_client):
    with translation.override("zh-hans"):
        url = reverse("admin:predictor_modelversion_add")
    response = admin_client.post(url, {
        "horizon": 1, "combination": "4", "context": "", "notes": "",
        "model_file": SimpleUploadedFile("m.pt", tiny_model_bytes(1, "4", context=CONTEXT_BOTH),
                                         "application/octet-stream")},
        HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 400
    assert "但此次上传针对仅用实验室指标的槽位" in response.content.decode()


def test_the_shipped_files_register_and_serve_every_slot(db, settings):
    from predictor.scoring.registry import REGISTRY

    shipped = Path(settings.BASE_DIR) / "models_store"
    files = bundled_files(shipped, with_context=True) if shipped.is_dir() else []
    if len(files) < 39:
        pytest.skip(f"models_store/ holds {len(files)} of the 39 slot files (18 labs only, 18 "
                    "labs+context, 3 no-lab references)")
    created = register_bundled_models(shipped)
    assert len(created) == 39
    snapshot = REGISTRY.snapshot()
    assert len(snapshot.models) == 39 and snapshot.failures == {}
    for (horizon, code, context), model in snapshot.models.items():
        if context:
            assert model.context_keys and model.manifest["format_version"] == 2
    [with_context] = predict(CYTOKINES, [1], percent_input=False, context=CONTEXT)
    assert with_context.combination == "4"
    assert with_context.no_lab_reference.model_version == "h1-0-ctx-v1"
    # where the file says its labs add nothing the reference's number leads (issue 15)
    if with_context.labs_add_information is False:
        assert with_context.model_version == "h1-0-ctx-v1"
        assert with_context.with_labs.model_version == "h1-4-ctx-v1"
    else:
        assert with_context.model_version == "h1-4-ctx-v1"
    [alone] = predict({}, [3], percent_input=False, context={"crs_grade": 3, "day": 2})
    assert alone.combination == "0" and 0 <= alone.interval[0] <= alone.probability
