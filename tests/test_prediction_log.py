"""The prediction log: written per horizon, switchable, and never lost when the database fails."""

from __future__ import annotations

import json
import logging
import threading
import time
from unittest import mock

import pytest
from django.db import OperationalError
from django.test import Client
from django.utils import timezone

from predictor.catalogue import combination_factor_keys
from predictor.models import PredictionLog
from predictor.scoring import prediction_log
from predictor.scoring.prediction import predict
from tests.conftest import CYTOKINES, install_model

RAW_API_VALUES = {**CYTOKINES, "neutrophil_pct": "45%"}  # a string percentage, as the API allows


@pytest.fixture
def cytokine_models(db):
    return [install_model(h, "4", bias=0.1 * h) for h in (1, 2, 3)]


def test_it_writes_one_row_per_horizon_with_the_models_inputs(cytokine_models):
    results = predict(CYTOKINES, [1, 2, 3], percent_input=False)
    assert prediction_log.record(results, channel="web") == 3
    rows = list(PredictionLog.objects.order_by("horizon"))
    assert [r.horizon for r in rows] == [1, 2, 3]
    for row, result in zip(rows, results):
        assert row.model_version == result.model_version == f"h{row.horizon}-4-v1"
        assert row.combination == "4" and row.channel == "web"
        assert row.raw_probability == pytest.approx(result.raw_probability)
        assert row.probability == pytest.approx(result.probability)
        # A set: PostgreSQL's jsonb keeps object keys in its own order.
        assert set(row.values["inputs"]) == set(combination_factor_keys("4"))
        assert row.values["inputs"]["il6"] == 48.0 and row.values["imputed"] == []
    assert len({row.record_id for row in rows} - {None}) == 3  # each record its own id


def test_raw_entries_are_converted_to_model_units(cytokine_models):
    results = predict(RAW_API_VALUES, [1], percent_input=False)
    prediction_log.record(results, "api")
    row = PredictionLog.objects.get()
    assert row.values["inputs"]["il2"] == 3.1  # "3.1" became a number
    assert "neutrophil_pct" not in row.values["inputs"]  # ignored by the cytokine model


def test_the_api_logs_its_predictions(cytokine_models):
    response = Client().post("/api/v1/predict", data=json.dumps({"values": CYTOKINES,
                                                                 "horizon": "all"}),
                             content_type="application/json")
    assert response.status_code == 200
    assert set(PredictionLog.objects.values_list("channel", "horizon")) == {
        ("api", 1), ("api", 2), ("api", 3)}


def test_imputed_values_are_logged_as_imputed(db):
    install_model(1, "4")
    values = {k: v for k, v in CYTOKINES.items() if k != "il17a"}  # 6 of 7: one imputed
    results = predict(values, [1], percent_input=False)
    assert results[0].imputed, "the cytokine panel should be completed from the medians"
    prediction_log.record(results)
    row = PredictionLog.objects.get()
    assert row.values["imputed"] == ["il17a"]
    assert row.values["inputs"]["il17a"] == results[0].imputed["il17a"]


def test_it_can_be_switched_off(cytokine_models, settings):
    settings.PRCRS_PREDICTION_LOG = False
    results = predict(CYTOKINES, [1], percent_input=False)
    assert prediction_log.record(results) == 0
    Client().post("/api/v1/predict", data=json.dumps({"values": CYTOKINES, "horizon": 1}),
                  content_type="application/json")
    assert not PredictionLog.objects.exists()


def test_a_database_failure_goes_to_the_log_instead_and_never_raises(cytokine_models, caplog):
    results = predict(CYTOKINES, [1, 2], percent_input=False)
    with mock.patch.object(PredictionLog.objects, "bulk_create",
                           side_effect=OperationalError("database is down")), \
            caplog.at_level(logging.WARNING, logger="predictor.prediction_log"):
        written = prediction_log.record(results, "api")
    assert written == 0
    assert not PredictionLog.objects.exists()
    lines = [json.loads(r.getMessage()) for r in caplog.records
             if r.name == "predictor.prediction_log"]
    assert [line["horizon"] for line in lines] == [1, 2]
    assert all(r.levelno == logging.WARNING for r in caplog.records
               if r.name == "predictor.prediction_log")
    assert lines[0]["model_version"] == "h1-4-v1" and lines[0]["channel"] == "api"
    assert lines[0]["values"]["inputs"]["il6"] == 48.0 and "at" in lines[0]
    # The id travels with the record, so an import can tell it from one the table already has.
    assert len({line["record_id"] for line in lines}) == 2


