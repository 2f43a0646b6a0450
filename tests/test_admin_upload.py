"""Admin upload, activation and rollback with real TorchScript files and the real database.

Every rejection is checked for its reason (in English here) and for leaving the serving model
as it was; uploads are checked in the limited child process exactly as in production.
"""

from __future__ import annotations

import io
import json
import zipfile

import pytest
import torch
from django.contrib.auth.models import Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import translation

from predictor.models import AuditEvent, ModelVersion
from predictor.scoring.prediction import predict
from tests.conftest import CYTOKINES, install_model
from tests.model_files import TinyModel, baseline_csv, rewritten_archive, tiny_model_bytes

SLOT = (1, "4")  # seven cytokines: the values in CYTOKINES select this combination


def admin_url(name: str, *args) -> str:
    with translation.override("en"):
        return reverse(f"admin:predictor_modelversion_{name}", args=args)


def staff_user(username: str, *codenames: str) -> User:
    user = User.objects.create_user(username, password="pw-" + username, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="predictor",
                                                        codename__in=codenames))
    return user


@pytest.fixture
def admin_client(db) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", password="pw-root"))
    return client


@pytest.fixture
def serving(db) -> ModelVersion:
    """Slot h1/4 serves v1."""
    return install_model(*SLOT, bias=0.0)


def served_version() -> str:
    return predict(CYTOKINES, [SLOT[0]], percent_input=False)[0].model_version


