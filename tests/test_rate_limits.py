"""Rate limits against the real server (gunicorn, two workers, a SQLite file shared by both),
and the shared counter's bound with two limiters on the real test database.

Each test speaks from its own loopback address (127.0.0.x), so each has a budget of its own.
"""

from __future__ import annotations

import json
import re
import time
import pytest

from bench.serving import LoopbackSite, pattern_values, write_tiny_models
from predictor.access.rate_limits import SharedWindowLimiter, address_client, batch_for
from predictor.models import RateCounter
from tests.conftest import CYTOKINES
from tests.http_session import HttpSession

LIMIT = 6
WINDOW = 3600
VALUES = pattern_values("4")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    work = tmp_path_factory.mktemp("rate-limits")
    write_tiny_models(work / "bundle")
    server = LoopbackSite(work, work / "bundle", workers=2, threads=2, env={
        "PRCRS_RATE_LIMITS": "1", "PRCRS_RATE_LIMIT_PREDICTIONS": str(LIMIT),
        "PRCRS_RATE_LIMIT_WINDOW_SECONDS": str(WINDOW)})
    with server:
        yield server


def _predict(client: HttpSession, horizon: object = 1, lang: str = "en"):
    return client.post_json(f"/api/v1/predict?lang={lang}", {"values": VALUES,
                                                             "horizon": horizon})


def _assert_refused(reply, *, message: str) -> None:
    assert reply.status == 429, reply.text
    retry_after = int(reply.headers["Retry-After"])
    assert 0 < retry_after <= WINDOW
    errors = reply.json()["errors"]["__all__"]
    assert len(errors) == 1 and message in errors[0], errors


@pytest.mark.slow
def test_the_api_refuses_predictions_over_the_limit_with_429_retry_after_and_the_reason(site):
    client = HttpSession(site.port, source="127.0.0.11")
    assert [_predict(client).status for _ in range(LIMIT)] == [200] * LIMIT
    reply = _predict(client)
    _assert_refused(reply, message=f"Too many predictions: at most {LIMIT} per hour")
    assert reply.headers["Content-Type"].startswith("application/json")
    assert "Please try again in" in reply.json()["errors"]["__all__"][0]


@pytest.mark.slow
def test_the_api_says_it_in_chinese_when_asked_in_chinese(site):
    client = HttpSession(site.port, source="127.0.0.12")
    for _ in range(LIMIT):
        assert _predict(client, lang="zh-hans").status == 200
    reply = _predict(client, lang="zh-hans")
    _assert_refused(reply, message=f"预测次数过多：每个地址或 API 密钥每小时最多允许 {LIMIT} 次预测")
    assert reply.headers["Content-Language"] == "zh-hans"


@pytest.mark.slow
def test_a_call_for_all_three_horizons_counts_one_patient_day(site):
    client = HttpSession(site.port, source="127.0.0.13")
    assert [_predict(client, horizon="all").status for _ in range(LIMIT)] == [200] * LIMIT
    assert _predict(client, horizon=2).status == 429
    # One address's refusal does not touch another's budget.
    assert _predict(HttpSession(site.port, source="127.0.0.14"), horizon="all").status == 200


@pytest.mark.slow
def test_invalid_requests_are_answered_and_cost_nothing(site):
    client = HttpSession(site.port, source="127.0.0.16")
    for _ in range(LIMIT + 2):
        assert client.post_json("/api/v1/predict?lang=en",
                                {"values": VALUES, "horizon": 9}).status == 400
    assert [_predict(client).status for _ in range(LIMIT)] == [200] * LIMIT


def _form_post(client: HttpSession, lang: str):
    return client.post_form(f"/{lang}/", {**CYTOKINES, "horizon": "1"})


@pytest.mark.slow
@pytest.mark.parametrize(("lang", "source", "message"), [
    ("en", "127.0.0.17", f"Too many predictions: at most {LIMIT} per hour"),
    ("zh-hans", "127.0.0.18", f"每个地址或 API 密钥每小时最多允许 {LIMIT} 次预测"),
])
def test_the_form_refuses_over_the_limit_with_429_and_a_message_in_the_page_language(
        site, lang, source, message):
    client = HttpSession(site.port, source=source)
    for _ in range(LIMIT):
        reply = _form_post(client, lang)
        assert reply.status == 200, reply.text[-2000:]
    reply = _form_post(client, lang)
    assert reply.status == 429
    assert 0 < int(reply.headers["Retry-After"]) <= WINDOW
    assert reply.headers["Content-Type"].startswith("text/html")
    assert message in reply.text
    # The values typed stay in the form, so nothing is lost while waiting.
    assert re.search(r'name="il6"[^>]*value="48"', reply.text) or 'value="48"' in reply.text