def test_the_api_still_answers_when_the_log_cannot_be_written(cytokine_models, caplog):
    with mock.patch.object(PredictionLog.objects, "bulk_create",
                           side_effect=OperationalError("database is down")):
        response = Client().post("/api/v1/predict", data=json.dumps({"values": CYTOKINES,
                                                                     "horizon": 1}),
                                 content_type="application/json")
    assert response.status_code == 200
    assert any(r.name == "predictor.prediction_log" for r in caplog.records)


def test_nothing_to_log_is_fine(db):
    assert prediction_log.record([]) == 0


# --- the background writer (the production default) ----------------------------------------------

def _wait_for_records(count: int, seconds: float = 5.0) -> int:
    """Wait up to ``seconds`` for the writer thread to have written ``count`` log rows."""
    deadline = time.monotonic() + seconds
    while PredictionLog.objects.count() < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return PredictionLog.objects.count()


@pytest.fixture
def queued_log(settings):
    """The log as it runs under gunicorn: queued by the request, written by a thread."""
    settings.PRCRS_PREDICTION_LOG_ASYNC = True
    settings.PRCRS_PREDICTION_LOG_FLUSH_SECONDS = 0.02
    yield prediction_log.WRITER
    prediction_log.wait_until_written()
    # Its persistent connection would outlive the test database (PostgreSQL refuses to drop it).
    assert prediction_log.WRITER.release_connections()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # keep the seeded catalogue
def test_queued_records_are_written_by_the_writer_thread_within_moments(queued_log):
    for h in (1, 2, 3):
        install_model(h, "4", bias=0.1 * h)
    results = predict(CYTOKINES, [1, 2, 3], percent_input=False)
    assert prediction_log.record(results, "api") == 3  # queued, not yet written by this thread
    _wait_for_records(3)
    assert sorted(PredictionLog.objects.values_list("horizon", flat=True)) == [1, 2, 3]
    assert queued_log.pending() == 0
    assert any(t.name == "prcrs-prediction-log" for t in threading.enumerate())


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # keep the seeded catalogue
def test_a_queued_record_the_database_refuses_goes_to_the_json_log(queued_log, caplog):
    install_model(1, "4")
    results = predict(CYTOKINES, [1], percent_input=False)
    with mock.patch.object(PredictionLog.objects, "bulk_create",
                           side_effect=OperationalError("database is down")), \
            caplog.at_level(logging.WARNING, logger="predictor.prediction_log"):
        queued_log.put([dict(prediction_log.entry_for(results[0], "web"),
                             at=timezone.now())])
        assert queued_log.flush() == 0
    lines = [json.loads(r.getMessage()) for r in caplog.records
             if r.name == "predictor.prediction_log"]
    assert len(lines) == 1 and lines[0]["model_version"] == "h1-4-v1" and "at" in lines[0]
    assert not PredictionLog.objects.exists()


def _other_sessions_on_this_database() -> int | None:
    """Sessions other than this one on the test database (PostgreSQL only; None elsewhere)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # keep the seeded catalogue
def test_the_writer_lets_go_of_its_connection_when_asked_and_writes_again_after(queued_log):
    # A persistent connection in the writer thread would keep the database in use after the
    # last record: the test run then cannot drop its PostgreSQL database.
    install_model(1, "4")
    prediction_log.record(predict(CYTOKINES, [1], percent_input=False), "api")
    assert _wait_for_records(1) == 1
    assert queued_log.release_connections()
    assert _other_sessions_on_this_database() in (None, 0)
    prediction_log.record(predict(CYTOKINES, [1], percent_input=False), "api")
    assert _wait_for_records(2) == 2  # the next record opens a connection again
