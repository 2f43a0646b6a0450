"""The prediction log: one row per served horizon, with the lab values the model saw.

No patient identifiers are ever asked for, so none can be logged. On by default; off with
``PRCRS_PREDICTION_LOG=0``. Logging must never cost a physician their answer: if the database
write fails, the same record goes as one JSON line to the ``predictor.prediction_log`` logger at
WARNING (so a log collector keeps it), and nothing is raised into the request.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable

from django.conf import settings
from django.db import transaction
from django.utils import timezone


log = logging.getLogger("predictor.prediction_log")


def entry_for(result, channel: str) -> dict:
    """The log record of one HorizonPrediction: the model's input, entered and imputed."""
    return {
        "horizon": result.horizon, "combination": result.combination,
        "model_version": result.model_version,
        "raw_probability": float(result.raw_probability),
        "probability": float(result.probability),
        "values": {"inputs": dict(result.inputs), "imputed": sorted(result.imputed)},
        "channel": channel,
    }


def record(results: Iterable, channel: str = "web") -> int:
    """Log each ``HorizonPrediction`` in ``results``; returns how many rows were written.

    The values logged are the model's input as ``predict`` built it (entered values converted to
    model units, plus imputed medians). ``channel``: "web" or "api". Never raises.
    """
    if not getattr(settings, "PRCRS_PREDICTION_LOG", True):
        return 0
    entries = []
    try:
        entries = [entry_for(result, channel) for result in results]
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
