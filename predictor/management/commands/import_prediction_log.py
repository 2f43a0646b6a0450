"""python manage.py import_prediction_log LOGFILE [LOGFILE ...]   ("-" reads standard input)

Brings prediction-log records back into the database after an outage. While the database is
away, ``predictor.scoring.prediction_log.record`` writes each record as one JSON line to the
``predictor.prediction_log`` logger instead; this command reads the application's logs (JSON
lines, ``DJANGO_LOG_FORMAT=json``, or text lines that end with the record), picks those
records out and inserts them with their original time.

Safe to run twice, or on logs that overlap: a record whose id is already in the table is
skipped (it also reached the database, or an earlier import brought it back); a record written
before records carried an id is skipped when its time, slot, model version and raw probability
are already there. Lines that are not prediction-log records are
ignored. Prints how many records were found, imported and already present.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from predictor.models import PredictionLog

LOGGER = "predictor.prediction_log"


def fallback_records(lines: Iterable[str]) -> Iterator[dict]:
    """The prediction-log records carried by log ``lines`` (JSON or text format)."""
    for line in lines:
        if LOGGER not in line:
            continue
        message = None
        stripped = line.strip()
        if stripped.startswith("{"):
            try:
                entry = json.loads(stripped)
            except ValueError:
                entry = None
            if isinstance(entry, dict):
                if entry.get("logger") != LOGGER:
                    continue
                message = entry.get("message")
        if message is None:  # text format: "... predictor.prediction_log [pid] {record}"
            start = line.find("{", line.index(LOGGER))
            message = line[start:].strip() if start >= 0 else None
        try:
            record = json.loads(message) if isinstance(message, str) else None
        except ValueError:
            continue
        if isinstance(record, dict) and "model_version" in record and "at" in record:
            yield record


def row_fields(record: dict) -> dict:
    """The PredictionLog columns of one record; ``at`` parsed."""
    names = {f.name for f in PredictionLog._meta.concrete_fields} - {"id"}
    fields = {k: v for k, v in record.items() if k in names}
    fields["at"] = datetime.fromisoformat(record["at"])
    try:  # an id that is not one is dropped: the record is then matched as an old one
        fields["record_id"] = uuid.UUID(str(fields["record_id"]))
    except (KeyError, ValueError):
        fields.pop("record_id", None)
    return fields


def import_records(*, records: Iterable[dict]) -> tuple[int, int]:
    """Insert the records not already in the table; returns (imported, already present)."""
    imported = present = 0
    for record in records:
        fields = row_fields(record)
        if fields.get("record_id"):
            key = {"record_id": fields["record_id"]}
        else:
            key = {k: fields[k] for k in ("at", "horizon", "combination", "model_version",
                                          "raw_probability") if k in fields}
        with transaction.atomic():
            if PredictionLog.objects.filter(**key).exists():
                present += 1
                continue
            row = PredictionLog.objects.create(**fields)
            # `at` is auto_now_add: set the record's own time afterwards.
            PredictionLog.objects.filter(pk=row.pk).update(at=fields["at"])
        imported += 1
    return imported, present


class Command(BaseCommand):
    help = "Import prediction-log records that went to the log while the database was away."

    def add_arguments(self, parser):
        parser.add_argument("logs", nargs="+", help="log files to read ('-' for stdin)")

    def handle(self, *args, logs, **options):
        records: list[dict] = []
        for name in logs:
            try:
                if name == "-":
                    records.extend(fallback_records(sys.stdin))
                else:
                    with open(name, encoding="utf-8", errors="replace") as handle:
                        records.extend(fallback_records(handle))
            except OSError as exc:
                raise CommandError(f"{name}: {exc.strerror or exc}") from exc
        imported, present = import_records(records=records)
        self.stdout.write(f"{len(records)} record(s) found, {imported} imported, "
                          f"{present} already present")
