"""Rate limits in predictions per client per fixed window, shared by every worker and replica.

Any view that predicts calls ``charge(request, predictions=n)`` before predicting and refuses
with the returned ``Refusal`` (429, ``Retry-After``, its message in the active language). One
prediction is one patient-day's values answered, whatever the horizons asked (one or all three,
at most three model runs plus the no-lab reference): a form submission or a JSON API call costs
1, a batch or sheet of n rows costs n. The client is the request's API key when it
carries a valid one (``request.api_key``, set by ``predictor.access.api_keys``), else its address
(``predictor.access.client_address``; an IPv6 address counts by its /64); keys may have their own
limit.

Shared state is a counter row per (client, window) in the database every replica already uses,
changed by one atomic ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` (SQLite >= 3.35 and
PostgreSQL). Writing it on every request would cost more than the prediction's budget, so each
process batches: it grants locally up to ``batch`` predictions per client (1% of the limit, at
most 1,000), then adds them to the row and reads the total back; within ``batch`` of the limit
(as far as it knows) it asks the database before granting, with a conditional write. Bound: a
client can get at most ``processes x batch`` predictions more than its limit in a window
(processes = gunicorn workers x replicas; 1% of the limit per process), and what a process had
not written when it stopped (at most ``batch`` per client) is not counted. Limits under 200
have no batch: every charge is one conditional statement, exact across processes. No time-based
write: a client asking rarely costs no database write at all until it reaches ``batch``.
The database rather than a cache server: every replica already has it, and with batching it
takes about one write per 1% of a client's limit; Redis would be one more service to run, secure
and watch for no gain at this scale.

If the database cannot be reached, requests are granted (the site keeps predicting from loaded
models, as it does without the database) and a warning is logged once a minute.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from predictor.access.client_address import client_address
from predictor.models import ApiKey, RateCounter

logger = logging.getLogger(__name__)

FLUSH_SECONDS = 1.0  # the longest a process keeps an API key's usage before writing it
BATCH_FRACTION = 0.01
BATCH_MAX = 1000
_WARN_EVERY_SECONDS = 60.0
_MAX_CLIENTS = 50_000  # local entries kept; older windows are dropped first


@dataclass(frozen=True)
class Refusal:
    """A charge that was refused: over ``limit`` predictions in the current window."""

    limit: int
    window_seconds: int
    retry_after: int  # seconds until the window ends

    @property
    def message(self) -> str:
        """The explanation, in the active language."""
        return gettext("Too many predictions: at most %(limit)d per %(window)s are allowed from "
                       "one address or API key. Please try again in %(wait)s.") % {
            "limit": self.limit, "window": _window_phrase(self.window_seconds),
            "wait": _duration(self.retry_after)}

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


def _window_phrase(seconds: int) -> str:
    if seconds == 3600:
        return gettext("hour")
    if seconds == 60:
        return gettext("minute")
    if seconds % 3600 == 0:
        return ngettext("%(n)d hour", "%(n)d hours", seconds // 3600) % {"n": seconds // 3600}
    if seconds % 60 == 0:
        return ngettext("%(n)d minute", "%(n)d minutes", seconds // 60) % {"n": seconds // 60}
    return ngettext("%(n)d second", "%(n)d seconds", seconds) % {"n": seconds}


def _duration(seconds: int) -> str:
    if seconds < 60:
        return ngettext("%(n)d second", "%(n)d seconds", seconds) % {"n": seconds}
    minutes = math.ceil(seconds / 60)
    return ngettext("%(n)d minute", "%(n)d minutes", minutes) % {"n": minutes}


def charge(request: HttpRequest, *, predictions: int) -> Refusal | None:
    """Count ``predictions`` against the request's client; a Refusal when over its limit.

    Free when the limits are off and the request carries no API key (usage of keys is counted
    even then). Call it once per request, before predicting.
    """
    api_key = getattr(request, "api_key", None)
    enabled = settings.PRCRS_RATE_LIMITS
    if predictions <= 0 or (not enabled and api_key is None):
        return None
    if api_key is not None:
        client = f"key:{api_key.id}"
        limit = (api_key.limit or settings.PRCRS_RATE_LIMIT_PREDICTIONS) if enabled else None
    else:
        client = address_client(client_address(request))
        limit = settings.PRCRS_RATE_LIMIT_PREDICTIONS
    return LIMITER.charge(client=client, predictions=predictions, limit=limit,
                          window_seconds=settings.PRCRS_RATE_LIMIT_WINDOW_SECONDS,
                          api_key_id=api_key.id if api_key is not None else None)


def address_client(address: str) -> str:
    """The counter's client for an address: IPv6 by its /64, which one subscriber usually holds
    whole (so rotating addresses inside it buys no fresh budget); IPv4 as it is."""
    if ":" in address:
        try:
            return f"ip:{ipaddress.IPv6Network(f'{address}/64', strict=False)}"
        except ValueError:
            pass
    return f"ip:{address}"


def batch_for(limit: int | None) -> int:
    """Predictions a process may grant before it must tell the database (0: every time)."""
    if limit is None:
        return BATCH_MAX
    batch = min(BATCH_MAX, int(limit * BATCH_FRACTION))
    return batch if batch >= 2 else 0


@dataclass
class _Window:
    start: int
    shared: int = 0  # the database's total when this process last looked
    pending: int = 0  # granted here, not yet added to the database
    in_flight: int = 0  # being added right now by another thread
    exhausted: bool = False  # the database's total reached the limit: refuse without asking


@dataclass
class _Usage:
    predictions: int = 0
    requests: int = 0
    refused: int = 0


@dataclass
class SharedWindowLimiter:
    """The per-process side of the shared counters (one instance per process: ``LIMITER``)."""

    clock: object = time.time
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _windows: dict[str, _Window] = field(default_factory=dict)
    _usage: dict[int, _Usage] = field(default_factory=dict)
    _usage_timer: threading.Timer | None = None
    _pruned_window: int = -1
    _warned_at: float = -_WARN_EVERY_SECONDS

    def charge(self, *, client: str, predictions: int, limit: int | None, window_seconds: int,
               api_key_id: int | None = None) -> Refusal | None:
        now = self.clock()
        start = int(now // window_seconds) * window_seconds
        self._prune(start, window_seconds)
        granted = self._charge(client, predictions, limit, start, now)
        if api_key_id is not None:
            self._note_usage(api_key_id, predictions if granted else 0, granted)
        if granted:
            return None
        return Refusal(limit or 0, window_seconds,
                       retry_after=max(1, math.ceil(start + window_seconds - now)))

    def _charge(self, client: str, n: int, limit: int | None, start: int, now: float) -> bool:
        if limit is None:  # limits off: only an API key's usage is counted
            return True
        if n > limit:
            return False
        batch = batch_for(limit)
        with self._lock:
            window = self._windows.get(client)
            if window is None or window.start != start:
                if len(self._windows) >= _MAX_CLIENTS:
                    # A flood of addresses: start afresh (each loses at most its pending batch).
                    self._windows.clear()
                window = self._windows[client] = _Window(start=start)
            if window.exhausted:
                return False
            known = window.shared + window.pending + window.in_flight
            if batch and known + n <= limit - batch:
                # Far from the limit: grant here, tell the database in a batch.
                window.pending += n
                if window.pending < batch:
                    return True
                flush, window.pending = window.pending, 0
                window.in_flight += flush
                far = True
            else:
                # Near the limit (or no batching): hand over what is pending and ask for n in
                # one conditional write, so the database decides.
                flush, window.pending = window.pending, 0
                window.in_flight += flush
                far = False
        if far:
            self._write(client, window, flush, None, now)
            return True
        return self._write(client, window, flush, (n, limit), now)

    def _write(self, client: str, window: _Window, flush: int, ask: tuple[int, int] | None,
               now: float) -> bool:
        """Add ``flush`` (granted already) and, if asked, ``n`` when it fits under ``limit``."""
        total = None
        granted = True
        try:
            if flush:
                total = _add(client, window.start, flush, None)
            if ask is not None:
                n, limit = ask
                added = _add(client, window.start, n, limit)
                granted = added is not None
                total = added if granted else (total if total is not None
                                               else _read(client, window.start))
        except DatabaseError:
            self._warn("rate limits: the database is unavailable; granting without counting",
                       now)
            with self._lock:
                window.in_flight -= flush
                window.pending += flush + (ask[0] if ask is not None else 0)
            return True
        with self._lock:
            window.in_flight -= flush
            if total is not None:
                window.shared = total
            if ask is not None and not granted and total is not None and total >= ask[1]:
                window.exhausted = True
        return granted

    def _prune(self, start: int, window_seconds: int) -> None:
        """Once per window and process: drop counters of past windows (here and in the table)."""
        if start == self._pruned_window:
            return
        with self._lock:
            if start == self._pruned_window:
                return
            self._pruned_window = start
            for client in [c for c, w in self._windows.items() if w.start < start]:
                del self._windows[client]
        try:
            # The window just ended is kept: another replica's clock may still be in it.
            RateCounter.objects.filter(window_start__lt=start - window_seconds).delete()
        except DatabaseError:
            pass

    def _note_usage(self, key_id: int, predictions: int, granted: bool) -> None:
        """Count a key's use here; a timer writes it within FLUSH_SECONDS, off the request."""
        with self._lock:
            usage = self._usage.setdefault(key_id, _Usage())
            usage.predictions += predictions
            usage.requests += granted
            usage.refused += not granted
            if self._usage_timer is not None:
                return
            timer = self._usage_timer = threading.Timer(FLUSH_SECONDS,
                                                        self._flush_usage_in_background)
            timer.daemon = True
        timer.start()

    def _flush_usage_in_background(self) -> None:
        from django.db import connections

        try:
            self.flush_usage()
        finally:
            connections.close_all()  # this thread's own connection; requests keep theirs

    def flush_usage(self) -> None:
        """Write every API key's pending usage now."""
        with self._lock:
            usage, self._usage = self._usage, {}
            self._usage_timer = None
        self.write_usage(usage)

    def write_usage(self, usage: dict[int, _Usage]) -> None:
        from django.db.models import F

        try:
            for key_id, counts in usage.items():
                ApiKey.objects.filter(pk=key_id).update(
                    predictions=F("predictions") + counts.predictions,
                    requests=F("requests") + counts.requests,
                    refused=F("refused") + counts.refused, last_used_at=timezone.now())
        except DatabaseError:
            self._warn("API key usage could not be written: the database is unavailable",
                       self.clock())

    def _warn(self, message: str, now: float) -> None:
        if now - self._warned_at >= _WARN_EVERY_SECONDS:
            self._warned_at = now
            logger.warning(message, exc_info=True)

    def reset(self) -> None:
        """Forget everything this process holds (tests); pending usage is dropped."""
        with self._lock:
            if self._usage_timer is not None:
                self._usage_timer.cancel()
                self._usage_timer = None
            self._windows.clear()
            self._usage.clear()
            self._pruned_window = -1


_TABLE = RateCounter._meta.db_table


def _add(client: str, start: int, n: int, limit: int | None) -> int | None:
    """Add ``n`` to the row (creating it); with ``limit``, only if the total stays within it.

    The total after the addition, or None when ``limit`` refused it. One statement, atomic.
    """
    q = connection.ops.quote_name
    table, granted = q(_TABLE), q("granted")
    sql = (f"INSERT INTO {table} ({q('client')}, {q('window_start')}, {granted}) "
           f"VALUES (%s, %s, %s) ON CONFLICT ({q('client')}, {q('window_start')}) "
           f"DO UPDATE SET {granted} = {table}.{granted} + excluded.{granted}")
    params: list = [client, start, n]
    if limit is not None:
        sql += f" WHERE {table}.{granted} + excluded.{granted} <= %s"
        params.append(limit)
    sql += f" RETURNING {granted}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else int(row[0])


def _read(client: str, start: int) -> int:
    return (RateCounter.objects.filter(client=client, window_start=start)
            .values_list("granted", flat=True).first() or 0)


LIMITER = SharedWindowLimiter()
