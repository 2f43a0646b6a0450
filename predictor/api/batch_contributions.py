"""The batch API's opt-in ``"contributions"``: added to each scored row's predictions."""

from __future__ import annotations

from predictor.explanations.for_predictions import batch_contributions
from predictor.explanations.wording import as_json
from predictor.live_catalogue import live_catalogue
from predictor.scoring.registry import REGISTRY


def add_contributions(results: list[dict], rows: list, scores) -> None:
    """``results``: the batch answer's rows in request order; ``rows`` the request's rows (those
    refused for their units were not scored, so they have no row in ``scores``)."""
    snapshot = REGISTRY.snapshot()
    factors = live_catalogue(snapshot.stamp).by_key
    found = batch_contributions(scores, snapshot)
    k = 0
    for result, row in zip(results, rows):
        if getattr(row, "unit_errors", None):
            continue
        for prediction, contributions in zip(result.get("predictions", ()), found.get(k, ())):
            prediction["contributions"] = as_json(contributions, factors)
        k += 1
