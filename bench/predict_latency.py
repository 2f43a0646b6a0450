#!/usr/bin/env python
"""Server-side latency of one prediction, per input width (a script, not a test).

    .venv/bin/python bench/predict_latency.py [--runs 2000] [--warmup 300] [--tiny | --network]
                                              [--context]

Sets Django up on a scratch SQLite database and model directory (PRCRS_VAR_DIR,
PRCRS_MODELS_DIR, DATABASE_URL point into a temporary directory, removed afterwards), registers
the 18 bundled models from models_store/ (or $PRCRS_BUNDLED_MODELS_DIR) when they are all there
(else, or with ``--tiny``, tiny real TorchScript models built like tests/model_files.py;
``--network``: untrained networks of the trained models' architecture, to time that before
trained files exist), then times
``predict(values, [1])`` in process, batch 1, on the CPU: validation, combination choice, the
model, calibration. That is what a request pays on top of HTTP and JSON, which the last lines
time separately (through Django's test client, with and without the prediction-log write).

``--context`` also registers the 18 labs+context files and the 3 no-lab references
(``h{h}_c{code}_ctx.pt``, ``h{h}_c0_ctx.pt`` from the same folder when all 21 are there, else
tiny ones of format version 2) and times ``predict`` with a clinical context: the labs+context
model plus the no-lab reference beside it (two models per horizon), and the reference alone.

Every ``predict`` above includes the contributions of each input ("why this number",
predictor.explanations); a last table times ``predict`` with and without them and prints what
they add (target: under 1 ms per prediction), labs only and, with ``--context``, with context.

Serving settings are the production defaults (one torch thread per process, the background
thread that follows the serving stamp). Prints a table; exits 1 if a median misses the 2 ms target.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 2.0
CONTRIBUTIONS_TARGET_MS = 1.0  # what "why this number" may add to one prediction (issue 16)


def configure_environment(scratch: Path) -> None:
    """Point the site at scratch space; must run before Django reads its settings."""
    os.environ["PRCRS_VAR_DIR"] = str(scratch)
    os.environ["PRCRS_MODELS_DIR"] = str(scratch / "models")
    os.environ["DATABASE_URL"] = f"sqlite:///{scratch / 'db.sqlite3'}"
    os.environ["PRCRS_REGISTER_BUNDLED_MODELS"] = "0"  # we register explicitly, and say which
    os.environ["PRCRS_DEVICE"] = "cpu"
    os.environ["PRCRS_PREDICTION_LOG"] = "0"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prcrs_site.settings")
    os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_LOG_FORMAT", "text")


def register_models(use_tiny: bool, use_network: bool = False) -> str:
    """Install and activate 18 models; returns a description of which."""
    from django.conf import settings

    from predictor.catalogue import COMBINATION_CODES, HORIZONS
    from predictor.model_versions.bundled import bundled_files, register_bundled_models

    bundled_dir = Path(settings.PRCRS_BUNDLED_MODELS_DIR)
    found = bundled_files(bundled_dir) if bundled_dir.is_dir() else []
    if use_network:
        _register(HORIZONS, COMBINATION_CODES, _network_bytes)
        return ("untrained PrCRS networks (predictor.training, default recipe): the trained "
                "files' network architecture with random weights, without their other members")
    if not use_tiny and len(found) == len(HORIZONS) * len(COMBINATION_CODES):
        registered = register_bundled_models(bundled_dir)
        created = [mv for mv in registered if not mv.context]
        if len(created) == len(found):
            return (f"bundled models from {bundled_dir} ({len(created)} labs-only files, "
                    f"{len(registered) - len(created)} with context)")
        print(f"! only {len(created)} of {len(found)} bundled files registered; "
              "falling back to tiny models", file=sys.stderr)
    elif not use_tiny:
        print(f"! {len(found)} of 18 bundled files in {bundled_dir}; using tiny models",
              file=sys.stderr)
    _register(HORIZONS, COMBINATION_CODES, _tiny_bytes)
    return "tiny TorchScript models (tests/model_files.py: log1p + linear), not the trained ones"


def register_context_models(use_tiny: bool) -> str:
    """Make the 18 labs+context slots and the 3 references serve (bundled ones if all there,
    and registered by ``register_models``); returns a description of which."""
    from predictor.catalogue import (
        COMBINATION_CODES, CONTEXT_BOTH, HORIZONS, REFERENCE_COMBINATION,
    )
    from predictor.models import ModelVersion

    wanted = {(h, c) for h in HORIZONS for c in (*COMBINATION_CODES, REFERENCE_COMBINATION)}
    active = set(ModelVersion.objects.filter(state="active", context=CONTEXT_BOTH)
                 .values_list("horizon", "combination"))
    if not use_tiny and active == wanted:
        return "bundled labs+context files and no-lab references (21 files)"
    ModelVersion.objects.filter(context=CONTEXT_BOTH).delete()
    _register(HORIZONS, (*COMBINATION_CODES, REFERENCE_COMBINATION), _tiny_context_bytes,
              context=CONTEXT_BOTH)
    return "tiny TorchScript files of format version 2 (21), not the trained ones"


def _tiny_context_bytes(horizon: int, code: str) -> bytes:
    from predictor.catalogue import CONTEXT_BOTH
    from tests.model_files import tiny_model_bytes

    return tiny_model_bytes(horizon, code, bias=0.1 * horizon, context=CONTEXT_BOTH)


def _tiny_bytes(horizon: int, code: str) -> bytes:
    from tests.model_files import tiny_model_bytes

    return tiny_model_bytes(horizon, code, bias=0.1 * horizon)


def _network_bytes(horizon: int, code: str) -> bytes:
    """The PrCRS network alone (the costly member of a shipped file), untrained."""
    import torch

    from predictor.catalogue import combination_width
    from predictor.training.fit import build_network
    from predictor.training.recipe import Recipe
    from tests.model_files import tiny_model_bytes

    torch.manual_seed(horizon)
    network = build_network(combination_width(code), Recipe()).eval()
    return tiny_model_bytes(horizon, code, module=network)


def _register(horizons, codes, make_bytes, context: str = "") -> None:
    from predictor.model_versions.baselines import parse_baseline_csv
    from predictor.model_versions.model_files import read_extra_files, read_manifest
    from predictor.model_versions.versions import activate, record_version
    from predictor.models import ModelVersion

    ModelVersion.objects.filter(context=context).delete()
    for horizon in horizons:
        for code in codes:
            data = make_bytes(horizon, code)
            extras = read_extra_files(data)
            activate(record_version(
                horizon=horizon, combination=code, data=data, original_name=f"h{horizon}_c{code}.pt",
                manifest=read_manifest(extras), baseline=parse_baseline_csv(extras["baseline.csv"]),
                context=context))


def values_for(code: str) -> dict[str, float]:
    """Exactly the combination's factors, mid typical range, in model units (as the API sends)."""
    from predictor.catalogue import FACTORS_BY_KEY, combination_factor_keys

    return {k: sum(FACTORS_BY_KEY[k].typical) / 2 for k in combination_factor_keys(code)}


