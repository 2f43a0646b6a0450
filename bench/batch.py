#!/usr/bin/env python
"""Batch scoring speed: rows per second in process and over HTTP, against the per-row loop.

    .venv/bin/python bench/batch.py [--rows 1000 10000] [--horizon 1] [--tiny] [--no-http]

A script, not a test. In process: a scratch SQLite database with the bundled models of
models_store/ (or tiny real TorchScript files with --tiny), then for each row count
(a) ``score_batch`` (rows grouped by key pattern and slot, one batched forward per model,
vectorised calibration and intervals: every number of every answer, as columns), with one forward
thread (the default) and with one per core (PRCRS_BATCH_TORCH_THREADS); (b) that plus each row's JSON result as the batch API
builds it; (c) that plus the per-row ``HorizonPrediction`` objects the course pages use; and
(d) the per-row loop, ``predict`` called once per row, on the same rows; each against (d). Over HTTP: the site under gunicorn on loopback (bench/serving.py's LoopbackSite,
prediction log on), one ``POST /api/v1/predict/batch`` per row count, timed from the first byte
sent to the last byte of the answer. Rows mix all six combinations, half with clinical context,
values spread around the typical ranges (seeded). Targets (issue 9): 10,000 rows under 2 s in
process and under 5 s over HTTP, at least 20x the per-row loop.
"""

from __future__ import annotations

import argparse
import os
import http.client
import json
import random
import shutil
import sys
import tempfile
import time
from statistics import median
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_rows(count: int, seed: int = 7) -> list[dict]:
    from predictor.catalogue import COMBINATION_CODES, FACTORS_BY_KEY, combination_factor_keys

    rng = random.Random(seed)
    rows = []
    for i in range(count):
        keys = combination_factor_keys(COMBINATION_CODES[i % len(COMBINATION_CODES)])
        values = {}
        for key in keys:
            factor = FACTORS_BY_KEY[key]
            value = sum(factor.typical) / 2 * (0.6 + 0.8 * rng.random()) or 0.01
            values[key] = min(max(value, factor.hard[0]), factor.hard[1])
        row = {"id": i, "values": values}
        if i % 2:
            row["context"] = {"crs_grade": rng.randint(0, 3), "day": rng.randint(0, 14)}
        rows.append(row)
    return rows


REPEATS = 5


def _timed(way, rows) -> float:
    start = time.perf_counter()
    way(rows)
    return time.perf_counter() - start


def in_process(counts: list[int], horizon: int, tiny: bool) -> None:
    from bench.predict_latency import configure_environment, register_models

    scratch = Path(tempfile.mkdtemp(prefix="prcrs-batch-"))
    try:
        configure_environment(scratch)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        print(f"models: {register_models(tiny)}")
        from django.conf import settings

        from predictor.api.batch import _score_rows
        from predictor.scoring.batch import BatchRow, predict_batch, score_batch
        from predictor.scoring.prediction import InvalidInput, ModelUnavailable, predict

        def loop(rows):
            for row in rows:
                try:
                    predict(row.values, [horizon], percent_input=False, context=row.context)
                except (InvalidInput, ModelUnavailable):
                    pass

        threads = max(2, len(os.sched_getaffinity(0)))  # this machine's cores
        ways = {
            "scores, 1 thread": lambda rows: score_batch(rows, [horizon], percent_input=False),
            f"scores, {threads} threads": lambda rows: score_batch(rows, [horizon],
                                                                   percent_input=False),
            "+ API JSON": lambda rows: _score_rows(rows, [horizon]),
            "+ objects": lambda rows: predict_batch(rows, [horizon], percent_input=False),
            "per-row loop": loop,
        }
        warm = [BatchRow(r["values"], r.get("context"), r["id"]) for r in make_rows(600)]
        for way in ways.values():
            way(warm)
        print(f"median of {REPEATS} runs; 'scores': every number of every row's answer "
              f"(score_batch), '+ API JSON': and each row's result as the batch API sends it, "
              f"'+ objects': and the HorizonPrediction objects the pages use "
              f"(both with PRCRS_BATCH_TORCH_THREADS=1, the default)")
        for count in counts:
            rows = [BatchRow(r["values"], r.get("context"), r["id"]) for r in make_rows(count)]
            scores = score_batch(rows, [horizon], percent_input=False)
            assert not scores.errors, "every bench row must be scored"
            # Rounds of every way in turn, so a machine that slows down or speeds up during the
            # run weighs on the batch and the loop alike.
            runs: dict[str, list[float]] = {name: [] for name in ways}
            for _ in range(REPEATS):
                for name, way in ways.items():
                    settings.PRCRS_BATCH_TORCH_THREADS = threads if name.endswith("threads") else 1
                    runs[name].append(_timed(way, rows))
            settings.PRCRS_BATCH_TORCH_THREADS = 1
            seconds = {name: median(times) for name, times in runs.items()}
            loop_s = seconds["per-row loop"]
            print(f"{count} rows:")
            for name, s in seconds.items():
                ratio = "" if name == "per-row loop" else f"{loop_s / s:7.1f}x the loop"
                print(f"  {name:<18} {s:8.3f} s {count / s:9.0f} rows/s  {ratio}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def over_http(counts: list[int], horizon: int, tiny: bool) -> None:
    from bench.serving import LoopbackSite, bundled_models_or_tiny, write_tiny_models

    work = Path(tempfile.mkdtemp(prefix="prcrs-batch-http-"))
    try:
        if tiny:
            bundled = work / "bundle"
            write_tiny_models(bundled)
        else:
            bundled, _ = bundled_models_or_tiny(work)
        with LoopbackSite(work, bundled, workers=2, threads=4) as site:
            print(f"{'rows':>7} {'HTTP s':>9} {'rows/s':>9} {'body MB':>8} {'answer MB':>9}")
            for count in counts:
                body = json.dumps({"rows": make_rows(count), "horizon": horizon}).encode()
                connection = http.client.HTTPConnection("127.0.0.1", site.port, timeout=120)
                t = time.perf_counter()
                connection.request("POST", "/api/v1/predict/batch?lang=en", body=body,
                                   headers={"Content-Type": "application/json"})
                response = connection.getresponse()
                answer = response.read()
                seconds = time.perf_counter() - t
                connection.close()
                if response.status != 200:
                    print(f"{count:>7} HTTP {response.status}: {answer[:300]!r}")
                    continue
                summary = json.loads(answer)["summary"]
                print(f"{count:>7} {seconds:>9.3f} {count / seconds:>9.0f} "
                      f"{len(body) / 1e6:>8.2f} {len(answer) / 1e6:>9.2f}   ({summary})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--horizon", type=int, default=1, choices=(1, 2, 3))
    parser.add_argument("--tiny", action="store_true", help="tiny stand-in models")
    parser.add_argument("--no-http", action="store_true")
    args = parser.parse_args()
    print("== in process ==")
    in_process(args.rows, args.horizon, args.tiny)
    if not args.no_http:
        print("== over HTTP (gunicorn, 2 workers x 4 threads) ==")
        over_http(args.rows, args.horizon, args.tiny)
    return 0


if __name__ == "__main__":
    sys.exit(main())
