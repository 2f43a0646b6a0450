"""The models that serve, per process: loaded once, swapped whole when the serving stamp moves.

A request takes one ``Snapshot`` and uses it to the end, so it never mixes one version's module
with another version's baseline, and a swap never disturbs a request already running. A process
notices an activation by comparing the database's serving stamp with the one it loaded: a
background thread does this (and any loading) off the request path; where no thread runs, the
request path checks the stamp at most every ``PRCRS_STAMP_CHECK_SECONDS``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field

import torch
from django.conf import settings
from django.db import close_old_connections

from predictor.catalogue import (
    CONTEXT_KEYS,
    CONTEXT_NONE,
    CRS_GRADE_RANGE,
    combination_factor_keys,
    slot_label,
)
from predictor.model_versions.model_store import materialise
from predictor.model_versions.baselines import baseline_columns
from predictor.model_versions.calibration_spec import calibration_spec
from predictor.scoring.calibration import CalibrationMap, build_calibration
from predictor.scoring.device_routing import (
    DevicePlan,
    device_plan,
    forward_device,
    takes_batch_device,
)
from predictor.scoring.inference_module import frozen_for_inference

log = logging.getLogger(__name__)

Slot = tuple[int, str, str]  # (horizon, combination code, context: "" or CONTEXT_BOTH)


def serving_plan() -> DevicePlan:
    """Where this process's models go (``PRCRS_DEVICE``, ``PRCRS_CUDA_BATCH_ROWS``)."""
    setting = settings.PRCRS_DEVICE
    cuda = setting.strip().lower() != "cpu" and torch.cuda.is_available()
    return device_plan(setting, cuda_available=cuda, batch_rows=settings.PRCRS_CUDA_BATCH_ROWS)


@dataclass(frozen=True)
class ServingModel:
    """One slot's module and its own baseline, always from the same version.

    ``factor_keys`` (the combination's lab keys, catalogue order) and ``context_keys`` (the
    manifest's declared order; () for a labs-only file) say how ``input_vector`` lays out the
    module's input: labs first, then the context (spec section 4, format version 2).
    """

    horizon: int
    combination: str
    version_id: int
    version_label: str
    module: torch.jit.ScriptModule
    calibration: CalibrationMap
    medians: dict[str, float] | None
    device: torch.device
    context: str = CONTEXT_NONE
    factor_keys: tuple[str, ...] = ()
    context_keys: tuple[str, ...] = ()
    manifest: dict = field(default_factory=dict, repr=False, compare=False)
    # Under PRCRS_DEVICE=auto with CUDA: the same file loaded on CUDA, for large batch forwards
    # only (``module_for``); single predictions always use ``module`` on ``device``.
    batch_module: torch.jit.ScriptModule | None = field(default=None, repr=False, compare=False)
    plan: DevicePlan = field(default=DevicePlan("cpu"), repr=False, compare=False)

    @property
    def slot(self) -> Slot:
        return self.horizon, self.combination, self.context

    @property
    def width(self) -> int:
        return len(self.factor_keys) + len(self.context_keys)

    def input_vector(self, labs, context=None) -> list[float]:
        """The module's input: ``labs`` (a sequence in catalogue order, or a mapping by key)
        then the context values in the declared order."""
        if isinstance(labs, dict):
            vector = [float(labs[k]) for k in self.factor_keys]
        else:
            vector = [float(v) for v in labs]
        vector.extend(float((context or {})[k]) for k in self.context_keys)
        return vector

    def module_for(self, rows: int) -> tuple[torch.jit.ScriptModule, torch.device]:
        """The module and device a batch forward of ``rows`` rows runs on (device_routing)."""
        if self.batch_module is not None and takes_batch_device(self.plan, rows):
            return self.batch_module, torch.device(forward_device(self.plan, rows))
        return self.module, self.device

    def raw_probability(self, vector) -> float:
        x = torch.tensor([vector], dtype=torch.float32, device=self.device)
        # Without the optimising executor each module keeps no specialised graphs: half the
        # memory per worker (18 models: ~350 instead of ~700 MiB) for ~0.1 ms per call.
        with torch.inference_mode(), torch.jit.optimized_execution(False):
            logits = self.module(x)
            return float(torch.softmax(logits, dim=1)[0, 1])