def timed(call, runs: int, warmup: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU (this thread's) milliseconds per call. On a busy machine the two
    part: wall time includes waiting for a core, CPU time is what the work itself costs."""
    for _ in range(warmup):
        call()
    wall, cpu = [], []
    clock, cpu_clock = time.perf_counter_ns, time.thread_time_ns
    for _ in range(runs):
        start, cpu_start = clock(), cpu_clock()
        call()
        cpu.append((cpu_clock() - cpu_start) / 1e6)
        wall.append((clock() - start) / 1e6)
    return wall, cpu


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[math.ceil(0.99 * len(ordered)) - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=300)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--tiny", action="store_true",
                       help="time tiny models even if bundled ones are there")
    which.add_argument("--network", action="store_true",
                       help="time untrained networks of the trained models' architecture")
    parser.add_argument("--context", action="store_true",
                        help="also time predictions with CRS grade and day (labs+context "
                             "model and the no-lab reference)")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="prcrs-bench-"))
    configure_environment(scratch)
    sys.path.insert(0, str(ROOT))
    try:
        import django

        django.setup()
        return run(args)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run(args) -> int:
    import torch
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client
    from django.utils import translation

    from predictor.catalogue import COMBINATIONS, combination_width
    from predictor.scoring.prediction import predict
    from predictor.scoring.registry import REGISTRY

    call_command("migrate", verbosity=0)
    which = register_models(args.tiny, args.network)
    if args.context:
        which += "; with context: " + register_context_models(args.tiny)
    translation.activate("en")
    snapshot = REGISTRY.refresh(force=True)
    from predictor.catalogue import CONTEXT_BOTH
    from predictor.models import ModelVersion

    # Bundled files register their context siblings too, with or without --context.
    expected = 39 if args.context else 18 + ModelVersion.objects.filter(
        state="active", context=CONTEXT_BOTH).count()
    assert len(snapshot.models) == expected and not snapshot.failures, (
        len(snapshot.models), snapshot.failures)

    print(f"models:        {which}")
    print(f"torch:         {torch.__version__}, device cpu, intra-op threads "
          f"{torch.get_num_threads()}, inter-op threads {torch.get_num_interop_threads()}")
    print(f"machine:       {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f} "
          "(p99 on a shared machine reflects the other work on it)")
    print(f"runs:          {args.runs} per row after {args.warmup} warm-up, batch 1, horizon 1")
    print()
    header = (f"{'combination':>11} {'width':>5} {'predict median':>15} {'p99':>9} "
              f"{'CPU median':>11} {'model only median':>18} {'target':>7}")
    print(header)
    print("-" * len(header))
    missed = []
    for combo in COMBINATIONS:
        values = values_for(combo.code)
        [check] = predict(values, [1], percent_input=False)
        assert check.combination == combo.code and not check.ignored and not check.imputed
        samples, cpu = timed(lambda: predict(values, [1], percent_input=False),
                             args.runs, args.warmup)
        model = snapshot.get(1, combo.code)
        vector = list(values.values())
        model_samples, _cpu = timed(lambda: model.raw_probability(vector), args.runs, args.warmup)
        median = statistics.median(samples)
        ok = median < TARGET_MS
        if not ok:
            missed.append(combo.code)
        print(f"{combo.code:>11} {combination_width(combo.code):>5} {median:>12.3f} ms "
              f"{p99(samples):>6.3f} ms {statistics.median(cpu):>8.3f} ms "
              f"{statistics.median(model_samples):>15.3f} ms "
              f"{'ok' if ok else 'MISSED':>7}")

    if args.context:
        missed += time_context(args, snapshot)
    missed += time_contributions(args, context=None)
    if args.context:
        missed += time_contributions(args, context={"crs_grade": 1, "day": 4})
    print()
    all_values = values_for("1234")
    three, three_cpu = timed(lambda: predict(all_values, [1, 2, 3], percent_input=False),
                             args.runs, args.warmup)
    print(f"predict, all three horizons (3 models, width 42): median "
          f"{statistics.median(three):.3f} ms, p99 {p99(three):.3f} ms, "
          f"CPU median {statistics.median(three_cpu):.3f} ms")
    client = Client(HTTP_HOST="localhost", HTTP_ACCEPT_LANGUAGE="en")
    body = json.dumps({"values": all_values, "horizon": 1})

    def api_call():
        response = client.post("/api/v1/predict", data=body, content_type="application/json")
        assert response.status_code == 200, response.content

    for log_on in (False, True):
        # read per request by predictor.scoring.prediction_log
        settings.PRCRS_PREDICTION_LOG = log_on
        api, api_cpu = timed(api_call, max(200, args.runs // 4), 50)
        print(f"POST /api/v1/predict via Django's test client, middleware and JSON, "
              f"{'with' if log_on else 'without'} the prediction-log write (width 42): "
              f"median {statistics.median(api):.3f} ms, p99 {p99(api):.3f} ms, "
              f"CPU median {statistics.median(api_cpu):.3f} ms")
    print()
    if missed:
        print(f"target median < {TARGET_MS} ms MISSED for: {', '.join(missed)}")
        return 1
    print(f"target median < {TARGET_MS} ms met for every width")
    return 0


def time_context(args, snapshot) -> list[str]:
    """With CRS grade and day: per combination, the labs+context model and the reference
    beside it; then the reference alone. Returns the rows that missed the target."""
    from predictor.catalogue import COMBINATIONS, CONTEXT_BOTH, combination_width
    from predictor.scoring.prediction import predict

    context = {"crs_grade": 1, "day": 4}
    print()
    print("with context (crs_grade 1, day 4): labs+context model + no-lab reference beside it")
    header = (f"{'combination':>11} {'width':>5} {'predict median':>15} {'p99':>9} "
              f"{'CPU median':>11} {'model only median':>18} {'target':>7}")
    print(header)
    print("-" * len(header))
    missed = []
    rows = [(c.code, values_for(c.code)) for c in COMBINATIONS] + [("0", {})]
    for code, values in rows:
        [check] = predict(values, [1], percent_input=False, context=context)
        assert check.combination == code and check.context == context
        assert code == "0" or (check.no_lab_reference is not None
                               and not check.context_model_missing)
        samples, cpu = timed(lambda: predict(values, [1], percent_input=False, context=context),
                             args.runs, args.warmup)
        model = snapshot.get(1, code, CONTEXT_BOTH)
        vector = model.input_vector(list(values.values()), context)
        model_samples, _cpu = timed(lambda: model.raw_probability(vector), args.runs, args.warmup)
        median = statistics.median(samples)
        ok = median < TARGET_MS
        if not ok:
            missed.append(f"{code} with context")
        width = (combination_width(code) if code != "0" else 0) + 2
        print(f"{code:>11} {width:>5} {median:>12.3f} ms {p99(samples):>6.3f} ms "
              f"{statistics.median(cpu):>8.3f} ms {statistics.median(model_samples):>15.3f} ms "
              f"{'ok' if ok else 'MISSED':>7}")
    all_values = values_for("1234")
    three, three_cpu = timed(lambda: predict(all_values, [1, 2, 3], percent_input=False,
                                             context=context), args.runs, args.warmup)
    print(f"predict with context, all three horizons (6 models, width 44 and 2): median "
          f"{statistics.median(three):.3f} ms, p99 {p99(three):.3f} ms, "
          f"CPU median {statistics.median(three_cpu):.3f} ms")
    return missed


def time_contributions(args, context: dict | None) -> list[str]:
    """Per combination: ``predict`` with and without the contributions (the row's forward
    becomes one of 1 + width rows, calibrated); prints the added median. Returns the rows over
    the target."""
    from predictor.catalogue import COMBINATIONS
    from predictor.scoring.prediction import predict

    print()
    print("contributions (why this number): predict with them minus predict without them, "
          + ("with context (crs_grade 1, day 4)" if context else "labs only"))
    header = (f"{'combination':>11} {'inputs':>6} {'without':>11} {'with':>11} "
              f"{'added median':>13} {'added CPU':>10} {'target':>7}")
    print(header)
    print("-" * len(header))
    missed = []
    rows = [(c.code, values_for(c.code)) for c in COMBINATIONS] + ([("0", {})] if context else [])
    for code, values in rows:
        [check] = predict(values, [1], percent_input=False, context=context)
        assert check.contributions, code

        def without():
            predict(values, [1], percent_input=False, context=context, explain=False)

        def with_them():
            predict(values, [1], percent_input=False, context=context)

        plain, plain_cpu = timed(without, args.runs, args.warmup)
        explained, explained_cpu = timed(with_them, args.runs, args.warmup)
        added = statistics.median(explained) - statistics.median(plain)
        added_cpu = statistics.median(explained_cpu) - statistics.median(plain_cpu)
        ok = added < CONTRIBUTIONS_TARGET_MS
        if not ok:
            missed.append(f"contributions {code}")
        print(f"{code:>11} {len(check.contributions):>6} {statistics.median(plain):>8.3f} ms "
              f"{statistics.median(explained):>8.3f} ms {added:>10.3f} ms {added_cpu:>7.3f} ms "
              f"{'ok' if ok else 'MISSED':>7}")
    return missed


if __name__ == "__main__":
    sys.exit(main())
