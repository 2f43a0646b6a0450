"""The prediction log: one row per served horizon, with the lab values the model saw.

No patient identifiers are ever asked for, so none can be logged. On by default; off with
``PRCRS_PREDICTION_LOG=0``. Logging must never cost a physician their answer: if the database
write fails, the same record goes as one JSON line to the ``predictor.prediction_log`` logger at
WARNING (so a log collector keeps it; ``manage.py import_prediction_log`` puts such lines back),
and nothing is raised into the request.

Writes are off the request path (``PRCRS_PREDICTION_LOG_ASYNC``, on by default): a request only
queues its records, and one thread per process writes what has queued every
``PRCRS_PREDICTION_LOG_FLUSH_SECONDS`` in one transaction. A commit per request cost ~0.5 ms of
the ~1.5 ms a prediction takes in the worker, and under load the SQLite writers queued on its
lock. Records queued when a process exits normally are written first (atexit, and gunicorn's
worker_exit); a worker killed with SIGKILL loses at most the last flush interval's records.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable

from django.conf import settings
from django.db import close_old_connections, connections, transaction
from django.utils import timezone


# A fixed name, not __name__: import_prediction_log and the deployment docs look for it.
log = logging.getLogger("predictor.prediction_log")


def entry_for(result, channel: str) -> dict:
    """The log record of one HorizonPrediction: the model's lab input, entered and imputed, and
    with a clinical context the context (parsed integers) and the no-lab reference's
    probability shown beside the answer (both null without context)."""
    context = getattr(result, "context", None)
    reference = getattr(result, "no_lab_reference", None)
    if reference is None and context and result.combination == "0":
        reference_probability = float(result.probability)  # the reference answered alone
    else:
        reference_probability = float(reference.probability) if reference is not None else None
    return {
        "horizon": result.horizon, "combination": result.combination,
        "model_version": result.model_version,
        "raw_probability": float(result.raw_probability),
        "probability": float(result.probability),
        "values": {"inputs": dict(result.inputs), "imputed": sorted(result.imputed)},
        "context": dict(context) if context else None,
        "reference_probability": reference_probability,
        "channel": channel,
    }


def record(results: Iterable, channel: str = "web") -> int:
    """Log each ``HorizonPrediction`` in ``results``; returns how many records were logged
    (queued for the writer thread, or written at once when the log is synchronous).

    The values logged are the model's input as ``predict`` built it (entered values converted to
    model units, plus imputed medians). ``channel``: "web" or "api". Never raises.
    """
    if not getattr(settings, "PRCRS_PREDICTION_LOG", True):
        return 0
    try:
        at = timezone.now()
        entries = [dict(entry_for(result, channel), at=at, record_id=str(uuid.uuid4()))
                   for result in results]
    except Exception:  # noqa: BLE001 - a record must never cost the answer
        log.warning("prediction could not be logged", exc_info=True)
        return 0
    if not entries:
        return 0
    if getattr(settings, "PRCRS_PREDICTION_LOG_ASYNC", True):
        WRITER.put(entries)
        return len(entries)
    return write(entries)


def write(entries: list[dict]) -> int:
    """Write records now, in one transaction; on failure each goes to the JSON log instead.
    Returns how many reached the database. Never raises."""
    try:
        from predictor.models import PredictionLog

        # A savepoint: a failed write must not break a transaction the caller may have open.
        # ``at`` is the row's auto_now_add time: the flush, at most one interval after the
        # prediction (the JSON fallback below keeps the prediction's own time).
        with transaction.atomic():
            PredictionLog.objects.bulk_create(
                [PredictionLog(**{k: v for k, v in entry.items() if k != "at"})
                 for entry in entries])
        return len(entries)
    except Exception:  # noqa: BLE001 - the database may be down; the answer has gone out
        for entry in entries:
            try:
                at = entry.get("at") or timezone.now()
                line = {k: v for k, v in entry.items() if k != "at"}
                log.warning(json.dumps({"at": at.isoformat(), **line}, ensure_ascii=False))
            except Exception:  # noqa: BLE001
                pass
        return 0


class QueuedWriter:
    """One background thread per process that writes queued records in batches."""

    def __init__(self) -> None:
        self._queue: deque[list[dict]] = deque()
        self._wake = threading.Event()
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._released = threading.Event()
        os.register_at_fork(after_in_child=self._after_fork)
        atexit.register(self.flush)

    def _after_fork(self) -> None:
        self._queue = deque()  # the parent's records are the parent's to write
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._released = threading.Event()
        self._pid = None

    def put(self, entries: list[dict]) -> None:
        self._queue.append(entries)
        if self._pid != os.getpid():
            self._start()

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            threading.Thread(target=self._run, name="prcrs-prediction-log", daemon=True).start()

    def _run(self) -> None:
        while True:
            self._wake.wait(getattr(settings, "PRCRS_PREDICTION_LOG_FLUSH_SECONDS", 0.05))
            self._wake.clear()
            self.flush()
            if self._release.is_set():
                self._release.clear()
                try:
                    connections.close_all()
                except Exception:  # noqa: BLE001 - a broken connection is gone either way;
                    pass  # the thread must live on to write the next records
                self._released.set()

    def release_connections(self, timeout: float = 5.0) -> bool:
        """Have the writer thread write what is queued and close its database connections,
        which a persistent connection (``DATABASE_CONN_MAX_AGE``) would otherwise keep open
        while the thread waits: before the database goes away (the end of a test run cannot
        drop a PostgreSQL database a session still uses). The next record opens a new one.
        True when done (or there is no writer thread in this process)."""
        if self._pid != os.getpid():
            return True
        self._released.clear()
        self._release.set()
        self._wake.set()
        return self._released.wait(timeout)

    def flush(self) -> int:
        """Write everything queued so far (the writer thread, at exit, and tests)."""
        batch: list[dict] = []
        while self._queue:
            try:
                batch.extend(self._queue.popleft())
            except IndexError:
                break
        if not batch:
            return 0
        try:
            close_old_connections()  # a connection the database dropped is replaced
        except Exception:  # noqa: BLE001 - write() falls back to the JSON log
            pass
        written = write(batch)
        if threading.current_thread() is not threading.main_thread():
            try:
                close_old_connections()
            except Exception:  # noqa: BLE001
                pass
        return written

    def pending(self) -> int:
        return sum(len(entries) for entries in list(self._queue))


WRITER = QueuedWriter()


def wait_until_written(timeout: float = 5.0) -> None:
    """Block until the queue is empty (tests; gunicorn's worker_exit)."""
    deadline = time.monotonic() + timeout
    while WRITER.pending() and time.monotonic() < deadline:
        WRITER.flush()