@pytest.mark.slow
def test_the_form_and_the_api_share_one_budget_per_address(site):
    client = HttpSession(site.port, source="127.0.0.19")
    for _ in range(LIMIT // 2):
        assert _predict(client, horizon="all").status == 200
        assert _form_post(client, "en").status == 200
    assert _predict(client).status == 429


@pytest.mark.slow
def test_the_limit_holds_across_both_workers(site):
    """Every request on a fresh connection: both workers serve, the total stays exact."""
    source = "127.0.0.20"
    statuses = [_predict(HttpSession(site.port, source=source)).status for _ in range(4 * LIMIT)]
    assert statuses.count(200) == LIMIT
    assert statuses[:LIMIT] == [200] * LIMIT and set(statuses[LIMIT:]) == {429}
    deadline = time.monotonic() + 5  # access lines are written just after each answer
    while True:
        lines = [entry for entry in site.log_entries()
                 if entry.get("logger") == "gunicorn.access" and entry.get("remote") == source]
        if len(lines) >= 4 * LIMIT or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    pids = {entry["pid"] for entry in lines}
    assert len(pids) == 2, f"all requests went to one worker ({pids}); the test proves nothing"


@pytest.mark.slow
def test_the_count_lives_in_the_database_every_replica_shares(site):
    import sqlite3

    source = "127.0.0.21"
    client = HttpSession(site.port, source=source)
    assert _predict(client, horizon="all").status == 200
    assert _predict(client, horizon=2).status == 200
    with sqlite3.connect(site.db_dir / "db.sqlite3") as db:
        rows = db.execute("SELECT granted, window_start FROM predictor_ratecounter "
                          "WHERE client = ?", (f"ip:{source}",)).fetchall()
    assert len(rows) == 1 and rows[0][0] == 2 and rows[0][1] % WINDOW == 0


# --- the shared counter, two limiters (two processes' worth) on the real test database --------

class _Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.mark.django_db(transaction=True)
def test_two_processes_batching_stay_within_the_stated_bound_of_the_limit():
    clock = _Clock(1_800_000_000.0)
    limit = 1000
    first, second = SharedWindowLimiter(clock=clock), SharedWindowLimiter(clock=clock)
    granted = 0
    for i in range(3 * limit):
        limiter = first if i % 2 else second
        if limiter.charge(client="ip:192.0.2.1", predictions=1, limit=limit,
                          window_seconds=WINDOW) is None:
            granted += 1
    assert limit <= granted <= limit + 2 * batch_for(limit)  # processes x batch
    # What reached the database is what was granted, except what a process still holds.
    stored = RateCounter.objects.get(client="ip:192.0.2.1").granted
    assert granted - 2 * batch_for(limit) <= stored <= granted


@pytest.mark.django_db(transaction=True)
def test_a_small_limit_is_exact_across_processes_and_a_new_window_starts_afresh():
    clock = _Clock(1_800_000_000.0)
    first, second = SharedWindowLimiter(clock=clock), SharedWindowLimiter(clock=clock)
    results = [(first if i % 2 else second).charge(client="key:7", predictions=1, limit=5,
                                                   window_seconds=60) for i in range(8)]
    assert [r is None for r in results] == [True] * 5 + [False] * 3
    assert results[-1].retry_after == 60  # the clock sits at the start of a window
    clock.now += 60
    assert first.charge(client="key:7", predictions=1, limit=5, window_seconds=60) is None


@pytest.mark.django_db(transaction=True)
def test_a_charge_that_would_cross_the_limit_is_refused_and_not_counted():
    """A batch of n rows is all or nothing: 4 of 6 used, 3 more refused, 2 more still fit."""
    limiter = SharedWindowLimiter(clock=_Clock(1_800_000_000.0))

    def ask(n: int) -> bool:
        return limiter.charge(client="ip:192.0.2.3", predictions=n, limit=6,
                              window_seconds=WINDOW) is None

    assert [ask(4), ask(3), ask(2), ask(1)] == [True, False, True, False]
    assert RateCounter.objects.get(client="ip:192.0.2.3").granted == 6
    assert not ask(7)  # more than the whole limit: never, whatever is left


def test_ipv6_clients_are_counted_by_their_64_network_and_ipv4_by_address():
    assert address_client("2001:db8:1:2:aaaa::1") == address_client("2001:db8:1:2:ffff::9")
    assert address_client("2001:db8:1:2::1") == "ip:2001:db8:1:2::/64"
    assert address_client("2001:db8:1:3::1") != address_client("2001:db8:1:2::1")
    assert address_client("192.0.2.1") == "ip:192.0.2.1" != address_client("192.0.2.2")


@pytest.mark.django_db
def test_retry_after_counts_down_to_the_end_of_the_window():
    clock = _Clock(1_800_000_000.0 + 3590.5)  # 9.5 s before an hour boundary
    limiter = SharedWindowLimiter(clock=clock)
    refusal = limiter.charge(client="ip:192.0.2.2", predictions=10, limit=5, window_seconds=3600)
    assert refusal is not None and refusal.retry_after == 10


@pytest.mark.django_db
def test_limits_are_off_when_the_setting_is_off(client, tiny_models, settings):
    settings.PRCRS_RATE_LIMITS = False
    settings.PRCRS_RATE_LIMIT_PREDICTIONS = 1
    for _ in range(3):
        response = client.post("/api/v1/predict?lang=en", json.dumps(
            {"values": VALUES, "horizon": 1}), content_type="application/json")
        assert response.status_code == 200
    assert not RateCounter.objects.exists()


@pytest.mark.django_db
def test_limits_on_in_process_refuse_the_same_way(client, tiny_models, settings):
    from predictor.access.rate_limits import LIMITER

    LIMITER.reset()
    settings.PRCRS_RATE_LIMITS = True
    settings.PRCRS_RATE_LIMIT_PREDICTIONS = 2
    statuses = [client.post("/api/v1/predict?lang=en", json.dumps(
        {"values": VALUES, "horizon": 1}), content_type="application/json",
        REMOTE_ADDR="192.0.2.50").status_code for _ in range(3)]
    LIMITER.reset()
    assert statuses == [200, 200, 429]

