"""Model version lifecycle: record a checked file, activate it (or roll back), bump the stamp.

Each function does one transaction; the database constraint guarantees one active version per
slot, and the serving stamp tells every worker process that it must look again.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.utils import timezone

from predictor.catalogue import CONTEXT_NONE
from predictor.model_versions.model_store import sha256_of, stored_file_name, write_immutable
from predictor.models import AuditEvent, ModelVersion, ServingState


def bump_serving_stamp() -> None:
    """Tell every worker (every process, every machine) that what serves has changed."""
    if not ServingState.objects.filter(pk=1).update(stamp=F("stamp") + 1):
        ServingState.objects.get_or_create(pk=1, defaults={"stamp": 1})


def current_stamp() -> int:
    return ServingState.objects.filter(pk=1).values_list("stamp", flat=True).first() or 0


def record_version(*, horizon: int, combination: str, data: bytes, original_name: str,
                   manifest: dict | None, baseline: list, baseline_windows: dict | None = None,
                   source: str = ModelVersion.Source.UPLOAD, user=None, notes: str = "",
                   report: dict | None = None, context: str = CONTEXT_NONE) -> ModelVersion:
    """Store a validated file immutably and record it as a new, not yet serving, version of
    the slot (horizon, combination, context); version numbers count per slot."""
    sha = sha256_of(data)
    for _attempt in range(5):  # two uploads to one slot at once: the loser takes the next number
        try:
            with transaction.atomic():
                latest = ModelVersion.objects.filter(
                    horizon=horizon, combination=combination, context=context) \
                    .aggregate(v=Max("version"))["v"] or 0
                version = latest + 1
                file_name = stored_file_name(horizon, combination, version, sha)
                write_immutable(file_name, data)
                mv = ModelVersion.objects.create(
                    horizon=horizon, combination=combination, context=context,
                    version=version, sha256=sha,
                    size=len(data), original_name=original_name[:255], file_name=file_name,
                    content=data, manifest=manifest, baseline=[list(r) for r in baseline],
                    baseline_windows=baseline_windows or {}, validation_report=report or {},
                    notes=notes, source=source, uploaded_by=user,
                    state=ModelVersion.State.VALIDATED)
                AuditEvent.objects.create(
                    user=user, model_version=mv,
                    action=(AuditEvent.Action.REGISTER_BUNDLED
                            if source == ModelVersion.Source.BUNDLED else AuditEvent.Action.UPLOAD),
                    detail={"slot": mv.label, "sha256": sha, "size": len(data),
                            "original_name": original_name})
                return mv
        except IntegrityError:
            continue
    raise RuntimeError("could not allocate a version number")


def activate(mv: ModelVersion, *, user=None) -> ModelVersion | None:
    """Make ``mv`` the one active version of its slot; returns the version it replaced.

    Activating an older version than the current one is a rollback and is recorded as such.
    """
    with transaction.atomic():
        mv = ModelVersion.objects.select_for_update().defer("content").get(pk=mv.pk)
        if mv.state == ModelVersion.State.REJECTED:
            raise ValueError("a rejected version cannot serve")
        previous = ModelVersion.objects.select_for_update().defer("content").filter(
            horizon=mv.horizon, combination=mv.combination, context=mv.context,
            state=ModelVersion.State.ACTIVE).exclude(pk=mv.pk).first()
        if previous is not None:
            previous.state = ModelVersion.State.RETIRED
            previous.save(update_fields=["state"])
        mv.state = ModelVersion.State.ACTIVE
        mv.activated_at = timezone.now()
        mv.activated_by = user
        mv.save(update_fields=["state", "activated_at", "activated_by"])
        is_rollback = previous is not None and mv.version < previous.version
        AuditEvent.objects.create(
            user=user, model_version=mv,
            action=AuditEvent.Action.ROLLBACK if is_rollback else AuditEvent.Action.ACTIVATE,
            detail={"slot": mv.label, "from": previous.label if previous else None,
                    "to": mv.label})
        bump_serving_stamp()
    return previous