@dataclass(frozen=True)
class Snapshot:
    stamp: int
    models: dict[Slot, ServingModel] = field(default_factory=dict)
    failures: dict[Slot, str] = field(default_factory=dict)  # slots whose active file won't load

    def get(self, horizon: int, combination: str,
            context: str = CONTEXT_NONE) -> ServingModel | None:
        return self.models.get((horizon, combination, context))


def load_serving_model(row: dict, plan: DevicePlan) -> ServingModel:
    """Load one active version (a row of ModelVersion values) and warm it up: on the plan's
    serving device, and on its batch device too when it has one."""
    from predictor.models import ModelVersion

    path = materialise(row["file_name"], row["size"],
                       lambda: ModelVersion.objects.values_list("content", flat=True)
                       .get(pk=row["id"]))
    manifest = row["manifest"] or {}
    context = row.get("context") or CONTEXT_NONE
    factor_keys = combination_factor_keys(row["combination"])
    context_keys = declared_context_keys(manifest, context)
    # The width this slot serves, so a file that ignores the context fails here, not later.
    warm = [1.0] * len(factor_keys) + [float(_WARM_CONTEXT[k]) for k in context_keys]
    device = torch.device(plan.serving)
    module = _load_module(path, device, warm)
    batch_module = _load_module(path, torch.device(plan.batch), warm) if plan.batch else None
    if batch_module is not None and not _agree(module, batch_module,
                                                  torch.device(plan.batch), warm):
        log.warning("%s answers differently on %s; its batches stay on %s", row_label(row),
                    plan.batch, plan.serving)
        batch_module = None
    baseline = row["baseline"] or []
    table = serving_calibration(manifest, baseline, row["baseline_windows"])
    model = ServingModel(row["horizon"], row["combination"], row["id"], row_label(row),
                         module, table, manifest.get("medians"), device, context=context,
                         factor_keys=factor_keys, context_keys=context_keys, manifest=manifest,
                         batch_module=batch_module, plan=plan)
    # First calls of a TorchScript module are slower (lazy set-up): pay for them here.
    for _ in range(3):
        model.raw_probability(warm)
    return model


def serving_calibration(manifest: dict, baseline: list, windows: dict | None) -> CalibrationMap:
    """The calibration map of a version: the manifest's method (the paper's windows where it
    names none) fitted on its stored baseline, with a patient bootstrap where the baseline says
    whose rows are whose."""
    spec = calibration_spec(manifest, windows)
    scores, severe, patients = baseline_columns(baseline)
    return build_calibration(spec.method, spec.params, scores, severe, patients)


def _agree(module: torch.jit.ScriptModule, batch_module: torch.jit.ScriptModule,
           batch_device: torch.device, warm: list[float]) -> bool:
    """Whether the batch device's copy gives the serving copy's probabilities (to float32
    rounding: another device's kernels may differ in the last bits) on a spread of inputs."""
    rows = torch.tensor([[v * scale for v in warm] for scale in (0.1, 0.5, 1.0, 2.0, 10.0)],
                        dtype=torch.float32)
    with torch.inference_mode(), torch.jit.optimized_execution(False):
        here = torch.softmax(module(rows), dim=1)[:, 1]
        there = torch.softmax(batch_module(rows.to(batch_device)), dim=1)[:, 1].cpu()
    return bool(torch.allclose(here, there, rtol=1e-5, atol=1e-6))


def _load_module(path, device: torch.device, warm: list[float]) -> torch.jit.ScriptModule:
    module = torch.jit.load(str(path), map_location=device)
    module.eval()
    probe = torch.tensor([warm, [0.5 * v for v in warm]], dtype=torch.float32, device=device)
    module = frozen_for_inference(module, [probe[:1], probe])
    if device.type != "cpu":  # a batch copy: its first (lazy set-up) calls happen here too
        with torch.inference_mode(), torch.jit.optimized_execution(False):
            for _ in range(3):
                module(probe)
    return module


