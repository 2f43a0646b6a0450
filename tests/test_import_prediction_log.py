"""manage.py import_prediction_log: records that went to the log while the database was away
come back into the table, once, with their own time. The log lines are made by the real logger
and formatter that production uses (prediction_log's fallback, JSON and text formats)."""

from __future__ import annotations

import io
import json
import logging
import uuid
from datetime import datetime, timezone

import pytest
from django.core.management import CommandError, call_command

from prcrs_site.logging_json import JsonFormatter
from predictor.models import PredictionLog

pytestmark = pytest.mark.django_db

RECORD = {"horizon": 1, "combination": "4", "model_version": "h1-4-v1",
          "raw_probability": 0.4125, "probability": 0.38, "channel": "api",
          "values": {"inputs": {"il6": 48.0}, "imputed": []},
          "context": None, "reference_probability": None}


def _fallback_line(record: dict, formatter: logging.Formatter) -> str:
    """One line exactly as predictor.scoring.prediction_log writes it when the database write
    fails."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger("predictor.prediction_log")
    logger.addHandler(handler)
    try:
        logger.warning(json.dumps(record, ensure_ascii=False))
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def _log_file(tmp_path, lines: list[str]):
    path = tmp_path / "app.log"
    path.write_text("".join(lines))
    return path


def test_it_imports_json_and_text_fallback_lines_with_their_own_time(tmp_path):
    first = RECORD | {"at": "2026-01-02T03:04:05.123456+00:00"}
    second = RECORD | {"at": "2026-01-02T03:04:06+00:00", "horizon": 2, "raw_probability": 0.5}
    text = logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s")
    path = _log_file(tmp_path, [
        '{"time": "x", "level": "INFO", "logger": "gunicorn.error", "message": "ready"}\n',
        _fallback_line(first, JsonFormatter()),
        "not a log line at all\n",
        _fallback_line(second, text),
    ])
    out = io.StringIO()
    call_command("import_prediction_log", str(path), stdout=out)
    assert "2 record(s) found, 2 imported, 0 already present" in out.getvalue()
    rows = list(PredictionLog.objects.order_by("at"))
    assert [r.horizon for r in rows] == [1, 2]
    assert rows[0].at == datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc)
    assert rows[0].values == RECORD["values"] and rows[0].channel == "api"
    assert rows[1].raw_probability == 0.5


def test_it_imports_nothing_twice(tmp_path):
    path = _log_file(tmp_path, [_fallback_line(RECORD | {"at": "2026-01-02T03:04:05+00:00"},
                                               JsonFormatter())])
    call_command("import_prediction_log", str(path), stdout=io.StringIO())
    out = io.StringIO()
    call_command("import_prediction_log", str(path), str(path), stdout=out)
    assert "2 record(s) found, 0 imported, 2 already present" in out.getvalue()
    assert PredictionLog.objects.count() == 1


def test_it_ignores_other_loggers_that_mention_the_prediction_log(tmp_path):
    line = json.dumps({"logger": "django.request", "level": "WARNING",
                       "message": json.dumps(RECORD | {"at": "2026-01-02T03:04:05+00:00"}),
                       "note": "predictor.prediction_log"}) + "\n"
    out = io.StringIO()
    call_command("import_prediction_log", str(_log_file(tmp_path, [line])), stdout=out)
    assert "0 record(s) found" in out.getvalue()
    assert PredictionLog.objects.count() == 0


def test_it_refuses_a_missing_log_file_with_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="No such file"):
        call_command("import_prediction_log", str(tmp_path / "absent.log"),
                     stdout=io.StringIO())


def test_two_records_of_the_same_microsecond_are_both_imported_when_their_ids_differ(tmp_path):
    at = "2026-01-02T03:04:05.123456+00:00"
    path = _log_file(tmp_path, [
        _fallback_line(RECORD | {"at": at, "record_id": str(uuid.uuid4())}, JsonFormatter()),
        _fallback_line(RECORD | {"at": at, "record_id": str(uuid.uuid4())}, JsonFormatter()),
    ])
    out = io.StringIO()
    call_command("import_prediction_log", str(path), stdout=out)
    assert "2 record(s) found, 2 imported, 0 already present" in out.getvalue()
    assert PredictionLog.objects.count() == 2


def test_a_record_that_reached_the_table_too_is_not_imported_again(tmp_path):
    """A commit whose answer the outage cut: the row is in the table (with the flush time) and
    the same record in the JSON log (with the prediction's time)."""
    record_id = uuid.uuid4()
    PredictionLog.objects.create(**{k: v for k, v in RECORD.items()}, record_id=record_id)
    path = _log_file(tmp_path, [_fallback_line(
        RECORD | {"at": "2026-01-02T03:04:05+00:00", "record_id": str(record_id)},
        JsonFormatter())])
    out = io.StringIO()
    call_command("import_prediction_log", str(path), stdout=out)
    assert "1 record(s) found, 0 imported, 1 already present" in out.getvalue()
    assert PredictionLog.objects.count() == 1


def test_a_record_id_that_is_not_one_falls_back_to_the_old_key(tmp_path):
    line = _fallback_line(RECORD | {"at": "2026-01-02T03:04:05+00:00", "record_id": "x"},
                          JsonFormatter())
    path = _log_file(tmp_path, [line, line])
    out = io.StringIO()
    call_command("import_prediction_log", str(path), stdout=out)
    assert "2 record(s) found, 1 imported, 1 already present" in out.getvalue()
    assert PredictionLog.objects.get().record_id is None
