"""Contributions for finished predictions (a course, a batch): grouped by the file that answered,
so each file runs one batched forward for all of its predictions together."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from predictor.catalogue import CONTEXT_BOTH, CONTEXT_NONE, REFERENCE_COMBINATION
from predictor.explanations.contributions import Contribution, change_matrix, ranked


def answering_model(snapshot, prediction):
    """The serving model that produced ``prediction``, or None when the slot has moved on to
    another version since (its contributions would describe another file)."""
    with_context = bool(prediction.context) and not prediction.context_model_missing
    model = snapshot.get(prediction.horizon, prediction.combination,
                         CONTEXT_BOTH if with_context else CONTEXT_NONE)
    if model is None or model.version_label != prediction.model_version:
        return None
    return model


def model_input(model, prediction) -> list[float]:
    """The module's input row the prediction was made from."""
    labs = () if prediction.combination == REFERENCE_COMBINATION else prediction.inputs
    return model.input_vector(dict(labs) if labs else (), prediction.context)


def not_entered(prediction) -> tuple[str, ...]:
    """Inputs the user did not give (imputed medians) or the file does not use: not explained."""
    return (*prediction.imputed, *prediction.unused)


def explain_all(snapshot, predictions: Sequence) -> list[tuple[Contribution, ...]]:
    """Per prediction, its contributions (largest first); () where its file is no longer
    serving or fails."""
    out: list[tuple[Contribution, ...]] = [()] * len(predictions)
    by_model: dict[int, tuple[object, list[int], list[list[float]]]] = {}
    for i, prediction in enumerate(predictions):
        model = answering_model(snapshot, prediction)
        if model is None:
            continue
        entry = by_model.setdefault(id(model), (model, [], []))
        entry[1].append(i)
        entry[2].append(model_input(model, prediction))
    for model, indices, vectors in by_model.values():
        # Skipped keys (imputed, unused) differ per prediction: only those of all are not run.
        common = set.intersection(*(set(not_entered(predictions[i])) for i in indices))
        changes = change_matrix(model, np.asarray(vectors, dtype=np.float32), skip=common)
        if changes is None:
            continue
        for i, vector, row in zip(indices, vectors, changes):
            out[i] = ranked(model, vector, row, skip=not_entered(predictions[i]))
    return out


def with_contributions(snapshot, predictions: Sequence) -> list:
    """The predictions again, each with its ``contributions`` filled in."""
    found = explain_all(snapshot, predictions)
    return [replace(p, contributions=c) for p, c in zip(predictions, found)]


def batch_contributions(scores, snapshot) -> dict[int, list[tuple[Contribution, ...]]]:
    """For a scored batch (``predictor.scoring.batch.BatchScores``): scored row -> one tuple of
    contributions per horizon, in the order of its predictions (one forward per file)."""
    rows = [k for k in range(len(scores.ids)) if scores.ok(k)]
    predictions = [scores.predictions_of(k) for k in rows]
    flat = explain_all(snapshot, [p for row in predictions for p in row])
    out, start = {}, 0
    for k, row in zip(rows, predictions):
        out[k] = flat[start:start + len(row)]
        start += len(row)
    return out
