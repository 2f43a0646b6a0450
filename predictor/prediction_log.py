"""The prediction log: one row per served horizon, with the lab values the model saw.

No patient identifiers are ever asked for, so none can be logged. On by default; off with
``PRCRS_PREDICTION_LOG=0``. Logging must never cost a physician their answer: if the database
write fails, the same record goes as one JSON line to the ``predictor.prediction_log`` logger at
WARNING (so a log collector keeps it), and nothing is raised into the request.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from predictor.catalogue import combination_factor_keys
from predictor.validation import DEFAULT_LIMITS, NotANumber, parse_number, to_model_units

log = logging.getLogger("predictor.prediction_log")


def _model_units(values: Mapping[str, object], percent_input: bool | None) -> dict[str, float]:
    """Values as floats in model units. ``percent_input=None``: they already are (e.g.
    ``check_values(...).values``); True/False: raw entries as the form/API received them."""
    converted = {}
    for key, raw in values.items():
        try:
            if percent_input is None:
                converted[key] = float(raw)  # type: ignore[arg-type]
                continue
            parsed = parse_number(raw)
            if parsed is None or key not in DEFAULT_LIMITS:
                continue
            converted[key] = to_model_units(parsed[0], parsed[1], DEFAULT_LIMITS[key],
                                            percent_input=percent_input)
        except (TypeError, ValueError, NotANumber):
            continue  # predict() accepted the values, so this does not happen in practice
    return converted


def entry_for(result, values: Mapping[str, float], channel: str) -> dict:
    """The log record of one HorizonPrediction: the model's input, entered and imputed."""
    keys = combination_factor_keys(result.combination)
    imputed = dict(result.imputed or {})
    inputs = {k: (imputed[k] if k in imputed else values.get(k)) for k in keys}
    return {
        "horizon": result.horizon, "combination": result.combination,
        "model_version": result.model_version,
        "raw_probability": float(result.raw_probability),
        "probability": float(result.probability),
        "values": {"inputs": inputs, "imputed": sorted(imputed)},
        "channel": channel,
    }


def record(results: Iterable, values: Mapping[str, object], channel: str = "web", *,
           percent_input: bool | None = None) -> int:
    """Log each ``HorizonPrediction`` in ``results``; returns how many rows were written.

    ``values``: the entered values, in model units (``percent_input=None``, the default) or as
    received (pass the same ``percent_input`` given to ``predict``). ``channel``: "web" or
    "api". Never raises.
    """
    if not getattr(settings, "PRCRS_PREDICTION_LOG", True):
        return 0
    entries = []
    try:
        model_values = _model_units(values, percent_input)
        entries = [entry_for(result, model_values, channel) for result in results]
        if not entries:
            return 0
        from predictor.models import PredictionLog

        # A savepoint: a failed write must not break a transaction the caller may have open.
        with transaction.atomic():
            PredictionLog.objects.bulk_create([PredictionLog(**entry) for entry in entries])
        return len(entries)
    except Exception:  # noqa: BLE001 - the database may be down; the answer must still go out
        at = timezone.now().isoformat()
        for entry in entries:
            try:
                log.warning(json.dumps({"at": at, **entry}, ensure_ascii=False))
            except Exception:  # noqa: BLE001
                pass
        if not entries:
            log.warning("prediction could not be logged", exc_info=True)
        return 0
