"""Who may do what in the admin: uploads, activation, read-only records, catalogue edits,
CSRF, login lockout, and bundled registration that never overrides an admin's choice."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import translation

from predictor.live_catalogue import live_catalogue
from predictor.model_versions.bundled import register_bundled_models
from predictor.model_versions.versions import activate, current_stamp
from predictor.models import AuditEvent, Factor, ModelVersion, PredictionLog
from tests.conftest import install_model
from tests.model_files import tiny_model_bytes
from tests.test_admin_upload import SLOT, admin_url, served_version, staff_user

UPLOADER_PERMS = ("add_modelversion", "view_modelversion", "change_modelversion")


def url(name: str, *args) -> str:
    with translation.override("en"):
        return reverse(name, args=args)


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def upload_payload(data: bytes | None = None) -> dict:
    return {"horizon": SLOT[0], "combination": SLOT[1],
            "model_file": SimpleUploadedFile("m.pt", data or tiny_model_bytes(*SLOT, bias=1.0))}


@pytest.fixture
def serving(db) -> ModelVersion:
    return install_model(*SLOT)


@pytest.fixture
def candidate(serving) -> ModelVersion:
    return install_model(*SLOT, bias=1.0, activate=False)


# --- uploads and activation ------------------------------------------------------------------

@pytest.mark.parametrize("who", ["anonymous", "not staff"])
def test_anonymous_and_non_staff_users_get_no_upload_and_no_activation(who, candidate):
    client = Client()
    if who == "not staff":
        client.force_login(User.objects.create_user("nurse", password="x"))
    for response in (client.get(admin_url("add")), client.post(admin_url("add"), upload_payload()),
                     client.get(admin_url("activate", candidate.pk)),
                     client.post(admin_url("activate", candidate.pk), {"confirm": "yes"})):
        assert response.status_code == 302
        assert "/login/" in response["Location"]
    assert ModelVersion.objects.count() == 2
    assert served_version() == "h1-4-v1"


def test_staff_without_the_activate_permission_can_upload_but_not_activate(serving):
    client = logged_in(staff_user("uploader", *UPLOADER_PERMS))
    response = client.post(admin_url("add"), upload_payload())
    assert response.status_code == 302
    new = ModelVersion.objects.get(version=2)
    assert new.state == "validated" and new.uploaded_by.username == "uploader"

    page = client.get(admin_url("change", new.pk)).content.decode()
    assert "Activate" not in page.split('class="object-tools"')[-1].split("</ul>")[0]
    assert client.get(admin_url("activate", new.pk)).status_code == 403
    assert client.post(admin_url("activate", new.pk), {"confirm": "yes"}).status_code == 403
    changelist = client.get(admin_url("changelist")).content.decode()
    assert "activate_selected" not in changelist
    client.post(admin_url("changelist"), {"action": "activate_selected",
                                          "_selected_action": [new.pk]})
    assert served_version() == "h1-4-v1"
    assert not AuditEvent.objects.filter(action="activate", user__username="uploader").exists()


def test_staff_without_the_add_permission_cannot_upload(serving):
    client = logged_in(staff_user("viewer", "view_modelversion"))
    assert client.get(admin_url("add")).status_code == 403
    assert client.post(admin_url("add"), upload_payload()).status_code == 403
    assert ModelVersion.objects.count() == 1


def test_the_activate_permission_alone_allows_activation_by_post_only(candidate):
    client = logged_in(staff_user("pharmacist", "view_modelversion", "activate_modelversion"))
    assert client.get(admin_url("activate", candidate.pk), {"confirm": "yes"}).status_code == 200
    assert served_version() == "h1-4-v1"  # a GET, even with confirm, changes nothing
    client.post(admin_url("activate", candidate.pk))  # no confirmation: only the page again
    assert served_version() == "h1-4-v1"
    assert client.post(admin_url("activate", candidate.pk), {"confirm": "yes"}).status_code == 302
    assert served_version() == "h1-4-v2"
    event = AuditEvent.objects.get(action="activate", model_version=candidate)
    assert event.user.username == "pharmacist"


def test_activation_needs_a_csrf_token(candidate):
    user = staff_user("pharmacist", "view_modelversion", "activate_modelversion")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post(admin_url("activate", candidate.pk), {"confirm": "yes"})
    assert response.status_code == 403
    assert served_version() == "h1-4-v1"
    upload = client.post(admin_url("add"), upload_payload())
    assert upload.status_code == 403


def test_a_rejected_version_cannot_be_activated(serving, db):
    rejected = install_model(*SLOT, bias=3.0, activate=False)
    ModelVersion.objects.filter(pk=rejected.pk).update(state="rejected")
    client = logged_in(User.objects.create_superuser("root", password="x"))
    response = client.post(admin_url("activate", rejected.pk), {"confirm": "yes"})
    assert response.status_code == 302
    assert served_version() == "h1-4-v1"


# --- read-only records -------------------------------------------------------------------------

@pytest.mark.parametrize("model", ["auditevent", "predictionlog"])
def test_the_audit_trail_and_prediction_log_are_read_only(model, serving):
    client = logged_in(User.objects.create_superuser("root", password="x"))
    PredictionLog.objects.create(horizon=1, combination="4", model_version="h1-4-v1",
                                 raw_probability=0.5, probability=0.4, values={})
    obj = (AuditEvent if model == "auditevent" else PredictionLog).objects.first()
    base = f"admin:predictor_{model}"
    assert client.get(url(f"{base}_changelist")).status_code == 200
    assert client.get(url(f"{base}_add")).status_code == 403
    assert client.get(url(f"{base}_delete", obj.pk)).status_code == 403
    view = client.get(url(f"{base}_change", obj.pk))
    assert view.status_code == 200 and 'name="_save"' not in view.content.decode()
    assert client.post(url(f"{base}_change", obj.pk), {}).status_code == 403


def test_the_prediction_log_exports_as_csv_for_admins_only(serving):
    PredictionLog.objects.create(horizon=1, combination="4", model_version="h1-4-v1",
                                 raw_probability=0.61, probability=0.4, channel="api",
                                 values={"inputs": {"il6": 48.0, "il2": 3.1}, "imputed": ["il4"]})
    admin_client = logged_in(User.objects.create_superuser("root", password="x"))
    response = admin_client.get(url("admin:predictor_predictionlog_export"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    lines = b"".join(response.streaming_content).decode().splitlines()
    header, row = lines[0].split(","), lines[1].split(",")
    assert header[:8] == ["time", "horizon", "combination", "model_version", "raw_probability",
                          "probability", "channel", "imputed"]
    assert row[header.index("il6")] == "48.0" and row[header.index("imputed")] == "il4"
    assert row[header.index("channel")] == "api" and row[header.index("d_dimer")] == ""

    action = admin_client.post(url("admin:predictor_predictionlog_changelist"), {
        "action": "export_selected_csv",
        "_selected_action": list(PredictionLog.objects.values_list("pk", flat=True))})
    assert action["Content-Type"].startswith("text/csv")

    staff = logged_in(staff_user("uploader", *UPLOADER_PERMS))
    assert staff.get(url("admin:predictor_predictionlog_export")).status_code == 403
    assert Client().get(url("admin:predictor_predictionlog_export")).status_code == 302


# --- catalogue edits ---------------------------------------------------------------------------

def factor_form(factor: Factor, **changes) -> dict:
    data = {f"{field}_{lang}": getattr(factor, f"{field}_{lang}") or ""
            for field in ("name", "unit", "help_text") for lang in ("zh_hans", "en")}
    data.update(hard_min=factor.hard_min, typical_min=factor.typical_min,
                typical_max=factor.typical_max, hard_max=factor.hard_max,
                cart_min=factor.cart_min if factor.cart_min is not None else "",
                cart_max=factor.cart_max if factor.cart_max is not None else "")
    data.update(changes)
    return data


def test_editing_a_factor_bumps_the_serving_stamp_and_is_audited(db):
    client = logged_in(User.objects.create_superuser("root", password="x"))
    factor = Factor.objects.get(key="il6")
    page = client.get(url("admin:predictor_factor_change", factor.pk)).content.decode()
    assert "name_zh_hans" in page and "name_en" in page  # one field per language
    assert "ajax.googleapis.com" not in page  # no CDN script for the CSP to block
    if "tabbed_translation_fields.js" not in page:  # no local jQuery UI: labelled fields
        assert "Name [zh-hans]" in page and "Name [en]" in page
    stamp = current_stamp()
    response = client.post(url("admin:predictor_factor_change", factor.pk),
                           factor_form(factor, name_en="Interleukin-6", typical_max=7))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert current_stamp() == stamp + 1
    event = AuditEvent.objects.get(action="catalogue_edit")
    assert set(event.detail["fields"]) == {"name_en", "typical_max"}
    live = live_catalogue(current_stamp()).by_key["il6"]
    assert str(live.name.en) == "Interleukin-6" and live.limits.typical_max == 7


def test_factor_limits_must_stay_nested(db):
    client = logged_in(User.objects.create_superuser("root", password="x"))
    factor = Factor.objects.get(key="il6")
    response = client.post(url("admin:predictor_factor_change", factor.pk),
                           factor_form(factor, typical_max=factor.hard_max + 1))
    assert response.status_code == 200  # the form again, with an error
    factor.refresh_from_db()
    assert factor.typical_max != factor.hard_max + 1
    assert not AuditEvent.objects.filter(action="catalogue_edit").exists()


def test_catalogue_structure_cannot_be_added_or_deleted(db):
    client = logged_in(User.objects.create_superuser("root", password="x"))
    factor = Factor.objects.get(key="il6")
    assert client.get(url("admin:predictor_factor_add")).status_code == 403
    assert client.post(url("admin:predictor_factor_delete", factor.pk),
                       {"post": "yes"}).status_code == 403
    client.post(url("admin:predictor_factor_change", factor.pk),
                factor_form(factor, key="hacked", position=1))
    factor.refresh_from_db()
    assert factor.key == "il6" and factor.position == 38


# --- login lockout (django-axes) ---------------------------------------------------------------

def test_repeated_failed_admin_logins_lock_the_account_out(db):
    User.objects.create_superuser("root", password="right-password")
    client = Client()
    login = url("admin:login")
    for _attempt in range(settings.AXES_FAILURE_LIMIT):
        response = client.post(login, {"username": "root", "password": "wrong"})
        assert response.status_code in (200, 429)
    response = client.post(login, {"username": "root", "password": "right-password"})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_a_correct_admin_login_works_with_axes(db):
    User.objects.create_superuser("root", password="right-password")
    client = Client()
    response = client.post(url("admin:login"), {"username": "root",
                                                "password": "right-password"})
    assert response.status_code == 302
    assert client.session["_auth_user_id"]


# --- bundled models ----------------------------------------------------------------------------

def test_bundled_registration_is_idempotent_and_never_overrides_an_admin_upload(db, tmp_path):
    bundle = Path(tmp_path)
    (bundle / "h1_c4.pt").write_bytes(tiny_model_bytes(*SLOT, bias=0.0))
    assert len(register_bundled_models(bundle)) == 1
    assert register_bundled_models(bundle) == []
    assert served_version() == "h1-4-v1"

    admin_upload = install_model(*SLOT, bias=2.0)  # an admin's upload, activated
    (bundle / "h1_c4.pt").write_bytes(tiny_model_bytes(*SLOT, bias=5.0))  # a new release
    created = register_bundled_models(bundle)
    assert [mv.version for mv in created] == [3]
    assert ModelVersion.objects.get(state="active").pk == admin_upload.pk
    assert created[0].state == "validated"
    assert register_bundled_models(bundle) == []

    activate(ModelVersion.objects.get(version=1))  # back on a bundled version: follows releases
    (bundle / "h1_c4.pt").write_bytes(tiny_model_bytes(*SLOT, bias=7.0))
    newest = register_bundled_models(bundle)
    assert ModelVersion.objects.get(state="active").pk == newest[0].pk