# Mid-range context for the warm-up: a plausible patient-day, not an edge.
_WARM_CONTEXT = {"crs_grade": sum(CRS_GRADE_RANGE) // 2, "day": 7}


def row_label(row: dict) -> str:
    return slot_label(row["horizon"], row["combination"], row.get("context") or CONTEXT_NONE,
                      row["version"])


def declared_context_keys(manifest: dict, context: str) -> tuple[str, ...]:
    """The order in which a context slot's file takes the context values: the manifest's
    ``context_keys`` (checked at upload), else the catalogue order (a file uploaded without a
    manifest into a context slot was dry-run with that order)."""
    if not context:
        return ()
    keys = manifest.get("context_keys")
    if isinstance(keys, list) and sorted(keys) == sorted(CONTEXT_KEYS):
        return tuple(keys)
    return CONTEXT_KEYS


class ModelRegistry:
    def __init__(self) -> None:
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()
        self._last_check = 0.0
        self._watcher_pid: int | None = None
        self._plan: DevicePlan | None = None
        # A lock held by another thread at fork time would stay held in the child forever.
        os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()

    @property
    def plan(self) -> DevicePlan:
        if self._plan is None:
            torch.set_num_threads(max(1, settings.PRCRS_TORCH_THREADS))
            self._plan = serving_plan()
        return self._plan

    @property
    def device(self) -> torch.device:
        """Where single predictions run (the CPU under ``auto``)."""
        return torch.device(self.plan.serving)

    def snapshot(self) -> Snapshot:
        """The models to use for one request."""
        if self._snapshot is None:
            self.refresh()
        if self._watcher_pid != os.getpid():
            self._start_watcher_once()
        if self._watcher_pid != os.getpid():  # no watcher here: check the stamp ourselves
            if time.monotonic() - self._last_check >= settings.PRCRS_STAMP_CHECK_SECONDS:
                self.refresh()
        assert self._snapshot is not None
        return self._snapshot

    def refresh(self, *, force: bool = False) -> Snapshot:
        """Reload what changed since the loaded stamp. Only one thread loads at a time; others
        keep serving the snapshot they have."""
        from predictor.model_versions.versions import current_stamp

        blocking = self._snapshot is None or force
        if not self._lock.acquire(blocking=blocking):
            return self._snapshot  # type: ignore[return-value]
        try:
            self._last_check = time.monotonic()
            stamp = current_stamp()
            if not force and self._snapshot is not None and stamp == self._snapshot.stamp:
                return self._snapshot
            self._snapshot = self._build(stamp, self._snapshot)
            return self._snapshot
        finally:
            self._lock.release()

    def reset(self) -> None:
        """Forget everything loaded (tests: the database was rolled back under us), and the
        device plan (read again from the settings)."""
        with self._lock:
            self._snapshot = None
            self._plan = None

    def _build(self, stamp: int, previous: Snapshot | None) -> Snapshot:
        from predictor.models import ModelVersion

        rows = ModelVersion.objects.filter(state=ModelVersion.State.ACTIVE).values(
            "id", "horizon", "combination", "context", "version", "file_name", "size",
            "baseline", "baseline_windows", "manifest")
        models: dict[Slot, ServingModel] = {}
        failures: dict[Slot, str] = {}
        for row in rows:
            slot = (row["horizon"], row["combination"], row["context"] or CONTEXT_NONE)
            old = previous.models.get(slot) if previous else None
            if old is not None and (old.version_id, old.version_label) == (
                    row["id"], row_label(row)):
                models[slot] = old
                continue
            try:
                models[slot] = load_serving_model(row, self.plan)
                log.info("loaded model %s", models[slot].version_label)
            except Exception as exc:  # any broken file: keep serving what we had
                failures[slot] = f"{type(exc).__name__}: {exc}"
                log.error("model for slot %s failed to load, keeping %s: %s", slot,
                          old.version_label if old else "nothing", failures[slot])
                if old is not None:
                    models[slot] = old
        return Snapshot(stamp, models, failures)

    def _start_watcher_once(self) -> None:
        """One background thread per process (after any fork) that follows the stamp."""
        if not settings.PRCRS_BACKGROUND_REFRESH or self._watcher_pid == os.getpid():
            return
        self._watcher_pid = os.getpid()
        threading.Thread(target=self._watch, name="prcrs-model-watcher", daemon=True).start()

    def _watch(self) -> None:
        last_logged = None  # while the database is away, say so once a minute, not 4 times a second
        while True:
            time.sleep(settings.PRCRS_STAMP_CHECK_SECONDS)
            try:
                self.refresh()
                if last_logged is not None:
                    log.warning("serving stamp readable again")
                    last_logged = None
            except Exception:  # keep serving the loaded models
                if last_logged is None or time.monotonic() - last_logged > 60:
                    log.exception("could not check the serving stamp; serving the loaded models")
                    last_logged = time.monotonic()
            finally:
                close_old_connections()


REGISTRY = ModelRegistry()
