"""Where the JSON API's CPU goes, measured in one process (a script, not a test).

    .venv/bin/python bench/request_cost.py [--runs 2000] [--blocks 5]

bench/serving.py (g) runs it after its wrk rounds, on the same database and with the same
environment as the site it measured (``--json-out FILE`` writes the parts there as JSON; the
site's log lines may share stdout), and turns the parts into the share of the floor the API
could reach if a part cost nothing.

The site's WSGI application is called directly, without gunicorn or sockets, on the request
(g) sends: the JSON API, combination 4, horizon 1, no Accept-Language (so Chinese answers), rate
limits and the prediction log as the environment says. CPU time is the process's (the
prediction log's writer thread included), per call, the median of ``--blocks`` blocks of
``--runs`` calls each. The parts:

- ``floor``: ``GET /healthz`` through the same application (WSGI, the first middleware);
- ``api``: ``POST /api/v1/predict``, the whole request;
- ``prediction``: ``predict()`` as the view calls it (validation, combination choice, one
  forward of the row and its perturbed copies, calibration, contributions), and
  ``prediction_unexplained``: the same without contributions (one forward of the row alone);
- the rest of the API (``api - floor - prediction``): the middleware past the health check
  (which answers the floor), URL routing, reading the JSON body, the API-key check, the rate
  limiter, the prediction log record, building and encoding the answer.

Without ``--json-out`` it sets up a scratch site as bench/serving.py does (``LoopbackSite``: a
scratch SQLite database, the bundled models, rate limits on), runs itself on it with
``--json-out`` and prints the parts.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def wsgi_environ(path: str, method: str = "GET", body: bytes = b"") -> dict:
    """A minimal WSGI environ for 127.0.0.1, as gunicorn would pass it."""
    return {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "HTTP_HOST": "127.0.0.1",
        "REMOTE_ADDR": "127.0.0.1", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/json" if body else "", "wsgi.errors": sys.stderr,
        "wsgi.multithread": True, "wsgi.multiprocess": True, "wsgi.run_once": False,
    }


def call(application, path: str, method: str = "GET", body: bytes = b"") -> str:
    """One request through ``application``; returns the status line."""
    status: list[str] = []
    chunks = application(wsgi_environ(path, method, body),
                         lambda line, headers, *rest: status.append(line))
    try:
        b"".join(chunks)
    finally:
        if hasattr(chunks, "close"):
            chunks.close()
    return status[0]


def cpu_ms_per_call(run, runs: int, blocks: int) -> float:
    """Median over ``blocks`` of the process CPU per call of ``run`` (ms)."""
    per_block = []
    for _ in range(blocks):
        start = time.process_time()
        for _ in range(runs):
            run()
        per_block.append((time.process_time() - start) * 1000 / runs)
    return statistics.median(per_block)


def measure(runs: int, blocks: int) -> dict[str, float]:
    """The parts above, in ms of CPU per call; Django must be set up with the site's settings."""
    from django.core.wsgi import get_wsgi_application
    from django.utils import translation

    from bench.serving import pattern_values
    from predictor.scoring.prediction import predict

    application = get_wsgi_application()
    values = pattern_values("4")
    body = json.dumps({"values": values, "horizon": 1}).encode()
    for path, method, payload in (("/healthz", "GET", b""),
                                  ("/api/v1/predict", "POST", body)):
        status = call(application, path, method, payload)
        if not status.startswith("200"):
            raise RuntimeError(f"{method} {path} answered {status}")
    for _ in range(max(50, runs // 10)):  # warm: caches, first forwards, the log writer
        call(application, "/api/v1/predict", "POST", body)
        call(application, "/healthz")
    parts = {
        "floor": cpu_ms_per_call(lambda: call(application, "/healthz"), runs, blocks),
        "api": cpu_ms_per_call(lambda: call(application, "/api/v1/predict", "POST", body),
                               runs, blocks),
    }
    with translation.override("zh-hans"):  # what the API answers in without Accept-Language
        parts["prediction"] = cpu_ms_per_call(
            lambda: predict(values, [1], percent_input=False), runs, blocks)
        parts["prediction_unexplained"] = cpu_ms_per_call(
            lambda: predict(values, [1], percent_input=False, explain=False), runs, blocks)
    return parts


def contributions_ms(parts: dict[str, float]) -> float:
    """What the contributions add to the prediction."""
    return parts["prediction"] - parts["prediction_unexplained"]


def rest_ms(parts: dict[str, float]) -> float:
    """The API's in-process cost that is neither the floor's path nor the prediction."""
    return parts["api"] - parts["floor"] - parts["prediction"]


def implied_shares(server_floor_ms: float, server_api_ms: float, parts: dict[str, float]
                   ) -> dict[str, float]:
    """Share of the floor (server CPU per /healthz answer over per API answer, as wrk measured
    them) the API would reach if a part of its in-process cost were not there."""
    def share_without(ms: float) -> float:
        return server_floor_ms / max(server_api_ms - ms, 1e-9)

    return {
        "measured": share_without(0.0),
        "without_contributions": share_without(contributions_ms(parts)),
        "without_prediction": share_without(parts["prediction"]),
        "without_rest": share_without(rest_ms(parts)),
        "gunicorn_per_request_ms": server_floor_ms - parts["floor"],
        "api_budget_ms": 2 * server_floor_ms,  # a share of 0.5
    }


def print_parts(parts: dict[str, float], indent: str = "    ") -> None:
    print(f"{indent}in one process (WSGI called directly), CPU per call: /healthz "
          f"{parts['floor']:.3f} ms, API {parts['api']:.3f} ms; of the API's: the floor's path "
          f"{parts['floor']:.3f}, the prediction {parts['prediction']:.3f} (its contributions "
          f"{contributions_ms(parts):.3f}), the rest {rest_ms(parts):.3f} (middleware past the "
          "health check, body, API key, limiter, log record, the answer's JSON)")


def print_shares(shares: dict[str, float], indent: str = "    ") -> None:
    print(f"{indent}gunicorn per request (server /healthz minus in-process /healthz): "
          f"{shares['gunicorn_per_request_ms']:.3f} ms; a share of 0.5 needs the API's server CPU "
          f"at or below {shares['api_budget_ms']:.2f} ms")
    print(f"{indent}share of the floor: measured {shares['measured']:.2f}; were the "
          f"contributions free {shares['without_contributions']:.2f}; were the whole prediction "
          f"free {shares['without_prediction']:.2f}; were the rest free "
          f"{shares['without_rest']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2000, help="calls per block")
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--json-out", type=Path,
                        help="use the environment as given (a site's) and write JSON here")
    args = parser.parse_args()
    if args.json_out is None:
        from bench.serving import LIMITS_OUT_OF_REACH, LoopbackSite, in_process_parts

        with tempfile.TemporaryDirectory(prefix="prcrs-cost-") as work:
            site = LoopbackSite(Path(work), ROOT / "models_store", env=LIMITS_OUT_OF_REACH)
            site.migrate()
            print_parts(in_process_parts(site, runs=args.runs, blocks=args.blocks), indent="")
        return
    import django

    django.setup()
    args.json_out.write_text(json.dumps(measure(args.runs, args.blocks)))


if __name__ == "__main__":
    main()