def api_version(client: Client) -> str:
    response = client.post("/api/v1/predict", data=json.dumps({"values": CYTOKINES,
                                                               "horizon": SLOT[0]}),
                           content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()["model_version"]


def upload(client: Client, data: bytes, *, slot=SLOT, baseline: tuple[str, bytes] | None = None,
           name: str = "model.pt", notes: str = ""):
    payload = {"horizon": slot[0], "combination": slot[1], "notes": notes,
               "model_file": SimpleUploadedFile(name, data, "application/octet-stream")}
    if baseline is not None:
        payload["baseline_file"] = SimpleUploadedFile(baseline[0], baseline[1], "text/csv")
    return client.post(admin_url("add"), payload)


# --- modules that break the contract -------------------------------------------------------

class OneLogit(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.sum(dim=1, keepdim=True)


class NaNOutput(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.full([x.shape[0], 2], float("nan"))


class EndlessLoop(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total = x.sum()
        i = 0
        while i < 1_000_000_000_000:
            total = total + 1.0
            i += 1
        return torch.zeros([x.shape[0], 2]) + total


class HugeAllocation(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        waste = torch.ones([256 * 1024 * 1024])  # 1 GiB of float32
        return torch.zeros([x.shape[0], 2]) + waste.sum()


def not_torchscript_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", b"not a model")
        archive.writestr("readme.txt", b"hello")
    return buffer.getvalue()


def state_dict_file() -> bytes:
    buffer = io.BytesIO()
    torch.save(TinyModel(7).state_dict(), buffer)
    return buffer.getvalue()


def baseline_lines(rows: list[str]) -> bytes:
    return ("probability,severe\n" + "\n".join(rows) + "\n").encode()


ONE_CLASS = baseline_lines([f"{i / 40:.3f},0" for i in range(40)])
FIVE_ROWS = baseline_lines(["0.1,0", "0.2,1", "0.3,0", "0.4,1", "0.5,0"])
OUT_OF_RANGE = baseline_lines([f"{i / 40:.3f},{i % 2}" for i in range(39)] + ["1.7,1"])
TEXT_IN_NUMBER = baseline_lines([f"{i / 40:.3f},{i % 2}" for i in range(30)] + ["high,1"])

REJECTIONS = {
    "random bytes": (lambda: bytes(range(256)) * 20, None,
                     "This is not a TorchScript file"),
    "empty file": (lambda: b"", None, "The model file is empty."),
    "zip that is not TorchScript": (not_torchscript_zip, None,
                                    "This zip archive is not a TorchScript model"),
    "torch.save state dict": (state_dict_file, None,
                              "This zip archive is not a TorchScript model"),
    "wrong width": (lambda: tiny_model_bytes(*SLOT, module=TinyModel(42)), None,
                    "The model failed on an input of 7 values"),
    "output [B,1]": (lambda: tiny_model_bytes(*SLOT, module=OneLogit()), None,
                     "the model's output has shape [1, 1]; it must be [1, 2]"),
    "output with NaN": (lambda: tiny_model_bytes(*SLOT, module=NaNOutput()), None,
                        "The model's output contains NaN or infinite values"),
    "manifest for another slot": (lambda: tiny_model_bytes(2, "4"), None,
                                  "The manifest is for horizon 2, but this upload is for "
                                  "horizon 1."),
    "baseline with one class": (lambda: tiny_model_bytes(*SLOT), ("b.csv", ONE_CLASS),
                                "must contain both severe (1) and non-severe (0)"),
    "baseline with 5 rows": (lambda: tiny_model_bytes(*SLOT), ("b.csv", FIVE_ROWS),
                             "The baseline has 5 rows; at least 20 are needed."),
    "baseline probability 1.7": (lambda: tiny_model_bytes(*SLOT), ("b.csv", OUT_OF_RANGE),
                                 "probability 1.7 is not between 0 and 1"),
    "baseline with text in a number column": (lambda: tiny_model_bytes(*SLOT),
                                              ("b.csv", TEXT_IN_NUMBER),
                                              "Baseline line 32 holds text where a number "
                                              "belongs."),
    "no baseline at all": (lambda: tiny_model_bytes(*SLOT, with_baseline=False), None,
                           "No calibration baseline"),
}


@pytest.mark.parametrize("case", list(REJECTIONS))
def test_it_rejects_a_bad_upload_with_its_reason_and_keeps_serving_the_active_version(
        case, admin_client, serving):
    make, baseline, reason = REJECTIONS[case]
    assert served_version() == "h1-4-v1"
    before = ModelVersion.objects.count()

    response = upload(admin_client, make(), baseline=baseline, name=f"{case}.pt")

    assert response.status_code == 400
    page = response.content.decode()
    assert "The upload was rejected" in page
    assert reason.lower().replace("'", "&#x27;") in page.lower(), page[page.find("errorlist"):][:800]
    assert ModelVersion.objects.count() == before
    assert ModelVersion.objects.get(state="active").pk == serving.pk
    assert served_version() == "h1-4-v1"
    event = AuditEvent.objects.get(action=AuditEvent.Action.VALIDATION_FAILED)
    assert event.detail["slot"] == "h1-4" and event.detail["original_name"] == f"{case}.pt"
    assert any(reason.lower() in r.lower() for r in event.detail["reasons"])
    assert event.user.username == "root"


def test_it_stops_a_model_that_runs_past_the_time_limit(admin_client, serving, settings):
    settings.PRCRS_UPLOAD_CHECK_SECONDS = 4
    response = upload(admin_client, tiny_model_bytes(*SLOT, module=EndlessLoop()))
    assert response.status_code == 400
    assert "took longer than 4 seconds, so it was stopped" in response.content.decode()
    assert ModelVersion.objects.get(state="active").pk == serving.pk
    assert served_version() == "h1-4-v1"


def test_it_stops_a_model_that_needs_more_memory_than_allowed(admin_client, serving, settings):
    settings.PRCRS_UPLOAD_CHECK_MEMORY_MB = 256
    response = upload(admin_client, tiny_model_bytes(*SLOT, module=HugeAllocation()))
    assert response.status_code == 400
    assert "needed more than 256 MB of memory" in response.content.decode()
    assert served_version() == "h1-4-v1"


def test_the_memory_limit_leaves_room_for_an_ordinary_model(admin_client, serving, settings):
    settings.PRCRS_UPLOAD_CHECK_MEMORY_MB = 256
    assert upload(admin_client, tiny_model_bytes(*SLOT, bias=1.0)).status_code == 302


def test_it_rejects_a_file_over_the_size_limit_before_reading_it(admin_client, serving,
                                                                   settings):
    settings.PRCRS_MAX_UPLOAD_MB = 0.001  # about 1 kB; a tiny model is about 5 kB
    response = upload(admin_client, tiny_model_bytes(*SLOT))
    assert response.status_code == 400
    assert "the limit is 0.001 MB" in response.content.decode()
    assert ModelVersion.objects.count() == 1
    assert AuditEvent.objects.filter(action="validation_failed").count() == 1


def test_it_reports_every_manifest_problem_at_once(admin_client, serving):
    response = upload(admin_client, tiny_model_bytes(2, "1234"), slot=(1, "4"))
    page = response.content.decode()
    assert "The manifest is for horizon 2" in page
    assert "The manifest is for panel combination 1234" in page
    assert "factor_keys must list exactly the 7 factors of combination 4" in page


def test_a_manifest_naming_a_key_twice_is_refused_and_the_active_version_serves(
        admin_client, serving):
    def doubled(name, content):
        if name.endswith("/extra/manifest.json"):
            text = content.decode()
            content = (text[:-1] + ', "horizon": 3}').encode()  # the first said 1
        return [(name, content)]

    response = upload(admin_client, rewritten_archive(tiny_model_bytes(*SLOT), doubled))
    assert response.status_code == 400
    assert "names “horizon” twice" in response.content.decode()
    assert ModelVersion.objects.count() == 1 and served_version() == "h1-4-v1"


def test_an_archive_holding_two_files_of_one_name_is_refused(admin_client, serving):
    def twice(name, content):
        if name.endswith("/extra/manifest.json"):
            return [(name, content), (name, content.replace(b'"horizon": 1', b'"horizon": 2'))]
        return [(name, content)]

    good = tiny_model_bytes(*SLOT)  # outside the block: it re-raises every other warning
    with pytest.warns(UserWarning, match="Duplicate name"):
        data = rewritten_archive(good, twice)
    response = upload(admin_client, data)
    assert response.status_code == 400
    assert "holds two files named" in response.content.decode()
    assert ModelVersion.objects.count() == 1 and served_version() == "h1-4-v1"


def test_a_valid_upload_is_validated_but_not_serving(admin_client, serving):
    response = upload(admin_client, tiny_model_bytes(*SLOT, bias=2.0), notes="retrained")
    new = ModelVersion.objects.get(version=2)
    assert response.status_code == 302
    assert response["Location"] == admin_url("change", new.pk)
    assert new.state == ModelVersion.State.VALIDATED
    assert new.notes == "retrained" and new.uploaded_by.username == "root"
    assert new.validation_report["width"] == 7
    assert new.validation_report["baseline_source"] == "archive"
    assert len(new.validation_report["dry_run_raw_probabilities"]["b8"]) == 8
    assert ModelVersion.objects.get(state="active").pk == serving.pk
    assert served_version() == "h1-4-v1"
    assert AuditEvent.objects.filter(action="upload", model_version=new).exists()


def test_activation_then_rollback_switch_what_the_page_and_the_api_serve(admin_client, serving):
    upload(admin_client, tiny_model_bytes(*SLOT, bias=2.0))
    new = ModelVersion.objects.get(version=2)

    confirm = admin_client.get(admin_url("activate", new.pk))
    assert confirm.status_code == 200
    assert "h1-4-v1" in confirm.content.decode() and "h1-4-v2" in confirm.content.decode()
    assert served_version() == "h1-4-v1"  # looking at the confirmation changes nothing

    response = admin_client.post(admin_url("activate", new.pk), {"confirm": "yes"})
    assert response.status_code == 302
    assert served_version() == "h1-4-v2"
    assert api_version(Client()) == "h1-4-v2"
    serving.refresh_from_db()
    assert serving.state == ModelVersion.State.RETIRED  # kept, for rollback

    page = admin_client.get(admin_url("change", serving.pk)).content.decode()
    assert "Roll back to this version" in page
    admin_client.post(admin_url("activate", serving.pk), {"confirm": "yes"})
    assert served_version() == "h1-4-v1"
    assert api_version(Client()) == "h1-4-v1"
    actions = list(AuditEvent.objects.filter(action__in=["activate", "rollback"])
                   .order_by("at", "pk").values_list("action", "detail"))
    assert [a for a, _ in actions] == ["activate", "activate", "rollback"]
    assert actions[-1][1] == {"slot": "h1-4-v1", "from": "h1-4-v2", "to": "h1-4-v1"}


def test_the_confirmation_page_shows_both_versions_metrics_side_by_side(admin_client, serving):
    data = tiny_model_bytes(*SLOT, bias=2.0)
    upload(admin_client, data)
    new = ModelVersion.objects.get(version=2)
    new.manifest["metrics"] = {"patient_cv": {"auroc": 0.8123, "brier": 0.101}}
    new.save(update_fields=["manifest"])
    page = admin_client.get(admin_url("activate", new.pk)).content.decode()
    assert "patient_cv.auroc" in page and "0.8123" in page and "0.5" in page
    assert "patient_cv.brier" in page and "0.101" in page
    assert 'name="csrfmiddlewaretoken"' in page and 'method="post"' in page


def test_the_activate_action_leads_to_the_confirmation_page(admin_client, serving):
    upload(admin_client, tiny_model_bytes(*SLOT, bias=2.0))
    new = ModelVersion.objects.get(version=2)
    response = admin_client.post(admin_url("changelist"), {
        "action": "activate_selected", "_selected_action": [new.pk]})
    assert response.status_code == 200
    assert "Activate h1-4-v2 for h1-4?" in response.content.decode()
    assert served_version() == "h1-4-v1"


def test_a_baseline_file_replaces_the_one_in_the_archive(admin_client, serving):
    upload(admin_client, tiny_model_bytes(*SLOT), baseline=("held_out.csv",
                                                            baseline_csv(30).encode()))
    new = ModelVersion.objects.get(version=2)
    assert len(new.baseline) == 30
    assert new.validation_report["baseline_source"] == "upload"


def test_the_original_prcrs_baseline_workbook_is_accepted(admin_client, serving):
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    for i in range(40):  # probability, predicted label, true label; no header
        p = (i + 0.5) / 40
        sheet.append([p, int(p > 0.5), int(i % 3 == 0 or p > 0.8)])
    buffer = io.BytesIO()
    workbook.save(buffer)
    response = upload(admin_client, tiny_model_bytes(*SLOT, with_baseline=False),
                      baseline=("CAR-T_baseline.xlsx", buffer.getvalue()))
    assert response.status_code == 302
    new = ModelVersion.objects.get(version=2)
    assert len(new.baseline) == 40 and new.state == "validated"


def test_the_upload_form_is_shown_on_get_and_nothing_is_recorded(admin_client, serving):
    response = admin_client.get(admin_url("add"))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'enctype="multipart/form-data"' in page and "csrfmiddlewaretoken" in page
    assert ModelVersion.objects.count() == 1


def test_versions_cannot_be_deleted_so_retired_files_stay(admin_client, serving):
    response = admin_client.post(admin_url("delete", serving.pk), {"post": "yes"})
    assert response.status_code == 403
    assert ModelVersion.objects.filter(pk=serving.pk).exists()


def test_notes_can_be_edited_and_nothing_else(admin_client, serving):
    listing = admin_client.get(admin_url("changelist"))
    assert listing.status_code == 200 and "h1-4-v1" in listing.content.decode()
    response = admin_client.post(admin_url("change", serving.pk), {
        "notes": "trained on the 2024 cohort", "state": "retired", "sha256": "0" * 64})
    assert response.status_code == 302
    stored = ModelVersion.objects.get(pk=serving.pk)
    assert stored.notes == "trained on the 2024 cohort"
    assert stored.state == "active" and stored.sha256 == serving.sha256
    assert bytes(stored.content) == bytes(serving.content)  # the file bytes were not touched


def test_the_fuzzers_mutated_model_files_are_refused_or_kept_apart_and_nothing_breaks(
        admin_client, serving):
    """bench/fuzz.py's model-upload corpus, through the real upload page: every file is either
    refused with its reasons (400) or validated as a new version (302); none is a 500, and the
    version that served before still serves."""
    import random

    from bench.fuzz import mutated_model_files

    statuses = []
    for model, baseline in mutated_model_files(random.Random(3), 16):
        response = upload(admin_client, model,
                          baseline=None if baseline is None else ("b.csv", baseline))
        statuses.append(response.status_code)
        if response.status_code == 400:
            assert 'class="errorlist' in response.content.decode() or \
                "errornote" in response.content.decode(), response.content.decode()[:500]
    assert set(statuses) <= {302, 400} and 400 in statuses, statuses
    assert served_version() == "h1-4-v1"
    assert ModelVersion.objects.get(state="active").pk == serving.pk
